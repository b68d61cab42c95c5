//! Node-API helpers shared by the binding: status checks, exact string conversion in
//! both directions, small value constructors.
//!
//! Strings cross exactly: JavaScript strings are read as UTF-16 code units (Node-API's UTF-8
//! reader replaces lone surrogates and writes only whole characters into a buffer, which is
//! how a string straddling a buffer boundary was once cut short) and converted to WTF-8
//! ([`JsString`]); strings go back as UTF-8 when they hold no lone surrogate, as UTF-16
//! otherwise.
//!
//! Only the string reader ([`read_string_into`], behind the fast `get`/`has` path and the
//! [`JsText`] arguments of the `#[napi]` methods) is raw Node-API. It reads strings of up to
//! 254 code units into the stack with one call; napi-rs's reader
//! (`JsString::into_utf16`) asks for the length first and copies into a fresh `Vec`, one more
//! Node-API call and an allocation per argument. Measured on 2026-12-08 with
//! `scripts/measure-safe-types.mjs` (Node 20, one process, rounds alternating A/B, best of
//! 21 and of 41 rounds, 2 shared cores): `keys()` of a 1-unit context took 655–695 ns raw and
//! 773–799 ns with napi-rs's reader (+11 to +18 %), a well-formed one 653–817 ns against
//! 717–893 ns (+9 to +10 %); 100-unit contexts +1 to +4 %; `set()` of typical attribute
//! values showed no difference (−2 to +7 % run to run, the noise of that ~7 µs call). The string and
//! value constructors below use napi-rs's types: the same measurement found them no slower
//! (`keys()` of 50 keys 0.94–0.98×, `values()` of 50 keys 1.02–1.04×, `get()` of strings of
//! 1 to 10 000 units with and without lone surrogates 0.95–1.06×, of a number 0.88–0.98×).

use std::ptr;

use napi::bindgen_prelude::{
    Env, FromNapiValue, JsObjectValue, JsValue, Null, Object, ToNapiValue, TypeName, Unknown, ValidateNapiValue, ValueType,
};
use napi::{sys, Property, PropertyAttributes};

use crate::codec::jsstr::{JsStr, JsString};

/// Returns `Err(Fail::Napi(status))` from the enclosing function unless `status` is ok.
/// The caller writes the `unsafe` block around the Node-API call (with its `SAFETY:` proof).
macro_rules! check {
    ($status:expr) => {{
        let status: napi::sys::napi_status = $status;
        if status != napi::sys::Status::napi_ok {
            return Err($crate::binding::js::Fail::Napi(status));
        }
    }};
}
pub(crate) use check;

/// Why a Node-API operation failed.
#[derive(Debug)]
pub enum Fail {
    /// A Node-API call failed (an exception may be pending).
    Napi(sys::napi_status),
    /// Bad input or a value that cannot be stored; message for the user.
    Invalid(String),
}

pub type Res<T> = Result<T, Fail>;

pub fn type_of(env: sys::napi_env, v: sys::napi_value) -> Res<sys::napi_valuetype> {
    let mut t = 0;
    // SAFETY: `env` and `v` are the live handles of the current call; `t` outlives the call.
    check!(unsafe { sys::napi_typeof(env, v, &mut t) });
    Ok(t)
}

/// Code units read straight into the stack for strings up to this length (keys, context
/// names and most values are short).
const STACK_UNITS: usize = 256;

/// Reads the string `v` exactly (lone surrogates included) into a reused buffer; `false` if
/// `v` is not a string. The fast read path's reader (see `fast.rs`).
pub fn read_string_into(env: sys::napi_env, v: sys::napi_value, out: &mut JsString) -> Res<bool> {
    out.clear();
    if type_of(env, v)? != sys::ValueType::napi_string {
        return Ok(false);
    }
    let mut stack = [0u16; STACK_UNITS];
    let mut copied = 0usize;
    // SAFETY: `v` is a string (checked above); the buffer pointer and its length in units
    // describe `stack`, which Node-API fills with at most `len - 1` units plus a NUL.
    check!(unsafe { sys::napi_get_value_string_utf16(env, v, stack.as_mut_ptr(), stack.len(), &mut copied) });
    if copied < STACK_UNITS - 1 {
        // Code units are copied one by one, never cut inside a character: this is all of it.
        push_units(out, &stack[..copied]);
        return Ok(true);
    }
    let mut len = 0usize;
    // SAFETY: a null buffer asks for the length in code units only.
    check!(unsafe { sys::napi_get_value_string_utf16(env, v, ptr::null_mut(), 0, &mut len) });
    let mut heap = vec![0u16; len + 1];
    // SAFETY: as above, with `heap` (len + 1 units, room for the NUL).
    check!(unsafe { sys::napi_get_value_string_utf16(env, v, heap.as_mut_ptr(), heap.len(), &mut copied) });
    push_units(out, &heap[..copied.min(len)]);
    Ok(true)
}

fn push_units(out: &mut JsString, units: &[u16]) {
    out.push_utf16(units);
}

/// A JavaScript string argument read exactly, for `#[napi]` methods (napi-rs's own `String`
/// conversion goes through UTF-8 and loses lone surrogates), with [`read_string_into`].
pub struct JsText(pub JsString);

impl TypeName for JsText {
    fn type_name() -> &'static str {
        "string"
    }

    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ValidateNapiValue for JsText {}

