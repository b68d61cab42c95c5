//! The storage engine behind the JS class: loads snapshot + log into the store, runs the
//! group-commit writer thread and the maintenance thread (periodic snapshot, cleaning,
//! gzip of rotated segments), answers reads from the store and rebuilds past states.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::codec::jsstr::JsString;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::log::cleaner::{self, HeadSnapshot};
use crate::log::commit::{serialize_commit, upd_from_json, CommitId, Op};
use crate::log::compress::compress_rotated;
use crate::log::reader::{check_contiguous, list_segments, read_commits, ReadCommit};
pub use crate::log::replay::State;
use crate::log::writer::{ensure_after, SegmentWriter};
use crate::snapshot::{self, Snapshot};

/// Driver settings; the defaults are matter.js's.
#[derive(Debug, Clone)]
pub struct Options {
    /// A segment rotates once it reaches this many bytes (matter.js: 16 MiB).
    pub max_segment_size: u64,
    /// Whether a commit is acknowledged only once fsync'd (matter.js: yes).
    pub fsync: bool,
    /// How often the maintenance thread writes a snapshot (matter.js: 6 h).
    pub snapshot_interval: Duration,
    /// How often segments covered by the snapshot are removed; `None`: only on close.
    pub clean_interval: Option<Duration>,
    /// Whether snapshots are written gzipped (`snapshot.json.gz`).
    pub compress_snapshot: bool,
    /// Whether rotated segments are gzipped.
    pub compress_log: bool,
    /// Whether removed segments are first folded into `head.json[.gz]`.
    pub head_snapshot: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_segment_size: 16 * 1024 * 1024,
            fsync: true,
            snapshot_interval: Duration::from_secs(6 * 3600),
            clean_interval: None,
            compress_snapshot: true,
            compress_log: true,
            head_snapshot: true,
        }
    }
}

/// What a writer batch reports: how many queued commits it settles (in submission order)
/// and whether they are durable.
pub struct BatchResult {
    /// How many of the oldest unsettled commits this batch settles.
    pub count: usize,
    /// `Ok` once they are written (and fsync'd when enabled); nothing of a failed batch is applied.
    pub result: Result<()>,
}

/// How a submitted commit proceeds.
#[derive(Debug)]
pub enum Submitted {
    /// Queued to the writer thread; settled later through `Notify`.
    Queued,
    /// Already written (or failed) on the calling thread.
    Done(Result<()>),
}

/// Called on the writer thread after each batch (after the store is updated).
pub type Notify = Arc<dyn Fn(BatchResult) + Send + Sync>;

enum Request {
    Commit(Commit),
    Close(Sender<Result<()>>),
}

/// A commit as submitted.
enum Commit {
    Ops(Vec<Op>),
    /// One update op still as matter.js's JSON text: the writer thread turns it into its op
    /// (see [`Engine::submit_record`]).
    Record(JsString, String),
}

impl Commit {
    /// The commit's ops (a record is parsed here).
    fn into_ops(self) -> Result<Vec<Op>> {
        match self {
            Commit::Ops(ops) => Ok(ops),
            Commit::Record(context, record) => {
                upd_from_json(context, &record).map(|op| vec![op]).map_err(|e| Error::Unstorable(e.to_string()))
            }
        }
    }
}

struct Maintenance {
    stop: bool,
    compress_pending: bool,
}

struct Shared {
    dir: PathBuf,
    wal_dir: PathBuf,
    options: Options,
    state: RwLock<State>,
    /// Last commit captured in `snapshot.json[.gz]`.
    last_snapshot: Mutex<Option<CommitId>>,
    /// Serializes file maintenance (snapshot, clean, compress) with history reads.
    files: Mutex<()>,
    maintenance: Mutex<Maintenance>,
    wake: Condvar,
    active_segment: std::sync::atomic::AtomicU32,
    /// The active segment; held by whoever is writing (the writer thread, or the JS thread
    /// on the inline path).
    segment_writer: Mutex<SegmentWriter>,
    /// Commits sent to the writer thread and not yet written. Only the submitting thread
    /// increments it, so "0 while holding `segment_writer`" means nothing is in flight.
    queued: std::sync::atomic::AtomicUsize,
    /// Set when close starts: no new commits are accepted.
    closing: std::sync::atomic::AtomicBool,
}

/// An open storage directory: the committed state in memory, the writer and maintenance
/// threads, and the files. Closed by [`Engine::close`] (or on drop).
pub struct Engine {
    shared: Arc<Shared>,
    requests: Mutex<Sender<Request>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    maintainer: Mutex<Option<JoinHandle<()>>>,
}

fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as f64).unwrap_or(0.0)
}

