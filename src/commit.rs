//! The commit format: one WAL line per commit, `{"ts":…,"ops":[…]}`, and the commit id
//! `(segment, line offset)` that orders every commit in the log.

use std::fmt;

use crate::encoded::{Cursor, Encoded, Scanned};
use crate::json_read::parse_value;
use crate::json_write::{write_js_string, write_number};
use crate::value::Value;

/// A line offset is 16 bits in matter.js's commit id, so a segment holds at most this many lines.
pub const MAX_SEGMENT_LINES: u32 = 0xffff;

/// Position of a commit in the log: segment number, then line offset within the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId {
    pub segment: u32,
    pub offset: u32,
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.segment, self.offset)
    }
}

/// One operation of a commit. `key` is the dotted context key (`["a","b"]` → `"a.b"`).
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Set these keys of the context (Object.assign semantics).
    Upd { key: String, values: Vec<(String, Encoded)> },
    /// Delete these keys of the context, or with `None` the context and all its sub-contexts.
    Del { key: String, values: Option<Vec<String>> },
}

impl Op {
    pub fn context_key(&self) -> &str {
        match self {
            Op::Upd { key, .. } | Op::Del { key, .. } => key,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// Milliseconds since the Unix epoch when the commit was written (0 for legacy lines).
    pub ts: f64,
    pub ops: Vec<Op>,
}

/// Why a WAL line was not a valid commit; the reader skips such lines with a warning.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitError(pub String);

impl fmt::Display for CommitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CommitError {}

/// Appends the commit's JSON line (without the trailing newline) exactly as matter.js writes it.
pub fn serialize_commit(out: &mut Vec<u8>, ts: f64, ops: &[Op]) {
    out.extend_from_slice(b"{\"ts\":");
    write_number(out, ts);
    out.extend_from_slice(b",\"ops\":[");
    for (i, op) in ops.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match op {
            Op::Upd { key, values } => {
                out.extend_from_slice(b"{\"op\":\"upd\",\"key\":");
                write_js_string(out, key);
                out.extend_from_slice(b",\"values\":{");
                for (j, (k, v)) in values.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    write_js_string(out, k);
                    out.push(b':');
                    out.extend_from_slice(v.bytes());
                }
                out.extend_from_slice(b"}}");
            }
            Op::Del { key, values } => {
                out.extend_from_slice(b"{\"op\":\"del\",\"key\":");
                write_js_string(out, key);
                if let Some(values) = values {
                    out.extend_from_slice(b",\"values\":[");
                    for (j, k) in values.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        write_js_string(out, k);
                    }
                    out.push(b']');
                }
                out.push(b'}');
            }
        }
    }
    out.extend_from_slice(b"]}");
}

/// Parses one WAL line, validating it as strictly as matter.js does. A bare array of ops
/// (the legacy format) is accepted with `ts = 0`.
///
/// Lines as matter.js (or we) write them take a fast path that copies each value's bytes
/// after a validating scan; anything unusual goes through the full decoder, which defines
/// the semantics.
pub fn deserialize_commit(line: &[u8]) -> Result<Commit, CommitError> {
    if let Some(commit) = fast_commit(line) {
        return Ok(commit);
    }
    let parsed = parse_value(line).map_err(|e| CommitError(format!("invalid JSON: {e}")))?;
    match parsed {
        Value::Array(items) => Ok(Commit { ts: 0.0, ops: convert_ops(items)? }),
        Value::Object(obj) => {
            let mut ts = None;
            let mut ops = None;
            for (k, v) in obj.into_entries() {
                match k.as_str() {
                    "ts" => ts = Some(v),
                    "ops" => ops = Some(v),
                    _ => {}
                }
            }
            let ts = match ts {
                Some(Value::Number(n)) => n,
                _ => return Err(CommitError("WAL commit `ts` is missing or not a number".into())),
            };
            let ops = match ops {
                Some(Value::Array(items)) => convert_ops(items)?,
                _ => return Err(CommitError("WAL commit `ops` is missing or not an array".into())),
            };
            Ok(Commit { ts, ops })
        }
        _ => Err(CommitError("WAL commit is not an object".into())),
    }
}

