//! Leases with fencing tokens in Redis, timed by the server's clock (`PX` expiry).

use super::keys::{self, LEASE_CLOSE, LEASE_OPEN, LEASES};
use super::{RedisStore, redis_error};
use crate::store::{Lease, StoreError};

impl RedisStore {
    /// Takes or renews a lease with `lease_acquire.lua`.
    pub(super) async fn take_lease(
        &self,
        name: &str,
        owner: &str,
        ttl_ms: u64,
    ) -> Result<Option<Lease>, StoreError> {
        let token: Option<u64> = self
            .scripts
            .lease_acquire
            .key(keys::lease(name))
            .key(keys::lease_token(name))
            .key(LEASES)
            .arg(name)
            .arg(owner)
            .arg(ttl_ms)
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        Ok(token.map(|token| Lease {
            name: name.to_string(),
            owner: owner.to_string(),
            token,
            expires_in_ms: ttl_ms,
        }))
    }

    /// Releases a lease with `lease_release.lua`.
    pub(super) async fn give_up_lease(&self, name: &str, owner: &str) -> Result<bool, StoreError> {
        let released: u64 = self
            .scripts
            .lease_release
            .key(keys::lease(name))
            .arg(owner)
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        Ok(released == 1)
    }

    /// Live leases by name prefix, with `leases.lua`.
    pub(super) async fn live_leases(&self, prefix: &str) -> Result<Vec<Lease>, StoreError> {
        // Names are ASCII, so every name starting with `prefix` sorts below `prefix` + 0xff.
        let min = [b"[", prefix.as_bytes()].concat();
        let max = [b"[", prefix.as_bytes(), b"\xff"].concat();
        let rows: Vec<(String, String, i64)> = self
            .scripts
            .leases
            .key(LEASES)
            .arg(min)
            .arg(max)
            .arg(LEASE_OPEN)
            .arg(LEASE_CLOSE)
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        rows.into_iter()
            .map(|(name, value, ttl)| {
                let (token, owner) = value
                    .split_once(':')
                    .and_then(|(t, o)| Some((t.parse::<u64>().ok()?, o)))
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("lease `{name}` holds `{value}`"))
                    })?;
                Ok(Lease {
                    owner: owner.to_string(),
                    name,
                    token,
                    expires_in_ms: ttl.max(0) as u64,
                })
            })
            .collect()
    }
}