impl FromNapiValue for JsText {
    unsafe fn from_napi_value(env: sys::napi_env, v: sys::napi_value) -> napi::Result<Self> {
        let mut out = JsString::new();
        match read_string_into(env, v, &mut out) {
            Ok(true) => Ok(JsText(out)),
            Ok(false) => Err(napi::Error::new(napi::Status::StringExpected, "expected a string")),
            Err(_) => Err(napi::Error::from_status(napi::Status::GenericFailure)),
        }
    }
}

impl From<napi::Error> for Fail {
    fn from(e: napi::Error) -> Fail {
        Fail::Napi(e.status.into())
    }
}

/// A JavaScript string from a Rust one.
pub fn create_string(env: sys::napi_env, s: &str) -> Res<sys::napi_value> {
    Ok(Env::from_raw(env).create_string(s)?.raw())
}

/// A JavaScript string holding exactly `s` (lone surrogates included).
pub fn create_js_string(env: sys::napi_env, s: &JsStr) -> Res<sys::napi_value> {
    Ok(js_string(&Env::from_raw(env), s)?.raw())
}

/// [`create_js_string`] as napi-rs's typed string: UTF-8 when `s` holds no lone surrogate,
/// UTF-16 otherwise.
fn js_string<'e>(env: &'e Env, s: &JsStr) -> napi::Result<napi::JsString<'e>> {
    match s.as_str() {
        Some(utf8) => env.create_string(utf8),
        None => env.create_string_utf16(s.code_units().collect::<Vec<u16>>()),
    }
}

/// The global `name` (`Map`, …).
pub fn global(env: sys::napi_env, name: &str) -> Res<sys::napi_value> {
    Ok(Env::from_raw(env).get_global()?.get_named_property_unchecked::<Unknown>(name)?.raw())
}

pub fn undefined(env: sys::napi_env) -> Res<sys::napi_value> {
    Ok(().into_unknown(&Env::from_raw(env))?.raw())
}

pub fn null(env: sys::napi_env) -> Res<sys::napi_value> {
    Ok(Null.into_unknown(&Env::from_raw(env))?.raw())
}

pub fn boolean(env: sys::napi_env, b: bool) -> Res<sys::napi_value> {
    Ok(b.into_unknown(&Env::from_raw(env))?.raw())
}

pub fn number(env: sys::napi_env, n: f64) -> Res<sys::napi_value> {
    Ok(Env::from_raw(env).create_double(n)?.raw())
}

pub fn object(env: sys::napi_env) -> Res<sys::napi_value> {
    Ok(Object::new(&Env::from_raw(env))?.raw())
}

/// Sets an own data property (also for `__proto__`, which plain assignment would treat as
/// the prototype; `JSON.parse` creates it as an ordinary property).
pub fn set_property(env: sys::napi_env, obj: sys::napi_value, key: &JsStr, value: sys::napi_value) -> Res<()> {
    let mut object = Object::from_raw(env, obj);
    let env = Env::from_raw(env);
    if key == "__proto__" {
        let member = Property::new()
            .with_utf8_name("__proto__")?
            .with_napi_value(&env, value)?
            .with_property_attributes(PropertyAttributes::Writable | PropertyAttributes::Enumerable | PropertyAttributes::Configurable);
        object.define_properties(&[member])?;
    } else {
        let name = js_string(&env, key)?;
        // SAFETY: `value` is a live handle of this env's current scope, given by the caller.
        let value = unsafe { Unknown::from_raw_unchecked(env.raw(), value) };
        object.set_property(name, value)?;
    }
    Ok(())
}

/// An array of the given values.
pub fn array_of(env: sys::napi_env, items: &[sys::napi_value]) -> Res<sys::napi_value> {
    let env = Env::from_raw(env);
    let mut array = env.create_array(items.len() as u32)?;
    for (i, &item) in items.iter().enumerate() {
        array.set(i as u32, item)?;
    }
    Ok(array.raw())
}

/// An array of strings.
pub fn string_array<S: AsRef<JsStr>>(env: sys::napi_env, items: &[S]) -> Res<sys::napi_value> {
    let env = Env::from_raw(env);
    let mut array = env.create_array(items.len() as u32)?;
    for (i, s) in items.iter().enumerate() {
        array.set(i as u32, js_string(&env, s.as_ref())?)?;
    }
    Ok(array.raw())
}

/// Little-endian 64-bit words of the magnitude of a decimal bigint text (optional leading `-`).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigint_words() {
        assert_eq!(decimal_to_words("0"), (false, vec![0]));
        assert_eq!(decimal_to_words("-5"), (true, vec![5]));
        assert_eq!(decimal_to_words("18446744073709551616"), (false, vec![0, 1]));
        assert_eq!(decimal_to_words("340282366920938463463374607431768211457"), (false, vec![1, 0, 1]));
    }

    #[test]
    fn utf16_conversion_keeps_what_javascript_holds() {
        let mut s = JsString::new();
        push_units(&mut s, &[0x61, 0xd800, 0xd83d, 0xde00, 0xdc00]);
        assert_eq!(s.code_units().collect::<Vec<_>>(), [0x61, 0xd800, 0xd83d, 0xde00, 0xdc00]);
        let mut ascii = JsString::new();
        push_units(&mut ascii, &[0x41, 0x42]);
        assert_eq!(ascii.as_str(), Some("AB"));
    }
}
