//! Retry policy: how often and how patiently a failed event is tried again.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Retries with exponential backoff and jitter; after `max_attempts` the event is
/// dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The wait before the second attempt, in milliseconds; doubled for each further attempt.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// The longest wait, in milliseconds.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

fn default_max_attempts() -> u32 {
    5
}

fn default_backoff_ms() -> u64 {
    100
}

fn default_max_backoff_ms() -> u64 {
    10_000
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            backoff_ms: default_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
        }
    }
}

impl RetryPolicy {
    /// Checks the ranges; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(1..=100).contains(&self.max_attempts) {
            return Err(("retry.max_attempts", "must be between 1 and 100".into()));
        }
        if self.max_backoff_ms > 24 * 3600 * 1000 {
            return Err(("retry.max_backoff_ms", "must be at most one day".into()));
        }
        if self.backoff_ms > self.max_backoff_ms {
            return Err((
                "retry.backoff_ms",
                format!("must not exceed max_backoff_ms ({})", self.max_backoff_ms),
            ));
        }
        Ok(())
    }

    /// Whether another attempt is allowed after `attempts` failed ones.
    pub fn may_retry(&self, attempts: u32) -> bool {
        attempts < self.max_attempts
    }

    /// The wait before attempt `attempt + 1`, after `attempt` failures (1-based): the base
    /// doubled per attempt and capped, then jittered into its upper half so that many
    /// consumers failing together do not retry in lockstep. `jitter` is in `0.0..=1.0`.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(32);
        let full = self
            .backoff_ms
            .saturating_mul(1u64 << exponent)
            .min(self.max_backoff_ms);
        let half = full / 2;
        let jittered = half + (half as f64 * jitter.clamp(0.0, 1.0)) as u64;
        Duration::from_millis(jittered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_attempt_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let at = |attempt| policy.backoff(attempt, 1.0).as_millis();
        assert_eq!([at(1), at(2), at(3), at(4)], [100, 200, 400, 800]);
        assert_eq!(at(20), 10_000);
        assert_eq!(at(u32::MAX), 10_000, "no overflow");
        assert_eq!(
            policy.backoff(1, 0.0).as_millis(),
            50,
            "jitter stays in the upper half"
        );
    }

    #[test]
    fn attempts_are_bounded() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(policy.may_retry(1) && policy.may_retry(2));
        assert!(!policy.may_retry(3));
    }
}