impl Engine {
    /// Opens (creating when needed) the storage in `dir`: loads the snapshot, replays the log
    /// after it, resumes the last segment. Blocking; call from a worker thread.
    pub fn open(dir: &Path, options: Options, notify: Notify) -> Result<Engine> {
        let started = Instant::now();
        let wal_dir = dir.join("wal");
        prepare_dirs(dir, &wal_dir, options.fsync)?;
        let (state, last_snapshot) = load_state(dir, &wal_dir)?;
        let loaded = started.elapsed();
        let writer = SegmentWriter::open(&wal_dir, options.max_segment_size, options.fsync)?;
        tracing::debug!(
            "Opened {} with {} contexts / {} keys in {:?} (state loaded in {:?})",
            dir.display(),
            state.store.context_count(),
            state.store.key_count(),
            started.elapsed(),
            loaded
        );
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            wal_dir,
            active_segment: writer.current_segment().into(),
            options,
            state: RwLock::new(state),
            last_snapshot: Mutex::new(last_snapshot),
            files: Mutex::new(()),
            maintenance: Mutex::new(Maintenance { stop: false, compress_pending: false }),
            wake: Condvar::new(),
            segment_writer: Mutex::new(writer),
            queued: 0.into(),
            closing: false.into(),
        });
        let (tx, rx) = mpsc::channel();
        let writer_shared = shared.clone();
        // The threads report inside the span the engine was opened in (the binding routes a
        // driver's log events by it) and get the stack deep values need.
        let writer_thread = crate::threads::spawn_engine_thread("wal-writer", move || run_writer(writer_shared, rx, notify))?;
        let maint_shared = shared.clone();
        let maintainer = crate::threads::spawn_engine_thread("wal-maintenance", move || run_maintenance(maint_shared))?;
        // Like matter.js, rotated segments are gzipped after a rotation, not on open: a full
        // last segment found on open stays as it is until the next rotation.
        Ok(Engine { shared, requests: Mutex::new(tx), writer: Mutex::new(Some(writer_thread)), maintainer: Mutex::new(Some(maintainer)) })
    }

    /// Queues a commit. Its outcome arrives through `notify`, in submission order — except
    /// with fsync off and nothing in flight, where the commit is written right here (one
    /// buffered `write`, no handoff to another thread) and `Submitted::Done` carries the
    /// outcome. Must always be called from the same thread.
    pub fn submit(&self, ops: Vec<Op>) -> Result<Submitted> {
        self.submit_commit(Commit::Ops(ops))
    }

    /// Queues a commit of one update op of `context`, given as the `values` record matter.js's
    /// `toJson` wrote. It is turned into its op (each value parsed and checked that `fromJson`
    /// can read it back) on the writer thread, off the caller's: a record that cannot be
    /// stored settles alone with [`Error::Unstorable`] and nothing of it is logged; the
    /// commits submitted before it are written first, those after it go on. Otherwise as
    /// [`Engine::submit`].
    pub fn submit_record(&self, context: JsString, record: String) -> Result<Submitted> {
        self.submit_commit(Commit::Record(context, record))
    }

    fn submit_commit(&self, commit: Commit) -> Result<Submitted> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.shared.closing.load(SeqCst) {
            return Err(Error::Closing);
        }
        if !self.shared.options.fsync && self.shared.queued.load(SeqCst) == 0 {
            if let Ok(mut writer) = self.shared.segment_writer.try_lock() {
                if self.shared.queued.load(SeqCst) == 0 {
                    let result = commit.into_ops().and_then(|ops| write_batch(&self.shared, &mut writer, &[ops], now_ms()));
                    return Ok(Submitted::Done(result));
                }
            }
        }
        self.shared.queued.fetch_add(1, SeqCst);
        let sent = self.requests.lock()?.send(Request::Commit(commit));
        if sent.is_err() {
            self.shared.queued.fetch_sub(1, SeqCst);
            return Err(Error::WriterStopped);
        }
        Ok(Submitted::Queued)
    }

    /// Runs `f` against the committed state (a brief read lock, never blocked by file I/O).
    /// Fails only when a thread panicked while updating the state.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> Result<R> {
        let state = self.shared.state.read().map_err(|_| Error::Poisoned("the committed state"))?;
        Ok(f(&state))
    }

    /// An O(1) consistent copy of the committed state.
    pub fn view(&self) -> Result<State> {
        self.read(State::clone)
    }

    /// Writes `snapshot.json[.gz]` for the current state now (blocking).
    pub fn snapshot_now(&self) -> Result<()> {
        self.shared.run_snapshot()
    }

    /// Copies the storage files (not the lock) into the new directory `target`, durably,
    /// while no snapshot, cleaning or gzip runs (so no file vanishes mid-copy). The active
    /// segment may be appended to meanwhile: a line cut by the copy is a torn tail the
    /// copy's next open cuts off.
    pub fn copy_files_to(&self, target: &Path) -> Result<()> {
        let _files = self.shared.files.lock()?;
        fsutil::copy_dir_durable(&self.shared.dir, target, &|name| name == crate::lock::LOCK_FILE || name == crate::lock::PID_FILE)
    }

    /// Rebuilds the state from the snapshot file and the log, stopping before the first
    /// commit for which `stop(id, ts)` is true. `check_base(ts)` may veto the base snapshot.
    pub fn reconstruct(
        &self,
        stop: Option<&dyn Fn(CommitId, f64) -> bool>,
        check_base: Option<&dyn Fn(f64) -> Result<()>>,
    ) -> Result<Snapshot> {
        let _files = self.shared.files.lock()?;
        let base = snapshot::load(&self.shared.dir, "snapshot")?;
        let mut state = State::from_snapshot(base);
        if let Some(check) = check_base {
            check(state.last_ts)?;
        }
        read_commits(&self.shared.wal_dir, state.last_commit, |c| {
            if stop.is_some_and(|s| s(c.id, c.commit.ts)) {
                return false;
            }
            state.apply(c.id, &c.commit);
            true
        })?;
        state.into_snapshot().ok_or(Error::NoHistory("No data available".into()))
    }

    /// Stops the workers, lets the writer finish everything queued, then takes the final
    /// snapshot and cleans when anything was ever committed. Blocking.
    pub fn close(&self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&self) -> Result<()> {
        self.shared.closing.store(true, std::sync::atomic::Ordering::SeqCst);
        {
            let mut m = self.shared.maintenance.lock().unwrap_or_else(PoisonError::into_inner);
            m.stop = true;
            self.shared.wake.notify_all();
        }
        let maintainer = self.maintainer.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(t) = maintainer {
            let _ = t.join();
        }
        let mut result = Ok(());
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(t) = writer {
            let (tx, rx) = mpsc::channel();
            if self.requests.lock().unwrap_or_else(PoisonError::into_inner).send(Request::Close(tx)).is_ok() {
                result = rx.recv().unwrap_or(Err(Error::WriterStopped));
            }
            let _ = t.join();
        }
        if self.read(|s| s.last_commit.is_some())? {
            if let Err(e) = self.shared.run_snapshot() {
                tracing::warn!("Snapshot failed: {e}");
            } else if let Err(e) = self.shared.run_clean() {
                tracing::warn!("WAL cleanup failed: {e}");
            }
        }
        result
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self.writer.lock().unwrap_or_else(PoisonError::into_inner).is_some() {
            let _ = self.shutdown();
        }
    }
}

