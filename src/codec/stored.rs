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
    /// Buffers reused by every value built or scanned on this thread.
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// A thread's reusable buffers: loading hundreds of thousands of values leaves no trail of
/// freed buffers between them.
#[derive(Default)]
struct Scratch {
    /// The value being built.
    out: Vec<u8>,
    /// The scanner's keys and open containers.
    keys: Vec<Key>,
    stack: Vec<Level>,
    /// A number as `JSON.stringify` prints it, to compare with the text.
    number: Vec<u8>,
}

/// One stored value: canonical compact matter.js JSON. Cloning is a pointer copy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Encoded(Arc<[u8]>);

impl Encoded {
    /// The stored form of a value (as `fromJson` produced it, or `undefined`).
    pub fn from_value(v: &Value) -> Encoded {
        SCRATCH.with_borrow_mut(|scratch| {
            let out = &mut scratch.out;
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
        // Built in a reused buffer and copied once into an exactly sized allocation.
        let fast = SCRATCH
            .with_borrow_mut(|scratch| matches!(scan(raw, scratch, utf8_known), Ok(true)).then(|| Encoded(Arc::from(&scratch.out[..]))));
        if let Some(e) = fast {
            return Ok(e);
        }
        Ok(match parse_value(raw)? {
            Value::Undefined => Encoded::undefined(),
            v => Encoded::from_value(&v),
        })
    }
}

/// Copies `input` to `scratch.out` without insignificant whitespace, validating it as JSON.
/// `Ok(true)`: the copy is exactly `toJson(fromJson(input))`. `Ok(false)`: valid, but
/// needs the full decoder. `Err`: not JSON (or nested beyond `MAX_DEPTH`).
fn scan(input: &[u8], scratch: &mut Scratch, utf8_known: bool) -> Result<bool, ()> {
    let mut s = Scanner::new(input, skip_ws(input, 0), scratch, utf8_known);
    s.value()?;
    s.finish();
    if skip_ws(input, s.i) != input.len() {
        return Err(());
    }
    Ok(s.canonical)
}

/// The first non-whitespace position at or after `i` (JSON's four whitespace bytes).
#[inline]
fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = s.get(i) {
        i += 1;
        // Indentation: spaces eight at a time.
        while let Some(chunk) = s.get(i..i + 8) {
            let not_space = u64::from_le_bytes(chunk.try_into().unwrap_or_default()) ^ (0x0101_0101_0101_0101 * b' ' as u64);
            if not_space != 0 {
                i += (not_space.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
    }
    i
}

/// A bit set in the high bit of every byte of `w` that is `"`, `\` or a control character
/// (below 0x20). Bits above the lowest one may be spurious (borrows), so only the lowest
/// set bit is meaningful: it marks the first such byte (little-endian order).
#[inline]
fn string_stops(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let quote = w ^ (ONES * b'"' as u64);
    let backslash = w ^ (ONES * b'\\' as u64);
    let zero_quote = quote.wrapping_sub(ONES) & !quote;
    let zero_backslash = backslash.wrapping_sub(ONES) & !backslash;
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    (zero_quote | zero_backslash | control) & HIGH
}

struct Scanner<'a, 's> {
    s: &'a [u8],
    i: usize,
    /// `s[copied..i]` is still to be appended to `out`: runs between skipped whitespace are
    /// copied in one piece when the whitespace is reached (or at the end).
    copied: usize,
    out: &'s mut Vec<u8>,
    canonical: bool,
    /// Keys of the objects being scanned, innermost last (to spot duplicates and
    /// non-JavaScript order).
    keys: &'s mut Vec<Key>,
    stack: &'s mut Vec<Level>,
    number: &'s mut Vec<u8>,
    /// The input is known to be UTF-8; skip validating strings.
    utf8_known: bool,
}

/// A member key being checked for duplicates: a cheap fingerprint, then the quoted text
/// (a range of the input; a string literal is copied verbatim, so equal text is an equal key).
#[derive(Clone, Copy)]
struct Key {
    fingerprint: u64,
    start: usize,
    end: usize,
}

/// A container being scanned.
struct Level {
    object: bool,
    /// Where this object's keys start in `Scanner::keys`.
    keys_from: usize,
    /// One bit per key seen (by fingerprint): a key whose bit is clear is new.
    seen: u64,
    last_index: Option<u32>,
    seen_named: bool,
}

/// Objects with more keys than this are left to the full decoder (duplicate checks would
/// be quadratic; attribute state has small objects).
const MAX_FAST_KEYS: usize = 64;

impl<'a, 's> Scanner<'a, 's> {
    /// A scanner of the value at `s[at..]` (`at` is past any leading whitespace).
    fn new(s: &'a [u8], at: usize, scratch: &'s mut Scratch, utf8_known: bool) -> Self {
        scratch.out.clear();
        scratch.keys.clear();
        scratch.stack.clear();
        Scanner {
            s,
            i: at,
            copied: at,
            out: &mut scratch.out,
            canonical: true,
            keys: &mut scratch.keys,
            stack: &mut scratch.stack,
            number: &mut scratch.number,
            utf8_known,
        }
    }

    /// Whether nothing was dropped so far: `out` is still empty and the value is the
    /// input from `copied` on.
    fn untouched(&self) -> bool {
        self.out.is_empty()
    }

    /// Appends what is left to copy (call once the value is scanned).
    fn finish(&mut self) {
        self.out.extend_from_slice(&self.s[self.copied..self.i]);
        self.copied = self.i;
    }

    #[inline]
    fn ws(&mut self) {
        if let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.out.extend_from_slice(&self.s[self.copied..self.i]);
            self.i = skip_ws(self.s, self.i + 1);
            self.copied = self.i;
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    #[inline]
    fn expect(&mut self, b: u8) -> Result<(), ()> {
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(())
        }
    }

    /// One value, containers walked with an explicit stack (any depth up to `MAX_DEPTH`).
    fn value(&mut self) -> Result<(), ()> {
        loop {
            self.ws();
            match self.peek().ok_or(())? {
                open @ (b'{' | b'[') => {
                    self.i += 1;
                    self.ws();
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                    } else {
                        if self.stack.len() >= MAX_DEPTH {
                            return Err(());
                        }
                        let object = open == b'{';
                        self.stack.push(Level { object, keys_from: self.keys.len(), seen: 0, last_index: None, seen_named: false });
                        if object {
                            self.member_key()?;
                        }
                        continue;
                    }
                }
                // An `undefined` array element (a hole) is written as the Undefined marker,
                // and so is a whole value that is `undefined`; as a property it is deleted.
                b'"' => {
                    let undefined_ok = self.stack.last().is_none_or(|l| !l.object);
                    self.string(undefined_ok)?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return Err(()),
            }
            // After a value: continue the innermost container or close it.
            loop {
                // (Whitespace after a top-level value belongs to the caller.)
                let Some(level) = self.stack.last() else { return Ok(()) };
                let object = level.object;
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if object {
                            self.ws();
                            self.member_key()?;
                        }
                        break;
                    }
                    Some(b'}') if object => self.close()?,
                    Some(b']') if !object => self.close()?,
                    _ => return Err(()),
                }
            }
        }
    }

    /// Consumes the closing bracket of the innermost container.
    fn close(&mut self) -> Result<(), ()> {
        self.i += 1;
        let level = self.stack.pop().ok_or(())?;
        self.keys.truncate(level.keys_from);
        Ok(())
    }

    /// `"key":` inside the innermost object.
    fn member_key(&mut self) -> Result<(), ()> {
        let start = self.i;
        if self.peek() != Some(b'"') {
            return Err(());
        }
        // Short plain keys (most of them) at once: the closing quote within the next eight
        // bytes, nothing before it to look at.
        let short = self.s.get(start + 1..start + 9).and_then(|chunk| {
            let w = u64::from_le_bytes(chunk.try_into().ok()?);
            let n = (string_stops(w).trailing_zeros() / 8) as usize;
            if n >= 8 || chunk[n] != b'"' {
                return None;
            }
            let ascii = w & 0x8080_8080_8080_8080 & ((1u64 << (8 * n)) - 1) == 0;
            (ascii || self.utf8_known).then_some(start + n + 2)
        });
        match short {
            Some(end) => self.i = end,
            None => self.string(false)?,
        }
        let end = self.i;
        let text = &self.s[start + 1..end - 1];
        let fingerprint = key_fingerprint(self.s, start + 1, text.len());
        let level = self.stack.last_mut().ok_or(())?;
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
        let bit = 1u64 << (fingerprint.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58);
        if siblings.len() >= MAX_FAST_KEYS {
            self.canonical = false;
        } else if level.seen & bit != 0 {
            let s = self.s;
            if siblings.iter().any(|k| k.fingerprint == fingerprint && s[k.start..k.end] == s[start..end]) {
                self.canonical = false;
            }
        }
        level.seen |= bit;
        self.keys.push(Key { fingerprint, start, end });
        self.ws();
        self.expect(b':')
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), ()> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(())
        }
    }

