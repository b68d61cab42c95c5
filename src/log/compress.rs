//! Gzips rotated segments: `%08x.jsonl` → `%08x.jsonl.gz` via a temp file (fsynced) and a
//! rename; the directory is synced so the rename is durable, and only then is the plain file
//! removed. A power loss at any point leaves the plain segment, the gzip, or both — never
//! only a temp file. The active segment is never touched.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::error::{AtPath, Result};
use crate::fsutil::{remove_if_exists, sync_dir};
use crate::log::commit::{compressed_segment_filename, segment_filename};
use crate::log::reader::scan_segments;

/// Compresses every plain segment except `active`. Failures are per segment: logged and
/// left for the next pass, since the plain file is still a valid segment. All gzips of a
/// pass are renamed into place first, then one directory sync makes them durable, then the
/// plain copies go (a plain copy that survives a crash next to its gzip is removed by the
/// next pass: readers prefer the gzip).
pub fn compress_rotated(wal_dir: &Path, active: u32) -> Result<usize> {
    let mut covered = Vec::new();
    for (seg, (plain, gz)) in scan_segments(wal_dir)? {
        if !plain || seg >= active {
            continue;
        }
        let result = if gz && gzip_is_whole(&wal_dir.join(compressed_segment_filename(seg))) {
            // A previous pass was interrupted after the rename: the gzipped copy is complete
            // (its entry is made durable below, before the plain copy goes).
            Ok(())
        } else {
            // No gzip yet, or one that does not decode (written without fsync before a power
            // loss, say): the plain segment is the good copy, compress it (again).
            compress_one(wal_dir, seg)
        };
        match result {
            Ok(()) => covered.push(seg),
            Err(e) => tracing::warn!("Failed to compress WAL segment {seg}: {e}"),
        }
    }
    if covered.is_empty() {
        return Ok(0);
    }
    // Every gzip's name must be on disk before its source is removed.
    sync_dir(wal_dir)?;
    let mut done = 0;
    for seg in covered {
        match remove_if_exists(&wal_dir.join(segment_filename(seg))) {
            Ok(()) => done += 1,
            Err(e) => tracing::warn!("Cannot remove WAL segment {seg} after compressing it: {e}"),
        }
    }
    tracing::debug!("Compressed {done} rotated WAL segments");
    Ok(done)
}

fn gzip_is_whole(path: &Path) -> bool {
    let Ok(file) = File::open(path) else { return false };
    io::copy(&mut flate2::read::MultiGzDecoder::new(io::BufReader::new(file)), &mut io::sink()).is_ok()
}

/// Writes `%08x.jsonl.gz` for segment `seg` (temp file, fsync, rename). The caller syncs
/// the directory before removing the plain segment.
fn compress_one(wal_dir: &Path, seg: u32) -> Result<()> {
    let src = wal_dir.join(segment_filename(seg));
    let gz_name = compressed_segment_filename(seg);
    let tmp = wal_dir.join(format!("{gz_name}.tmp"));
    let bytes = fs::read(&src).at(&src)?;
    let mut enc = GzEncoder::new(File::create(&tmp).at(&tmp)?, Compression::default());
    enc.write_all(&bytes).and_then(|_| enc.finish()).and_then(|f| f.sync_all()).at(&tmp)?;
    fs::rename(&tmp, wal_dir.join(&gz_name)).at(&tmp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::reader::read_segment_bytes;

    #[test]
    fn compresses_all_but_the_active_segment() {
        let dir = tempfile::tempdir().unwrap();
        for seg in 1..=3u32 {
            fs::write(dir.path().join(segment_filename(seg)), format!("{{\"ts\":{seg},\"ops\":[]}}\n")).unwrap();
        }
        assert_eq!(compress_rotated(dir.path(), 3).unwrap(), 2);
        assert!(dir.path().join("00000001.jsonl.gz").exists());
        assert!(!dir.path().join("00000001.jsonl").exists());
        assert!(dir.path().join("00000003.jsonl").exists());
        assert_eq!(read_segment_bytes(dir.path(), 2).unwrap().1, b"{\"ts\":2,\"ops\":[]}\n");
    }
    #[test]
    fn torn_temp_file_of_an_interrupted_compression_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let content = "{\"ts\":1,\"ops\":[]}\n".repeat(20);
        fs::write(dir.path().join(segment_filename(1)), &content).unwrap();
        fs::write(dir.path().join(segment_filename(2)), b"").unwrap();
        // Killed mid-gzip: a partial temp file, the plain segment still complete.
        fs::write(dir.path().join("00000001.jsonl.gz.tmp"), b"\x1f\x8b\x08\x00").unwrap();
        assert_eq!(read_segment_bytes(dir.path(), 1).unwrap().1, content.as_bytes());
        assert_eq!(compress_rotated(dir.path(), 2).unwrap(), 1);
        assert!(!dir.path().join("00000001.jsonl.gz.tmp").exists());
        assert!(!dir.path().join(segment_filename(1)).exists());
        assert_eq!(read_segment_bytes(dir.path(), 1).unwrap().1, content.as_bytes());
    }

    #[test]
    fn killed_after_rename_keeps_the_gzip_and_drops_the_plain_copy() {
        let dir = tempfile::tempdir().unwrap();
        let content = "{\"ts\":1,\"ops\":[]}\n";
        fs::write(dir.path().join(segment_filename(1)), content).unwrap();
        compress_one(dir.path(), 1).unwrap();
        fs::write(dir.path().join(segment_filename(1)), content).unwrap();
        assert_eq!(compress_rotated(dir.path(), 2).unwrap(), 1);
        assert!(!dir.path().join(segment_filename(1)).exists());
        assert_eq!(read_segment_bytes(dir.path(), 1).unwrap().1, content.as_bytes());
    }
    #[test]
    fn a_damaged_gzip_next_to_its_plain_segment_is_redone_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let content = "{\"ts\":1,\"ops\":[]}\n".repeat(50);
        fs::write(dir.path().join(segment_filename(1)), &content).unwrap();
        compress_one(dir.path(), 1).unwrap();
        let gz = fs::read(dir.path().join("00000001.jsonl.gz")).unwrap();
        fs::write(dir.path().join("00000001.jsonl.gz"), &gz[..gz.len() / 2]).unwrap();
        fs::write(dir.path().join(segment_filename(1)), &content).unwrap();
        assert_eq!(compress_rotated(dir.path(), 2).unwrap(), 1);
        assert!(!dir.path().join(segment_filename(1)).exists());
        assert_eq!(read_segment_bytes(dir.path(), 1).unwrap().1, content.as_bytes());
    }
}
