//! JS value ⇄ [`Value`], with raw Node-API calls (this is the hot path of every get/set).

use std::ptr;

use napi::sys;

use crate::json_write::{write_bigint_marker, write_js_string, write_number, write_value, UNDEFINED_QUOTED};
use crate::value::{JsObject, Value};

/// Deepest nesting accepted on write; the reader's recursion limit is above this plus the
/// commit/snapshot wrapper levels, so whatever we write we can read back.
pub const MAX_DEPTH: usize = 100;

/// Raw status check.
macro_rules! check {
    ($e:expr) => {{
        let status = unsafe { $e };
        if status != sys::Status::napi_ok {
            return Err($crate::binding::convert::Fail::Napi(status));
        }
    }};
}
pub(crate) use check;

/// Why a conversion failed.
#[derive(Debug)]
pub enum Fail {
    /// A Node-API call failed (an exception may be pending).
    Napi(sys::napi_status),
    /// The value cannot be stored; message for the user.
    Unsupported(String),
}

pub type Res<T> = Result<T, Fail>;

pub fn type_of(env: sys::napi_env, v: sys::napi_value) -> Res<sys::napi_valuetype> {
    let mut t = 0;
    check!(sys::napi_typeof(env, v, &mut t));
    Ok(t)
}

pub fn get_string(env: sys::napi_env, v: sys::napi_value) -> Res<String> {
    // Most strings (keys, names) are short: one call into a stack buffer.
    let mut stack = [0u8; 128];
    let mut written = 0usize;
    check!(sys::napi_get_value_string_utf8(env, v, stack.as_mut_ptr().cast(), stack.len(), &mut written));
    if written < stack.len() - 1 {
        return Ok(String::from_utf8_lossy(&stack[..written]).into_owned());
    }
    let mut len = 0usize;
    check!(sys::napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut len));
    let mut buf: Vec<u8> = Vec::with_capacity(len + 1);
    let mut written = 0usize;
    check!(sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr().cast(), len + 1, &mut written));
    unsafe { buf.set_len(written) };
    // Node-API hands out valid UTF-8 (lone surrogates become U+FFFD).
    Ok(String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

pub fn create_string(env: sys::napi_env, s: &str) -> Res<sys::napi_value> {
    let mut out = ptr::null_mut();
    check!(sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut out));
    Ok(out)
}

pub fn named(env: sys::napi_env, obj: sys::napi_value, name: &std::ffi::CStr) -> Res<sys::napi_value> {
    let mut out = ptr::null_mut();
    check!(sys::napi_get_named_property(env, obj, name.as_ptr(), &mut out));
    Ok(out)
}

pub fn global(env: sys::napi_env, name: &std::ffi::CStr) -> Res<sys::napi_value> {
    let mut g = ptr::null_mut();
    check!(sys::napi_get_global(env, &mut g));
    named(env, g, name)
}

pub fn undefined(env: sys::napi_env) -> Res<sys::napi_value> {
    let mut out = ptr::null_mut();
    check!(sys::napi_get_undefined(env, &mut out));
    Ok(out)
}

fn is_instance(env: sys::napi_env, v: sys::napi_value, ctor: sys::napi_value) -> Res<bool> {
    let mut r = false;
    check!(sys::napi_instanceof(env, v, ctor, &mut r));
    Ok(r)
}

/// Reads a JS value for storage.
pub struct Reader {
    env: sys::napi_env,
    map_ctor: Option<sys::napi_value>,
    /// `(Array, Array.from)`, looked up once per conversion.
    array_from: Option<(sys::napi_value, sys::napi_value)>,
}

impl Reader {
    pub fn new(env: sys::napi_env) -> Self {
        Reader { env, map_ctor: None, array_from: None }
    }


