//! Replaying commits onto a state: the one rule every replay follows (loading, history,
//! head snapshots, the `matter-wal` tool) — apply the ops in order, remember the last
//! commit id, keep the last non-zero timestamp (legacy bare-array lines have none).

use crate::log::commit::{Commit, CommitId};
use crate::snapshot::Snapshot;
use crate::store::StoreData;

/// A state as of one commit.
#[derive(Clone, Default)]
pub struct State {
    /// The committed values.
    pub store: StoreData,
    /// The last commit applied; `None` when nothing was ever committed.
    pub last_commit: Option<CommitId>,
    /// Milliseconds since the epoch of the last commit that has a time (0: none yet).
    pub last_ts: f64,
}

impl State {
    /// The state a snapshot holds (empty when there is none).
    pub fn from_snapshot(snapshot: Option<Snapshot>) -> State {
        match snapshot {
            Some(s) => State { store: s.data, last_commit: Some(s.commit_id), last_ts: s.ts },
            None => State::default(),
        }
    }

    /// Applies commit `id`.
    pub fn apply(&mut self, id: CommitId, commit: &Commit) {
        self.store.apply(&commit.ops);
        self.last_commit = Some(id);
        if commit.ts != 0.0 {
            self.last_ts = commit.ts;
        }
    }

    /// This state as a snapshot, when anything was ever committed.
    pub fn into_snapshot(self) -> Option<Snapshot> {
        Some(Snapshot { commit_id: self.last_commit?, ts: self.last_ts, data: self.store })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::stored::Encoded;
    use crate::codec::value::Value;
    use crate::log::commit::Op;

    #[test]
    fn keeps_the_last_id_and_the_last_time_a_commit_had() {
        let mut s = State::default();
        let upd = |n: f64| vec![Op::upd("c", vec![("k".into(), Encoded::from_value(&Value::Number(n)))])];
        s.apply(CommitId { segment: 1, offset: 0 }, &Commit { ts: 5.0, ops: upd(1.0) });
        s.apply(CommitId { segment: 1, offset: 1 }, &Commit { ts: 0.0, ops: upd(2.0) }); // legacy line
        assert_eq!(s.last_commit, Some(CommitId { segment: 1, offset: 1 }));
        assert_eq!(s.last_ts, 5.0);
        assert_eq!(s.store.get("c", "k").unwrap().decode(), Value::Number(2.0));
        let snap = s.into_snapshot().unwrap();
        assert_eq!((snap.commit_id, snap.ts), (CommitId { segment: 1, offset: 1 }, 5.0));
        assert!(State::default().into_snapshot().is_none());
    }
}
