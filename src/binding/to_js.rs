//! JavaScript values from stored ones. One pass over the canonical JSON bytes of an
//! [`Encoded`](crate::codec::stored::Encoded) builds the JS value directly (no value tree), reviving
//! markers as matter.js's `fromJson` does: bigint, `Uint8Array`, `Map`, `undefined` and the
//! legacy `Interval` (NaN). Containers are walked with an explicit stack, so any depth the
//! store accepts is safe on the JS thread; only `Map` markers nest a call (their text is
//! escaped once more per level, so real data stays shallow).
//!
//! Why raw Node-API here: a port of this builder to napi-rs's safe types was measured 4–5 %
//! slower on reads of large values (2026-12-03; the port and its script were not kept: to
//! measure again, build a port and time both builds with `scripts/measure-safe-types.mjs`),
//! and reads are what matter.js does most. So the walk itself (arrays,
//! objects, `__proto__` members, bigints, `Uint8Array`s) calls Node-API directly; scalars,
//! strings and the `Map` constructor come from `js.rs`'s helpers, which use napi-rs's types
//! at no measured cost (see there).

use std::ptr;

use napi::sys;

use super::js::{self, check, Fail, Res};
use crate::codec::from_json::parse_plain;
use crate::codec::jsstr::{JsStr, JsString};
use crate::codec::value::Value;

/// What a stored value's string starts with when it is a marker (after unescaping).
const MARKER_PREFIX: &[u8] = br#"{"__object__":""#;

fn corrupt(what: &str) -> Fail {
    Fail::Invalid(format!("A stored value is corrupt ({what}); this is a bug, please report it"))
}

/// Builds the JavaScript value for canonical stored bytes.
pub fn to_js(env: sys::napi_env, bytes: &[u8]) -> Res<sys::napi_value> {
    Builder { env, s: bytes, i: 0, text: JsString::new() }.value()
}

/// A container being filled.
enum Open {
    Array {
        array: sys::napi_value,
        next: u32,
    },
    /// The object and the name of the member whose value comes next (`is_proto`: it is
    /// `__proto__`, which must be defined rather than assigned).
    Object {
        object: sys::napi_value,
        name: sys::napi_value,
        is_proto: bool,
    },
}

struct Builder<'a> {
    env: sys::napi_env,
    s: &'a [u8],
    i: usize,
    /// Scratch for decoding string literals.
    text: JsString,
}

impl Builder<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn value(mut self) -> Res<sys::napi_value> {
        let env = self.env;
        let mut stack: Vec<Open> = Vec::new();
        loop {
            self.ws();
            let mut value = match self.peek().ok_or_else(|| corrupt("truncated"))? {
                b'[' => {
                    self.i += 1;
                    let mut array = ptr::null_mut();
                    // SAFETY: `array` receives a handle in the current scope.
                    check!(unsafe { sys::napi_create_array(env, &mut array) });
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.i += 1;
                        array
                    } else {
                        stack.push(Open::Array { array, next: 0 });
                        continue;
                    }
                }
                b'{' => {
                    self.i += 1;
                    let object = js::object(env)?;
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        object
                    } else {
                        let (name, is_proto) = self.member_name()?;
                        stack.push(Open::Object { object, name, is_proto });
                        continue;
                    }
                }
                b'"' => self.string_value()?,
                b't' => self.literal("true", |env| js::boolean(env, true))?,
                b'f' => self.literal("false", |env| js::boolean(env, false))?,
                b'n' => self.literal("null", js::null)?,
                _ => self.number()?,
            };
            loop {
                self.ws();
                let Some(top) = stack.last_mut() else {
                    return if self.i == self.s.len() { Ok(value) } else { Err(corrupt("trailing bytes")) };
                };
                let in_array = match top {
                    Open::Array { array, next } => {
                        // SAFETY: `array` is an array handle of this scope, `value` a value handle.
                        check!(unsafe { sys::napi_set_element(env, *array, *next, value) });
                        *next += 1;
                        true
                    }
                    Open::Object { object, name, is_proto } => {
                        set_member(env, *object, *name, *is_proto, value)?;
                        false
                    }
                };
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if !in_array {
                            self.ws();
                            let (next_name, next_proto) = self.member_name()?;
                            if let Some(Open::Object { name, is_proto, .. }) = stack.last_mut() {
                                *name = next_name;
                                *is_proto = next_proto;
                            }
                        }
                        break;
                    }
                    Some(b']') if in_array => {
                        self.i += 1;
                        let Some(Open::Array { array, .. }) = stack.pop() else { unreachable!("in_array") };
                        value = array;
                    }
                    Some(b'}') if !in_array => {
                        self.i += 1;
                        let Some(Open::Object { object, .. }) = stack.pop() else { unreachable!("!in_array") };
                        value = object;
                    }
                    _ => return Err(corrupt("unexpected byte")),
                }
            }
        }
    }

    fn literal(&mut self, word: &str, make: impl FnOnce(sys::napi_env) -> Res<sys::napi_value>) -> Res<sys::napi_value> {
        if !self.s[self.i..].starts_with(word.as_bytes()) {
            return Err(corrupt("bad literal"));
        }
        self.i += word.len();
        make(self.env)
    }

    fn number(&mut self) -> Res<sys::napi_value> {
        let start = self.i;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        let n: f64 = std::str::from_utf8(&self.s[start..self.i]).ok().and_then(|t| t.parse().ok()).ok_or_else(|| corrupt("bad number"))?;
        js::number(self.env, n)
    }

    /// Decodes the string literal at the cursor into `self.text`.
    fn string(&mut self) -> Res<()> {
        self.i += 1; // opening quote
        self.text.clear();
        loop {
            let run_start = self.i;
            let end = memchr::memchr2(b'"', b'\\', &self.s[run_start..]).ok_or_else(|| corrupt("unterminated string"))?;
            let run = &self.s[run_start..run_start + end];
            self.text.push_js(JsStr::from_bytes(run).ok_or_else(|| corrupt("bad UTF-8"))?);
            self.i = run_start + end;
            if self.s[self.i] == b'"' {
                self.i += 1;
                return Ok(());
            }
            let c = *self.s.get(self.i + 1).ok_or_else(|| corrupt("truncated escape"))?;
            let unit = match c {
                b'"' | b'\\' | b'/' => c as u16,
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => 0x0a,
                b'r' => 0x0d,
                b't' => 0x09,
                b'u' => {
                    let hex = self.s.get(self.i + 2..self.i + 6).ok_or_else(|| corrupt("truncated escape"))?;
                    let hex = std::str::from_utf8(hex).map_err(|_| corrupt("bad escape"))?;
                    let unit = u16::from_str_radix(hex, 16).map_err(|_| corrupt("bad escape"))?;
                    self.i += 4;
                    unit
                }
                _ => return Err(corrupt("bad escape")),
            };
            self.text.push_code_unit(unit);
            self.i += 2;
        }
    }

    /// `"name":` → the name as a JS string, and whether it is `__proto__`.
    fn member_name(&mut self) -> Res<(sys::napi_value, bool)> {
        if self.peek() != Some(b'"') {
            return Err(corrupt("expected a member name"));
        }
        self.string()?;
        self.ws();
        if self.peek() != Some(b':') {
            return Err(corrupt("expected ':'"));
        }
        self.i += 1;
        Ok((js::create_js_string(self.env, &self.text)?, &*self.text == "__proto__"))
    }

    fn string_value(&mut self) -> Res<sys::napi_value> {
        self.string()?;
        if self.text.as_bytes().starts_with(MARKER_PREFIX) && self.text.as_bytes().last() == Some(&b'}') {
            let marker = std::mem::take(&mut self.text);
            return revive(self.env, &marker);
        }
        js::create_js_string(self.env, &self.text)
    }
}

