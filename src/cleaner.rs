//! Pruning: deletes segments wholly covered by the last snapshot, first folding them into
//! the head snapshot (`head.json[.gz]`) when enabled so history before the cut stays
//! reconstructible as a base.

use std::fs;
use std::io;
use std::path::Path;

use crate::commit::{compressed_segment_filename, segment_filename, CommitId};
use crate::reader::{read_commits, scan_segments};
use crate::snapshot;

/// Head-snapshot settings: where it lives and whether it is gzipped.
pub struct HeadSnapshot<'a> {
    pub dir: &'a Path,
    pub compress: bool,
}

/// Removes every segment numbered below `snapshot_id.segment` (the snapshot's own segment
/// may still hold later commits, so it stays). Returns how many segments were removed.
pub fn clean(wal_dir: &Path, snapshot_id: CommitId, head: Option<HeadSnapshot<'_>>) -> io::Result<usize> {
    let doomed: Vec<(u32, (bool, bool))> =
        scan_segments(wal_dir)?.into_iter().filter(|(seg, _)| *seg < snapshot_id.segment).collect();
    if doomed.is_empty() {
        return Ok(0);
    }
    if let Some(head) = head {
        build_head(wal_dir, snapshot_id, &head)?;
    }
    for (seg, (plain, gz)) in &doomed {
        if *plain {
            remove(&wal_dir.join(segment_filename(*seg)))?;
        }
        if *gz {
            remove(&wal_dir.join(compressed_segment_filename(*seg)))?;
        }
    }
    snapshot::sync_dir(wal_dir);
    tracing::debug!("Cleaned {} WAL segments before segment {}", doomed.len(), snapshot_id.segment);
    Ok(doomed.len())
}

fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Replays the commits about to be deleted on top of the previous head snapshot.
fn build_head(wal_dir: &Path, snapshot_id: CommitId, head: &HeadSnapshot<'_>) -> io::Result<()> {
    let existing = snapshot::load(head.dir, "head").map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let (mut data, base, mut ts) = match existing {
        Some(s) => (s.data, Some(s.commit_id), s.ts),
        None => (Default::default(), None, 0.0),
    };
    let mut last = base;
    read_commits(wal_dir, base, |c| {
        if c.id.segment >= snapshot_id.segment {
            return false;
        }
        data.apply(&c.commit.ops);
        last = Some(c.id);
        if c.commit.ts != 0.0 {
            ts = c.commit.ts;
        }
        true
    })?;
    if let Some(id) = last {
        snapshot::save(head.dir, "head", head.compress, id, ts, &data)?;
    }
    Ok(())
}
