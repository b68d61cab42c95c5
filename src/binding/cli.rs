//! The functions behind the `matter-wal` command (`bin/matter-wal.js`): thin, synchronous
//! wrappers over `crate::tool` that return plain objects (data plus a ready-to-print
//! `text`). Progress lines and the core's warnings go straight to stderr while a call runs,
//! so nothing waits for the event loop.

#![cfg_attr(test, allow(dead_code))]

use std::io::{IsTerminal, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use super::errors::{self, Kind};
use crate::log::commit::CommitId;
use crate::tool::{self, ContextFilter, Inspection, SnapshotState, Target};

// ---------------------------------------------------------------------------------------
// stderr: progress and warnings
// ---------------------------------------------------------------------------------------

/// Progress on stderr. `"auto"` (default) starts reporting once a run has taken a second
/// and then at most every 200 ms; `"always"` reports every step; `"never"` stays silent.
struct Reporter {
    mode: u8,
    started: Instant,
    last: Option<Instant>,
    tty: bool,
    pending_clear: bool,
}

impl Reporter {
    fn new(mode: Option<&str>) -> Result<Reporter> {
        let mode = match mode.unwrap_or("auto") {
            "never" => 0,
            "auto" => 1,
            "always" => 2,
            other => return Err(Error::from_reason(format!("Unknown progress mode {other:?}"))),
        };
        Ok(Reporter { mode, started: Instant::now(), last: None, tty: std::io::stderr().is_terminal(), pending_clear: false })
    }

    fn step(&mut self, message: &str) {
        if self.mode == 0 || (self.mode == 1 && self.started.elapsed() < Duration::from_secs(1)) {
            return;
        }
        if self.mode == 1 && self.last.is_some_and(|l| l.elapsed() < Duration::from_millis(200)) {
            return;
        }
        self.last = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2Kmatter-wal: {message}");
            self.pending_clear = true;
        } else {
            let _ = writeln!(err, "matter-wal: {message}");
        }
        let _ = err.flush();
    }

    fn finish(&mut self) {
        if self.pending_clear {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            self.pending_clear = false;
        }
    }
}

/// Prints the core's warnings and errors to stderr, on the thread that emits them.
struct StderrLog;

impl Subscriber for StderrLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::WARN
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut message = super::logging::MessageVisitor(String::new());
        event.record(&mut message);
        let level = if *event.metadata().level() == Level::ERROR { "error" } else { "warning" };
        let _ = writeln!(std::io::stderr(), "matter-wal: {level}: {}", message.0);
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

/// Runs `f` with a progress reporter, the core's warnings going to stderr.
fn with_stderr<T>(progress: Option<&str>, f: impl FnOnce(&mut dyn FnMut(&str)) -> T) -> Result<T> {
    let mut reporter = Reporter::new(progress)?;
    let result = tracing::subscriber::with_default(StderrLog, || f(&mut |m: &str| reporter.step(m)));
    reporter.finish();
    Ok(result)
}

fn storage_error(env: &Env, message: &str) -> Error {
    errors::throw(env.raw(), errors::Classes::default(), Kind::Storage, message)
}

/// A core error thrown as the matter.js error class it maps to (a held lock is a
/// `StorageLockError`).
fn core_error(env: &Env, e: crate::Error) -> Error {
    errors::throw(env.raw(), errors::Classes::default(), errors::kind_of(&e), &e.to_string())
}

/// The `context` option as a filter, held to the driver's rule for context keys.
fn check_context<'a>(env: &Env, context: Option<&'a str>) -> Result<ContextFilter<'a>> {
    ContextFilter::parse(context.unwrap_or("")).map_err(|m| storage_error(env, &m))
}

// ---------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------

#[napi(object)]
pub struct CliCommitId {
    pub segment: u32,
    pub offset: u32,
}

impl From<CommitId> for CliCommitId {
    fn from(id: CommitId) -> Self {
        CliCommitId { segment: id.segment, offset: id.offset }
    }
}

/// A finding of `inspect`/`verify`.
#[napi(object)]
pub struct CliProblem {
    /// "error" (damage) or "warning".
    pub severity: String,
    pub kind: String,
    /// Path relative to the storage directory.
    pub file: Option<String>,
    pub segment: Option<u32>,
    /// Line offset in the segment (0-based, as in commit ids).
    pub offset: Option<u32>,
    pub message: String,
}

