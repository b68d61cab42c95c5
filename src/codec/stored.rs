//! A stored value kept as its matter.js JSON encoding (compact `toJson` bytes) instead of a
//! value tree. That is what the log and snapshots hold anyway, it is 3–5× smaller in memory
//! than a tree of `Value`s, and replaying the log or loading a snapshot becomes a validating
//! copy instead of building trees. Reads decode on demand (and the binding caches the JS
//! value it built).
//!
//! Every `Encoded` is *canonical*: exactly what `toJson(fromJson(text))` prints for the text
//! it came from (no revivable marker strings, no duplicate or out-of-order keys, no
//! `undefined` properties, numbers and escapes as `JSON.stringify` writes them), so the
//! in-memory state always equals what matter.js's driver would hold after a reload. Two
//! deliberate exceptions: a top-level `undefined` (a key set to `undefined` stays present
//! with that value) and a legacy `Interval` marker, kept verbatim because the NaN it stands
//! for has no JSON form (see [`Value::Interval`]). Text that is already canonical is only
//! validated and copied; anything else goes through the full decoder and is re-encoded.

use std::sync::Arc;

use crate::codec::from_json::{parse_value, JsonError, MAX_DEPTH};
use crate::codec::to_json::{write_number, write_value};
use crate::codec::value::{array_index, Value};

/// `toJson(undefined)`.
const UNDEFINED: &[u8] = br#""{\"__object__\":\"Undefined\"}""#;
/// How every revivable marker string starts on the wire.
const MARKER_PREFIX: &[u8] = br#""{\"__object__\":"#;

thread_local! {
    /// Encoding buffer reused by every value built on this thread.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(4096));
}

/// One stored value: canonical compact matter.js JSON. Cloning is a pointer copy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Encoded(Arc<[u8]>);

impl Encoded {
    /// The stored form of a value (as `fromJson` produced it, or `undefined`).
    pub fn from_value(v: &Value) -> Encoded {
        SCRATCH.with_borrow_mut(|out| {
            out.clear();
            write_value(out, v);
            Encoded(Arc::from(&out[..]))
        })
    }

    /// The stored form of `undefined`: matter.js's marker string `"{\"__object__\":\"Undefined\"}"`.
    pub fn undefined() -> Encoded {
        Encoded(UNDEFINED.into())
    }

