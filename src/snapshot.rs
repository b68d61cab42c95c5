//! `snapshot.json[.gz]` and `head.json[.gz]`: the whole store at one commit, pretty-printed
//! with two spaces exactly as matter.js writes it, replaced atomically (temp file + rename).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::codec::from_json::{parse_plain, revive, JsonError};
use crate::codec::jsstr::JsStr;
use crate::codec::stored::{write_pretty, Cursor, Encoded, Scanned};
use crate::codec::to_json::{write_js_string, write_number};
use crate::codec::value::Value;
use crate::error::{AtPath, Error, Result};
use crate::fsutil;
use crate::log::commit::CommitId;
use crate::store::{Context, StoreData};

/// The store as of one commit.
#[derive(Clone)]
pub struct Snapshot {
    /// The last commit the snapshot holds.
    pub commit_id: CommitId,
    /// Milliseconds since the epoch of that commit.
    pub ts: f64,
    /// Every context's values.
    pub data: StoreData,
}

/// Serializes `{"commitId":…,"ts":…,"data":…}` like `toJson(snapshot, 2)`.
pub fn encode(commit_id: CommitId, ts: f64, data: &StoreData) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + data.key_count() * 48);
    out.extend_from_slice(b"{\n  \"commitId\": {\n    \"segment\": ");
    write_number(&mut out, commit_id.segment as f64);
    out.extend_from_slice(b",\n    \"offset\": ");
    write_number(&mut out, commit_id.offset as f64);
    out.extend_from_slice(b"\n  },\n  \"ts\": ");
    write_number(&mut out, ts);
    out.extend_from_slice(b",\n  \"data\": ");
    if data.context_count() == 0 {
        out.extend_from_slice(b"{}");
    } else {
        out.push(b'{');
        for (i, (ctx_key, ctx)) in data.contexts().enumerate() {
            out.extend_from_slice(if i == 0 { b"\n    " } else { b",\n    " });
            write_js_string(&mut out, ctx_key);
            out.extend_from_slice(b": ");
            if ctx.is_empty() {
                out.extend_from_slice(b"{}");
                continue;
            }
            out.push(b'{');
            for (j, (k, v)) in ctx.iter().enumerate() {
                out.extend_from_slice(if j == 0 { b"\n      " } else { b",\n      " });
                write_js_string(&mut out, k);
                out.extend_from_slice(b": ");
                write_pretty(&mut out, v.bytes(), 3);
            }
            out.extend_from_slice(b"\n    }");
        }
        out.extend_from_slice(b"\n  }");
    }
    out.extend_from_slice(b"\n}");
    out
}

/// Parses snapshot text. Errors name what is wrong; the caller adds the file name.
///
/// Semantics: `fromJson(text)` as matter.js's `WalSnapshot.load` reads it.
pub fn decode(text: &[u8]) -> std::result::Result<Snapshot, String> {
    match fast_decode(text) {
        Some(snap) => Ok(snap),
        None => full_decode(text),
    }
}

/// The full decoder: the definition of what a snapshot file means.
fn full_decode(text: &[u8]) -> std::result::Result<Snapshot, String> {
    let invalid = |e: JsonError| format!("invalid JSON: {e}");
    let Value::Object(root) = parse_plain(text).map_err(invalid)? else {
        return Err("snapshot is not an object".into());
    };
    let mut commit_id = None;
    let mut ts = 0.0;
    let mut data = None;
    for (k, v) in root.into_entries() {
        if k == "data" {
            let Value::Object(contexts) = v else {
                revive(v).map_err(invalid)?;
                return Err("snapshot data is not an object".into());
            };
            let mut store = StoreData::default();
            for (ctx_key, ctx_value) in contexts.into_entries() {
                let Value::Object(entries) = ctx_value else {
                    revive(ctx_value).map_err(invalid)?;
                    return Err(format!("snapshot context {ctx_key:?} is not an object"));
                };
                let mut ctx = Context::default();
                for (key, value) in entries.into_entries() {
                    // A value reviving to undefined: the reviver deletes the property.
                    match revive(value).map_err(invalid)? {
                        Value::Undefined => {}
                        v => ctx.insert(&key, Encoded::from_value(&v)),
                    }
                }
                store.put_context(&ctx_key, ctx);
            }
            data = Some(store);
            continue;
        }
        let v = revive(v).map_err(invalid)?;
        if k == "commitId" {
            let Value::Object(id) = v else {
                return Err("snapshot commitId is not an object".into());
            };
            let num = |name: &str| match id.get(name) {
                Some(Value::Number(n)) if *n >= 0.0 && n.fract() == 0.0 && *n <= u32::MAX as f64 => Ok(*n as u32),
                _ => Err(format!("snapshot commitId.{name} is missing or invalid")),
            };
            commit_id = Some(CommitId { segment: num("segment")?, offset: num("offset")? });
        } else if k == "ts" {
            if let Value::Number(n) = v {
                ts = n;
            }
        }
    }
    let commit_id = commit_id.ok_or("snapshot has no commitId")?;
    // matter.js assigns a missing `data` as nothing: an empty store.
    Ok(Snapshot { commit_id, ts, data: data.unwrap_or_default() })
}

