//! Examining a storage directory without changing it, for `inspect` and `verify`: every
//! line of every segment, both snapshots and the lock, then how they fit together (gaps in
//! the log, a log no snapshot covers, a snapshot ahead of the log). Each finding is a
//! [`Problem`], an error when data is or will be lost and a warning otherwise.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::lock::{self, LockHolder};
use crate::log::commit::{compressed_segment_filename, deserialize_commit, segment_filename, CommitId, MAX_SEGMENT_LINES};
use crate::log::reader::{read_segment_bytes, scan_segments, segment_lines, zeroed_tail};
use crate::snapshot;

use super::{not_a_dir, size_of, snapshot_file, Progress, StorageFiles};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Damage: data is lost or will be lost; `verify` fails.
    Error,
    /// Worth knowing, harmless to the data.
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding of [`examine`].
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub severity: Severity,
    /// `malformed`, `torn`, `unreadable`, `missing-segment`, `uncovered-log`,
    /// `snapshot-ahead`, `snapshot`, `head`, `stale-copy`, `temp-file`, `line-limit`,
    /// `ts-order`, `in-progress`, `empty`.
    pub kind: &'static str,
    /// Path relative to the storage directory.
    pub file: Option<String>,
    pub segment: Option<u32>,
    /// Line offset within the segment (0-based, as in commit ids).
    pub offset: Option<u32>,
    pub message: String,
}

/// One log segment as found on disk.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SegmentInfo {
    pub segment: u32,
    /// The file that is read (the gzipped one when both exist).
    pub file: String,
    pub compressed: bool,
    pub plain_size: Option<u64>,
    pub gz_size: Option<u64>,
    /// Decompressed size; 0 when unreadable.
    pub data_size: u64,
    /// Lines including blank ones (what commit offsets count).
    pub lines: u32,
    pub commits: u32,
    pub ops: u64,
    pub malformed: u32,
    pub torn: bool,
    pub readable: bool,
    pub first: Option<CommitId>,
    pub last: Option<CommitId>,
    /// Earliest / latest non-zero commit timestamp (ms since epoch).
    pub first_ts: Option<f64>,
    pub last_ts: Option<f64>,
}

/// A readable `snapshot.json[.gz]` or `head.json[.gz]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotInfo {
    pub file: String,
    pub compressed: bool,
    pub size: u64,
    pub commit_id: CommitId,
    pub ts: f64,
    pub contexts: usize,
    pub keys: usize,
}

/// A snapshot file's state: absent, readable, or present but unreadable.
#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotState {
    Missing,
    Ok(SnapshotInfo),
    Bad { file: String, message: String },
}

impl SnapshotState {
    pub fn info(&self) -> Option<&SnapshotInfo> {
        match self {
            SnapshotState::Ok(i) => Some(i),
            _ => None,
        }
    }
}

/// Everything [`examine`] found.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub dir: PathBuf,
    pub segments: Vec<SegmentInfo>,
    pub snapshot: SnapshotState,
    pub head: SnapshotState,
    pub lock: Option<LockHolder>,
    pub problems: Vec<Problem>,
    /// Bytes of every storage file (segments, snapshots, temp files; not the lock files).
    pub disk_bytes: u64,
}

impl Inspection {
    pub fn errors(&self) -> usize {
        self.problems.iter().filter(|p| p.severity == Severity::Error).count()
    }

    pub fn warnings(&self) -> usize {
        self.problems.len() - self.errors()
    }

    pub fn commits(&self) -> u64 {
        self.segments.iter().map(|s| s.commits as u64).sum()
    }

    pub fn first_ts(&self) -> Option<f64> {
        self.segments.iter().filter_map(|s| s.first_ts).reduce(f64::min)
    }

    pub fn last_ts(&self) -> Option<f64> {
        self.segments.iter().filter_map(|s| s.last_ts).reduce(f64::max)
    }
}

