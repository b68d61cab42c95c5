//! The segment writer: owns the active `wal/%08x.jsonl`, appends batches of commit lines
//! with one write (and one fsync), rotates by size or line count, and on open resumes the
//! last segment while it has room.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{AtPath, Error, Result};
use crate::fsutil::{create_dir_all_durable, sync_dir};
use crate::log::commit::{deserialize_commit, segment_filename, CommitId, MAX_SEGMENT_LINES};
use crate::log::reader::{scan_segments, zeroed_tail};

/// Appends commit lines to the active segment (`wal/NNNNNNNN.jsonl`), rotating to a new
/// one at the size limit exactly where matter.js's writer does.
pub struct SegmentWriter {
    wal_dir: PathBuf,
    max_segment_size: u64,
    fsync: bool,
    file: Option<File>,
    segment: u32,
    offset: u32,
    size: u64,
    /// Bytes counted on top of `size` when deciding to rotate: matter.js's writer counts a
    /// resumed segment one byte longer than it is (its line reader yields a last, empty
    /// line, counted with a newline), so it rotates one byte earlier; we rotate where it does.
    resumed_extra: u64,
}

impl SegmentWriter {
    /// Opens the log for appending. The newest segment is resumed when it is uncompressed
    /// and has room; a torn last line (no trailing newline: the process died mid-write) is
    /// cut off first so the next commit never gets glued onto it, and so is a zeroed tail
    /// (see [`zeroed_tail`]). With `fsync`, the newest segment's data is synced before any
    /// commit can depend on it: what replay read from it may be an unsynced tail that a
    /// killed process left in the page cache.
    pub fn open(wal_dir: &Path, max_segment_size: u64, fsync: bool) -> Result<SegmentWriter> {
        create_dir_all_durable(wal_dir)?;
        let mut w = SegmentWriter {
            wal_dir: wal_dir.to_path_buf(),
            max_segment_size,
            fsync,
            file: None,
            segment: 1,
            offset: 0,
            size: 0,
            resumed_extra: 0,
        };
        let segments = scan_segments(wal_dir)?;
        let Some((&last, &(plain, gz))) = segments.iter().next_back() else { return Ok(w) };
        if gz || !plain {
            if gz && !plain {
                repair_torn_gzip(wal_dir, last)?;
            }
            w.segment = last + 1;
            return Ok(w);
        }
        let path = wal_dir.join(segment_filename(last));
        let bytes = repair_tail(&path, fs::read(&path).at(&path)?, fsync)?;
        let lines = line_count(&bytes);
        if (bytes.len() as u64) + 1 < max_segment_size && lines < MAX_SEGMENT_LINES {
            w.segment = last;
            w.offset = lines;
            w.size = bytes.len() as u64;
            w.resumed_extra = 1;
        } else {
            w.segment = last + 1;
        }
        Ok(w)
    }

    /// The segment new commits go to.
    pub fn current_segment(&self) -> u32 {
        self.segment
    }

    /// Appends `lines` (each without its newline) as consecutive commits and returns their
    /// ids. Everything is durable (fsync'd when enabled) when this returns `Ok`. On error
    /// the active segment is cut back to where it was, so a failed batch leaves no trace.
    /// `on_rotate` is called with each segment closed by rotation.
    pub fn append(&mut self, lines: &[Vec<u8>], on_rotate: &mut dyn FnMut(u32)) -> Result<Vec<CommitId>> {
        let mut ids = Vec::with_capacity(lines.len());
        let mut buf: Vec<u8> = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        let start = (self.segment, self.offset, self.size, self.resumed_extra);
        let result = (|| {
            for line in lines {
                let counted = self.size + self.resumed_extra + buf.len() as u64;
                if counted > 0 && (counted >= self.max_segment_size || self.offset >= MAX_SEGMENT_LINES) {
                    self.flush(&mut buf)?;
                    let closed = self.segment;
                    self.file = None;
                    self.segment += 1;
                    self.offset = 0;
                    self.size = 0;
                    self.resumed_extra = 0;
                    on_rotate(closed);
                }
                ids.push(CommitId { segment: self.segment, offset: self.offset });
                buf.extend_from_slice(line);
                buf.push(b'\n');
                self.offset += 1;
            }
            self.flush(&mut buf)
        })();
        if let Err(e) = result {
            self.undo(start);
            return Err(e);
        }
        Ok(ids)
    }

