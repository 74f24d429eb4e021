//! Leases with fencing tokens in the redb file, timed by the system clock. Synchronous, like
//! [`super::streams`].

use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

use super::schema::LEASES;
use super::streams::in_write;
use crate::store::{Fence, Lease, StoreError};

/// Takes or renews a lease; `None` if another owner holds it.
pub(super) fn acquire(
    db: &Database,
    name: &str,
    owner: &str,
    ttl_ms: u64,
    now_ms: u64,
) -> Result<Option<Lease>, StoreError> {
    in_write(db, |txn| {
        let mut leases = txn.open_table(LEASES)?;
        let current = leases.get(name)?.map(|row| {
            let (holder, token, expires) = row.value();
            (holder.to_string(), token, expires)
        });
        let token = match current {
            Some((holder, token, expires)) if expires > now_ms => {
                if holder != owner {
                    return Ok(None);
                }
                // A renewal: same holder, same token.
                token
            }
            // Free, released or expired: a new holder (or the old one, after losing it) gets a
            // token greater than any before.
            Some((_, token, _)) => token + 1,
            None => 1,
        };
        let expires = now_ms.saturating_add(ttl_ms);
        leases.insert(name, (owner, token, expires))?;
        Ok(Some(Lease {
            name: name.to_string(),
            owner: owner.to_string(),
            token,
            expires_in_ms: ttl_ms,
        }))
    })
}

/// Releases a lease `owner` holds, keeping its token; whether it did.
pub(super) fn release(
    db: &Database,
    name: &str,
    owner: &str,
    now_ms: u64,
) -> Result<bool, StoreError> {
    in_write(db, |txn| {
        let mut leases = txn.open_table(LEASES)?;
        let token = match leases.get(name)? {
            Some(row) => {
                let (holder, token, expires) = row.value();
                if holder != owner || expires <= now_ms {
                    return Ok(false);
                }
                token
            }
            None => return Ok(false),
        };
        leases.insert(name, ("", token, 0))?;
        Ok(true)
    })
}

/// Live leases whose name starts with `prefix`, by name.
pub(super) fn list(db: &Database, prefix: &str, now_ms: u64) -> Result<Vec<Lease>, StoreError> {
    let txn = db.begin_read()?;
    let leases = txn.open_table(LEASES)?;
    let mut out = Vec::new();
    for row in leases.range::<&str>(prefix..)? {
        let (name, value) = row?;
        let name = name.value();
        if !name.starts_with(prefix) {
            break;
        }
        let (owner, token, expires) = value.value();
        if expires > now_ms {
            out.push(Lease {
                name: name.to_string(),
                owner: owner.to_string(),
                token,
                expires_in_ms: expires - now_ms,
            });
        }
    }
    Ok(out)
}

/// Fails with [`StoreError::LeaseLost`] unless the fence's owner holds its lease, unexpired,
/// with its token.
pub(super) fn check_fence(
    txn: &WriteTransaction,
    fence: &Fence,
    now_ms: u64,
) -> Result<(), StoreError> {
    let leases = txn.open_table(LEASES)?;
    let held = leases.get(fence.lease.as_str())?.is_some_and(|row| {
        let (owner, token, expires) = row.value();
        owner == fence.owner && token == fence.token && expires > now_ms
    });
    if held {
        Ok(())
    } else {
        Err(StoreError::LeaseLost {
            lease: fence.lease.clone(),
        })
    }
}