#[napi(object)]
pub struct CliSegment {
    pub segment: u32,
    /// The file read (the gzipped one when both exist).
    pub file: String,
    pub compressed: bool,
    pub plain_size: Option<f64>,
    pub gz_size: Option<f64>,
    /// Decompressed bytes.
    pub data_size: f64,
    pub lines: u32,
    pub commits: u32,
    pub ops: f64,
    pub malformed: u32,
    pub torn: bool,
    pub readable: bool,
    pub first: Option<CliCommitId>,
    pub last: Option<CliCommitId>,
    pub first_ts: Option<f64>,
    pub last_ts: Option<f64>,
}

#[napi(object)]
pub struct CliSnapshot {
    pub file: String,
    pub compressed: bool,
    /// Set when the file cannot be read; the other optional fields are then absent.
    pub error: Option<String>,
    pub size: Option<f64>,
    pub commit_id: Option<CliCommitId>,
    pub ts: Option<f64>,
    pub contexts: Option<u32>,
    pub keys: Option<u32>,
}

#[napi(object)]
pub struct CliLock {
    pub pid: Option<u32>,
    pub token: Option<String>,
    /// True while the owner runs; false when the next open would reclaim the lock.
    pub alive: bool,
    pub stale: Option<String>,
}

/// What `inspectStorage` / `verifyStorage` found.
#[napi(object)]
pub struct CliInspection {
    pub dir: String,
    pub segments: Vec<CliSegment>,
    pub snapshot: Option<CliSnapshot>,
    pub head: Option<CliSnapshot>,
    pub lock: Option<CliLock>,
    pub commits: f64,
    pub first_ts: Option<f64>,
    pub last_ts: Option<f64>,
    pub disk_bytes: f64,
    pub errors: u32,
    pub warnings: u32,
    pub problems: Vec<CliProblem>,
    /// The report for people.
    pub text: String,
}

fn snapshot_out(state: &SnapshotState) -> Option<CliSnapshot> {
    match state {
        SnapshotState::Missing => None,
        SnapshotState::Bad { file, message } => Some(CliSnapshot {
            compressed: file.ends_with(".gz"),
            file: file.clone(),
            error: Some(message.clone()),
            size: None,
            commit_id: None,
            ts: None,
            contexts: None,
            keys: None,
        }),
        SnapshotState::Ok(s) => Some(CliSnapshot {
            file: s.file.clone(),
            compressed: s.compressed,
            error: None,
            size: Some(s.size as f64),
            commit_id: Some(s.commit_id.into()),
            ts: Some(s.ts),
            contexts: Some(s.contexts as u32),
            keys: Some(s.keys as u32),
        }),
    }
}

fn inspection_out(ins: &Inspection, text: String) -> CliInspection {
    CliInspection {
        dir: ins.dir.to_string_lossy().into_owned(),
        segments: ins
            .segments
            .iter()
            .map(|s| CliSegment {
                segment: s.segment,
                file: s.file.clone(),
                compressed: s.compressed,
                plain_size: s.plain_size.map(|n| n as f64),
                gz_size: s.gz_size.map(|n| n as f64),
                data_size: s.data_size as f64,
                lines: s.lines,
                commits: s.commits,
                ops: s.ops as f64,
                malformed: s.malformed,
                torn: s.torn,
                readable: s.readable,
                first: s.first.map(Into::into),
                last: s.last.map(Into::into),
                first_ts: s.first_ts,
                last_ts: s.last_ts,
            })
            .collect(),
        snapshot: snapshot_out(&ins.snapshot),
        head: snapshot_out(&ins.head),
        lock: ins.lock.as_ref().map(|l| CliLock { pid: l.pid, token: l.token.clone(), alive: l.stale.is_none(), stale: l.stale.clone() }),
        commits: ins.commits() as f64,
        first_ts: ins.first_ts(),
        last_ts: ins.last_ts(),
        disk_bytes: ins.disk_bytes as f64,
        errors: ins.errors() as u32,
        warnings: ins.warnings() as u32,
        problems: ins
            .problems
            .iter()
            .map(|p| CliProblem {
                severity: p.severity.as_str().into(),
                kind: p.kind.into(),
                file: p.file.clone(),
                segment: p.segment,
                offset: p.offset,
                message: p.message.clone(),
            })
            .collect(),
        text,
    }
}