    fn read_at(&mut self, v: sys::napi_value, depth: usize, path: &mut Vec<String>) -> Res<Value> {
        let env = self.env;
        let unsupported = |what: &str, path: &Vec<String>| {
            let at = if path.is_empty() { String::new() } else { format!(" at \"{}\"", path.join(".")) };
            Fail::Unsupported(format!("Cannot store {what}{at}: not a supported storage type"))
        };
        match type_of(env, v)? {
            sys::ValueType::napi_undefined => Ok(Value::Undefined),
            sys::ValueType::napi_null => Ok(Value::Null),
            sys::ValueType::napi_boolean => {
                let mut b = false;
                check!(sys::napi_get_value_bool(env, v, &mut b));
                Ok(Value::Bool(b))
            }
            sys::ValueType::napi_number => {
                let mut n = 0f64;
                check!(sys::napi_get_value_double(env, v, &mut n));
                Ok(Value::Number(n))
            }
            sys::ValueType::napi_string => Ok(Value::String(get_string(env, v)?)),
            sys::ValueType::napi_bigint => Ok(Value::BigInt(read_bigint(env, v)?)),
            sys::ValueType::napi_function => Err(unsupported("a function", path)),
            sys::ValueType::napi_symbol => Err(unsupported("a symbol", path)),
            sys::ValueType::napi_object => {
                if depth >= MAX_DEPTH {
                    return Err(Fail::Unsupported(format!(
                        "Cannot store a value nested deeper than {MAX_DEPTH} levels (circular reference?)"
                    )));
                }
                self.read_object(v, depth, path)
            }
            _ => Err(unsupported("this value", path)),
        }
    }

    /// Encodes a JS value straight to matter.js JSON bytes (what `write_value` would print
    /// for [`Reader::read`]'s result) without building a value tree. Rare shapes (Map,
    /// toJSON, Buffer-like objects) go through the tree.
    pub fn encode(&mut self, v: sys::napi_value, out: &mut Vec<u8>) -> Res<()> {
        self.encode_at(v, 0, &mut Vec::new(), out)
    }

    fn encode_at(&mut self, v: sys::napi_value, depth: usize, path: &mut Vec<String>, out: &mut Vec<u8>) -> Res<()> {
        let env = self.env;
        match type_of(env, v)? {
            sys::ValueType::napi_undefined => out.extend_from_slice(UNDEFINED_QUOTED),
            sys::ValueType::napi_null => out.extend_from_slice(b"null"),
            sys::ValueType::napi_boolean => {
                let mut b = false;
                check!(sys::napi_get_value_bool(env, v, &mut b));
                out.extend_from_slice(if b { b"true" } else { b"false" });
            }
            sys::ValueType::napi_number => {
                let mut n = 0f64;
                check!(sys::napi_get_value_double(env, v, &mut n));
                write_number(out, n);
            }
            sys::ValueType::napi_string => write_js_string(out, &get_string(env, v)?),
            sys::ValueType::napi_bigint => write_bigint_marker(out, &read_bigint(env, v)?),
            sys::ValueType::napi_object => {
                if depth >= MAX_DEPTH {
                    return Err(Fail::Unsupported(format!(
                        "Cannot store a value nested deeper than {MAX_DEPTH} levels (circular reference?)"
                    )));
                }
                self.encode_object(v, depth, path, out)?;
            }
            // functions, symbols, externals: the tree reader has the messages
            _ => write_value(out, &self.read_at(v, depth, path)?),
        }
        Ok(())
    }

