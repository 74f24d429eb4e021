//! When a plugin's files are ready to read, decided from the folder's file events.
//!
//! A file must never be read half-written, yet a finished one should be read at once. The
//! events say which is which where the platform reports closes (Linux inotify):
//!
//! - a writer closing the file (`cp`, an editor writing in place, `std::fs::write`), or a
//!   whole file renamed into place (an atomic `mv`, an upload): the file is complete, so it
//!   is read **at once**;
//! - data written without its close yet: a writer still has the file open, so it is **not
//!   read** until that close comes, however long the writer pauses (bounded by
//!   [`WatchOptions::writer_timeout`] in case a close was lost);
//! - anything else (a deletion, a rename away, a new link or symlink, a metadata change, or
//!   any event on a platform without close events): read once the name has been quiet for
//!   [`WatchOptions::debounce`], as before close events were used.
//!
//! A file read at once that fails to load is not reported yet: a second writer may still be
//! on its way (`cat a > f; cat b >> f`). It is reported only if the same bytes are still
//! there after a quiet [`WatchOptions::debounce`] ([`Suspect`]); the old version serves
//! meanwhile either way.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use notify::EventKind;
use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use tokio::time::Instant;

/// How long a name's files must be quiet before they are read, when no event said that the
/// writing is over (see the module docs).
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// How long a file still open for writing may stay silent before it is read anyway.
pub const WRITER_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether the platform's watcher reports a writer closing a file. Without that, a write
/// cannot be told from a finished file, and everything waits for the debounce.
const CLOSE_EVENTS: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// How the folder watcher waits for files to settle.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// Quiet time before a name is read when no event said its writing is over.
    pub debounce: Duration,
    /// Silence after which a file still open for writing is read anyway (its writer's
    /// close is taken as lost).
    pub writer_timeout: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            debounce: DEBOUNCE,
            writer_timeout: WRITER_TIMEOUT,
        }
    }
}

/// What one file event says about its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// The file is complete: its writer closed it, or it was renamed into place.
    Complete,
    /// Data was written and the writer still has the file open.
    Writing,
    /// Something else changed: wait for quiet.
    Changed,
}

/// The paths an event is about, with what it says of each. Reads (ours included: loading a
/// file opens it) say nothing.
pub(crate) fn signals(event: &notify::Event) -> Vec<(PathBuf, Signal)> {
    let all = |signal| event.paths.iter().map(|p| (p.clone(), signal)).collect();
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => all(Signal::Complete),
        EventKind::Access(_) => Vec::new(),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => all(Signal::Complete),
        // `[from, to]`: the source is gone, the target is whole.
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            let last = event.paths.len().saturating_sub(1);
            let signal = |i| {
                if i == last {
                    Signal::Complete
                } else {
                    Signal::Changed
                }
            };
            event
                .paths
                .iter()
                .enumerate()
                .map(|(i, p)| (p.clone(), signal(i)))
                .collect()
        }
        EventKind::Modify(ModifyKind::Data(_)) if CLOSE_EVENTS => all(Signal::Writing),
        _ => all(Signal::Changed),
    }
}

/// A load failure not reported yet, because the file may still have been changing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Suspect {
    /// The hash of the bytes that failed.
    pub hash: String,
    /// Why they failed.
    pub message: String,
}

/// A name whose files are ready to read.
#[derive(Debug)]
pub(crate) struct Ready {
    pub name: String,
    /// When its first event since the last read came.
    pub first: Instant,
    /// The files have been quiet for the debounce: a failure to load them is final.
    pub settled: bool,
    /// An earlier failure of bytes that may be the same.
    pub suspect: Option<Suspect>,
}

#[derive(Debug)]
struct Pending {
    first: Instant,
    last: Instant,
    /// Data written and the close not seen yet.
    writing: bool,
    /// Complete since the latest write.
    complete: bool,
    suspect: Option<Suspect>,
}

/// Names with unread changes, and when each is due.
#[derive(Debug)]
pub(crate) struct Settling {
    options: WatchOptions,
    pending: BTreeMap<String, Pending>,
}

impl Settling {
    pub fn new(options: WatchOptions) -> Self {
        Self {
            options,
            pending: BTreeMap::new(),
        }
    }

    /// Records what an event said about `name`.
    pub fn saw(&mut self, name: String, signal: Signal, now: Instant) {
        let pending = self.pending.entry(name).or_insert(Pending {
            first: now,
            last: now,
            writing: false,
            complete: false,
            suspect: None,
        });
        pending.last = now;
        match signal {
            Signal::Complete => {
                pending.writing = false;
                pending.complete = true;
            }
            Signal::Writing => {
                pending.writing = true;
                pending.complete = false;
            }
            // A chmod after the close, or a deletion (read at once: there is nothing to
            // read half-way), keeps the verdict.
            Signal::Changed => {}
        }
    }

    /// Reads `name` again once it has been quiet for the debounce, and reports `suspect`
    /// then if its bytes are the same.
    pub fn retry_later(&mut self, name: String, first: Instant, suspect: Suspect, now: Instant) {
        let pending = self.pending.entry(name).or_insert(Pending {
            first,
            last: now,
            writing: false,
            complete: false,
            suspect: None,
        });
        pending.suspect = Some(suspect);
    }

