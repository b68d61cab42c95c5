//! Getting results back onto the JS thread. One thread-safe function per JS environment
//! runs boxed jobs there; it only keeps the event loop alive while promises are pending.
//! Every write of a group-commit batch is settled by a single job, so a batch of 300
//! commits costs one wake-up of the JS thread, not 300.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;

use napi::sys;

use super::convert::{check, create_string, Res};

type Job = Box<dyn FnOnce(sys::napi_env) + Send>;

/// A thread-safe-function handle that may be used from any thread.
#[derive(Clone, Copy)]
pub struct Dispatcher(sys::napi_threadsafe_function);
unsafe impl Send for Dispatcher {}
unsafe impl Sync for Dispatcher {}

impl Dispatcher {
    /// Runs `job` on the JS thread (soon, in order with other jobs of this dispatcher).
    pub fn run(&self, job: impl FnOnce(sys::napi_env) + Send + 'static) {
        let data: Box<Job> = Box::new(Box::new(job));
        let raw = Box::into_raw(data);
        let status = unsafe { sys::napi_call_threadsafe_function(self.0, raw.cast(), sys::ThreadsafeFunctionCallMode::nonblocking) };
        if status != sys::Status::napi_ok {
            // The environment is shutting down; nobody is left to settle.
            drop(unsafe { Box::from_raw(raw) });
        }
    }
}

thread_local! {
    static DISPATCHER: Cell<sys::napi_threadsafe_function> = const { Cell::new(ptr::null_mut()) };
    static OUTSTANDING: Cell<usize> = const { Cell::new(0) };
}

unsafe extern "C" fn call_js(env: sys::napi_env, _func: sys::napi_value, _ctx: *mut c_void, data: *mut c_void) {
    if data.is_null() {
        return;
    }
    let job = unsafe { Box::from_raw(data as *mut Job) };
    if env.is_null() {
        return; // teardown: drop without running
    }
    job(env);
}

/// The dispatcher of this JS thread, created on first use (unref'd: idle, it never holds
/// the process open).
pub fn dispatcher(env: sys::napi_env) -> Res<Dispatcher> {
    let existing = DISPATCHER.with(|d| d.get());
    if !existing.is_null() {
        return Ok(Dispatcher(existing));
    }
    let name = create_string(env, "matter-wal-native")?;
    let mut tsfn = ptr::null_mut();
    check!(sys::napi_create_threadsafe_function(
        env,
        ptr::null_mut(),
        ptr::null_mut(),
        name,
        0,
        1,
        ptr::null_mut(),
        None,
        ptr::null_mut(),
        Some(call_js),
        &mut tsfn
    ));
    check!(sys::napi_unref_threadsafe_function(env, tsfn));
    DISPATCHER.with(|d| d.set(tsfn));
    Ok(Dispatcher(tsfn))
}

/// Marks one more promise as waiting on another thread (keeps the loop alive). JS thread only.
pub fn hold(env: sys::napi_env) -> Res<Dispatcher> {
    let d = dispatcher(env)?;
    let n = OUTSTANDING.with(|o| {
        let n = o.get() + 1;
        o.set(n);
        n
    });
    if n == 1 {
        check!(sys::napi_ref_threadsafe_function(env, d.0));
    }
    Ok(d)
}

/// Undoes `count` holds. JS thread only.
pub fn release(env: sys::napi_env, count: usize) {
    let n = OUTSTANDING.with(|o| {
        let n = o.get().saturating_sub(count);
        o.set(n);
        n
    });
    if n == 0 {
        let tsfn = DISPATCHER.with(|d| d.get());
        if !tsfn.is_null() {
            unsafe { sys::napi_unref_threadsafe_function(env, tsfn) };
        }
    }
}

/// A promise's resolver, movable to other threads but only usable on the JS thread.
pub struct Deferred(sys::napi_deferred);
unsafe impl Send for Deferred {}

/// Creates a pending promise.
pub fn promise(env: sys::napi_env) -> Res<(Deferred, sys::napi_value)> {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    check!(sys::napi_create_promise(env, &mut deferred, &mut promise));
    Ok((Deferred(deferred), promise))
}

impl Deferred {
    pub fn resolve(self, env: sys::napi_env, value: sys::napi_value) {
        unsafe { sys::napi_resolve_deferred(env, self.0, value) };
    }

    pub fn reject(self, env: sys::napi_env, error: sys::napi_value) {
        unsafe { sys::napi_reject_deferred(env, self.0, error) };
    }
}
