//! Reading events from JSON Lines files: one structured-mode CloudEvent per line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::{CloudEvent, EventError};

/// A problem with an events file; the message names the file, the line and the field.
#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A line does not hold a valid CloudEvent. Fix the line and run again.
    #[error("{path}:{line}: {error}")]
    Event {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with the event on that line.
        error: EventError,
    },
}

/// Reads events one by one, with their 1-based line numbers; blank lines are skipped.
pub struct JsonlReader {
    path: PathBuf,
    lines: std::io::Lines<BufReader<File>>,
    line: usize,
    bytes_read: u64,
}

impl JsonlReader {
    /// Opens `path` for reading.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JsonlError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|source| JsonlError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(Self {
            path,
            lines: BufReader::with_capacity(1 << 16, file).lines(),
            line: 0,
            bytes_read: 0,
        })
    }

    /// How many bytes of the file have been read so far (for progress bars).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Reads the whole file, stopping at the first bad line.
    pub fn read_all(path: impl AsRef<Path>) -> Result<Vec<(usize, CloudEvent)>, JsonlError> {
        Self::open(path)?.collect()
    }
}

impl Iterator for JsonlReader {
    type Item = Result<(usize, CloudEvent), JsonlError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let text = match self.lines.next()? {
                Ok(text) => text,
                Err(source) => {
                    return Some(Err(JsonlError::Io {
                        path: self.path.clone(),
                        source,
                    }));
                }
            };
            self.line += 1;
            self.bytes_read += text.len() as u64 + 1;
            if text.trim().is_empty() {
                continue;
            }
            return Some(
                CloudEvent::from_json(&text)
                    .map(|event| (self.line, event))
                    .map_err(|error| JsonlError::Event {
                        path: self.path.clone(),
                        line: self.line,
                        error,
                    }),
            );
        }
    }
}
