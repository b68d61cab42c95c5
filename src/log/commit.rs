//! The commit format: one WAL line per commit, `{"ts":…,"ops":[…]}`, and the commit id
//! `(segment, line offset)` that orders every commit in the log.

use std::fmt;
use std::sync::Arc;

use crate::codec::ecma::js_to_string;
use crate::codec::from_json::{object_members, parse_plain, revive, JsonError};
use crate::codec::jsstr::{JsStr, JsString};
use crate::codec::stored::{Cursor, Encoded, Scanned};
use crate::codec::to_json::{write_js_string, write_number};
use crate::codec::value::{JsObject, Value};

/// A line offset is 16 bits in matter.js's commit id, so a segment holds at most this many lines.
pub const MAX_SEGMENT_LINES: u32 = 0xffff;

/// Position of a commit in the log: segment number, then line offset within the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId {
    /// The segment file's number (`00000001.jsonl` is 1).
    pub segment: u32,
    /// The line's index within the segment, from 0 (blank lines count, as in matter.js).
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
    Upd {
        /// The context key.
        key: JsString,
        /// The keys set and their values, in the order matter.js wrote them.
        values: Vec<(JsString, Encoded)>,
        /// The `values` object exactly as matter.js's `toJson` wrote it, when that differs
        /// from the canonical encoding of `values` (it may hold `undefined` properties, which
        /// the stored values no longer have): the log line is written with it, so it is
        /// byte-identical to matter.js's.
        written: Option<Arc<[u8]>>,
    },
    /// Delete these keys of the context, or with `None` the context and all its sub-contexts.
    Del {
        /// The context key.
        key: JsString,
        /// The keys deleted; `None`: the whole context and its sub-contexts.
        values: Option<Vec<JsString>>,
    },
}

impl Op {
    /// An update of `values` in context `key`.
    pub fn upd(key: impl Into<JsString>, values: Vec<(JsString, Encoded)>) -> Op {
        Op::Upd { key: key.into(), values, written: None }
    }

    /// The context key the op applies to.
    pub fn context_key(&self) -> &JsStr {
        match self {
            Op::Upd { key, .. } | Op::Del { key, .. } => key,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
/// One line of the log: what one `set`/`delete`/`clearAll` or transaction wrote.
pub struct Commit {
    /// Milliseconds since the Unix epoch when the commit was written (0 for legacy lines).
    pub ts: f64,
    /// The operations, applied in order.
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

/// Why a record of values from `toJson` cannot be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordError {
    /// The key whose value failed (`None`: the record itself is malformed).
    pub key: Option<JsString>,
    pub message: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) => write!(f, "Cannot store key {k:?}: matter.js could not read it back ({})", self.message),
            None => write!(f, "Cannot store this record: {}", self.message),
        }
    }
}

impl std::error::Error for RecordError {}

