//! JSON decoder accepting what matter.js's `fromJson` (StringifyTools) accepts and producing
//! the same values.
//!
//! `fromJson` is `JSON.parse` with a reviver that recognises marker strings (string values
//! starting with `{"__object__":"` and ending with `}`) and turns them back into
//! `undefined`, bigint, bytes, `Map` and a few legacy types. Decoding happens in the same two
//! steps JavaScript takes:
//!
//! 1. [`parse_plain`] is `JSON.parse` without a reviver: any nesting depth up to
//!    [`MAX_DEPTH`] without recursion, strings as JavaScript holds them (lone surrogates from
//!    `\ud800` escapes included), duplicate object keys resolved as JavaScript does (the last
//!    value wins, the key keeps its first position) and array-index keys enumerated first in
//!    ascending order. A value overwritten by a later duplicate is gone before step 2, so an
//!    invalid marker in it is never an error — as in JavaScript, where the reviver never sees it.
//! 2. [`revive`] is the reviver's bottom-up walk: marker strings become the values they stand
//!    for; a property whose revived value is `undefined` is deleted, an array element stays
//!    as a hole (`Value::Undefined`). The conversions behind each marker follow `BigInt()`,
//!    `Bytes.fromHex` and `new Map()` as they behave on odd inputs.
//!
//! [`parse_value`] is both steps: `fromJson`.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use crate::codec::ecma::{integral_f64_to_decimal, is_js_whitespace, js_to_string, BigDec};
use crate::codec::jsstr::{JsStr, JsString};
use crate::codec::value::{array_index, JsObject, Value};

/// Deepest nesting of arrays and objects accepted in one JSON text. matter.js's `toJson`
/// cannot write more than a few thousand levels with Node's default stack (its
/// `JSON.stringify` recurses), so this only stops hostile input; the tree operations that
/// recurse (encoding, reviving, dropping) stay within the engine threads' stacks.
pub const MAX_DEPTH: usize = 20_000;

/// How many `Map` markers may nest inside each other (each level's text is escaped once
/// more, so real data never gets near this).
const MAX_MARKER_NESTING: u32 = 64;

/// Why a text could not be decoded: malformed JSON (with the byte position), or a marker
/// `fromJson` would have thrown on (the JavaScript error's message, e.g.
/// `Unknown object type: Foo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    message: String,
}

