//! The tokio runtime napi-rs runs this addon's slow work on (open, close, history, freeing a
//! closed store): one worker thread that only hands work to the blocking pool, and a small
//! blocking pool whose threads have `threads::ENGINE_THREAD_STACK` of stack.
//!
//! The stack is the point. The work decodes, encodes and drops values nested up to
//! `MAX_DEPTH` levels, recursively; libuv's pool (napi-rs's `AsyncTask`) has 8 MiB stacks
//! and tokio's default threads 2 MiB, neither enough. Tokio gives blocking-pool threads the
//! runtime's `thread_stack_size` (its blocking pool builds every thread, workers included,
//! with the builder's stack size and start hook), so the runtime is built here and handed to
//! napi-rs before napi-rs builds its own.
//!
//! napi-rs takes a custom runtime once per process: when the last Node.js environment using
//! the addon goes away it shuts that runtime down, and a later environment (a new worker
//! thread, say) gets napi-rs's default runtime, with small stacks. So the work does not trust
//! the thread it lands on: [`on_engine_stack`] runs it in place only on a thread of the
//! runtime built here, and otherwise on a thread of its own with the big stack (what every
//! task did before this runtime existed).

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use napi_derive::napi;

/// Blocking-pool threads at most: open, close and history of several stores at once, and
/// freeing closed ones. Idle threads exit after tokio's keep-alive (10 s).
const MAX_BLOCKING_THREADS: usize = 8;

thread_local! {
    /// Set on every thread of the runtime built here (all have the big stack).
    static ENGINE_STACK: Cell<bool> = const { Cell::new(false) };
}

/// Runs when Node.js registers the addon in an environment, before napi-rs starts its
/// runtime; builds and hands over the runtime the first time.
#[napi(module_exports)]
pub fn register_runtime() {
    install();
}

fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // Nothing may unwind into Node's module registration: a runtime that cannot be built
        // (no thread can start) leaves napi-rs to build its own, and the work to
        // `on_engine_stack`'s own threads.
        let built = catch_unwind(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .max_blocking_threads(MAX_BLOCKING_THREADS)
                .thread_name("wal-task")
                .thread_stack_size(crate::threads::ENGINE_THREAD_STACK)
                .on_thread_start(|| ENGINE_STACK.with(|s| s.set(true)))
                .build()
        });
        match built {
            Ok(Ok(rt)) => {
                let _ = catch_unwind(AssertUnwindSafe(|| napi::bindgen_prelude::create_custom_tokio_runtime(rt)));
            }
            Ok(Err(e)) => tracing::warn!("Cannot start the task runtime ({e}); slow work runs on threads of its own"),
            Err(_) => tracing::warn!("Cannot start the task runtime; slow work runs on threads of its own"),
        }
    });
}

/// Runs `f` with `ENGINE_THREAD_STACK` of stack: here when this is a thread of the runtime
/// built above, otherwise on a new thread it waits for (napi-rs's default runtime, whose
/// threads are too small). `f` must not panic (callers catch first).
pub(super) fn on_engine_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> crate::Result<T> {
    if ENGINE_STACK.with(|s| s.get()) {
        return Ok(f());
    }
    crate::threads::spawn_engine_thread("wal-task", f)?.join().map_err(|_| crate::Error::Thread("A wal-task thread panicked".into()))
}

/// Drops `value` on the runtime's blocking pool (freeing a large store takes a while; not on
/// the JS thread). With no runtime to take it, it is dropped here.
pub(super) fn drop_later<T: Send + 'static>(value: T) {
    let span = tracing::Span::current();
    // napi-rs's helper panics when its runtime is gone (only between environments): the
    // closure, and with it `value`, has then been dropped here already.
    let _ = catch_unwind(AssertUnwindSafe(move || {
        napi::bindgen_prelude::spawn_blocking(move || span.in_scope(|| on_engine_stack(move || drop(value))))
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_off_the_runtime_gets_a_thread_with_the_big_stack() {
        // A test thread is no runtime thread: the work moves to a thread of its own.
        let here = std::thread::current().id();
        let (there, name) = on_engine_stack(|| (std::thread::current().id(), std::thread::current().name().map(String::from))).unwrap();
        assert_ne!(here, there);
        assert_eq!(name.as_deref(), Some("wal-task"));
        // On a thread marked as the runtime's, it runs in place.
        let marked = std::thread::spawn(move || {
            ENGINE_STACK.with(|s| s.set(true));
            let me = std::thread::current().id();
            (me, on_engine_stack(|| std::thread::current().id()).unwrap())
        });
        let (me, ran_on) = marked.join().unwrap();
        assert_eq!(me, ran_on);
    }
}
