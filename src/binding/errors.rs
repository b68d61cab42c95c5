//! Errors thrown to JavaScript. `lib/api.cjs` registers a factory so they are instances of
//! matter.js's `StorageError` classes when `@matter/general` is installed; without it they
//! are `Error`s of the package's own classes of the same names.

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::ptr;

use napi::bindgen_prelude::*;
use napi::sys;
use napi::JsString;
use napi_derive::napi;

use super::js::{check, Fail, Res};

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
    /// The factories `(name, message) => Error` registered on this JS thread, by `Classes`
    /// id. They live as long as the environment: `ManuallyDrop` because a reference may only
    /// be released while its environment is alive, and the thread's locals are dropped after
    /// a Worker's environment is gone (the environment's teardown reclaims them).
    static FACTORIES: RefCell<Vec<ManuallyDrop<FactoryRef>>> = const { RefCell::new(Vec::new()) };
}

/// Two arguments (`FnArgs` spreads its tuple; a bare tuple would be one array argument).
type FactoryArgs = FnArgs<(JsString<'static>, JsString<'static>)>;
type FactoryRef = FunctionRef<FactoryArgs, Unknown<'static>>;

/// Registers `(name, message) => Error` and returns the id drivers pass as `errorClasses`.
#[napi]
pub fn set_error_factory(factory: Function<'_, FnArgs<(JsString<'static>, JsString<'static>)>, Unknown<'static>>) -> Result<u32> {
    let reference = factory.create_ref().map_err(|_| Error::from_reason("cannot keep error factory"))?;
    Ok(FACTORIES.with(|f| {
        let mut all = f.borrow_mut();
        all.push(ManuallyDrop::new(reference));
        (all.len() - 1) as u32
    }))
}

/// Creates the JS error object (a plain `Error` named after the class when no factory is
/// registered under `classes`).
pub fn make(env: sys::napi_env, classes: Classes, kind: Kind, message: &str) -> Res<sys::napi_value> {
    let env = Env::from_raw(env);
    let name = env.create_string(kind.name())?;
    let msg = env.create_string(message)?;
    let factory = FACTORIES.with(|f| f.borrow().get(classes.0 as usize).map(|r| r.borrow_back(&env)));
    if let Some(func) = factory {
        // A factory that throws leaves no exception pending (`call` clears it); the caller
        // falls back to an `Error` with the message alone.
        let out = func.and_then(|func| func.call(FnArgs::from((name, msg))))?;
        return Ok(out.raw());
    }
    plain_error(&env, name, msg)
}

/// `new Error(message)` with `name` and `code` both the class name.
///
/// Raw `napi_create_error`: napi-rs 3's `Env::create_error`/`JsError` set `code` to the
/// `Status` name (e.g. "GenericFailure"); no safe call takes a code of the caller's choosing.
fn plain_error(env: &Env, name: JsString<'_>, msg: JsString<'_>) -> Res<sys::napi_value> {
    let mut err = ptr::null_mut();
    // SAFETY: `name` and `msg` are string handles of this env's current scope; `err` is an
    // out-pointer to a local.
    check!(unsafe { sys::napi_create_error(env.raw(), name.raw(), msg.raw(), &mut err) });
    let mut obj = Object::from_raw(env.raw(), err);
    obj.set_named_property("name", name)?;
    Ok(err)
}

/// Throws a matter.js-style error; returns the napi error that tells napi-rs it is pending.
pub fn throw(env: sys::napi_env, classes: Classes, kind: Kind, message: &str) -> Error {
    match make(env, classes, kind, message) {
        Ok(err) => match Env::from_raw(env).throw(Object::from_raw(env, err)) {
            Ok(()) => Error::from_status(Status::PendingException),
            Err(_) => Error::from_reason(message.to_string()),
        },
        Err(_) => Error::from_reason(message.to_string()),
    }
}

/// Maps a conversion failure to a thrown error.
///
/// Raw `napi_is_exception_pending`: napi-rs 3's `Env` has no call that asks whether an
/// exception is pending without clearing it.
pub fn from_fail(env: sys::napi_env, classes: Classes, fail: Fail) -> Error {
    match fail {
        Fail::Invalid(msg) => throw(env, classes, Kind::Storage, &msg),
        Fail::Napi(status) => {
            let mut pending = false;
            // SAFETY: `env` is the live env of the current call; `pending` outlives the call.
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
