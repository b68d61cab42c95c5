//! What the `matter-wal` command does, as plain Rust: examine a storage directory (files,
//! snapshots, lock, damage), rebuild its state as of a commit or a time, list its commits,
//! and compact it. Works on directories written by this driver or by matter.js's, since the
//! files are the same. Everything here only reads, except [`compact`], which first takes
//! the directory lock.
//!
//! Results are plain structs plus a ready-to-print text rendering; `binding::cli` hands
//! them to JavaScript.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::log::cleaner::{self, HeadSnapshot};
use crate::log::commit::{
    compressed_segment_filename, deserialize_commit, parse_segment_filename, segment_filename, serialize_commit, CommitId, Op,
    MAX_SEGMENT_LINES,
};
use crate::log::compress::compress_rotated;
use crate::codec::jsstr::JsStr;
use crate::codec::to_json::{write_js_string, write_number};
use crate::lock::{self, DirLock, LockError, LockHolder};
use crate::log::reader::{list_segments, read_commits, read_segment_bytes, scan_segments, segment_lines};
use crate::snapshot;
use crate::store::StoreData;
use crate::codec::value::{array_index, Value};

/// Called with a short description whenever a step of a long run starts.
pub type Progress<'a> = &'a mut dyn FnMut(&str);

// ---------------------------------------------------------------------------------------
// Examination (inspect / verify)
// ---------------------------------------------------------------------------------------

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

fn not_a_dir(dir: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} is not a directory", dir.display()))
}

fn size_of(path: &Path) -> Option<u64> {
    fs::metadata(path).ok().filter(|m| m.is_file()).map(|m| m.len())
}

/// The file `snapshot::load` reads for `basename` (its name) and whether it is gzipped.
fn snapshot_file(dir: &Path, basename: &str) -> Option<(String, bool)> {
    let (path, gz) = snapshot::current_file(dir, basename)?;
    Some((path.file_name()?.to_string_lossy().into_owned(), gz))
}

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
        Err(e) => SnapshotState::Bad { file, message: e.message },
    }
}

/// Examines `dir` without changing anything: segments line by line, both snapshots, the
/// lock, and how they fit together.
pub fn examine(dir: &Path, progress: Progress) -> io::Result<Inspection> {
    if !dir.is_dir() {
        return Err(not_a_dir(dir));
    }
    let wal_dir = dir.join("wal");
    let mut problems = Vec::new();
    let lock = lock::holder(dir);
    let live = lock.as_ref().is_some_and(|l| l.stale.is_none());
    let snapshot = examine_snapshot(dir, "snapshot", &mut problems);
    let head = examine_snapshot(dir, "head", &mut problems);

    let found = scan_segments(&wal_dir)?;
    let total = found.len();
    let last_segment = found.keys().next_back().copied();
    let mut segments = Vec::with_capacity(total);
    let mut prev_ts: Option<f64> = None;
    for (i, (&seg, &(plain, gz))) in found.iter().enumerate() {
        let name = if gz { compressed_segment_filename(seg) } else { segment_filename(seg) };
        progress(&format!("checking segment {}/{total} ({name})", i + 1));
        let rel = format!("wal/{name}");
        let mut info = SegmentInfo {
            segment: seg,
            file: name.clone(),
            compressed: gz,
            plain_size: if plain { size_of(&wal_dir.join(segment_filename(seg))) } else { None },
            gz_size: if gz { size_of(&wal_dir.join(compressed_segment_filename(seg))) } else { None },
            ..Default::default()
        };
        if plain && gz {
            problems.push(Problem {
                severity: Severity::Warning,
                kind: "stale-copy",
                file: Some(format!("wal/{}", segment_filename(seg))),
                segment: Some(seg),
                offset: None,
                message: "a plain copy sits next to the gzipped segment (compression was interrupted); the gzipped one is read"
                    .into(),
            });
        }
        let bytes = match read_segment_bytes(&wal_dir, seg) {
            Ok((_, bytes)) => bytes,
            Err(e) => {
                problems.push(Problem {
                    severity: Severity::Error,
                    kind: "unreadable",
                    file: Some(rel),
                    segment: Some(seg),
                    offset: None,
                    message: format!("cannot read segment: {e}"),
                });
                segments.push(info);
                continue;
            }
        };
        let mut bytes = bytes;
        if !gz && Some(seg) == last_segment {
            if let Some(cut) = crate::log::reader::zeroed_tail(&bytes) {
                let offset = memchr::memchr_iter(b'\n', &bytes[..cut]).count() as u32;
                problems.push(Problem {
                    severity: Severity::Error,
                    kind: "torn",
                    file: Some(rel.clone()),
                    segment: Some(seg),
                    offset: Some(offset),
                    message: format!(
                        "the last {} bytes, from this line on, hold zeroed data (a write that never reached the disk); replay stops here and the driver cuts them off when it next opens the directory",
                        bytes.len() - cut
                    ),
                });
                info.torn = true;
                bytes.truncate(cut);
            }
        }
        info.readable = true;
        info.data_size = bytes.len() as u64;
        let unterminated = !bytes.is_empty() && !bytes.ends_with(b"\n");
        let line_count = bytes.iter().filter(|b| **b == b'\n').count() + usize::from(unterminated);
        info.lines = line_count as u32;
        // The active segment of a running process may end in a line still being written.
        let writing = live && !gz && Some(seg) == last_segment;
        let mut ts_warned = false;
        for (offset, line) in segment_lines(&bytes) {
            let is_tail = unterminated && offset as usize + 1 == line_count;
            let parsed = deserialize_commit(line);
            if is_tail {
                info.torn = true;
                let what = match &parsed {
                    Ok(_) => "the last line has no newline (interrupted write); the driver cuts it off when it next opens the directory".to_string(),
                    Err(e) => format!("the last line is incomplete (interrupted write): {e}"),
                };
                problems.push(Problem {
                    severity: if writing { Severity::Warning } else { Severity::Error },
                    kind: if writing { "in-progress" } else { "torn" },
                    file: Some(rel.clone()),
                    segment: Some(seg),
                    offset: Some(offset),
                    message: if writing { format!("{what} (a live process holds the lock and may be writing it)") } else { what },
                });
                if parsed.is_err() {
                    continue;
                }
            }
            let commit = match parsed {
                Ok(c) => c,
                Err(e) => {
                    info.malformed += 1;
                    problems.push(Problem {
                        severity: Severity::Error,
                        kind: "malformed",
                        file: Some(rel.clone()),
                        segment: Some(seg),
                        offset: Some(offset),
                        message: format!("malformed commit, skipped when the log is replayed: {e}"),
                    });
                    continue;
                }
            };
            let id = CommitId { segment: seg, offset };
            info.commits += 1;
            info.ops += commit.ops.len() as u64;
            info.first.get_or_insert(id);
            info.last = Some(id);
            if commit.ts != 0.0 {
                if prev_ts.is_some_and(|p| commit.ts < p) && !ts_warned {
                    ts_warned = true;
                    problems.push(Problem {
                        severity: Severity::Warning,
                        kind: "ts-order",
                        file: Some(rel.clone()),
                        segment: Some(seg),
                        offset: Some(offset),
                        message: "commit timestamp goes backwards (clock change?); time-based lookups may be off".into(),
                    });
                }
                prev_ts = Some(commit.ts);
                info.first_ts.get_or_insert(commit.ts);
                info.last_ts = Some(commit.ts);
            }
        }
        if info.lines > MAX_SEGMENT_LINES {
            problems.push(Problem {
                severity: Severity::Warning,
                kind: "line-limit",
                file: Some(rel),
                segment: Some(seg),
                offset: None,
                message: format!("{} lines exceed the {MAX_SEGMENT_LINES}-line segment limit", info.lines),
            });
        }
        segments.push(info);
    }

    check_layout(&segments, &snapshot, &head, &mut problems);
    check_snapshots(&segments, &snapshot, &head, &mut problems);
    let disk_bytes = find_temp_files(dir, &wal_dir, &mut problems);
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
    Ok(Inspection { dir: dir.to_path_buf(), segments, snapshot, head, lock, problems, disk_bytes })
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

/// Adds up the storage files and flags temp files left by interrupted writes.
fn find_temp_files(dir: &Path, wal_dir: &Path, problems: &mut Vec<Problem>) -> u64 {
    let mut bytes = 0;
    for (d, prefix) in [(dir, ""), (wal_dir, "wal/")] {
        let Ok(entries) = fs::read_dir(d) else { continue };
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
                bytes += len;
            }
            if temp {
                problems.push(Problem {
                    severity: Severity::Warning,
                    kind: "temp-file",
                    file: Some(format!("{prefix}{name}")),
                    segment: None,
                    offset: None,
                    message: "left over from an interrupted write; ignored, safe to delete".into(),
                });
            }
        }
    }
    bytes
}