/// Examines `dir` without changing anything: segments line by line, both snapshots, the
/// lock, and how they fit together.
pub fn examine(dir: &Path, progress: Progress) -> Result<Inspection> {
    if !dir.is_dir() {
        return Err(not_a_dir(dir));
    }
    let mut problems = Vec::new();
    let lock = lock::holder(dir);
    let snapshot = examine_snapshot(dir, "snapshot", &mut problems);
    let head = examine_snapshot(dir, "head", &mut problems);
    // The newest segment of a running process may end in a line still being written.
    let live = lock.as_ref().is_some_and(|l| l.stale.is_none());
    let segments = examine_segments(&dir.join("wal"), live, progress, &mut problems)?;
    check_layout(&segments, &snapshot, &head, &mut problems);
    check_snapshots(&segments, &snapshot, &head, &mut problems);
    let files = StorageFiles::of(dir);
    report_temp_files(&files.temp, &mut problems);
    if segments.is_empty() && snapshot == SnapshotState::Missing && head == SnapshotState::Missing {
        problems.push(Problem {
            severity: Severity::Warning,
            kind: "empty",
            file: None,
            segment: None,
            offset: None,
            message: format!("no WAL storage here (no wal/ segments, snapshot or head snapshot in {})", dir.display()),
        });
    }
    Ok(Inspection { dir: dir.to_path_buf(), segments, snapshot, head, lock, problems, disk_bytes: files.bytes })
}

/// The snapshot file `snapshot::load` reads for `basename`, loaded, and a warning when a
/// stale copy in the other format sits next to it.
fn examine_snapshot(dir: &Path, basename: &str, problems: &mut Vec<Problem>) -> SnapshotState {
    let Some((file, compressed)) = snapshot_file(dir, basename) else { return SnapshotState::Missing };
    let other = if compressed { format!("{basename}.json") } else { format!("{basename}.json.gz") };
    if dir.join(&other).exists() {
        problems.push(Problem {
            severity: Severity::Warning,
            kind: "stale-copy",
            file: Some(other.clone()),
            segment: None,
            offset: None,
            message: format!("both {file} and {other} exist; {file} is newer and is the one read"),
        });
    }
    match snapshot::load(dir, basename) {
        Ok(Some(s)) => SnapshotState::Ok(SnapshotInfo {
            size: size_of(&dir.join(&file)).unwrap_or(0),
            file,
            compressed,
            commit_id: s.commit_id,
            ts: s.ts,
            contexts: s.data.context_count(),
            keys: s.data.key_count(),
        }),
        Ok(None) => SnapshotState::Missing,
        Err(Error::Corrupt { detail, .. }) => SnapshotState::Bad { file, message: detail },
        Err(Error::Io { source, .. }) => SnapshotState::Bad { file, message: source.to_string() },
        Err(e) => SnapshotState::Bad { file, message: e.to_string() },
    }
}

/// One segment as listed in `wal/`.
struct Found {
    segment: u32,
    /// `0000000a.jsonl` exists.
    plain: bool,
    /// `0000000a.jsonl.gz` exists (and is the one read).
    gz: bool,
    /// The newest segment: the one a writer appends to, so the one a crash can tear.
    newest: bool,
}

/// Every segment in log order. `live`: a running process holds the lock.
fn examine_segments(wal_dir: &Path, live: bool, progress: Progress, problems: &mut Vec<Problem>) -> Result<Vec<SegmentInfo>> {
    let found = scan_segments(wal_dir)?;
    let total = found.len();
    let newest = found.keys().next_back().copied();
    let mut clock = Clock::default();
    let mut segments = Vec::with_capacity(total);
    for (i, (&segment, &(plain, gz))) in found.iter().enumerate() {
        let found = Found { segment, plain, gz, newest: Some(segment) == newest };
        progress(&format!("checking segment {}/{total} ({})", i + 1, file_read(&found)));
        segments.push(examine_segment(wal_dir, &found, live, &mut clock, problems));
    }
    Ok(segments)
}

/// The name of the file a segment is read from.
fn file_read(found: &Found) -> String {
    if found.gz {
        compressed_segment_filename(found.segment)
    } else {
        segment_filename(found.segment)
    }
}

/// The findings of one segment, placed in its file.
struct SegmentFindings<'a> {
    segment: u32,
    /// `wal/<file read>`.
    file: String,
    problems: &'a mut Vec<Problem>,
}

