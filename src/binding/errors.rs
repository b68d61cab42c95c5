//! Errors thrown to JavaScript. `lib/api.cjs` registers a factory so they are instances of
//! matter.js's `StorageError` classes when `@matter/general` is installed; without it they
//! are `Error`s of the package's own classes of the same names.

use std::cell::RefCell;
use std::ptr;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use super::js::{self, check, Fail, Res};

/// The matter.js error class an error maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Storage,
    Lock,
    Commit,
}

/// The class a core error is thrown as: a lock held by someone else is matter.js's
/// `StorageLockError`, a transaction used after its end a `StorageCommitError`, everything
/// else a `StorageError`.
pub fn kind_of(e: &crate::Error) -> Kind {
    match e.root() {
        crate::Error::Locked(_) => Kind::Lock,
        crate::Error::TransactionEnded(_) => Kind::Commit,
        _ => Kind::Storage,
    }
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

/// Which error classes a driver's errors are made of: the package can be loaded as CommonJS
/// and as an ES module in one process, each bound to its own build of `@matter/general`, and
/// an app's errors must be instances of the classes of the build it loaded. Each build
/// registers its factory and hands the id to the drivers it creates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Classes(pub u32);

thread_local! {
    /// References to the factories `(name, message) => Error` registered on this JS thread,
    /// by `Classes` id. They live as long as the environment.
    static FACTORIES: RefCell<Vec<sys::napi_ref>> = const { RefCell::new(Vec::new()) };
}

/// Registers `(name, message) => Error` and returns the id drivers pass as `errorClasses`.
#[napi]
pub fn set_error_factory(env: Env, factory: Function<'_>) -> Result<u32> {
    let mut reference = ptr::null_mut();
    // SAFETY: `factory` is a function handle of this call; one strong reference, kept for
    // the life of the environment.
    let status = unsafe { sys::napi_create_reference(env.raw(), factory.raw(), 1, &mut reference) };
    if status != sys::Status::napi_ok {
        return Err(Error::from_reason("cannot keep error factory"));
    }
    Ok(FACTORIES.with(|f| {
        let mut all = f.borrow_mut();
        all.push(reference);
        (all.len() - 1) as u32
    }))
}

/// Creates the JS error object (a plain `Error` named after the class when no factory is
/// registered under `classes`).
pub fn make(env: sys::napi_env, classes: Classes, kind: Kind, message: &str) -> Res<sys::napi_value> {
    let name = js::create_string(env, kind.name())?;
    let msg = js::create_string(env, message)?;
    let factory = FACTORIES.with(|f| f.borrow().get(classes.0 as usize).copied()).unwrap_or(ptr::null_mut());
    if !factory.is_null() {
        let mut func = ptr::null_mut();
        // SAFETY: the factory reference was made on this thread for its env (thread-local).
        check!(unsafe { sys::napi_get_reference_value(env, factory, &mut func) });
        if !func.is_null() {
            let mut out = ptr::null_mut();
            let undefined = js::undefined(env)?;
            let args = [name, msg];
            // SAFETY: `func` is a function handle; `args` holds 2 handles for the call.
            check!(unsafe { sys::napi_call_function(env, undefined, func, 2, args.as_ptr(), &mut out) });
            return Ok(out);
        }
    }
    let mut err = ptr::null_mut();
    // SAFETY: `name` and `msg` are string handles of this scope.
    check!(unsafe { sys::napi_create_error(env, name, msg, &mut err) });
    // SAFETY: `err` was just created; the property name is NUL-terminated.
    check!(unsafe { sys::napi_set_named_property(env, err, c"name".as_ptr(), name) });
    Ok(err)
}

/// Throws a matter.js-style error; returns the napi error that tells napi-rs it is pending.
pub fn throw(env: sys::napi_env, classes: Classes, kind: Kind, message: &str) -> Error {
    match make(env, classes, kind, message) {
        Ok(err) => {
            // SAFETY: `err` is an error object of this env.
            unsafe { sys::napi_throw(env, err) };
            Error::from_status(Status::PendingException)
        }
        Err(_) => Error::from_reason(message.to_string()),
    }
}

/// Maps a conversion failure to a thrown error.
pub fn from_fail(env: sys::napi_env, classes: Classes, fail: Fail) -> Error {
    match fail {
        Fail::Invalid(msg) => throw(env, classes, Kind::Storage, &msg),
        Fail::Napi(status) => {
            let mut pending = false;
            // SAFETY: queries this env's exception state.
            unsafe { sys::napi_is_exception_pending(env, &mut pending) };
            if pending {
                Error::from_status(Status::PendingException)
            } else {
                Error::from_reason(format!("Node-API call failed (status {status})"))
            }
        }
    }
}

/// A matter.js-style error as the napi-rs error a promise rejects with (napi-rs hands the
/// object itself to JavaScript). With no error object to be had (the environment is going
/// away), an `Error` with the message alone.
pub fn rejection(env: sys::napi_env, classes: Classes, kind: Kind, message: &str) -> Error {
    match make(env, classes, kind, message) {
        // SAFETY: `err` is a live value of `env`, made just now in the current handle scope.
        Ok(err) => Error::from_unknown_without_coercion(unsafe { Unknown::from_raw_unchecked(env, err) }),
        Err(_) => Error::from_reason(message.to_string()),
    }
}
