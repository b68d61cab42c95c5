//! Each command's report for people, from the data the command returned: `inspect`'s
//! overview, `verify`'s verdict, `dump`'s `[context]` / `key = value` listing (or the
//! snapshot-file JSON), `log`'s one line per commit (or the WAL line as JSON), and what
//! `compact` did. Kept apart from the commands so their data can go to JavaScript as is.

use std::fmt::Write as _;
use std::path::Path;

use crate::codec::jsstr::JsStr;
use crate::lock::LockHolder;
use crate::log::commit::{serialize_commit, CommitId, Op};
use crate::snapshot;
use crate::store::StoreData;

use super::compact::CompactReport;
use super::dump::StateAt;
use super::inspect::{Inspection, Problem, SnapshotState};
use super::log::LogEntry;
use super::render::{counted, human_bytes, iso_time, render_key, render_value, time_range, truncate};

// ---------------------------------------------------------------------------------------
// inspect / verify
// ---------------------------------------------------------------------------------------

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
fn problem_location(p: &Problem) -> String {
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

// ---------------------------------------------------------------------------------------
// dump
// ---------------------------------------------------------------------------------------

/// `dump` output: the state as matter.js's `toJson(snapshot, 2)` (exactly a snapshot file)
/// when `json`, otherwise one `[context]` header per context and `key = value` lines.
/// `data` is the state's data as shown (filtered to a context).
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
// log
// ---------------------------------------------------------------------------------------

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
        render_op(&mut out, op);
    }
    if entry.ops.len() > LOG_MAX_OPS {
        let _ = write!(out, "; … (+{} more ops)", entry.ops.len() - LOG_MAX_OPS);
    }
    out
}

/// `set a.b k=1 s="x"`, `del a.c k2`, `clear a.d`.
fn render_op(out: &mut String, op: &Op) {
    match op {
        Op::Upd { key, values, .. } => {
            let _ = write!(out, "set {}", display_context(key));
            for (k, v) in values {
                out.push(' ');
                render_key(out, k);
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
                render_key(out, k);
            }
        }
        Op::Del { key, values: None } => {
            let _ = write!(out, "clear {}", if key.is_empty() { "(everything)".to_string() } else { display_context(key) });
        }
    }
}

fn display_context(key: &JsStr) -> String {
    if key.is_empty() {
        "(root)".into()
    } else {
        key.to_string()
    }
}

/// The entry as one JSON line: the WAL line (`toJson` encoding) with its commit id added.
pub fn render_log_json(entry: &LogEntry) -> String {
    let mut line = Vec::with_capacity(128);
    serialize_commit(&mut line, entry.ts, &entry.ops);
    let mut out = format!("{{\"commitId\":{{\"segment\":{},\"offset\":{}}},", entry.id.segment, entry.id.offset).into_bytes();
    out.extend_from_slice(&line[1..]);
    String::from_utf8(out).expect("encoder writes UTF-8")
}

// ---------------------------------------------------------------------------------------
// compact
// ---------------------------------------------------------------------------------------

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
    use super::super::dump::{state_at, Target};
    use super::super::inspect::examine;
    use super::super::testing::{line, quiet, upd, write_segment};
    use super::*;
    use crate::codec::value::Value;

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
    fn log_lines_cut_long_values_and_many_ops() {
        let long = "x".repeat(100);
        let mut ops: Vec<Op> = (0..8).map(|i| upd("a", &format!("k{i}"), Value::Null)).collect();
        ops[0] = upd("a", "s", Value::String(long.as_str().into()));
        ops[1] = Op::Del { key: "".into(), values: Some(vec!["with space".into()]) };
        let text = render_log_line(&LogEntry { id: CommitId { segment: 10, offset: 2 }, ts: 0.0, ops });
        let cut = format!("\"{}…", "x".repeat(46));
        assert!(
            text.starts_with(&format!("(no time){}  10:2      set a s={cut}; del (root) \"with space\"; set a k2=null", " ".repeat(15))),
            "{text}"
        );
        assert!(text.ends_with("set a k5=null; … (+2 more ops)"), "{text}");
        let empty = render_log_line(&LogEntry { id: CommitId { segment: 1, offset: 0 }, ts: 0.0, ops: Vec::new() });
        assert!(empty.ends_with("1:0       (no ops)"), "{empty}");
    }
}