impl SegmentFindings<'_> {
    fn add(&mut self, severity: Severity, kind: &'static str, offset: Option<u32>, message: String) {
        self.problems.push(Problem { severity, kind, file: Some(self.file.clone()), segment: Some(self.segment), offset, message });
    }
}

/// One segment: its files, its bytes, then every line.
fn examine_segment(wal_dir: &Path, found: &Found, live: bool, clock: &mut Clock, problems: &mut Vec<Problem>) -> SegmentInfo {
    let seg = found.segment;
    let name = file_read(found);
    let mut info = SegmentInfo {
        segment: seg,
        file: name.clone(),
        compressed: found.gz,
        plain_size: if found.plain { size_of(&wal_dir.join(segment_filename(seg))) } else { None },
        gz_size: if found.gz { size_of(&wal_dir.join(compressed_segment_filename(seg))) } else { None },
        ..Default::default()
    };
    if found.plain && found.gz {
        problems.push(Problem {
            severity: Severity::Warning,
            kind: "stale-copy",
            file: Some(format!("wal/{}", segment_filename(seg))),
            segment: Some(seg),
            offset: None,
            message: "a plain copy sits next to the gzipped segment (compression was interrupted); the gzipped one is read".into(),
        });
    }
    let mut findings = SegmentFindings { segment: seg, file: format!("wal/{name}"), problems };
    let Some(bytes) = read_segment(wal_dir, found, &mut info, &mut findings) else { return info };
    info.readable = true;
    info.data_size = bytes.len() as u64;
    let writing = live && !found.gz && found.newest;
    check_lines(&bytes, writing, &mut info, clock, &mut findings);
    if info.lines > MAX_SEGMENT_LINES {
        findings.add(
            Severity::Warning,
            "line-limit",
            None,
            format!("{} lines exceed the {MAX_SEGMENT_LINES}-line segment limit", info.lines),
        );
    }
    info
}

/// The segment's bytes, decompressed, without a zeroed tail of the newest plain segment
/// (a write that never reached the disk, reported as torn); `None` when unreadable.
fn read_segment(wal_dir: &Path, found: &Found, info: &mut SegmentInfo, findings: &mut SegmentFindings) -> Option<Vec<u8>> {
    let mut bytes = match read_segment_bytes(wal_dir, found.segment) {
        Ok((_, bytes)) => bytes,
        Err(e) => {
            findings.add(Severity::Error, "unreadable", None, format!("cannot read segment: {e}"));
            return None;
        }
    };
    if !found.gz && found.newest {
        if let Some(cut) = zeroed_tail(&bytes) {
            let offset = memchr::memchr_iter(b'\n', &bytes[..cut]).count() as u32;
            findings.add(
                Severity::Error,
                "torn",
                Some(offset),
                format!(
                    "the last {} bytes, from this line on, hold zeroed data (a write that never reached the disk); replay stops here and the driver cuts them off when it next opens the directory",
                    bytes.len() - cut
                ),
            );
            info.torn = true;
            bytes.truncate(cut);
        }
    }
    Some(bytes)
}

