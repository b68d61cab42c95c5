//! `dump`: the state as of a commit or a time, rebuilt without changing anything. Replay
//! starts from the newest of `snapshot.json` and `head.json` that is not past the target, or
//! from the first commit while the log is complete, so states folded into `head.json` by
//! cleaning stay reachable; older states are refused with a message saying why.

use std::path::Path;

use crate::error::{Error, Result};
use crate::log::commit::CommitId;
use crate::log::reader::{list_segments, ReadCommit};
use crate::log::replay::State;
use crate::snapshot::{self, Snapshot};
use crate::store::StoreData;

use super::render::iso_time;
use super::{not_a_dir, replay, snapshot_file, Progress};

/// Which state to rebuild.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    Latest,
    /// After the last commit with `ts <= t` (ms since epoch).
    Time(f64),
    /// After this commit.
    Commit(CommitId),
}

impl Target {
    /// True when a state at `id` with time `ts` comes after the target.
    fn is_past(self, id: CommitId, ts: f64) -> bool {
        match self {
            Target::Latest => false,
            Target::Time(t) => ts > t,
            Target::Commit(c) => id > c,
        }
    }

    /// True when replay for the target may start from `snapshot`. A snapshot without a time
    /// (written from legacy lines) cannot be placed in time, so time targets skip it.
    fn may_start_from(self, snapshot: &Snapshot) -> bool {
        match self {
            Target::Latest => true,
            Target::Time(t) => snapshot.ts != 0.0 && snapshot.ts <= t,
            Target::Commit(c) => snapshot.commit_id <= c,
        }
    }

    fn describe(self) -> String {
        match self {
            Target::Latest => "now".into(),
            Target::Time(t) => iso_time(t),
            Target::Commit(c) => format!("commit {c}"),
        }
    }
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

/// A snapshot file replay can start from, with its file name.
struct Base {
    file: String,
    snapshot: Snapshot,
}

/// `basename`'s snapshot file, loaded; an unreadable one is skipped with a warning.
fn load_base(dir: &Path, basename: &str) -> Option<Base> {
    let (file, _) = snapshot_file(dir, basename)?;
    match snapshot::load(dir, basename) {
        Ok(Some(snapshot)) => Some(Base { file, snapshot }),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!("Ignoring unreadable {e}");
            None
        }
    }
}

/// The newest of `snapshot.json` and `head.json` replay for `target` may start from.
fn choose_base(dir: &Path, target: Target) -> Option<Base> {
    [load_base(dir, "snapshot"), load_base(dir, "head")]
        .into_iter()
        .flatten()
        .filter(|b| target.may_start_from(&b.snapshot))
        .max_by_key(|b| b.snapshot.commit_id)
}

/// Rebuilds the state as of `target`, read-only. Starts from the newest of `snapshot.json`
/// and `head.json` that is not past the target (or from the first commit when the log is
/// complete), then replays the log up to the target.
pub fn state_at(dir: &Path, target: Target, progress: Progress) -> Result<StateAt> {
    if !dir.is_dir() {
        return Err(not_a_dir(dir));
    }
    let wal_dir = dir.join("wal");
    let segments = list_segments(&wal_dir)?;
    let base = choose_base(dir, target);
    if base.is_none() && segments.first().is_some_and(|&f| f > 1) {
        return Err(Error::NoHistory(format!(
            "The state as of {} is no longer available: segments before {} were removed by cleaning and no snapshot is that old",
            target.describe(),
            segments[0]
        )));
    }
    let (base, mut state) = match base {
        Some(b) => (b.file, State::from_snapshot(Some(b.snapshot))),
        None => ("log".to_string(), State::default()),
    };
    let past = |c: &ReadCommit| target.is_past(c.id, c.commit.ts);
    let replayed = replay(&wal_dir, &segments, &mut state, progress, past).map_err(|e| e.context("Cannot read the log"))?;
    if let Target::Commit(id) = target {
        // Only an exact commit id names a state: between, or past, commits there is none.
        if state.last_commit != Some(id) {
            return Err(Error::NoHistory(no_such_commit(dir, id, state.last_commit, replayed.beyond)));
        }
    }
    Ok(StateAt { commit_id: state.last_commit, ts: state.last_ts, data: state.store, base, replayed: replayed.count })
}

/// Why commit `id` names no state, with the commits around it: `last`, the last one up to
/// it, and `beyond`, the first one after it.
fn no_such_commit(dir: &Path, id: CommitId, last: Option<CommitId>, beyond: Option<CommitId>) -> String {
    let around = match (last, beyond) {
        (None, None) => "the log holds no commits".to_string(),
        (Some(l), None) => format!("the last commit is {l}"),
        (None, Some(b)) => format!("the first commit is {b}"),
        (Some(l), Some(b)) => format!("the commits around it are {l} and {b}"),
    };
    format!("There is no commit {id} in {} ({around}; `matter-wal log` lists them)", dir.display())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::report::render_state;
    use super::super::testing::{line, quiet, upd, write_segment};
    use super::*;
    use crate::codec::value::Value;
    use crate::log::commit::Op;

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
        assert!(state_at(d, Target::Time(50.0), &mut quiet()).err().unwrap().to_string().contains("no longer available"));
        let json = render_state(&at(Target::Latest), &at(Target::Latest).data, true);
        assert!(json.starts_with("{\n  \"commitId\": {"));
    }

    #[test]
    fn a_snapshot_without_a_time_is_no_base_for_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_segment(d, 1, &line(100.0, &[upd("a", "k", Value::Number(1.0))]));
        let mut data = StoreData::default();
        data.apply(&[upd("a", "k", Value::Number(1.0))]);
        snapshot::save(d, "snapshot", false, CommitId { segment: 1, offset: 0 }, 0.0, &data).unwrap();
        let s = state_at(d, Target::Time(150.0), &mut quiet()).unwrap();
        assert_eq!((s.base.as_str(), s.replayed, s.ts), ("log", 1, 100.0));
        let s = state_at(d, Target::Commit(CommitId { segment: 1, offset: 0 }), &mut quiet()).unwrap();
        assert_eq!((s.base.as_str(), s.replayed, s.ts), ("snapshot.json", 0, 0.0));
    }

    #[test]
    fn state_at_a_commit_that_does_not_exist_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_segment(d, 1, &(line(100.0, &[upd("a", "k", Value::Number(1.0))]) + "not json\n" + &line(300.0, &[])));
        let at = |segment, offset| state_at(d, Target::Commit(CommitId { segment, offset }), &mut quiet());
        assert_eq!(at(1, 0).unwrap().commit_id, Some(CommitId { segment: 1, offset: 0 }));
        assert_eq!(at(1, 2).unwrap().commit_id, Some(CommitId { segment: 1, offset: 2 }));
        let err = |segment, offset| at(segment, offset).err().expect("an error").to_string();
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
        let e = state_at(empty.path(), Target::Commit(CommitId { segment: 1, offset: 0 }), &mut quiet()).err().unwrap().to_string();
        assert!(e.contains("the log holds no commits"), "{e}");
    }
}
