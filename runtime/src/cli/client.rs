//! A small HTTP client for the commands that talk to a running Eddy (`eddy state`,
//! `eddy record`, `eddy replay --stream`).
//!
//! Plain HTTP/1.1 over `std::net`, one request per connection: the API is local or behind a
//! proxy that terminates TLS, the answers are small JSON documents, and this keeps the
//! `eddy` binary free of an HTTP client stack. Errors carry the API's problem `detail`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::event::{CloudEvent, Position};

/// The `--url` option shared by the commands that talk to a running Eddy.
#[derive(Debug, Clone, clap::Args)]
pub struct UrlArgs {
    /// The Eddy to talk to.
    #[arg(long, env = "EDDY_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
}

/// A client of one Eddy's API.
#[derive(Debug, Clone)]
pub struct Client {
    /// `host:port`.
    authority: String,
    /// The path the API is mounted under (usually empty).
    base: String,
}

/// How long a request may take.
const TIMEOUT: Duration = Duration::from_secs(120);

impl Client {
    /// A client of the Eddy at `url` (`http://host:port[/prefix]`).
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!("`{url}`: only http:// URLs are supported (put a TLS proxy in front of Eddy)");
        };
        let (authority, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            bail!("`{url}` names no host");
        }
        let authority = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Self {
            authority,
            base: base.to_string(),
        })
    }

    /// `GET path` (with its query, already encoded) and the JSON answer; a non-2xx answer is
    /// an error carrying the problem's `detail`.
    pub fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        let (status, body) = self.request("GET", path)?;
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        if !(200..300).contains(&status) {
            let detail = json
                .as_ref()
                .and_then(|j| j["detail"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            bail!("{} answered {status}: {detail}", self.authority);
        }
        json.with_context(|| {
            format!(
                "{} answered {status} with a body that is not JSON",
                self.authority
            )
        })
    }

    /// The events of `stream` after `from` (exclusive) up to `to` (inclusive), optionally of
    /// one subject, in order, read page by page.
    pub fn events(
        &self,
        stream: &str,
        subject: Option<&str>,
        from: Option<Position>,
        to: Option<Position>,
    ) -> anyhow::Result<Vec<(Position, CloudEvent)>> {
        let mut out = Vec::new();
        let mut cursor = from;
        loop {
            let mut path = format!("/api/v1/streams/{}/events?limit=1000", encode(stream));
            if let Some(subject) = subject {
                path += &format!("&subject={}", encode(subject));
            }
            if let Some(cursor) = cursor {
                path += &format!("&from={cursor}");
            }
            let page = self.get_json(&path)?;
            let events = page["events"].as_array().cloned().unwrap_or_default();
            for item in events {
                let position: Position = item["position"]
                    .as_str()
                    .and_then(|p| p.parse().ok())
                    .context("an event page without positions")?;
                if to.is_some_and(|to| position > to) {
                    return Ok(out);
                }
                let event = CloudEvent::from_json(&item["event"].to_string())
                    .map_err(|e| anyhow::anyhow!("event at {position}: {e}"))?;
                out.push((position, event));
            }
            match page["next"].as_str().and_then(|p| p.parse().ok()) {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    fn request(&self, method: &str, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut stream = TcpStream::connect(&self.authority).with_context(|| {
            format!(
                "cannot reach Eddy at {} (is `eddy serve` running? see --url)",
                self.authority
            )
        })?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        let head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            self.base, self.authority
        );
        stream.write_all(head.as_bytes())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("an HTTP answer without a header end")?;
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let body = &raw[split + 4..];
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("an HTTP answer without a status")?;
        let body = if head.contains("transfer-encoding: chunked") {
            dechunk(body)?
        } else {
            body.to_vec()
        };
        Ok((status, body))
    }
}

/// The body of a chunked answer.
fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("a truncated chunked answer")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .context("a bad chunk size")?;
        if size == 0 {
            return Ok(out);
        }
        let start = line_end + 2;
        let chunk = body
            .get(start..start + size)
            .context("a truncated chunked answer")?;
        out.extend_from_slice(chunk);
        body = body.get(start + size + 2..).unwrap_or_default();
    }
}

/// Percent-encodes a path segment or query value (everything but unreserved characters).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out += &format!("%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_an_authority_and_a_base() {
        let client = Client::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (client.authority.as_str(), client.base.as_str()),
            ("127.0.0.1:8080", "")
        );
        let client = Client::new("http://eddy/prefix/").unwrap();
        assert_eq!(
            (client.authority.as_str(), client.base.as_str()),
            ("eddy:80", "/prefix")
        );
        assert!(Client::new("https://eddy").is_err());
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("o 1/ä"), "o%201%2F%C3%A4");
    }
}
