//! Replay: folding events through a plugin.