/// The fast path: one pass over the line, values copied after a validating scan. `None`
/// (anything unusual: escapes in names, non-canonical values, duplicate members, …) sends
/// the line to the full decoder.
fn fast_commit(line: &[u8]) -> Option<Commit> {
    let mut c = Cursor::new(line);
    let (mut ts, mut ops) = (None, None);
    c.object(|c, name| {
        match name {
            "ts" if ts.is_none() => ts = Some(c.number()?),
            "ops" if ops.is_none() => {
                let mut list = Vec::new();
                c.array(|c| {
                    list.push(fast_op(c)?);
                    Some(())
                })?;
                ops = Some(list);
            }
            "ts" | "ops" => return None,
            _ => c.skip()?,
        }
        Some(())
    })?;
    if !c.at_end() {
        return None;
    }
    Some(Commit { ts: ts?, ops: ops? })
}

fn fast_op(c: &mut Cursor<'_>) -> Option<Op> {
    let (mut kind, mut key, mut upd, mut del) = (None, None, None, None);
    let mut seen_values = false;
    c.object(|c, name| {
        match name {
            "op" if kind.is_none() => kind = Some(c.plain_str()?),
            "key" if key.is_none() => key = Some(c.plain_str()?),
            "values" if !seen_values => {
                seen_values = true;
                if c.eat_peek(b'{') {
                    let mut values: Vec<(String, Encoded)> = Vec::new();
                    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
                    c.object(|c, k| {
                        // Duplicate members: JSON.parse semantics, left to the full decoder.
                        if !seen.insert(k) {
                            return None;
                        }
                        match c.value()? {
                            Scanned::Canonical(e) => values.push((k.to_string(), e)),
                            Scanned::Raw(_) => return None,
                        }
                        Some(())
                    })?;
                    upd = Some(values);
                } else {
                    let mut keys = Vec::new();
                    c.array(|c| {
                        keys.push(c.plain_str()?.to_string());
                        Some(())
                    })?;
                    del = Some(keys);
                }
            }
            "op" | "key" | "values" => return None,
            _ => c.skip()?,
        }
        Some(())
    })?;
    let key = key?.to_string();
    match (kind?, upd, del) {
        ("upd", Some(values), None) => Some(Op::Upd { key, values }),
        ("del", None, keys) => Some(Op::Del { key, values: keys }),
        _ => None,
    }
}

fn convert_ops(items: Vec<Value>) -> Result<Vec<Op>, CommitError> {
    items.into_iter().enumerate().map(|(i, v)| convert_op(i, v)).collect()
}

fn convert_op(index: usize, v: Value) -> Result<Op, CommitError> {
    let Value::Object(obj) = v else {
        return Err(CommitError(format!("WAL op[{index}] is not an object")));
    };
    let (mut kind, mut key, mut values) = (None, None, None);
    for (k, v) in obj.into_entries() {
        match k.as_str() {
            "op" => kind = Some(v),
            "key" => key = Some(v),
            "values" => values = Some(v),
            _ => {}
        }
    }
    let Some(Value::String(key)) = key else {
        return Err(CommitError(format!("WAL op[{index}] `key` is not a string")));
    };
    match kind {
        Some(Value::String(s)) if s == "upd" => match values {
            Some(Value::Object(values)) => Ok(Op::Upd {
                key,
                values: values.into_entries().into_iter().map(|(k, v)| (k, Encoded::from_value(&v))).collect(),
            }),
            _ => Err(CommitError(format!("WAL op[{index}] upd `values` is not an object"))),
        },
        Some(Value::String(s)) if s == "del" => match values {
            None | Some(Value::Undefined) => Ok(Op::Del { key, values: None }),
            Some(Value::Array(items)) => {
                let mut keys = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => keys.push(s),
                        _ => {
                            return Err(CommitError(format!(
                                "WAL op[{index}] del `values` is not a string array"
                            )))
                        }
                    }
                }
                Ok(Op::Del { key, values: Some(keys) })
            }
            _ => Err(CommitError(format!("WAL op[{index}] del `values` is not a string array"))),
        },
        other => Err(CommitError(format!(
            "WAL op[{index}] has unknown op kind `{}`",
            match other {
                Some(Value::String(s)) => s,
                None | Some(Value::Undefined) => "undefined".into(),
                Some(v) => format!("{v:?}"),
            }
        ))),
    }
}

/// `wal/%08x.jsonl`, the name of a live (uncompressed) segment.
pub fn segment_filename(segment: u32) -> String {
    format!("{segment:08x}.jsonl")
}