fn set_member(env: sys::napi_env, object: sys::napi_value, name: sys::napi_value, is_proto: bool, value: sys::napi_value) -> Res<()> {
    if is_proto {
        let desc = sys::napi_property_descriptor {
            utf8name: ptr::null(),
            name,
            method: None,
            getter: None,
            setter: None,
            value,
            attributes: sys::PropertyAttributes::writable | sys::PropertyAttributes::enumerable | sys::PropertyAttributes::configurable,
            data: ptr::null_mut(),
        };
        // SAFETY: one descriptor with valid handles, living across the call.
        check!(unsafe { sys::napi_define_properties(env, object, 1, &desc) });
    } else {
        // SAFETY: handles of the current scope.
        check!(unsafe { sys::napi_set_property(env, object, name, value) });
    }
    Ok(())
}

/// The value a canonical marker string stands for.
fn revive(env: sys::napi_env, marker: &JsStr) -> Res<sys::napi_value> {
    let Ok(Value::Object(data)) = parse_plain(marker.as_bytes()) else { return Err(corrupt("bad marker")) };
    let tag = match data.get("__object__") {
        Some(Value::String(t)) => t.clone(),
        _ => return Err(corrupt("bad marker")),
    };
    let text = match data.get("__value__") {
        Some(Value::String(v)) => Some(v),
        _ => None,
    };
    match (tag.as_str().unwrap_or(""), text) {
        ("Undefined", _) => js::undefined(env),
        ("Interval", _) => js::number(env, f64::NAN),
        ("BigInt", Some(digits)) => {
            let (negative, words) = js::decimal_to_words(digits.as_str().ok_or_else(|| corrupt("bad bigint"))?);
            let mut out = ptr::null_mut();
            // SAFETY: the pointer and word count describe `words` for the whole call.
            check!(unsafe { sys::napi_create_bigint_words(env, negative as i32, words.len(), words.as_ptr(), &mut out) });
            Ok(out)
        }
        ("Uint8Array", Some(hex)) => {
            let hex = hex.as_bytes();
            if hex.len() % 2 != 0 {
                return Err(corrupt("bad hex"));
            }
            let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8).ok_or_else(|| corrupt("bad hex"));
            let len = hex.len() / 2;
            let mut data = ptr::null_mut();
            let mut buffer = ptr::null_mut();
            // SAFETY: `data` receives the backing store of a new ArrayBuffer of `len` bytes.
            check!(unsafe { sys::napi_create_arraybuffer(env, len, &mut data, &mut buffer) });
            if len > 0 {
                // SAFETY: Node-API allocated `len` writable bytes at `data`, owned by `buffer`,
                // which this scope keeps alive; nothing else aliases them yet.
                let bytes = unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) };
                for (b, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
                    *b = (digit(pair[0])? << 4) | digit(pair[1])?;
                }
            }
            let mut out = ptr::null_mut();
            // SAFETY: a Uint8Array view over the whole of `buffer`.
            check!(unsafe { sys::napi_create_typedarray(env, sys::TypedarrayType::uint8_array, len, buffer, 0, &mut out) });
            Ok(out)
        }
        ("Map", Some(entries)) => {
            let pairs = to_js(env, entries.as_bytes())?;
            let ctor = js::global(env, "Map")?;
            let mut out = ptr::null_mut();
            // SAFETY: `ctor` is the global Map constructor, called with one argument.
            check!(unsafe { sys::napi_new_instance(env, ctor, 1, &pairs, &mut out) });
            Ok(out)
        }
        _ => Err(corrupt("unknown marker")),
    }
}
