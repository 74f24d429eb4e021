//! The HTTP client the API commands share (`publish`, `tail`, `streams`, …): where the
//! server is, the token, and problem bodies turned into errors a user can act on.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;

/// Where the API is and how to talk to it; flattened into every client command.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// The server's base URL.
    #[arg(long, env = "EDDY_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API token (sent as `Authorization: Bearer …`).
    #[arg(long, env = "EDDY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON (one document, or JSON Lines for `tail`) instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Just where the server is and the token: for commands with output options of their own
/// (`eddy state`, `eddy record`, `eddy replay --url`).
#[derive(Debug, Clone, clap::Args)]
pub struct UrlArgs {
    /// The server's base URL.
    #[arg(long, env = "EDDY_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API token (sent as `Authorization: Bearer …`).
    #[arg(long, env = "EDDY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// The server answered with an error status; `message` is its problem's detail.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiFailure {
    /// The HTTP status: a 4xx will not change by retrying, a 5xx may.
    pub status: u16,
    message: String,
}

impl ApiFailure {
    /// The status of `error` if the server answered it.
    pub fn status_of(error: &anyhow::Error) -> Option<u16> {
        error.downcast_ref::<ApiFailure>().map(|f| f.status)
    }
}

/// A client of one server.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

/// How long a plain request may take; live streams have no limit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl Client {
    /// A client for the server `args` name.
    pub fn new(args: &ClientArgs) -> Self {
        Self {
            agent: agent(Some(REQUEST_TIMEOUT)),
            base: args.url.trim_end_matches('/').to_string(),
            token: args.token.clone().filter(|t| !t.is_empty()),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authorize<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    /// A client for the server `args` name (commands with their own output options).
    pub fn for_url(args: &UrlArgs) -> Self {
        Self::new(&ClientArgs {
            url: args.url.clone(),
            token: args.token.clone(),
            json: false,
        })
    }

    /// `GET path` → its JSON (the same as [`Client::get`]).
    pub fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        self.get(path)
    }

    /// The events of `stream` after `from` (exclusive) up to `to` (inclusive), optionally of
    /// one subject, in order, read page by page.
    pub fn events(
        &self,
        stream: &str,
        subject: Option<&str>,
        from: Option<crate::event::Position>,
        to: Option<crate::event::Position>,
    ) -> anyhow::Result<Vec<(crate::event::Position, crate::event::CloudEvent)>> {
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
            let page = self.get(&path)?;
            for item in page["events"].as_array().cloned().unwrap_or_default() {
                let position: crate::event::Position = item["position"]
                    .as_str()
                    .and_then(|p| p.parse().ok())
                    .context("an event page without positions")?;
                if to.is_some_and(|to| position > to) {
                    return Ok(out);
                }
                let event = crate::event::CloudEvent::from_json(&item["event"].to_string())
                    .map_err(|e| anyhow::anyhow!("event at {position}: {e}"))?;
                out.push((position, event));
            }
            match page["next"].as_str().and_then(|p| p.parse().ok()) {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// `GET path` → its JSON.
    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self.authorize(self.agent.get(self.url(path))).call();
        self.json(path, response)
    }

    /// `POST path` with a body of `content_type` → its JSON.
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> anyhow::Result<Value> {
        let request = self
            .authorize(self.agent.post(self.url(path)))
            .header("content-type", content_type);
        self.json(path, request.send(body))
    }

    /// Opens a long-lived `GET` (a live stream) with extra headers; the body is read by the
    /// caller as it arrives.
    pub fn stream(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<ureq::http::Response<ureq::Body>> {
        let mut request = self.authorize(agent(None).get(self.url(path)));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.call().map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(self.problem(path, response));
        }
        Ok(response)
    }

    fn json(
        &self,
        path: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Value> {
        let mut response = response.map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(self.problem(path, response));
        }
        if response.status() == ureq::http::StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .with_context(|| format!("reading the answer of {path}"))?;
        serde_json::from_str(&text).with_context(|| format!("{path} did not answer with JSON"))
    }

    fn unreachable(&self, error: ureq::Error) -> anyhow::Error {
        anyhow::anyhow!(
            "cannot reach the Eddy server at {} ({error}); is `eddy serve` running? (set --url or EDDY_URL)",
            self.base
        )
    }

    /// An error answer as a sentence: the problem's detail, plus a hint for auth failures.
    fn problem(&self, path: &str, mut response: ureq::http::Response<ureq::Body>) -> anyhow::Error {
        let status = response.status();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let detail = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_string))
            .unwrap_or(text);
        let hint = match status.as_u16() {
            401 if self.token.is_none() => " (pass --token or set EDDY_TOKEN)",
            _ => "",
        };
        ApiFailure {
            status: status.as_u16(),
            message: format!("{path}: {status}: {detail}{hint}"),
        }
        .into()
    }
}

fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(timeout)
        .build()
        .into()
}

/// Percent-encodes one path segment or query value.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Prints rows as a table with a header, columns padded to their widest cell.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Prints a JSON document, pretty.
pub fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A JSON value as a table cell: strings bare, `null` as `-`.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
