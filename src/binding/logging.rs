//! Forwards the core's `tracing` events to a JavaScript log function (matter.js's `Logger`
//! or `console`, chosen by `lib/api.cjs`). Events are filtered by level on the emitting thread
//! and handed to the JS thread without waiting, so logging never blocks I/O threads.
//!
//! Every JS environment (the main thread, each Worker) that loads the package has its own
//! sink. A driver's work runs inside a span naming its environment's sink (the engine's
//! threads enter the span they were started in), so its events reach the logger of the
//! thread that opened it; a Worker exiting removes only its own sink.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::fmt::Write as _;
use std::ptr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use super::dispatch::{self, Dispatcher};
use super::js::create_string;

/// 0 = off, 1 = error, 2 = warn, 3 = info, 4 = debug, 5 = trace.
static MAX_LEVEL: AtomicU8 = AtomicU8::new(3);

struct Sink {
    id: u64,
    dispatcher: Dispatcher,
    /// `napi_ref` of the JS function `(level, message) => void`, valid on its JS thread.
    func: usize,
}

/// Sinks of the live JS environments, oldest first.
static SINKS: Mutex<Vec<Sink>> = Mutex::new(Vec::new());
static NEXT_SINK: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The sink of the JS environment running on this thread (0: none).
    static THREAD_SINK: Cell<u64> = const { Cell::new(0) };
    /// Sinks of the spans entered on this thread, innermost last.
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn sinks() -> std::sync::MutexGuard<'static, Vec<Sink>> {
    SINKS.lock().unwrap_or_else(|e| e.into_inner())
}

fn rank(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

fn parse_level(name: &str) -> Option<u8> {
    Some(match name.to_ascii_lowercase().as_str() {
        "off" | "none" => 0,
        "error" | "fatal" => 1,
        "warn" | "warning" => 2,
        "info" | "notice" => 3,
        "debug" => 4,
        "trace" => 5,
        _ => return None,
    })
}

/// Sets the most verbose level forwarded to JavaScript ("error", "warn", "info", "debug", "trace", "off").
#[napi]
pub fn set_log_level(level: String) -> Result<()> {
    let n = parse_level(&level).ok_or_else(|| Error::from_reason(format!("Unknown log level {level}")))?;
    MAX_LEVEL.store(n, Ordering::Relaxed);
    Ok(())
}

/// A span for a driver's work: events inside it (on any thread) go to this thread's sink.
pub fn driver_span() -> tracing::Span {
    tracing::info_span!("matter-wal", sink = THREAD_SINK.with(Cell::get))
}

/// Installs this JS environment's log function `(level, message) => void`.
#[napi]
pub fn set_log_sink(env: Env, sink_fn: Function<'_>) -> Result<()> {
    let raw = env.raw();
    let dispatcher = dispatch::dispatcher(raw).map_err(|_| Error::from_reason("cannot create dispatcher"))?;
    let mut reference = ptr::null_mut();
    // SAFETY: `sink_fn` is a function handle of this call; one strong reference.
    let status = unsafe { sys::napi_create_reference(raw, sink_fn.raw(), 1, &mut reference) };
    if status != sys::Status::napi_ok {
        return Err(Error::from_reason("cannot keep the log function"));
    }
    let existing = THREAD_SINK.with(Cell::get);
    let mut all = sinks();
    if let Some(sink) = all.iter_mut().find(|s| s.id == existing && existing != 0) {
        // SAFETY: the old reference was made on this thread for this env (same sink id).
        unsafe { sys::napi_delete_reference(raw, sink.func as sys::napi_ref) };
        sink.func = reference as usize;
    } else {
        let id = NEXT_SINK.fetch_add(1, Ordering::Relaxed);
        all.push(Sink { id, dispatcher, func: reference as usize });
        THREAD_SINK.with(|t| t.set(id));
        // SAFETY: the hook and its argument (the sink id as a pointer-sized integer) stay
        // valid until the environment tears down, when the hook removes this sink.
        let hooked = unsafe { sys::napi_add_env_cleanup_hook(raw, Some(remove_sink), id as usize as *mut c_void) };
        if hooked != sys::Status::napi_ok {
            tracing::debug!("cannot watch the environment's teardown; its log sink stays registered");
        }
    }
    drop(all);
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let _ = tracing::subscriber::set_global_default(JsSubscriber);
    });
    Ok(())
}

