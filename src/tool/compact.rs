//! `compact`, the one command that writes: what the driver's maintenance does, done now.
//! Under the directory lock (matter.js's protocol, so a running matter.js node is excluded
//! too) it removes temp files of interrupted writes, writes a snapshot of the current state,
//! removes the segments it covers (folding them into the head snapshot) and gzips rotated
//! segments.

use std::fs;
use std::path::Path;

use crate::error::{AtPath, Error, Result};
use crate::lock::{self, DirLock};
use crate::log::cleaner::{self, HeadSnapshot};
use crate::log::commit::CommitId;
use crate::log::compress::compress_rotated;
use crate::log::reader::list_segments;
use crate::log::replay::State;
use crate::snapshot::{self, Snapshot};

use super::{has_wal_files, not_a_dir, replay, snapshot_file, Progress, StorageFiles};

#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// gzip the snapshot files; `None` keeps the current snapshot's format (gzip when none).
    pub compress_snapshot: Option<bool>,
    /// Fold removed segments into `head.json[.gz]`, as the driver does by default.
    pub head_snapshot: bool,
    /// gzip every segment but the last (which a driver resumes writing).
    pub compress_log: bool,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions { compress_snapshot: None, head_snapshot: true, compress_log: true }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CompactReport {
    /// Commit the new snapshot is at; `None` when the directory holds no commits.
    pub commit_id: Option<CommitId>,
    pub ts: f64,
    pub contexts: usize,
    pub keys: usize,
    /// Commits replayed on top of the previous snapshot.
    pub replayed: usize,
    pub snapshot_file: Option<String>,
    pub segments_removed: usize,
    pub segments_compressed: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Set when a lock left by a dead process was reclaimed.
    pub stale_lock: Option<String>,
    /// Temp files of interrupted writes that were deleted.
    pub temp_files_removed: usize,
}

/// Writes a snapshot of the current state, removes the segments it covers (folding them
/// into the head snapshot) and gzips rotated segments — what the driver's maintenance does,
/// done now. Takes the directory lock first and refuses when a live process holds it.
/// A live owner of the lock is `Error::Locked`; a directory it cannot work on `Error::Refused`.
pub fn compact(dir: &Path, options: &CompactOptions, progress: Progress) -> Result<CompactReport> {
    if !dir.is_dir() {
        return Err(not_a_dir(dir));
    }
    if !has_wal_files(dir) {
        return Err(Error::Refused(format!(
            "{} is not a WAL storage directory (no wal/, snapshot.json[.gz] or head.json[.gz])",
            dir.display()
        )));
    }
    let stale_lock = lock::holder(dir).and_then(|h| h.stale);
    let mut dir_lock = match DirLock::acquire(dir) {
        Ok(l) => l,
        Err(Error::Locked(m)) => {
            return Err(Error::Locked(format!(
                "Refusing to compact {}: {m}. Stop the process using it (or close its driver) first.",
                dir.display()
            )))
        }
        Err(e) => return Err(e.context(format!("Cannot lock {}", dir.display()))),
    };
    let result = compact_locked(dir, options, progress, stale_lock);
    let released = dir_lock.release();
    let report = result?;
    released.map_err(|e| e.context("Compacted, but cannot release the lock"))?;
    Ok(report)
}

/// The compaction proper, run while the lock is held: nobody else writes meanwhile.
fn compact_locked(dir: &Path, options: &CompactOptions, progress: Progress, stale_lock: Option<String>) -> Result<CompactReport> {
    let wal_dir = dir.join("wal");
    let files = StorageFiles::of(dir);
    let temp_files_removed = remove_temp_files(dir, &files.temp)?;
    let segments = list_segments(&wal_dir)?;
    let compress = options.compress_snapshot.unwrap_or(snapshot_file(dir, "snapshot").is_none_or(|(_, gz)| gz));
    let mut state = starting_state(dir, &segments)?;
    let replayed = replay(&wal_dir, &segments, &mut state, &mut *progress, |_| false).map_err(|e| e.context("Cannot read the log"))?.count;
    let mut report = CompactReport {
        commit_id: state.last_commit,
        ts: state.last_ts,
        contexts: state.store.context_count(),
        keys: state.store.key_count(),
        replayed,
        snapshot_file: None,
        segments_removed: 0,
        segments_compressed: 0,
        bytes_before: files.bytes,
        bytes_after: files.bytes,
        stale_lock,
        temp_files_removed,
    };
    if let Some(snapshot) = state.into_snapshot() {
        report.snapshot_file = Some(write_snapshot(dir, compress, &snapshot, &mut *progress)?);
        report.segments_removed = clean_log(dir, &wal_dir, snapshot.commit_id, options.head_snapshot.then_some(compress), &mut *progress)?;
        if options.compress_log {
            report.segments_compressed = compress_log(&wal_dir, progress)?;
        }
    }
    report.bytes_after = StorageFiles::of(dir).bytes;
    Ok(report)
}

/// Removes `temp` (paths relative to `dir`): with the lock held they are leftovers of
/// crashes, not writes in progress.
fn remove_temp_files(dir: &Path, temp: &[String]) -> Result<usize> {
    for file in temp {
        let path = dir.join(file);
        fs::remove_file(&path).at(&path)?;
    }
    Ok(temp.len())
}

