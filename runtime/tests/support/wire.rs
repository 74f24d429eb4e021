//! A real server on a loopback port and a raw HTTP/1.1 client for it. The hostile-client tests
//! write bytes that no HTTP library would send (NUL, invalid UTF-8, cut bodies) and hold
//! connections open as no library would, so they speak HTTP by hand.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use eddy::api::ApiConfig;
use eddy::store::EventStore;

use super::Target;

/// How long any one answer may take before the test calls it a hang.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The API served by `eddy::api::serve` on 127.0.0.1, port 0, over a fresh embedded store.
pub struct Server {
    pub address: SocketAddr,
    pub store: Arc<dyn EventStore>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _target: Target,
}

impl Server {
    /// Starts serving with `config`.
    pub async fn start(config: ApiConfig) -> Self {
        let target = Target::embedded();
        let store = target.open().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(eddy::api::serve(listener, store.clone(), config, async {
            let _ = stopped.await;
        }));
        Self {
            address,
            store,
            stop: Some(stop),
            task: Some(task),
            _target: target,
        }
    }

    /// A new connection.
    pub async fn connect(&self) -> Conn {
        Conn::new(TcpStream::connect(self.address).await.unwrap())
    }

    /// Sends `request` (raw bytes) on a new connection and reads the answer.
    pub async fn send(&self, request: &[u8]) -> Answer {
        let mut conn = self.connect().await;
        conn.write(request).await.unwrap();
        let head_only = request.starts_with(b"HEAD ");
        conn.answer(head_only)
            .await
            .unwrap_or_else(|e| panic!("no answer to {:?}: {e}", preview(request)))
    }

    /// `GET path` on a new connection.
    pub async fn get(&self, path: &str) -> Answer {
        self.send(format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n").as_bytes())
            .await
    }

    /// `POST path` with a body of `content_type` on a new connection.
    pub async fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Answer {
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        self.send(&request).await
    }

    /// Panics unless `/healthz` answers 200.
    pub async fn assert_healthy(&self) {
        let answer = self.get("/healthz").await;
        assert_eq!(answer.status, 200, "/healthz: {answer:?}");
    }

    /// The value of the Prometheus series `series` (name and labels as rendered), 0 if absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let answer = self.get("/metrics").await;
        assert_eq!(answer.status, 200);
        String::from_utf8(answer.body)
            .unwrap()
            .lines()
            .filter_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|value| value.trim().parse::<f64>().unwrap())
            .sum()
    }

    /// Stops the server; panics unless it stops within the shutdown grace period.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(35), task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The first bytes of a request, for failure messages.
fn preview(request: &[u8]) -> String {
    String::from_utf8_lossy(&request[..request.len().min(300)]).into_owned()
}

/// An answer: status, headers (names in lower case) and the body, de-chunked.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} answered a body that is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Whether this is a problem document (`application/problem+json` whose `status` member
    /// is the answer's); `head_only` answers have no body to look at.
    pub fn is_problem(&self, head_only: bool) -> bool {
        self.header("content-type") == Some("application/problem+json")
            && (head_only || self.json()["status"] == self.status)
    }
}

