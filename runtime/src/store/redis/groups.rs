//! Consumer groups on Redis: the `EventStore` group operations, over `XGROUP`, `XREADGROUP`,
//! `XACK`, `XPENDING`, `XAUTOCLAIM` and the claim and consumer-removal scripts.

use std::time::Duration;

use redis::RedisError;
use redis::streams::{StreamAutoClaimReply, StreamPendingCountReply, StreamReadReply};

use super::entry::{self, RangeReply};
use super::keys::STREAMS;
use super::{RESPONSE_TIMEOUT, RedisStore, check_group, group_error, redis_error};
use crate::event::Position;
use crate::store::error::parse_position;
use crate::store::{
    GroupStart, MAX_READ, ORPHANED_CONSUMER, PendingEntry, StoreError, StoredEvent,
    check_claim_owner, check_name,
};

pub(super) async fn create(
    store: &RedisStore,
    stream: &str,
    group: &str,
    start: GroupStart,
) -> Result<bool, StoreError> {
    let keys = check_group(stream, group)?;
    let start = match start {
        GroupStart::Beginning => "0-0".to_string(),
        GroupStart::Now => "$".to_string(),
        GroupStart::After(position) => position.to_string(),
    };
    // Registered first: a group may be created before the stream's first event.
    redis::cmd("SADD")
        .arg(STREAMS)
        .arg(stream)
        .query_async::<()>(&mut store.conn())
        .await
        .map_err(redis_error)?;
    let result: Result<(), RedisError> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(keys.events())
        .arg(group)
        .arg(start)
        .arg("MKSTREAM")
        .query_async(&mut store.conn())
        .await;
    match result {
        Ok(()) => Ok(true),
        Err(error) if error.code() == Some("BUSYGROUP") => Ok(false),
        Err(error) => Err(redis_error(error)),
    }
}

pub(super) async fn read(
    store: &RedisStore,
    stream: &str,
    group: &str,
    consumer: &str,
    limit: usize,
    block: Option<Duration>,
) -> Result<Vec<StoredEvent>, StoreError> {
    let keys = check_group(stream, group)?;
    check_name("consumer", consumer)?;
    // COUNT 0 would mean "no limit" to Redis.
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP")
        .arg(group)
        .arg(consumer)
        .arg("COUNT")
        .arg(limit.min(MAX_READ));
    let block = block.filter(|b| !b.is_zero());
    if let Some(block) = block {
        // BLOCK 0 would mean "forever".
        cmd.arg("BLOCK").arg(block.as_millis().max(1) as u64);
    }
    cmd.arg("STREAMS").arg(keys.events()).arg(">");
    let reply: Option<StreamReadReply> = match block {
        None => cmd.query_async(&mut store.conn()).await,
        Some(block) => {
            let mut conn = store.blocking_conn().await?;
            match tokio::time::timeout(block + RESPONSE_TIMEOUT, cmd.query_async(&mut conn)).await {
                Ok(Ok(reply)) => {
                    store.return_blocking_conn(conn);
                    Ok(reply)
                }
                Ok(Err(error)) => Err(error),
                Err(_) => {
                    return Err(StoreError::Unavailable(
                        "Redis did not answer a blocking read in time".to_string(),
                    ));
                }
            }
        }
    }
    .map_err(|e| group_error(e, stream, group))?;
    let mut out = Vec::new();
    for key in reply.map(|r| r.keys).unwrap_or_default() {
        out.extend(entry::decode_stream_ids(&key.ids)?);
    }
    Ok(out)
}

pub(super) async fn ack(
    store: &RedisStore,
    stream: &str,
    group: &str,
    positions: &[Position],
) -> Result<u64, StoreError> {
    let keys = check_group(stream, group)?;
    if positions.is_empty() {
        return Ok(0);
    }
    let mut cmd = redis::cmd("XACK");
    cmd.arg(keys.events()).arg(group);
    for position in positions {
        cmd.arg(position.to_string());
    }
    cmd.query_async(&mut store.conn())
        .await
        .map_err(|e| group_error(e, stream, group))
}