    /// The compact JSON bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Stable identity of this allocation (changes whenever the key is written again).
    pub fn id(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// Whether this is `undefined`.
    pub fn is_undefined(&self) -> bool {
        &*self.0 == UNDEFINED
    }

    /// The value tree. Encoded values are canonical by construction, so this cannot fail
    /// short of a bug; a failure reads as `undefined` rather than crashing the process.
    pub fn decode(&self) -> Value {
        parse_value(&self.0).unwrap_or(Value::Undefined)
    }

    /// The stored form of `fromJson(text)` for one value's JSON text (compact or
    /// pretty-printed, from disk or from `JSON.stringify`): what matter.js holds after a
    /// reload. A text reviving to `undefined` as a whole gives [`Encoded::undefined`];
    /// `undefined` deeper inside is dropped (properties) or kept as a hole (array elements),
    /// as the reviver does. Errors are those `fromJson` would throw.
    pub fn from_json(raw: &[u8]) -> Result<Encoded, JsonError> {
        Self::from_json_checked(raw, false)
    }

    /// [`Encoded::from_json`] for text known to be UTF-8 (a slice of a `str`).
    pub fn from_json_str(raw: &str) -> Result<Encoded, JsonError> {
        Self::from_json_checked(raw.as_bytes(), true)
    }

    fn from_json_checked(raw: &[u8], utf8_known: bool) -> Result<Encoded, JsonError> {
        // Built in a reused buffer and copied once into an exactly sized allocation: loading
        // hundreds of thousands of values leaves no trail of freed buffers between them.
        let fast = SCRATCH.with_borrow_mut(|out| {
            out.clear();
            matches!(scan(raw, out, utf8_known), Ok(true)).then(|| Encoded(Arc::from(&out[..])))
        });
        if let Some(e) = fast {
            return Ok(e);
        }
        Ok(match parse_value(raw)? {
            Value::Undefined => Encoded::undefined(),
            v => Encoded::from_value(&v),
        })
    }
}

/// Copies `input` to `out` without insignificant whitespace, validating it as JSON.
/// `Ok(true)`: the copy is exactly `toJson(fromJson(input))`. `Ok(false)`: valid, but
/// needs the full decoder. `Err`: not JSON (or nested beyond `MAX_DEPTH`).
fn scan(input: &[u8], out: &mut Vec<u8>, utf8_known: bool) -> Result<bool, ()> {
    let mut s = Scanner { s: input, i: 0, out, canonical: true, keys: Vec::new(), utf8_known };
    s.ws();
    s.value()?;
    s.ws();
    if s.i != input.len() {
        return Err(());
    }
    Ok(s.canonical)
}

struct Scanner<'a, 'o> {
    s: &'a [u8],
    i: usize,
    out: &'o mut Vec<u8>,
    canonical: bool,
    /// Keys of the objects being scanned, innermost last, as ranges of `out` (to spot
    /// duplicates and non-JavaScript order).
    keys: Vec<(usize, usize)>,
    /// The input is known to be UTF-8; skip validating strings.
    utf8_known: bool,
}

/// A container being scanned.
struct Level {
    object: bool,
    /// Where this object's keys start in `Scanner::keys`.
    keys_from: usize,
    last_index: Option<u32>,
    seen_named: bool,
}

/// Objects with more keys than this are left to the full decoder (duplicate checks would
/// be quadratic; attribute state has small objects).
const MAX_FAST_KEYS: usize = 64;

impl Scanner<'_, '_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, b: u8) -> Result<(), ()> {
        if self.peek() == Some(b) {
            self.i += 1;
            self.out.push(b);
            Ok(())
        } else {
            Err(())
        }
    }

    /// One value, containers walked with an explicit stack (any depth up to `MAX_DEPTH`).
    fn value(&mut self) -> Result<(), ()> {
        let mut stack: Vec<Level> = Vec::new();
        loop {
            self.ws();
            match self.peek().ok_or(())? {
                open @ (b'{' | b'[') => {
                    self.expect(open)?;
                    self.ws();
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.expect(close)?;
                    } else {
                        if stack.len() >= MAX_DEPTH {
                            return Err(());
                        }
                        stack.push(Level { object: open == b'{', keys_from: self.keys.len(), last_index: None, seen_named: false });
                        if open == b'{' {
                            self.member_key(stack.last_mut().expect("just pushed"))?;
                        }
                        continue;
                    }
                }
                // An `undefined` array element (a hole) is written as the Undefined marker,
                // and so is a whole value that is `undefined`; as a property it is deleted.
                b'"' => self.string(stack.last().is_none_or(|l| !l.object))?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return Err(()),
            }
            // After a value: continue the innermost container or close it.
            loop {
                // (Whitespace after a top-level value belongs to the caller.)
                let Some(level) = stack.last_mut() else { return Ok(()) };
                self.ws();
                match (level.object, self.peek()) {
                    (_, Some(b',')) => {
                        self.expect(b',')?;
                        if level.object {
                            self.ws();
                            self.member_key(level)?;
                        }
                        break;
                    }
                    (false, Some(b']')) | (true, Some(b'}')) => {
                        self.expect(if level.object { b'}' } else { b']' })?;
                        self.keys.truncate(level.keys_from);
                        stack.pop();
                    }
                    _ => return Err(()),
                }
            }
        }
    }

    /// `"key":` inside the object `level`.
    fn member_key(&mut self, level: &mut Level) -> Result<(), ()> {
        let start = self.out.len();
        if self.peek() != Some(b'"') {
            return Err(());
        }
        self.string(false)?;
        let key = (start, self.out.len());
        let text = &self.out[key.0 + 1..key.1 - 1];
        let index = if text.first().is_some_and(u8::is_ascii_digit) { std::str::from_utf8(text).ok().and_then(array_index) } else { None };
        match index {
            Some(idx) => {
                if level.seen_named || level.last_index.is_some_and(|l| l >= idx) {
                    self.canonical = false;
                }
                level.last_index = Some(idx);
            }
            None => level.seen_named = true,
        }
        let siblings = &self.keys[level.keys_from..];
        if siblings.len() < MAX_FAST_KEYS {
            if siblings.iter().any(|k| self.out[k.0..k.1] == self.out[key.0..key.1]) {
                self.canonical = false;
            }
        } else {
            self.canonical = false;
        }
        self.keys.push(key);
        self.ws();
        self.expect(b':')
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), ()> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            self.out.extend_from_slice(word);
            Ok(())
        } else {
            Err(())
        }
    }

    /// Copies a string literal, validating it; flags escapes `JSON.stringify` would not
    /// write and marker strings the reviver would turn into other values.
    fn string(&mut self, undefined_ok: bool) -> Result<(), ()> {
        let start = self.i;
        if self.peek() != Some(b'"') {
            return Err(());
        }
        self.i += 1;
        // The previous escape was a high surrogate, right before this point.
        let mut high_escape_at: Option<usize> = None;
        loop {
            // Runs of plain characters are skipped in bulk: find the next quote or backslash,
            // then check the run for control characters (rare) in one pass.
            let rest = &self.s[self.i..];
            let run = memchr::memchr2(b'"', b'\\', rest).ok_or(())?;
            if rest[..run].iter().any(|&c| c < 0x20) {
                return Err(());
            }
            self.i += run;
            let b = self.s[self.i];
            match b {
                b'"' => {
                    self.i += 1;
                    break;
                }
                b'\\' => {
                    let e = *self.s.get(self.i + 1).ok_or(())?;
                    match e {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                        b'/' => {
                            self.canonical = false;
                            self.i += 2;
                        }
                        b'u' => {
                            let hex = self.s.get(self.i + 2..self.i + 6).ok_or(())?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(());
                            }
                            let code = hex.iter().fold(0u32, |acc, &h| (acc << 4) | (h as char).to_digit(16).unwrap_or(0));
                            let short_form = matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d);
                            let lower = hex.iter().all(|c| !c.is_ascii_uppercase());
                            let surrogate = (0xd800..=0xdfff).contains(&code);
                            // JSON.stringify escapes control characters and lone surrogates
                            // (lowercase hex); a pair it writes as the character itself.
                            let pair = (0xdc00..=0xdfff).contains(&code) && high_escape_at == Some(self.i);
                            if (code >= 0x20 && !surrogate) || short_form || !lower || pair {
                                self.canonical = false;
                            }
                            self.i += 6;
                            if (0xd800..=0xdbff).contains(&code) {
                                high_escape_at = Some(self.i);
                            }
                        }
                        _ => return Err(()),
                    }
                }
                0x00..=0x1f => return Err(()),
                _ => self.i += 1,
            }
        }
        let raw = &self.s[start..self.i];
        if !self.utf8_known && std::str::from_utf8(raw).is_err() {
            return Err(());
        }
        if raw.starts_with(MARKER_PREFIX) && !canonical_marker(raw) && !(undefined_ok && raw == UNDEFINED) {
            self.canonical = false;
        }
        self.out.extend_from_slice(raw);
        Ok(())
    }

    fn number(&mut self) -> Result<(), ()> {
        let start = self.i;
        let s = self.s;
        let mut i = self.i;
        if s.get(i) == Some(&b'-') {
            i += 1;
        }
        match s.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while s.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            _ => return Err(()),
        }
        let int_end = i;
        if s.get(i) == Some(&b'.') {
            i += 1;
            if !s.get(i).is_some_and(u8::is_ascii_digit) {
                return Err(());
            }
            while s.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        if let Some(b'e' | b'E') = s.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = s.get(i) {
                i += 1;
            }
            if !s.get(i).is_some_and(u8::is_ascii_digit) {
                return Err(());
            }
            while s.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        let text = &s[start..i];
        let simple_int = int_end == i && text != b"-0" && text.len() <= 15;
        if !simple_int {
            // Canonical only if JSON.stringify would print this number the same way.
            let n: f64 = std::str::from_utf8(text).map_err(|_| ())?.parse().map_err(|_| ())?;
            let mut printed = Vec::with_capacity(24);
            write_number(&mut printed, n);
            if printed != text {
                self.canonical = false;
            }
        }
        self.out.extend_from_slice(text);
        self.i = i;
        Ok(())
    }
}

