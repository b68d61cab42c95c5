//! Getting results back onto the JS thread. One thread-safe function per JS environment
//! runs boxed jobs there; it only keeps the event loop alive while promises are pending.
//! Every write of a group-commit batch is settled by a single job, so a batch of 300
//! commits costs one wake-up of the JS thread, not 300.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;

use napi::sys;

use super::js::{check, create_string, Res};

type Job = Box<dyn FnOnce(sys::napi_env) + Send>;

/// A thread-safe-function handle that may be used from any thread.
#[derive(Clone, Copy)]
pub struct Dispatcher(sys::napi_threadsafe_function);
// SAFETY: Node-API documents `napi_call_threadsafe_function` as callable from any thread;
// that is the only use of the handle off the JS thread.
unsafe impl Send for Dispatcher {}
// SAFETY: as above (the handle is a plain pointer, never mutated).
unsafe impl Sync for Dispatcher {}

impl Dispatcher {
    /// Runs `job` on the JS thread (soon, in order with other jobs of this dispatcher).
    pub fn run(&self, job: impl FnOnce(sys::napi_env) + Send + 'static) {
        let data: Box<Job> = Box::new(Box::new(job));
        let raw = Box::into_raw(data);
        // SAFETY: the function is alive for the whole life of its environment (never
        // released); `raw` is handed over and comes back in `call_js` exactly once.
        let status = unsafe { sys::napi_call_threadsafe_function(self.0, raw.cast(), sys::ThreadsafeFunctionCallMode::nonblocking) };
        if status != sys::Status::napi_ok {
            // The environment is shutting down; nobody is left to settle.
            // SAFETY: the call failed, so ownership of `raw` never left this function.
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
    // SAFETY: `data` is the `Box<Job>` leaked by `Dispatcher::run` for this call; Node-API
    // passes each queued pointer here exactly once.
    let job = unsafe { Box::from_raw(data as *mut Job) };
    if env.is_null() {
        return; // teardown: drop without running
    }
    // No panic may unwind into Node: a job that panics is dropped (its promise stays
    // pending rather than aborting the process).
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(env)));
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
    // SAFETY: no JS function (calls go to `call_js`), unlimited queue, one thread using it;
    // `name` is a string handle of this scope.
    check!(unsafe {
        sys::napi_create_threadsafe_function(
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
            &mut tsfn,
        )
    });
    // SAFETY: `tsfn` was just created in this env.
    check!(unsafe { sys::napi_unref_threadsafe_function(env, tsfn) });
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
        // SAFETY: this thread's function, created in this env.
        check!(unsafe { sys::napi_ref_threadsafe_function(env, d.0) });
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
            // SAFETY: this thread's function, created in this env.
            unsafe { sys::napi_unref_threadsafe_function(env, tsfn) };
        }
    }
}

/// A promise's resolver, movable to other threads but only usable on the JS thread.
pub struct Deferred(sys::napi_deferred);
// SAFETY: the handle is only moved between threads; it is used (resolved or rejected, which
// frees it) only by jobs that run on the JS thread that created it.
unsafe impl Send for Deferred {}

/// Creates a pending promise.
pub fn promise(env: sys::napi_env) -> Res<(Deferred, sys::napi_value)> {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    // SAFETY: both out-pointers live across the call.
    check!(unsafe { sys::napi_create_promise(env, &mut deferred, &mut promise) });
    Ok((Deferred(deferred), promise))
}

impl Deferred {
    pub fn resolve(self, env: sys::napi_env, value: sys::napi_value) {
        // SAFETY: `self` is consumed, so the deferred is settled (and freed) exactly once,
        // on its JS thread (see the `Send` impl).
        unsafe { sys::napi_resolve_deferred(env, self.0, value) };
    }

    pub fn reject(self, env: sys::napi_env, error: sys::napi_value) {
        // SAFETY: as for `resolve`.
        unsafe { sys::napi_reject_deferred(env, self.0, error) };
    }
}