pub(super) async fn pending(
    store: &RedisStore,
    stream: &str,
    group: &str,
    limit: usize,
) -> Result<Vec<PendingEntry>, StoreError> {
    let keys = check_group(stream, group)?;
    if limit == 0 {
        return Ok(Vec::new());
    }
    let reply: StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(keys.events())
        .arg(group)
        .arg("-")
        .arg("+")
        .arg(limit)
        .query_async(&mut store.conn())
        .await
        .map_err(|e| group_error(e, stream, group))?;
    reply
        .ids
        .into_iter()
        .map(|p| {
            Ok(PendingEntry {
                position: parse_position(&p.id)?,
                consumer: p.consumer,
                idle: Duration::from_millis(p.last_delivered_ms as u64),
                deliveries: p.times_delivered as u64,
            })
        })
        .collect()
}

pub(super) async fn claim(
    store: &RedisStore,
    stream: &str,
    group: &str,
    consumer: &str,
    min_idle: Duration,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let keys = check_group(stream, group)?;
    check_name("consumer", consumer)?;
    let mut claimed = Vec::new();
    let mut cursor = "0-0".to_string();
    while claimed.len() < limit {
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(keys.events())
            .arg(group)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg(&cursor)
            .arg("COUNT")
            .arg(limit - claimed.len())
            .query_async(&mut store.conn())
            .await
            .map_err(|e| group_error(e, stream, group))?;
        claimed.extend(entry::decode_stream_ids(&reply.claimed)?);
        // XAUTOCLAIM answers `0-0` once it has scanned the whole pending list.
        if reply.next_stream_id == "0-0" {
            break;
        }
        cursor = reply.next_stream_id;
    }
    Ok(claimed)
}

pub(super) async fn claim_from(
    store: &RedisStore,
    stream: &str,
    group: &str,
    owner: &str,
    consumer: &str,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let keys = check_group(stream, group)?;
    check_claim_owner(owner)?;
    check_name("consumer", consumer)?;
    let reply: RangeReply = store
        .scripts
        .claim_from
        .key(keys.events())
        .arg(group)
        .arg(owner)
        .arg(consumer)
        .arg(limit)
        .invoke_async(&mut store.conn())
        .await
        .map_err(|e| group_error(e, stream, group))?;
    entry::decode_all(&reply)
}

pub(super) async fn remove_consumer(
    store: &RedisStore,
    stream: &str,
    group: &str,
    consumer: &str,
) -> Result<u64, StoreError> {
    let keys = check_group(stream, group)?;
    check_name("consumer", consumer)?;
    store
        .scripts
        .remove_consumer
        .key(keys.events())
        .arg(group)
        .arg(consumer)
        .arg(ORPHANED_CONSUMER)
        .invoke_async(&mut store.conn())
        .await
        .map_err(|e| group_error(e, stream, group))
}

pub(super) async fn reap_consumers(
    store: &RedisStore,
    stream: &str,
    group: &str,
    idle: Duration,
) -> Result<Vec<String>, StoreError> {
    let keys = check_group(stream, group)?;
    let reply: redis::streams::StreamInfoConsumersReply = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(keys.events())
        .arg(group)
        .query_async(&mut store.conn())
        .await
        .map_err(|e| group_error(e, stream, group))?;
    let mut reaped = Vec::new();
    for consumer in reply.consumers {
        let gone = consumer.pending == 0 && consumer.idle as u128 >= idle.as_millis();
        if gone && consumer.name != ORPHANED_CONSUMER {
            // The removal script moves anything it finds pending to the orphaned consumer,
            // so a consumer that read in the meantime loses nothing.
            remove_consumer(store, stream, group, &consumer.name).await?;
            reaped.push(consumer.name);
        }
    }
    Ok(reaped)
}