    fn encode_object(&mut self, v: sys::napi_value, depth: usize, path: &mut Vec<String>, out: &mut Vec<u8>) -> Res<()> {
        let env = self.env;
        let mut flag = false;
        check!(sys::napi_is_array(env, v, &mut flag));
        if flag {
            let mut len = 0u32;
            check!(sys::napi_get_array_length(env, v, &mut len));
            out.push(b'[');
            for i in 0..len {
                if i > 0 {
                    out.push(b',');
                }
                let mut item = ptr::null_mut();
                check!(sys::napi_get_element(env, v, i, &mut item));
                path.push(i.to_string());
                self.encode_at(item, depth + 1, path, out)?;
                path.pop();
            }
            out.push(b']');
            return Ok(());
        }
        check!(sys::napi_is_typedarray(env, v, &mut flag));
        let mut special = flag;
        for probe in [sys::napi_is_promise, sys::napi_is_arraybuffer, sys::napi_is_dataview] {
            if !special {
                check!(probe(env, v, &mut special));
            }
        }
        let plain = !special && {
            let map_ctor = match self.map_ctor {
                Some(c) => c,
                None => *self.map_ctor.insert(global(env, c"Map")?),
            };
            !is_instance(env, v, map_ctor)? && type_of(env, named(env, v, c"toJSON")?)? != sys::ValueType::napi_function
        };
        if !plain {
            write_value(out, &self.read_object(v, depth, path)?);
            return Ok(());
        }
        let keys = own_keys(env, v)?;
        // Buffer.toJSON()-shaped objects become bytes: let the tree path decide those.
        let has = |k: &str| keys.iter().any(|(_, key)| key == k);
        if has("type") && has("data") {
            write_value(out, &self.read_object(v, depth, path)?);
            return Ok(());
        }
        out.push(b'{');
        for (i, (name, key)) in keys.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_js_string(out, &key);
            out.push(b':');
            let mut prop = ptr::null_mut();
            check!(sys::napi_get_property(env, v, name, &mut prop));
            path.push(key);
            self.encode_at(prop, depth + 1, path, out)?;
            path.pop();
        }
        out.push(b'}');
        Ok(())
    }

    fn read_object(&mut self, v: sys::napi_value, depth: usize, path: &mut Vec<String>) -> Res<Value> {
        let env = self.env;
        let mut flag = false;
        check!(sys::napi_is_typedarray(env, v, &mut flag));
        if flag {
            let mut kind = 0;
            let mut len = 0usize;
            let mut data = ptr::null_mut();
            check!(sys::napi_get_typedarray_info(env, v, &mut kind, &mut len, &mut data, ptr::null_mut(), ptr::null_mut()));
            if kind != sys::TypedarrayType::uint8_array {
                return Err(Fail::Unsupported(format!(
                    "Cannot store a typed array other than Uint8Array{}",
                    at(path)
                )));
            }
            let bytes = if len == 0 { Vec::new() } else { unsafe { std::slice::from_raw_parts(data as *const u8, len) }.to_vec() };
            return Ok(Value::Bytes(bytes));
        }
        check!(sys::napi_is_array(env, v, &mut flag));
        if flag {
            let mut len = 0u32;
            check!(sys::napi_get_array_length(env, v, &mut len));
            let mut items = Vec::with_capacity(len as usize);
            for i in 0..len {
                let mut item = ptr::null_mut();
                check!(sys::napi_get_element(env, v, i, &mut item));
                path.push(i.to_string());
                items.push(self.read_at(item, depth + 1, path)?);
                path.pop();
            }
            return Ok(Value::Array(items));
        }
        let map_ctor = match self.map_ctor {
            Some(c) => c,
            None => *self.map_ctor.insert(global(env, c"Map")?),
        };
        if is_instance(env, v, map_ctor)? {
            let (array, array_from) = match self.array_from {
                Some(f) => f,
                None => {
                    let array = global(env, c"Array")?;
                    *self.array_from.insert((array, named(env, array, c"from")?))
                }
            };
            let mut entries = ptr::null_mut();
            check!(sys::napi_call_function(env, array, array_from, 1, &v, &mut entries));
            let mut len = 0u32;
            check!(sys::napi_get_array_length(env, entries, &mut len));
            let mut out = Vec::with_capacity(len as usize);
            for i in 0..len {
                let mut pair = ptr::null_mut();
                check!(sys::napi_get_element(env, entries, i, &mut pair));
                let (mut k, mut val) = (ptr::null_mut(), ptr::null_mut());
                check!(sys::napi_get_element(env, pair, 0, &mut k));
                check!(sys::napi_get_element(env, pair, 1, &mut val));
                path.push(format!("<map entry {i}>"));
                let entry = (self.read_at(k, depth + 1, path)?, self.read_at(val, depth + 1, path)?);
                path.pop();
                out.push(entry);
            }
            return Ok(Value::Map(out));
        }
        check!(sys::napi_is_promise(env, v, &mut flag));
        let mut is_ab = false;
        check!(sys::napi_is_arraybuffer(env, v, &mut is_ab));
        let mut is_dv = false;
        check!(sys::napi_is_dataview(env, v, &mut is_dv));
        if flag || is_ab || is_dv {
            return Err(Fail::Unsupported(format!("Cannot store this object{}: not a supported storage type", at(path))));
        }
        // JSON.stringify semantics: an object with toJSON (Date, Duration, …) stores what it returns.
        let to_json = named(env, v, c"toJSON")?;
        if type_of(env, to_json)? == sys::ValueType::napi_function {
            let key = create_string(env, "")?;
            let mut result = ptr::null_mut();
            check!(sys::napi_call_function(env, v, to_json, 1, &key, &mut result));
            return self.read_at(result, depth + 1, path);
        }
        let keys = own_keys(env, v)?;
        let mut entries = Vec::with_capacity(keys.len());
        for (name, key) in keys {
            let mut prop = ptr::null_mut();
            check!(sys::napi_get_property(env, v, name, &mut prop));
            path.push(key.clone());
            let value = self.read_at(prop, depth + 1, path)?;
            path.pop();
            entries.push((key, value));
        }
        Ok(buffer_json_to_bytes(JsObject::from_ordered(entries)))
    }
}