    /// A failed batch leaves no trace: the segment it started in is cut back to where the
    /// batch began and segments it created by rotating are removed, so none of its commits
    /// (all reported as failed) can come back on the next load.
    fn undo(&mut self, (segment, offset, size, resumed_extra): (u32, u32, u64, u64)) {
        if self.segment != segment {
            self.file = None;
            for created in segment + 1..=self.segment {
                let path = self.wal_dir.join(segment_filename(created));
                if let Err(e) = fs::remove_file(&path) {
                    if e.kind() != io::ErrorKind::NotFound {
                        tracing::warn!("Cannot remove {} after a failed write: {e}", path.display());
                    }
                }
            }
            self.segment = segment;
        }
        self.offset = offset;
        self.size = size;
        self.resumed_extra = resumed_extra;
        let cut = match &self.file {
            Some(f) => f.set_len(size).and_then(|_| if self.fsync { f.sync_data() } else { Ok(()) }),
            None => match OpenOptions::new().write(true).open(self.wal_dir.join(segment_filename(segment))) {
                Ok(f) => f.set_len(size).and_then(|_| if self.fsync { f.sync_data() } else { Ok(()) }),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            },
        };
        if let Err(e) = cut {
            tracing::warn!("Cannot cut WAL segment {segment} back after a failed write: {e}");
            self.file = None; // `flush` cuts leftovers when it reopens the segment
        }
    }

    fn flush(&mut self, buf: &mut Vec<u8>) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let path = self.wal_dir.join(segment_filename(self.segment));
        if self.file.is_none() {
            let (f, created) = match OpenOptions::new().append(true).open(&path) {
                Ok(f) => (f, false),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    (OpenOptions::new().create(true).append(true).open(&path).at(&path)?, true)
                }
                Err(e) => return Err(e).at(&path),
            };
            if created && self.fsync {
                // A new segment: its directory entry must be durable before the first commit
                // in it is acknowledged. (An existing one was synced when the engine opened.)
                sync_dir(&self.wal_dir)?;
            }
            let len = f.metadata().at(&path)?.len();
            if len > self.size {
                // Leftovers of a batch that failed before we could cut it back.
                f.set_len(self.size).at(&path)?;
            } else {
                self.size = len;
            }
            self.file = Some(f);
        }
        let f = self.file.as_mut().expect("opened above");
        if unlinked(f) {
            self.file = None;
            return Err(Error::Io {
                source: io::Error::new(io::ErrorKind::NotFound, "deleted while open (was the storage directory removed?)"),
                path,
            });
        }
        f.write_all(buf).at(&path)?;
        if self.fsync {
            f.sync_data().at(&path)?;
        }
        self.size += buf.len() as u64;
        buf.clear();
        Ok(())
    }

    /// Flushes and closes the active segment.
    pub fn close(&mut self) -> Result<()> {
        if let Some(f) = self.file.take() {
            if self.fsync {
                f.sync_all().at(&self.wal_dir.join(segment_filename(self.segment)))?;
            }
        }
        Ok(())
    }
}

/// Makes the end of the newest plain segment (`bytes`, its content) safe to append to and
/// returns what it holds afterwards: a zeroed tail (see [`zeroed_tail`]) and a torn last line
/// (no trailing newline: the process died mid-write) are cut off, so the next commit never
/// gets glued onto them; a last line that is a complete commit missing only its newline is
/// fenced with one (replay already counted it). With `fsync` the data is synced either way:
/// what replay read may be an unsynced tail a killed process left in the page cache.
fn repair_tail(path: &Path, mut bytes: Vec<u8>, fsync: bool) -> Result<Vec<u8>> {
    let cut_to = |len: usize| -> Result<()> {
        let f = OpenOptions::new().write(true).open(path).at(path)?;
        f.set_len(len as u64).and_then(|_| f.sync_all()).at(path)
    };
    if let Some(cut) = zeroed_tail(&bytes) {
        // Replay stopped at this line: nothing may be appended after it.
        tracing::warn!(
            "Cutting {} bytes holding zeroed data off {} (a write that never reached the disk)",
            bytes.len() - cut,
            path.display()
        );
        cut_to(cut)?;
        bytes.truncate(cut);
    } else if let Some(cut) = torn_tail(&bytes) {
        if deserialize_commit(&bytes[cut..]).is_ok() {
            tracing::warn!("Fencing the unterminated last line of {} with a newline", path.display());
            let f = OpenOptions::new().append(true).open(path).at(path)?;
            (&f).write_all(b"\n").and_then(|_| f.sync_all()).at(path)?;
            bytes.push(b'\n');
        } else {
            tracing::warn!("Cutting {} bytes of a torn last line off {} (interrupted write)", bytes.len() - cut, path.display());
            cut_to(cut)?;
            bytes.truncate(cut);
        }
    } else if fsync {
        File::open(path).and_then(|f| f.sync_data()).at(path)?;
    }
    Ok(bytes)
}