impl Shared {
    fn request_compress(&self) {
        let mut m = self.maintenance.lock().unwrap_or_else(PoisonError::into_inner);
        m.compress_pending = true;
        self.wake.notify_all();
    }

    fn run_snapshot(&self) -> Result<()> {
        let _files = self.files.lock()?;
        let state = self.state.read()?.clone();
        let Some(id) = state.last_commit else { return Ok(()) };
        let started = Instant::now();
        snapshot::save(&self.dir, "snapshot", self.options.compress_snapshot, id, state.last_ts, &state.store)?;
        *self.last_snapshot.lock()? = Some(id);
        tracing::debug!("Snapshot at commit {id} ({} keys) written in {:?}", state.store.key_count(), started.elapsed());
        Ok(())
    }

    fn run_clean(&self) -> Result<()> {
        let _files = self.files.lock()?;
        let Some(id) = *self.last_snapshot.lock()? else { return Ok(()) };
        let head = self.options.head_snapshot.then_some(HeadSnapshot { dir: &self.dir, compress: self.options.compress_snapshot });
        cleaner::clean(&self.wal_dir, id, head)?;
        Ok(())
    }
}

/// Creates the storage directory and `wal/` where missing, durably (each new directory's
/// parent is synced). With `fsync`, also syncs the parent, the storage directory and `wal/`
/// even when nothing was created: an earlier process that was killed (not a power loss) may
/// have left entries only in the page cache — a renamed snapshot or gzip, a new segment, a
/// `wal/` it created — which this run would otherwise build on (cleaning segments a
/// snapshot covers, appending after them) with nothing making them durable. Once, at open.
fn prepare_dirs(dir: &Path, wal_dir: &Path, fsync: bool) -> Result<()> {
    fsutil::create_dir_all_durable(wal_dir)?;
    if fsync {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsutil::sync_dir_if_permitted(parent)?;
        }
        fsutil::sync_dir(dir)?;
        fsutil::sync_dir(wal_dir)?;
    }
    Ok(())
}