#[napi(object)]
pub struct CliProgressOptions {
    /// "auto" (default: only once a run takes over a second), "always" or "never".
    pub progress: Option<String>,
}

/// Refuses a directory that holds no WAL storage but something else (a matter.js storage
/// root, another driver's node directory), saying what it holds.
fn check_wal_storage(env: &Env, dir: &str) -> Result<()> {
    match tool::not_wal_storage(Path::new(dir)) {
        Some(message) => Err(storage_error(env, &message)),
        None => Ok(()),
    }
}

fn examine(env: &Env, dir: &str, options: Option<CliProgressOptions>) -> Result<Inspection> {
    check_wal_storage(env, dir)?;
    let progress = options.and_then(|o| o.progress);
    with_stderr(progress.as_deref(), |p| tool::examine(Path::new(dir), p))?.map_err(|e| core_error(env, e))
}

/// `matter-wal inspect`: segments, snapshots, lock and problems of a storage directory. Read-only.
#[napi]
pub fn inspect_storage(env: Env, dir: String, options: Option<CliProgressOptions>) -> Result<CliInspection> {
    let ins = examine(&env, &dir, options)?;
    let text = tool::render_inspection(&ins);
    Ok(inspection_out(&ins, text))
}

/// `matter-wal verify`: the same examination, reported as a verdict (`errors > 0` = damaged). Read-only.
#[napi]
pub fn verify_storage(env: Env, dir: String, options: Option<CliProgressOptions>) -> Result<CliInspection> {
    let ins = examine(&env, &dir, options)?;
    let text = tool::render_verification(&ins);
    Ok(inspection_out(&ins, text))
}

#[napi(object)]
pub struct CliDumpOptions {
    /// Only this context and the ones below it ("a.b").
    pub context: Option<String>,
    /// The state after the last commit at or before this time (ms since epoch).
    pub as_of: Option<f64>,
    /// The state after this commit.
    pub commit: Option<CliCommitId>,
    /// Render as matter.js's `toJson(snapshot, 2)` (the snapshot file format).
    pub json: Option<bool>,
    pub progress: Option<String>,
}

#[napi(object)]
pub struct CliDump {
    /// The last commit included; absent when nothing was committed up to the target.
    pub commit_id: Option<CliCommitId>,
    pub ts: f64,
    /// Where replay started: a snapshot file name, or "log".
    pub base: String,
    pub replayed: u32,
    pub contexts: u32,
    pub keys: u32,
    pub text: String,
}

/// `matter-wal dump`: the state, now or as of a time or commit. Read-only.
#[napi]
pub fn dump_storage(env: Env, dir: String, options: Option<CliDumpOptions>) -> Result<CliDump> {
    let options = options.unwrap_or(CliDumpOptions { context: None, as_of: None, commit: None, json: None, progress: None });
    let context = check_context(&env, options.context.as_deref())?;
    check_wal_storage(&env, &dir)?;
    let target = match (options.as_of, &options.commit) {
        (Some(_), Some(_)) => return Err(storage_error(&env, "Give either a time or a commit, not both")),
        (Some(t), None) => Target::Time(t),
        (None, Some(c)) => Target::Commit(CommitId { segment: c.segment, offset: c.offset }),
        (None, None) => Target::Latest,
    };
    let state =
        with_stderr(options.progress.as_deref(), |p| tool::state_at(Path::new(&dir), target, p))?.map_err(|e| core_error(&env, e))?;
    let data = context.apply(&state.data);
    let text = tool::render_state(&state, &data, options.json.unwrap_or(false));
    Ok(CliDump {
        commit_id: state.commit_id.map(Into::into),
        ts: state.ts,
        base: state.base.clone(),
        replayed: state.replayed as u32,
        contexts: data.context_count() as u32,
        keys: data.key_count() as u32,
        text,
    })
}

