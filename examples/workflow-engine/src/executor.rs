//! The executor: completes the tasks the worker requests and fires the timers it schedules.
//!
//! It reads through two consumer groups (`executor` for tasks, `timers` for timers) and
//! acknowledges an event only after publishing its outcome. A crash in between leaves the
//! event pending in its group; the restarted executor (or another one) claims it after
//! `claim_idle` and publishes the outcome again — with the same id, so the store keeps the
//! first one and the step still happens exactly once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use eddy::client::{Delivery, Eddy, Subscribe, Subscription};
use eddy::event::CloudEvent;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use crate::subscriptions::STREAM;

/// How the executor runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Its consumer name in both groups; a restarted executor with the same name is the same
    /// consumer.
    pub consumer: String,
    /// How long an event may stay unacknowledged before it is delivered again.
    pub claim_idle: Duration,
    /// Exit abruptly right after publishing this many task completions, before acknowledging
    /// the last one (to show a crash mid-run).
    pub crash_after: Option<u64>,
}

/// Runs until the store fails for good or the process ends.
pub async fn run(eddy: Eddy, options: Options) -> anyhow::Result<()> {
    let subscribe = |group: &str, ty: &str| {
        eddy.subscribe(
            Subscribe::to(STREAM)
                .group(group)
                .consumer(options.consumer.clone())
                .types([ty])
                .claim_idle(options.claim_idle)
                .block(Duration::from_millis(200)),
        )
    };
    let tasks = subscribe("executor", "io.flunq.task.requested");
    let timers = subscribe("timers", "io.flunq.timer.scheduled");
    tokio::try_join!(
        complete_tasks(eddy.clone(), tasks, options.crash_after),
        fire_timers(eddy.clone(), timers),
    )?;
    Ok(())
}

#[derive(Deserialize)]
struct TaskRequested {
    task_id: String,
}

#[derive(Deserialize)]
struct TimerScheduled {
    timer_id: String,
    #[serde(default)]
    delay_ms: u64,
}

fn data<T: serde::de::DeserializeOwned>(delivery: &Delivery) -> anyhow::Result<T> {
    let event = &delivery.event.event;
    let bytes = event
        .data
        .as_ref()
        .map(|d| d.as_bytes())
        .unwrap_or_default();
    serde_json::from_slice(bytes).with_context(|| format!("the data of {} {}", event.ty, event.id))
}

/// An outcome event of `delivery`'s execution. Its id names the step, so publishing it twice
/// stores it once.
fn outcome(
    delivery: &Delivery,
    source: &str,
    ty: &str,
    id: &str,
    data: serde_json::Value,
) -> CloudEvent {
    let execution = delivery.event.event.subject.clone().unwrap_or_default();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    CloudEvent::new(format!("{execution}/{id}"), source, ty)
        .with_subject(execution)
        .with_time(&now)
        .expect("an RFC 3339 time")
        .with_json_data(&data)
        .expect("JSON data")
}

async fn complete_tasks(
    eddy: Eddy,
    mut tasks: Subscription,
    crash_after: Option<u64>,
) -> anyhow::Result<()> {
    let mut completed = 0;
    while let Some(delivery) = tasks.next().await {
        let TaskRequested { task_id } = match data(&delivery) {
            Ok(task) => task,
            Err(error) => {
                tracing::warn!("skipping a malformed task request: {error:#}");
                delivery.ack().await?;
                continue;
            }
        };
        // The work itself is simulated: the task's output says who did it.
        let done = outcome(
            &delivery,
            "/flunq/executor",
            "io.flunq.task.completed",
            &format!("completed/{task_id}"),
            json!({ "task_id": task_id, "output": { "by": tasks.consumer() } }),
        );
        let execution = done.subject.clone().unwrap_or_default();
        let appended = match eddy.publish(STREAM, done).await {
            Ok(appended) => appended,
            Err(error) => {
                // Not acknowledged: the request comes back once claimed.
                tracing::warn!(%execution, %task_id, "completing the task: {error}");
                continue;
            }
        };
        tracing::info!(%execution, %task_id, duplicate = appended.duplicate, "task completed");
        completed += 1;
        if crash_after == Some(completed) {
            tracing::warn!(%execution, %task_id, "crashing on purpose before the acknowledgement");
            std::process::exit(3);
        }
        if let Err(error) = delivery.ack().await {
            tracing::warn!(%execution, %task_id, "acknowledging the task: {error}");
        }
    }
    Ok(())
}

async fn fire_timers(eddy: Eddy, mut timers: Subscription) -> anyhow::Result<()> {
    while let Some(delivery) = timers.next().await {
        let TimerScheduled { timer_id, delay_ms } = match data(&delivery) {
            Ok(timer) => timer,
            Err(error) => {
                tracing::warn!("skipping a malformed timer: {error:#}");
                delivery.ack().await?;
                continue;
            }
        };
        // Due `delay_ms` after it was stored (the position's milliseconds): a timer that fell
        // due while no executor ran fires at once.
        let due = UNIX_EPOCH + Duration::from_millis(delivery.position().ms + delay_ms);
        let eddy = eddy.clone();
        tokio::spawn(async move {
            if let Ok(wait) = due.duration_since(SystemTime::now()) {
                tokio::time::sleep(wait).await;
            }
            let fired = outcome(
                &delivery,
                "/flunq/timers",
                "io.flunq.timer.fired",
                &format!("fired/{timer_id}"),
                json!({ "timer_id": timer_id }),
            );
            // On failure the timer stays pending and fires again once claimed.
            match eddy.publish(STREAM, fired).await {
                Ok(appended) => {
                    tracing::info!(%timer_id, duplicate = appended.duplicate, "timer fired");
                    if let Err(error) = delivery.ack().await {
                        tracing::warn!("acknowledging timer {timer_id}: {error}");
                    }
                }
                Err(error) => tracing::warn!("firing timer {timer_id}: {error}"),
            }
        });
    }
    Ok(())
}
