//! Publishing under faults: client threads that publish events over HTTP to a server that
//! may be killed, restarted or cut off from its store at any moment, and keep an exact log
//! of which publishes were acknowledged, at which positions, and what every failure looked
//! like. A failed publish is retried with the same ids until it is acknowledged, as a client
//! that wants its events stored must do.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use eddy::event::Position;

use super::histories::Lcg;
use super::http::try_request;

/// How long one publish may take before the client gives up on its answer (and retries).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the server under test listens now; tests update it after each restart.
#[derive(Clone)]
pub struct Address(Arc<Mutex<SocketAddr>>);

impl Address {
    pub fn new(addr: SocketAddr) -> Self {
        Self(Arc::new(Mutex::new(addr)))
    }

    pub fn set(&self, addr: SocketAddr) {
        *self.0.lock().unwrap() = addr;
    }

    pub fn get(&self) -> SocketAddr {
        *self.0.lock().unwrap()
    }
}

/// An acknowledged event: a `201` said it is stored at `position`.
#[derive(Debug, Clone)]
pub struct Ack {
    pub id: String,
    pub position: Position,
    /// Whether the answer said it was stored before (a retry of a publish whose first answer
    /// was lost).
    pub duplicate: bool,
}

/// A publish that was not acknowledged.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The status, or `None` when the connection failed or was cut (the answer was lost).
    pub status: Option<u16>,
    pub body: String,
    pub sent: Instant,
    pub answered: Instant,
}

/// What one client thread saw, in the order it saw it.
#[derive(Debug, Default)]
pub struct ClientLog {
    /// Every acknowledged event, in acknowledgement order.
    pub acks: Vec<Ack>,
    /// Every failed attempt.
    pub failures: Vec<Failure>,
    /// Acknowledged publishes with when they were sent and answered (for checks against
    /// the times a fault was active).
    pub acked_at: Vec<(Instant, Instant)>,
    /// Batches acknowledged after an attempt that got no answer at all (refused, cut or timed
    /// out): some of those first attempts were stored, and their retries are duplicates.
    pub retried_without_answer: usize,
}

/// Client threads publishing a history to one stream.
pub struct Load {
    threads: Vec<JoinHandle<ClientLog>>,
    acked: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Load {
    /// Starts `clients` threads; client `c` publishes the lines `i` with `i % clients == c`,
    /// in batches of one to three events (sizes from `seed`), each batch retried until it is
    /// acknowledged.
    pub fn start(
        address: &Address,
        stream: &str,
        lines: &[String],
        clients: usize,
        seed: u64,
    ) -> Self {
        let acked = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..clients)
            .map(|c| {
                let mine: Vec<String> = lines.iter().skip(c).step_by(clients).cloned().collect();
                let (address, acked, stop) = (address.clone(), acked.clone(), stop.clone());
                let path = format!("/api/v1/streams/{stream}/events");
                std::thread::spawn(move || {
                    publish_all(&address, &path, &mine, seed + c as u64, &acked, &stop)
                })
            })
            .collect();
        Self {
            threads,
            acked,
            stop,
        }
    }

    /// How many events have been acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acked.load(Ordering::Relaxed)
    }

    /// Waits (at most `timeout`) until every event is acknowledged; the clients' logs.
    pub fn finish(self, timeout: Duration) -> Vec<ClientLog> {
        let deadline = Instant::now() + timeout;
        while !self.threads.iter().all(JoinHandle::is_finished) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let unfinished = !self.threads.iter().all(JoinHandle::is_finished);
        self.stop.store(true, Ordering::Relaxed);
        let logs: Vec<ClientLog> = self
            .threads
            .into_iter()
            .map(|t| t.join().expect("a client thread"))
            .collect();
        assert!(
            !unfinished,
            "the clients could not publish everything within {timeout:?}; last failures: {:?}",
            logs.iter()
                .filter_map(|l| l.failures.last())
                .collect::<Vec<_>>()
        );
        logs
    }
}

fn publish_all(
    address: &Address,
    path: &str,
    lines: &[String],
    seed: u64,
    acked: &AtomicUsize,
    stop: &AtomicBool,
) -> ClientLog {
    let mut rng = Lcg::new(seed);
    let mut log = ClientLog::default();
    let mut rest = lines;
    while !rest.is_empty() {
        let size = (1 + rng.below(3) as usize).min(rest.len());
        let (batch, after) = rest.split_at(size);
        let body = format!("[{}]", batch.join(","));
        let mut lost_answer = false;
        loop {
            if stop.load(Ordering::Relaxed) {
                return log;
            }
            let sent = Instant::now();
            let answer = try_request(
                address.get(),
                "POST",
                path,
                "application/cloudevents-batch+json",
                body.as_bytes(),
                PUBLISH_TIMEOUT,
            );
            let answered = Instant::now();
            match answer {
                Ok(answer) if answer.status == 201 => {
                    let json = answer.json();
                    for result in json["results"].as_array().expect("results") {
                        log.acks.push(Ack {
                            id: result["id"].as_str().expect("an id").to_string(),
                            position: result["position"]
                                .as_str()
                                .expect("a position")
                                .parse()
                                .expect("a valid position"),
                            duplicate: result["duplicate"] == true,
                        });
                    }
                    log.acked_at.push((sent, answered));
                    log.retried_without_answer += usize::from(lost_answer);
                    acked.fetch_add(batch.len(), Ordering::Relaxed);
                    break;
                }
                Ok(answer) => {
                    // A cut connection reads as an empty answer.
                    lost_answer |= answer.status == 0;
                    log.failures.push(Failure {
                        status: (answer.status != 0).then_some(answer.status),
                        body: answer.body,
                        sent,
                        answered,
                    })
                }
                Err(error) => {
                    lost_answer = true;
                    log.failures.push(Failure {
                        status: None,
                        body: error.to_string(),
                        sent,
                        answered,
                    })
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        rest = after;
    }
    log
}