/// Every line of a segment: malformed lines, a last line without its newline (`writing`:
/// one a live process may still be completing), and the commits' ids, ops and times.
fn check_lines(bytes: &[u8], writing: bool, info: &mut SegmentInfo, clock: &mut Clock, findings: &mut SegmentFindings) {
    let unterminated = !bytes.is_empty() && !bytes.ends_with(b"\n");
    let line_count = bytes.iter().filter(|b| **b == b'\n').count() + usize::from(unterminated);
    info.lines = line_count as u32;
    clock.warned = false;
    for (offset, line) in segment_lines(bytes) {
        let is_tail = unterminated && offset as usize + 1 == line_count;
        let parsed = deserialize_commit(line);
        if is_tail {
            info.torn = true;
            let what = match &parsed {
                Ok(_) => {
                    "the last line has no newline (interrupted write); the driver cuts it off when it next opens the directory".to_string()
                }
                Err(e) => format!("the last line is incomplete (interrupted write): {e}"),
            };
            if writing {
                let message = format!("{what} (a live process holds the lock and may be writing it)");
                findings.add(Severity::Warning, "in-progress", Some(offset), message);
            } else {
                findings.add(Severity::Error, "torn", Some(offset), what);
            }
            if parsed.is_err() {
                continue;
            }
        }
        let commit = match parsed {
            Ok(c) => c,
            Err(e) => {
                info.malformed += 1;
                let message = format!("malformed commit, skipped when the log is replayed: {e}");
                findings.add(Severity::Error, "malformed", Some(offset), message);
                continue;
            }
        };
        let id = CommitId { segment: info.segment, offset };
        info.commits += 1;
        info.ops += commit.ops.len() as u64;
        info.first.get_or_insert(id);
        info.last = Some(id);
        if commit.ts != 0.0 {
            clock.tick(commit.ts, offset, findings);
            info.first_ts.get_or_insert(commit.ts);
            info.last_ts = Some(commit.ts);
        }
    }
}

/// Commit times across the log, to notice the clock going backwards (once per segment).
#[derive(Default)]
struct Clock {
    previous: Option<f64>,
    /// Already reported in the current segment.
    warned: bool,
}

impl Clock {
    fn tick(&mut self, ts: f64, offset: u32, findings: &mut SegmentFindings) {
        if self.previous.is_some_and(|p| ts < p) && !self.warned {
            self.warned = true;
            let message = "commit timestamp goes backwards (clock change?); time-based lookups may be off".into();
            findings.add(Severity::Warning, "ts-order", Some(offset), message);
        }
        self.previous = Some(ts);
    }
}

/// Gaps in the segment numbers, and a log whose beginning was removed without a snapshot
/// that covers it.
fn check_layout(segments: &[SegmentInfo], snapshot: &SnapshotState, head: &SnapshotState, problems: &mut Vec<Problem>) {
    for pair in segments.windows(2) {
        let (a, b) = (pair[0].segment, pair[1].segment);
        if b > a + 1 {
            let missing = if b == a + 2 { format!("segment {}", a + 1) } else { format!("segments {}..{}", a + 1, b - 1) };
            problems.push(Problem {
                severity: Severity::Error,
                kind: "missing-segment",
                file: None,
                segment: Some(a + 1),
                offset: None,
                message: format!("{missing} missing between {} and {}: their commits are lost", segment_filename(a), segment_filename(b)),
            });
        }
    }
    let Some(first) = segments.first().map(|s| s.segment) else { return };
    if first <= 1 {
        return;
    }
    let covered = [snapshot.info(), head.info()].into_iter().flatten().map(|s| s.commit_id.segment).max();
    // Cleaning removes segments below the snapshot's; head.json holds their last commit.
    if covered.is_none_or(|c| c + 1 < first) {
        let by = match covered {
            Some(c) => format!("the newest snapshot only reaches segment {c}"),
            None => "there is no snapshot".to_string(),
        };
        problems.push(Problem {
            severity: Severity::Error,
            kind: "uncovered-log",
            file: None,
            segment: Some(first),
            offset: None,
            message: format!("the log starts at segment {first} but {by}: the commits before it are lost"),
        });
    }
}

