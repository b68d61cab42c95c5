//! `log`: the commits still in the log, in order, optionally from a time on and only those
//! touching a context (with only their ops on it). Commits cleaning folded into
//! `head.json` are gone from the log; [`LogSummary::first_segment`] tells.

use std::path::Path;

use crate::error::Result;
use crate::log::commit::{CommitId, Op};
use crate::log::reader::{list_segments, read_commits};

use super::{not_a_dir, ContextFilter, Progress, SegmentSteps};

/// One commit as `log` shows it; `ops` are only those touching the requested context.
pub struct LogEntry {
    pub id: CommitId,
    pub ts: f64,
    pub ops: Vec<Op>,
}

/// What [`log`] saw besides the entries.
pub struct LogSummary {
    /// Commits read.
    pub commits: usize,
    /// Commits passed to the caller.
    pub shown: usize,
    /// First segment still in the log; above 1 when older segments were cleaned away.
    pub first_segment: Option<u32>,
}

/// Calls `each` for every commit at or after `since` (ms since epoch) that touches
/// `context`, in log order, with its ops filtered to that context.
pub fn log(
    dir: &Path,
    since: Option<f64>,
    context: ContextFilter,
    progress: Progress,
    mut each: impl FnMut(LogEntry),
) -> Result<LogSummary> {
    if !dir.is_dir() {
        return Err(not_a_dir(dir));
    }
    let wal_dir = dir.join("wal");
    let segments = list_segments(&wal_dir)?;
    let mut steps = SegmentSteps::new("reading", &segments, progress);
    let mut summary = LogSummary { commits: 0, shown: 0, first_segment: segments.first().copied() };
    read_commits(&wal_dir, None, |c| {
        steps.at(c.id.segment);
        summary.commits += 1;
        if since.is_some_and(|s| c.commit.ts < s) {
            return true;
        }
        let ops: Vec<Op> = c.commit.ops.into_iter().filter(|op| context.touches(op)).collect();
        if ops.is_empty() && !context.is_all() {
            return true;
        }
        summary.shown += 1;
        each(LogEntry { id: c.id, ts: c.commit.ts, ops });
        true
    })
    .map_err(|e| e.context("Cannot read the log"))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::super::report::{render_log_json, render_log_line};
    use super::super::testing::{line, quiet, upd, write_segment};
    use super::*;
    use crate::codec::value::Value;

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
        let all = ContextFilter::parse("").unwrap();
        let a = ContextFilter::parse("a").unwrap();
        let mut lines = Vec::new();
        let summary = log(d, None, a, &mut quiet(), |e| lines.push(render_log_line(&e))).unwrap();
        assert_eq!((summary.commits, summary.shown), (3, 2));
        assert!(lines[0].ends_with("1:0       set a.b k=\"v\""), "{}", lines[0]);
        assert!(lines[1].ends_with("clear (everything)"), "{}", lines[1]);
        let mut json = Vec::new();
        log(d, Some(150.0), all, &mut quiet(), |e| json.push(render_log_json(&e))).unwrap();
        assert_eq!(json[0], r#"{"commitId":{"segment":1,"offset":1},"ts":200,"ops":[{"op":"upd","key":"c","values":{"y":null}}]}"#);
        assert_eq!(json.len(), 2);
    }
}
