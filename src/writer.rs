//! The segment writer: owns the active `wal/%08x.jsonl`, appends batches of commit lines
//! with one write (and one fsync), rotates by size or line count, and on open resumes the
//! last segment while it has room.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::commit::{segment_filename, CommitId, MAX_SEGMENT_LINES};
use crate::reader::{scan_segments, segment_lines};

pub struct SegmentWriter {
    wal_dir: PathBuf,
    max_segment_size: u64,
    fsync: bool,
    file: Option<File>,
    segment: u32,
    offset: u32,
    size: u64,
}

impl SegmentWriter {
    /// Opens the log for appending. The newest segment is resumed when it is uncompressed
    /// and has room; a torn last line (no trailing newline: the process died mid-write) is
    /// cut off first so the next commit never gets glued onto it.
    pub fn open(wal_dir: &Path, max_segment_size: u64, fsync: bool) -> io::Result<SegmentWriter> {
        fs::create_dir_all(wal_dir)?;
        let mut w = SegmentWriter {
            wal_dir: wal_dir.to_path_buf(),
            max_segment_size,
            fsync,
            file: None,
            segment: 1,
            offset: 0,
            size: 0,
        };
        let segments = scan_segments(wal_dir)?;
        if let Some((&last, &(plain, gz))) = segments.iter().next_back() {
            if gz || !plain {
                w.segment = last + 1;
            } else {
                let path = wal_dir.join(segment_filename(last));
                let mut bytes = fs::read(&path)?;
                if let Some(cut) = torn_tail(&bytes) {
                    tracing::warn!(
                        "Cutting {} bytes of a torn last line off {} (interrupted write)",
                        bytes.len() - cut,
                        path.display()
                    );
                    let f = OpenOptions::new().write(true).open(&path)?;
                    f.set_len(cut as u64)?;
                    f.sync_all()?;
                    bytes.truncate(cut);
                }
                let lines = segment_lines(&bytes).last().map(|(o, _)| o + 1).unwrap_or(0);
                if (bytes.len() as u64) < max_segment_size && lines < MAX_SEGMENT_LINES {
                    w.segment = last;
                    w.offset = lines;
                    w.size = bytes.len() as u64;
                } else {
                    w.segment = last + 1;
                }
            }
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
    pub fn append(&mut self, lines: &[Vec<u8>], on_rotate: &mut dyn FnMut(u32)) -> io::Result<Vec<CommitId>> {
        let mut ids = Vec::with_capacity(lines.len());
        let mut buf: Vec<u8> = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        let start = (self.segment, self.offset, self.size);
        let result = (|| {
            for line in lines {
                if self.size + buf.len() as u64 > 0
                    && (self.size + buf.len() as u64 >= self.max_segment_size || self.offset >= MAX_SEGMENT_LINES)
                {
                    self.flush(&mut buf)?;
                    let closed = self.segment;
                    self.file = None;
                    self.segment += 1;
                    self.offset = 0;
                    self.size = 0;
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
            // Only the segment that was active at the failure can hold partial bytes.
            if self.segment == start.0 {
                self.offset = start.1;
                self.size = start.2;
            } else {
                self.offset = 0;
                self.size = 0;
            }
            if let Some(f) = &self.file {
                if f.set_len(self.size).is_err() {
                    self.file = None; // reopen (and re-check the tail) on the next append
                }
            }
            return Err(e);
        }
        Ok(ids)
    }

    fn flush(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            let path = self.wal_dir.join(segment_filename(self.segment));
            let f = OpenOptions::new().create(true).append(true).open(&path)?;
            let len = f.metadata()?.len();
            if len > self.size {
                // Leftovers of a batch that failed before we could cut it back.
                f.set_len(self.size)?;
            } else {
                self.size = len;
            }
            self.file = Some(f);
        }
        let f = self.file.as_mut().expect("opened above");
        f.write_all(buf)?;
        if self.fsync {
            f.sync_data()?;
        }
        self.size += buf.len() as u64;
        buf.clear();
        Ok(())
    }

    /// Flushes and closes the active segment.
    pub fn close(&mut self) -> io::Result<()> {
        if let Some(f) = self.file.take() {
            if self.fsync {
                f.sync_all()?;
            }
        }
        Ok(())
    }
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
}
