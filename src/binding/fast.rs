//! The read hot path without napi-rs's generic method machinery: plain Node-API callbacks
//! bound to one driver (its state pointer is the callback data), taking the context key
//! already validated and joined by `index.js`, so a `get` costs one native call and two
//! string reads. Measured: napi-rs's `#[napi]` method path costs about 0.3 µs more per call
//! (argument conversion through `Unknown`, `this` unwrapping), a third of a warm `get`.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;

use napi::sys;

use super::errors::{self, Kind};
use super::js::{self, check, Fail, Res};
use super::Inner;
use crate::jsstr::JsString;

/// Reads `(contextKey, key)`; throws and returns `None` on bad input.
fn args(env: sys::napi_env, info: sys::napi_callback_info, ctx: &mut JsString, key: &mut JsString) -> Option<*const Inner> {
    let mut argv = [ptr::null_mut(); 2];
    let mut argc = 2usize;
    let mut data = ptr::null_mut();
    // SAFETY: `argv` has room for `argc` handles; `data` receives the pointer given at
    // function creation (`bind`).
    let status = unsafe { sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data) };
    if status != sys::Status::napi_ok || data.is_null() {
        return None;
    }
    match (js::read_string_into(env, argv[0], ctx), js::read_string_into(env, argv[1], key)) {
        (Ok(true), Ok(true)) if crate::store::valid_context_key(ctx) => Some(data as *const Inner),
        (Ok(true), Ok(true)) => {
            throw(env, "Context must not contain empty segments or leading or trailing dots.");
            None
        }
        (Ok(false), _) => {
            throw(env, "Contexts must be an array of strings");
            None
        }
        (_, Ok(false)) => {
            throw(env, "Key must be a string");
            None
        }
        _ => None,
    }
}

fn throw(env: sys::napi_env, msg: &str) {
    if let Ok(err) = errors::make(env, Kind::Storage, msg) {
        // SAFETY: `err` is an error object of this env; throwing makes it pending.
        unsafe { sys::napi_throw(env, err) };
    }
}

/// Turns a failed read into a pending exception (unless one is pending already).
fn fail(env: sys::napi_env, f: Fail) -> sys::napi_value {
    let mut pending = false;
    // SAFETY: queries this env's exception state.
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    if !pending {
        match f {
            Fail::Invalid(m) => throw(env, &m),
            Fail::Napi(status) => throw(env, &format!("Cannot read value (Node-API status {status})")),
        }
    }
    ptr::null_mut()
}

/// Runs a callback body, turning a panic into a thrown error: no panic may unwind into Node.
fn guarded(env: sys::napi_env, body: impl FnOnce() -> Res<sys::napi_value>) -> sys::napi_value {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
        Ok(Err(f)) => fail(env, f),
        Err(_) => fail(env, Fail::Invalid("Internal error in matter-wal-native (a bug; please report it)".into())),
    }
}

extern "C" fn get_cb(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    guarded(env, || {
        let (mut ctx, mut key) = (JsString::new(), JsString::new());
        let Some(inner) = args(env, info, &mut ctx, &mut key) else { return Ok(ptr::null_mut()) };
        // SAFETY: `inner` is the `Arc<Inner>` pointer given to `bind`, kept alive by the
        // function's finalizer (which releases it only when the function is collected).
        let inner = unsafe { &*inner };
        let Some(engine) = inner.engine_now() else {
            throw(env, "WalStorageDriver is not initialized");
            return Ok(ptr::null_mut());
        };
        match engine.read(|s| s.store.get(&ctx, &key).cloned()) {
            Some(v) => inner.cache.get_or_build(env, &ctx, &key, &v, || super::to_js::to_js(env, v.bytes())),
            None => {
                inner.cache.forget(env, &ctx, &key);
                js::undefined(env)
            }
        }
    })
}

extern "C" fn has_cb(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    guarded(env, || {
        let (mut ctx, mut key) = (JsString::new(), JsString::new());
        let Some(inner) = args(env, info, &mut ctx, &mut key) else { return Ok(ptr::null_mut()) };
        // SAFETY: as in `get_cb`.
        let inner = unsafe { &*inner };
        let Some(engine) = inner.engine_now() else {
            throw(env, "WalStorageDriver is not initialized");
            return Ok(ptr::null_mut());
        };
        js::boolean(env, engine.read(|s| s.store.get(&ctx, &key).is_some_and(|v| !v.is_undefined())))
    })
}

extern "C" fn release(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the pointer `Arc::into_raw` produced in `bind` for this function;
    // the finalizer runs exactly once, so the count taken there is given back exactly once.
    drop(unsafe { Arc::from_raw(data as *const Inner) });
}

/// `{ get(contextKey, key), has(contextKey, key) }` bound to `inner`.
pub fn bind(env: sys::napi_env, inner: &Arc<Inner>) -> Res<sys::napi_value> {
    let obj = js::object(env)?;
    type Cb = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;
    for (name, cb) in [(c"get", get_cb as Cb), (c"has", has_cb as Cb)] {
        let data = Arc::into_raw(inner.clone()) as *mut c_void;
        let mut f = ptr::null_mut();
        // SAFETY: `name` is NUL-terminated (length `usize::MAX` = "up to the NUL"); `data`
        // stays valid until `release` runs.
        let created = unsafe { sys::napi_create_function(env, name.as_ptr(), usize::MAX as isize, Some(cb), data, &mut f) };
        if created != sys::Status::napi_ok {
            release(env, data, ptr::null_mut());
            return Err(Fail::Napi(created));
        }
        // SAFETY: `f` was just created; the finalizer releases `data` when it is collected.
        let finalizer = unsafe { sys::napi_add_finalizer(env, f, data, Some(release), ptr::null_mut(), ptr::null_mut()) };
        if finalizer != sys::Status::napi_ok {
            release(env, data, ptr::null_mut());
            return Err(Fail::Napi(finalizer));
        }
        // SAFETY: `obj` is the object created above, `name` NUL-terminated.
        check!(unsafe { sys::napi_set_named_property(env, obj, name.as_ptr(), f) });
    }
    Ok(obj)
}
