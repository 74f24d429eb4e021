//! The Redis key layout of one stream (documented for other clients in `docs/STORAGE.md`).
//!
//! Every key of stream `S` carries the hash tag `{S}`, so they would share a slot under Redis
//! Cluster. The registry of stream names, `eddy:streams`, is global.

/// The set of every stream name.
pub(super) const STREAMS: &str = "eddy:streams";

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

    /// Hash `source` NUL `id` → position: deduplication.
    pub(super) fn dedupe(&self) -> String {
        format!("{}dedupe", self.prefix)
    }

    /// Hash `id` → position of the first retained event with that id: lookup by id.
    pub(super) fn ids(&self) -> String {
        format!("{}ids", self.prefix)
    }

    /// Hash subject → version (events the subject has had).
    pub(super) fn versions(&self) -> String {
        format!("{}versions", self.prefix)
    }

    /// Hash checkpoint name → position.
    pub(super) fn checkpoints(&self) -> String {
        format!("{}checkpoints", self.prefix)
    }

    /// The prefix of the per-subject index keys (`eddy:{S}:subject:<subject>`).
    pub(super) fn subject_prefix(&self) -> String {
        format!("{}subject:", self.prefix)
    }

    /// Sorted set of one subject's positions (all scores 0, members [`index_member`]s).
    pub(super) fn subject(&self, subject: &str) -> String {
        format!("{}subject:{subject}", self.prefix)
    }
}

/// A position as a member of a subject index: both parts zero-padded to 20 digits, so the
/// lexicographic order of `ZRANGEBYLEX` is the order of positions.
pub(super) fn index_member(position: crate::event::Position) -> String {
    format!("{:020}-{:020}", position.ms, position.seq)
}

/// The position back from an index member.
pub(super) fn member_position(member: &str) -> Option<crate::event::Position> {
    let (ms, seq) = member.split_once('-')?;
    Some(crate::event::Position::new(
        ms.parse().ok()?,
        seq.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Position;

    #[test]
    fn index_members_sort_like_positions() {
        let a = index_member(Position::new(999, 10));
        let b = index_member(Position::new(1_000, 2));
        assert!(a < b);
        assert_eq!(member_position(&b), Some(Position::new(1_000, 2)));
    }
}