/// Fast paths for snapshots as matter.js (or we) write them, values validated and copied
/// (no decoding): [`chunked_decode`], else [`split_decode`]. `None` falls back to the full
/// decoder.
fn fast_decode(text: &[u8]) -> Option<Snapshot> {
    chunked_decode(text).or_else(|| split_decode(text))
}

/// Below this size a snapshot is decoded on the calling thread.
const PARALLEL_BYTES: usize = 1 << 20;

/// The context members of a snapshot `data` object as it is printed (two-space indentation):
/// each one after the first starts a line with four spaces, after the line ending the
/// previous context (`},` — a context is an object).
const CONTEXT_SEPARATOR: &[u8] = b"},\n    \"";

/// The fast path for `{"commitId": …, "ts": …, "data": {…}}` with `data` last, as matter.js
/// and we write it: the contexts are cut into one piece per core at guessed context
/// boundaries (where a line starts a member at the indentation of contexts) and every piece
/// is parsed on its own thread, with no pass over the whole text first.
///
/// The guesses need no trust: a piece parses only if it is whole contexts, because the
/// first piece starts where `data`'s members start and a piece that parses ends exactly
/// after a member, so the next one starts at a member too (a string cannot hold a line
/// break, so the separator is never inside one). Any piece that does not parse, whatever
/// the reason, makes this `None`.
fn chunked_decode(text: &[u8]) -> Option<Snapshot> {
    chunked_decode_in(text, if text.len() >= PARALLEL_BYTES { crate::threads::parallelism() } else { 1 })
}

/// [`chunked_decode`] cutting the contexts into (at most) `pieces` pieces.
fn chunked_decode_in(text: &[u8], pieces: usize) -> Option<Snapshot> {
    // Header: the members before `data`, on the calling thread.
    let head_len = text.len().min(4096);
    let head = match std::str::from_utf8(&text[..head_len]) {
        Ok(h) => h,
        Err(e) => std::str::from_utf8(&text[..e.valid_up_to()]).ok()?,
    };
    let mut c = Cursor::new_str(head);
    let (mut segment, mut offset, mut ts, mut body_at) = (None, None, None, None);
    c.object(|c, name| {
        match name {
            "commitId" if segment.is_none() => commit_id_fields(c, &mut segment, &mut offset)?,
            "ts" if ts.is_none() => ts = Some(c.number()?),
            "data" if c.eat(b'{') => {
                body_at = Some(c.position());
                // Stop here: the rest is the contexts.
                return None;
            }
            _ => return None,
        }
        Some(())
    });
    let commit_id = CommitId { segment: segment?, offset: offset? };
    let body_at = body_at?;
    // The end: `}` closing `data`, then `}` closing the snapshot.
    let trimmed = trim_json_ws_end(trim_json_ws_end(text).strip_suffix(b"}")?).strip_suffix(b"}")?;
    let body = text.get(body_at..trimmed.len())?;
    // Cut points: the first context boundary after each share of the text.
    let mut starts = vec![0];
    for k in 1..pieces {
        let from = (body.len() * k / pieces).max(*starts.last()?);
        match memchr::memmem::find(&body[from..], CONTEXT_SEPARATOR) {
            // The piece before ends with the `}`, the next starts at the key's quote.
            Some(at) => starts.push(from + at + CONTEXT_SEPARATOR.len() - 1),
            None => break,
        }
    }
    starts.dedup();
    let ranges: Vec<(usize, usize)> = starts
        .iter()
        .zip(starts.iter().skip(1).map(|&next| next - (CONTEXT_SEPARATOR.len() - 2)).chain([body.len()]))
        .map(|(&from, to)| (from, to))
        .collect();
    let decode_piece = |pieces: &[(usize, usize)]| -> Option<Vec<(&str, Context)>> {
        let mut contexts = Vec::new();
        for &(from, to) in pieces {
            let piece = std::str::from_utf8(&body[from..to]).ok()?;
            let mut c = Cursor::new_str(piece);
            if c.at_end() && to - from == body.len() {
                break; // `"data": {}`
            }
            loop {
                let key = c.plain_str()?;
                if !c.eat(b':') {
                    return None;
                }
                contexts.push((key, decode_context(&mut c)?));
                if !c.eat(b',') {
                    break;
                }
            }
            if !c.at_end() {
                return None;
            }
        }
        Some(contexts)
    };
    let parts = crate::threads::parallel_chunks(&ranges, ranges.len() > 1, decode_piece).ok()?;
    let mut data = StoreData::default();
    for part in parts {
        for (ctx_key, ctx) in part? {
            data.put_context(JsStr::new(ctx_key), ctx);
        }
    }
    Some(Snapshot { commit_id, ts: ts.unwrap_or(0.0), data })
}

