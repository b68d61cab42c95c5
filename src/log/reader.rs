//! Reads commits back from the `wal/` directory: segments in order, gzipped ones preferred,
//! blank lines counted (they keep offsets aligned with matter.js) but skipped, malformed
//! lines skipped with a warning.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::error::{AtPath, Error, Result};
use crate::log::commit::{
    compressed_segment_filename, deserialize_commit, parse_segment_filename, segment_filename, Commit, CommitError, CommitId,
};

/// Segment numbers present in `wal_dir` (either form), ascending. A missing directory is empty.
pub fn list_segments(wal_dir: &Path) -> Result<Vec<u32>> {
    Ok(scan_segments(wal_dir)?.into_keys().collect())
}

/// Segment number → which forms exist: (plain `.jsonl`, gzipped `.jsonl.gz`).
pub fn scan_segments(wal_dir: &Path) -> Result<BTreeMap<u32, (bool, bool)>> {
    let mut found = BTreeMap::new();
    let entries = match fs::read_dir(wal_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e).at(wal_dir),
    };
    for entry in entries {
        let entry = entry.at(wal_dir)?;
        if !entry.file_type().at(&entry.path())?.is_file() {
            continue;
        }
        let name = entry.file_name();
        let Some((seg, gz)) = name.to_str().and_then(parse_segment_filename) else { continue };
        let forms = found.entry(seg).or_insert((false, false));
        if gz {
            forms.1 = true;
        } else {
            forms.0 = true;
        }
    }
    Ok(found)
}

/// The whole content of a segment, decompressed; the `.gz` form wins when both exist.
pub fn read_segment_bytes(wal_dir: &Path, segment: u32) -> Result<(PathBuf, Vec<u8>)> {
    read_segment(wal_dir, segment, false)
}