// ---------------------------------------------------------------------------------------
// Directories that hold no WAL storage: a matter.js storage root, another driver's node
// ---------------------------------------------------------------------------------------

/// A node (namespace) directory below a matter.js storage root, and the driver it uses.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeDir {
    /// Directory name (the namespace), e.g. `node0`.
    pub name: String,
    /// The driver: `wal`, `file`, `sqlite`, … as matter.js's StorageService would pick it.
    pub driver: String,
    /// How that was told: `driver.json`, or the legacy layout it was recognised by.
    pub source: String,
}

/// What `driver.json` in `dir` names: `Some(kind)`, with ` (blob storage)` for blob stores.
fn descriptor_kind(dir: &Path) -> Option<String> {
    let text = fs::read_to_string(dir.join("driver.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let kind = value.get("kind")?.as_str()?.to_string();
    Some(if value.get("type").and_then(|t| t.as_str()) == Some("blob") { format!("{kind} (blob storage)") } else { kind })
}

fn has_wal_files(dir: &Path) -> bool {
    dir.join("wal").is_dir() || snapshot_file(dir, "snapshot").is_some() || snapshot_file(dir, "head").is_some()
}

/// Files matter.js's StorageService does not count as data when it looks for a legacy
/// `file`-driver directory (one without `driver.json`).
fn has_data_files(dir: &Path) -> bool {
    fs::read_dir(dir).into_iter().flatten().flatten().any(|e| {
        e.file_type().is_ok_and(|t| t.is_file())
            && !matches!(e.file_name().to_str(), Some("driver.json" | lock::LOCK_FILE | lock::PID_FILE))
    })
}

/// The node directories below `root` (a matter.js storage root), sorted by name, with the
/// driver each uses: its `driver.json`, else a WAL layout, legacy `file` data, or a legacy
/// sibling `<name>.db` (sqlite). Hidden entries (`.migrations`) and directories with nothing
/// of these are left out.
pub fn node_dirs(root: &Path) -> Vec<NodeDir> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(root) else { return found };
    let mut dirs = std::collections::BTreeSet::new();
    let mut dbs = Vec::new();
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
        if name.starts_with('.') {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                dirs.insert(name);
            }
            Ok(t) if t.is_file() && name.len() > 3 && name.ends_with(".db") => dbs.push(name[..name.len() - 3].to_string()),
            _ => {}
        }
    }
    for name in &dirs {
        let dir = root.join(name);
        let (driver, source) = if let Some(kind) = descriptor_kind(&dir) {
            (kind, "driver.json".to_string())
        } else if has_wal_files(&dir) {
            ("wal".into(), "no driver.json; WAL files".into())
        } else if has_data_files(&dir) {
            ("file".into(), "no driver.json; legacy file-driver data".into())
        } else if dbs.contains(name) {
            ("sqlite".into(), format!("no driver.json; legacy {name}.db"))
        } else {
            continue;
        };
        found.push(NodeDir { name: name.clone(), driver, source });
    }
    for name in dbs {
        if !dirs.contains(&name) {
            found.push(NodeDir { driver: "sqlite".into(), source: format!("legacy {name}.db"), name });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// When `dir` holds no WAL storage but is recognisably something else — a node directory
/// of another matter.js driver, or a storage root with node directories below it — a
/// message saying what it is, listing those directories and their drivers. `None` for WAL
/// storage (also an empty one) and for directories with nothing recognisable in them.
pub fn not_wal_storage(dir: &Path) -> Option<String> {
    if !dir.is_dir() || has_wal_files(dir) {
        return None;
    }
    let own = descriptor_kind(dir);
    if own.as_deref() == Some("wal") {
        return None;
    }
    let nodes = node_dirs(dir);
    let mut out = match &own {
        Some(kind) => format!("{} is not a WAL storage directory: its driver.json says matter.js's \"{kind}\" driver", dir.display()),
        None if !nodes.is_empty() => format!(
            "{} is not a WAL storage directory (no wal/, snapshot.json[.gz] or head.json[.gz]); it looks like a matter.js storage root",
            dir.display()
        ),
        None if has_data_files(dir) => {
            return Some(format!(
                "{} is not a WAL storage directory (no wal/, snapshot.json[.gz] or head.json[.gz]); matter.js would take \
                 its files for its \"file\" driver's (no driver.json)",
                dir.display()
            ))
        }
        None => return None,
    };
    if nodes.is_empty() {
        out.push_str(". matter-wal reads directories of the \"wal\" driver only.");
        return Some(out);
    }
    let _ = write!(out, ". The node directories below it:");
    let width = nodes.iter().map(|n| n.name.len()).max().unwrap_or(0);
    let driver_width = nodes.iter().map(|n| n.driver.len()).max().unwrap_or(0);
    for n in &nodes {
        let _ = write!(out, "\n  {:<width$}  {:<driver_width$}  ({})", n.name, n.driver, n.source);
    }
    match nodes.iter().find(|n| n.driver == "wal") {
        Some(n) => {
            let _ = write!(out, "\nmatter-wal reads the \"wal\" ones, e.g. matter-wal inspect {}", dir.join(&n.name).display());
        }
        None => out.push_str("\nNone of them uses the \"wal\" driver, the only one matter-wal reads."),
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------
// State as of a commit or time (dump)
// ---------------------------------------------------------------------------------------

/// Which state to rebuild.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    Latest,
    /// After the last commit with `ts <= t` (ms since epoch).
    Time(f64),
    /// After this commit.
    Commit(CommitId),
}

/// A rebuilt state.
pub struct StateAt {
    /// Last commit included; `None` when nothing was committed up to the target.
    pub commit_id: Option<CommitId>,
    pub ts: f64,
    pub data: StoreData,
    /// Where replay started: `snapshot.json.gz`, `head.json`, … or `log` (from the first commit).
    pub base: String,
    pub replayed: usize,
}

struct Base {
    file: String,
    id: CommitId,
    ts: f64,
    data: StoreData,
}

fn load_base(dir: &Path, basename: &str) -> Option<Base> {
    let (file, _) = snapshot_file(dir, basename)?;
    match snapshot::load(dir, basename) {
        Ok(Some(s)) => Some(Base { file, id: s.commit_id, ts: s.ts, data: s.data }),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!("Ignoring unreadable {e}");
            None
        }
    }
}

/// Rebuilds the state as of `target`, read-only. Starts from the newest of `snapshot.json`
/// and `head.json` that is not past the target (or from the first commit when the log is
/// complete), then replays the log up to the target.
pub fn state_at(dir: &Path, target: Target, progress: Progress) -> Result<StateAt, String> {
    if !dir.is_dir() {
        return Err(not_a_dir(dir).to_string());
    }
    let wal_dir = dir.join("wal");
    let segments = list_segments(&wal_dir).map_err(|e| format!("{}: {e}", wal_dir.display()))?;
    let eligible = |b: &Base| match target {
        Target::Latest => true,
        Target::Time(t) => b.ts != 0.0 && b.ts <= t,
        Target::Commit(c) => b.id <= c,
    };
    let base = [load_base(dir, "snapshot"), load_base(dir, "head")]
        .into_iter()
        .flatten()
        .filter(eligible)
        .max_by_key(|b| b.id);
    if base.is_none() && segments.first().is_some_and(|&f| f > 1) {
        return Err(format!(
            "The state as of {} is no longer available: segments before {} were removed by cleaning and no snapshot is that old",
            describe_target(target),
            segments[0]
        ));
    }
    let (mut data, mut last, mut ts, base_name) = match base {
        Some(b) => (b.data, Some(b.id), b.ts, b.file),
        None => (StoreData::default(), None, 0.0, "log".to_string()),
    };
    let after = last;
    let total = segments.len();
    let mut current = None;
    let mut replayed = 0usize;
    let mut beyond = None;
    read_commits(&wal_dir, after, |c| {
        if current != Some(c.id.segment) {
            current = Some(c.id.segment);
            let n = segments.iter().position(|s| *s == c.id.segment).map_or(0, |p| p + 1);
            progress(&format!("replaying segment {n}/{total} ({:08x})", c.id.segment));
        }
        let past = match target {
            Target::Latest => false,
            Target::Time(t) => c.commit.ts > t,
            Target::Commit(id) => c.id > id,
        };
        if past {
            beyond = Some(c.id);
            return false;
        }
        data.apply(&c.commit.ops);
        last = Some(c.id);
        if c.commit.ts != 0.0 {
            ts = c.commit.ts;
        }
        replayed += 1;
        true
    })
    .map_err(|e| format!("Cannot read the log: {e}"))?;
    if let Target::Commit(id) = target {
        // Only an exact commit id names a state: between, or past, commits there is none.
        if last != Some(id) {
            let around = match (last, beyond) {
                (None, None) => "the log holds no commits".to_string(),
                (Some(l), None) => format!("the last commit is {l}"),
                (None, Some(b)) => format!("the first commit is {b}"),
                (Some(l), Some(b)) => format!("the commits around it are {l} and {b}"),
            };
            return Err(format!("There is no commit {id} in {} ({around}; `matter-wal log` lists them)", dir.display()));
        }
    }
    Ok(StateAt { commit_id: last, ts, data, base: base_name, replayed })
}

fn describe_target(target: Target) -> String {
    match target {
        Target::Latest => "now".into(),
        Target::Time(t) => iso_time(t),
        Target::Commit(c) => format!("commit {c}"),
    }
}

/// True when context key `key` is `context` or below it (`""` matches everything).
pub fn in_context(key: &JsStr, context: &JsStr) -> bool {
    context.is_empty()
        || key == context
        || (key.len() > context.len() && key.starts_with(context) && key.as_bytes()[context.len()] == b'.')
}

/// The contexts of `data` at or below `context`.
pub fn filter_context(data: &StoreData, context: &JsStr) -> StoreData {
    if context.is_empty() {
        return data.clone();
    }
    let mut out = StoreData::default();
    for (key, ctx) in data.contexts() {
        if in_context(key, context) {
            out.put_context(key, ctx.clone());
        }
    }
    out
}

/// `dump` output: the state as matter.js's `toJson(snapshot, 2)` (exactly a snapshot file)
/// when `json`, otherwise one `[context]` header per context and `key = value` lines.
pub fn render_state(state: &StateAt, data: &StoreData, json: bool) -> String {
    if json {
        let id = state.commit_id.unwrap_or(CommitId { segment: 0, offset: 0 });
        let mut out = snapshot::encode(id, state.ts, data);
        out.push(b'\n');
        return String::from_utf8(out).expect("encoder writes UTF-8");
    }
    let mut out = String::new();
    match state.commit_id {
        Some(id) => {
            let _ = writeln!(
                out,
                "# as of commit {id} ({}), {}, {}",
                if state.ts == 0.0 { "time unknown".to_string() } else { iso_time(state.ts) },
                counted(data.context_count() as u64, "context"),
                counted(data.key_count() as u64, "key")
            );
        }
        None => out.push_str("# nothing committed up to this point\n"),
    }
    for (key, ctx) in data.contexts() {
        let _ = writeln!(out, "[{key}]");
        for (k, v) in ctx.iter() {
            out.push_str("  ");
            render_key(&mut out, k);
            out.push_str(" = ");
            render_value(&mut out, &v.decode());
            out.push('\n');
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Commit listing (log)
// ---------------------------------------------------------------------------------------

/// One commit as `log` shows it; `ops` are only those touching the requested context.
pub struct LogEntry {
    pub id: CommitId,
    pub ts: f64,
    pub ops: Vec<Op>,
}

/// True when `op` changes something at or below `context`.
fn touches(op: &Op, context: &JsStr) -> bool {
    match op {
        Op::Del { key, values: None } => in_context(key, context) || in_context(context, key),
        _ => in_context(op.context_key(), context),
    }
}

/// What [`log`] saw besides the entries.
pub struct LogSummary {
    pub commits: usize,
    pub shown: usize,
    pub first_segment: Option<u32>,
}

/// Calls `each` for every commit at or after `since` (ms since epoch) that touches
/// `context` (`""` = all), in log order, with its ops filtered to that context.
pub fn log(dir: &Path, since: Option<f64>, context: &str, progress: Progress, mut each: impl FnMut(LogEntry)) -> Result<LogSummary, String> {
    if !dir.is_dir() {
        return Err(not_a_dir(dir).to_string());
    }
    let wal_dir = dir.join("wal");
    let segments = list_segments(&wal_dir).map_err(|e| format!("{}: {e}", wal_dir.display()))?;
    let total = segments.len();
    let mut current = None;
    let mut summary = LogSummary { commits: 0, shown: 0, first_segment: segments.first().copied() };
    read_commits(&wal_dir, None, |c| {
        if current != Some(c.id.segment) {
            current = Some(c.id.segment);
            let n = segments.iter().position(|s| *s == c.id.segment).map_or(0, |p| p + 1);
            progress(&format!("reading segment {n}/{total} ({:08x})", c.id.segment));
        }
        summary.commits += 1;
        if since.is_some_and(|s| c.commit.ts < s) {
            return true;
        }
        let ops: Vec<Op> = c.commit.ops.into_iter().filter(|op| touches(op, JsStr::new(context))).collect();
        if ops.is_empty() && !context.is_empty() {
            return true;
        }
        summary.shown += 1;
        each(LogEntry { id: c.id, ts: c.commit.ts, ops });
        true
    })
    .map_err(|e| format!("Cannot read the log: {e}"))?;
    Ok(summary)
}

/// Longest rendering of one value on a `log` line.
const LOG_VALUE_CHARS: usize = 48;
/// Most ops spelled out on one `log` line.
const LOG_MAX_OPS: usize = 6;

/// `2025-01-02T03:04:05.678Z  1:14  set a.b k=1 s="x"; del a.c k2; clear a.d`
pub fn render_log_line(entry: &LogEntry) -> String {
    let mut out = String::new();
    let when = if entry.ts == 0.0 { format!("{:<24}", "(no time)") } else { iso_time(entry.ts) };
    let _ = write!(out, "{when}  {:<9}", entry.id.to_string());
    if entry.ops.is_empty() {
        out.push_str(" (no ops)");
    }
    for (i, op) in entry.ops.iter().take(LOG_MAX_OPS).enumerate() {
        out.push_str(if i == 0 { " " } else { "; " });
        match op {
            Op::Upd { key, values, .. } => {
                let _ = write!(out, "set {}", display_context(key));
                for (k, v) in values {
                    out.push(' ');
                    render_key(&mut out, k);
                    out.push('=');
                    let mut s = String::new();
                    render_value(&mut s, &v.decode());
                    out.push_str(&truncate(&s, LOG_VALUE_CHARS));
                }
            }
            Op::Del { key, values: Some(keys) } => {
                let _ = write!(out, "del {}", display_context(key));
                for k in keys {
                    out.push(' ');
                    render_key(&mut out, k);
                }
            }
            Op::Del { key, values: None } => {
                let _ = write!(out, "clear {}", if key.is_empty() { "(everything)".to_string() } else { display_context(key) });
            }
        }
    }
    if entry.ops.len() > LOG_MAX_OPS {
        let _ = write!(out, "; … (+{} more ops)", entry.ops.len() - LOG_MAX_OPS);
    }
    out
}

/// The entry as one JSON line: the WAL line (`toJson` encoding) with its commit id added.
pub fn render_log_json(entry: &LogEntry) -> String {
    let mut line = Vec::with_capacity(128);
    serialize_commit(&mut line, entry.ts, &entry.ops);
    let mut out = format!("{{\"commitId\":{{\"segment\":{},\"offset\":{}}},", entry.id.segment, entry.id.offset).into_bytes();
    out.extend_from_slice(&line[1..]);
    String::from_utf8(out).expect("encoder writes UTF-8")
}

fn display_context(key: &JsStr) -> String {
    if key.is_empty() {
        "(root)".into()
    } else {
        key.to_string()
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

// ---------------------------------------------------------------------------------------
// Compaction
// ---------------------------------------------------------------------------------------

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

#[derive(Debug, Clone, PartialEq)]
pub enum CompactError {
    /// A live process holds the directory lock.
    Locked(String),
    Failed(String),
}

impl std::fmt::Display for CompactError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompactError::Locked(m) | CompactError::Failed(m) => f.write_str(m),
        }
    }
}

fn storage_bytes(dir: &Path) -> u64 {
    let mut none = Vec::new();
    find_temp_files(dir, &dir.join("wal"), &mut none)
}

/// Writes a snapshot of the current state, removes the segments it covers (folding them
/// into the head snapshot) and gzips rotated segments — what the driver's maintenance does,
/// done now. Takes the directory lock first and refuses when a live process holds it.
pub fn compact(dir: &Path, options: &CompactOptions, progress: Progress) -> Result<CompactReport, CompactError> {
    let fail = |m: String| CompactError::Failed(m);
    if !dir.is_dir() {
        return Err(fail(not_a_dir(dir).to_string()));
    }
    let wal_dir = dir.join("wal");
    if !wal_dir.is_dir() && snapshot_file(dir, "snapshot").is_none() && snapshot_file(dir, "head").is_none() {
        return Err(fail(format!(
            "{} is not a WAL storage directory (no wal/, snapshot.json[.gz] or head.json[.gz])",
            dir.display()
        )));
    }
    let stale_lock = lock::holder(dir).and_then(|h| h.stale);
    let mut dir_lock = match DirLock::acquire(dir) {
        Ok(l) => l,
        Err(LockError::Locked(m)) => {
            return Err(CompactError::Locked(format!(
                "Refusing to compact {}: {m}. Stop the process using it (or close its driver) first.",
                dir.display()
            )))
        }
        Err(LockError::Io(e)) => return Err(fail(format!("Cannot lock {}: {e}", dir.display()))),
    };
    let result = compact_locked(dir, &wal_dir, options, progress, stale_lock);
    let released = dir_lock.release();
    let report = result?;
    released.map_err(|e| fail(format!("Compacted, but cannot release the lock: {e}")))?;
    Ok(report)
}

fn compact_locked(
    dir: &Path,
    wal_dir: &Path,
    options: &CompactOptions,
    progress: Progress,
    stale_lock: Option<String>,
) -> Result<CompactReport, CompactError> {
    let fail = CompactError::Failed;
    let bytes_before = storage_bytes(dir);
    // Nobody else writes while we hold the lock, so temp files are leftovers of crashes.
    let mut found = Vec::new();
    find_temp_files(dir, wal_dir, &mut found);
    let mut temp_files_removed = 0;
    for file in found.iter().filter(|p| p.kind == "temp-file").filter_map(|p| p.file.as_ref()) {
        fs::remove_file(dir.join(file)).map_err(|e| fail(format!("Cannot remove {file}: {e}")))?;
        temp_files_removed += 1;
    }
    let segments = list_segments(wal_dir).map_err(|e| fail(format!("{}: {e}", wal_dir.display())))?;
    let existing = snapshot_file(dir, "snapshot");
    let compress = options.compress_snapshot.unwrap_or(existing.as_ref().is_none_or(|(_, gz)| *gz));
    let (mut data, mut last, mut ts, base) = match snapshot::load(dir, "snapshot") {
        Ok(Some(s)) => (s.data, Some(s.commit_id), s.ts, Some(s.commit_id)),
        Ok(None) => (StoreData::default(), None, 0.0, None),
        Err(e) => {
            let head_exists = snapshot_file(dir, "head").is_some();
            if segments.first() == Some(&1) && !head_exists {
                tracing::warn!("Snapshot unreadable, rebuilding from the full log: {e}");
                (StoreData::default(), None, 0.0, None)
            } else {
                return Err(fail(format!("Refusing to compact: cannot load snapshot {e}")));
            }
        }
    };
    if base.is_none() && segments.first().is_some_and(|&f| f > 1) {
        return Err(fail(format!(
            "Refusing to compact: the log starts at segment {} and there is no snapshot (run `matter-wal verify`)",
            segments[0]
        )));
    }
    let total = segments.len();
    let mut current = None;
    let mut replayed = 0usize;
    read_commits(wal_dir, base, |c| {
        if current != Some(c.id.segment) {
            current = Some(c.id.segment);
            let n = segments.iter().position(|s| *s == c.id.segment).map_or(0, |p| p + 1);
            progress(&format!("replaying segment {n}/{total} ({:08x})", c.id.segment));
        }
        data.apply(&c.commit.ops);
        last = Some(c.id);
        if c.commit.ts != 0.0 {
            ts = c.commit.ts;
        }
        replayed += 1;
        true
    })
    .map_err(|e| fail(format!("Cannot read the log: {e}")))?;

    let mut report = CompactReport {
        commit_id: last,
        ts,
        contexts: data.context_count(),
        keys: data.key_count(),
        replayed,
        snapshot_file: None,
        segments_removed: 0,
        segments_compressed: 0,
        bytes_before,
        bytes_after: bytes_before,
        stale_lock,
        temp_files_removed,
    };
    let Some(id) = last else {
        report.bytes_after = storage_bytes(dir);
        return Ok(report);
    };
    progress("writing snapshot");
    snapshot::save(dir, "snapshot", compress, id, ts, &data).map_err(|e| fail(format!("Cannot write snapshot: {e}")))?;
    report.snapshot_file = Some(if compress { "snapshot.json.gz" } else { "snapshot.json" }.to_string());
    progress("removing covered segments");
    let head = options.head_snapshot.then_some(HeadSnapshot { dir, compress });
    report.segments_removed = cleaner::clean(wal_dir, id, head).map_err(|e| fail(format!("Cannot clean the log: {e}")))?;
    if options.compress_log {
        if let Some(&newest) = list_segments(wal_dir).map_err(|e| fail(e.to_string()))?.last() {
            progress("compressing rotated segments");
            report.segments_compressed =
                compress_rotated(wal_dir, newest).map_err(|e| fail(format!("Cannot compress segments: {e}")))?;
        }
    }
    report.bytes_after = storage_bytes(dir);
    Ok(report)
}

// ---------------------------------------------------------------------------------------
// Text rendering
// ---------------------------------------------------------------------------------------

/// `Date.prototype.toISOString` of `ms` since the epoch.
pub fn iso_time(ms: f64) -> String {
    if !ms.is_finite() || ms.abs() > 8.64e15 {
        return "(invalid time)".into();
    }
    let total = ms.trunc() as i64;
    let days = total.div_euclid(86_400_000);
    let rem = total.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    if (0..=9999).contains(&year) {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
    } else {
        format!("{}{:06}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z", if year < 0 { '-' } else { '+' }, year.abs())
    }
}

/// `1 context`, `2 contexts`, `0 contexts`.
pub fn counted(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// `1.5 KiB`-style size.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn js_string(s: &JsStr) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    write_js_string(&mut out, s);
    String::from_utf8(out).expect("escaper keeps UTF-8")
}

/// A property key as JavaScript source would spell it: bare when it is an identifier or an
/// array index, quoted otherwise.
fn render_key(out: &mut String, key: &JsStr) {
    let bytes = key.as_bytes();
    let ident = bytes.first().is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_' || *c == b'$')
        && bytes.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'$');
    if ident || array_index(key).is_some() {
        out.push_str(&key.to_string_lossy());
    } else {
        out.push_str(&js_string(key));
    }
}

/// A value on one line, close to how Node's `util.inspect` shows it: `12n` for bigint,
/// `<3 bytes 0a0b0c>` for Uint8Array, `Map(1) { 1 => "x" }`.
pub fn render_value(out: &mut String, v: &Value) {
    match v {
        Value::Undefined => out.push_str("undefined"),
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Interval(_) => out.push_str("NaN"),
        Value::Number(n) => {
            let mut buf = Vec::new();
            write_number(&mut buf, *n);
            out.push_str(std::str::from_utf8(&buf).unwrap_or("NaN"));
        }
        Value::String(s) => out.push_str(&js_string(s)),
        Value::BigInt(s) => {
            out.push_str(s);
            out.push('n');
        }
        Value::Bytes(b) => {
            let _ = write!(out, "<{} bytes", b.len());
            if !b.is_empty() {
                out.push(' ');
                for byte in b {
                    let _ = write!(out, "{byte:02x}");
                }
            }
            out.push('>');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_value(out, item);
            }
            out.push(']');
        }
        Value::Object(obj) => {
            if obj.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push_str("{ ");
            for (i, (k, v)) in obj.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_key(out, k);
                out.push_str(": ");
                render_value(out, v);
            }
            out.push_str(" }");
        }
        Value::Map(entries) => {
            let _ = write!(out, "Map({})", entries.len());
            if entries.is_empty() {
                out.push_str(" {}");
                return;
            }
            out.push_str(" { ");
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_value(out, k);
                out.push_str(" => ");
                render_value(out, v);
            }
            out.push_str(" }");
        }
    }
}

