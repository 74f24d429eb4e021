//! Which processes run a reducer subscription, so that its partitions are shared fairly.
//!
//! Each process holds a member lease `<name>.m.<consumer>` and renews it; the live members
//! are the holders of such leases. A partition's preferred owner is `members[p % n]`: a
//! process releases partitions that prefer another live member (between batches), and that
//! member takes them. When a process dies its member lease expires, it drops out of the list,
//! and its partitions pass to the others once their partition leases expire.

use std::time::Duration;

use super::reducer_worker::LEASE_TTL;
use super::worker::WorkerContext;

/// How often membership is renewed and re-read.
const REFRESH: Duration = Duration::from_secs(1);

fn member_lease(subscription: &str, consumer: &str) -> String {
    format!("{subscription}.m.{consumer}")
}

/// Keeps this process a member until the subscription stops, then leaves.
pub(crate) async fn run(ctx: WorkerContext) {
    let lease = member_lease(&ctx.spec.name, &ctx.consumer);
    let prefix = format!("{}.m.", ctx.spec.name);
    loop {
        match ctx
            .store
            .acquire_lease(&lease, &ctx.consumer, LEASE_TTL)
            .await
        {
            Ok(_) => {}
            Err(error) => ctx.stats.set_error(&error.to_string()),
        }
        match ctx.store.leases(&prefix).await {
            Ok(leases) => {
                let mut members: Vec<String> = leases.into_iter().map(|l| l.owner).collect();
                members.sort();
                members.dedup();
                *ctx.members.lock().unwrap_or_else(|e| e.into_inner()) = members;
            }
            Err(error) => ctx.stats.set_error(&error.to_string()),
        }
        if ctx.pause(REFRESH).await {
            let _ = ctx.store.release_lease(&lease, &ctx.consumer).await;
            return;
        }
    }
}