impl JsonError {
    fn new(message: impl Into<String>) -> Self {
        JsonError { message: message.into() }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JsonError {}

/// Decodes `text` exactly as `fromJson(text)` would.
pub fn parse_value(text: &[u8]) -> Result<Value, JsonError> {
    parse_nested(text, 0)
}

fn parse_nested(text: &[u8], nesting: u32) -> Result<Value, JsonError> {
    revive_nested(parse_plain(text)?, nesting)
}

/// `JSON.parse(text)` without a reviver. The text must be UTF-8 (WTF-8 is accepted too, for
/// the texts nested inside markers, which are JavaScript strings).
pub fn parse_plain(text: &[u8]) -> Result<Value, JsonError> {
    Parser { s: text, i: 0 }.document()
}

/// Applies `fromJson`'s reviver to a value `JSON.parse` produced.
pub fn revive(v: Value) -> Result<Value, JsonError> {
    revive_nested(v, 0)
}

// ---------------------------------------------------------------------------------------
// Step 1: JSON.parse

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

/// An array or object being filled.
enum Open {
    Array(Vec<Value>),
    /// The members so far, and the key whose value comes next.
    Object(ObjectBuilder, JsString),
}

/// Collects an object's members with JavaScript's duplicate-key and key-order rules.
#[derive(Default)]
struct ObjectBuilder {
    entries: Vec<(JsString, Value)>,
    /// Position of each key, once the object is too big for linear duplicate checks.
    index: Option<HashMap<JsString, usize>>,
    has_index_key: bool,
}

impl ObjectBuilder {
    fn set(&mut self, key: JsString, value: Value) {
        let existing = match &self.index {
            Some(index) => index.get(&key).copied(),
            None => self.entries.iter().position(|(k, _)| *k == key),
        };
        match existing {
            Some(at) => self.entries[at].1 = value,
            None => {
                if let Some(index) = &mut self.index {
                    index.insert(key.clone(), self.entries.len());
                }
                self.push(key, value);
                if self.entries.len() > 16 && self.index.is_none() {
                    self.index = Some(self.entries.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect());
                }
            }
        }
    }

    fn push(&mut self, key: JsString, value: Value) {
        self.has_index_key |= key.as_bytes().first().is_some_and(u8::is_ascii_digit) && array_index(&*key).is_some();
        self.entries.push((key, value));
    }

    fn finish(mut self) -> Value {
        if self.has_index_key {
            // Stable: index keys ascending first, other keys keep their insertion order.
            self.entries.sort_by_key(|(k, _)| match array_index(&**k) {
                Some(i) => (0u8, i),
                None => (1u8, 0),
            });
        }
        Value::Object(JsObject::from_ordered(self.entries))
    }
}

impl Parser<'_> {
    fn error(&self, what: &str) -> JsonError {
        match self.s.get(self.i) {
            None => JsonError::new(format!("Unexpected end of JSON input ({what})")),
            Some(&b) if b.is_ascii_graphic() || b == b' ' => {
                JsonError::new(format!("Unexpected token '{}' at position {} ({what})", b as char, self.i))
            }
            Some(&b) => JsonError::new(format!("Unexpected byte 0x{b:02x} at position {} ({what})", self.i)),
        }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn document(mut self) -> Result<Value, JsonError> {
        let mut stack: Vec<Open> = Vec::new();
        self.ws();
        loop {
            // A value starts here: a scalar, or a container that we enter.
            let mut value = match self.s.get(self.i) {
                Some(b'[') => {
                    self.i += 1;
                    self.ws();
                    if self.s.get(self.i) == Some(&b']') {
                        self.i += 1;
                        Value::Array(Vec::new())
                    } else {
                        self.enter(&mut stack, Open::Array(Vec::new()))?;
                        continue;
                    }
                }
                Some(b'{') => {
                    self.i += 1;
                    self.ws();
                    if self.s.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        Value::Object(JsObject::new())
                    } else {
                        let key = self.member_key()?;
                        self.enter(&mut stack, Open::Object(ObjectBuilder::default(), key))?;
                        continue;
                    }
                }
                Some(b'"') => Value::String(self.string()?),
                Some(b't') => self.literal("true", Value::Bool(true))?,
                Some(b'f') => self.literal("false", Value::Bool(false))?,
                Some(b'n') => self.literal("null", Value::Null)?,
                Some(b'-' | b'0'..=b'9') => Value::Number(self.number()?),
                _ => return Err(self.error("expected a value")),
            };
            // Attach the value to its container; close every container that ends here.
            loop {
                self.ws();
                match stack.last_mut() {
                    None => {
                        if self.i != self.s.len() {
                            return Err(self.error("expected the end of the text"));
                        }
                        return Ok(value);
                    }
                    Some(Open::Array(items)) => {
                        items.push(value);
                        match self.s.get(self.i) {
                            Some(b',') => {
                                self.i += 1;
                                self.ws();
                                break;
                            }
                            Some(b']') => {
                                self.i += 1;
                                let Some(Open::Array(items)) = stack.pop() else { unreachable!() };
                                value = Value::Array(items);
                            }
                            _ => return Err(self.error("expected ',' or ']'")),
                        }
                    }
                    Some(Open::Object(members, key)) => {
                        members.set(std::mem::take(key), value);
                        match self.s.get(self.i) {
                            Some(b',') => {
                                self.i += 1;
                                self.ws();
                                *key = self.member_key()?;
                                break;
                            }
                            Some(b'}') => {
                                self.i += 1;
                                let Some(Open::Object(members, _)) = stack.pop() else { unreachable!() };
                                value = members.finish();
                            }
                            _ => return Err(self.error("expected ',' or '}'")),
                        }
                    }
                }
            }
        }
    }

    fn enter(&mut self, stack: &mut Vec<Open>, open: Open) -> Result<(), JsonError> {
        if stack.len() >= MAX_DEPTH {
            return Err(JsonError::new(format!("JSON nested deeper than {MAX_DEPTH} levels at position {}", self.i)));
        }
        stack.push(open);
        Ok(())
    }

    /// `"key"` then `:`, leaving the cursor at the value.
    fn member_key(&mut self) -> Result<JsString, JsonError> {
        if self.s.get(self.i) != Some(&b'"') {
            return Err(self.error("expected a property name"));
        }
        let key = self.string()?;
        self.ws();
        if self.s.get(self.i) != Some(&b':') {
            return Err(self.error("expected ':'"));
        }
        self.i += 1;
        self.ws();
        Ok(key)
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, JsonError> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn number(&mut self) -> Result<f64, JsonError> {
        let s = self.s;
        let start = self.i;
        let mut i = start;
        let digits = |i: &mut usize| {
            let from = *i;
            while s.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > from
        };
        if s.get(i) == Some(&b'-') {
            i += 1;
        }
        match s.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                digits(&mut i);
            }
            _ => {
                self.i = i;
                return Err(self.error("no number after minus sign"));
            }
        }
        if s.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                self.i = i;
                return Err(self.error("unterminated fractional number"));
            }
        }
        if let Some(b'e' | b'E') = s.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = s.get(i) {
                i += 1;
            }
            if !digits(&mut i) {
                self.i = i;
                return Err(self.error("exponent part is missing a number"));
            }
        }
        self.i = i;
        // ASCII digits only; Rust's parser rounds correctly, like JSON.parse (and gives ±∞
        // beyond the double range).
        let text = std::str::from_utf8(&s[start..i]).expect("ASCII");
        text.parse::<f64>().map_err(|_| JsonError::new(format!("invalid number {text}")))
    }

    /// A string literal, as JavaScript holds it.
    fn string(&mut self) -> Result<JsString, JsonError> {
        debug_assert_eq!(self.s[self.i], b'"');
        self.i += 1;
        let mut out = JsString::new();
        loop {
            let run_start = self.i;
            let run = memchr::memchr3(b'"', b'\\', b'\n', &self.s[run_start..]).map_or(self.s.len(), |n| run_start + n);
            // Control characters are rare: check the run for them in one pass.
            let bytes = &self.s[run_start..run];
            if let Some(bad) = bytes.iter().position(|&b| b < 0x20) {
                self.i = run_start + bad;
                return Err(self.error("bad control character in string literal"));
            }
            let Some(text) = JsStr::from_bytes(bytes) else {
                self.i = run_start;
                return Err(JsonError::new(format!("invalid UTF-8 in string at position {run_start}")));
            };
            out.push_js(text);
            self.i = run;
            match self.s.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => self.escape(&mut out)?,
                Some(_) => return Err(self.error("bad control character in string literal")),
                None => return Err(JsonError::new("Unterminated string in JSON")),
            }
        }
    }

    fn escape(&mut self, out: &mut JsString) -> Result<(), JsonError> {
        let c = match self.s.get(self.i + 1) {
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'/') => b'/',
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'u') => {
                let hex = self.s.get(self.i + 2..self.i + 6).filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                let Some(hex) = hex else {
                    self.i += 2;
                    return Err(self.error("bad Unicode escape"));
                };
                let unit = hex.iter().fold(0u16, |acc, &h| (acc << 4) | (h as char).to_digit(16).expect("hex") as u16);
                out.push_code_unit(unit);
                self.i += 6;
                return Ok(());
            }
            _ => {
                self.i += 1;
                return Err(self.error("bad escaped character"));
            }
        };
        out.push_code_point(c as u32);
        self.i += 2;
        Ok(())
    }
}

