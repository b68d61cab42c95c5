//! Fuzz targets shared by the property tests (`tests/fuzz_props.rs`, stable, run by
//! `cargo test`), the corpus replay (`tests/fuzz_corpus.rs`) and the libFuzzer binaries
//! (`fuzz/`, `cargo +nightly fuzz run <target>`). Each takes arbitrary bytes and must never
//! panic; every error must be an ordinary `Err`.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::Path;

use flate2::{write::GzEncoder, Compression};
use matter_wal_native::parse_value;
use matter_wal_native::SegmentWriter;
use matter_wal_native::{decode_snapshot, encode_snapshot, load_snapshot};
use matter_wal_native::{deserialize_commit, serialize_commit, CommitId};
use matter_wal_native::{read_commits, segment_lines};

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// The commit-line parser: any line parses or fails cleanly; a line that parses can be
/// written back, and what we write reads back to the same line (serialization is a fixed
/// point after one round). The exception is a `ts` too large for a double (`1e999`): it
/// reads as Infinity, a number, and is written `null`, as `JSON.stringify` writes it, which
/// no reader accepts back; matter.js 0.17.9 does the same (fuzz/regressions/commit_line).
pub fn commit_line(data: &[u8]) {
    let _ = parse_value(data);
    for (_, line) in segment_lines(data) {
        let Ok(commit) = deserialize_commit(line) else { continue };
        let mut once = Vec::new();
        serialize_commit(&mut once, commit.ts, &commit.ops);
        if !commit.ts.is_finite() {
            assert!(once.starts_with(b"{\"ts\":null,"), "non-finite ts not written as null: {}", String::from_utf8_lossy(&once));
            assert!(deserialize_commit(&once).is_err(), "a null ts must be refused, as matter.js refuses it");
            continue;
        }
        let again =
            deserialize_commit(&once).unwrap_or_else(|e| panic!("our own line does not parse ({e}): {}", String::from_utf8_lossy(&once)));
        let mut twice = Vec::new();
        serialize_commit(&mut twice, again.ts, &again.ops);
        assert_eq!(String::from_utf8_lossy(&once), String::from_utf8_lossy(&twice), "serialization is not stable");
    }
}

/// The segment reader: the bytes as a plain segment, gzipped, as a (bogus) gzip file, as
/// the newest segment with a possibly torn tail; read everything, then let the writer
/// resume the directory and append.
pub fn segment_reader(data: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path();
    let split = data.first().map_or(0, |b| *b as usize % (data.len() + 1));
    fs::write(wal.join("00000001.jsonl"), data).unwrap();
    fs::write(wal.join("00000002.jsonl.gz"), gzip(data)).unwrap();
    fs::write(wal.join("00000003.jsonl.gz"), &data[..split]).unwrap();
    fs::write(wal.join("00000003.jsonl"), data).unwrap();
    fs::write(wal.join("00000004.jsonl.gz"), &gzip(data)[..split.min(gzip(data).len())]).unwrap();
    read_all(wal);
    let _ = read_commits(wal, Some(CommitId { segment: 2, offset: split as u32 }), |_| true);
    // The newest segment as a plain file with whatever tail the bytes have.
    fs::write(wal.join("00000005.jsonl"), data).unwrap();
    read_all(wal);
    if let Ok(mut w) = SegmentWriter::open(wal, 1 << 20, false) {
        // Whatever the tail was, the appended commit gets a line of its own at the id handed out.
        let line = b"{\"ts\":1,\"ops\":[]}".to_vec();
        let id = w.append(std::slice::from_ref(&line), &mut |_| {}).unwrap()[0];
        let bytes = fs::read(wal.join(format!("{:08x}.jsonl", id.segment))).unwrap();
        let found: Vec<_> = segment_lines(&bytes).filter(|(o, _)| *o == id.offset).collect();
        assert_eq!(found, vec![(id.offset, &line[..])], "appended commit not on its own line at {id}");
        assert!(bytes.ends_with(b"\n"));
    }
}

fn read_all(wal: &Path) {
    let mut previous = None;
    let _ = read_commits(wal, None, |c| {
        assert!(previous.is_none_or(|p| c.id > p), "commit ids must increase");
        previous = Some(c.id);
        true
    });
}

/// The snapshot loader: decode, and load from `snapshot.json`, `snapshot.json.gz` (gzipped
/// bytes, and the raw bytes as a bogus gzip) and `head.json`. What decodes re-encodes to a
/// snapshot that decodes to the same content.
pub fn snapshot_loader(data: &[u8]) {
    if let Ok(s) = decode_snapshot(data) {
        let text = encode_snapshot(s.commit_id, s.ts, &s.data);
        let again = decode_snapshot(&text).unwrap_or_else(|e| panic!("our own snapshot does not decode: {e}"));
        assert_eq!(again.commit_id, s.commit_id);
        assert_eq!(again.data.key_count(), s.data.key_count());
        assert_eq!(encode_snapshot(again.commit_id, again.ts, &again.data), text, "snapshot encoding is not stable");
    }
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("snapshot.json"), data).unwrap();
    let _ = load_snapshot(dir.path(), "snapshot");
    fs::remove_file(dir.path().join("snapshot.json")).unwrap();
    fs::write(dir.path().join("snapshot.json.gz"), gzip(data)).unwrap();
    let _ = load_snapshot(dir.path(), "snapshot");
    fs::write(dir.path().join("head.json.gz"), data).unwrap();
    let _ = load_snapshot(dir.path(), "head");
}
