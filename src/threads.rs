//! Threads that handle stored values: values may nest up to
//! [`MAX_DEPTH`](crate::codec::from_json::MAX_DEPTH) levels and the operations on them
//! (encoding, reviving, dropping) recurse, so they get a stack to match; and they report
//! inside the tracing span of whoever started them (the binding routes a driver's log events
//! by it).

/// Stack size of every thread that decodes, encodes or drops stored values (engine, writer,
/// maintenance, snapshot decoding, the binding's blocking pool). Only touched pages are
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