/// `(later, first)` index pairs for items whose identity repeats an earlier one, in order.
fn find_duplicates<'a, T, K: Hash + Eq + 'a>(items: &'a [T], id: impl Fn(&'a T) -> Option<K>) -> Vec<(usize, usize)> {
    let mut dups = Vec::new();
    if items.len() < 2 {
        return dups;
    }
    if items.len() <= 12 {
        let ids: Vec<Option<K>> = items.iter().map(&id).collect();
        for i in 1..ids.len() {
            if let Some(me) = &ids[i] {
                if let Some(j) = ids[..i].iter().position(|other| other.as_ref() == Some(me)) {
                    dups.push((i, j));
                }
            }
        }
    } else {
        let mut seen: HashMap<K, usize> = HashMap::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some(key) = id(item) {
                match seen.entry(key) {
                    Entry::Occupied(e) => dups.push((i, *e.get())),
                    Entry::Vacant(e) => {
                        e.insert(i);
                    }
                }
            }
        }
    }
    dups
}

/// Applies JS "set existing property" semantics: each later duplicate's value replaces the
/// first occurrence's value (so the last one wins) and the later entry disappears.
fn merge_duplicates<K, V>(entries: Vec<(K, V)>, dups: Vec<(usize, usize)>) -> Vec<(K, V)> {
    if dups.is_empty() {
        return entries;
    }
    let mut slots: Vec<Option<(K, V)>> = entries.into_iter().map(Some).collect();
    for (later, first) in dups {
        if let Some((_, v)) = slots[later].take() {
            if let Some(slot) = slots[first].as_mut() {
                slot.1 = v;
            }
        }
    }
    slots.into_iter().flatten().collect()
}

/// Splits a JSON text holding one object into its members, in order: each key as
/// JavaScript holds it and the text of its value (not validated here beyond its extent).
pub fn object_members(text: &[u8]) -> Result<Vec<(JsString, &[u8])>, JsonError> {
    let mut p = Parser { s: text, i: 0 };
    p.ws();
    if p.s.get(p.i) != Some(&b'{') {
        return Err(p.error("expected an object"));
    }
    p.i += 1;
    p.ws();
    let mut members = Vec::new();
    if p.s.get(p.i) == Some(&b'}') {
        p.i += 1;
    } else {
        loop {
            let key = p.member_key()?;
            let start = p.i;
            p.skip_value()?;
            members.push((key, &text[start..p.i]));
            p.ws();
            match p.s.get(p.i) {
                Some(b',') => {
                    p.i += 1;
                    p.ws();
                }
                Some(b'}') => {
                    p.i += 1;
                    break;
                }
                _ => return Err(p.error("expected ',' or '}'")),
            }
        }
    }
    p.ws();
    if p.i != text.len() {
        return Err(p.error("expected the end of the text"));
    }
    Ok(members)
}

impl Parser<'_> {
    /// Moves past one value: strings and brackets are followed, nothing else is checked.
    fn skip_value(&mut self) -> Result<(), JsonError> {
        let mut depth = 0usize;
        loop {
            let Some(&b) = self.s.get(self.i) else { return Err(self.error("expected a value")) };
            match b {
                b'"' => {
                    self.i += 1;
                    loop {
                        match memchr::memchr2(b'"', b'\\', &self.s[self.i..]) {
                            Some(n) if self.s[self.i + n] == b'\\' => self.i += n + 2,
                            Some(n) => {
                                self.i += n + 1;
                                break;
                            }
                            None => return Err(JsonError::new("Unterminated string in JSON")),
                        }
                    }
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.i += 1;
                }
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    self.i += 1;
                }
                b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => return Ok(()),
                _ => self.i += 1,
            }
            if depth == 0 && matches!(self.s.get(self.i.wrapping_sub(1)), Some(b'"' | b'}' | b']')) {
                return Ok(());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Step 2: the reviver

const MARKER_PREFIX: &str = "{\"__object__\":\"";

/// The reviver's walk: children first, then the value itself (only strings change).
fn revive_nested(v: Value, nesting: u32) -> Result<Value, JsonError> {
    match v {
        Value::String(s) if is_marker(&s) => revive_marker(&s, nesting),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                // An element reviving to undefined is deleted: a hole, which we hold as Undefined.
                out.push(revive_nested(item, nesting)?);
            }
            Ok(Value::Array(out))
        }
        Value::Object(o) => {
            let entries = o.into_entries();
            let mut out = Vec::with_capacity(entries.len());
            for (k, item) in entries {
                match revive_nested(item, nesting)? {
                    // The reviver returned undefined: the property is deleted.
                    Value::Undefined => {}
                    revived => out.push((k, revived)),
                }
            }
            Ok(Value::Object(JsObject::from_ordered(out)))
        }
        other => Ok(other),
    }
}

fn is_marker(s: &JsStr) -> bool {
    s.len() > MARKER_PREFIX.len() && s.starts_with(JsStr::new(MARKER_PREFIX)) && s.as_bytes().last() == Some(&b'}')
}

/// The `__value__` of a marker object.
#[derive(Clone, Copy)]
enum Field<'a> {
    Missing,
    Str(&'a JsStr),
    Other(&'a Value),
}

impl Field<'_> {
    fn to_value(self) -> Value {
        match self {
            Field::Missing => Value::Undefined,
            Field::Str(s) => Value::String(s.to_js_string()),
            Field::Other(v) => v.clone(),
        }
    }
}

