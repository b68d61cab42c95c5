//! The `matter-wal` tool, as plain Rust: one module per command, working on the files the
//! driver writes. matter.js's own driver writes the same files, so its directories work too.
//!
//! * [`inspect`]: examining a directory (segments line by line, both snapshots, the lock,
//!   and how they fit together); `inspect` and `verify` differ only in their report;
//! * [`dump`]: the state rebuilt as of a time or a commit;
//! * [`log`]: the commits still in the log;
//! * [`compact`]: a snapshot, cleaning and gzip now, under the directory lock — the only
//!   command that writes;
//! * [`context`]: the `--context a.b` argument of `dump` and `log`;
//! * [`detect`]: what a directory holding no WAL storage holds instead;
//! * [`render`]: values, keys, times and sizes as text, and [`report`]: each command's
//!   report built from them.
//!
//! Commands return plain structs and the reports are separate functions, so `binding::cli`
//! can hand both the data and the text to JavaScript. This module holds what several
//! commands share: progress, the storage files of a directory, and replaying the log
//! (with the core's one replay rule, [`State::apply`]).

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};
use crate::log::commit::{parse_segment_filename, CommitId};
use crate::log::reader::{read_commits, ReadCommit};
use crate::log::replay::State;
use crate::snapshot;

mod compact;
mod context;
mod detect;
mod dump;
mod inspect;
mod log;
mod render;
mod report;
#[cfg(test)]
mod testing;

pub use compact::{compact, CompactOptions};
pub use context::ContextFilter;
pub use detect::not_wal_storage;
pub use dump::{state_at, Target};
pub use inspect::{examine, Inspection, SnapshotState};
pub use log::log;
pub use report::{render_compaction, render_inspection, render_log_json, render_log_line, render_state, render_verification};

/// Called with a short description whenever a step of a long run starts.
pub type Progress<'a> = &'a mut dyn FnMut(&str);

fn not_a_dir(dir: &Path) -> Error {
    Error::Refused(format!("{} is not a directory", dir.display()))
}

fn size_of(path: &Path) -> Option<u64> {
    fs::metadata(path).ok().filter(|m| m.is_file()).map(|m| m.len())
}

/// The file `snapshot::load` reads for `basename` (its name) and whether it is gzipped.
fn snapshot_file(dir: &Path, basename: &str) -> Option<(String, bool)> {
    let (path, gz) = snapshot::current_file(dir, basename)?;
    Some((path.file_name()?.to_string_lossy().into_owned(), gz))
}

/// True when `dir` holds any WAL storage: a `wal/` folder, a snapshot or a head snapshot.
fn has_wal_files(dir: &Path) -> bool {
    dir.join("wal").is_dir() || snapshot_file(dir, "snapshot").is_some() || snapshot_file(dir, "head").is_some()
}

/// The files of a storage directory the tool counts: what `inspect` reports as its size and
/// `compact` as bytes before and after, and the temp files interrupted writes left behind
/// (reported by `inspect`, removed by `compact`). The lock files are not storage.
struct StorageFiles {
    /// Bytes of segments, snapshots and temp files.
    bytes: u64,
    /// Temp files relative to the storage directory (`snapshot.tmp.…`, `wal/….jsonl.gz.tmp`),
    /// sorted by name within each folder.
    temp: Vec<String>,
}

impl StorageFiles {
    fn of(dir: &Path) -> StorageFiles {
        let mut files = StorageFiles { bytes: 0, temp: Vec::new() };
        for (folder, prefix) in [(dir.to_path_buf(), ""), (dir.join("wal"), "wal/")] {
            let Ok(entries) = fs::read_dir(&folder) else { continue };
            let mut names: Vec<(String, u64)> = entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| Some((e.file_name().into_string().ok()?, e.metadata().ok()?.len())))
                .collect();
            names.sort();
            for (name, len) in names {
                let storage = parse_segment_filename(&name).is_some()
                    || ["snapshot.json", "snapshot.json.gz", "head.json", "head.json.gz"].contains(&name.as_str());
                let temp = (prefix.is_empty() && (name.starts_with("snapshot.tmp.") || name.starts_with("head.tmp.")))
                    || (!prefix.is_empty() && name.ends_with(".jsonl.gz.tmp"));
                if storage || temp {
                    files.bytes += len;
                }
                if temp {
                    files.temp.push(format!("{prefix}{name}"));
                }
            }
        }
        files
    }
}

