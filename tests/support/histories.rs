//! Generated event histories: deterministic, varied, and large enough to matter.

use std::fmt::Write;

/// A small deterministic generator (a linear congruential generator): no dependency, and the
/// same history on every machine forever.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A JSON Lines history of `events` order events over `orders` subjects, exercising every
/// order-totals rule: valid lifecycles, disallowed transitions, bad data, overflows, unknown
/// types, and events without a subject.
pub fn order_history(events: usize, orders: u64, seed: u64) -> String {
    let mut rng = Lcg::new(seed);
    let mut out = String::new();
    for i in 0..events {
        let order = rng.below(orders);
        let second = 1_767_225_600 + i as u64;
        let time = chrono_like(second);
        let (ty, data) = match rng.below(20) {
            0..=2 => (
                "order.created",
                format!(r#"{{"customer":"c-{}"}}"#, rng.below(50)),
            ),
            3..=8 => (
                "order.item_added",
                format!(
                    r#"{{"sku":"sku-{}","qty":{},"unit_cents":{}}}"#,
                    rng.below(8),
                    1 + rng.below(5),
                    rng.below(5000)
                ),
            ),
            9..=10 => (
                "order.item_removed",
                format!(
                    r#"{{"sku":"sku-{}","qty":{}}}"#,
                    rng.below(9),
                    1 + rng.below(4)
                ),
            ),
            11..=13 => (
                "order.paid",
                format!(r#"{{"amount_cents":{}}}"#, 1 + rng.below(20_000)),
            ),
            14 => ("order.shipped", "{}".to_string()),
            15 => ("order.cancelled", "{}".to_string()),
            16 => (
                "order.item_added",
                r#"{"sku":"x","qty":1.5,"unit_cents":1}"#.to_string(),
            ),
            17 => (
                "order.item_added",
                r#"{"sku":"big","qty":9223372036854775807,"unit_cents":2}"#.to_string(),
            ),
            18 => ("order.paid", r#"{"amount_cents":"12"}"#.to_string()),
            _ => ("order.note_added", r#"{"text":"hello"}"#.to_string()),
        };
        let subject = if rng.below(100) == 0 {
            String::new()
        } else {
            format!(r#","subject":"o-{order}""#)
        };
        writeln!(
            out,
            r#"{{"specversion":"1.0","id":"e-{i}","source":"/gen","type":"{ty}"{subject},"time":"{time}","datacontenttype":"application/json","data":{data}}}"#
        )
        .unwrap();
    }
    out
}

/// An RFC 3339 UTC timestamp for a Unix second, without pulling in a date library.
pub fn chrono_like(unix_seconds: u64) -> String {
    let days = unix_seconds / 86_400;
    let rem = unix_seconds % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