/// One connection, read through a buffer.
pub struct Conn {
    pub stream: TcpStream,
    buffer: Vec<u8>,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buffer: Vec::new(),
        }
    }

    /// Writes all of `bytes`.
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads more into the buffer; `false` at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(ANSWER_TIMEOUT, self.stream.read(&mut chunk))
            .await
            .map_err(|_| std::io::Error::other("no answer within the timeout"))??;
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// Takes `n` bytes from the buffer, reading more as needed.
    async fn take(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        while self.buffer.len() < n {
            if !self.fill().await? {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buffer.drain(..n).collect())
    }

    /// Takes a line ending in CRLF (without it).
    async fn line(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(at) = self.buffer.windows(2).position(|w| w == b"\r\n") {
                let line = self.buffer.drain(..at + 2).take(at).collect();
                return Ok(line);
            }
            if !self.fill().await? {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Reads a response head, skipping interim (1xx) ones: the status and the headers.
    pub async fn head(&mut self) -> std::io::Result<(u16, Vec<(String, String)>)> {
        loop {
            let (status, headers) = self.any_head().await?;
            if !(100..200).contains(&status) || status == 101 {
                return Ok((status, headers));
            }
        }
    }

    /// Reads a response head, interim (1xx) ones included.
    pub async fn any_head(&mut self) -> std::io::Result<(u16, Vec<(String, String)>)> {
        let status_line = String::from_utf8(self.line().await?).map_err(std::io::Error::other)?;
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = self.line().await?;
            if line.is_empty() {
                return Ok((status, headers));
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            let (name, value) = line.split_once(':').unwrap_or((&line, ""));
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }

    /// Reads a whole answer. A live stream's (`text/event-stream`) body never ends, so only
    /// its head is read.
    pub async fn answer(&mut self, head_only: bool) -> std::io::Result<Answer> {
        let (status, headers) = self.head().await?;
        self.rest_of_answer(status, headers, head_only).await
    }

    /// Reads the body of an answer whose head has been read.
    pub async fn rest_of_answer(
        &mut self,
        status: u16,
        headers: Vec<(String, String)>,
        head_only: bool,
    ) -> std::io::Result<Answer> {
        let mut answer = Answer {
            status,
            headers,
            body: Vec::new(),
        };
        let streaming = answer
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if head_only || streaming || status == 101 || status == 204 || status == 304 {
            return Ok(answer);
        }
        if answer
            .header("transfer-encoding")
            .is_some_and(|t| t.contains("chunked"))
        {
            while let Some(chunk) = self.chunk().await? {
                answer.body.extend_from_slice(&chunk);
            }
        } else if let Some(length) = answer.header("content-length") {
            let length = length.parse().map_err(std::io::Error::other)?;
            answer.body = self.take(length).await?;
        } else {
            while self.fill().await? {}
            answer.body = std::mem::take(&mut self.buffer);
        }
        Ok(answer)
    }

    /// Reads the next chunk of a chunked body; `None` after the last.
    pub async fn chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let size = String::from_utf8_lossy(&self.line().await?).into_owned();
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(std::io::Error::other)?;
        let chunk = self.take(size).await?;
        self.line().await?;
        Ok((size > 0).then_some(chunk))
    }

    /// Reads server-sent events from a live stream's body (after its head) until `want`
    /// messages have come: the id of each message's event. Panics if the stream ends first.
    pub async fn sse_event_ids(&mut self, want: usize) -> Vec<String> {
        let mut text = String::new();
        let mut ids = Vec::new();
        while ids.len() < want {
            let chunk = self
                .chunk()
                .await
                .unwrap()
                .expect("the live stream ended early");
            text.push_str(std::str::from_utf8(&chunk).unwrap());
            while let Some((block, rest)) = text.split_once("\n\n") {
                for data in block.lines().filter_map(|l| l.strip_prefix("data: ")) {
                    let value: serde_json::Value = serde_json::from_str(data).unwrap();
                    let id = value["event"]["id"].as_str();
                    ids.push(
                        id.unwrap_or_else(|| panic!("not an event: {data}"))
                            .to_string(),
                    );
                }
                text = rest.to_string();
            }
        }
        ids
    }

    /// Reads until the server closes the connection (or resets it); `Err` if it has not
    /// closed it within `within`. Returns the bytes read.
    pub async fn until_closed(&mut self, within: Duration) -> Result<Vec<u8>, String> {
        let deadline = tokio::time::Instant::now() + within;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Err(format!("still open after {within:?}")),
                Ok(Ok(0)) | Ok(Err(_)) => return Ok(std::mem::take(&mut self.buffer)),
                Ok(Ok(n)) => self.buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }
}
