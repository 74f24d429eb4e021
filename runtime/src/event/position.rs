//! Positions in a stream: `<milliseconds>-<sequence>`, exactly like Redis stream ids.
//!
//! Every backend uses this form, so a checkpoint or a `from` means the same thing everywhere.

use std::fmt;
use std::str::FromStr;

/// Where an event sits in its stream. Positions are totally ordered: first by the millisecond
/// part, then by the sequence part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// Milliseconds since the Unix epoch at which the event was appended (or a synthetic value).
    pub ms: u64,
    /// Sequence number among the events of the same millisecond.
    pub seq: u64,
}

impl Position {
    /// The position before every event: `0-0`.
    pub const ZERO: Position = Position { ms: 0, seq: 0 };
    /// The greatest position there can be.
    pub const MAX: Position = Position {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// A position from its two parts.
    pub const fn new(ms: u64, seq: u64) -> Self {
        Self { ms, seq }
    }

    /// The smallest position strictly after this one (`None` at [`Position::MAX`]).
    pub fn next(self) -> Option<Position> {
        if self.seq < u64::MAX {
            Some(Position::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(Position::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The greatest position strictly before this one (`None` at [`Position::ZERO`]).
    pub fn prev(self) -> Option<Position> {
        if self.seq > 0 {
            Some(Position::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(Position::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A text that is not a position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a position: expected `<milliseconds>-<sequence>` such as `1732450000000-0`")]
pub struct PositionError(pub String);

impl FromStr for Position {
    type Err = PositionError;

    /// Parses `<ms>-<seq>`; a bare `<ms>` means `<ms>-0`, as in Redis.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || PositionError(text.to_string());
        let (ms, seq) = match text.split_once('-') {
            Some((ms, seq)) => (ms, seq),
            None => (text, "0"),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return Err(bad());
        }
        Ok(Position {
            ms: ms.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

impl serde::Serialize for Position {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Position {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_print_and_parse_like_redis_ids() {
        let p: Position = "1732450000000-7".parse().unwrap();
        assert_eq!(p, Position::new(1_732_450_000_000, 7));
        assert_eq!(p.to_string(), "1732450000000-7");
        assert_eq!("42".parse::<Position>().unwrap(), Position::new(42, 0));
    }

    #[test]
    fn positions_order_by_ms_then_seq() {
        assert!(Position::new(1, 9) < Position::new(2, 0));
        assert!(Position::new(2, 0) < Position::new(2, 1));
        assert_eq!(Position::new(1, u64::MAX).next(), Some(Position::new(2, 0)));
        assert_eq!(Position::new(2, 0).prev(), Some(Position::new(1, u64::MAX)));
        assert_eq!(Position::ZERO.prev(), None);
    }

    #[test]
    fn malformed_positions_are_refused() {
        for bad in ["", "-", "1-", "-1", "a-1", "1-b", "1-2-3", "+1-0", " 1-0"] {
            assert!(bad.parse::<Position>().is_err(), "{bad:?} parsed");
        }
    }
}