fn time_range(first: Option<f64>, last: Option<f64>) -> String {
    match (first, last) {
        (Some(a), Some(b)) if a == b => iso_time(a),
        (Some(a), Some(b)) => format!("{} .. {}", iso_time(a), iso_time(b)),
        _ => "-".into(),
    }
}

fn render_snapshot_line(out: &mut String, label: &str, state: &SnapshotState) {
    match state {
        SnapshotState::Missing => {
            let _ = writeln!(out, "{label:<10}none");
        }
        SnapshotState::Bad { file, message } => {
            let _ = writeln!(out, "{label:<10}{file}  UNREADABLE: {message}");
        }
        SnapshotState::Ok(s) => {
            let _ = writeln!(
                out,
                "{label:<10}{}  {}  commit {}  {}  {}, {}",
                s.file,
                human_bytes(s.size),
                s.commit_id,
                if s.ts == 0.0 { "(no time)".to_string() } else { iso_time(s.ts) },
                counted(s.contexts as u64, "context"),
                counted(s.keys as u64, "key")
            );
        }
    }
}

/// Where a problem is: `wal/00000003.jsonl line 8 (commit 3:7)`.
pub fn problem_location(p: &Problem) -> String {
    let mut at = p.file.clone().unwrap_or_default();
    if let (Some(seg), Some(off)) = (p.segment, p.offset) {
        if p.file.as_deref().is_some_and(|f| f.starts_with("wal/")) {
            let _ = write!(at, " line {} (commit {seg}:{off})", off + 1);
        } else {
            let _ = write!(at, " (commit {seg}:{off})");
        }
    } else if at.is_empty() {
        if let Some(seg) = p.segment {
            at = format!("segment {seg}");
        }
    }
    at
}