    /// Scans a string literal, validating it; flags escapes `JSON.stringify` would not
    /// write and marker strings the reviver would turn into other values.
    fn string(&mut self, undefined_ok: bool) -> Result<(), ()> {
        let s = self.s;
        let start = self.i;
        if s.get(start) != Some(&b'"') {
            return Err(());
        }
        if s.get(start + 1) == Some(&b'{') {
            if let Some(end) = canonical_marker_end(s, start) {
                self.i = end;
                return Ok(());
            }
        }
        let mut i = start + 1;
        // The previous escape was a high surrogate, right before this point.
        let mut high_escape_at: Option<usize> = None;
        loop {
            // Eight bytes at a time up to the next quote, backslash or control character.
            let b = match s.get(i..i + 8) {
                Some(chunk) => {
                    let stops = string_stops(u64::from_le_bytes(chunk.try_into().map_err(|_| ())?));
                    if stops == 0 {
                        i += 8;
                        continue;
                    }
                    i += (stops.trailing_zeros() / 8) as usize;
                    s[i]
                }
                None => {
                    let b = *s.get(i).ok_or(())?;
                    if b >= 0x20 && b != b'"' && b != b'\\' {
                        i += 1;
                        continue;
                    }
                    b
                }
            };
            match b {
                b'"' => {
                    i += 1;
                    break;
                }
                b'\\' => {
                    let e = *s.get(i + 1).ok_or(())?;
                    match e {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                        b'/' => {
                            self.canonical = false;
                            i += 2;
                        }
                        b'u' => {
                            let hex = s.get(i + 2..i + 6).ok_or(())?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(());
                            }
                            let code = hex.iter().fold(0u32, |acc, &h| (acc << 4) | (h as char).to_digit(16).unwrap_or(0));
                            let short_form = matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d);
                            let lower = hex.iter().all(|c| !c.is_ascii_uppercase());
                            let surrogate = (0xd800..=0xdfff).contains(&code);
                            // JSON.stringify escapes control characters and lone surrogates
                            // (lowercase hex); a pair it writes as the character itself.
                            let pair = (0xdc00..=0xdfff).contains(&code) && high_escape_at == Some(i);
                            if (code >= 0x20 && !surrogate) || short_form || !lower || pair {
                                self.canonical = false;
                            }
                            i += 6;
                            if (0xd800..=0xdbff).contains(&code) {
                                high_escape_at = Some(i);
                            }
                        }
                        _ => return Err(()),
                    }
                }
                _ => return Err(()),
            }
        }
        self.i = i;
        let raw = &s[start..i];
        if !self.utf8_known && std::str::from_utf8(raw).is_err() {
            return Err(());
        }
        if raw.get(1) == Some(&b'{') && raw.starts_with(MARKER_PREFIX) && !canonical_marker(raw) && !(undefined_ok && raw == UNDEFINED) {
            self.canonical = false;
        }
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
            self.number.clear();
            write_number(self.number, n);
            if self.number[..] != *text {
                self.canonical = false;
            }
        }
        self.i = i;
        Ok(())
    }
}