/// The reviver's work on one marker string.
fn revive_marker(s: &JsStr, nesting: u32) -> Result<Value, JsonError> {
    if let Some((tag, field)) = split_plain_marker(s) {
        return revive_tagged(tag, field, s, nesting);
    }
    // General case: the marker text is parsed with a plain `JSON.parse`.
    let Value::Object(data) = parse_plain(s.as_bytes())? else {
        return Err(JsonError::new("marker is not a JSON object"));
    };
    let mut tag = None;
    let mut value = None;
    for (k, v) in data.into_entries() {
        if k == "__object__" {
            tag = Some(v);
        } else if k == "__value__" {
            value = Some(v);
        }
    }
    let field = match &value {
        None => Field::Missing,
        Some(Value::String(s)) => Field::Str(s),
        Some(v) => Field::Other(v),
    };
    match &tag {
        Some(Value::String(t)) => revive_tagged(&t.to_string_lossy(), field, s, nesting),
        Some(other) => Err(unknown_type(&js_to_string(other).to_string_lossy())),
        None => Err(unknown_type("undefined")),
    }
}

/// Fast path for the markers `toJson` writes: `{"__object__":"Tag"}` or
/// `{"__object__":"Tag","__value__":"text"}` with nothing to unescape.
fn split_plain_marker(s: &JsStr) -> Option<(&str, Field<'_>)> {
    let s = s.as_str()?;
    let rest = &s[MARKER_PREFIX.len()..];
    let tag_end = rest.find('"')?;
    let tag = &rest[..tag_end];
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let rest = &rest[tag_end + 1..];
    if rest == "}" {
        return Some((tag, Field::Missing));
    }
    let body = rest.strip_prefix(",\"__value__\":\"")?.strip_suffix("\"}")?;
    if body.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        return None;
    }
    Some((tag, Field::Str(JsStr::new(body))))
}

fn unknown_type(tag: &str) -> JsonError {
    JsonError::new(format!("Unknown object type: {tag}"))
}

/// `marker` is the whole marker string (kept for `Interval`, see [`Value::Interval`]).
fn revive_tagged(tag: &str, field: Field<'_>, marker: &JsStr, nesting: u32) -> Result<Value, JsonError> {
    match tag {
        "Undefined" => Ok(Value::Undefined),
        "BigInt" | "EventNumber" | "FabricId" | "NodeId" => to_bigint(field).map(Value::BigInt),
        "Uint8Array" => bytes_from_hex(field).map(Value::Bytes),
        "Map" => map_from_json(field, nesting).map(Value::Map),
        // matter.js passes the whole marker object to `Millis()`, which multiplies it: NaN.
        "Interval" => Ok(Value::Interval(marker.to_js_string())),
        "AttributeId"
        | "CaseAuthenticatedTag"
        | "ClusterId"
        | "CommandId"
        | "DataVersion"
        | "DeviceTypeId"
        | "EndpointNumber"
        | "EntryIndex"
        | "EventId"
        | "FabricIndex"
        | "FieldId"
        | "GroupId"
        | "VendorId" => Ok(field.to_value()),
        other => Err(unknown_type(other)),
    }
}

/// `BigInt(x)`, returning canonical decimal digits.
fn to_bigint(field: Field<'_>) -> Result<String, JsonError> {
    match field {
        Field::Missing => Err(JsonError::new("Cannot convert undefined to a BigInt")),
        Field::Str(s) => string_to_bigint(&s.to_string_lossy()),
        Field::Other(v) => match v {
            Value::Undefined => Err(JsonError::new("Cannot convert undefined to a BigInt")),
            Value::Null => Err(JsonError::new("Cannot convert null to a BigInt")),
            Value::Bool(b) => Ok(if *b { "1" } else { "0" }.to_string()),
            Value::Number(n) => {
                if n.is_finite() && n.trunc() == *n {
                    Ok(integral_f64_to_decimal(*n))
                } else {
                    Err(JsonError::new(format!(
                        "The number {} cannot be converted to a BigInt because it is not an integer",
                        js_to_string(v)
                    )))
                }
            }
            Value::Interval(_) => Err(JsonError::new("The number NaN cannot be converted to a BigInt because it is not an integer")),
            Value::String(s) => string_to_bigint(&s.to_string_lossy()),
            Value::BigInt(d) => Ok(d.clone()),
            // ToPrimitive: arrays/typed arrays join their elements, other objects are "[object ...]".
            other => string_to_bigint(&js_to_string(other).to_string_lossy()),
        },
    }
}

/// ECMAScript `StringToBigInt`: surrounding whitespace allowed, empty means 0, decimal with
/// optional sign, or unsigned `0x`/`0o`/`0b` literals.
fn string_to_bigint(s: &str) -> Result<String, JsonError> {
    let fail = || JsonError::new(format!("Cannot convert {s} to a BigInt"));
    let t = s.trim_matches(is_js_whitespace);
    if t.is_empty() {
        return Ok("0".to_string());
    }
    let b = t.as_bytes();
    if b.len() >= 2 && b[0] == b'0' {
        let radix = match b[1] {
            b'x' | b'X' => 16,
            b'o' | b'O' => 8,
            b'b' | b'B' => 2,
            _ => 0,
        };
        if radix != 0 {
            let digits = &t[2..];
            if digits.is_empty() {
                return Err(fail());
            }
            let mut n = BigDec::from_u64(0);
            for c in digits.chars() {
                n.mul_add(radix, c.to_digit(radix).ok_or_else(fail)?);
            }
            return Ok(n.to_decimal());
        }
    }
    let (negative, digits) = match b[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(fail());
    }
    let significant = digits.trim_start_matches('0');
    Ok(match (significant.is_empty(), negative) {
        (true, _) => "0".to_string(),
        (false, true) => format!("-{significant}"),
        (false, false) => significant.to_string(),
    })
}

