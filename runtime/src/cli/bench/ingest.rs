//! `eddy bench ingest`: events per second into a store, through the library (`append`) or
//! the HTTP API (batch mode), with everything an append does — deduplication, the subject
//! index and version, validation — against the physical limit of the same backend: plain
//! pipelined `XADD` of the same entries to the same Redis, or raw redb writes of the same
//! bytes for the embedded store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::report::{Report, Row};
use super::{BenchStore, OutputArgs, fresh_name, history, progress};
use crate::event::CloudEvent;
use crate::store::{Append, EventStore};

/// Arguments of `eddy bench ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// The store: `redis://host:port/db` or `embedded:<dir>` (default: a temporary embedded
    /// store). The benchmark writes fresh streams and deletes them afterwards.
    #[arg(long)]
    store: Option<String>,
    /// How many events to publish.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Events per append (per pipeline for the baseline, per request over HTTP).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch: u32,
    /// Bytes of JSON data per event.
    #[arg(long, default_value_t = 200)]
    payload: usize,
    /// Publish through the library (`EventStore::append`) or the HTTP API.
    #[arg(long, value_enum, default_value_t = Via::Library)]
    via: Via,
    #[command(flatten)]
    pub(super) output: OutputArgs,
}

/// How events are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Via {
    /// `EventStore::append`, in process.
    Library,
    /// `POST /api/v1/streams/{stream}/events` in batch mode, to an API served in process on
    /// loopback.
    Http,
}

pub async fn run(args: IngestArgs) -> anyhow::Result<Report> {
    let bench = BenchStore::open(args.store.as_deref()).await?;
    let batch = args.batch as usize;
    let stream = fresh_name("bench-ingest");
    let events = history::padded_events(&stream, args.events, args.payload);
    let mut report = Report::new("ingest");
    report.setting("store", bench.shown.clone());
    report.setting("events", args.events);
    report.setting("batch", args.batch);
    report.setting("payload", args.payload);
    report.setting(
        "via",
        match args.via {
            Via::Library => "library",
            Via::Http => "http",
        },
    );

    let label = match args.via {
        Via::Library => "eddy append (library)",
        Via::Http => "eddy POST batch (http)",
    };
    progress(&format!("{label}: {} events", events.len()));
    let eddy = match args.via {
        Via::Library => by_library(bench.store.clone(), &stream, &events, batch).await?,
        Via::Http => by_http(bench.store.clone(), &stream, &events, batch).await?,
    };
    let stored = bench
        .store
        .stream(&stream)
        .await?
        .map_or(0, |info| info.length);
    bench.store.delete_stream(&stream).await?;
    if stored != events.len() as u64 {
        anyhow::bail!("{stored} events were stored, not {}", events.len());
    }

    let jsons: Vec<String> = events.iter().map(CloudEvent::to_json).collect();
    let (baseline_name, baseline) = match &bench.redis_url {
        Some(url) => {
            progress("baseline: pipelined XADD");
            (
                "baseline: pipelined XADD",
                raw_xadd(url, &stream, &events, &jsons, batch).await?,
            )
        }
        None => {
            progress("baseline: raw redb writes");
            ("baseline: raw redb writes", raw_redb(jsons, batch).await?)
        }
    };

    let n = events.len() as u64;
    report.row(Row::new(label).throughput(n, eddy));
    report.row(Row::new(baseline_name).throughput(n, baseline));
    let goal = match (args.via, bench.redis_url.is_some()) {
        (Via::Library, true) => Some(0.5),
        (Via::Http, true) => Some(0.35),
        _ => None,
    };
    report.ratio_at_least(
        &format!(
            "{label} / {}",
            baseline_name.trim_start_matches("baseline: ")
        ),
        baseline.as_secs_f64() / eddy.as_secs_f64().max(1e-9),
        goal,
    );
    if bench.redis_url.is_none() {
        report.note(
            "the embedded store commits every append durably (fsync); the baseline writes the \
             same bytes in one redb transaction per batch with the same durability",
        );
    }
    Ok(report)
}

