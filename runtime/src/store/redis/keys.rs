//! The Redis key layout of one stream (documented for other clients in `docs/STORAGE.md`).
//!
//! Every key of stream `S` carries the hash tag `{S}`, so they would share a slot under Redis
//! Cluster. The registry of stream names, `eddy:streams`, is global, as are the keys of leases
//! and projections (a commit spans streams anyway: Cluster is not supported).

/// The set of every stream name.
pub(super) const STREAMS: &str = "eddy:streams";

/// String: the version of the key layout below that the data in this Redis is written in.
/// Layout 2 replaced layout 1's dedupe hash, version hash and sorted-set subject indexes
/// (`docs/STORAGE.md`); data written in another layout is refused, not misread.
pub(super) const LAYOUT: &str = "eddy:layout";

/// The key layout this version of Eddy reads and writes.
pub(super) const LAYOUT_VERSION: &str = "2";

/// The keys of one stream.
pub(super) struct Keys {
    prefix: String,
}

impl Keys {
    /// The keys of `stream` (a checked name: no braces, no colons).
    pub(super) fn new(stream: &str) -> Self {
        Self {
            prefix: format!("eddy:{{{stream}}}:"),
        }
    }

    /// The Redis stream holding the events: `eddy:{S}:events`.
    pub(super) fn events(&self) -> String {
        format!("{}events", self.prefix)
    }

    /// Hash `id` → the positions of the retained events with that id, oldest first, separated
    /// by spaces (one, unless several sources used the id): lookup by id, and deduplication
    /// on `source` + `id` (a candidate's source is read from its entry).
    pub(super) fn ids(&self) -> String {
        format!("{}ids", self.prefix)
    }

    /// Set of every subject the stream has had: names the index streams to delete with it.
    pub(super) fn subjects(&self) -> String {
        format!("{}subjects", self.prefix)
    }

    /// Hash checkpoint name → position.
    pub(super) fn checkpoints(&self) -> String {
        format!("{}checkpoints", self.prefix)
    }

    /// The prefix of the per-subject index keys (`eddy:{S}:subject:<subject>`).
    pub(super) fn subject_prefix(&self) -> String {
        format!("{}subject:", self.prefix)
    }

    /// Stream of one subject's positions: an entry `e` = `""` per event, whose id is the
    /// event's position. Its `entries-added` counter is the subject's version.
    pub(super) fn subject(&self, subject: &str) -> String {
        format!("{}subject:{subject}", self.prefix)
    }
}

/// Sorted set of every lease name ever taken (all scores 0), for listing by prefix.
pub(super) const LEASES: &str = "eddy:leases";

/// String `<token>:<owner>` while the lease `L` is held, expiring with it (`PX`):
/// `eddy:lease:{L}`.
pub(super) fn lease(name: &str) -> String {
    format!("{LEASE_OPEN}{name}{LEASE_CLOSE}")
}

/// What comes before a lease's name in its key (for scripts that build lease keys).
pub(super) const LEASE_OPEN: &str = "eddy:lease:{";
/// What comes after it.
pub(super) const LEASE_CLOSE: &str = "}";

/// Counter of the lease's tokens (`INCR` per new holder), `eddy:lease:{L}:token`; never
/// deleted, so tokens only grow.
pub(super) fn lease_token(name: &str) -> String {
    format!("eddy:lease:{{{name}}}:token")
}

/// The value of a held lease's key.
pub(super) fn lease_value(token: u64, owner: &str) -> String {
    format!("{token}:{owner}")
}

/// Hash subject → encoded saved state (see `SavedState::encode`) of projection `P`:
/// `eddy:projection:{P}:states`.
pub(super) fn projection_states(projection: &str) -> String {
    format!("eddy:projection:{{{projection}}}:states")
}

/// Sorted set of projection `P`'s subjects (all scores 0), for listing in order:
/// `eddy:projection:{P}:subjects`.
pub(super) fn projection_subjects(projection: &str) -> String {
    format!("eddy:projection:{{{projection}}}:subjects")
}

/// Sorted set of one subject's snapshots in projection `P` (all scores 0, members
/// [`snapshot_member`]s, so one plugin hash's snapshots are one lexicographic range ordered by
/// position): `eddy:projection:{P}:snapshots:<subject>`.
pub(super) fn snapshot_index(projection: &str, subject: &str) -> String {
    format!("eddy:projection:{{{projection}}}:snapshots:{subject}")
}

/// Hash [`snapshot_member`] → encoded snapshot (see `SavedState::encode`):
/// `eddy:projection:{P}:snapshot-bodies:<subject>`.
pub(super) fn snapshot_bodies(projection: &str, subject: &str) -> String {
    format!("eddy:projection:{{{projection}}}:snapshot-bodies:{subject}")
}

/// A snapshot's member: `<plugin hash>:<padded position>`, both parts of the position
/// zero-padded to 20 digits, so the lexicographic order of `ZRANGEBYLEX` is the order of
/// positions.
pub(super) fn snapshot_member(plugin: &str, position: crate::event::Position) -> String {
    format!("{plugin}:{:020}-{:020}", position.ms, position.seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Position;

    #[test]
    fn snapshot_members_sort_like_positions() {
        let a = snapshot_member("h", Position::new(999, 10));
        let b = snapshot_member("h", Position::new(1_000, 2));
        assert!(a < b);
    }
}
