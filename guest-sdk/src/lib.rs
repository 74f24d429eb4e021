//! Eddy guest SDK (in progress).