/// Like [`read_segment_bytes`], with two recoveries for a `.gz` that does not decode: the
/// plain copy is used when it is still there (compression removes it only after the `.gz`
/// is complete), and with `allow_truncated` (the newest segment, which a crash can tear) a
/// gzip stream that merely ends early yields the lines it holds, with a warning. Anything
/// else (corrupt data, or a truncated segment in the middle of the log) is an error naming
/// the file.
pub fn read_segment(wal_dir: &Path, segment: u32, allow_truncated: bool) -> Result<(PathBuf, Vec<u8>)> {
    let gz = wal_dir.join(compressed_segment_filename(segment));
    let plain = wal_dir.join(segment_filename(segment));
    let read_plain = || fs::read(&plain).at(&plain);
    match fs::read(&gz) {
        Ok(compressed) => {
            let mut out = Vec::new();
            match gunzip(&compressed, &mut out) {
                Ok(_) => Ok((gz, out)),
                Err(e) if plain.is_file() => {
                    tracing::warn!("Cannot decompress {} ({e}); reading the plain copy {}", gz.display(), plain.display());
                    Ok((plain.clone(), read_plain()?))
                }
                Err(e) if allow_truncated && e.kind() == io::ErrorKind::UnexpectedEof => {
                    tracing::warn!(
                        "{} is truncated ({e}); recovered the {} bytes before the cut, later lines of this segment are lost",
                        gz.display(),
                        out.len()
                    );
                    Ok((gz, out))
                }
                Err(e) => Err(e).at(&gz),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((plain.clone(), read_plain()?)),
        Err(e) => Err(e).at(&gz),
    }
}

/// Decompresses gzip data (every member) onto `out`, which is first sized from the gzip
/// trailer (the size of the last member), so a large file is not copied while it grows.
/// The trailer is only a hint: at most 64 times the compressed size is reserved for it.
pub fn gunzip(gz: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
    if let Some(trailer) = gz.get(gz.len().saturating_sub(4)..).filter(|t| t.len() == 4) {
        let size = u32::from_le_bytes(trailer.try_into().unwrap_or_default()) as usize;
        out.reserve(size.min(gz.len().saturating_mul(64)));
    }
    MultiGzDecoder::new(gz).read_to_end(out)
}

/// Checks that the log has segment `first` and every segment after it up to the newest one:
/// a segment is missing when a later one exists. `Err` names the first missing file.
pub fn check_contiguous(wal_dir: &Path, segments: &[u32], first: u32) -> Result<()> {
    let mut expected = first;
    for &seg in segments.iter().filter(|s| **s >= first) {
        if seg != expected {
            return Err(Error::IncompleteLog(format!(
                "WAL segment {} is missing (the log goes on with segment {seg}), so the commits it held are lost",
                wal_dir.join(segment_filename(expected)).display()
            )));
        }
        expected = seg.saturating_add(1);
    }
    Ok(())
}

/// Splits a segment into `(offset, line)` pairs the way matter.js numbers them: every
/// `\n`-separated line counts, whitespace-only lines are then dropped.
pub fn segment_lines(bytes: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    // SIMD newline search: segments are up to 16 MB and read on every open.
    let mut ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    let mut start = if bytes.is_empty() { None } else { Some(0usize) };
    let mut offset = 0u32;
    std::iter::from_fn(move || loop {
        let from = start?;
        let end = ends.next()?;
        start = (end < body.len()).then_some(end + 1);
        let line = &body[from..end];
        let this = offset;
        offset += 1;
        if !line.iter().all(|b| b.is_ascii_whitespace()) {
            return Some((this, line));
        }
    })
}

/// Where the newest segment's content ends when part of it never reached the disk: the
/// start of the first line holding a NUL byte.
///
/// A commit line is JSON text and never contains NUL. Zeroed bytes in a segment are what a
/// file system shows for appended data whose pages were not written before a crash (the
/// file's size reached the disk, some of its data did not), and with page-sized write-back
/// the lines after such a hole can be intact. Those lines were written after the hole, in
/// the same unsynced stretch: none of them was acknowledged (a commit is acknowledged only
/// after `fdatasync` of its segment, which would have written the hole too). Replaying them
/// would leave a hole among the issued commits, so replay stops at the zeroed line and the
/// writer cuts the segment there. Other malformed lines (no NUL: a bit flip, an edit) are
/// skipped with a warning, as matter.js does.
pub fn zeroed_tail(bytes: &[u8]) -> Option<usize> {
    let nul = memchr::memchr(0, bytes)?;
    Some(memchr::memrchr(b'\n', &bytes[..nul]).map_or(0, |p| p + 1))
}

/// A commit with its id, as replay consumes it.
pub struct ReadCommit {
    /// Where the commit is in the log.
    pub id: CommitId,
    /// The commit.
    pub commit: Commit,
}

/// Reads every commit strictly after `after` (all when `None`), in log order. Lines of one
/// segment are parsed in parallel across the available cores; order is preserved.
pub fn read_commits(wal_dir: &Path, after: Option<CommitId>, mut each: impl FnMut(ReadCommit) -> bool) -> Result<()> {
    let segments = list_segments(wal_dir)?;
    let newest = segments.last().copied();
    for segment in segments {
        if after.is_some_and(|a| segment < a.segment) {
            continue;
        }
        let (path, mut bytes) = read_segment(wal_dir, segment, Some(segment) == newest)?;
        if Some(segment) == newest {
            if let Some(cut) = zeroed_tail(&bytes) {
                tracing::warn!(
                    "Ignoring the end of {} from offset {} on ({} bytes): it holds zeroed bytes, data that never reached the disk before a crash",
                    path.display(),
                    memchr::memchr_iter(b'\n', &bytes[..cut]).count(),
                    bytes.len() - cut
                );
                bytes.truncate(cut);
            }
        }
        let lines: Vec<(u32, &[u8])> =
            segment_lines(&bytes).filter(|(offset, _)| after.is_none_or(|a| CommitId { segment, offset: *offset } > a)).collect();
        for (offset, parsed) in parse_parallel(&lines)? {
            match parsed {
                Ok(commit) => {
                    if !each(ReadCommit { id: CommitId { segment, offset }, commit }) {
                        return Ok(());
                    }
                }
                Err(e) => tracing::warn!("Skipping malformed WAL line at segment {segment}, offset {offset} ({}): {e}", path.display()),
            }
        }
    }
    Ok(())
}

fn parse_parallel(lines: &[(u32, &[u8])]) -> Result<Vec<(u32, std::result::Result<Commit, CommitError>)>> {
    let parse = |chunk: &[(u32, &[u8])]| chunk.iter().map(|(o, l)| (*o, deserialize_commit(l))).collect::<Vec<_>>();
    let total: usize = lines.iter().map(|(_, l)| l.len()).sum();
    Ok(crate::threads::parallel_chunks(lines, total >= 256 * 1024, parse)?.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    #[test]
    fn numbers_lines_like_matter_js() {
        let lines: Vec<_> = segment_lines(b"a\n\n  \nb\n").collect();
        assert_eq!(lines, vec![(0, &b"a"[..]), (3, &b"b"[..])]);
        assert_eq!(segment_lines(b"").count(), 0);
        assert_eq!(segment_lines(b"x").collect::<Vec<_>>(), vec![(0, &b"x"[..])]);
    }

    #[test]
    fn reads_plain_and_gzipped_segments_skipping_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("00000001.jsonl"), b"{\"ts\":1,\"ops\":[]}\nnot json\n{\"ts\":2,\"ops\":[]}\n").unwrap();
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(b"{\"ts\":3,\"ops\":[]}\n").unwrap();
        fs::write(dir.path().join("00000002.jsonl.gz"), gz.finish().unwrap()).unwrap();
        // A stale plain copy next to the gzipped one is ignored.
        fs::write(dir.path().join("00000002.jsonl"), b"{\"ts\":99,\"ops\":[]}\n").unwrap();
        fs::write(dir.path().join("notes.txt"), b"x").unwrap();

        let mut seen = Vec::new();
        read_commits(dir.path(), None, |c| {
            seen.push((c.id, c.commit.ts));
            true
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                (CommitId { segment: 1, offset: 0 }, 1.0),
                (CommitId { segment: 1, offset: 2 }, 2.0),
                (CommitId { segment: 2, offset: 0 }, 3.0)
            ]
        );

        let mut after = Vec::new();
        read_commits(dir.path(), Some(CommitId { segment: 1, offset: 0 }), |c| {
            after.push(c.id);
            true
        })
        .unwrap();
        assert_eq!(after, vec![CommitId { segment: 1, offset: 2 }, CommitId { segment: 2, offset: 0 }]);
    }

    #[test]
    fn missing_directory_has_no_segments() {
        let dir = tempfile::tempdir().unwrap();
        assert!(list_segments(&dir.path().join("nope")).unwrap().is_empty());
    }
    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn commit_lines(from: usize, to: usize) -> Vec<u8> {
        (from..to).flat_map(|i| format!("{{\"ts\":{i},\"ops\":[]}}\n").into_bytes()).collect()
    }

    fn timestamps(dir: &Path) -> Result<Vec<f64>> {
        let mut ts = Vec::new();
        read_commits(dir, None, |c| {
            ts.push(c.commit.ts);
            true
        })?;
        Ok(ts)
    }

    #[test]
    fn gunzip_takes_the_trailer_as_a_hint_only() {
        let (a, b) = (commit_lines(0, 50), commit_lines(50, 60));
        // Two members: the trailer gives the size of the last one only.
        let two = [gz(&a), gz(&b)].concat();
        let mut out = Vec::new();
        assert_eq!(gunzip(&two, &mut out).unwrap(), a.len() + b.len());
        assert_eq!(out, [a.clone(), b].concat());
        // A damaged trailer claiming 4 GiB: an error, and no more than 64× the input reserved.
        let mut bad = gz(&a);
        let n = bad.len();
        bad[n - 4..].copy_from_slice(&[0xff; 4]);
        let mut out = Vec::new();
        assert!(gunzip(&bad, &mut out).is_err());
        assert!(out.capacity() <= 64 * n, "{} reserved for {n} bytes", out.capacity());
        // Shorter than a trailer: no hint, the decoder decides.
        assert_eq!(gunzip(b"", &mut Vec::new()).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(gunzip(b"\x1f\x8b", &mut Vec::new()).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn torn_gzipped_newest_segment_yields_its_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("00000001.jsonl"), commit_lines(0, 3)).unwrap();
        let full = gz(&commit_lines(3, 400));
        fs::write(dir.path().join("00000002.jsonl.gz"), &full[..full.len() * 2 / 3]).unwrap();
        let ts = timestamps(dir.path()).unwrap();
        assert!(ts.len() > 3 && ts.len() < 400, "recovered {} commits", ts.len());
        assert_eq!(ts, (0..ts.len()).map(|i| i as f64).collect::<Vec<_>>(), "a prefix, in order, no torn line");
        // An empty (wholly torn) gzip file is an empty segment.
        fs::write(dir.path().join("00000002.jsonl.gz"), b"").unwrap();
        assert_eq!(timestamps(dir.path()).unwrap().len(), 3);
    }

    #[test]
    fn torn_gzipped_segment_in_the_middle_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let full = gz(&commit_lines(0, 400));
        fs::write(dir.path().join("00000001.jsonl.gz"), &full[..full.len() / 2]).unwrap();
        fs::write(dir.path().join("00000002.jsonl"), commit_lines(400, 401)).unwrap();
        let err = timestamps(dir.path()).unwrap_err();
        assert!(err.to_string().contains("00000001.jsonl.gz"), "{err}");
    }

    #[test]
    fn undecodable_gzip_falls_back_to_the_plain_copy() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("00000001.jsonl.gz"), b"\x1f\x8b garbage").unwrap();
        fs::write(dir.path().join("00000001.jsonl"), commit_lines(0, 2)).unwrap();
        fs::write(dir.path().join("00000002.jsonl"), commit_lines(2, 3)).unwrap();
        assert_eq!(timestamps(dir.path()).unwrap(), vec![0.0, 1.0, 2.0]);
        // Without the plain copy, corrupt data is an error naming the file.
        fs::remove_file(dir.path().join("00000001.jsonl")).unwrap();
        let err = timestamps(dir.path()).unwrap_err();
        assert!(err.to_string().contains("00000001.jsonl.gz"), "{err}");
    }

    #[test]
    fn contiguity_names_the_first_missing_segment() {
        let dir = Path::new("/s/wal");
        assert!(check_contiguous(dir, &[], 1).is_ok());
        assert!(check_contiguous(dir, &[1, 2, 3], 1).is_ok());
        assert!(check_contiguous(dir, &[1, 2, 5, 6], 5).is_ok(), "segments before the base do not matter");
        assert!(check_contiguous(dir, &[1, 2], 5).is_ok(), "nothing at or after the base");
        let e = check_contiguous(dir, &[1, 2, 4], 1).unwrap_err();
        assert!(e.to_string().contains("/s/wal/00000003.jsonl is missing"), "{e}");
        let e = check_contiguous(dir, &[3, 4], 1).unwrap_err();
        assert!(e.to_string().contains("00000001.jsonl is missing"), "{e}");
        let e = check_contiguous(dir, &[6, 7], 5).unwrap_err();
        assert!(e.to_string().contains("00000005.jsonl is missing"), "{e}");
    }

    #[test]
    fn replay_stops_at_a_zeroed_line_in_the_newest_segment_only() {
        // A batch written across a page boundary, the first page never written back: its
        // lines read as NUL bytes, the line in the second page is intact.
        let mut seg = b"{\"ts\":1,\"ops\":[]}\n{\"ts\":2,".to_vec();
        seg.extend(std::iter::repeat_n(0u8, 40));
        seg.extend_from_slice(b"s\":[]}\n{\"ts\":3,\"ops\":[]}\n");
        assert_eq!(zeroed_tail(&seg), Some(18));
        assert_eq!(zeroed_tail(b"{\"ts\":1,\"ops\":[]}\n"), None);
        assert_eq!(zeroed_tail(b"\0\0\n{}\n"), Some(0));

        let ts = |dir: &Path| {
            let mut seen = Vec::new();
            read_commits(dir, None, |c| {
                seen.push((c.id.segment, c.id.offset, c.commit.ts));
                true
            })
            .unwrap();
            seen
        };
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("00000001.jsonl"), &seg).unwrap();
        assert_eq!(ts(dir.path()), vec![(1, 0, 1.0)], "nothing after the hole is replayed");
        // Not the newest segment (a disk that loses synced data, or fsync off): the damaged
        // line is skipped like any malformed line.
        fs::write(dir.path().join("00000002.jsonl"), b"{\"ts\":4,\"ops\":[]}\n").unwrap();
        assert_eq!(ts(dir.path()), vec![(1, 0, 1.0), (1, 2, 3.0), (2, 0, 4.0)]);
    }
}