fn render_problems(out: &mut String, problems: &[Problem]) {
    for p in problems {
        let at = problem_location(p);
        let _ = writeln!(
            out,
            "{:<8}{}{}: {}",
            p.severity.as_str(),
            at,
            if at.is_empty() { p.kind.to_string() } else { format!("  {}", p.kind) },
            p.message
        );
    }
}

fn render_lock(holder: &Option<LockHolder>) -> String {
    match holder {
        None => "none".into(),
        Some(h) => {
            let who = h.pid.map_or("an unknown process (no matter.pid)".to_string(), |p| format!("pid {p}"));
            match &h.stale {
                None => format!("held by {who} (running)"),
                Some(reason) => format!("stale, left by {who}: {reason} (reclaimed by the next open)"),
            }
        }
    }
}

/// `inspect`'s report.
pub fn render_inspection(ins: &Inspection) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<10}{}", "Storage", ins.dir.display());
    let _ = writeln!(out, "{:<10}{}", "Lock", render_lock(&ins.lock));
    render_snapshot_line(&mut out, "Snapshot", &ins.snapshot);
    render_snapshot_line(&mut out, "Head", &ins.head);
    let gz = ins.segments.iter().filter(|s| s.compressed).count();
    let on_disk: u64 = ins.segments.iter().map(|s| s.gz_size.unwrap_or(0) + s.plain_size.unwrap_or(0)).sum();
    let _ = writeln!(
        out,
        "{:<10}{} ({} plain, {} gz), {} on disk, {}, {}",
        "Segments",
        ins.segments.len(),
        ins.segments.len() - gz,
        gz,
        human_bytes(on_disk),
        counted(ins.commits(), "commit"),
        time_range(ins.first_ts(), ins.last_ts())
    );
    if !ins.segments.is_empty() {
        let _ = writeln!(out, "  {:<20} {:>10} {:>10} {:>8}  {:<11} time range", "file", "on disk", "data", "commits", "offsets");
        for s in &ins.segments {
            let size = s.gz_size.or(s.plain_size).unwrap_or(0);
            let ids = match (s.first, s.last) {
                (Some(a), Some(b)) => format!("{}..{}", a.offset, b.offset),
                _ => "-".into(),
            };
            let mut flags = String::new();
            if !s.readable {
                flags.push_str("  UNREADABLE");
            }
            if s.malformed > 0 {
                let _ = write!(flags, "  {} malformed", s.malformed);
            }
            if s.torn {
                flags.push_str("  torn tail");
            }
            let _ = writeln!(
                out,
                "  {:<20} {:>10} {:>10} {:>8}  {:<11} {}{flags}",
                s.file,
                human_bytes(size),
                human_bytes(s.data_size),
                s.commits,
                ids,
                time_range(s.first_ts, s.last_ts)
            );
        }
    }
    let _ = writeln!(out, "{:<10}{}", "Total", human_bytes(ins.disk_bytes));
    if ins.problems.is_empty() {
        let _ = writeln!(out, "{:<10}none", "Problems");
    } else {
        let _ = writeln!(out, "{:<10}{}, {}", "Problems", counted(ins.errors() as u64, "error"), counted(ins.warnings() as u64, "warning"));
        render_problems(&mut out, &ins.problems);
    }
    out
}