/// The newest segment can be a gzip file cut short (written without fsync by matter.js and
/// then a power loss, say). Replay already read the lines before the cut; rewrite the file as
/// a whole gzip of exactly those lines, so it stays readable once newer segments follow it.
fn repair_torn_gzip(wal_dir: &Path, segment: u32) -> Result<()> {
    use flate2::{read::MultiGzDecoder, write::GzEncoder, Compression};
    use std::io::Read;
    let name = crate::log::commit::compressed_segment_filename(segment);
    let path = wal_dir.join(&name);
    let mut bytes = Vec::new();
    let Err(e) = MultiGzDecoder::new(io::BufReader::new(File::open(&path).at(&path)?)).read_to_end(&mut bytes) else {
        return Ok(());
    };
    if e.kind() != io::ErrorKind::UnexpectedEof {
        return Ok(()); // corrupt, not torn: loading reports it
    }
    if let Some(cut) = torn_tail(&bytes) {
        if deserialize_commit(&bytes[cut..]).is_ok() {
            bytes.push(b'\n');
        } else {
            bytes.truncate(cut);
        }
    }
    tracing::warn!("Rewriting torn {} with the {} bytes of complete lines it still held", path.display(), bytes.len());
    let tmp = wal_dir.join(format!("{name}.tmp"));
    let mut enc = GzEncoder::new(File::create(&tmp).at(&tmp)?, Compression::default());
    enc.write_all(&bytes).and_then(|_| enc.finish()).and_then(|f| f.sync_all()).at(&tmp)?;
    fs::rename(&tmp, &path).at(&tmp)?;
    sync_dir(wal_dir)
}

/// Makes sure commits written from now on get ids after `base`, the commit the loaded state
/// ends with, even when the log ends at or before it: segments lost, or (fsync off) a tail
/// that never reached the disk while the snapshot did. Without this the writer would hand
/// out ids the next load skips as already in the snapshot. It creates the empty segments
/// `base.segment` and `base.segment + 1` where missing (the writer then resumes the newest,
/// empty one). Returns whether it had to.
pub fn ensure_after(wal_dir: &Path, base: CommitId) -> Result<bool> {
    let segments = scan_segments(wal_dir)?;
    let resumes_after = match segments.iter().next_back() {
        Some((&seg, _)) if seg > base.segment => true,
        // A gzipped newest segment is never appended to: the writer starts the next one.
        Some((&seg, &(_, gz))) if seg == base.segment && gz => true,
        Some((&seg, _)) if seg == base.segment => {
            let path = wal_dir.join(segment_filename(seg));
            let mut bytes = fs::read(&path).at(&path)?;
            if let Some(cut) = zeroed_tail(&bytes) {
                // Replay stopped there; cut it now, since this segment may stop being the
                // newest (later loads would skip the zeroed line and replay what follows).
                let f = OpenOptions::new().write(true).open(&path).at(&path)?;
                f.set_len(cut as u64).and_then(|_| f.sync_all()).at(&path)?;
                bytes.truncate(cut);
            } else if let Some(cut) = torn_tail(&bytes) {
                if deserialize_commit(&bytes[cut..]).is_err() {
                    bytes.truncate(cut);
                }
            }
            line_count(&bytes) > base.offset
        }
        _ => false,
    };
    if resumes_after {
        return Ok(false);
    }
    for seg in base.segment..=base.segment.saturating_add(1) {
        if !segments.contains_key(&seg) {
            let path = wal_dir.join(segment_filename(seg));
            OpenOptions::new().create(true).append(true).open(&path).and_then(|f| f.sync_all()).at(&path)?;
        }
    }
    sync_dir(wal_dir)?;
    Ok(true)
}

