//! Raw Node-API helpers shared by the binding: status checks, exact string conversion in
//! both directions, small value constructors.
//!
//! Strings cross exactly: JavaScript strings are read as UTF-16 code units (Node-API's UTF-8
//! reader replaces lone surrogates and writes only whole characters into a buffer, which is
//! how a string straddling a buffer boundary was once cut short) and converted to WTF-8
//! ([`JsString`]); strings go back as UTF-8 when they hold no lone surrogate, as UTF-16
//! otherwise.

use std::ptr;

use napi::bindgen_prelude::{FromNapiValue, TypeName, ValidateNapiValue, ValueType};
use napi::sys;

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

/// Reads the string `v` exactly (lone surrogates included). `None` if `v` is not a string.
pub fn read_string(env: sys::napi_env, v: sys::napi_value) -> Res<Option<JsString>> {
    let mut out = JsString::new();
    Ok(read_string_into(env, v, &mut out)?.then_some(out))
}

/// [`read_string`] into a reused buffer; `false` if `v` is not a string.
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
/// conversion goes through UTF-8 and loses lone surrogates).
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
        match read_string(env, v) {
            Ok(Some(s)) => Ok(JsText(s)),
            Ok(None) => Err(napi::Error::new(napi::Status::StringExpected, "expected a string")),
            Err(_) => Err(napi::Error::from_status(napi::Status::GenericFailure)),
        }
    }
}

/// A JavaScript string from a Rust one.
pub fn create_string(env: sys::napi_env, s: &str) -> Res<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: the pointer and byte length describe `s`, valid UTF-8, for the whole call.
    check!(unsafe { sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut out) });
    Ok(out)
}

/// A JavaScript string holding exactly `s` (lone surrogates included).
pub fn create_js_string(env: sys::napi_env, s: &JsStr) -> Res<sys::napi_value> {
    if let Some(utf8) = s.as_str() {
        return create_string(env, utf8);
    }
    create_utf16(env, &s.code_units().collect::<Vec<u16>>())
}

/// A JavaScript string from UTF-16 code units.
pub fn create_utf16(env: sys::napi_env, units: &[u16]) -> Res<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: the pointer and length (in code units) describe `units` for the whole call.
    check!(unsafe { sys::napi_create_string_utf16(env, units.as_ptr(), units.len() as isize, &mut out) });
    Ok(out)
}

pub fn named(env: sys::napi_env, obj: sys::napi_value, name: &std::ffi::CStr) -> Res<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: `name` is a NUL-terminated C string living across the call.
    check!(unsafe { sys::napi_get_named_property(env, obj, name.as_ptr(), &mut out) });
    Ok(out)
}

pub fn global(env: sys::napi_env, name: &std::ffi::CStr) -> Res<sys::napi_value> {
    let mut g = ptr::null_mut();
    // SAFETY: `g` receives the global object of this live environment.
    check!(unsafe { sys::napi_get_global(env, &mut g) });
    named(env, g, name)
}

pub fn undefined(env: sys::napi_env) -> Res<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: `out` receives a handle in the current scope.
    check!(unsafe { sys::napi_get_undefined(env, &mut out) });
    Ok(out)
}

pub fn null(env: sys::napi_env) -> Res<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: as for `undefined`.
    check!(unsafe { sys::napi_get_null(env, &mut out) });
    Ok(out)
}

pub fn boolean(env: sys::napi_env, b: bool) -> Res<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: as for `undefined`.
    check!(unsafe { sys::napi_get_boolean(env, b, &mut out) });
    Ok(out)
}

pub fn number(env: sys::napi_env, n: f64) -> Res<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: as for `undefined`.
    check!(unsafe { sys::napi_create_double(env, n, &mut out) });
    Ok(out)
}

pub fn object(env: sys::napi_env) -> Res<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: as for `undefined`.
    check!(unsafe { sys::napi_create_object(env, &mut out) });
    Ok(out)
}

/// Sets an own data property (also for `__proto__`, which plain assignment would treat as
/// the prototype; `JSON.parse` creates it as an ordinary property).
pub fn set_property(env: sys::napi_env, obj: sys::napi_value, key: &JsStr, value: sys::napi_value) -> Res<()> {
    let name = create_js_string(env, key)?;
    if key == "__proto__" {
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
        // SAFETY: one descriptor, living across the call, with valid handles.
        check!(unsafe { sys::napi_define_properties(env, obj, 1, &desc) });
    } else {
        // SAFETY: `obj`, `name` and `value` are handles of the current scope.
        check!(unsafe { sys::napi_set_property(env, obj, name, value) });
    }
    Ok(())
}

/// An array of the given values.
pub fn array_of(env: sys::napi_env, items: &[sys::napi_value]) -> Res<sys::napi_value> {
    let mut arr = ptr::null_mut();
    // SAFETY: `arr` receives a handle in the current scope.
    check!(unsafe { sys::napi_create_array_with_length(env, items.len(), &mut arr) });
    for (i, &item) in items.iter().enumerate() {
        // SAFETY: `arr` is the array created above; `item` is a handle the caller holds.
        check!(unsafe { sys::napi_set_element(env, arr, i as u32, item) });
    }
    Ok(arr)
}

/// An array of strings.
pub fn string_array<S: AsRef<JsStr>>(env: sys::napi_env, items: &[S]) -> Res<sys::napi_value> {
    let mut arr = ptr::null_mut();
    // SAFETY: `arr` receives a handle in the current scope.
    check!(unsafe { sys::napi_create_array_with_length(env, items.len(), &mut arr) });
    for (i, s) in items.iter().enumerate() {
        let js = create_js_string(env, s.as_ref())?;
        // SAFETY: `arr` is the array created above, `js` a string handle.
        check!(unsafe { sys::napi_set_element(env, arr, i as u32, js) });
    }
    Ok(arr)
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