/// Own enumerable string keys in JavaScript order (`Object.keys`), as (JS name, text).
pub fn own_keys(env: sys::napi_env, v: sys::napi_value) -> Res<Vec<(sys::napi_value, String)>> {
    let mut names = ptr::null_mut();
    check!(sys::napi_get_all_property_names(
        env,
        v,
        sys::KeyCollectionMode::own_only,
        sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols,
        sys::KeyConversion::numbers_to_strings,
        &mut names
    ));
    let mut len = 0u32;
    check!(sys::napi_get_array_length(env, names, &mut len));
    let mut keys = Vec::with_capacity(len as usize);
    for i in 0..len {
        let mut name = ptr::null_mut();
        check!(sys::napi_get_element(env, names, i, &mut name));
        keys.push((name, get_string(env, name)?));
    }
    Ok(keys)
}

fn at(path: &[String]) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" at \"{}\"", path.join("."))
    }
}

/// matter.js stores `{type: "Buffer", data: [..]}` (a serialized Node Buffer) as bytes.
fn buffer_json_to_bytes(obj: JsObject) -> Value {
    if let (Some(Value::String(t)), Some(Value::Array(data))) = (obj.get("type"), obj.get("data")) {
        if t == "Buffer" {
            let bytes = data
                .iter()
                .map(|d| match d {
                    Value::Number(n) if n.is_finite() => (n.trunc() as i64).rem_euclid(256) as u8,
                    _ => 0,
                })
                .collect();
            return Value::Bytes(bytes);
        }
    }
    Value::Object(obj)
}

fn read_bigint(env: sys::napi_env, v: sys::napi_value) -> Res<String> {
    let mut sign = 0i32;
    let mut count = 0usize;
    // Asking for the size only: sign and words must both be null.
    check!(sys::napi_get_value_bigint_words(env, v, ptr::null_mut(), &mut count, ptr::null_mut()));
    let mut words = vec![0u64; count.max(1)];
    check!(sys::napi_get_value_bigint_words(env, v, &mut sign, &mut count, words.as_mut_ptr()));
    words.truncate(count);
    let digits = words_to_decimal(&words);
    Ok(if sign != 0 && digits != "0" { format!("-{digits}") } else { digits })
}

/// Little-endian 64-bit words → decimal text.
pub fn words_to_decimal(words: &[u64]) -> String {
    const CHUNK: u64 = 10_000_000_000_000_000_000; // 10^19
    let mut n: Vec<u64> = words.to_vec();
    while n.last() == Some(&0) {
        n.pop();
    }
    if n.is_empty() {
        return "0".into();
    }
    let mut chunks = Vec::new();
    while !n.is_empty() {
        let mut rem = 0u128;
        for w in n.iter_mut().rev() {
            let cur = (rem << 64) | *w as u128;
            *w = (cur / CHUNK as u128) as u64;
            rem = cur % CHUNK as u128;
        }
        chunks.push(rem as u64);
        while n.last() == Some(&0) {
            n.pop();
        }
    }
    let mut s = chunks.pop().unwrap().to_string();
    for c in chunks.iter().rev() {
        s.push_str(&format!("{c:019}"));
    }
    s
}

/// Decimal text (optional leading '-') → (negative, little-endian words).
pub fn decimal_to_words(text: &str) -> (bool, Vec<u64>) {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let mut words: Vec<u64> = vec![0];
    for chunk in digits.as_bytes().chunks(18) {
        let mul = 10u128.pow(chunk.len() as u32);
        let add: u128 = std::str::from_utf8(chunk).ok().and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut carry = add;
        for w in words.iter_mut() {
            let cur = *w as u128 * mul + carry;
            *w = cur as u64;
            carry = cur >> 64;
        }
        if carry > 0 {
            words.push(carry as u64);
        }
    }
    (neg, words)
}