/// Bigint and byte markers whose revived value re-encodes to the very same bytes; every
/// other marker (undefined, Map, legacy tags, odd spellings) takes the full decoder.
fn canonical_marker(raw: &[u8]) -> bool {
    const BIGINT: &[u8] = br#""{\"__object__\":\"BigInt\",\"__value__\":\""#;
    const BYTES: &[u8] = br#""{\"__object__\":\"Uint8Array\",\"__value__\":\""#;
    const CLOSE: &[u8] = br#"\"}""#;
    let Some(body) = raw.strip_suffix(CLOSE) else { return false };
    if let Some(digits) = body.strip_prefix(BIGINT) {
        let d = digits.strip_prefix(b"-").unwrap_or(digits);
        return !d.is_empty() && d.iter().all(u8::is_ascii_digit) && (d == b"0" || d[0] != b'0') && digits != b"-0";
    }
    if let Some(hex) = body.strip_prefix(BYTES) {
        return hex.len() % 2 == 0 && hex.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    }
    false
}

/// Appends compact canonical JSON re-indented as `JSON.stringify(…, 2)` prints it when the
/// value sits at nesting `level` (the opening bracket is not indented).
pub fn write_pretty(out: &mut Vec<u8>, compact: &[u8], level: usize) {
    let mut depth = level;
    let mut i = 0;
    let indent = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.resize(out.len() + depth * 2, b' ');
    };
    while i < compact.len() {
        let b = compact[i];
        match b {
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                if compact.get(i + 1) == Some(&close) {
                    out.push(b);
                    out.push(close);
                    i += 2;
                    continue;
                }
                out.push(b);
                depth += 1;
                indent(out, depth);
            }
            b'}' | b']' => {
                depth -= 1;
                indent(out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b',');
                indent(out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            b'"' => {
                let start = i;
                i += 1;
                while compact[i] != b'"' {
                    i += if compact[i] == b'\\' { 2 } else { 1 };
                }
                out.extend_from_slice(&compact[start..=i]);
            }
            _ => out.push(b),
        }
        i += 1;
    }
}

