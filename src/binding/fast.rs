//! The read hot path without napi-rs's generic method machinery: plain Node-API callbacks
//! bound to one driver (its state pointer is the callback data), taking the context key
//! already validated and joined by `lib/api.cjs`, so a `get` costs one native call and two
//! string reads.
//!
//! Why raw Node-API here: measured against the `#[napi]` methods `get`/`has` this replaced
//! (same store, same value cache, Node 20, 2 000 keys read 200 times, best of 3), a cached
//! object `get` took 0.56 µs instead of 2.16 µs, a number 0.44 µs instead of 1.78 µs, and
//! `has` 0.21 µs instead of 1.18 µs. matter.js reads attributes through `get` constantly.

use std::cell::Cell;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;

use napi::sys;

use super::errors::{self, Kind};
use super::js::{self, check, Fail, Res};
use super::Inner;
use crate::codec::jsstr::JsString;

thread_local! {
    /// Argument buffers reused by every call on this thread (taken out for the call, so a
    /// call re-entered from JavaScript — a user's `Map.prototype.set` while a value is
    /// built — simply starts with fresh ones).
    static BUFFERS: Cell<Option<(JsString, JsString)>> = const { Cell::new(None) };
}

fn throw(env: sys::napi_env, inner: &Inner, msg: &str) {
    if let Ok(err) = errors::make(env, inner.classes, Kind::Storage, msg) {
        // SAFETY: `err` is an error object of this env; throwing makes it pending.
        unsafe { sys::napi_throw(env, err) };
    }
}

/// Turns a failed read into a pending exception (unless one is pending already).
fn fail(env: sys::napi_env, inner: &Inner, f: Fail) -> sys::napi_value {
    let mut pending = false;
    // SAFETY: queries this env's exception state.
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    if !pending {
        match f {
            Fail::Invalid(m) => throw(env, inner, &m),
            Fail::Napi(status) => throw(env, inner, &format!("Cannot read value (Node-API status {status})")),
        }
    }
    ptr::null_mut()
}

/// Runs `body(inner, contextKey, key)` for a `(contextKey, key)` call: reads the arguments,
/// throws on bad ones, and turns a panic into a thrown error (no panic may unwind into Node).
fn call(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    body: impl FnOnce(&Inner, &JsString, &JsString) -> Res<sys::napi_value>,
) -> sys::napi_value {
    let mut argv = [ptr::null_mut(); 2];
    let mut argc = 2usize;
    let mut data = ptr::null_mut();
    // SAFETY: `argv` has room for `argc` handles; `data` receives the pointer given at
    // function creation (`bind`).
    let status = unsafe { sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data) };
    if status != sys::Status::napi_ok || data.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: `data` is the `Arc<Inner>` pointer given to `bind`, kept alive by the
    // function's finalizer, which releases it only when the function is collected (never
    // during a call of it).
    let inner: &Inner = unsafe { &*(data as *const Inner) };
    let (mut ctx, mut key) = BUFFERS.with(Cell::take).unwrap_or_default();
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Res<sys::napi_value> {
        match (js::read_string_into(env, argv[0], &mut ctx)?, js::read_string_into(env, argv[1], &mut key)?) {
            (true, true) if crate::store::valid_context_key(&ctx) => body(inner, &ctx, &key),
            (true, true) => Err(Fail::Invalid("Context must not contain empty segments or leading or trailing dots.".into())),
            (false, _) => Err(Fail::Invalid("Contexts must be an array of strings".into())),
            (_, false) => Err(Fail::Invalid("Key must be a string".into())),
        }
    }));
    BUFFERS.with(|b| b.set(Some((ctx, key))));
    match outcome {
        Ok(Ok(v)) => v,
        Ok(Err(f)) => fail(env, inner, f),
        Err(_) => fail(env, inner, Fail::Invalid("Internal error in matter-wal-native (a bug; please report it)".into())),
    }
}

unsafe extern "C" fn get_cb(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    call(env, info, |inner, ctx, key| {
        let found = inner.with_engine(|e| e.read(|s| s.store.get(ctx, key).cloned()));
        match found {
            None => Err(Fail::Invalid("WalStorageDriver is not initialized".into())),
            Some(Err(e)) => Err(Fail::Invalid(e.to_string())),
            Some(Ok(Some(v))) => inner.cache.get_or_build(env, ctx, key, &v, || super::to_js::to_js(env, v.bytes())),
            Some(Ok(None)) => {
                inner.cache.forget(env, ctx, key);
                js::undefined(env)
            }
        }
    })
}

unsafe extern "C" fn has_cb(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    call(env, info, |inner, ctx, key| match inner.with_engine(|e| e.read(|s| s.store.get(ctx, key).is_some_and(|v| !v.is_undefined()))) {
        None => Err(Fail::Invalid("WalStorageDriver is not initialized".into())),
        Some(Err(e)) => Err(Fail::Invalid(e.to_string())),
        Some(Ok(found)) => js::boolean(env, found),
    })
}

unsafe extern "C" fn release(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
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
        if created == sys::Status::napi_ok {
            // SAFETY: `f` was just created; the finalizer releases `data` when it is collected.
            let finalized = unsafe { sys::napi_add_finalizer(env, f, data, Some(release), ptr::null_mut(), ptr::null_mut()) };
            if finalized == sys::Status::napi_ok {
                // SAFETY: `obj` is the object created above, `name` NUL-terminated.
                check!(unsafe { sys::napi_set_named_property(env, obj, name.as_ptr(), f) });
                continue;
            }
        }
        // SAFETY: the function was not created or has no finalizer, so nothing else will
        // release the count `into_raw` took.
        unsafe { release(env, data, ptr::null_mut()) };
        return Err(Fail::Napi(sys::Status::napi_generic_failure));
    }
    Ok(obj)
}