    /// When the next name is due, if any.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending.values().map(|p| self.due(p)).min()
    }

    /// Takes every name due at `now`.
    pub fn take_ready(&mut self, now: Instant) -> Vec<Ready> {
        let names: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| self.due(p) <= now)
            .map(|(name, _)| name.clone())
            .collect();
        names
            .into_iter()
            .filter_map(|name| {
                let pending = self.pending.remove(&name)?;
                Some(Ready {
                    name,
                    first: pending.first,
                    settled: !pending.complete,
                    suspect: pending.suspect,
                })
            })
            .collect()
    }

    fn due(&self, pending: &Pending) -> Instant {
        if pending.writing {
            pending.last + self.options.writer_timeout
        } else if pending.complete {
            pending.last
        } else {
            pending.last + self.options.debounce
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn settling() -> Settling {
        Settling::new(WatchOptions::default())
    }

    fn ready_names(settling: &mut Settling, at: Instant) -> Vec<String> {
        settling
            .take_ready(at)
            .into_iter()
            .map(|r| r.name)
            .collect()
    }

    fn event(kind: EventKind, paths: &[&str]) -> notify::Event {
        paths
            .iter()
            .fold(notify::Event::new(kind), |e, p| e.add_path(p.into()))
    }

    #[test]
    fn a_closed_or_renamed_file_is_complete_and_reads_say_nothing() {
        let close = event(
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            &["/p/a.wasm"],
        );
        assert_eq!(signals(&close), [("/p/a.wasm".into(), Signal::Complete)]);
        let moved = event(
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            &["/p/.a.tmp", "/p/a.wasm"],
        );
        assert_eq!(
            signals(&moved),
            [
                ("/p/.a.tmp".into(), Signal::Changed),
                ("/p/a.wasm".into(), Signal::Complete)
            ]
        );
        let open = event(
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            &["/p/a.wasm"],
        );
        assert!(signals(&open).is_empty());
        let removed = event(
            EventKind::Remove(notify::event::RemoveKind::File),
            &["/p/a.wasm"],
        );
        assert_eq!(signals(&removed), [("/p/a.wasm".into(), Signal::Changed)]);
    }

    #[test]
    fn a_complete_file_is_ready_at_once_and_settled_only_after_quiet() {
        let mut s = settling();
        let t = Instant::now();
        s.saw("a".into(), Signal::Writing, t);
        s.saw("a".into(), Signal::Complete, t + MS);
        assert_eq!(s.next_due(), Some(t + MS));
        let ready = s.take_ready(t + MS);
        assert_eq!(ready.len(), 1);
        assert!(
            !ready[0].settled,
            "read at once: a failure is not final yet"
        );
        assert_eq!(ready[0].first, t);
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn a_file_open_for_writing_waits_for_its_close_however_long_the_pause() {
        let mut s = settling();
        let t = Instant::now();
        s.saw("a".into(), Signal::Writing, t);
        assert!(ready_names(&mut s, t + DEBOUNCE * 10).is_empty());
        s.saw("a".into(), Signal::Complete, t + DEBOUNCE * 11);
        assert_eq!(ready_names(&mut s, t + DEBOUNCE * 11), ["a"]);

        // A lost close: read anyway after the writer timeout, as settled.
        s.saw("b".into(), Signal::Writing, t);
        let ready = s.take_ready(t + WRITER_TIMEOUT);
        assert_eq!(ready.len(), 1);
        assert!(ready[0].settled);
    }

    #[test]
    fn a_new_write_after_a_close_waits_for_the_next_close() {
        let mut s = settling();
        let t = Instant::now();
        s.saw("a".into(), Signal::Complete, t);
        s.saw("a".into(), Signal::Writing, t + MS);
        assert!(ready_names(&mut s, t + DEBOUNCE * 2).is_empty());
    }

    #[test]
    fn other_changes_wait_for_quiet_and_are_then_settled() {
        let mut s = settling();
        let t = Instant::now();
        s.saw("a".into(), Signal::Changed, t);
        s.saw("a".into(), Signal::Changed, t + 100 * MS);
        assert!(ready_names(&mut s, t + DEBOUNCE).is_empty());
        let ready = s.take_ready(t + 100 * MS + DEBOUNCE);
        assert_eq!(ready.len(), 1);
        assert!(ready[0].settled);
    }

    #[test]
    fn a_suspect_failure_is_read_again_after_quiet_with_its_evidence() {
        let mut s = settling();
        let t = Instant::now();
        let suspect = Suspect {
            hash: "h".into(),
            message: "bad".into(),
        };
        s.retry_later("a".into(), t, suspect.clone(), t + MS);
        assert!(ready_names(&mut s, t + DEBOUNCE).is_empty());
        let ready = s.take_ready(t + MS + DEBOUNCE);
        assert_eq!(ready[0].suspect.as_ref(), Some(&suspect));
        assert!(ready[0].settled);

        // A close meanwhile reads the new bytes at once; the suspect goes along.
        s.retry_later("a".into(), t, suspect.clone(), t + MS);
        s.saw("a".into(), Signal::Complete, t + 2 * MS);
        let ready = s.take_ready(t + 2 * MS);
        assert!(!ready[0].settled);
        assert_eq!(ready[0].suspect.as_ref(), Some(&suspect));
    }
}
