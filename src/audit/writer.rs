//! One writer task per instance appends queued records in batches (one transaction, one lock on
//! the chain head). A record is never dropped: a full queue makes the caller wait (bounded), and a
//! batch the store refused is retried until it is taken, while durable callers are told at once.
//!
//! While an append stalls, the trail is not taking records ([`AuditLog::status`]): every record,
//! reads' too, is then waited for (bounded) like a durable one, so that nothing is answered whose
//! record may not be kept. Once the store has failed an append (down, unreachable, full, locked),
//! callers are refused at once, their records kept, until an append works again.

use super::{Event, chain};
use crate::store::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How many records may wait for the writer.
const QUEUE: usize = 10_000;
/// How many records one transaction takes at most.
const BATCH: usize = 512;
/// How long a request waits for room in the queue, or for a durable record's commit.
const WAIT: Duration = Duration::from_secs(5);
/// An append running longer than this means the trail is not taking records for now.
const STALL: Duration = Duration::from_secs(1);
/// While the store fails, how often the log says so again.
const REPEAT_LOG: Duration = Duration::from_secs(30);
/// How long a batch of queued (read) records waits for more before it is committed. Every commit
/// rewrites the table's and each index's touched pages, so under load a commit per handful of
/// records costs more than the records; a durable record ends the wait at once.
const LINGER: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("the audit trail is not taking records (queue full for {0} s)")]
    QueueFull(u64),
    #[error("the audit trail could not store the record: {0}")]
    Store(crate::store::StoreError),
    #[error("the audit trail did not commit the record within {0} s")]
    NotCommitted(u64),
    #[error("the audit writer has stopped")]
    Stopped,
    #[error("the audit trail has not taken a record for {0} s: its store is failing")]
    Failing(u64),
}

impl AuditError {
    /// What a client (an assistant, an MCP client) is told: the cause without the store's
    /// details, which are for the operator's log.
    pub fn for_client(&self) -> String {
        match self {
            AuditError::QueueFull(s) => {
                format!("the audit trail is not taking records (its queue stayed full for {s} s)")
            }
            AuditError::Store(_) => {
                "the audit trail's store is failing (the operator's log says why)".into()
            }
            AuditError::NotCommitted(s) => {
                format!("the audit trail did not commit the record within {s} s")
            }
            AuditError::Stopped => "the audit trail has stopped".into(),
            AuditError::Failing(_) => "the audit trail is not taking records: its store is \
                 failing (the operator's log says why)"
                .into(),
        }
    }
}

/// Whether the trail takes records, as `/readyz` and `/metrics` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrailStatus {
    Taking,
    /// The store failed the last append (its error), for this long.
    Failing {
        error: String,
        for_secs: u64,
    },
    /// An append has been running for this long.
    Stalled {
        for_secs: u64,
    },
}

impl TrailStatus {
    /// Whether to tell probes the trail is down: the store failed, or an append has been stuck
    /// as long as a caller waits. A slow commit (a checkpoint, a load spike) is not an outage.
    pub fn is_down(&self) -> bool {
        match self {
            TrailStatus::Taking => false,
            TrailStatus::Failing { .. } => true,
            TrailStatus::Stalled { for_secs } => *for_secs >= WAIT.as_secs(),
        }
    }

    /// A line for an operator.
    pub fn describe(&self) -> String {
        match self {
            TrailStatus::Taking => "ok".into(),
            TrailStatus::Failing { error, for_secs } => {
                format!("not taking records for {for_secs} s: {error}")
            }
            TrailStatus::Stalled { for_secs } => format!(
                "not taking records: an append has been waiting on the store for {for_secs} s"
            ),
        }
    }
}

/// The writer's state, shared with the request path: atomics, read on every record; the error
/// text only while the store fails.
struct Health {
    started: std::time::Instant,
    /// When the append now running began (ms after `started`, plus one), 0 when none runs.
    busy_since: std::sync::atomic::AtomicU64,
    /// Since when (as `busy_since`) the store has failed every append; 0: the last one worked.
    failing_since: std::sync::atomic::AtomicU64,
    /// The last failure's error, for `/readyz`.
    error: std::sync::Mutex<String>,
}

