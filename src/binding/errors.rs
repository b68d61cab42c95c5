//! Errors thrown to JavaScript. `index.js` registers a factory so they are instances of
//! matter.js's `StorageError` classes when `@matter/general` is installed; without it they
//! are plain `Error`s whose `name` is the matter.js class name.

use std::cell::Cell;
use std::ptr;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use super::convert::{check, create_string, Fail, Res};

/// The matter.js error class an error maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Storage,
    Lock,
    Commit,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Storage => "StorageError",
            Kind::Lock => "StorageLockError",
            Kind::Commit => "StorageCommitError",
        }
    }
}

thread_local! {
    /// Reference to the factory function `(name, message) => Error`, per JS thread.
    static FACTORY: Cell<sys::napi_ref> = const { Cell::new(ptr::null_mut()) };
}

/// Registers `(name, message) => Error`, used for every error this addon raises.
#[napi]
pub fn set_error_factory(env: Env, factory: Function<'_>) -> Result<()> {
    let mut reference = ptr::null_mut();
    let status = unsafe { sys::napi_create_reference(env.raw(), factory.raw(), 1, &mut reference) };
    if status != sys::Status::napi_ok {
        return Err(Error::from_reason("cannot keep error factory"));
    }
    let old = FACTORY.with(|f| f.replace(reference));
    if !old.is_null() {
        unsafe { sys::napi_delete_reference(env.raw(), old) };
    }
    Ok(())
}

/// Creates the JS error object.
pub fn make(env: sys::napi_env, kind: Kind, message: &str) -> Res<sys::napi_value> {
    let name = create_string(env, kind.name())?;
    let msg = create_string(env, message)?;
    let factory = FACTORY.with(|f| f.get());
    if !factory.is_null() {
        let mut func = ptr::null_mut();
        check!(sys::napi_get_reference_value(env, factory, &mut func));
        if !func.is_null() {
            let mut out = ptr::null_mut();
            let mut undefined = ptr::null_mut();
            check!(sys::napi_get_undefined(env, &mut undefined));
            let args = [name, msg];
            check!(sys::napi_call_function(env, undefined, func, 2, args.as_ptr(), &mut out));
            return Ok(out);
        }
    }
    let mut err = ptr::null_mut();
    check!(sys::napi_create_error(env, name, msg, &mut err));
    check!(sys::napi_set_named_property(env, err, c"name".as_ptr(), name));
    Ok(err)
}

/// Throws a matter.js-style error; returns the napi error that tells napi-rs it is pending.
pub fn throw(env: sys::napi_env, kind: Kind, message: &str) -> Error {
    match make(env, kind, message) {
        Ok(err) => {
            unsafe { sys::napi_throw(env, err) };
            Error::from_status(Status::PendingException)
        }
        Err(_) => Error::from_reason(message.to_string()),
    }
}

/// Maps a conversion failure to a thrown error.
pub fn from_fail(env: sys::napi_env, fail: Fail) -> Error {
    match fail {
        Fail::Unsupported(msg) => throw(env, Kind::Storage, &msg),
        Fail::Napi(status) => {
            let mut pending = false;
            unsafe { sys::napi_is_exception_pending(env, &mut pending) };
            if pending {
                Error::from_status(Status::PendingException)
            } else {
                Error::from_reason(format!("Node-API call failed (status {status})"))
            }
        }
    }
}