/// matter.js `Bytes.fromHex(x)`.
fn bytes_from_hex(field: Field<'_>) -> Result<Vec<u8>, JsonError> {
    match field {
        Field::Str(s) => js_from_hex(s),
        // Non-strings only get past `x.length === 0` when that length is 0.
        Field::Other(Value::Array(a)) if a.is_empty() => Ok(Vec::new()),
        Field::Other(Value::Object(o)) if matches!(o.get("length"), Some(Value::Number(n)) if *n == 0.0) => Ok(Vec::new()),
        Field::Missing => Err(JsonError::new("Cannot read properties of undefined (reading 'length')")),
        Field::Other(_) => Err(JsonError::new("Hex string should have an even length.")),
    }
}

/// `Bytes.fromHex` on a string: length checked in UTF-16 units, then split by `/.{1,2}/g`
/// (which skips line terminators) and each piece run through `parseInt(piece, 16)` and
/// `Uint8Array`'s modulo-256 conversion.
fn js_from_hex(s: &JsStr) -> Result<Vec<u8>, JsonError> {
    let b = s.as_bytes();
    if b.len().is_multiple_of(2) && b.iter().all(u8::is_ascii_hexdigit) {
        return Ok(b.chunks_exact(2).map(|p| (hex_digit(p[0]) << 4) | hex_digit(p[1])).collect());
    }
    let units: Vec<u16> = s.code_units().collect();
    if !units.len().is_multiple_of(2) {
        return Err(JsonError::new("Hex string should have an even length."));
    }
    let is_line_terminator = |u: u16| matches!(u, 0x0a | 0x0d | 0x2028 | 0x2029);
    let mut out = Vec::with_capacity(units.len() / 2);
    let mut i = 0;
    while i < units.len() {
        if is_line_terminator(units[i]) {
            i += 1;
            continue;
        }
        let end = if i + 1 < units.len() && !is_line_terminator(units[i + 1]) { i + 2 } else { i + 1 };
        out.push(to_uint8(parse_int_hex(&units[i..end])));
        i = end;
    }
    if out.is_empty() {
        return Err(JsonError::new("Failed to parse the hex string."));
    }
    Ok(out)
}

fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// `parseInt(units, 16)`.
fn parse_int_hex(units: &[u16]) -> f64 {
    let is_ws = |u: u16| char::from_u32(u as u32).is_some_and(is_js_whitespace);
    let mut i = units.iter().take_while(|&&u| is_ws(u)).count();
    let mut sign = 1.0;
    if i < units.len() && (units[i] == b'+' as u16 || units[i] == b'-' as u16) {
        if units[i] == b'-' as u16 {
            sign = -1.0;
        }
        i += 1;
    }
    if i + 1 < units.len() && units[i] == b'0' as u16 && (units[i + 1] == b'x' as u16 || units[i + 1] == b'X' as u16) {
        i += 2;
    }
    let mut value = 0.0;
    let mut any = false;
    while let Some(d) = units.get(i).and_then(|&u| char::from_u32(u as u32)).and_then(|c| c.to_digit(16)) {
        value = value * 16.0 + d as f64;
        any = true;
        i += 1;
    }
    if any {
        sign * value
    } else {
        f64::NAN
    }
}

/// ECMAScript `ToUint8`.
fn to_uint8(n: f64) -> u8 {
    if !n.is_finite() {
        return 0;
    }
    n.trunc().rem_euclid(256.0) as u8
}

/// `new Map(fromJson(x))`.
fn map_from_json(field: Field<'_>, nesting: u32) -> Result<Vec<(Value, Value)>, JsonError> {
    if nesting >= MAX_MARKER_NESTING {
        return Err(JsonError::new(format!("Map markers nested deeper than {MAX_MARKER_NESTING} levels")));
    }
    let owned;
    let text: &JsStr = match field {
        Field::Missing => JsStr::new("undefined"),
        Field::Str(s) => s,
        Field::Other(v) => {
            owned = js_to_string(v);
            &owned
        }
    };
    map_from_iterable(parse_nested(text.as_bytes(), nesting + 1)?)
}

/// `new Map(iterable)`.
fn map_from_iterable(iterable: Value) -> Result<Vec<(Value, Value)>, JsonError> {
    let not_iterable = |v: &Value| JsonError::new(format!("{} is not iterable", js_to_string(v)));
    let not_entry = |v: &Value| JsonError::new(format!("Iterator value {} is not an entry object", js_to_string(v)));
    let raw: Vec<(Value, Value)> = match iterable {
        Value::Undefined | Value::Null => return Ok(Vec::new()),
        Value::Map(entries) => return Ok(entries),
        // A string iterates by code point (a lone surrogate is one).
        Value::String(s) => match s.code_points().next() {
            None => return Ok(Vec::new()),
            Some(c) => {
                let mut first = JsString::new();
                first.push_code_point(c);
                return Err(not_entry(&Value::String(first)));
            }
        },
        Value::Bytes(b) => match b.first() {
            None => return Ok(Vec::new()),
            Some(&x) => return Err(not_entry(&Value::Number(x as f64))),
        },
        Value::Array(items) => {
            let mut raw = Vec::with_capacity(items.len());
            for item in items {
                raw.push(match item {
                    Value::Array(pair) => {
                        let mut it = pair.into_iter();
                        let k = it.next().unwrap_or(Value::Undefined);
                        (k, it.next().unwrap_or(Value::Undefined))
                    }
                    Value::Object(o) => {
                        let (mut k, mut v) = (Value::Undefined, Value::Undefined);
                        for (name, value) in o.into_entries() {
                            if name == "0" {
                                k = value;
                            } else if name == "1" {
                                v = value;
                            }
                        }
                        (k, v)
                    }
                    Value::Bytes(b) => {
                        let at = |i: usize| b.get(i).map_or(Value::Undefined, |&x| Value::Number(x as f64));
                        (at(0), at(1))
                    }
                    Value::Map(_) => (Value::Undefined, Value::Undefined),
                    other => return Err(not_entry(&other)),
                });
            }
            raw
        }
        other => return Err(not_iterable(&other)),
    };
    // Map.prototype.set: -0 keys become +0, keys compare with SameValueZero.
    let raw: Vec<(Value, Value)> =
        raw.into_iter().map(|(k, v)| (if matches!(k, Value::Number(n) if n == 0.0) { Value::Number(0.0) } else { k }, v)).collect();
    let dups = find_duplicates(&raw, |(k, _)| map_key_id(k));
    Ok(merge_duplicates(raw, dups))
}