/// The state replay starts from: `snapshot.json[.gz]`, or nothing. An unreadable snapshot
/// is rebuilt from the log only when the log is complete and no head snapshot says history
/// was cleaned away; without a snapshot, a log that was cleaned cannot be compacted.
fn starting_state(dir: &Path, segments: &[u32]) -> Result<State> {
    let snapshot = match snapshot::load(dir, "snapshot") {
        Ok(s) => s,
        Err(e) if segments.first() == Some(&1) && snapshot_file(dir, "head").is_none() => {
            tracing::warn!("Snapshot unreadable, rebuilding from the full log: {e}");
            None
        }
        Err(e) => return Err(Error::Refused(format!("Refusing to compact: cannot load snapshot {e}"))),
    };
    if snapshot.is_none() && segments.first().is_some_and(|&f| f > 1) {
        return Err(Error::Refused(format!(
            "Refusing to compact: the log starts at segment {} and there is no snapshot (run `matter-wal verify`)",
            segments[0]
        )));
    }
    Ok(State::from_snapshot(snapshot))
}

/// Writes `snapshot.json[.gz]`; returns its file name.
fn write_snapshot(dir: &Path, compress: bool, snapshot: &Snapshot, progress: Progress) -> Result<String> {
    progress("writing snapshot");
    snapshot::save(dir, "snapshot", compress, snapshot.commit_id, snapshot.ts, &snapshot.data)
        .map_err(|e| e.context("Cannot write snapshot"))?;
    Ok(if compress { "snapshot.json.gz" } else { "snapshot.json" }.to_string())
}

/// Removes the segments the snapshot at `id` covers, folding them into the head snapshot
/// (gzipped or not) unless `head` is `None`; returns how many were removed.
fn clean_log(dir: &Path, wal_dir: &Path, id: CommitId, head: Option<bool>, progress: Progress) -> Result<usize> {
    progress("removing covered segments");
    let head = head.map(|compress| HeadSnapshot { dir, compress });
    cleaner::clean(wal_dir, id, head).map_err(|e| e.context("Cannot clean the log"))
}

/// gzips every segment but the newest (which a driver resumes writing); returns how many.
fn compress_log(wal_dir: &Path, progress: Progress) -> Result<usize> {
    let Some(&newest) = list_segments(wal_dir)?.last() else { return Ok(0) };
    progress("compressing rotated segments");
    compress_rotated(wal_dir, newest).map_err(|e| e.context("Cannot compress segments"))
}

#[cfg(test)]
mod tests {
    use super::super::dump::{state_at, Target};
    use super::super::inspect::examine;
    use super::super::testing::{line, quiet, upd, write_segment};
    use super::*;
    use crate::codec::value::Value;
    use crate::lock::{LOCK_FILE, PID_FILE};

    #[test]
    fn compact_snapshots_cleans_compresses_and_respects_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_segment(d, 1, &line(1.0, &[upd("a", "k", Value::Number(1.0))]));
        write_segment(d, 2, &line(2.0, &[upd("a", "j", Value::Number(2.0))]));
        write_segment(d, 3, &line(3.0, &[upd("b", "k", Value::Number(3.0))]));
        fs::write(d.join(LOCK_FILE), b"").unwrap();
        fs::write(d.join(PID_FILE), b"1 token").unwrap();
        match compact(d, &CompactOptions::default(), &mut quiet()) {
            Err(Error::Locked(m)) => assert!(m.contains("locked by another process (pid 1)"), "{m}"),
            other => panic!("expected refusal, got {other:?}"),
        }
        assert!(d.join(LOCK_FILE).exists(), "a refused compaction leaves the owner's lock alone");
        fs::remove_file(d.join(LOCK_FILE)).unwrap();
        fs::remove_file(d.join(PID_FILE)).unwrap();

        let r = compact(d, &CompactOptions::default(), &mut quiet()).unwrap();
        assert_eq!(r.commit_id, Some(CommitId { segment: 3, offset: 0 }));
        assert_eq!((r.keys, r.replayed, r.segments_removed, r.segments_compressed), (3, 3, 2, 0));
        assert!(d.join("snapshot.json.gz").exists() && d.join("head.json.gz").exists());
        assert!(!d.join(LOCK_FILE).exists());
        let head = snapshot::load(d, "head").unwrap().unwrap();
        assert_eq!((head.commit_id, head.data.key_count()), (CommitId { segment: 2, offset: 0 }, 2));
        let ins = examine(d, &mut quiet()).unwrap();
        assert!(ins.problems.is_empty(), "{:?}", ins.problems);
        assert_eq!(state_at(d, Target::Latest, &mut quiet()).unwrap().data.key_count(), 3);
        // History folded into head.json stays reachable.
        assert!(state_at(d, Target::Time(1.5), &mut quiet()).err().unwrap().to_string().contains("no longer available"));
        assert_eq!(state_at(d, Target::Time(2.5), &mut quiet()).unwrap().data.key_count(), 2);
    }
}