/// The update op for a record of values as matter.js's `toJson` wrote it (the `values` of
/// one op). Each value is stored as `fromJson` will read it back; a value `fromJson` could
/// not read (e.g. a string that looks like an unknown marker) is refused here, before
/// anything is logged. The line keeps `toJson`'s exact bytes.
pub fn upd_from_json(context: JsString, record: &str) -> Result<Op, RecordError> {
    let members = object_members(record.as_bytes()).map_err(|e| RecordError { key: None, message: e.to_string() })?;
    let mut values = Vec::with_capacity(members.len());
    let mut canonical = true;
    for (key, raw) in members {
        // A member's text is a slice of the record between ASCII delimiters (whole characters).
        let start = raw.as_ptr() as usize - record.as_ptr() as usize;
        let text = &record[start..start + raw.len()];
        let value = Encoded::from_json_str(text).map_err(|e| RecordError { key: Some(key.clone()), message: e.to_string() })?;
        canonical &= value.bytes() == raw;
        values.push((key, value));
    }
    let written = (!canonical).then(|| Arc::from(record.as_bytes()));
    Ok(Op::Upd { key: context, values, written })
}

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
            Op::Upd { key, values, written } => {
                out.extend_from_slice(b"{\"op\":\"upd\",\"key\":");
                write_js_string(out, key);
                out.extend_from_slice(b",\"values\":");
                match written {
                    Some(raw) => out.extend_from_slice(raw),
                    None => write_values(out, values),
                }
                out.push(b'}');
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

/// Appends `{"k":v,…}` for stored values.
pub fn write_values(out: &mut Vec<u8>, values: &[(JsString, Encoded)]) {
    out.push(b'{');
    for (j, (k, v)) in values.iter().enumerate() {
        if j > 0 {
            out.push(b',');
        }
        write_js_string(out, k);
        out.push(b':');
        out.extend_from_slice(v.bytes());
    }
    out.push(b'}');
}

/// Parses one WAL line, validating it as strictly as matter.js does. A bare array of ops
/// (the legacy format) is accepted with `ts = 0`.
///
/// Lines as matter.js (or we) write them take a fast path that copies each value's bytes
/// after a validating scan; anything unusual goes through the full decoder, which defines
/// the semantics: `fromJson(line)` then matter.js's validation, except that a key whose
/// value is `undefined` stays in its op (the reviver would delete it, so matter.js's replay
/// keeps the key's previous value): applying the op removes the key, as `set(k, undefined)`
/// did when it was written (see the README's table of differences).
pub fn deserialize_commit(line: &[u8]) -> Result<Commit, CommitError> {
    match fast_commit(line) {
        Some(commit) => Ok(commit),
        None => full_commit(line),
    }
}

/// The full decoder: the definition of what a line means.
fn full_commit(line: &[u8]) -> Result<Commit, CommitError> {
    let parsed = parse_plain(line).map_err(invalid)?;
    decode_commit(parsed, true)
}

fn invalid(e: JsonError) -> CommitError {
    CommitError(format!("invalid JSON: {e}"))
}

/// `v` revived (when `pending`: it is a plain `JSON.parse` result the reviver has yet to
/// walk; a value a reviver returned is not walked again).
fn revived(v: Value, pending: bool) -> Result<Value, CommitError> {
    if pending {
        revive(v).map_err(invalid)
    } else {
        Ok(v)
    }
}

/// matter.js's `deserializeCommit` on what `fromJson(line)` gives.
fn decode_commit(parsed: Value, pending: bool) -> Result<Commit, CommitError> {
    match parsed {
        Value::Array(items) => Ok(Commit { ts: 0.0, ops: convert_ops(items, pending)? }),
        Value::Object(obj) => {
            let mut ts = None;
            let mut ops = None;
            for (k, v) in obj.into_entries() {
                if k == "ts" {
                    ts = Some(revived(v, pending)?);
                } else if k == "ops" {
                    ops = Some(v);
                } else {
                    // Revived for its errors only (fromJson revives every member).
                    revived(v, pending)?;
                }
            }
            let ts = match ts {
                Some(Value::Number(n)) => n,
                _ => return Err(CommitError("WAL commit `ts` is missing or not a number".into())),
            };
            let not_array = || CommitError("WAL commit `ops` is missing or not an array".into());
            let ops = match ops {
                Some(Value::Array(items)) => convert_ops(items, pending)?,
                Some(other) if pending => match revive(other).map_err(invalid)? {
                    Value::Array(items) => convert_ops(items, false)?,
                    _ => return Err(not_array()),
                },
                _ => return Err(not_array()),
            };
            Ok(Commit { ts, ops })
        }
        other if pending => decode_commit(revive(other).map_err(invalid)?, false),
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
                    let mut values: Vec<(JsString, Encoded)> = Vec::new();
                    let mut seen = SeenKeys::default();
                    let mut order = KeyOrder::default();
                    c.object(|c, k| {
                        // Duplicate members and keys out of JavaScript's order: JSON.parse
                        // semantics, left to the full decoder.
                        if !seen.insert(k) || !order.follows(k) {
                            return None;
                        }
                        match c.value()? {
                            Scanned::Canonical(e) => values.push((JsString::from(k), e)),
                            Scanned::Raw(_) => return None,
                        }
                        Some(())
                    })?;
                    upd = Some(values);
                } else {
                    let mut keys = Vec::new();
                    c.array(|c| {
                        keys.push(JsString::from(c.plain_str()?));
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
    let key = JsString::from(key?);
    match (kind?, upd, del) {
        ("upd", Some(values), None) => Some(Op::upd(key, values)),
        ("del", None, keys) => Some(Op::Del { key, values: keys }),
        _ => None,
    }
}

/// The member names of one object seen so far: a list while it is short (attribute records
/// are), a hash set beyond.
#[derive(Default)]
struct SeenKeys<'a> {
    few: Vec<&'a str>,
    many: Option<std::collections::HashSet<&'a str, foldhash::fast::RandomState>>,
}

impl<'a> SeenKeys<'a> {
    const FEW: usize = 16;

    /// Adds `key`; false when it was already there.
    fn insert(&mut self, key: &'a str) -> bool {
        if let Some(many) = &mut self.many {
            return many.insert(key);
        }
        if self.few.contains(&key) {
            return false;
        }
        if self.few.len() < Self::FEW {
            self.few.push(key);
        } else {
            let mut many: std::collections::HashSet<&'a str, foldhash::fast::RandomState> = self.few.drain(..).collect();
            many.insert(key);
            self.many = Some(many);
        }
        true
    }
}

/// Checks that keys come in JavaScript's property order: array indices ascending, then
/// the other keys (which keep their order).
#[derive(Default)]
struct KeyOrder {
    last_index: Option<u32>,
    seen_named: bool,
}

impl KeyOrder {
    fn follows(&mut self, key: &str) -> bool {
        match crate::codec::value::array_index(key) {
            Some(i) if self.seen_named || self.last_index.is_some_and(|l| l >= i) => false,
            Some(i) => {
                self.last_index = Some(i);
                true
            }
            None => {
                self.seen_named = true;
                true
            }
        }
    }
}

fn convert_ops(items: Vec<Value>, pending: bool) -> Result<Vec<Op>, CommitError> {
    items.into_iter().enumerate().map(|(i, v)| convert_op(i, v, pending)).collect()
}

/// One op of a `JSON.parse`d line: revived as `fromJson` would, then validated like
/// matter.js's `deserializeCommit`.
fn convert_op(index: usize, v: Value, pending: bool) -> Result<Op, CommitError> {
    // An object is revived member by member (below); anything else as a whole, and what
    // the reviver returned is not walked again.
    let (obj, pending) = match v {
        Value::Object(obj) => (obj, pending),
        other => match revived(other, pending)? {
            Value::Object(obj) => (obj, false),
            _ => return Err(CommitError(format!("WAL op[{index}] is not an object"))),
        },
    };
    let (mut kind, mut key, mut values) = (None, None, None);
    for (k, v) in obj.into_entries() {
        if k == "values" {
            values = Some(match v {
                // The members keep `undefined` (our difference from the reviver).
                Value::Object(members) => {
                    let mut kept = Vec::new();
                    for (name, member) in members.into_entries() {
                        kept.push((name, revived(member, pending)?));
                    }
                    Value::Object(JsObject::from_ordered(kept))
                }
                other => revived(other, pending)?,
            });
        } else {
            let revived = revived(v, pending)?;
            if k == "op" {
                kind = Some(revived);
            } else if k == "key" {
                key = Some(revived);
            }
        }
    }
    let Some(Value::String(key)) = key else {
        return Err(CommitError(format!("WAL op[{index}] `key` is not a string")));
    };
    match kind {
        Some(Value::String(s)) if s == "upd" => match values {
            Some(Value::Object(values)) => {
                Ok(Op::upd(key, values.into_entries().into_iter().map(|(k, v)| (k, Encoded::from_value(&v))).collect()))
            }
            // matter.js's `Object.assign(context, values)` with a revived Map copies nothing,
            // with bytes their indices; anything else is not a record.
            Some(Value::Map(_)) => Ok(Op::upd(key, Vec::new())),
            Some(Value::Bytes(bytes)) => Ok(Op::upd(
                key,
                bytes
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (JsString::from(i.to_string()), Encoded::from_value(&Value::Number(*b as f64))))
                    .collect(),
            )),
            _ => Err(CommitError(format!("WAL op[{index}] upd `values` is not an object"))),
        },
        Some(Value::String(s)) if s == "del" => match values {
            None | Some(Value::Undefined) => Ok(Op::Del { key, values: None }),
            Some(Value::Array(items)) => {
                let mut keys = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => keys.push(s),
                        _ => return Err(CommitError(format!("WAL op[{index}] del `values` is not a string array"))),
                    }
                }
                Ok(Op::Del { key, values: Some(keys) })
            }
            _ => Err(CommitError(format!("WAL op[{index}] del `values` is not a string array"))),
        },
        other => Err(CommitError(format!(
            "WAL op[{index}] has unknown op kind `{}`",
            match other {
                None | Some(Value::Undefined) => "undefined".into(),
                Some(v) => js_to_string(&v).to_string(),
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

    fn del(key: &str, keys: Option<Vec<&str>>) -> Op {
        Op::Del { key: key.into(), values: keys.map(|k| k.into_iter().map(JsString::from).collect()) }
    }

    #[test]
    fn serializes_like_matter_js() {
        let ops = vec![
            Op::upd("a.b", vec![("k".into(), s("v")), ("n".into(), Encoded::from_value(&Value::Number(1.5)))]),
            del("a.b", Some(vec!["k"])),
            del("c", None),
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
        let ops = vec![Op::upd("x", vec![("b".into(), Encoded::from_value(&Value::BigInt("-12".into())))]), del("", None)];
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
    fn seen_keys_spots_repeats_before_and_after_growing() {
        let names: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
        let mut seen = SeenKeys::default();
        for (i, n) in names.iter().enumerate() {
            assert!(seen.insert(n), "{n}");
            assert!(!seen.insert(&names[i / 2]), "{n}");
        }
        // A record with many keys and a repeat at its end leaves the fast path.
        let members: Vec<String> = (0..30).chain([3]).map(|i| format!("\"k{i}\":{i}")).collect();
        let line = format!(r#"{{"ts":1,"ops":[{{"op":"upd","key":"a","values":{{{}}}}}]}}"#, members.join(","));
        assert!(fast_commit(line.as_bytes()).is_none());
        let Op::Upd { values, .. } = &deserialize_commit(line.as_bytes()).unwrap().ops[0] else { panic!("not an update") };
        assert_eq!(values.len(), 30);
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

    mod fast_equals_full {
        use super::super::{fast_commit, full_commit};
        use crate::codec::jsstr::JsString;
        use crate::codec::to_json::{write_js_string, write_value, write_value_pretty};
        use crate::codec::value::Value;
        use crate::test_values::{any_key, any_value};
        use proptest::prelude::*;

        /// One member value as it may appear in a line: as toJson writes it, pretty-printed,
        /// or a marker string (canonical or not, revivable or not).
        fn member_text() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => any_value().prop_map(|v| { let mut o = Vec::new(); write_value(&mut o, &v); String::from_utf8(o).unwrap() }),
                1 => any_value().prop_map(|v| { let mut o = Vec::new(); write_value_pretty(&mut o, &v, 3); String::from_utf8(o).unwrap() }),
                1 => prop::sample::select(vec![
                    r#""{\"__object__\":\"Undefined\"}""#.to_string(),
                    r#""{\"__object__\":\"BigInt\",\"__value__\":\"007\"}""#.to_string(),
                    r#""{\"__object__\":\"Foo\"}""#.to_string(),
                    r#""{\"__object__\":\"Interval\",\"__value__\":5}""#.to_string(),
                    r#""\ud800\u0041""#.to_string(),
                    "1.0".to_string(),
                    "-0".to_string(),
                ]),
            ]
        }

        fn quoted(k: &JsString) -> String {
            let mut o = Vec::new();
            write_js_string(&mut o, k);
            String::from_utf8(o).unwrap()
        }

        /// A line with arbitrary members (duplicates allowed) in its ops.
        fn any_line() -> impl Strategy<Value = String> {
            let member = (prop_oneof![any_key(), Just(JsString::from("dup"))], member_text());
            let op = prop_oneof![
                (any_key(), prop::collection::vec(member, 0..5)).prop_map(|(ctx, members)| {
                    let body: Vec<String> = members.iter().map(|(k, v)| format!("{}:{v}", quoted(k))).collect();
                    format!(r#"{{"op":"upd","key":{},"values":{{{}}}}}"#, quoted(&ctx), body.join(","))
                }),
                (any_key(), prop::option::of(prop::collection::vec(any_key(), 0..3))).prop_map(|(ctx, keys)| match keys {
                    Some(keys) => format!(
                        r#"{{"op":"del","key":{},"values":[{}]}}"#,
                        quoted(&ctx),
                        keys.iter().map(quoted).collect::<Vec<_>>().join(",")
                    ),
                    None => format!(r#"{{"op":"del","key":{}}}"#, quoted(&ctx)),
                }),
            ];
            (any::<u32>(), prop::collection::vec(op, 0..4), any::<bool>()).prop_map(|(ts, ops, spaced)| {
                let sep = if spaced { ", " } else { "," };
                format!(r#"{{"ts":{ts},"ops":[{}]}}"#, ops.join(sep))
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512),
                ..ProptestConfig::default()
            })]

            /// Whatever the fast path answers, the full decoder answers the same.
            #[test]
            fn fast_line_decoder_equals_full(line in any_line()) {
                if let Some(fast) = fast_commit(line.as_bytes()) {
                    prop_assert_eq!(Ok(fast), full_commit(line.as_bytes()), "{}", line);
                }
            }

            /// Lines as matter.js writes them take the fast path.
            #[test]
            fn written_lines_take_the_fast_path(values in prop::collection::vec((any_key(), any_value()), 0..4)) {
                let values: Vec<(JsString, Value)> = values.into_iter().filter(|(_, v)| !matches!(v, Value::Undefined)).collect();
                let mut text = String::from(r#"{"ts":1,"ops":[{"op":"upd","key":"a","values":{"#);
                let mut seen = std::collections::HashSet::new();
                let mut first = true;
                for (k, v) in &values {
                    if !seen.insert(k.clone()) { continue; }
                    let mut o = Vec::new();
                    write_value(&mut o, v);
                    let canonical = crate::codec::stored::Encoded::from_json(&o).map(|e| e.bytes() == o.as_slice()).unwrap_or(false);
                    let index_key = crate::codec::value::array_index(k).is_some();
                    let escaped = quoted(k).contains('\\');
                    // (Map markers are canonical too, but always re-encoded: they are rare.)
                    let map = String::from_utf8_lossy(&o).contains(r#"\"__object__\":\"Map"#);
                    if !canonical || index_key || escaped || map { continue; }
                    if !first { text.push(','); }
                    first = false;
                    text.push_str(&format!("{}:{}", quoted(k), String::from_utf8(o).unwrap()));
                }
                text.push_str("}}]}");
                prop_assert!(fast_commit(text.as_bytes()).is_some(), "{}", text);
            }
        }
    }
}