/// The length and first eight bytes of the key text `s[at..at + len]`, read in one load
/// where the input goes on long enough: equal keys have equal fingerprints.
#[inline]
fn key_fingerprint(s: &[u8], at: usize, len: usize) -> u64 {
    let head = match s.get(at..at + 8) {
        Some(word) => u64::from_le_bytes(word.try_into().unwrap_or_default()) & if len >= 8 { u64::MAX } else { (1u64 << (8 * len)) - 1 },
        None => s[at..at + len.min(8)].iter().rev().fold(0u64, |acc, &b| (acc << 8) | b as u64),
    };
    head ^ (len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

const BIGINT_MARKER: &[u8] = br#""{\"__object__\":\"BigInt\",\"__value__\":\""#;
const BYTES_MARKER: &[u8] = br#""{\"__object__\":\"Uint8Array\",\"__value__\":\""#;
const MARKER_CLOSE: &[u8] = br#"\"}""#;

/// Bigint and byte markers whose revived value re-encodes to the very same bytes; every
/// other marker (undefined, Map, legacy tags, odd spellings) takes the full decoder.
fn canonical_marker(raw: &[u8]) -> bool {
    let Some(body) = raw.strip_suffix(MARKER_CLOSE) else { return false };
    if let Some(digits) = body.strip_prefix(BIGINT_MARKER) {
        let d = digits.strip_prefix(b"-").unwrap_or(digits);
        return !d.is_empty() && d.iter().all(u8::is_ascii_digit) && (d == b"0" || d[0] != b'0') && digits != b"-0";
    }
    if let Some(hex) = body.strip_prefix(BYTES_MARKER) {
        return hex.len() % 2 == 0 && hex.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    }
    false
}

/// Where the string literal at `s[start..]` ends when it is a [`canonical_marker`]: the
/// bigints and byte strings of attribute state are taken in one step instead of escape by
/// escape. `None` for anything else (the caller scans it normally).
fn canonical_marker_end(s: &[u8], start: usize) -> Option<usize> {
    let rest = s.get(start..)?;
    let body_at = if rest.starts_with(BIGINT_MARKER) {
        BIGINT_MARKER.len()
    } else if rest.starts_with(BYTES_MARKER) {
        BYTES_MARKER.len()
    } else {
        return None;
    };
    let body = rest[body_at..].iter().position(|c| !matches!(c, b'0'..=b'9' | b'a'..=b'f' | b'-'))?;
    let end = body_at + body + MARKER_CLOSE.len();
    let raw = rest.get(..end)?;
    canonical_marker(raw).then_some(start + end)
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

    /// How far the cursor is into its text.
    pub fn position(&self) -> usize {
        self.i
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
        SCRATCH.with_borrow_mut(|scratch| {
            let mut sc = Scanner::new(self.s, start, scratch, self.utf8_known);
            sc.value().ok()?;
            let end = sc.i;
            self.i = end;
            if !sc.canonical {
                return Some(Scanned::Raw(&self.s[start..end]));
            }
            // Compact text (a log line) is its own stored form: no copy through `out`.
            let bytes = if sc.untouched() {
                &self.s[start..end]
            } else {
                sc.finish();
                &sc.out[..]
            };
            Some(Scanned::Canonical(Encoded(Arc::from(bytes))))
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
    use crate::codec::from_json::parse_plain;
    use crate::codec::to_json::write_value_pretty;
    use crate::codec::value::JsObject;
    use proptest::prelude::{any, prop, Strategy};

    fn compact_canonical(input: &[u8], out: &mut Vec<u8>) -> Result<bool, ()> {
        let mut scratch = Scratch::default();
        let r = scan(input, &mut scratch, false);
        *out = scratch.out;
        r
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

    /// The first byte (little-endian order) that ends a run of plain string characters.
    fn first_stop(w: u64) -> Option<usize> {
        w.to_le_bytes().iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)
    }

    #[test]
    fn string_stops_finds_the_first_stop_byte() {
        for special in [b'"', b'\\', 0x00, 0x1f, 0x0a] {
            for at in 0..8 {
                for filler in [b'a', 0x20, 0x7f, 0x80, 0xff, 0x21, 0x5d, 0x5b, 0x23] {
                    let mut bytes = [filler; 8];
                    bytes[at] = special;
                    let w = u64::from_le_bytes(bytes);
                    assert_eq!(Some((string_stops(w).trailing_zeros() / 8) as usize), first_stop(w), "{bytes:?}");
                }
            }
        }
        assert_eq!(string_stops(u64::from_le_bytes(*b"abcdefgh")), 0);
    }

    /// Text for one value, compact or pretty, sometimes damaged.
    fn value_text() -> impl Strategy<Value = Vec<u8>> {
        let text = (crate::test_values::any_value(), 0usize..5).prop_map(|(v, level)| {
            let mut o = Vec::new();
            match level {
                4 => crate::codec::to_json::write_value(&mut o, &v),
                _ => write_value_pretty(&mut o, &v, level),
            }
            o
        });
        // Objects whose members may repeat a key or put index keys out of order.
        let member = (prop::sample::select(vec!["a", "b", "1", "2", "10", "ab"]), crate::test_values::any_value());
        let members = (prop::collection::vec(member, 0..5), any::<bool>()).prop_map(|(members, pretty)| {
            let mut o = b"{".to_vec();
            for (i, (k, v)) in members.iter().enumerate() {
                o.extend_from_slice(if i == 0 { b"" } else { b"," });
                o.extend_from_slice(if pretty { b"\n  " } else { b"" });
                o.extend_from_slice(format!("\"{k}\":").as_bytes());
                match pretty {
                    true => write_value_pretty(&mut o, v, 1),
                    false => crate::codec::to_json::write_value(&mut o, v),
                }
            }
            o.push(b'}');
            o
        });
        let text = proptest::prop_oneof![3 => text, 1 => members];
        let mut snippets: Vec<&[u8]> = vec![b" ", b"\n", b"\"", b"\\", b",", b":", b"{", b"}", b"[", b"]", b"0", b"1", b"-", b".", b"e"];
        snippets.extend([&b"/"[..], b"\x01", b"\xc3", b"\x80", b"\\/", b"\\n", b".0", b"e5", b"00"]);
        snippets.extend([&b"\\u0041"[..], b"\\u000a", b"\\u000A", b"\\ud800", b"\\uDC00", b"\\udc00", b"\\ud83d\\ude00"]);
        let edit = (any::<prop::sample::Index>(), prop::sample::select(snippets), 0u8..3);
        (text, prop::collection::vec(edit, 0..3)).prop_map(|(mut bytes, edits)| {
            for (at, snippet, kind) in edits {
                let at = at.index(bytes.len() + 1);
                if kind != 1 && at < bytes.len() {
                    bytes.remove(at);
                }
                if kind != 2 {
                    bytes.splice(at..at, snippet.iter().copied());
                }
            }
            bytes
        })
    }

    /// What the full decoder stores for `text`, or `None` when it refuses it.
    fn full(text: &[u8]) -> Option<Vec<u8>> {
        Some(match parse_value(text).ok()? {
            Value::Undefined => UNDEFINED.to_vec(),
            v => Encoded::from_value(&v).bytes().to_vec(),
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(1024),
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Whatever the scanner accepts as canonical is what the full decoder stores, and
        /// the cursor reads the same value and stops right after it.
        #[test]
        fn scanner_agrees_with_the_full_decoder(text in value_text()) {
            let mut out = Vec::new();
            let scanned = compact_canonical(&text, &mut out);
            let expected = full(&text);
            if scanned == Ok(true) {
                proptest::prop_assert_eq!(Some(&out), expected.as_ref(), "{}", String::from_utf8_lossy(&text));
            }
            if scanned.is_ok() {
                proptest::prop_assert!(parse_plain(&text).is_ok(), "{}", String::from_utf8_lossy(&text));
            }
            let mut c = Cursor::new(&text);
            if let Some(v) = c.value() {
                let bytes = match v {
                    Scanned::Canonical(e) => Some(e.bytes().to_vec()),
                    Scanned::Raw(raw) => Encoded::from_json(raw).ok().map(|e| e.bytes().to_vec()),
                };
                if c.at_end() {
                    proptest::prop_assert_eq!(bytes, expected, "{}", String::from_utf8_lossy(&text));
                }
            }
        }
    }

    #[test]
    fn key_fingerprints_do_not_depend_on_what_follows_the_key() {
        for key in ["", "a", "id", "abcdefg", "abcdefgh", "abcdefghi", "fabricIndex", "\u{e9}t\u{e9}"] {
            let tight = format!("\"{key}\"");
            let padded = format!("\"{key}\":1234567890");
            let len = key.len();
            assert_eq!(key_fingerprint(tight.as_bytes(), 1, len), key_fingerprint(padded.as_bytes(), 1, len), "{key}");
        }
        assert_ne!(key_fingerprint(b"\"ab\"", 1, 2), key_fingerprint(b"\"ac\"", 1, 2));
        assert_ne!(key_fingerprint(b"\"a\"", 1, 1), key_fingerprint(b"\"a\\u0000\"", 1, 7));
    }

    #[test]
    fn undefined_is_recognized() {
        assert!(Encoded::from_value(&Value::Undefined).is_undefined());
        assert!(Encoded::undefined().is_undefined());
        assert!(!Encoded::from_value(&Value::Null).is_undefined());
    }
}