impl Health {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    fn status(&self) -> TrailStatus {
        let now = self.now_ms();
        let failing = self.failing_since.load(Ordering::Acquire);
        if failing != 0 {
            return TrailStatus::Failing {
                error: self.error.lock().map(|e| e.clone()).unwrap_or_default(),
                for_secs: now.saturating_sub(failing) / 1000,
            };
        }
        let busy = self.busy_since.load(Ordering::Acquire);
        let running = Duration::from_millis(now.saturating_sub(busy));
        if busy != 0 && running >= STALL {
            return TrailStatus::Stalled {
                for_secs: running.as_secs(),
            };
        }
        TrailStatus::Taking
    }

    /// An append failed: from now on, callers are refused at once.
    fn failed(&self, error: String) {
        if let Ok(mut e) = self.error.lock() {
            *e = error;
        }
        let _ = self.failing_since.compare_exchange(
            0,
            self.now_ms(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// An append worked; how long the store had been failing (`None`: it had not).
    fn recovered(&self) -> Option<Duration> {
        let since = self.failing_since.swap(0, Ordering::AcqRel);
        (since != 0).then(|| Duration::from_millis(self.now_ms().saturating_sub(since)))
    }
}

struct Job {
    event: Event,
    done: Option<oneshot::Sender<Result<i64, crate::store::StoreError>>>,
}

/// The handle every part of the server records through.
pub struct AuditLog {
    tx: mpsc::Sender<Job>,
    instance: String,
    depth: Arc<AtomicUsize>,
    health: Arc<Health>,
}

impl AuditLog {
    /// Starts the writer task for `store`. `instance` names this process in every record.
    pub fn start(store: Arc<Store>, instance: String) -> Arc<AuditLog> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let depth = Arc::new(AtomicUsize::new(0));
        let health = Arc::new(Health {
            started: std::time::Instant::now(),
            busy_since: std::sync::atomic::AtomicU64::new(0),
            failing_since: std::sync::atomic::AtomicU64::new(0),
            error: std::sync::Mutex::new(String::new()),
        });
        tokio::spawn(run(store, rx, depth.clone(), health.clone()));
        Arc::new(AuditLog {
            tx,
            instance,
            depth,
            health,
        })
    }

    /// Whether the trail takes records now.
    pub fn status(&self) -> TrailStatus {
        self.health.status()
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// A new event of this instance.
    pub fn event(&self, kind: super::Kind) -> Event {
        Event::new(kind, &self.instance)
    }

    /// Records waiting for the writer (metrics).
    pub fn queue_depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// Queues a record. Waits for room at most a few seconds, then fails: the caller must not
    /// answer as if the record were kept. While an append is stalled, waits for this one's
    /// commit instead (as long as [`AuditLog::record_durable`] does), so that nothing is answered
    /// on a record that may never be written.
    ///
    /// Once the store has failed an append, the answer is at once, until an append works again:
    /// the record is kept (queued, if there is room) and the caller refused, rather than every
    /// request waiting out an outage.
    pub async fn record(&self, event: Event) -> Result<(), AuditError> {
        match self.health.status() {
            TrailStatus::Taking => self.enqueue(Job { event, done: None }).await,
            TrailStatus::Failing { for_secs, .. } => {
                self.keep(event);
                Err(AuditError::Failing(for_secs))
            }
            _ => self.record_durable(event).await.map(drop),
        }
    }

    /// Queues a record whatever the trail's state, waiting only for room: for the outcome of a
    /// call refused because the trail failed (its answer promises nothing done, so it need not
    /// wait for the commit; it must still follow an intent that may be committed later).
    pub async fn queue(&self, event: Event) -> Result<(), AuditError> {
        self.enqueue(Job { event, done: None }).await
    }

    /// Commits the intent of a write, as [`AuditLog::record_durable`]; while the store fails,
    /// refuses at once and queues nothing: the write is not made, so it has no intent.
    pub async fn record_intent(&self, event: Event) -> Result<i64, AuditError> {
        if let TrailStatus::Failing { for_secs, .. } = self.health.status() {
            return Err(AuditError::Failing(for_secs));
        }
        self.record_durable(event).await
    }

    /// Queues a record and waits until it is committed; its sequence number. While the store
    /// fails, the record is queued (waiting for room, as ever) and the caller refused at once.
    pub async fn record_durable(&self, event: Event) -> Result<i64, AuditError> {
        if let TrailStatus::Failing { for_secs, .. } = self.health.status() {
            // The record of something done (a change made, a write's outcome): waits for room
            // like any other rather than give way to the records of refusals.
            self.enqueue(Job { event, done: None }).await?;
            return Err(AuditError::Failing(for_secs));
        }
        let (done, wait) = oneshot::channel();
        self.enqueue(Job {
            event,
            done: Some(done),
        })
        .await?;
        match tokio::time::timeout(WAIT, wait).await {
            Ok(Ok(Ok(seq))) => Ok(seq),
            Ok(Ok(Err(e))) => Err(AuditError::Store(e)),
            Ok(Err(_)) => Err(AuditError::Stopped),
            Err(_) => Err(AuditError::NotCommitted(WAIT.as_secs())),
        }
    }

    async fn enqueue(&self, job: Job) -> Result<(), AuditError> {
        self.depth.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(WAIT, self.tx.send(job)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => {
                self.depth.fetch_sub(1, Ordering::Relaxed);
                Err(AuditError::Stopped)
            }
            Err(_) => {
                self.depth.fetch_sub(1, Ordering::Relaxed);
                Err(AuditError::QueueFull(WAIT.as_secs()))
            }
        }
    }

    /// Queues a record of a request being refused because the trail fails, without waiting:
    /// written when the store is back. Half the queue at most is kept for them: the other half
    /// stays for records of changes made.
    fn keep(&self, event: Event) {
        if self.depth.load(Ordering::Relaxed) >= QUEUE / 2 {
            tracing::warn!(
                "the audit queue is half full while the store fails: the record of a refused \
                 request was not kept"
            );
            return;
        }
        self.record_nowait(event);
    }

    /// Queues a record without waiting (for `Drop`); a full queue loses it, loudly.
    pub fn record_nowait(&self, event: Event) {
        self.depth.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.tx.try_send(Job { event, done: None }) {
            self.depth.fetch_sub(1, Ordering::Relaxed);
            tracing::error!(error = %e, "an audit record could not be queued");
        }
    }

    /// Waits until every queued record is committed (shutdown), at most `limit`.
    pub async fn flush(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.queue_depth() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}

async fn run(
    store: Arc<Store>,
    mut rx: mpsc::Receiver<Job>,
    depth: Arc<AtomicUsize>,
    health: Arc<Health>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(BATCH);
    let mut backoff = Duration::from_millis(50);
    let mut failures = 0u32;
    // Failed appends since the last that worked, and when the log last said so.
    let mut failed = 0u64;
    let mut logged: Option<std::time::Instant> = None;
    loop {
        if batch.is_empty() {
            match rx.recv().await {
                Some(job) => batch.push(job),
                None => return,
            }
        }
        gather(&mut rx, &mut batch).await;
        let inserts: Vec<_> = batch.iter().map(|j| j.event.to_insert()).collect();
        health.busy_since.store(health.now_ms(), Ordering::Release);
        let appended = store.append_audit(&inserts, &chain).await;
        // A failure is marked before the append stops counting as running: no caller sees the
        // trail as taking records in between.
        if let Err(e) = &appended {
            health.failed(e.to_string());
        }
        health.busy_since.store(0, Ordering::Release);
        match appended {
            Ok(seqs) => {
                if let Some(down) = health.recovered() {
                    tracing::warn!(
                        after_secs = down.as_secs(),
                        failed_appends = failed,
                        records = batch.len(),
                        "the audit trail takes records again; nothing queued was lost"
                    );
                    failed = 0;
                    logged = None;
                }
                let n = batch.len();
                for (job, seq) in batch.drain(..).zip(seqs) {
                    if let Some(done) = job.done {
                        let _ = done.send(Ok(seq));
                    }
                }
                depth.fetch_sub(n, Ordering::Relaxed);
                backoff = Duration::from_millis(50);
                failures = 0;
            }
            Err(e) => {
                // Durable callers learn at once (their write is refused); every record stays queued
                // and is retried until the store takes it.
                failed += 1;
                crate::metrics::metrics().audit_append_failures.inc();
                if logged.is_none_or(|at| at.elapsed() >= REPEAT_LOG) {
                    logged = Some(std::time::Instant::now());
                    tracing::error!(
                        error = %e,
                        queued = depth.load(Ordering::Relaxed),
                        failed_appends = failed,
                        "the audit store is not taking records: writes are refused and reads \
                         fail until it does; every queued record is kept and retried"
                    );
                }
                for job in batch.iter_mut() {
                    if let Some(done) = job.done.take() {
                        let _ = done.send(Err(e.clone()));
                    }
                }
                // Only a store that refuses these records (not one that is down, full or
                // locked) is worth setting a record aside for.
                if e.refuses_record() {
                    failures += 1;
                }
                if failures >= 3 {
                    // The store answers, but refuses this batch: find the record it refuses and
                    // keep the chain going with a placeholder saying so, rather than stall every
                    // later record (and every write) behind it.
                    let before = batch.len();
                    isolate(&store, &mut batch).await;
                    depth.fetch_sub(before - batch.len(), Ordering::Relaxed);
                    failures = 0;
                    if batch.is_empty() {
                        health.recovered();
                        failed = 0;
                        logged = None;
                        continue;
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Fills `batch` (which holds at least one job) with what is queued, then, unless a durable job
/// is waiting for its commit, with what arrives within [`LINGER`], up to [`BATCH`] records.
async fn gather(rx: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    let durable = |b: &[Job]| b.iter().any(|j| j.done.is_some());
    while batch.len() < BATCH {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    if durable(batch) {
        return;
    }
    let deadline = tokio::time::Instant::now() + LINGER;
    while batch.len() < BATCH {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(job)) => {
                let urgent = job.done.is_some();
                batch.push(job);
                if urgent {
                    // Take what else is already queued, but do not keep a write waiting.
                    while batch.len() < BATCH {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    return;
                }
            }
            // Time is up, or the senders are gone (the next `recv` ends the writer).
            Ok(None) | Err(_) => return,
        }
    }
}

/// Appends a refused batch record by record; a record the store still refuses is replaced by an
/// `audit_error` placeholder naming what happened (its kind, request and the store's error), so
/// the trail shows the gap instead of hiding it. If even placeholders are refused (the store is
/// down, not the record), the records are kept for the next round.
async fn isolate(store: &Store, batch: &mut Vec<Job>) {
    let mut kept = Vec::new();
    let mut jobs = std::mem::take(batch).into_iter();
    while let Some(job) = jobs.next() {
        let one = [job.event.to_insert()];
        match store.append_audit(&one, &chain).await {
            Ok(_) => continue,
            // The store, not this record, fails now: keep it and the rest for the next round.
            Err(e) if !e.refuses_record() => {
                kept.push(job);
                kept.extend(jobs);
                break;
            }
            Err(_) => {}
        }
        let mut placeholder = super::Event::new(super::Kind::AuditError, &job.event.instance);
        placeholder.time = job.event.time;
        placeholder.request_id = job.event.request_id.clone();
        placeholder.key_id = job.event.key_id.clone();
        placeholder.outcome = Some(crate::audit::Outcome::Error);
        placeholder.reason = Some(format!(
            "a {} record could not be stored and was replaced by this one",
            job.event.kind
        ));
        if store
            .append_audit(&[placeholder.to_insert()], &chain)
            .await
            .is_err()
        {
            kept.push(job);
        } else {
            tracing::error!(kind = %placeholder.reason.as_deref().unwrap_or(""), "an audit record was replaced by a placeholder");
        }
    }
    // What could not be written at all goes back for the next round (none dropped).
    batch.extend(kept);
}