/// Identity of a primitive Map key under SameValueZero; objects are always distinct.
#[derive(Hash, PartialEq, Eq)]
enum MapKeyId<'a> {
    Undefined,
    Null,
    Bool(bool),
    Number(u64),
    String(&'a JsStr),
    BigInt(&'a str),
}

fn map_key_id(k: &Value) -> Option<MapKeyId<'_>> {
    Some(match k {
        Value::Undefined => MapKeyId::Undefined,
        Value::Null => MapKeyId::Null,
        Value::Bool(b) => MapKeyId::Bool(*b),
        Value::Number(n) if n.is_nan() => MapKeyId::Number(f64::NAN.to_bits()),
        Value::Number(n) if *n == 0.0 => MapKeyId::Number(0),
        Value::Number(n) => MapKeyId::Number(n.to_bits()),
        Value::Interval(_) => MapKeyId::Number(f64::NAN.to_bits()),
        Value::String(s) => MapKeyId::String(s),
        Value::BigInt(d) => MapKeyId::BigInt(d),
        Value::Bytes(_) | Value::Array(_) | Value::Object(_) | Value::Map(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::to_json::{write_value, write_value_pretty};
    use proptest::prelude::*;

    fn s(x: &str) -> Value {
        Value::String(JsString::from(x))
    }

    fn tag(t: &str, rest: Vec<Value>) -> Value {
        let mut v = vec![s(t)];
        v.extend(rest);
        Value::Array(v)
    }

    /// Typed, order-preserving description of a value (the format of the Node table).
    fn describe(v: &Value) -> Value {
        match v {
            Value::Undefined => tag("undef", vec![]),
            Value::Null => tag("null", vec![]),
            Value::Bool(b) => tag(if *b { "true" } else { "false" }, vec![]),
            Value::Number(n) if n.is_nan() => tag("nan", vec![]),
            Value::Interval(_) => tag("nan", vec![]),
            Value::Number(n) => tag("num", vec![s(&format!("{:016x}", n.to_bits()))]),
            Value::String(x) => tag("str", vec![Value::String(x.clone())]),
            Value::BigInt(d) => tag("big", vec![s(d)]),
            Value::Bytes(b) => tag("bytes", vec![s(&b.iter().map(|x| format!("{x:02x}")).collect::<String>())]),
            Value::Array(items) => tag("arr", vec![Value::Array(items.iter().map(describe).collect())]),
            Value::Map(entries) => {
                tag("map", vec![Value::Array(entries.iter().map(|(k, v)| Value::Array(vec![describe(k), describe(v)])).collect())])
            }
            Value::Object(o) => {
                tag("obj", vec![Value::Array(o.iter().map(|(k, v)| Value::Array(vec![Value::String(k.clone()), describe(v)])).collect())])
            }
        }
    }

    fn parse(text: &str) -> Result<Value, JsonError> {
        parse_value(text.as_bytes())
    }

    fn compact(v: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn pretty(v: &Value) -> String {
        let mut out = Vec::new();
        write_value_pretty(&mut out, v, 0);
        String::from_utf8(out).unwrap()
    }

    /// Runs `f` on a thread with the engine threads' stack size (deep inputs recurse).
    fn on_engine_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new().stack_size(crate::threads::ENGINE_THREAD_STACK).spawn(f).unwrap().join().unwrap()
    }

    #[test]
    fn matches_node_from_json_table() {
        // Produced by matter.js's real fromJson: tests/fixtures/from-json-table.mjs.
        const TABLE: &str = include_str!("../../tests/fixtures/from-json-table.jsonl");
        let failures = on_engine_stack(|| {
            let mut failures = Vec::new();
            for line in TABLE.lines().filter(|l| !l.is_empty()) {
                let Value::Array(row) = parse_plain(line.as_bytes()).expect("table rows are JSON") else { panic!() };
                let name = match &row[0] {
                    Value::String(n) => n.to_string(),
                    _ => panic!(),
                };
                let Value::String(text) = &row[1] else { panic!() };
                let got = parse_value(text.as_bytes());
                match (&row[2], &row[3], &got) {
                    (expected, Value::Null, Ok(v)) if *expected == describe(v) => {}
                    // JavaScript's reviver recursion ran out of stack; we must still decode it.
                    (Value::Null, Value::String(js), Ok(_)) if js.to_string().starts_with("RangeError: Maximum call stack") => {}
                    (Value::Null, Value::String(js), Err(e)) => {
                        // Same message as JS where we know it (not required, but keep them
                        // close); lone surrogates print as U+FFFD on both sides here.
                        let js = js.to_string();
                        let msg = js.split_once(": ").map_or("", |(_, m)| m);
                        let known = ["Unknown object type", "Hex string", "Cannot convert"];
                        if known.iter().any(|k| msg.starts_with(k)) && e.message() != msg {
                            failures.push(format!("{name}: message {:?} vs JS {:?}", e.message(), msg));
                        }
                    }
                    _ => failures.push(format!(
                        "{name}: got {:?}, node says {} / {}",
                        got.map(|v| compact(&describe(&v))),
                        compact(&row[2]),
                        compact(&row[3])
                    )),
                }
            }
            failures
        });
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn reviver_deletes_undefined_properties_but_keeps_array_holes() {
        // node: fromJson('{"a":"{\"__object__\":\"Undefined\"}","b":[1,"{\"__object__\":\"Undefined\"}"]}')
        //   -> { b: [ 1, <1 empty item> ] }
        let v = parse(r#"{"a":"{\"__object__\":\"Undefined\"}","b":[1,"{\"__object__\":\"Undefined\"}"]}"#).unwrap();
        let mut o = JsObject::new();
        o.insert("b", Value::Array(vec![Value::Number(1.0), Value::Undefined]));
        assert_eq!(v, Value::Object(o));
        // The hole re-encodes as the Undefined marker, like toJson(fromJson(...)) does.
        assert_eq!(compact(&v), r#"{"b":[1,"{\"__object__\":\"Undefined\"}"]}"#);
        assert_eq!(parse(r#""{\"__object__\":\"Undefined\"}""#).unwrap(), Value::Undefined);
    }

    #[test]
    fn markers_round_trip_through_real_to_json_output() {
        // node: toJson([12345678901234567890n, new Uint8Array([0, 171]), new Map([[1n, undefined], ["x", new Map([[null, [true]]])]])])
        let text = r#"["{\"__object__\":\"BigInt\",\"__value__\":\"12345678901234567890\"}","{\"__object__\":\"Uint8Array\",\"__value__\":\"00ab\"}","{\"__object__\":\"Map\",\"__value__\":\"[[\\\"{\\\\\\\"__object__\\\\\\\":\\\\\\\"BigInt\\\\\\\",\\\\\\\"__value__\\\\\\\":\\\\\\\"1\\\\\\\"}\\\",\\\"{\\\\\\\"__object__\\\\\\\":\\\\\\\"Undefined\\\\\\\"}\\\"],[\\\"x\\\",\\\"{\\\\\\\"__object__\\\\\\\":\\\\\\\"Map\\\\\\\",\\\\\\\"__value__\\\\\\\":\\\\\\\"[[null,[true]]]\\\\\\\"}\\\"]]\"}"]"#;
        let v = parse(text).unwrap();
        let expected = Value::Array(vec![
            Value::BigInt("12345678901234567890".into()),
            Value::Bytes(vec![0, 171]),
            Value::Map(vec![
                (Value::BigInt("1".into()), Value::Undefined),
                (s("x"), Value::Map(vec![(Value::Null, Value::Array(vec![Value::Bool(true)]))])),
            ]),
        ]);
        assert_eq!(v, expected);
        assert_eq!(compact(&v), text);
    }

    #[test]
    fn lone_surrogates_survive_and_pairs_join() {
        // node: JSON.stringify(["a\ud800", "\udc00b", "\ud83d\ude00", {"\udfff": "\ud800\ud800"}])
        let text = r#"["a\ud800","\udc00b","😀",{"\udfff":"\ud800\ud800"}]"#;
        let v = parse(text).unwrap();
        assert_eq!(compact(&v), text);
        // Escaped pairs and upper-case escapes read as JavaScript reads them, and print as
        // JSON.stringify prints them.
        assert_eq!(compact(&parse(r#""\ud83d\ude00\uD800""#).unwrap()), r#""😀\ud800""#);
        let Value::String(lone) = parse(r#""\ud800""#).unwrap() else { panic!() };
        assert_eq!(lone.code_units().collect::<Vec<_>>(), [0xd800]);
    }

    #[test]
    #[allow(clippy::excessive_precision)]
    fn numbers_round_like_json_parse() {
        let v = parse("[0.1, 1e21, 5e-324, 2.2250738585072011e-308, 18446744073709551615, -9223372036854775809, 1e400]").unwrap();
        let Value::Array(items) = v else { panic!() };
        let nums: Vec<f64> = items.iter().map(|x| if let Value::Number(n) = x { *n } else { panic!() }).collect();
        assert_eq!(nums, vec![0.1, 1e21, 5e-324, 2.2250738585072011e-308, 18446744073709551615.0, -9223372036854775809.0, f64::INFINITY]);
        assert!(matches!(parse("-0").unwrap(), Value::Number(n) if n == 0.0 && n.is_sign_negative()));
    }

    #[test]
    fn errors_instead_of_panics() {
        for bad in [
            &b""[..],
            b" ",
            b"[1,",
            b"{\"a\"",
            b"\"abc",
            b"[1] x",
            b"\xff\xfe",
            b"\"\xc3\x28\"",
            b"NaN",
            b"01",
            b"-",
            b"1.",
            b"1e",
            b"\xef\xbb\xbf1",
            b"{'a':1}",
            b"\"\x01\"",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"[1,]",
            b"{\"a\":1,}",
        ] {
            assert!(parse_value(bad).is_err(), "{bad:?}");
        }
        // Depth: far beyond anything matter.js can write is refused, not a stack overflow.
        let deep = "[".repeat(1_000_000);
        let e = parse_value(deep.as_bytes()).unwrap_err();
        assert!(e.message().contains("nested deeper"), "{e}");
        let e = parse("[1,").unwrap_err();
        assert!(e.message().contains("end of JSON"), "{e}");
    }

    #[test]
    fn any_depth_matter_js_writes_is_read_encoded_and_dropped() {
        on_engine_stack(|| {
            for depth in [129, 4_000, MAX_DEPTH - 1] {
                let text = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
                let v = parse_value(text.as_bytes()).unwrap();
                assert_eq!(compact(&v), text);
                let obj = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
                let v = parse_value(obj.as_bytes()).unwrap();
                assert_eq!(compact(&v), obj);
            }
        });
    }

    #[test]
    fn map_marker_nesting_is_bounded() {
        let mut text = String::from("1");
        for _ in 0..(MAX_MARKER_NESTING + 1) {
            let mut quoted = Vec::new();
            crate::codec::to_json::write_js_string(&mut quoted, JsStr::new(&format!("[[1,{text}]]")));
            let marker = format!("{{\"__object__\":\"Map\",\"__value__\":{}}}", String::from_utf8(quoted).unwrap());
            let mut outer = Vec::new();
            crate::codec::to_json::write_js_string(&mut outer, JsStr::new(&marker));
            text = String::from_utf8(outer).unwrap();
            if text.len() > 1 << 22 {
                break; // the escaping doubles each level: real data cannot nest this deep
            }
        }
        let _ = on_engine_stack(move || parse_value(text.as_bytes()).map(|_| ()));
    }

    #[test]
    fn big_objects_keep_javascript_order() {
        // 200k keys incl. index keys and a duplicate.
        let mut text = String::from("{");
        for i in 0..200_000 {
            if i > 0 {
                text.push(',');
            }
            if i % 1000 == 0 {
                text.push_str(&format!("\"{}\":{}", 200_000 - i, i));
            } else {
                text.push_str(&format!("\"k{i}\":{i}"));
            }
        }
        text.push_str(",\"k1\":\"last\"}");
        // (A quadratic duplicate check would make this take minutes instead of milliseconds.)
        let Value::Object(o) = parse(&text).unwrap() else { panic!() };
        assert_eq!(o.len(), 200_000);
        let keys: Vec<String> = o.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys[0], "1000");
        assert_eq!(keys[199], "200000");
        assert_eq!(keys[200], "k1");
        assert_eq!(o.get("k1"), Some(&s("last")));
    }

    use crate::test_values::any_value;

    /// What `fromJson(toJson(v))` yields, modelled independently of the codec.
    fn model(v: &Value) -> Value {
        match v {
            Value::Number(n) if !n.is_finite() => Value::Null,
            Value::Number(n) if *n == 0.0 => Value::Number(0.0),
            Value::Array(items) => Value::Array(items.iter().map(model).collect()),
            Value::Object(o) => {
                if let (Some(Value::String(t)), Some(Value::Array(_))) = (o.get("type"), o.get("data")) {
                    if t == "Buffer" {
                        return v.clone(); // toJson turns it into bytes; not modelled here
                    }
                }
                let mut out = JsObject::new();
                for (k, v) in o.iter() {
                    let m = model(v);
                    if m != Value::Undefined {
                        out.insert(k.clone(), m);
                    }
                }
                Value::Object(out)
            }
            Value::Map(entries) => {
                let mut out: Vec<(Value, Value)> = Vec::new();
                for (k, v) in entries {
                    let (k, v) = (model(k), model(v));
                    match out.iter_mut().find(|(existing, _)| same_value_zero(existing, &k)) {
                        Some(slot) => slot.1 = v,
                        None => out.push((k, v)),
                    }
                }
                Value::Map(out)
            }
            other => other.clone(),
        }
    }

    /// JavaScript SameValueZero (Map key equality); objects are never equal to each other
    /// because each one is freshly created by the decoder.
    fn same_value_zero(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => x == y || (x.is_nan() && y.is_nan()),
            (Value::Array(_) | Value::Object(_) | Value::Bytes(_) | Value::Map(_), _) => false,
            _ => a == b,
        }
    }

    fn buffer_shaped(v: &Value) -> bool {
        match v {
            Value::Object(o) => {
                matches!((o.get("type"), o.get("data")), (Some(Value::String(t)), Some(Value::Array(_))) if t == "Buffer")
                    || o.iter().any(|(_, v)| buffer_shaped(v))
            }
            Value::Array(items) => items.iter().any(buffer_shaped),
            Value::Map(entries) => entries.iter().any(|(k, v)| buffer_shaped(k) || buffer_shaped(v)),
            _ => false,
        }
    }

    proptest! {
        // 512 cases unless PROPTEST_CASES says otherwise.
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512),
            ..ProptestConfig::default()
        })]

        #[test]
        fn round_trip(v in any_value()) {
            prop_assume!(!buffer_shaped(&v));
            let expected = describe(&model(&v));
            let text = compact(&v);
            let parsed = parse(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
            prop_assert_eq!(&describe(&parsed), &expected, "compact: {}", text);
            let text = pretty(&v);
            let parsed_pretty = parse(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
            prop_assert_eq!(&describe(&parsed_pretty), &expected, "pretty: {}", text);
            // Re-encoding what we read is stable.
            prop_assert_eq!(compact(&parsed), compact(&model(&v)));
        }

        #[test]
        fn never_panics_on_garbage(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_value(&bytes);
        }

        #[test]
        fn never_panics_on_damaged_output(v in any_value(), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut text = compact(&v).into_bytes();
            let _ = parse_value(&text[..cut.index(text.len() + 1)]);
            if !text.is_empty() {
                let i = flip.index(text.len());
                text[i] = byte;
                let _ = parse_value(&text);
            }
        }
    }
}
