//! The read hot path without napi-rs's generic method machinery: plain Node-API callbacks
//! bound to one driver (its state pointer is the callback data), taking the context key
//! already joined by `index.js` plus the number of segments, so a `get` costs one native
//! call and three string reads.

use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;

use napi::sys;

use super::convert::{self, check, Res};
use super::errors::{self, Kind};
use super::Inner;

/// Reads a string argument into `buf` (no length query, no allocation for short strings —
/// context names and keys are short); longer ones spill into `spill`.
fn read_str<'a>(
    env: sys::napi_env,
    v: sys::napi_value,
    buf: &'a mut [u8; 256],
    spill: &'a mut Option<String>,
) -> Res<Option<&'a str>> {
    let mut t = 0;
    check!(sys::napi_typeof(env, v, &mut t));
    if t != sys::ValueType::napi_string {
        return Ok(None);
    }
    let mut len = 0usize;
    check!(sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr().cast(), buf.len(), &mut len));
    if len >= buf.len() - 1 {
        return Ok(Some(spill.insert(convert::get_string(env, v)?).as_str()));
    }
    Ok(Some(std::str::from_utf8(&buf[..len]).unwrap_or_default()))
}

/// Validates a joined context key: `count` segments, none empty (so none held a dot).
pub fn valid_joined(key: &str, count: usize) -> bool {
    if count == 0 {
        return key.is_empty();
    }
    let mut parts = 0;
    for part in key.split('.') {
        if part.is_empty() {
            return false;
        }
        parts += 1;
    }
    parts == count
}

/// Argument scratch space living in the callback's stack frame.
struct Scratch {
    ctx: [u8; 256],
    key: [u8; 256],
    ctx_spill: Option<String>,
    key_spill: Option<String>,
}

impl Scratch {
    fn new() -> Self {
        Scratch { ctx: [0; 256], key: [0; 256], ctx_spill: None, key_spill: None }
    }
}

/// Parses `(joinedContexts, count, key)`; throws and returns None on bad input.
unsafe fn args<'a>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    scratch: &'a mut Scratch,
) -> Option<(&'static Inner, &'a str, &'a str)> {
    let mut argv = [ptr::null_mut(); 3];
    let mut argc = 3usize;
    let mut data = ptr::null_mut();
    if unsafe { sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data) } != sys::Status::napi_ok {
        return None;
    }
    let inner: &'static Inner = unsafe { &*(data as *const Inner) };
    let mut count = 0f64;
    let ctx = match read_str(env, argv[0], &mut scratch.ctx, &mut scratch.ctx_spill) {
        Ok(Some(c))
            if unsafe { sys::napi_get_value_double(env, argv[1], &mut count) } == sys::Status::napi_ok
                && valid_joined(c, count as usize) =>
        {
            c
        }
        _ => {
            throw(env, "Context must not contain empty segments or leading or trailing dots.");
            return None;
        }
    };
    let Ok(Some(key)) = read_str(env, argv[2], &mut scratch.key, &mut scratch.key_spill) else {
        throw(env, "Key must be a string");
        return None;
    };
    Some((inner, ctx, key))
}

fn throw(env: sys::napi_env, msg: &str) {
    if let Ok(err) = errors::make(env, Kind::Storage, msg) {
        unsafe { sys::napi_throw(env, err) };
    }
}

fn not_initialized(env: sys::napi_env) -> sys::napi_value {
    throw(env, "WalStorageDriver is not initialized");
    ptr::null_mut()
}

unsafe extern "C" fn get_cb(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let mut scratch = Scratch::new();
    let Some((inner, ctx, key)) = (unsafe { args(env, info, &mut scratch) }) else { return ptr::null_mut() };
    let found = {
        let guard = inner.engine.read().unwrap();
        let Some(engine) = guard.as_ref() else { return not_initialized(env) };
        engine.read(|s| s.store.get(ctx, key).cloned())
    };
    let result = match found {
        Some(v) => inner.cache.with(env, |cache| cache.value(env, &v)),
        None => convert::undefined(env),
    };
    match result {
        Ok(v) => v,
        Err(f) => {
            let mut pending = false;
            unsafe { sys::napi_is_exception_pending(env, &mut pending) };
            if !pending {
                throw(env, &format!("Cannot read value: {f:?}"));
            }
            ptr::null_mut()
        }
    }
}

unsafe extern "C" fn has_cb(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let mut scratch = Scratch::new();
    let Some((inner, ctx, key)) = (unsafe { args(env, info, &mut scratch) }) else { return ptr::null_mut() };
    let found = {
        let guard = inner.engine.read().unwrap();
        let Some(engine) = guard.as_ref() else { return not_initialized(env) };
        engine.read(|s| s.store.get(ctx, key).is_some_and(|v| !v.is_undefined()))
    };
    let mut out = ptr::null_mut();
    unsafe { sys::napi_get_boolean(env, found, &mut out) };
    out
}

unsafe extern "C" fn release(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    drop(unsafe { Arc::from_raw(data as *const Inner) });
}

/// `{ get, has }` bound to `inner`.
pub fn bind(env: sys::napi_env, inner: &Arc<Inner>) -> Res<sys::napi_value> {
    let mut obj = ptr::null_mut();
    check!(sys::napi_create_object(env, &mut obj));
    type Cb = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;
    for (name, cb) in [(c"get", get_cb as Cb), (c"has", has_cb as Cb)] {
        let data = Arc::into_raw(inner.clone()) as *mut c_void;
        let mut f = ptr::null_mut();
        check!(sys::napi_create_function(env, name.as_ptr(), usize::MAX as isize, Some(cb), data, &mut f));
        check!(sys::napi_add_finalizer(env, f, data, Some(release), ptr::null_mut(), ptr::null_mut()));
        check!(sys::napi_set_named_property(env, obj, name.as_ptr(), f));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::valid_joined;

    #[test]
    fn joined_context_validation_matches_per_segment_rules() {
        assert!(valid_joined("", 0));
        assert!(valid_joined("a.b", 2));
        assert!(!valid_joined("a.b", 1)); // ["a.b"]
        assert!(!valid_joined("a.", 2)); // ["a", ""]
        assert!(!valid_joined("", 1)); // [""]
        assert!(!valid_joined("x", 0));
    }
}