/// `verify`'s report: what was checked, every problem, and the verdict.
pub fn render_verification(ins: &Inspection) -> String {
    let mut out = String::new();
    let mut checked = vec![format!("{} ({})", counted(ins.segments.len() as u64, "segment"), counted(ins.commits(), "commit"))];
    for state in [&ins.snapshot, &ins.head] {
        match state {
            SnapshotState::Ok(s) => checked.push(s.file.clone()),
            SnapshotState::Bad { file, .. } => checked.push(file.clone()),
            SnapshotState::Missing => {}
        }
    }
    let _ = writeln!(out, "checked {} in {}", checked.join(", "), ins.dir.display());
    render_problems(&mut out, &ins.problems);
    let verdict = if ins.errors() > 0 { "DAMAGED" } else { "OK" };
    let _ = writeln!(out, "{verdict}: {}, {}", counted(ins.errors() as u64, "error"), counted(ins.warnings() as u64, "warning"));
    out
}

/// `compact`'s report.
pub fn render_compaction(dir: &Path, r: &CompactReport) -> String {
    let mut out = String::new();
    if let Some(reason) = &r.stale_lock {
        let _ = writeln!(out, "reclaimed a stale lock: {reason}");
    }
    if r.temp_files_removed > 0 {
        let _ = writeln!(out, "removed {} left by interrupted writes", counted(r.temp_files_removed as u64, "temp file"));
    }
    match r.commit_id {
        None => {
            let _ = writeln!(out, "{}: no commits, nothing to compact", dir.display());
        }
        Some(id) => {
            let _ = writeln!(
                out,
                "{}: snapshot at commit {id} ({}, {}, {} replayed) written to {}",
                dir.display(),
                counted(r.contexts as u64, "context"),
                counted(r.keys as u64, "key"),
                counted(r.replayed as u64, "commit"),
                r.snapshot_file.as_deref().unwrap_or("-")
            );
            let _ = writeln!(
                out,
                "removed {}, compressed {}; {} -> {}",
                counted(r.segments_removed as u64, "segment"),
                r.segments_compressed,
                human_bytes(r.bytes_before),
                human_bytes(r.bytes_after)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::stored::Encoded;
    use crate::lock::{LOCK_FILE, PID_FILE};

    fn upd(key: &str, k: &str, v: Value) -> Op {
        Op::upd(key, vec![(k.into(), Encoded::from_value(&v))])
    }

    fn line(ts: f64, ops: &[Op]) -> String {
        let mut out = Vec::new();
        serialize_commit(&mut out, ts, ops);
        String::from_utf8(out).unwrap() + "\n"
    }

    fn write_segment(dir: &Path, seg: u32, text: &str) {
        fs::create_dir_all(dir.join("wal")).unwrap();
        fs::write(dir.join("wal").join(segment_filename(seg)), text).unwrap();
    }

    fn quiet() -> impl FnMut(&str) {
        |_| {}
    }

    #[test]
    fn iso_time_matches_javascript() {
        assert_eq!(iso_time(0.0), "1970-01-01T00:00:00.000Z");
        // new Date(1700000000123).toISOString()
        assert_eq!(iso_time(1_700_000_000_123.0), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso_time(951_782_400_000.0), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso_time(-1.0), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn renders_values_readably() {
        let mut s = String::new();
        let obj = crate::codec::value::JsObject::from_ordered(vec![
            ("a".into(), Value::BigInt("12".into())),
            ("with space".into(), Value::Bytes(vec![1, 0xab])),
            ("m".into(), Value::Map(vec![(Value::Number(1.0), Value::String("x\"y".into()))])),
        ]);
        render_value(&mut s, &Value::Object(obj));
        assert_eq!(s, r#"{ a: 12n, "with space": <2 bytes 01ab>, m: Map(1) { 1 => "x\"y" } }"#);
    }

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
    fn state_at_picks_the_right_base() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_segment(
            d,
            1,
            &(line(100.0, &[upd("a", "k", Value::Number(1.0))])
                + &line(200.0, &[upd("a.b", "k", Value::Number(2.0))])
                + &line(300.0, &[Op::Del { key: "a".into(), values: None }])),
        );
        let at = |t| state_at(d, t, &mut quiet()).unwrap();
        assert_eq!(at(Target::Latest).data.key_count(), 0);
        let s = at(Target::Time(250.0));
        assert_eq!((s.commit_id, s.data.key_count(), s.base.as_str()), (Some(CommitId { segment: 1, offset: 1 }), 2, "log"));
        let s = at(Target::Commit(CommitId { segment: 1, offset: 0 }));
        assert_eq!(s.data.key_count(), 1);
        assert_eq!(at(Target::Time(50.0)).commit_id, None);

        // A snapshot past the target is not used; one before it is.
        let mut data = StoreData::default();
        data.apply(&[upd("a", "k", Value::Number(1.0))]);
        snapshot::save(d, "snapshot", true, CommitId { segment: 1, offset: 0 }, 100.0, &data).unwrap();
        let s = at(Target::Time(250.0));
        assert_eq!((s.base.as_str(), s.replayed, s.data.key_count()), ("snapshot.json.gz", 1, 2));

        // Once the beginning of the log is gone, older states are refused.
        fs::rename(d.join("wal/00000001.jsonl"), d.join("wal/00000002.jsonl")).unwrap();
        assert!(state_at(d, Target::Time(50.0), &mut quiet()).err().unwrap().contains("no longer available"));
        let json = render_state(&at(Target::Latest), &at(Target::Latest).data, true);
        assert!(json.starts_with("{\n  \"commitId\": {"));
    }

    #[test]
    fn state_at_a_commit_that_does_not_exist_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_segment(d, 1, &(line(100.0, &[upd("a", "k", Value::Number(1.0))]) + "not json\n" + &line(300.0, &[])));
        let at = |segment, offset| state_at(d, Target::Commit(CommitId { segment, offset }), &mut quiet());
        assert_eq!(at(1, 0).unwrap().commit_id, Some(CommitId { segment: 1, offset: 0 }));
        assert_eq!(at(1, 2).unwrap().commit_id, Some(CommitId { segment: 1, offset: 2 }));
        let err = |segment, offset| at(segment, offset).err().expect("an error");
        // Past the end, on a malformed line, before the first commit of a later-starting log.
        assert!(err(99, 0).contains("There is no commit 99:0") && err(99, 0).contains("the last commit is 1:2"), "{}", err(99, 0));
        assert!(err(1, 1).contains("the commits around it are 1:0 and 1:2"), "{}", err(1, 1));
        assert!(err(1, 3).contains("the last commit is 1:2"), "{}", err(1, 3));
        assert!(err(0, 5).contains("the first commit is 1:0"), "{}", err(0, 5));
        // A commit a snapshot was taken at is still a state even when the log moved on.
        let mut data = StoreData::default();
        data.apply(&[upd("a", "k", Value::Number(1.0))]);
        snapshot::save(d, "snapshot", true, CommitId { segment: 1, offset: 0 }, 100.0, &data).unwrap();
        assert_eq!(at(1, 0).unwrap().base, "snapshot.json.gz");
        let empty = tempfile::tempdir().unwrap();
        fs::create_dir(empty.path().join("wal")).unwrap();
        let e = state_at(empty.path(), Target::Commit(CommitId { segment: 1, offset: 0 }), &mut quiet()).err().unwrap();
        assert!(e.contains("the log holds no commits"), "{e}");
    }

    #[test]
    fn counted_uses_the_singular_for_one() {
        assert_eq!(counted(1u64, "context"), "1 context");
        assert_eq!(counted(0u64, "context"), "0 contexts");
        assert_eq!(counted(2u32, "temp file"), "2 temp files");
        let dir = tempfile::tempdir().unwrap();
        write_segment(dir.path(), 1, &line(100.0, &[upd("a", "k", Value::Number(1.0))]));
        let text = render_state(&state_at(dir.path(), Target::Latest, &mut quiet()).unwrap(), &StoreData::default(), false);
        assert!(text.contains("), 0 contexts, 0 keys"), "{text}");
        let state = state_at(dir.path(), Target::Latest, &mut quiet()).unwrap();
        let text = render_state(&state, &state.data, false);
        assert!(text.contains("), 1 context, 1 key\n"), "{text}");
        let ins = examine(dir.path(), &mut quiet()).unwrap();
        assert!(render_inspection(&ins).contains(" 1 commit, "), "{}", render_inspection(&ins));
        assert!(render_verification(&ins).contains("checked 1 segment (1 commit)"), "{}", render_verification(&ins));
    }

    #[test]
    fn a_storage_root_or_another_drivers_directory_is_described_with_its_node_directories() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let node = |name: &str| {
            fs::create_dir_all(r.join(name)).unwrap();
            r.join(name)
        };
        fs::write(node("light").join("driver.json"), r#"{"kind":"wal","type":"kv"}"#).unwrap();
        write_segment(&r.join("light"), 1, &line(1.0, &[]));
        fs::write(node("bridge").join("driver.json"), r#"{"kind":"file","type":"kv"}"#).unwrap();
        fs::write(node("bridge").join("fabrics.list"), "[]").unwrap();
        fs::write(node("legacy").join("root.basicInformation"), "{}").unwrap();
        write_segment(&node("plainwal"), 1, &line(1.0, &[]));
        node("sensor");
        fs::write(r.join("sensor.db"), b"").unwrap();
        fs::write(r.join("old.db"), b"").unwrap();
        fs::write(node("blobs").join("driver.json"), r#"{"kind":"file","type":"blob"}"#).unwrap();
        node("empty");
        node(".migrations/light-old-file-1");
        let names = |v: Vec<NodeDir>| v.into_iter().map(|n| format!("{} {} ({})", n.name, n.driver, n.source)).collect::<Vec<_>>();
        assert_eq!(
            names(node_dirs(r)),
            vec![
                "blobs file (blob storage) (driver.json)",
                "bridge file (driver.json)",
                "legacy file (no driver.json; legacy file-driver data)",
                "light wal (driver.json)",
                "old sqlite (legacy old.db)",
                "plainwal wal (no driver.json; WAL files)",
                "sensor sqlite (no driver.json; legacy sensor.db)",
            ]
        );
        let message = not_wal_storage(r).expect("a storage root is not WAL storage");
        assert!(
            message.contains(
                "looks like a matter.js storage root. The node directories below it:\n  blobs     file (blob storage)  (driver.json)\n"
            ),
            "{message}"
        );
        assert!(message.contains("\n  light     wal                  (driver.json)\n"), "{message}");
        assert!(message.ends_with(&format!("e.g. matter-wal inspect {}", r.join("light").display())), "{message}");

        // Another driver's node directory, and what stays WAL storage.
        let bridge = not_wal_storage(&r.join("bridge")).unwrap();
        assert_eq!(bridge, format!("{} is not a WAL storage directory: its driver.json says matter.js's \"file\" driver. matter-wal reads directories of the \"wal\" driver only.", r.join("bridge").display()));
        assert!(not_wal_storage(&r.join("legacy")).unwrap().contains("would take its files for its \"file\" driver's"));
        assert_eq!(not_wal_storage(&r.join("light")), None);
        assert_eq!(not_wal_storage(&r.join("plainwal")), None);
        assert_eq!(not_wal_storage(&r.join("empty")), None);
        fs::write(r.join("empty/driver.json"), r#"{"kind":"wal"}"#).unwrap();
        assert_eq!(not_wal_storage(&r.join("empty")), None, "a wal namespace not written yet");
        assert_eq!(not_wal_storage(&r.join("missing")), None);
    }

    #[test]
    fn log_filters_by_context_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_segment(
            d,
            1,
            &(line(100.0, &[upd("a.b", "k", Value::String("v".into())), upd("c", "x", Value::Null)])
                + &line(200.0, &[upd("c", "y", Value::Null)])
                + &line(300.0, &[Op::Del { key: "".into(), values: None }])),
        );
        let mut lines = Vec::new();
        let summary = log(d, None, "a", &mut quiet(), |e| lines.push(render_log_line(&e))).unwrap();
        assert_eq!((summary.commits, summary.shown), (3, 2));
        assert!(lines[0].ends_with("1:0       set a.b k=\"v\""), "{}", lines[0]);
        assert!(lines[1].ends_with("clear (everything)"), "{}", lines[1]);
        let mut json = Vec::new();
        log(d, Some(150.0), "", &mut quiet(), |e| json.push(render_log_json(&e))).unwrap();
        assert_eq!(json[0], r#"{"commitId":{"segment":1,"offset":1},"ts":200,"ops":[{"op":"upd","key":"c","values":{"y":null}}]}"#);
        assert_eq!(json.len(), 2);
    }

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
            Err(CompactError::Locked(m)) => assert!(m.contains("locked by another process (pid 1)"), "{m}"),
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
        assert_eq!(state_at(d, Target::Time(1.5), &mut quiet()).err().unwrap().contains("no longer available"), true);
        assert_eq!(state_at(d, Target::Time(2.5), &mut quiet()).unwrap().data.key_count(), 2);
    }
}