/// Environment teardown: forget that environment's sink (its references die with it).
unsafe extern "C" fn remove_sink(arg: *mut c_void) {
    let id = arg as usize as u64;
    sinks().retain(|s| s.id != id);
}

/// The sink an event on this thread goes to: the innermost entered driver span's, else the
/// thread's own, else the oldest live one.
fn route() -> Option<(Dispatcher, usize)> {
    let wanted = ENTERED.with(|e| e.borrow().last().copied()).filter(|id| *id != 0).unwrap_or_else(|| THREAD_SINK.with(Cell::get));
    let all = sinks();
    all.iter().find(|s| s.id == wanted).or_else(|| all.first()).map(|s| (s.dispatcher, s.func))
}

/// Reads the `sink` field of a driver span.
struct SinkField(u64);

impl Visit for SinkField {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "sink" {
            self.0 = value;
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

struct JsSubscriber;

/// Formats an event's message and fields into one line.
pub(crate) struct MessageVisitor(pub String);

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl Subscriber for JsSubscriber {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        rank(metadata.level()) <= MAX_LEVEL.load(Ordering::Relaxed)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        // The span id carries its sink (high 24 bits) next to a counter (low 40 bits).
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let mut sink = SinkField(0);
        span.record(&mut sink);
        let n = NEXT.fetch_add(1, Ordering::Relaxed) & ((1 << 40) - 1);
        Id::from_u64(((sink.0 & 0xff_ffff) << 40) | n.max(1))
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let level = rank(event.metadata().level());
        if level > MAX_LEVEL.load(Ordering::Relaxed) {
            return;
        }
        let mut visitor = MessageVisitor(String::new());
        event.record(&mut visitor);
        let message = visitor.0;
        let Some((dispatcher, func)) = route() else { return };
        dispatcher.run(move |env| {
            let name = match level {
                1 => "error",
                2 => "warn",
                3 => "info",
                4 => "debug",
                _ => "trace",
            };
            // The sink may have been replaced since the event was routed: use it only if it
            // is still registered.
            if !sinks().iter().any(|s| s.func == func) {
                return;
            }
            let mut f = ptr::null_mut();
            // SAFETY: the reference is registered, so it was made in this env (the job runs
            // on the dispatcher of the sink's own thread) and is not deleted yet.
            unsafe { sys::napi_get_reference_value(env, func as sys::napi_ref, &mut f) };
            if f.is_null() {
                return;
            }
            let (Ok(l), Ok(m)) = (create_string(env, name), create_string(env, &message)) else { return };
            let Ok(undefined) = super::js::undefined(env) else { return };
            let mut out = ptr::null_mut();
            let args = [l, m];
            // SAFETY: `f` is a function handle, `args` two string handles of this scope.
            let called = unsafe { sys::napi_call_function(env, undefined, f, 2, args.as_ptr(), &mut out) };
            if called != sys::Status::napi_ok {
                // A throwing logger must not take the process down.
                let mut ex = ptr::null_mut();
                // SAFETY: clears the pending exception of this env.
                unsafe { sys::napi_get_and_clear_last_exception(env, &mut ex) };
            }
        });
    }

    fn enter(&self, span: &Id) {
        ENTERED.with(|e| e.borrow_mut().push(span.into_u64() >> 40));
    }

    fn exit(&self, _span: &Id) {
        ENTERED.with(|e| e.borrow_mut().pop());
    }
}
