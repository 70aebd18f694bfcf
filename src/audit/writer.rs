//! One writer task per instance appends queued records in batches (one transaction, one lock on
//! the chain head). A record is never dropped: a full queue makes the caller wait (bounded), and a
//! batch the store refused is retried until it is taken, while durable callers are told at once.

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
}

impl AuditLog {
    /// Starts the writer task for `store`. `instance` names this process in every record.
    pub fn start(store: Arc<Store>, instance: String) -> Arc<AuditLog> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let depth = Arc::new(AtomicUsize::new(0));
        tokio::spawn(run(store, rx, depth.clone()));
        Arc::new(AuditLog {
            tx,
            instance,
            depth,
        })
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
    /// answer as if the record were kept.
    pub async fn record(&self, event: Event) -> Result<(), AuditError> {
        self.enqueue(Job { event, done: None }).await
    }

    /// Queues a record and waits until it is committed; its sequence number.
    pub async fn record_durable(&self, event: Event) -> Result<i64, AuditError> {
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

async fn run(store: Arc<Store>, mut rx: mpsc::Receiver<Job>, depth: Arc<AtomicUsize>) {
    let mut batch: Vec<Job> = Vec::with_capacity(BATCH);
    let mut backoff = Duration::from_millis(50);
    let mut failures = 0u32;
    loop {
        if batch.is_empty() {
            match rx.recv().await {
                Some(job) => batch.push(job),
                None => return,
            }
        }
        gather(&mut rx, &mut batch).await;
        let inserts: Vec<_> = batch.iter().map(|j| j.event.to_insert()).collect();
        match store.append_audit(&inserts, &chain).await {
            Ok(seqs) => {
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
                tracing::error!(error = %e, records = batch.len(), "the audit store refused a batch; retrying");
                for job in batch.iter_mut() {
                    if let Some(done) = job.done.take() {
                        let _ = done.send(Err(e.clone()));
                    }
                }
                failures += 1;
                if failures >= 3 {
                    // The store answers, but refuses this batch: find the record it refuses and
                    // keep the chain going with a placeholder saying so, rather than stall every
                    // later record (and every write) behind it.
                    let before = batch.len();
                    isolate(&store, &mut batch).await;
                    depth.fetch_sub(before - batch.len(), Ordering::Relaxed);
                    failures = 0;
                    if batch.is_empty() {
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
    for job in batch.drain(..) {
        let one = [job.event.to_insert()];
        if store.append_audit(&one, &chain).await.is_ok() {
            continue;
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