/// `text` without the JSON whitespace (space, tab, CR, LF) it ends with.
fn trim_json_ws_end(text: &[u8]) -> &[u8] {
    let end = text.iter().rposition(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')).map_or(0, |p| p + 1);
    &text[..end]
}

/// One context's `{…}` at the cursor: its values validated and copied. `None` when a value
/// needs the full decoder's judgement (it revives to `undefined`, or is not valid).
fn decode_context(c: &mut Cursor<'_>) -> Option<Context> {
    let mut ctx = Context::default();
    c.object(|c, key| {
        match c.value()? {
            Scanned::Canonical(e) if e.is_undefined() => return None,
            Scanned::Canonical(e) => ctx.insert(JsStr::new(key), e),
            Scanned::Raw(raw) => match Encoded::from_json(raw).ok()? {
                // Deleted by the reviver; where a duplicate key is involved the order
                // matters, so leave that to the full decoder.
                e if e.is_undefined() => return None,
                e => ctx.insert(JsStr::new(key), e),
            },
        }
        Some(())
    })?;
    Some(ctx)
}

/// The fast path for any member order: one pass splits the contexts, then all cores
/// validate and copy their values.
fn split_decode(text: &[u8]) -> Option<Snapshot> {
    let text = std::str::from_utf8(text).ok()?;
    let mut c = Cursor::new_str(text);
    let (mut segment, mut offset, mut ts) = (None, None, None);
    let mut contexts: Vec<(&str, &str)> = Vec::new();
    let mut seen_data = false;
    c.object(|c, name| {
        match name {
            "commitId" if segment.is_none() => commit_id_fields(c, &mut segment, &mut offset)?,
            "ts" if ts.is_none() => ts = Some(c.number()?),
            "data" if !seen_data => {
                seen_data = true;
                c.object(|c, ctx| {
                    if !c.eat_peek(b'{') {
                        return None;
                    }
                    let body = c.skip_unchecked()?;
                    // Safety: `text` is UTF-8 and the slice starts at `{` and ends at `}`,
                    // both ASCII, so it is whole characters.
                    contexts.push((ctx, unsafe { std::str::from_utf8_unchecked(body) }));
                    Some(())
                })?;
            }
            "commitId" | "ts" | "data" => return None,
            _ => c.skip()?,
        }
        Some(())
    })?;
    if !c.at_end() || !seen_data {
        return None;
    }
    let decode_chunk = |chunk: &[(&str, &str)]| -> Option<Vec<Context>> {
        chunk
            .iter()
            .map(|(_, body)| {
                let mut c = Cursor::new_str(body);
                let ctx = decode_context(&mut c)?;
                c.at_end().then_some(ctx)
            })
            .collect()
    };
    // Decoding is the bulk of the time for big snapshots: one chunk of contexts per core.
    let parts = crate::threads::parallel_chunks(&contexts, text.len() >= PARALLEL_BYTES, decode_chunk).ok()?;
    let mut decoded = Vec::with_capacity(contexts.len());
    for part in parts {
        decoded.extend(part?);
    }
    let mut data = StoreData::default();
    for ((ctx_key, _), ctx) in contexts.iter().zip(decoded) {
        data.put_context(JsStr::new(ctx_key), ctx);
    }
    Some(Snapshot { commit_id: CommitId { segment: segment?, offset: offset? }, ts: ts.unwrap_or(0.0), data })
}

fn paths(dir: &Path, basename: &str) -> (PathBuf, PathBuf) {
    (dir.join(format!("{basename}.json")), dir.join(format!("{basename}.json.gz")))
}

/// The file `basename.json[.gz]` that is read when both exist: the newer one by mtime, the
/// gzipped one on a tie or when a time cannot be read (matter.js's rule). `(path, gzipped)`.
pub fn current_file(dir: &Path, basename: &str) -> Option<(PathBuf, bool)> {
    let (plain, gz) = paths(dir, basename);
    match (fs::metadata(&gz).ok(), fs::metadata(&plain).ok()) {
        (None, None) => None,
        (Some(g), Some(p)) => match (g.modified(), p.modified()) {
            (Ok(gm), Ok(pm)) if gm < pm => Some((plain, false)),
            _ => Some((gz, true)),
        },
        (Some(_), None) => Some((gz, true)),
        (None, Some(_)) => Some((plain, false)),
    }
}

/// Writes the snapshot atomically and durably: temp file, fsync, rename, fsync of the
/// directory (so the new name is on disk before anything relies on it, e.g. cleaning the
/// segments it covers), and only then removes the other format's file, so exactly one of
/// `basename.json` / `basename.json.gz` remains and a power loss at any point leaves the old
/// or the new snapshot, never neither.
pub fn save(dir: &Path, basename: &str, compress: bool, snap_id: CommitId, ts: f64, data: &StoreData) -> Result<()> {
    let json = encode(snap_id, ts, data);
    let (plain, gz) = paths(dir, basename);
    let (tmp, target, other) = if compress {
        (dir.join(format!("{basename}.tmp.json.gz")), gz, plain)
    } else {
        (dir.join(format!("{basename}.tmp.json")), plain, gz)
    };
    write_synced(&tmp, &json, compress).at(&tmp)?;
    fsutil::rename_durable(dir, &tmp, &target)?;
    if other.exists() {
        fsutil::remove_if_exists(&other)?;
        // Not needed for safety (when both survive, the newer one is loaded), only tidiness.
        fsutil::sync_dir(dir)?;
    }
    Ok(())
}

/// Creates `path` holding `json` (gzipped or not) and fsyncs it.
fn write_synced(path: &Path, json: &[u8], compress: bool) -> io::Result<()> {
    let file = File::create(path)?;
    if compress {
        let mut enc = GzEncoder::new(io::BufWriter::new(file), Compression::fast());
        enc.write_all(json)?;
        enc.finish()?.into_inner().map_err(|e| e.into_error())?.sync_all()
    } else {
        let mut file = file;
        file.write_all(json)?;
        file.sync_all()
    }
}

/// The commit id of `basename.json[.gz]` from the first few KB of the file (matter.js and we
/// write it first), so the log can be read while the rest of the snapshot is still being
/// decompressed. `None` when there is no snapshot or the id is not where expected; `load`
/// stays authoritative.
pub fn peek_commit_id(dir: &Path, basename: &str) -> Option<CommitId> {
    let (path, use_gz) = current_file(dir, basename)?;
    let mut head = vec![0u8; 4096];
    let n = if use_gz {
        let mut d = MultiGzDecoder::new(File::open(&path).ok()?);
        let mut n = 0;
        while n < head.len() {
            match d.read(&mut head[n..]).ok()? {
                0 => break,
                k => n += k,
            }
        }
        n
    } else {
        File::open(&path).ok()?.read(&mut head).ok()?
    };
    let head = &head[..n];
    let at = head.windows(10).position(|w| w == b"\"commitId\"")? + 10;
    let mut c = Cursor::new(&head[at..]);
    if !c.eat(b':') {
        return None;
    }
    let (mut segment, mut offset) = (None, None);
    commit_id_fields(&mut c, &mut segment, &mut offset)?;
    Some(CommitId { segment: segment?, offset: offset? })
}

/// Reads the `commitId` object at the cursor into `segment` and `offset` (other members are
/// skipped); `None` when it is malformed or either number is not a u32.
fn commit_id_fields(c: &mut Cursor, segment: &mut Option<u32>, offset: &mut Option<u32>) -> Option<()> {
    c.object(|c, field| {
        let n = c.number()?;
        let valid = n >= 0.0 && n.fract() == 0.0 && n <= u32::MAX as f64;
        match field {
            "segment" if valid => *segment = Some(n as u32),
            "offset" if valid => *offset = Some(n as u32),
            "segment" | "offset" => return None,
            _ => {}
        }
        Some(())
    })
}

/// Loads `basename.json[.gz]`; when both exist the newer one (by mtime, gz on a tie) wins.
pub fn load(dir: &Path, basename: &str) -> Result<Option<Snapshot>> {
    let Some((path, use_gz)) = current_file(dir, basename) else { return Ok(None) };
    let corrupt = |detail: String| Error::Corrupt { path: path.clone(), detail };
    let bytes = fs::read(&path).at(&path)?;
    let text = if use_gz {
        let mut out = Vec::new();
        crate::log::reader::gunzip(&bytes, &mut out).map_err(|e| corrupt(format!("bad gzip: {e}")))?;
        out
    } else {
        bytes
    };
    decode(&text).map(Some).map_err(corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::commit::Op;

    fn store() -> StoreData {
        let mut s = StoreData::default();
        s.apply(&[Op::upd("a.b", vec![("k".into(), Encoded::from_value(&Value::Array(vec![Value::Number(1.0)])))]), Op::upd("e", vec![])]);
        s
    }

    #[test]
    fn encodes_like_to_json_with_two_spaces() {
        let text = String::from_utf8(encode(CommitId { segment: 1, offset: 2 }, 5.0, &store())).unwrap();
        // Expected text produced by `toJson({commitId, ts, data}, 2)` from @matter/general.
        assert_eq!(
            text,
            "{\n  \"commitId\": {\n    \"segment\": 1,\n    \"offset\": 2\n  },\n  \"ts\": 5,\n  \"data\": {\n    \"a.b\": {\n      \"k\": [\n        1\n      ]\n    },\n    \"e\": {}\n  }\n}"
        );
        let empty = String::from_utf8(encode(CommitId { segment: 0, offset: 0 }, 0.0, &StoreData::default())).unwrap();
        assert!(empty.ends_with("\"data\": {}\n}"));
    }

    #[test]
    fn saves_and_loads_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        for compress in [true, false] {
            save(dir.path(), "snapshot", compress, CommitId { segment: 3, offset: 4 }, 9.0, &store()).unwrap();
            let snap = load(dir.path(), "snapshot").unwrap().unwrap();
            assert_eq!(snap.commit_id, CommitId { segment: 3, offset: 4 });
            assert_eq!(snap.ts, 9.0);
            assert_eq!(snap.data.key_count(), 1);
            assert_eq!(snap.data.context_count(), 2);
            assert_eq!(dir.path().join("snapshot.json.gz").exists(), compress);
            assert_eq!(dir.path().join("snapshot.json").exists(), !compress);
        }
        assert!(load(dir.path(), "head").unwrap().is_none());
    }

    #[test]
    fn corrupt_snapshot_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("snapshot.json.gz"), b"not gzip").unwrap();
        let e = load(dir.path(), "snapshot").err().unwrap();
        assert!(e.to_string().contains("snapshot.json.gz"), "{e}");
        fs::remove_file(dir.path().join("snapshot.json.gz")).unwrap();
        fs::write(dir.path().join("snapshot.json"), b"{\"commitId\":").unwrap();
        assert!(load(dir.path(), "snapshot").err().unwrap().to_string().contains("snapshot.json"));
    }
    #[test]
    fn torn_temp_files_are_ignored_and_replaced() {
        // A crash while writing a snapshot leaves a partial temp file next to the previous,
        // complete snapshot: loading ignores it and the next save replaces it.
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), "snapshot", true, CommitId { segment: 1, offset: 0 }, 1.0, &store()).unwrap();
        save(dir.path(), "head", false, CommitId { segment: 1, offset: 0 }, 1.0, &store()).unwrap();
        let full = fs::read(dir.path().join("snapshot.json.gz")).unwrap();
        fs::write(dir.path().join("snapshot.tmp.json.gz"), &full[..full.len() / 2]).unwrap();
        fs::write(dir.path().join("snapshot.tmp.json"), b"{\n  \"commitId\": {\n    \"segm").unwrap();
        fs::write(dir.path().join("head.tmp.json"), b"{\n  \"commitId\"").unwrap();
        for basename in ["snapshot", "head"] {
            let snap = load(dir.path(), basename).unwrap().unwrap();
            assert_eq!(snap.commit_id, CommitId { segment: 1, offset: 0 });
        }
        save(dir.path(), "snapshot", true, CommitId { segment: 2, offset: 5 }, 2.0, &store()).unwrap();
        save(dir.path(), "head", false, CommitId { segment: 1, offset: 7 }, 2.0, &store()).unwrap();
        assert!(!dir.path().join("snapshot.tmp.json.gz").exists());
        assert!(!dir.path().join("head.tmp.json").exists());
        assert_eq!(load(dir.path(), "snapshot").unwrap().unwrap().commit_id, CommitId { segment: 2, offset: 5 });
        assert_eq!(load(dir.path(), "head").unwrap().unwrap().commit_id, CommitId { segment: 1, offset: 7 });
    }

    #[test]
    fn truncated_or_invalid_snapshots_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), "snapshot", true, CommitId { segment: 1, offset: 0 }, 1.0, &store()).unwrap();
        let path = dir.path().join("snapshot.json.gz");
        let full = fs::read(&path).unwrap();
        fs::write(&path, &full[..full.len() - 3]).unwrap();
        let e = load(dir.path(), "snapshot").err().unwrap().to_string();
        assert!(e.contains("snapshot.json.gz") && e.contains("bad gzip"), "{e}");
        fs::remove_file(&path).unwrap();
        for (text, why) in [
            (&b"[1,2]"[..], "not an object"),
            (b"{\"ts\":1,\"data\":{}}", "no commitId"),
            (b"{\"commitId\":{\"segment\":-1,\"offset\":0},\"data\":{}}", "commitId.segment"),
            (b"{\"commitId\":{\"segment\":1,\"offset\":0},\"data\":{\"a\":5}}", "is not an object"),
            (b"{\"commitId\":{\"segment\":1,\"offset\":0},\"data\":{}", "invalid JSON"),
        ] {
            fs::write(dir.path().join("snapshot.json"), text).unwrap();
            let e = load(dir.path(), "snapshot").err().unwrap().to_string();
            assert!(e.contains("snapshot.json") && e.contains(why), "{e}");
        }
    }
}