/// Reports a read of the log segment by segment: `replaying segment 3/9 (00000005)`.
struct SegmentSteps<'a, 'p> {
    /// What is done to the segments (`replaying`, `reading`).
    verb: &'static str,
    /// Every segment of the log, in order.
    segments: &'a [u32],
    current: Option<u32>,
    progress: Progress<'p>,
}

impl<'a, 'p> SegmentSteps<'a, 'p> {
    fn new(verb: &'static str, segments: &'a [u32], progress: Progress<'p>) -> Self {
        SegmentSteps { verb, segments, current: None, progress }
    }

    /// Called for every commit read; reports when it starts a new segment.
    fn at(&mut self, segment: u32) {
        if self.current != Some(segment) {
            self.current = Some(segment);
            let n = self.segments.iter().position(|s| *s == segment).map_or(0, |p| p + 1);
            (self.progress)(&format!("{} segment {n}/{} ({segment:08x})", self.verb, self.segments.len()));
        }
    }
}

/// How a [`replay`] went.
struct Replayed {
    /// Commits applied.
    count: usize,
    /// The first commit not applied because it lies past the target.
    beyond: Option<CommitId>,
}

/// Replays the log of `wal_dir` (whose segments are `segments`) onto `state`, from the
/// commit after the state's own, until `past` says a commit lies beyond the target.
fn replay(
    wal_dir: &Path,
    segments: &[u32],
    state: &mut State,
    progress: Progress,
    mut past: impl FnMut(&ReadCommit) -> bool,
) -> Result<Replayed> {
    let mut steps = SegmentSteps::new("replaying", segments, progress);
    let mut replayed = Replayed { count: 0, beyond: None };
    read_commits(wal_dir, state.last_commit, |c| {
        steps.at(c.id.segment);
        if past(&c) {
            replayed.beyond = Some(c.id);
            return false;
        }
        state.apply(c.id, &c.commit);
        replayed.count += 1;
        true
    })?;
    Ok(replayed)
}

#[cfg(test)]
mod tests {
    use super::testing::{line, quiet, upd, write_segment};
    use super::*;
    use crate::codec::value::Value;
    use crate::log::reader::list_segments;

    #[test]
    fn storage_files_count_segments_snapshots_and_temp_files_but_not_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_segment(d, 1, "12345\n");
        fs::write(d.join("wal/00000002.jsonl.gz.tmp"), b"12").unwrap();
        fs::write(d.join("wal/notes.txt"), b"ignored").unwrap();
        fs::write(d.join("snapshot.json"), b"123").unwrap();
        fs::write(d.join("snapshot.tmp.9"), b"1234").unwrap();
        fs::write(d.join("head.tmp.1"), b"1").unwrap();
        fs::write(d.join(crate::lock::LOCK_FILE), b"lock").unwrap();
        let files = StorageFiles::of(d);
        assert_eq!(files.bytes, 6 + 2 + 3 + 4 + 1);
        assert_eq!(files.temp, ["head.tmp.1", "snapshot.tmp.9", "wal/00000002.jsonl.gz.tmp"]);
    }

    #[test]
    fn replay_applies_up_to_the_target_and_reports_each_segment_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_segment(d, 1, &(line(10.0, &[upd("a", "k", Value::Number(1.0))]) + &line(0.0, &[upd("a", "j", Value::Null)])));
        write_segment(d, 2, &(line(30.0, &[upd("b", "k", Value::Null)]) + &line(40.0, &[])));
        let segments = list_segments(&d.join("wal")).unwrap();
        let mut steps = Vec::new();
        let mut state = State::default();
        let r = replay(&d.join("wal"), &segments, &mut state, &mut |s: &str| steps.push(s.to_string()), |c| c.commit.ts > 30.0).unwrap();
        assert_eq!((r.count, r.beyond), (3, Some(CommitId { segment: 2, offset: 1 })));
        assert_eq!((state.last_commit, state.last_ts, state.store.key_count()), (Some(CommitId { segment: 2, offset: 0 }), 30.0, 3));
        assert_eq!(steps, ["replaying segment 1/2 (00000001)", "replaying segment 2/2 (00000002)"]);
        // Replay continues after the state's own commit.
        let r = replay(&d.join("wal"), &segments, &mut state, &mut quiet(), |_| false).unwrap();
        assert_eq!((r.count, r.beyond, state.last_ts), (1, None, 40.0));
    }
}