/// Unreadable snapshots (fatal unless the complete log can rebuild the state), and a
/// snapshot ahead of the end of the log.
fn check_snapshots(segments: &[SegmentInfo], snapshot: &SnapshotState, head: &SnapshotState, problems: &mut Vec<Problem>) {
    let complete_log = segments.first().is_some_and(|s| s.segment == 1);
    if let SnapshotState::Bad { file, message } = snapshot {
        // The driver rebuilds from the log when nothing was ever cleaned away.
        let recoverable = complete_log && *head == SnapshotState::Missing;
        problems.push(Problem {
            severity: if recoverable { Severity::Warning } else { Severity::Error },
            kind: "snapshot",
            file: Some(file.clone()),
            segment: None,
            offset: None,
            message: if recoverable {
                format!("unreadable ({message}); the log is complete, so the state is rebuilt from it")
            } else {
                format!("unreadable ({message}); the driver cannot open this directory")
            },
        });
    }
    if let SnapshotState::Bad { file, message } = head {
        problems.push(Problem {
            severity: Severity::Error,
            kind: "head",
            file: Some(file.clone()),
            segment: None,
            offset: None,
            message: format!("unreadable ({message}); history before the log is lost and cleaning will fail"),
        });
    }
    if segments.iter().any(|s| !s.readable) {
        return;
    }
    let log_end = segments.iter().filter_map(|s| s.last).max();
    if let Some(snap) = snapshot.info() {
        if log_end.is_none_or(|end| snap.commit_id > end) && segments.iter().all(|s| s.segment <= snap.commit_id.segment) {
            let end = log_end.map_or("the log is empty".to_string(), |e| format!("the log ends at commit {e}"));
            problems.push(Problem {
                severity: Severity::Error,
                kind: "snapshot-ahead",
                file: Some(snap.file.clone()),
                segment: Some(snap.commit_id.segment),
                offset: Some(snap.commit_id.offset),
                message: format!(
                    "the snapshot is at commit {} but {end}: log data after it was lost, and new commits would be hidden behind the snapshot",
                    snap.commit_id
                ),
            });
        }
    }
}