#[cfg(test)]
mod peek_tests {
    use super::*;

    #[test]
    fn peeks_the_commit_id_of_either_format() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(peek_commit_id(dir.path(), "snapshot"), None);
        for compress in [true, false] {
            save(dir.path(), "snapshot", compress, CommitId { segment: 7, offset: 65534 }, 1.0, &StoreData::default()).unwrap();
            assert_eq!(peek_commit_id(dir.path(), "snapshot"), Some(CommitId { segment: 7, offset: 65534 }));
        }
        fs::write(dir.path().join("snapshot.json"), b"{\"data\":{}}").unwrap();
        assert_eq!(peek_commit_id(dir.path(), "snapshot"), None);
    }
}

#[cfg(test)]
mod fast_equals_full {
    use super::{chunked_decode_in, encode, fast_decode, full_decode, split_decode};
    use crate::codec::jsstr::{JsStr, JsString};
    use crate::codec::to_json::{write_js_string, write_value, write_value_pretty};
    use crate::test_values::{any_key, any_value};
    use proptest::prelude::*;

    fn quoted(k: &JsString) -> String {
        let mut o = Vec::new();
        write_js_string(&mut o, k);
        String::from_utf8(o).unwrap()
    }

    fn member_text() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => any_value().prop_map(|v| { let mut o = Vec::new(); write_value_pretty(&mut o, &v, 3); String::from_utf8(o).unwrap() }),
            1 => any_value().prop_map(|v| { let mut o = Vec::new(); write_value(&mut o, &v); String::from_utf8(o).unwrap() }),
            1 => prop::sample::select(vec![
                r#""{\"__object__\":\"Undefined\"}""#.to_string(),
                r#""{\"__object__\":\"BigInt\",\"__value__\":\"007\"}""#.to_string(),
                r#""{\"__object__\":\"Interval\"}""#.to_string(),
                "1.50".to_string(),
            ]),
        ]
    }

    /// A snapshot text with arbitrary contexts and members (duplicates allowed).
    fn any_snapshot() -> impl Strategy<Value = String> {
        // Values laid out so that lines inside them look like the start of a context.
        let decoy = any_value().prop_map(|v| {
            let mut o = Vec::new();
            write_value(&mut o, &v);
            String::from_utf8(o).unwrap().replace("},\"", "},\n    \"").replace(",\"", ",\n    \"")
        });
        let member_text = prop_oneof![4 => member_text(), 1 => decoy];
        let member = (prop_oneof![any_key(), Just(JsString::from("k"))], member_text);
        let context = (prop_oneof![any_key(), Just(JsString::from("c"))], prop::collection::vec(member, 0..5));
        prop::collection::vec(context, 0..4).prop_map(|contexts| {
            let body: Vec<String> = contexts
                .iter()
                .map(|(ctx, members)| {
                    let m: Vec<String> = members.iter().map(|(k, v)| format!("\n      {}: {v}", quoted(k))).collect();
                    format!("\n    {}: {{{}\n    }}", quoted(ctx), m.join(","))
                })
                .collect();
            format!(
                "{{\n  \"commitId\": {{\n    \"segment\": 1,\n    \"offset\": 2\n  }},\n  \"ts\": 3,\n  \"data\": {{{}\n  }}\n}}",
                body.join(",")
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
            ..ProptestConfig::default()
        })]

        /// Cut into any number of pieces, anywhere, the chunked decoder answers what the
        /// full decoder does, or leaves the text to it; damaged text included.
        #[test]
        fn chunked_snapshot_decoder_equals_full(text in any_snapshot(), pieces in 1usize..6, edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(vec!["},\n    \"", "\n    \"", "}", ",", " ", "\"", "\u{c}"]), any::<bool>()), 0..3)) {
            let mut text = text.into_bytes();
            for (at, snippet, insert) in edits {
                let at = at.index(text.len() + 1);
                if !insert && at < text.len() {
                    text.remove(at);
                } else {
                    text.splice(at..at, snippet.bytes());
                }
            }
            let full = full_decode(&text).ok().map(|s| encode(s.commit_id, s.ts, &s.data));
            if let Some(fast) = chunked_decode_in(&text, pieces) {
                let fast = encode(fast.commit_id, fast.ts, &fast.data);
                prop_assert_eq!(Some(&fast), full.as_ref(), "{}", String::from_utf8_lossy(&text));
            }
            if let Some(fast) = split_decode(&text) {
                let fast = encode(fast.commit_id, fast.ts, &fast.data);
                prop_assert_eq!(Some(&fast), full.as_ref(), "{}", String::from_utf8_lossy(&text));
            }
        }

        /// Snapshots as they are written always take the chunked path, however many pieces.
        #[test]
        fn written_snapshots_take_the_chunked_path(text in any_snapshot(), pieces in 1usize..6) {
            if let Ok(full) = full_decode(text.as_bytes()) {
                // (Names with escapes or that look like markers take the full decoder.)
                let plain = |k: &JsStr| !quoted(&k.to_js_string()).contains('\\') && !quoted(&k.to_js_string()).starts_with("\"{\\\"__object__");
                prop_assume!(full.data.contexts().all(|(k, ctx)| plain(k) && ctx.keys().all(|m| plain(m))));
                let written = encode(full.commit_id, full.ts, &full.data);
                let fast = chunked_decode_in(&written, pieces);
                prop_assert!(fast.is_some(), "{}", String::from_utf8_lossy(&written));
                let fast = fast.unwrap();
                prop_assert_eq!(encode(fast.commit_id, fast.ts, &fast.data), written);
            }
        }

        /// Whatever the fast path answers, the full decoder answers the same.
        #[test]
        fn fast_snapshot_decoder_equals_full(text in any_snapshot()) {
            if let Some(fast) = fast_decode(text.as_bytes()) {
                let full = full_decode(text.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
                let a = String::from_utf8(encode(fast.commit_id, fast.ts, &fast.data)).unwrap();
                let b = String::from_utf8(encode(full.commit_id, full.ts, &full.data)).unwrap();
                prop_assert_eq!(a, b, "{}", text);
            }
        }
    }
}
