//! Threads that handle stored values: values may nest up to
//! [`MAX_DEPTH`](crate::codec::from_json::MAX_DEPTH) levels and the operations on them
//! (encoding, reviving, dropping) recurse, so they get a stack to match; and they report
//! inside the tracing span of whoever started them (the binding routes a driver's log events
//! by it).

use crate::error::{Error, Result};

/// Stack size of every thread that decodes, encodes or drops stored values (engine, writer,
/// maintenance, snapshot decoding, the binding's blocking pool). Only touched pages are
/// committed, so this is address space, not memory.
pub const ENGINE_THREAD_STACK: usize = 32 << 20;

/// Runs `f` on a new thread with [`ENGINE_THREAD_STACK`], inside the caller's tracing span.
pub(crate) fn spawn_engine_thread<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<std::thread::JoinHandle<T>> {
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name(name.into())
        .stack_size(ENGINE_THREAD_STACK)
        .spawn(move || span.in_scope(f))
        .map_err(|e| Error::Thread(format!("Cannot start the {name} thread: {e}")))
}

/// `f` over `items` split into one chunk per core, the chunks' results in order. Runs on the
/// calling thread when `parallel` is false, there is one core, or a thread cannot be
/// started. A thread that panicked (a bug) makes the whole call an error.
pub(crate) fn parallel_chunks<T: Sync, R: Send>(items: &[T], parallel: bool, f: impl Fn(&[T]) -> R + Sync) -> Result<Vec<R>> {
    let threads = parallelism();
    if !parallel || threads < 2 || items.len() < 2 {
        return Ok(vec![f(items)]);
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let span = tracing::Span::current();
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| {
                let span = span.clone();
                let started =
                    std::thread::Builder::new().stack_size(ENGINE_THREAD_STACK).spawn_scoped(scope, move || span.in_scope(|| f(c)));
                started.map_err(|_| c)
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(handle) => handle.join().map_err(|_| Error::Thread("A decoder thread panicked".into())),
                Err(c) => Ok(f(c)),
            })
            .collect()
    })
}

/// How many chunks [`parallel_chunks`] splits work into: one per core, at most [`MAX_THREADS`].
/// Read once: on Linux the answer comes from several files (affinity, cgroup quotas).
pub(crate) fn parallelism() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(MAX_THREADS))
}

/// At most this many threads work on one read (more rarely pays: the work is memory-bound).
const MAX_THREADS: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_their_order_and_cover_every_item() {
        let items: Vec<u32> = (0..1000).collect();
        for parallel in [false, true] {
            let parts = parallel_chunks(&items, parallel, |c| c.to_vec());
            let joined: Vec<u32> = parts.unwrap().into_iter().flatten().collect();
            assert_eq!(joined, items);
        }
        assert_eq!(parallel_chunks::<u32, usize>(&[], true, |c| c.len()).unwrap(), vec![0]);
        let panicked = parallel_chunks(&items, true, |c| assert!(!c.contains(&999)));
        assert!(std::thread::available_parallelism().map_or(true, |n| n.get() < 2) || panicked.is_err());
    }
}