/// Builds JS values from stored ones.
pub struct Writer {
    env: sys::napi_env,
    map_ctor: Option<sys::napi_value>,
}

impl Writer {
    pub fn new(env: sys::napi_env) -> Self {
        Writer { env, map_ctor: None }
    }

    pub fn write(&mut self, v: &Value) -> Res<sys::napi_value> {
        let env = self.env;
        let mut out = ptr::null_mut();
        match v {
            Value::Undefined => check!(sys::napi_get_undefined(env, &mut out)),
            Value::Null => check!(sys::napi_get_null(env, &mut out)),
            Value::Bool(b) => check!(sys::napi_get_boolean(env, *b, &mut out)),
            Value::Number(n) => check!(sys::napi_create_double(env, *n, &mut out)),
            Value::String(s) => out = create_string(env, s)?,
            Value::BigInt(text) => {
                let (neg, words) = decimal_to_words(text);
                check!(sys::napi_create_bigint_words(env, neg as i32, words.len(), words.as_ptr(), &mut out));
            }
            Value::Bytes(bytes) => {
                let mut data = ptr::null_mut();
                let mut ab = ptr::null_mut();
                check!(sys::napi_create_arraybuffer(env, bytes.len(), &mut data, &mut ab));
                if !bytes.is_empty() {
                    unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), data as *mut u8, bytes.len()) };
                }
                check!(sys::napi_create_typedarray(env, sys::TypedarrayType::uint8_array, bytes.len(), ab, 0, &mut out));
            }
            Value::Array(items) => {
                check!(sys::napi_create_array_with_length(env, items.len(), &mut out));
                for (i, item) in items.iter().enumerate() {
                    let js = self.write(item)?;
                    check!(sys::napi_set_element(env, out, i as u32, js));
                }
            }
            Value::Object(obj) => {
                check!(sys::napi_create_object(env, &mut out));
                for (k, item) in obj.iter() {
                    self.set_property(out, k, item)?;
                }
            }
            Value::Map(entries) => {
                let ctor = match self.map_ctor {
                    Some(c) => c,
                    None => *self.map_ctor.insert(global(env, c"Map")?),
                };
                check!(sys::napi_new_instance(env, ctor, 0, ptr::null(), &mut out));
                let set = named(env, out, c"set")?;
                for (k, item) in entries {
                    let args = [self.write(k)?, self.write(item)?];
                    let mut ignored = ptr::null_mut();
                    check!(sys::napi_call_function(env, out, set, 2, args.as_ptr(), &mut ignored));
                }
            }
        }
        Ok(out)
    }

    /// Sets an own data property (also for keys like `__proto__`, as JSON.parse does).
    pub fn set_property(&mut self, obj: sys::napi_value, key: &str, value: &Value) -> Res<()> {
        let js = self.write(value)?;
        self.set_raw(obj, key, js)
    }

    pub fn set_raw(&mut self, obj: sys::napi_value, key: &str, js: sys::napi_value) -> Res<()> {
        let name = create_string(self.env, key)?;
        if key == "__proto__" {
            let desc = sys::napi_property_descriptor {
                utf8name: ptr::null(),
                name,
                method: None,
                getter: None,
                setter: None,
                value: js,
                attributes: sys::PropertyAttributes::writable
                    | sys::PropertyAttributes::enumerable
                    | sys::PropertyAttributes::configurable,
                data: ptr::null_mut(),
            };
            check!(sys::napi_define_properties(self.env, obj, 1, &desc));
        } else {
            check!(sys::napi_set_property(self.env, obj, name, js));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigint_words_round_trip() {
        for text in ["0", "1", "18446744073709551615", "18446744073709551616", "340282366920938463463374607431768211457", "10000000000000000000"] {
            let (neg, words) = decimal_to_words(text);
            assert!(!neg);
            assert_eq!(words_to_decimal(&words), text);
        }
        assert_eq!(decimal_to_words("-5"), (true, vec![5]));
    }
}