/// A single-pass reader over a JSON document for the fast paths of the commit-line and
/// snapshot parsers: structure is walked here, values are validated and compacted by the
/// same scanner `from_json` uses, each byte looked at once. Any surprise returns `None` and
/// the caller falls back to the full decoder.
pub struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
    /// The whole input was checked to be UTF-8 up front (one fast pass), so strings need
    /// not be checked one by one.
    utf8_known: bool,
}

/// One value read by [`Cursor::value`].
pub enum Scanned<'a> {
    /// Canonical: these are its bytes.
    Canonical(Encoded),
    /// Valid JSON that needs the full decoder; the raw text.
    Raw(&'a [u8]),
}

impl<'a> Cursor<'a> {
    pub fn new(s: &'a [u8]) -> Self {
        let utf8_known = std::str::from_utf8(s).is_ok();
        let mut c = Cursor { s, i: 0, utf8_known };
        c.ws();
        c
    }

    /// A cursor over text already known to be UTF-8.
    pub fn new_str(s: &'a str) -> Self {
        let mut c = Cursor { s: s.as_bytes(), i: 0, utf8_known: true };
        c.ws();
        c
    }

    pub fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    /// Consumes `b` (after whitespace) if it is next.
    pub fn eat(&mut self, b: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Whether `b` is next (after whitespace), without consuming it.
    pub fn eat_peek(&mut self, b: u8) -> bool {
        self.ws();
        self.s.get(self.i) == Some(&b)
    }

    pub fn at_end(&mut self) -> bool {
        self.ws();
        self.i == self.s.len()
    }

    /// A string without escapes that the reviver would leave alone; `None` otherwise.
    pub fn plain_str(&mut self) -> Option<&'a str> {
        self.ws();
        if self.s.get(self.i) != Some(&b'"') {
            return None;
        }
        let start = self.i + 1;
        let len = self.s[start..].iter().position(|b| *b == b'"' || *b == b'\\' || *b < 0x20)?;
        if self.s[start + len] != b'"' {
            return None;
        }
        let bytes = &self.s[start..start + len];
        let text = if self.utf8_known {
            // Safety: the whole input is valid UTF-8 and `bytes` lies between two quotes.
            unsafe { std::str::from_utf8_unchecked(bytes) }
        } else {
            std::str::from_utf8(bytes).ok()?
        };
        if text.starts_with("{\"__object__\":\"") {
            return None;
        }
        self.i = start + len + 1;
        Some(text)
    }

