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

/// Order events whose data probes the edges of JSON and of serde_json's reading of it:
/// number forms (`2.0`, `-0`, `1e3`, the i64 bounds), escapes and surrogates, bytes that are not
/// UTF-8, duplicate and unknown fields, nesting, whitespace and trailing bytes, and event types
/// that are names of JavaScript object properties. Each payload gets an order of its own,
/// opened (with one line) just before it, and is sent as `data_base64` so that the plugin
/// receives exactly these bytes.
pub fn order_data_edge_cases() -> String {
    use base64::Engine as _;
    let item = |fields: &str| format!(r#"{{"sku":"A","qty":1,"unit_cents":1{fields}}}"#);
    let mut payloads: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut add = |ty, bytes: &[u8]| payloads.push((ty, bytes.to_vec()));
    // Integer fields.
    for unit in [
        "0",
        "-0",
        "2.0",
        "1e3",
        "1E3",
        "10e-1",
        "01",
        "+1",
        "1.",
        ".5",
        "-",
        "true",
        "null",
        "\"5\"",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999",
        "-9223372036854775808",
        "-9223372036854775809",
        "1e999",
        "[]",
        "{}",
    ] {
        add(
            "order.item_added",
            format!(r#"{{"sku":"A","qty":1,"unit_cents":{unit}}}"#).as_bytes(),
        );
    }
    // Longer than Python's int() accepts by default (4300 digits).
    let digits = "1".repeat(5000);
    add(
        "order.item_added",
        format!(r#"{{"sku":"A","qty":1,"unit_cents":{digits}}}"#).as_bytes(),
    );
    add(
        "order.item_added",
        item(&format!(r#","x":{digits}"#)).as_bytes(),
    );
    for amount in [
        "9223372036854775807",
        "4611686018427387904",
        "-0",
        "1.0",
        "0",
    ] {
        add(
            "order.paid",
            format!(r#"{{"amount_cents":{amount}}}"#).as_bytes(),
        );
    }
    // Keys, duplicates and unknown fields.
    add(
        "order.item_added",
        br#"{"sku":"A","qty":1,"unit_cents":1,"qty":1}"#,
    );
    add("order.item_added", item(r#","x":1,"x":[2]"#).as_bytes());
    add(
        "order.item_added",
        br#"{"s\u006bu":"B","qty":1,"unit_cents":7}"#,
    );
    add("order.item_added", br#"{"unit_cents":3,"qty":2,"sku":"C"}"#);
    add("order.item_added", br#"{"sku":"A","qty":1}"#);
    add("order.item_added", br#"{}"#);
    add(
        "order.item_added",
        br#"{"__proto__":{"qty":1},"sku":"A","qty":1,"unit_cents":1}"#,
    );
    add(
        "order.item_added",
        br#"{"sku":"__proto__","qty":1,"unit_cents":5}"#,
    );
    add(
        "order.item_added",
        br#"{"sku":"constructor","qty":2,"unit_cents":5}"#,
    );
    add(
        "order.item_added",
        b"{\"\xff\":1,\"sku\":\"A\",\"qty\":1,\"unit_cents\":1}",
    );
    add(
        "order.item_added",
        br#"{"\ud800":1,"sku":"A","qty":1,"unit_cents":1}"#,
    );
    // Strings.
    add(
        "order.item_added",
        br#"{"sku":"\ud83d\ude00","qty":1,"unit_cents":1}"#,
    );
    add(
        "order.item_added",
        br#"{"sku":"\ud800","qty":1,"unit_cents":1}"#,
    );
    add(
        "order.item_added",
        br#"{"sku":"\udc00","qty":1,"unit_cents":1}"#,
    );
    add(
        "order.item_added",
        br#"{"sku":"\ud800\u0041","qty":1,"unit_cents":1}"#,
    );
    add(
        "order.item_added",
        br#"{"sku":"A\/B\n\t\"\\\b\f\r","qty":1,"unit_cents":1}"#,
    );
    add(
        "order.item_added",
        br#"{"sku":"\u00E9\u00e9","qty":1,"unit_cents":1}"#,
    );
    add(
        "order.item_added",
        "{\"sku\":\"é😀\",\"qty\":1,\"unit_cents\":1}".as_bytes(),
    );
    add(
        "order.item_added",
        b"{\"sku\":\"\xff\",\"qty\":1,\"unit_cents\":1}",
    );
    add(
        "order.item_added",
        b"{\"sku\":\"\xc0\xaf\",\"qty\":1,\"unit_cents\":1}",
    );
    add(
        "order.item_added",
        b"{\"sku\":\"\xed\xa0\x80\",\"qty\":1,\"unit_cents\":1}",
    );
    add(
        "order.item_added",
        b"{\"sku\":\"\xf4\x90\x80\x80\",\"qty\":1,\"unit_cents\":1}",
    );
    add(
        "order.item_added",
        b"{\"sku\":\"A\x01\",\"qty\":1,\"unit_cents\":1}",
    );
    add(
        "order.item_added",
        b"{\"sku\":\"A\tB\",\"qty\":1,\"unit_cents\":1}",
    );
    add("order.item_added", item(r#","x":"\ud800""#).as_bytes());
    add(
        "order.item_added",
        b"{\"sku\":\"A\",\"qty\":1,\"unit_cents\":1,\"x\":\"\xff\"}",
    );
    add("order.item_added", &[item("").as_bytes(), b"\xff"].concat());
    add("order.item_added", item(r#","x":"\u12""#).as_bytes());
    add("order.item_added", item(r#","x":"\q""#).as_bytes());
    add("order.item_added", item(",\"x\":\"\x1f\"").as_bytes());
    // Unknown values of every shape.
    add(
        "order.item_added",
        item(r#","x":[1,{"a":[true,false,null,-1.5e-3,"s"]}],"y":{}"#).as_bytes(),
    );
    add(
        "order.item_added",
        item(&format!(r#","x":{}{}"#, "[".repeat(300), "]".repeat(300))).as_bytes(),
    );
    add(
        "order.item_added",
        item(r#","x":1e999,"y":-0,"z":0.0"#).as_bytes(),
    );
    for bad in [
        "[1,]",
        "{\"a\":1,}",
        "NaN",
        "Infinity",
        "01",
        "-",
        "1.",
        "tru",
        "nul",
        "[1 2]",
        "{\"a\" 1}",
        "{1:2}",
        "'s'",
    ] {
        add(
            "order.item_added",
            item(&format!(r#","x":{bad}"#)).as_bytes(),
        );
    }
    // Whitespace, framing and trailing bytes.
    add(
        "order.item_added",
        b" \n\t\r{ \"sku\" : \"W\" , \"qty\" : 1 , \"unit_cents\" : 1 } \n",
    );
    add("order.item_added", &[b"\x0c", item("").as_bytes()].concat());
    add(
        "order.item_added",
        &[b"\xef\xbb\xbf", item("").as_bytes()].concat(),
    );
    add("order.item_added", &[item("").as_bytes(), b"x"].concat());
    add("order.item_added", &[item("").as_bytes(), b"{}"].concat());
    add("order.item_added", &[item("").as_bytes(), b"\x00"].concat());
    add("order.item_added", item(",").as_bytes());
    add("order.item_added", br#"{"sku":"A","qty":1,"unit_cents":1"#);
    add("order.item_added", br#"["A",1,1]"#);
    add("order.item_added", b"");
    // The other types.
    add(
        "order.created",
        "{\"customer\":\"\\u00e9\\ud83d\\ude00 \\\"q\\\" é\"}".as_bytes(),
    );
    add("order.created", br#"{"customer":"x","customer":"y"}"#);
    add("order.item_removed", br#"{"sku":"A","qty":-0}"#);
    add("order.item_removed", br#"{"sku":"A","qty":1e0}"#);
    add(
        "order.item_removed",
        br#"{"sku":"A","qty":9223372036854775807}"#,
    );
    add("order.cancelled", b"\xff not even json");
    for ty in [
        "__proto__",
        "constructor",
        "toString",
        "hasOwnProperty",
        "order.created.__proto__",
    ] {
        add(ty, br#"{"customer":"z"}"#);
    }

    let engine = base64::engine::general_purpose::STANDARD;
    let mut out = String::new();
    let mut i = 0;
    let mut event = |out: &mut String, subject: &str, ty: &str, data: &[u8]| {
        i += 1;
        // No data at all for an empty payload (`data_base64` may not be empty).
        let data = match data {
            [] => String::new(),
            data => format!(r#","data_base64":"{}""#, engine.encode(data)),
        };
        writeln!(
            out,
            r#"{{"specversion":"1.0","id":"edge-{i}","source":"/edge","type":{},"subject":"{subject}"{data}}}"#,
            serde_json::to_string(ty).unwrap(),
        )
        .unwrap();
    };
    for (n, (ty, data)) in payloads.iter().enumerate() {
        let subject = format!("edge-{n:03}");
        if *ty != "order.created" {
            event(&mut out, &subject, "order.created", br#"{"customer":"c"}"#);
            event(
                &mut out,
                &subject,
                "order.item_added",
                br#"{"sku":"A","qty":1,"unit_cents":10}"#,
            );
        }
        event(&mut out, &subject, ty, data);
    }
    out
}
