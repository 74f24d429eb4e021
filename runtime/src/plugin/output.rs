//! A plugin's stdout and stderr, forwarded line by line to the host's log.

use std::sync::Arc;

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Lines longer than this are cut: a plugin must not be able to flood one log record.
const MAX_LINE: usize = 8 * 1024;

/// Where a plugin's `stdout` or `stderr` goes: the host's log, tagged with the plugin.
#[derive(Clone)]
pub(crate) struct LogOutput {
    plugin: Arc<str>,
    stream: &'static str,
}

impl LogOutput {
    pub(crate) fn new(plugin: Arc<str>, stream: &'static str) -> Self {
        Self { plugin, stream }
    }
}

impl IsTerminal for LogOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LineWriter {
            output: self.clone(),
            pending: Vec::new(),
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(tokio::io::sink())
    }
}

/// Collects bytes until a newline, then logs the line.
struct LineWriter {
    output: LogOutput,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(&line[..line.len().min(MAX_LINE)]);
        let text = text.trim_end();
        let plugin = &*self.output.plugin;
        // What a plugin writes to stderr is usually a panic message or a complaint.
        if self.output.stream == "stderr" {
            tracing::warn!(target: "eddy::plugin", plugin, stream = "stderr", "{text}");
        } else {
            tracing::info!(target: "eddy::plugin", plugin, stream = "stdout", "{text}");
        }
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            self.emit(&pending);
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        for &byte in bytes.iter() {
            if byte == b'\n' {
                let line = std::mem::take(&mut self.pending);
                self.emit(&line);
            } else if self.pending.len() < MAX_LINE {
                self.pending.push(byte);
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}