/// Loads snapshot + replays the log after it (see [`choose_base`] for where the state
/// starts). The log after the snapshot's commit is read on another core while the snapshot
/// itself is decompressed and decoded.
fn load_state(dir: &Path, wal_dir: &Path) -> Result<(State, Option<CommitId>)> {
    let segments = list_segments(wal_dir)?;
    // Where the snapshot says it ends, from the file's first bytes; the prefetched commits
    // are used only if the snapshot indeed turns out to be the base.
    let peeked = snapshot::peek_commit_id(dir, "snapshot");
    let prefetch = peeked
        .map(|id| {
            let wal_dir = wal_dir.to_path_buf();
            crate::threads::spawn_engine_thread("wal-prefetch", move || {
                let mut commits = Vec::new();
                read_commits(&wal_dir, Some(id), |c| {
                    commits.push(c);
                    true
                })
                .map(|_| commits)
            })
        })
        .transpose()?;
    let Base { mut state, snapshot: last_snapshot } = choose_base(dir, wal_dir, &segments)?;
    let base = state.last_commit;
    let mut replayed = 0usize;
    let mut apply = |c: ReadCommit| {
        state.apply(c.id, &c.commit);
        replayed += 1;
    };
    let prefetched = match prefetch {
        Some(handle) => {
            let result = handle.join().map_err(|_| Error::Thread("WAL reader thread panicked".into()))?;
            if base.is_some() && base == peeked {
                Some(result.map_err(|e| e.context("Cannot read WAL"))?)
            } else {
                None
            }
        }
        None => None,
    };
    match prefetched {
        Some(commits) => {
            for c in &commits {
                state.apply(c.id, &c.commit);
            }
            replayed = commits.len();
            // Freeing 10⁴–10⁵ small allocations (made on the reader's threads) is left to
            // a thread of its own: the open does not wait for it.
            if let Err(e) = crate::threads::spawn_engine_thread("wal-free", move || drop(commits)) {
                tracing::debug!("{e}; freeing the replayed commits here");
            }
        }
        None => read_commits(wal_dir, base, |c| {
            apply(c);
            true
        })
        .map_err(|e| e.context("Cannot read WAL"))?,
    }
    if replayed > 0 {
        tracing::debug!("Replayed {replayed} WAL commits");
    } else if let Some(b) = base {
        if ensure_after(wal_dir, b)? {
            tracing::warn!("The WAL ends before commit {b} of the loaded state; new commits go to segment {}", b.segment.saturating_add(1));
        }
    }
    Ok((state, last_snapshot))
}

/// The state the log is replayed onto.
struct Base {
    /// Store, timestamp and commit (`last_commit`: the log is replayed after it) of the base.
    state: State,
    /// The commit `snapshot.json[.gz]` holds, when it is the base.
    snapshot: Option<CommitId>,
}

/// Chooses where the state starts, the riskiest decision of an open:
/// - the snapshot, when it loads and the log after it is complete;
/// - nothing (replay the whole log), when the snapshot is missing or unreadable but the log
///   still starts at segment 1;
/// - the head snapshot, when cleaning removed the start of the log and the log after the
///   head is complete.
///
/// Anything else is an error naming what is missing: a silent gap would hide commits.
fn choose_base(dir: &Path, wal_dir: &Path, segments: &[u32]) -> Result<Base> {
    let loaded = match snapshot::load(dir, "snapshot") {
        Ok(Some(s)) => {
            check_contiguous(wal_dir, segments, s.commit_id.segment).map_err(|e| e.context("Cannot load WAL"))?;
            tracing::debug!("Loaded snapshot at commit {}", s.commit_id);
            let id = s.commit_id;
            return Ok(Base { state: State::from_snapshot(Some(s)), snapshot: Some(id) });
        }
        other => other,
    };
    let problem = match &loaded {
        Err(e) => format!("Cannot load snapshot {e}"),
        Ok(_) => format!("No snapshot file (snapshot.json[.gz]) in {}", dir.display()),
    };
    let gap = match check_contiguous(wal_dir, segments, 1) {
        Ok(()) => {
            if loaded.is_err() {
                tracing::warn!("{problem}; rebuilding the state from the full log");
            }
            return Ok(Base { state: State::default(), snapshot: None });
        }
        Err(gap) => gap,
    };
    // Cleaning removed the start of the log: only the head snapshot can stand in.
    let head = match snapshot::load(dir, "head") {
        Ok(Some(h)) => h,
        Ok(None) => return Err(gap.context(format!("{problem}, and the log cannot replace it"))),
        Err(e) => return Err(Error::IncompleteLog(format!("{problem}, and the log cannot replace it: {gap}; head snapshot {e}"))),
    };
    let h = head.commit_id.segment;
    let first = if segments.contains(&h) { h } else { h.saturating_add(1) };
    check_contiguous(wal_dir, segments, first)
        .map_err(|e| e.context(format!("{problem}, and the log after the head snapshot is incomplete")))?;
    tracing::warn!("{problem}; rebuilding the state from the head snapshot and the log after it");
    Ok(Base { state: State::from_snapshot(Some(head)), snapshot: None })
}

