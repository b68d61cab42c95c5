//! matter-wal-native: matter.js's write-ahead-log storage driver, in Rust.
//!
//! Everything except `binding` is plain Rust with no Node.js dependency and is tested with
//! `cargo test`; `binding` maps it onto the JavaScript class.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod cleaner;
pub mod commit;
pub mod compress;
pub mod driver;
pub mod encoded;
pub mod fsutil;
pub mod inspect;
pub mod jsstr;
pub mod json_read;
pub mod json_write;
pub mod lock;
pub mod reader;
pub mod snapshot;
pub mod store;
pub mod value;
pub mod writer;

#[cfg(test)]
mod test_values;

pub(crate) mod binding;

/// Stack size of every thread that decodes, encodes or drops stored values (engine, writer,
/// maintenance, snapshot decoding, the binding's blocking pool): values may nest up to
/// [`json_read::MAX_DEPTH`] levels and those operations recurse. Only touched pages are
/// committed, so this is address space, not memory.
pub const ENGINE_THREAD_STACK: usize = 32 << 20;

/// Runs `f` on a new thread with [`ENGINE_THREAD_STACK`], inside the caller's tracing span.
pub(crate) fn spawn_engine_thread<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    let span = tracing::Span::current();
    std::thread::Builder::new().name(name.into()).stack_size(ENGINE_THREAD_STACK).spawn(move || span.in_scope(f))
}

/// [`spawn_engine_thread`] within a thread scope.
pub(crate) fn spawn_scoped<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .stack_size(ENGINE_THREAD_STACK)
        .spawn_scoped(scope, move || span.in_scope(f))
        .expect("cannot start a decoder thread")
}
