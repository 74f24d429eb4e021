//! Opening a store by URL: `redis://host:port/db` or `embedded:<directory>`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::{EventStore, StoreError};

/// The store used when none is given: the embedded store in `./eddy-data`.
pub const DEFAULT_STORE_URL: &str = "embedded:./eddy-data";

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// Redis Streams at this `redis://` URL (passed to the redis client as is).
    Redis(String),
    /// The embedded store in this directory (created if missing).
    Embedded(PathBuf),
}

impl StoreUrl {
    /// Parses `redis://[user:password@]host[:port][/db]` or `embedded:<directory>`
    /// (`embedded:` alone means `./eddy-data`).
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let bad = |problem: &str| StoreError::BadUrl {
            url: url.to_string(),
            problem: problem.to_string(),
        };
        if let Some(path) = url.strip_prefix("embedded:") {
            // Tolerate the `embedded://path` spelling people reach for by habit.
            let path = path.strip_prefix("//").unwrap_or(path);
            let path = if path.is_empty() { "./eddy-data" } else { path };
            return Ok(Self::Embedded(PathBuf::from(path)));
        }
        if url.starts_with("rediss://") {
            return Err(bad(
                "TLS (`rediss://`) is not supported yet; use `redis://`",
            ));
        }
        if url.starts_with("redis://") {
            let info = ::redis::IntoConnectionInfo::into_connection_info(url)
                .map_err(|e| bad(&e.to_string()))?;
            drop(info);
            return Ok(Self::Redis(url.to_string()));
        }
        Err(bad(
            "expected `redis://host:port/db` or `embedded:<directory>` (for example `embedded:./eddy-data`)",
        ))
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Never print a password that might be in the URL.
            StoreUrl::Redis(url) => match url.split_once('@') {
                Some((_, host)) => write!(f, "redis://***@{host}"),
                None => f.write_str(url),
            },
            StoreUrl::Embedded(path) => write!(f, "embedded:{}", path.display()),
        }
    }
}

/// Opens the store a URL names, checking that it is reachable and usable.
pub async fn open(url: &str) -> Result<Arc<dyn EventStore>, StoreError> {
    match StoreUrl::parse(url)? {
        StoreUrl::Redis(url) => Ok(Arc::new(super::redis::RedisStore::connect(&url).await?)),
        StoreUrl::Embedded(dir) => Ok(Arc::new(super::embedded::EmbeddedStore::open(dir).await?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_name_a_backend() {
        assert_eq!(
            StoreUrl::parse("embedded:./data").unwrap(),
            StoreUrl::Embedded("./data".into())
        );
        assert_eq!(
            StoreUrl::parse("embedded:").unwrap(),
            StoreUrl::Embedded("./eddy-data".into())
        );
        assert_eq!(
            StoreUrl::parse("redis://127.0.0.1:6379/0").unwrap(),
            StoreUrl::Redis("redis://127.0.0.1:6379/0".into())
        );
        for bad in [
            "",
            "postgres://x",
            "rediss://h",
            "redis://h:notaport",
            "./data",
        ] {
            assert!(
                matches!(StoreUrl::parse(bad), Err(StoreError::BadUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn printed_urls_hide_passwords() {
        let url = StoreUrl::parse("redis://user:secret@h:1/0").unwrap();
        assert_eq!(url.to_string(), "redis://***@h:1/0");
    }
}