/// Writes one batch of commits with one write (+ one fsync), then applies them to the store
/// in log order. On failure nothing is applied and the segment is cut back.
fn write_batch(shared: &Shared, writer: &mut SegmentWriter, batch: &[Vec<Op>], ts: f64) -> Result<()> {
    let lines: Vec<Vec<u8>> = batch
        .iter()
        .map(|ops| {
            let mut line = Vec::with_capacity(128);
            serialize_commit(&mut line, ts, ops);
            line
        })
        .collect();
    let mut rotated = false;
    let ids = writer
        .append(&lines, &mut |seg| {
            rotated = true;
            tracing::debug!("Rotated WAL segment {seg}");
        })
        .map_err(|e| {
            let e = Error::WriteFailed(Box::new(e));
            tracing::warn!("{e}");
            e
        })?;
    shared.active_segment.store(writer.current_segment(), std::sync::atomic::Ordering::Relaxed);
    {
        // A poisoned state (a panic in an earlier apply) is still updated: what is in the log
        // belongs in the store, and reads report the poisoning anyway.
        let mut state = shared.state.write().unwrap_or_else(PoisonError::into_inner);
        for ops in batch {
            state.store.apply(ops);
        }
        state.last_commit = ids.last().copied();
        state.last_ts = ts;
    }
    if rotated && shared.options.compress_log {
        shared.request_compress();
    }
    Ok(())
}

/// Writes `batch` as one group commit (when not empty), settles it, and empties it.
fn commit_batch(shared: &Shared, batch: &mut Vec<Vec<Op>>, notify: &Notify) {
    if batch.is_empty() {
        return;
    }
    let result = {
        let mut writer = shared.segment_writer.lock().unwrap_or_else(PoisonError::into_inner);
        let result = write_batch(shared, &mut writer, batch, now_ms());
        shared.queued.fetch_sub(batch.len(), std::sync::atomic::Ordering::SeqCst);
        result
    };
    notify(BatchResult { count: batch.len(), result });
    batch.clear();
}

/// Group commit: take everything queued, write it as one batch, report the batch. A record
/// that cannot be stored is settled on its own, after what was queued before it.
fn run_writer(shared: Arc<Shared>, rx: Receiver<Request>, notify: Notify) {
    const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;
    let mut close_reply = None;
    let mut batch: Vec<Vec<Op>> = Vec::new();
    while close_reply.is_none() {
        let Ok(first) = rx.recv() else { break };
        let mut next = Some(first);
        let mut approx_bytes = 0usize;
        while let Some(req) = next.take() {
            let commit = match req {
                Request::Commit(commit) => commit,
                Request::Close(reply) => {
                    close_reply = Some(reply);
                    break;
                }
            };
            match commit.into_ops() {
                Ok(ops) => {
                    approx_bytes += ops.len() * 64;
                    batch.push(ops);
                }
                Err(e) => {
                    commit_batch(&shared, &mut batch, &notify);
                    shared.queued.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    notify(BatchResult { count: 1, result: Err(e) });
                }
            }
            if approx_bytes < MAX_BATCH_BYTES {
                next = rx.try_recv().ok();
            }
        }
        commit_batch(&shared, &mut batch, &notify);
    }
    let closed = shared.segment_writer.lock().unwrap_or_else(PoisonError::into_inner).close();
    if let Some(reply) = close_reply {
        let _ = reply.send(closed);
    }
}

