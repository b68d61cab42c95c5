//! Pruning: deletes segments wholly covered by the last snapshot, first folding them into
//! the head snapshot (`head.json[.gz]`) when enabled so history before the cut stays
//! reconstructible as a base.

use std::path::Path;

use crate::error::Result;
use crate::fsutil::{remove_if_exists, sync_dir};
use crate::log::commit::{compressed_segment_filename, segment_filename, CommitId};
use crate::log::reader::{read_commits, scan_segments};
use crate::log::replay::State;
use crate::snapshot;

/// Head-snapshot settings: where it lives and whether it is gzipped.
pub struct HeadSnapshot<'a> {
    pub dir: &'a Path,
    pub compress: bool,
}

/// Removes every segment numbered below `snapshot_id.segment` (the snapshot's own segment
/// may still hold later commits, so it stays). Returns how many segments were removed.
pub fn clean(wal_dir: &Path, snapshot_id: CommitId, head: Option<HeadSnapshot<'_>>) -> Result<usize> {
    let doomed: Vec<(u32, (bool, bool))> = scan_segments(wal_dir)?.into_iter().filter(|(seg, _)| *seg < snapshot_id.segment).collect();
    if doomed.is_empty() {
        return Ok(0);
    }
    // The snapshot covering the doomed segments is durable (`snapshot::save` syncs its
    // directory before returning), and so is the head snapshot written here: only then may
    // a segment go.
    if let Some(head) = head {
        build_head(wal_dir, snapshot_id, &head)?;
    }
    for (seg, (plain, gz)) in &doomed {
        if *plain {
            remove_if_exists(&wal_dir.join(segment_filename(*seg)))?;
        }
        if *gz {
            remove_if_exists(&wal_dir.join(compressed_segment_filename(*seg)))?;
        }
    }
    // Removals that do not reach the disk before a power loss are harmless (the segments
    // come back, covered by the snapshot); the sync just keeps a crash from resurrecting them.
    sync_dir(wal_dir)?;
    tracing::debug!("Cleaned {} WAL segments before segment {}", doomed.len(), snapshot_id.segment);
    Ok(doomed.len())
}

/// Replays the commits about to be deleted on top of the previous head snapshot.
fn build_head(wal_dir: &Path, snapshot_id: CommitId, head: &HeadSnapshot<'_>) -> Result<()> {
    let existing = snapshot::load(head.dir, "head")?;
    let mut state = State::from_snapshot(existing);
    read_commits(wal_dir, state.last_commit, |c| {
        if c.id.segment >= snapshot_id.segment {
            return false;
        }
        state.apply(c.id, &c.commit);
        true
    })?;
    if let Some(head_snapshot) = state.into_snapshot() {
        snapshot::save(head.dir, "head", head.compress, head_snapshot.commit_id, head_snapshot.ts, &head_snapshot.data)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::stored::Encoded;
    use crate::codec::value::Value;
    use crate::log::commit::{serialize_commit, Op};
    use std::fs;

    fn line(ts: f64, key: &str, n: f64) -> Vec<u8> {
        let mut out = Vec::new();
        let op = Op::upd("ctx", vec![(key.into(), Encoded::from_value(&Value::Number(n)))]);
        serialize_commit(&mut out, ts, &[op]);
        out.push(b'\n');
        out
    }

    #[test]
    fn removes_covered_segments_and_folds_them_into_the_head_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("wal");
        fs::create_dir_all(&wal).unwrap();
        fs::write(wal.join(segment_filename(1)), [line(1.0, "a", 1.0), line(2.0, "b", 2.0)].concat()).unwrap();
        fs::write(wal.join(segment_filename(2)), line(3.0, "a", 3.0)).unwrap();
        fs::write(wal.join(segment_filename(3)), line(4.0, "c", 4.0)).unwrap();

        // Snapshot at 3:0 covers segments 1 and 2 entirely; 3 stays.
        let removed = clean(&wal, CommitId { segment: 3, offset: 0 }, Some(HeadSnapshot { dir: dir.path(), compress: false })).unwrap();
        assert_eq!(removed, 2);
        assert!(!wal.join(segment_filename(1)).exists());
        assert!(!wal.join(segment_filename(2)).exists());
        assert!(wal.join(segment_filename(3)).exists());
        let head = snapshot::load(dir.path(), "head").unwrap().unwrap();
        assert_eq!(head.commit_id, CommitId { segment: 2, offset: 0 });
        assert_eq!(head.ts, 3.0);
        assert_eq!(head.data.get("ctx", "a").unwrap().decode(), Value::Number(3.0));
        assert_eq!(head.data.get("ctx", "b").unwrap().decode(), Value::Number(2.0));
        assert!(head.data.get("ctx", "c").is_none());

        // A later clean builds on the previous head.
        fs::write(wal.join(segment_filename(4)), line(5.0, "d", 5.0)).unwrap();
        clean(&wal, CommitId { segment: 4, offset: 0 }, Some(HeadSnapshot { dir: dir.path(), compress: true })).unwrap();
        let head = snapshot::load(dir.path(), "head").unwrap().unwrap();
        assert_eq!(head.commit_id, CommitId { segment: 3, offset: 0 });
        assert_eq!(head.data.key_count(), 3);
        assert!(dir.path().join("head.json.gz").exists() && !dir.path().join("head.json").exists());
    }

    #[test]
    fn without_head_snapshot_segments_are_just_removed() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("wal");
        fs::create_dir_all(&wal).unwrap();
        fs::write(wal.join(segment_filename(1)), line(1.0, "a", 1.0)).unwrap();
        fs::write(wal.join(compressed_segment_filename(1)), b"").unwrap();
        fs::write(wal.join(segment_filename(2)), line(2.0, "a", 2.0)).unwrap();
        assert_eq!(clean(&wal, CommitId { segment: 2, offset: 0 }, None).unwrap(), 1);
        assert!(!wal.join(compressed_segment_filename(1)).exists());
        assert!(snapshot::load(dir.path(), "head").unwrap().is_none());
        assert_eq!(clean(&wal, CommitId { segment: 2, offset: 0 }, None).unwrap(), 0);
    }
}