#[napi(object)]
pub struct CliLogOptions {
    /// Only commits at or after this time (ms since epoch).
    pub since: Option<f64>,
    /// Only commits touching this context or the ones below it, showing only those ops.
    pub context: Option<String>,
    /// One JSON object per commit (the WAL line plus its `commitId`).
    pub json: Option<bool>,
    pub progress: Option<String>,
}

#[napi(object)]
pub struct CliLog {
    /// Commits read.
    pub commits: u32,
    /// Commits listed.
    pub shown: u32,
    /// First segment still in the log; above 1 when older segments were cleaned away.
    pub first_segment: Option<u32>,
    pub lines: Vec<String>,
}

/// `matter-wal log`: the commits, one line each. Read-only.
#[napi]
pub fn log_storage(env: Env, dir: String, options: Option<CliLogOptions>) -> Result<CliLog> {
    let options = options.unwrap_or(CliLogOptions { since: None, context: None, json: None, progress: None });
    let context = check_context(&env, options.context.as_deref())?;
    check_wal_storage(&env, &dir)?;
    let json = options.json.unwrap_or(false);
    let mut lines = Vec::new();
    let summary = with_stderr(options.progress.as_deref(), |p| {
        tool::log(Path::new(&dir), options.since, context, p, |entry| {
            lines.push(if json { tool::render_log_json(&entry) } else { tool::render_log_line(&entry) })
        })
    })?
    .map_err(|e| core_error(&env, e))?;
    Ok(CliLog { commits: summary.commits as u32, shown: summary.shown as u32, first_segment: summary.first_segment, lines })
}

#[napi(object)]
pub struct CliCompactOptions {
    /// gzip snapshot.json / head.json; default: keep the current snapshot's format.
    pub compress_snapshot: Option<bool>,
    /// Fold removed segments into head.json (default true).
    pub head_snapshot: Option<bool>,
    /// gzip every segment but the newest (default true).
    pub compress_log: Option<bool>,
    pub progress: Option<String>,
}

#[napi(object)]
pub struct CliCompaction {
    /// Commit of the new snapshot; absent when the directory holds no commits.
    pub commit_id: Option<CliCommitId>,
    pub ts: f64,
    pub contexts: u32,
    pub keys: u32,
    pub replayed: u32,
    pub snapshot_file: Option<String>,
    pub segments_removed: u32,
    pub segments_compressed: u32,
    pub bytes_before: f64,
    pub bytes_after: f64,
    /// Set when a lock left by a dead process was reclaimed.
    pub stale_lock: Option<String>,
    /// Temp files of interrupted writes that were deleted.
    pub temp_files_removed: u32,
    pub text: String,
}

/// `matter-wal compact`: snapshot, clean and compress now, under the directory lock. Throws
/// a `StorageLockError` when a live process holds the lock.
#[napi]
pub fn compact_storage(env: Env, dir: String, options: Option<CliCompactOptions>) -> Result<CliCompaction> {
    let options = options.unwrap_or(CliCompactOptions { compress_snapshot: None, head_snapshot: None, compress_log: None, progress: None });
    let settings = tool::CompactOptions {
        compress_snapshot: options.compress_snapshot,
        head_snapshot: options.head_snapshot.unwrap_or(true),
        compress_log: options.compress_log.unwrap_or(true),
    };
    check_wal_storage(&env, &dir)?;
    let path = Path::new(&dir);
    let report = match with_stderr(options.progress.as_deref(), |p| tool::compact(path, &settings, p))? {
        Ok(r) => r,
        Err(e) => return Err(core_error(&env, e)),
    };
    let text = tool::render_compaction(path, &report);
    Ok(CliCompaction {
        commit_id: report.commit_id.map(Into::into),
        ts: report.ts,
        contexts: report.contexts as u32,
        keys: report.keys as u32,
        replayed: report.replayed as u32,
        snapshot_file: report.snapshot_file,
        segments_removed: report.segments_removed as u32,
        segments_compressed: report.segments_compressed as u32,
        bytes_before: report.bytes_before as f64,
        bytes_after: report.bytes_after as f64,
        stale_lock: report.stale_lock,
        temp_files_removed: report.temp_files_removed as u32,
        text,
    })
}