    /// A JSON number (grammar checked by the scanner).
    pub fn number(&mut self) -> Option<f64> {
        self.ws();
        if !matches!(self.s.get(self.i), Some(b'-' | b'0'..=b'9')) {
            return None;
        }
        let start = self.i;
        self.skip()?;
        std::str::from_utf8(&self.s[start..self.i]).ok()?.parse().ok()
    }

    /// One value: validated, compacted, classified.
    pub fn value(&mut self) -> Option<Scanned<'a>> {
        self.ws();
        let start = self.i;
        SCRATCH.with_borrow_mut(|out| {
            out.clear();
            let mut sc = Scanner { s: self.s, i: self.i, out, canonical: true, keys: Vec::new(), utf8_known: self.utf8_known };
            sc.value().ok()?;
            self.i = sc.i;
            Some(if sc.canonical { Scanned::Canonical(Encoded(Arc::from(&out[..]))) } else { Scanned::Raw(&self.s[start..self.i]) })
        })
    }

    /// Skips one value without validating it (brackets and strings only): for splitting a
    /// document whose parts are then validated separately. Returns the value's text.
    pub fn skip_unchecked(&mut self) -> Option<&'a [u8]> {
        self.ws();
        let start = self.i;
        let mut depth = 0usize;
        loop {
            let b = *self.s.get(self.i)?;
            self.i += 1;
            match b {
                b'"' => loop {
                    match *self.s.get(self.i)? {
                        b'\\' => self.i += 2,
                        b'"' => {
                            self.i += 1;
                            break;
                        }
                        _ => self.i += 1,
                    }
                },
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth = depth.checked_sub(1)?,
                b',' | b' ' | b'\t' | b'\n' | b'\r' | b':' if depth == 0 => {
                    self.i -= 1;
                    break;
                }
                _ => {}
            }
            if depth == 0 && matches!(b, b'}' | b']' | b'"') {
                break;
            }
        }
        Some(&self.s[start..self.i])
    }

    /// Skips one value (validating it).
    pub fn skip(&mut self) -> Option<()> {
        self.value().map(|_| ())
    }

    /// Walks an object's members: `each(cursor, key)` must consume the member's value.
    /// Keys must be plain strings.
    pub fn object(&mut self, mut each: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        if !self.eat(b'{') {
            return None;
        }
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            let key = self.plain_str()?;
            if !self.eat(b':') {
                return None;
            }
            each(self, key)?;
            if self.eat(b',') {
                continue;
            }
            return self.eat(b'}').then_some(());
        }
    }

    /// Walks an array's elements: `each(cursor)` must consume one element.
    pub fn array(&mut self, mut each: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if !self.eat(b'[') {
            return None;
        }
        if self.eat(b']') {
            return Some(());
        }
        loop {
            each(self)?;
            if self.eat(b',') {
                continue;
            }
            return self.eat(b']').then_some(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::to_json::write_value_pretty;
    use crate::codec::value::JsObject;

    fn compact_canonical(input: &[u8], out: &mut Vec<u8>) -> Result<bool, ()> {
        scan(input, out, false)
    }

    fn canon(text: &str) -> (Result<bool, ()>, String) {
        let mut out = Vec::new();
        let r = compact_canonical(text.as_bytes(), &mut out);
        (r, String::from_utf8(out).unwrap_or_default())
    }

    #[test]
    fn compacts_pretty_text_and_accepts_canonical_values() {
        assert_eq!(canon("{\n  \"a\": [\n    1,\n    2.5\n  ],\n  \"b\": {}\n}"), (Ok(true), r#"{"a":[1,2.5],"b":{}}"#.into()));
        assert_eq!(canon(r#""plain \"quoted\" \n \u001f""#).0, Ok(true));
        assert_eq!(canon("1e+21").0, Ok(true));
        assert_eq!(
            canon(r#"["{\"__object__\":\"BigInt\",\"__value__\":\"-12\"}","{\"__object__\":\"Uint8Array\",\"__value__\":\"00ff\"}"]"#).0,
            Ok(true)
        );
        assert_eq!(canon("5e-7").0, Ok(true));
        assert_eq!(canon(r#"{"1":1,"2":2,"a":3}"#).0, Ok(true));
        // undefined as a whole value and as an array element (a hole) is written as the marker
        assert_eq!(canon(r#""{\"__object__\":\"Undefined\"}""#).0, Ok(true));
        assert_eq!(canon(r#"[1,"{\"__object__\":\"Undefined\"}"]"#).0, Ok(true));
    }

    #[test]
    fn flags_what_a_reload_would_change() {
        for text in [
            r#"{"a":"{\"__object__\":\"Undefined\"}"}"#,             // reviver deletes it
            r#""{\"__object__\":\"BigInt\",\"__value__\":\"01\"}""#, // re-encodes as 1
            r#""{\"__object__\":\"Uint8Array\",\"__value__\":\"AB\"}""#,
            r#""{\"__object__\":\"NodeId\",\"__value__\":\"5\"}""#, // legacy tag
            r#"{"a":1,"a":2}"#,                                     // duplicate key
            r#"{"b":1,"1":2}"#,                                     // index key after a named one
            r#"{"2":1,"1":2}"#,                                     // index keys out of order
            "1.0",
            "1E5",
            "-0",
            "12345678901234567890",
            r#""\u0041""#,
            r#""\/""#,
            r#""\u000A""#,
        ] {
            assert_eq!(canon(text).0, Ok(false), "{text}");
        }
    }

    #[test]
    fn rejects_invalid_json() {
        for text in ["", "{", "[1,]", "01", "1.", "\"\u{1}\"", "tru", "{\"a\" 1}", "[1] 2", "\"\\x\""] {
            assert_eq!(canon(text).0, Err(()), "{text:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + "1" + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(canon(&deep).0, Err(()));
        let deep_ok = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(canon(&deep_ok).0, Ok(true));
    }

    #[test]
    fn lone_surrogate_escapes_are_canonical_pairs_are_not() {
        // node: JSON.stringify(["\ud800", "a\udc00", "\udbff\ud800"]) keeps the escapes.
        assert_eq!(canon(r#"["\ud800","a\udc00","\udbff\ud800"]"#).0, Ok(true));
        // A pair is written as the character itself; upper-case hex is never written.
        assert_eq!(canon(r#""\ud83d\ude00""#).0, Ok(false));
        assert_eq!(canon(r#""\uD800""#).0, Ok(false));
        let e = Encoded::from_json(r#""\ud83d\ude00\uDC00""#.as_bytes()).unwrap();
        assert_eq!(std::str::from_utf8(e.bytes()).unwrap(), r#""😀\udc00""#);
    }

    #[test]
    fn from_json_normalizes_like_a_reload() {
        let e = Encoded::from_json(br#"{"b":1,"a":"{\"__object__\":\"Undefined\"}","1":true}"#).unwrap();
        assert_eq!(std::str::from_utf8(e.bytes()).unwrap(), r#"{"1":true,"b":1}"#);
        assert!(Encoded::from_json(br#""{\"__object__\":\"Undefined\"}""#).unwrap().is_undefined());
        assert!(Encoded::from_json(b"{").is_err());
    }

    #[test]
    fn pretty_matches_the_value_printer() {
        let mut obj = JsObject::new();
        obj.insert("list", Value::Array(vec![Value::Number(1.0), Value::Object(JsObject::new()), Value::Array(vec![])]));
        obj.insert("s", Value::String("a{b}[c],:\"d\"".into()));
        obj.insert("m", Value::Map(vec![(Value::Number(1.0), Value::BigInt("2".into()))]));
        let v = Value::Object(obj);
        for level in 0..4 {
            let mut expected = Vec::new();
            write_value_pretty(&mut expected, &v, level);
            let mut got = Vec::new();
            write_pretty(&mut got, Encoded::from_value(&v).bytes(), level);
            assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(expected).unwrap());
        }
    }

    #[test]
    fn undefined_is_recognized() {
        assert!(Encoded::from_value(&Value::Undefined).is_undefined());
        assert!(Encoded::undefined().is_undefined());
        assert!(!Encoded::from_value(&Value::Null).is_undefined());
    }
}