/// Sequential appends of `batch` events.
async fn by_library(
    store: Arc<dyn EventStore>,
    stream: &str,
    events: &[CloudEvent],
    batch: usize,
) -> anyhow::Result<Duration> {
    let chunks: Vec<Vec<CloudEvent>> = events.chunks(batch).map(<[_]>::to_vec).collect();
    let started = Instant::now();
    for chunk in chunks {
        store.append(stream, Append::new(chunk)).await?;
    }
    Ok(started.elapsed())
}

/// Sequential batch-mode requests of `batch` events to an API served on loopback.
async fn by_http(
    store: Arc<dyn EventStore>,
    stream: &str,
    events: &[CloudEvent],
    batch: usize,
) -> anyhow::Result<Duration> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::api::serve(
        listener,
        store,
        crate::api::ApiConfig::default(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let bodies: Vec<String> = events
        .chunks(batch)
        .map(|chunk| {
            let items: Vec<String> = chunk.iter().map(CloudEvent::to_json).collect();
            format!("[{}]", items.join(","))
        })
        .collect();
    let url = format!("http://{address}/api/v1/streams/{stream}/events");
    let elapsed = tokio::task::spawn_blocking(move || -> anyhow::Result<Duration> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let started = Instant::now();
        for body in bodies {
            let response = agent
                .post(&url)
                .header("content-type", "application/cloudevents-batch+json")
                .send(body.as_str())
                .context("publishing over HTTP")?;
            if !response.status().is_success() {
                let status = response.status();
                let text = response.into_body().read_to_string().unwrap_or_default();
                anyhow::bail!("the API answered {status}: {text}");
            }
        }
        Ok(started.elapsed())
    })
    .await??;
    let _ = stop_tx.send(());
    let _ = server.await;
    Ok(elapsed)
}

/// The same entries (fields as Eddy writes them) by pipelines of `batch` XADDs on one
/// connection, to a stream of its own that is deleted afterwards.
async fn raw_xadd(
    url: &str,
    stream: &str,
    events: &[CloudEvent],
    jsons: &[String],
    batch: usize,
) -> anyhow::Result<Duration> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let key = format!("{}-raw", crate::store::redis::events_key(stream));
    let started = Instant::now();
    for (events, jsons) in events.chunks(batch).zip(jsons.chunks(batch)) {
        let mut pipe = redis::pipe();
        for (event, json) in events.iter().zip(jsons) {
            pipe.cmd("XADD")
                .arg(&key)
                .arg("*")
                .arg("id")
                .arg(&event.id)
                .arg("source")
                .arg(&event.source)
                .arg("subject")
                .arg(event.subject.as_deref().unwrap_or(""))
                .arg("event")
                .arg(json)
                .ignore();
        }
        let () = pipe.query_async(&mut conn).await?;
    }
    let elapsed = started.elapsed();
    let _: i64 = redis::cmd("DEL").arg(&key).query_async(&mut conn).await?;
    Ok(elapsed)
}

/// The same bytes in a bare redb table (sequence number → event JSON), one durable
/// transaction per batch.
async fn raw_redb(jsons: Vec<String>, batch: usize) -> anyhow::Result<Duration> {
    const TABLE: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("events");
    tokio::task::spawn_blocking(move || -> anyhow::Result<Duration> {
        let dir = tempfile::tempdir()?;
        let db = redb::Database::create(dir.path().join("raw.redb"))?;
        let started = Instant::now();
        for (n, chunk) in jsons.chunks(batch).enumerate() {
            let tx = db.begin_write()?;
            {
                let mut table = tx.open_table(TABLE)?;
                for (i, json) in chunk.iter().enumerate() {
                    table.insert((n * batch + i) as u64, json.as_bytes())?;
                }
            }
            tx.commit()?;
        }
        Ok(started.elapsed())
    })
    .await?
}
