//! Helpers the tool's unit tests share: commit lines and segment files written as the
//! driver writes them, and a progress callback that ignores its steps.

use std::fs;
use std::path::Path;

use crate::codec::stored::Encoded;
use crate::codec::value::Value;
use crate::log::commit::{segment_filename, serialize_commit, Op};

/// An `upd` op setting one key.
pub fn upd(key: &str, k: &str, v: Value) -> Op {
    Op::upd(key, vec![(k.into(), Encoded::from_value(&v))])
}

/// One WAL line, newline included.
pub fn line(ts: f64, ops: &[Op]) -> String {
    let mut out = Vec::new();
    serialize_commit(&mut out, ts, ops);
    String::from_utf8(out).unwrap() + "\n"
}

/// Writes `wal/<segment>.jsonl` below `dir` (plain).
pub fn write_segment(dir: &Path, seg: u32, text: &str) {
    fs::create_dir_all(dir.join("wal")).unwrap();
    fs::write(dir.join("wal").join(segment_filename(seg)), text).unwrap();
}

pub fn quiet() -> impl FnMut(&str) {
    |_| {}
}