/// Temp files of interrupted writes: harmless, reported so they can be deleted.
fn report_temp_files(temp: &[String], problems: &mut Vec<Problem>) {
    for file in temp {
        problems.push(Problem {
            severity: Severity::Warning,
            kind: "temp-file",
            file: Some(file.clone()),
            segment: None,
            offset: None,
            message: "left over from an interrupted write; ignored, safe to delete".into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::report::render_verification;
    use super::super::testing::{line, quiet, upd, write_segment};
    use super::*;
    use crate::codec::value::Value;
    use crate::lock::{LOCK_FILE, PID_FILE};
    use crate::store::StoreData;

    #[test]
    fn examine_finds_malformed_torn_and_missing_segments() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_segment(d, 1, &(line(10.0, &[upd("a", "k", Value::Number(1.0))]) + "not json\n\n" + &line(20.0, &[])));
        write_segment(d, 3, &(line(30.0, &[]) + "{\"ts\":40,\"op"));
        let mut steps = Vec::new();
        let ins = examine(d, &mut |s: &str| steps.push(s.to_string())).unwrap();
        assert_eq!(steps.len(), 2);
        assert_eq!(ins.segments.len(), 2);
        let s1 = &ins.segments[0];
        assert_eq!((s1.lines, s1.commits, s1.malformed, s1.torn), (4, 2, 1, false));
        assert_eq!((s1.first_ts, s1.last_ts), (Some(10.0), Some(20.0)));
        assert_eq!(s1.last, Some(CommitId { segment: 1, offset: 3 }));
        assert!(ins.segments[1].torn);
        let kinds: Vec<_> = ins.problems.iter().map(|p| (p.kind, p.segment, p.offset)).collect();
        assert!(kinds.contains(&("malformed", Some(1), Some(1))), "{kinds:?}");
        assert!(kinds.contains(&("torn", Some(3), Some(1))), "{kinds:?}");
        assert!(kinds.contains(&("missing-segment", Some(2), None)), "{kinds:?}");
        assert_eq!(ins.errors(), 3);
        assert!(render_verification(&ins).contains("DAMAGED: 3 errors"));
    }

    #[test]
    fn zeroed_tail_of_the_newest_segment_is_reported_as_torn_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let zeros = "\0".repeat(100);
        write_segment(d, 1, &(line(10.0, &[]) + &zeros + &line(20.0, &[]) + &line(30.0, &[])));
        let ins = examine(d, &mut |_: &str| {}).unwrap();
        let s1 = &ins.segments[0];
        assert_eq!((s1.commits, s1.malformed, s1.torn), (1, 0, true));
        let kinds: Vec<_> = ins.problems.iter().map(|p| (p.kind, p.segment, p.offset)).collect();
        assert_eq!(kinds, vec![("torn", Some(1), Some(1))]);
    }

    #[test]
    fn clean_directory_has_no_problems_and_cleaned_log_is_covered() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_segment(d, 2, &line(5.0, &[upd("a", "k", Value::Number(2.0))]));
        let ins = examine(d, &mut quiet()).unwrap();
        assert_eq!(ins.problems.iter().map(|p| p.kind).collect::<Vec<_>>(), vec!["uncovered-log"]);
        let mut data = StoreData::default();
        data.apply(&[upd("a", "k", Value::Number(1.0))]);
        snapshot::save(d, "head", true, CommitId { segment: 1, offset: 9 }, 4.0, &data).unwrap();
        snapshot::save(d, "snapshot", false, CommitId { segment: 2, offset: 0 }, 5.0, &data).unwrap();
        let ins = examine(d, &mut quiet()).unwrap();
        assert!(ins.problems.is_empty(), "{:?}", ins.problems);
        assert_eq!(ins.snapshot.info().unwrap().file, "snapshot.json");
        assert_eq!(ins.head.info().unwrap().file, "head.json.gz");
    }

    #[test]
    fn torn_tail_of_a_live_writer_is_only_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_segment(d, 1, &(line(1.0, &[]) + "{\"ts\":2"));
        fs::write(d.join(LOCK_FILE), b"").unwrap();
        fs::write(d.join(PID_FILE), b"1 token").unwrap();
        let ins = examine(d, &mut quiet()).unwrap();
        assert_eq!(ins.errors(), 0, "{:?}", ins.problems);
        assert_eq!(ins.problems[0].kind, "in-progress");
        assert!(ins.lock.as_ref().is_some_and(|l| l.stale.is_none()), "a live process holds the lock");
    }

    #[test]
    fn time_going_backwards_stale_copies_and_temp_files_are_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Backwards within segment 1 (reported once), and again across into segment 2.
        write_segment(d, 1, &(line(50.0, &[]) + &line(40.0, &[]) + &line(0.0, &[]) + &line(30.0, &[])));
        write_segment(d, 2, &(line(20.0, &[]) + &line(25.0, &[])));
        fs::write(d.join("wal/00000002.jsonl.gz.tmp"), b"partial").unwrap();
        fs::write(d.join("snapshot.tmp.7"), b"partial").unwrap();
        let mut data = StoreData::default();
        data.apply(&[upd("a", "k", Value::Number(1.0))]);
        snapshot::save(d, "snapshot", false, CommitId { segment: 1, offset: 0 }, 50.0, &data).unwrap();
        fs::write(d.join("snapshot.json.gz"), b"older").unwrap();
        // Make the plain file the newer one, whatever the file system's time resolution.
        let later = fs::metadata(d.join("snapshot.json.gz")).unwrap().modified().unwrap() + std::time::Duration::from_secs(5);
        fs::File::options().write(true).open(d.join("snapshot.json")).unwrap().set_modified(later).unwrap();

        let ins = examine(d, &mut quiet()).unwrap();
        let found: Vec<_> = ins.problems.iter().map(|p| (p.kind, p.file.as_deref(), p.offset)).collect();
        assert_eq!(
            found,
            [
                ("stale-copy", Some("snapshot.json.gz"), None),
                ("ts-order", Some("wal/00000001.jsonl"), Some(1)),
                ("ts-order", Some("wal/00000002.jsonl"), Some(0)),
                ("temp-file", Some("snapshot.tmp.7"), None),
                ("temp-file", Some("wal/00000002.jsonl.gz.tmp"), None),
            ]
        );
        assert_eq!(ins.errors(), 0);
        assert_eq!((ins.segments[0].first_ts, ins.segments[0].last_ts), (Some(50.0), Some(30.0)));
        let storage: u64 = [
            "wal/00000001.jsonl",
            "wal/00000002.jsonl",
            "wal/00000002.jsonl.gz.tmp",
            "snapshot.tmp.7",
            "snapshot.json",
            "snapshot.json.gz",
        ]
        .iter()
        .map(|f| fs::metadata(d.join(f)).unwrap().len())
        .sum();
        assert_eq!(ins.disk_bytes, storage);
    }
}