/// True when the open segment no longer has a name (its file or directory was removed):
/// writes would still succeed but be lost with the last descriptor.
#[cfg(unix)]
fn unlinked(f: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    f.metadata().is_ok_and(|m| m.nlink() == 0)
}

#[cfg(not(unix))]
fn unlinked(_f: &File) -> bool {
    false
}

/// The offset the next line appended to `bytes` (whole lines) gets: every line counts, blank
/// ones too, exactly as the reader numbers them.
fn line_count(bytes: &[u8]) -> u32 {
    memchr::memchr_iter(b'\n', bytes).count() as u32
}

/// Where a segment should end if its last line is torn: the byte after its last newline.
fn torn_tail(bytes: &[u8]) -> Option<usize> {
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return None;
    }
    Some(bytes.iter().rposition(|b| *b == b'\n').map(|p| p + 1).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::reader::segment_lines;

    fn line(n: usize) -> Vec<u8> {
        format!("{{\"ts\":{n},\"ops\":[]}}").into_bytes()
    }

    fn no_rotate() -> impl FnMut(u32) {
        |_| panic!("unexpected rotation")
    }

    #[test]
    fn appends_and_resumes_the_last_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::open(dir.path(), 1 << 20, false).unwrap();
        let ids = w.append(&[line(1), line(2)], &mut no_rotate()).unwrap();
        assert_eq!(ids, vec![CommitId { segment: 1, offset: 0 }, CommitId { segment: 1, offset: 1 }]);
        w.close().unwrap();
        let mut w = SegmentWriter::open(dir.path(), 1 << 20, true).unwrap();
        let ids = w.append(&[line(3)], &mut no_rotate()).unwrap();
        assert_eq!(ids, vec![CommitId { segment: 1, offset: 2 }]);
        let text = fs::read_to_string(dir.path().join("00000001.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn rotates_by_size_within_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::open(dir.path(), 36, false).unwrap();
        let mut closed = Vec::new();
        let ids = w.append(&[line(1), line(2), line(3), line(4)], &mut |s| closed.push(s)).unwrap();
        // Each line is 17 bytes + newline: after two the size reaches the 36-byte limit.
        assert_eq!(ids.iter().map(|i| (i.segment, i.offset)).collect::<Vec<_>>(), vec![(1, 0), (1, 1), (2, 0), (2, 1)]);
        assert_eq!(closed, vec![1]);
        assert_eq!(fs::read_to_string(dir.path().join("00000002.jsonl")).unwrap().lines().count(), 2);
    }

    #[test]
    fn full_or_compressed_last_segment_starts_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("00000003.jsonl.gz"), b"").unwrap();
        let w = SegmentWriter::open(dir.path(), 1 << 20, false).unwrap();
        assert_eq!(w.current_segment(), 4);
        fs::write(dir.path().join("00000004.jsonl"), "{\"ts\":1,\"ops\":[]}\n".repeat(4)).unwrap();
        let w = SegmentWriter::open(dir.path(), 50, false).unwrap();
        assert_eq!(w.current_segment(), 5);
    }

    #[test]
    fn torn_tail_is_cut_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000001.jsonl");
        fs::write(&path, b"{\"ts\":1,\"ops\":[]}\n{\"ts\":2,\"op").unwrap();
        let mut w = SegmentWriter::open(dir.path(), 1 << 20, false).unwrap();
        let ids = w.append(&[line(3)], &mut no_rotate()).unwrap();
        assert_eq!(ids, vec![CommitId { segment: 1, offset: 1 }]);
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"ts\":1,\"ops\":[]}\n{\"ts\":3,\"ops\":[]}\n");
    }

    #[test]
    fn line_limit_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::open(dir.path(), u64::MAX, false).unwrap();
        w.offset = MAX_SEGMENT_LINES;
        w.size = 1;
        let mut closed = Vec::new();
        let ids = w.append(&[line(1)], &mut |s| closed.push(s)).unwrap();
        assert_eq!(ids[0], CommitId { segment: 2, offset: 0 });
        assert_eq!(closed, vec![1]);
    }
    #[test]
    fn torn_tail_that_is_a_whole_commit_is_fenced_not_cut() {
        // The process died after writing a complete commit but before its newline: replay
        // already applied it, so the writer keeps it and appends after it.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000001.jsonl");
        fs::write(&path, b"{\"ts\":1,\"ops\":[]}\n{\"ts\":2,\"ops\":[]}").unwrap();
        let mut w = SegmentWriter::open(dir.path(), 1 << 20, true).unwrap();
        let ids = w.append(&[line(3)], &mut no_rotate()).unwrap();
        assert_eq!(ids, vec![CommitId { segment: 1, offset: 2 }]);
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"ts\":1,\"ops\":[]}\n{\"ts\":2,\"ops\":[]}\n{\"ts\":3,\"ops\":[]}\n");
    }

    #[test]
    fn torn_first_line_is_cut_to_an_empty_segment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000001.jsonl");
        fs::write(&path, b"{\"ts\":1,\"ops\":[{\"op\":\"upd\",\"ke").unwrap();
        let mut w = SegmentWriter::open(dir.path(), 1 << 20, true).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"");
        let ids = w.append(&[line(2)], &mut no_rotate()).unwrap();
        assert_eq!(ids, vec![CommitId { segment: 1, offset: 0 }]);
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"ts\":2,\"ops\":[]}\n");
    }

    #[test]
    fn torn_line_in_a_full_segment_is_cut_and_the_next_segment_starts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000001.jsonl");
        fs::write(&path, b"{\"ts\":1,\"ops\":[]}\n{\"ts\":2,\"o").unwrap();
        let w = SegmentWriter::open(dir.path(), 10, true).unwrap();
        assert_eq!(w.current_segment(), 2);
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"ts\":1,\"ops\":[]}\n");
    }

    #[test]
    fn torn_gzipped_last_segment_is_never_appended_to() {
        use flate2::{write::GzEncoder, Compression};
        let dir = tempfile::tempdir().unwrap();
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        for i in 100..900 {
            gz.write_all(&line(i)).unwrap();
            gz.write_all(b"\n").unwrap();
        }
        let bytes = gz.finish().unwrap();
        fs::write(dir.path().join("00000001.jsonl.gz"), &bytes[..bytes.len() / 2]).unwrap();
        let before = crate::log::reader::read_segment(dir.path(), 1, true).unwrap().1;
        let mut w = SegmentWriter::open(dir.path(), 1 << 20, true).unwrap();
        let ids = w.append(&[line(2)], &mut no_rotate()).unwrap();
        assert_eq!(ids, vec![CommitId { segment: 2, offset: 0 }]);
        // Rewritten as a whole gzip of its complete lines: readable now that it is not the newest.
        let after = crate::log::reader::read_segment_bytes(dir.path(), 1).unwrap().1;
        assert!(after.ends_with(b"\n") && before.starts_with(&after) && !after.is_empty());
        assert!(segment_lines(&after).all(|(_, l)| deserialize_commit(l).is_ok()), "whole lines only");
        assert!(!dir.path().join("00000001.jsonl.gz.tmp").exists());
    }

    #[test]
    fn failed_batch_across_a_rotation_leaves_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        let seg1 = dir.path().join("00000001.jsonl");
        let mut w = SegmentWriter::open(dir.path(), 36, true).unwrap();
        w.append(&[line(1)], &mut no_rotate()).unwrap();
        // Segment 2 cannot be created: the batch fails after writing to segment 1.
        fs::create_dir(dir.path().join("00000002.jsonl")).unwrap();
        let err = w.append(&[line(2), line(3)], &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("00000002.jsonl"), "{err}");
        assert_eq!(fs::read_to_string(&seg1).unwrap(), "{\"ts\":1,\"ops\":[]}\n", "failed commit 2 must not stay in segment 1");
        fs::remove_dir(dir.path().join("00000002.jsonl")).unwrap();
        let ids = w.append(&[line(4)], &mut no_rotate()).unwrap();
        assert_eq!(ids, vec![CommitId { segment: 1, offset: 1 }]);
        assert_eq!(fs::read_to_string(&seg1).unwrap(), "{\"ts\":1,\"ops\":[]}\n{\"ts\":4,\"ops\":[]}\n");
    }

    #[test]
    fn writing_after_the_directory_vanished_fails_naming_the_file() {
        let root = tempfile::tempdir().unwrap();
        let wal = root.path().join("wal");
        let mut w = SegmentWriter::open(&wal, 1 << 20, false).unwrap();
        w.append(&[line(1)], &mut no_rotate()).unwrap();
        fs::remove_dir_all(&wal).unwrap();
        let err = w.append(&[line(2)], &mut no_rotate()).unwrap_err();
        assert!(err.to_string().contains("00000001.jsonl"), "{err}");
        let err = w.append(&[line(3)], &mut no_rotate()).unwrap_err();
        assert!(err.to_string().contains("00000001.jsonl"), "{err}");
    }

    #[test]
    fn ensure_after_moves_the_writer_past_the_loaded_state() {
        let dir = tempfile::tempdir().unwrap();
        let base = CommitId { segment: 5, offset: 2 };
        // Nothing at or after the snapshot's segment: segments 5 and 6 are created empty.
        fs::write(dir.path().join("00000003.jsonl"), b"{\"ts\":1,\"ops\":[]}\n").unwrap();
        assert!(ensure_after(dir.path(), base).unwrap());
        assert_eq!(fs::read(dir.path().join("00000005.jsonl")).unwrap(), b"");
        let mut w = SegmentWriter::open(dir.path(), 1 << 20, false).unwrap();
        assert_eq!(w.append(&[line(2)], &mut no_rotate()).unwrap(), vec![CommitId { segment: 6, offset: 0 }]);

        // Segment 5 holds fewer lines than the snapshot covered (its tail was lost).
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("00000005.jsonl"), b"{\"ts\":1,\"ops\":[]}\n{\"ts\":2,\"ops\":[]}\n{\"ts\":3,").unwrap();
        assert!(ensure_after(dir.path(), base).unwrap());
        let w = SegmentWriter::open(dir.path(), 1 << 20, false).unwrap();
        assert_eq!(w.current_segment(), 6);

        // Segment 5 goes on past the snapshot: nothing to do.
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("00000005.jsonl"), "{\"ts\":1,\"ops\":[]}\n".repeat(3)).unwrap();
        assert!(!ensure_after(dir.path(), base).unwrap());
        assert!(!dir.path().join("00000006.jsonl").exists());
    }

    #[test]
    fn resumed_offsets_count_blank_lines_like_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000001.jsonl");
        fs::write(&path, b"{\"ts\":1,\"ops\":[]}\n\n  \n").unwrap();
        let mut w = SegmentWriter::open(dir.path(), 1 << 20, false).unwrap();
        let id = w.append(&[line(2)], &mut no_rotate()).unwrap()[0];
        let bytes = fs::read(&path).unwrap();
        let read: Vec<_> = segment_lines(&bytes).map(|(o, _)| o).collect();
        assert_eq!(read, vec![0, 3]);
        assert_eq!(id, CommitId { segment: 1, offset: 3 });
    }

    #[test]
    fn zeroed_tail_is_cut_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000001.jsonl");
        let mut seg = b"{\"ts\":1,\"ops\":[]}\n".to_vec();
        seg.extend(std::iter::repeat_n(0u8, 4096));
        seg.extend_from_slice(b"\n{\"ts\":3,\"ops\":[]}\n");
        fs::write(&path, &seg).unwrap();
        let mut w = SegmentWriter::open(dir.path(), 1 << 20, true).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{\"ts\":1,\"ops\":[]}\n");
        let ids = w.append(&[line(4)], &mut no_rotate()).unwrap();
        assert_eq!(ids, vec![CommitId { segment: 1, offset: 1 }]);
        // ensure_after cuts it too, before moving the writer on to a new segment.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000002.jsonl");
        fs::write(&path, &seg).unwrap();
        assert!(ensure_after(dir.path(), CommitId { segment: 2, offset: 1 }).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"{\"ts\":1,\"ops\":[]}\n");
    }
}