/// `wal/%08x.jsonl.gz`, the name of a rotated, gzipped segment.
pub fn compressed_segment_filename(segment: u32) -> String {
    format!("{segment:08x}.jsonl.gz")
}

/// Parses `%08x.jsonl` or `%08x.jsonl.gz` (hex digits in either case); returns the segment
/// number and whether it is the compressed form.
pub fn parse_segment_filename(name: &str) -> Option<(u32, bool)> {
    let (stem, compressed) = if let Some(stem) = name.strip_suffix(".jsonl.gz") {
        (stem, true)
    } else if let Some(stem) = name.strip_suffix(".jsonl") {
        (stem, false)
    } else {
        return None;
    };
    if stem.len() != 8 || !stem.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(stem, 16).ok().map(|n| (n, compressed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Encoded {
        Encoded::from_value(&Value::String(v.into()))
    }

    #[test]
    fn serializes_like_matter_js() {
        let ops = vec![
            Op::Upd { key: "a.b".into(), values: vec![("k".into(), s("v")), ("n".into(), Encoded::from_value(&Value::Number(1.5)))] },
            Op::Del { key: "a.b".into(), values: Some(vec!["k".into()]) },
            Op::Del { key: "c".into(), values: None },
        ];
        let mut out = Vec::new();
        serialize_commit(&mut out, 1700000000000.0, &ops);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"ts":1700000000000,"ops":[{"op":"upd","key":"a.b","values":{"k":"v","n":1.5}},{"op":"del","key":"a.b","values":["k"]},{"op":"del","key":"c"}]}"#
        );
    }

    #[test]
    fn round_trips_through_the_parser() {
        let ops = vec![
            Op::Upd { key: "x".into(), values: vec![("b".into(), Encoded::from_value(&Value::BigInt("-12".into())))] },
            Op::Del { key: "".into(), values: None },
        ];
        let mut out = Vec::new();
        serialize_commit(&mut out, 42.0, &ops);
        let commit = deserialize_commit(&out).unwrap();
        assert_eq!(commit, Commit { ts: 42.0, ops });
    }

    #[test]
    fn accepts_legacy_bare_array_with_zero_ts() {
        let commit = deserialize_commit(br#"[{"op":"upd","key":"a","values":{"k":1}}]"#).unwrap();
        assert_eq!(commit.ts, 0.0);
        assert_eq!(commit.ops.len(), 1);
    }

    #[test]
    fn rejects_malformed_commits_with_matter_messages() {
        let cases: &[(&[u8], &str)] = &[
            (b"42", "WAL commit is not an object"),
            (br#"{"ops":[]}"#, "WAL commit `ts` is missing or not a number"),
            (br#"{"ts":1}"#, "WAL commit `ops` is missing or not an array"),
            (br#"{"ts":1,"ops":[3]}"#, "WAL op[0] is not an object"),
            (br#"{"ts":1,"ops":[{"op":"upd","key":1,"values":{}}]}"#, "WAL op[0] `key` is not a string"),
            (br#"{"ts":1,"ops":[{"op":"upd","key":"a","values":[]}]}"#, "WAL op[0] upd `values` is not an object"),
            (br#"{"ts":1,"ops":[{"op":"del","key":"a","values":[1]}]}"#, "WAL op[0] del `values` is not a string array"),
            (br#"{"ts":1,"ops":[{"op":"put","key":"a"}]}"#, "WAL op[0] has unknown op kind `put`"),
        ];
        for (line, msg) in cases {
            assert_eq!(deserialize_commit(line).unwrap_err().0, *msg, "{}", String::from_utf8_lossy(line));
        }
        assert!(deserialize_commit(b"{\"ts\":1,\"ops\":[").is_err());
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_filename(0x1a), "0000001a.jsonl");
        assert_eq!(compressed_segment_filename(2), "00000002.jsonl.gz");
        assert_eq!(parse_segment_filename("0000001A.jsonl"), Some((26, false)));
        assert_eq!(parse_segment_filename("00000002.jsonl.gz"), Some((2, true)));
        assert_eq!(parse_segment_filename("00000002.jsonl.gz.tmp"), None);
        assert_eq!(parse_segment_filename("0002.jsonl"), None);
    }
}