fn run_maintenance(shared: Arc<Shared>) {
    let snapshot_every = shared.options.snapshot_interval;
    let clean_every = shared.options.clean_interval;
    let mut next_snapshot = Instant::now() + snapshot_every;
    let mut next_clean = clean_every.map(|d| Instant::now() + d);
    loop {
        let compress = {
            let mut m = shared.maintenance.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if m.stop {
                    return;
                }
                if m.compress_pending {
                    break;
                }
                let now = Instant::now();
                let deadline = next_clean.map_or(next_snapshot, |c| c.min(next_snapshot));
                if now >= deadline {
                    break;
                }
                m = shared.wake.wait_timeout(m, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
            }
            std::mem::replace(&mut m.compress_pending, false)
        };
        if compress {
            let _files = shared.files.lock().unwrap_or_else(PoisonError::into_inner);
            let active = shared.active_segment.load(std::sync::atomic::Ordering::Relaxed);
            if let Err(e) = compress_rotated(&shared.wal_dir, active) {
                tracing::warn!("wal-compress worker error: {e}");
            }
        }
        let now = Instant::now();
        if now >= next_snapshot {
            next_snapshot = now + snapshot_every;
            if let Err(e) = shared.run_snapshot() {
                tracing::warn!("Snapshot failed: {e}");
            }
        }
        if let (Some(at), Some(every)) = (next_clean, clean_every) {
            if now >= at {
                next_clean = Some(now + every);
                if let Err(e) = shared.run_clean() {
                    tracing::warn!("WAL cleanup failed: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::stored::Encoded;
    use crate::codec::value::Value;
    use std::sync::mpsc;

    fn set(key: &str, n: f64) -> Vec<Op> {
        vec![Op::upd("ctx", vec![(key.into(), Encoded::from_value(&Value::Number(n)))])]
    }

    fn num(e: &Engine, key: &str) -> Option<f64> {
        e.read(|s| s.store.get("ctx", key).map(|v| v.decode())).unwrap().and_then(|v| match v {
            Value::Number(n) => Some(n),
            _ => None,
        })
    }

    mod base {
        use super::super::*;
        use crate::log::commit::segment_filename;
        use crate::store::StoreData;
        use std::fs;

        fn files(snapshot: Option<u32>, head: Option<u32>, segments: &[u32]) -> tempfile::TempDir {
            let dir = tempfile::tempdir().unwrap();
            let wal = dir.path().join("wal");
            fs::create_dir_all(&wal).unwrap();
            for &seg in segments {
                fs::write(wal.join(segment_filename(seg)), "{\"ts\":1,\"ops\":[]}\n").unwrap();
            }
            let save = |name, seg| {
                snapshot::save(dir.path(), name, false, CommitId { segment: seg, offset: 0 }, 1.0, &StoreData::default()).unwrap()
            };
            if let Some(seg) = snapshot {
                save("snapshot", seg);
            }
            if let Some(seg) = head {
                save("head", seg);
            }
            dir
        }

        fn choose(dir: &tempfile::TempDir, segments: &[u32]) -> Result<(Option<CommitId>, Option<CommitId>)> {
            choose_base(dir.path(), &dir.path().join("wal"), segments).map(|b| (b.state.last_commit, b.snapshot))
        }

        const AT: fn(u32) -> Option<CommitId> = |segment| Some(CommitId { segment, offset: 0 });

        #[test]
        fn the_snapshot_when_the_log_after_it_is_complete() {
            let dir = files(Some(2), Some(1), &[2, 3]);
            assert_eq!(choose(&dir, &[2, 3]).unwrap(), (AT(2), AT(2)));
            // Segments before the snapshot's may be gone (cleaned) or present.
            let dir = files(Some(3), None, &[1, 2, 3]);
            assert_eq!(choose(&dir, &[1, 2, 3]).unwrap(), (AT(3), AT(3)));
        }

        #[test]
        fn a_gap_after_the_snapshot_is_an_error_naming_the_segment() {
            let dir = files(Some(2), None, &[2, 4]);
            let e = choose(&dir, &[2, 4]).unwrap_err().to_string();
            assert!(e.starts_with("Cannot load WAL: ") && e.contains("00000003.jsonl is missing"), "{e}");
        }

        #[test]
        fn the_whole_log_when_the_snapshot_is_missing_or_unreadable_and_the_log_starts_at_1() {
            let dir = files(None, None, &[]);
            assert_eq!(choose(&dir, &[]).unwrap(), (None, None));
            let dir = files(None, Some(1), &[1, 2]);
            assert_eq!(choose(&dir, &[1, 2]).unwrap(), (None, None), "a full log needs no head snapshot");
            let dir = files(None, None, &[1, 2]);
            fs::write(dir.path().join("snapshot.json"), "not json").unwrap();
            assert_eq!(choose(&dir, &[1, 2]).unwrap(), (None, None));
        }

        #[test]
        fn the_head_snapshot_when_cleaning_removed_the_start_of_the_log() {
            // Head at segment 2: its own segment may be gone (it was fully covered) or present.
            let dir = files(None, Some(2), &[3, 4]);
            assert_eq!(choose(&dir, &[3, 4]).unwrap(), (AT(2), None));
            let dir = files(None, Some(2), &[2, 3]);
            assert_eq!(choose(&dir, &[2, 3]).unwrap(), (AT(2), None));
            fs::write(dir.path().join("snapshot.json"), "{").unwrap();
            assert_eq!(choose(&dir, &[2, 3]).unwrap(), (AT(2), None), "also when the snapshot is unreadable");
        }

        #[test]
        fn without_a_usable_base_the_open_fails_saying_why() {
            let dir = files(None, None, &[3, 4]);
            let e = choose(&dir, &[3, 4]).unwrap_err().to_string();
            assert!(
                e.starts_with("No snapshot file") && e.contains("the log cannot replace it") && e.contains("00000001.jsonl is missing"),
                "{e}"
            );
            let dir = files(None, Some(2), &[3, 5]);
            let e = choose(&dir, &[3, 5]).unwrap_err().to_string();
            assert!(e.contains("the log after the head snapshot is incomplete") && e.contains("00000004.jsonl is missing"), "{e}");
            let dir = files(None, None, &[3]);
            fs::write(dir.path().join("head.json"), "[]").unwrap();
            let e = choose(&dir, &[3]).unwrap_err().to_string();
            assert!(e.contains("head snapshot") && e.contains("head.json"), "{e}");
        }
    }

    #[test]
    fn commits_replay_after_reopen_and_history_can_be_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options { fsync: true, compress_log: false, ..Options::default() };
        let (tx, rx) = mpsc::channel();
        let notify: Notify = Arc::new(move |b: BatchResult| tx.send((b.count, b.result.is_ok())).unwrap());
        let engine = Engine::open(dir.path(), opts.clone(), notify).unwrap();
        for i in 0..5 {
            assert!(matches!(engine.submit(set("k", i as f64)).unwrap(), Submitted::Queued));
        }
        let mut settled = 0;
        while settled < 5 {
            let (n, ok) = rx.recv().unwrap();
            assert!(ok);
            settled += n;
        }
        assert_eq!(num(&engine, "k"), Some(4.0));
        // The state as of the third commit, rebuilt from the log.
        let past = engine.reconstruct(Some(&|id: CommitId, _| id > CommitId { segment: 1, offset: 2 }), None).unwrap();
        assert_eq!(past.commit_id, CommitId { segment: 1, offset: 2 });
        assert_eq!(past.data.get("ctx", "k").unwrap().decode(), Value::Number(2.0));
        engine.close().unwrap();
        assert!(dir.path().join("snapshot.json.gz").exists());

        // Reopen: snapshot + log give the same state; fsync off takes the inline path.
        let engine = Engine::open(dir.path(), Options { fsync: false, ..opts }, Arc::new(|_| {})).unwrap();
        assert_eq!(num(&engine, "k"), Some(4.0));
        assert_eq!(engine.read(|s| s.last_commit).unwrap(), Some(CommitId { segment: 1, offset: 4 }));
        assert!(matches!(engine.submit(set("j", 9.0)).unwrap(), Submitted::Done(Ok(()))));
        assert_eq!(num(&engine, "j"), Some(9.0));
        assert_eq!(engine.read(|s| s.last_commit).unwrap(), Some(CommitId { segment: 1, offset: 5 }));
        engine.close().unwrap();
        assert!(engine.submit(set("x", 1.0)).is_err(), "closed engine accepts no commits");
    }

    #[test]
    fn records_are_parsed_by_the_writer_and_one_that_cannot_be_stored_settles_alone_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = mpsc::channel();
        let notify: Notify = Arc::new(move |b: BatchResult| tx.send((b.count, b.result.map_err(|e| e.to_string()))).unwrap());
        let opts = Options { fsync: true, compress_log: false, ..Options::default() };
        let engine = Engine::open(dir.path(), opts.clone(), notify).unwrap();
        let record =
            |i: usize| if i == 5 { r#"{"k":"{\"__object__\":\"Foo\"}"}"#.to_string() } else { format!(r#"{{"k":{i},"k{i}":[{i}]}}"#) };
        for i in 0..10 {
            assert!(matches!(engine.submit_record(JsString::from("ctx"), record(i)).unwrap(), Submitted::Queued));
        }
        // In submission order: what came before the bad record, the bad record alone, the rest.
        let mut outcomes = Vec::new();
        while outcomes.len() < 10 {
            let (count, result) = rx.recv_timeout(Duration::from_secs(20)).expect("the writer reports every commit");
            outcomes.extend(std::iter::repeat_n(result, count));
        }
        for (i, outcome) in outcomes.iter().enumerate() {
            match outcome {
                Err(e) if i == 5 => assert!(e.contains("Cannot store key \"k\"") && e.contains("Unknown object type: Foo"), "{e}"),
                Ok(()) if i != 5 => {}
                other => panic!("commit {i}: {other:?}"),
            }
        }
        assert_eq!(num(&engine, "k"), Some(9.0));
        assert!(engine.read(|s| s.store.get("ctx", "k4").is_some() && s.store.get("ctx", "k6").is_some()).unwrap());
        assert_eq!(engine.read(|s| s.last_commit).unwrap(), Some(CommitId { segment: 1, offset: 8 }), "nine commits logged");
        engine.close().unwrap();

        // The inline path (fsync off, nothing queued) refuses it right away.
        let engine = Engine::open(dir.path(), Options { fsync: false, ..opts }, Arc::new(|_| {})).unwrap();
        match engine.submit_record(JsString::from("ctx"), record(5)).unwrap() {
            Submitted::Done(Err(Error::Unstorable(m))) => assert!(m.contains("Unknown object type: Foo"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(engine.read(|s| s.last_commit).unwrap(), Some(CommitId { segment: 1, offset: 8 }), "nothing logged");
        engine.close().unwrap();
    }

    /// Settles `n` queued commits; returns the batch sizes the writer reported.
    fn settle(rx: &mpsc::Receiver<(usize, bool)>, n: usize) -> Vec<usize> {
        let mut sizes = Vec::new();
        while sizes.iter().sum::<usize>() < n {
            let (count, ok) = rx.recv_timeout(Duration::from_secs(20)).expect("the writer reports every batch");
            assert!(ok);
            sizes.push(count);
        }
        sizes
    }

    #[test]
    fn group_commit_writes_what_queued_behind_one_fsync_as_one_batch_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = mpsc::channel();
        let notify: Notify = Arc::new(move |b: BatchResult| tx.send((b.count, b.result.is_ok())).unwrap());
        let engine = Engine::open(dir.path(), Options { fsync: true, compress_log: false, ..Options::default() }, notify).unwrap();
        const N: usize = 300;
        for i in 0..N {
            assert!(matches!(engine.submit(set("k", i as f64)).unwrap(), Submitted::Queued));
        }
        let sizes = settle(&rx, N);
        assert_eq!(sizes.iter().sum::<usize>(), N);
        // 300 commits queued in a burst while the first fsync runs cannot all take one batch each.
        assert!(sizes.len() < N, "batches: {sizes:?}");
        assert_eq!(num(&engine, "k"), Some((N - 1) as f64), "the last submitted commit wins");
        // One line per commit, in submission order.
        let text = std::fs::read_to_string(dir.path().join("wal/00000001.jsonl")).unwrap();
        let values: Vec<f64> = text
            .lines()
            .map(|l| crate::log::commit::deserialize_commit(l.as_bytes()).unwrap())
            .map(|c| match &c.ops[0] {
                Op::Upd { values, .. } => match values[0].1.decode() {
                    Value::Number(n) => n,
                    v => panic!("{v:?}"),
                },
                op => panic!("{op:?}"),
            })
            .collect();
        assert_eq!(values, (0..N).map(|i| i as f64).collect::<Vec<_>>());
        engine.close().unwrap();
        assert!(matches!(engine.submit(set("k", 0.0)), Err(Error::Closing)));
    }

    #[test]
    fn maintenance_snapshots_cleans_and_gzips_rotated_segments_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = mpsc::channel();
        let notify: Notify = Arc::new(move |b: BatchResult| tx.send((b.count, b.result.is_ok())).unwrap());
        let options = Options {
            fsync: false,
            max_segment_size: 200,
            snapshot_interval: Duration::from_millis(100),
            clean_interval: Some(Duration::from_millis(150)),
            ..Options::default()
        };
        let engine = Engine::open(dir.path(), options, notify).unwrap();
        let mut queued = 0;
        for i in 0..40 {
            if let Submitted::Queued = engine.submit(set(&format!("key{i}"), i as f64)).unwrap() {
                queued += 1;
            }
        }
        settle(&rx, queued);
        let wal = dir.path().join("wal");
        let names = || -> Vec<String> {
            let mut n: Vec<String> =
                std::fs::read_dir(&wal).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
            n.sort();
            n
        };
        // Without any call from outside: a snapshot, segments before it removed (folded into
        // the head snapshot), rotated segments gzipped.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let files = names();
            let snapshot = dir.path().join("snapshot.json.gz").exists();
            let head = dir.path().join("head.json.gz").exists();
            let no_first = !files.iter().any(|n| n.starts_with("00000001"));
            let rotated_plain = files.iter().filter(|n| n.ends_with(".jsonl")).count();
            if snapshot && head && no_first && rotated_plain == 1 {
                break;
            }
            assert!(Instant::now() < deadline, "maintenance did not run: snapshot {snapshot}, head {head}, files {files:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        engine.close().unwrap();
        // What maintenance left reopens to the same state.
        let reopened = Engine::open(dir.path(), Options::default(), Arc::new(|_| {})).unwrap();
        for i in 0..40 {
            assert_eq!(num(&reopened, &format!("key{i}")), Some(i as f64));
        }
        reopened.close().unwrap();
    }
}
