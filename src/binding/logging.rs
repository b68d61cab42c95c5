//! Forwards the core's `tracing` events to a JavaScript log function (matter.js's `Logger`
//! or `console`, chosen by `lib/api.cjs`). Events are filtered by level on the emitting thread
//! and handed to the JS thread without waiting, so logging never blocks I/O threads.
//!
//! Every JS environment (the main thread, each Worker) that loads the package has its own
//! sink. A driver's work runs inside a span naming its environment's sink (the engine's
//! threads enter the span they were started in), so its events reach the logger of the
//! thread that opened it; a Worker exiting removes only its own sink.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

use napi::bindgen_prelude::*;
use napi::JsString;
use napi_derive::napi;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use super::dispatch::{self, Dispatcher};

/// 0 = off, 1 = error, 2 = warn, 3 = info, 4 = debug, 5 = trace.
static MAX_LEVEL: AtomicU8 = AtomicU8::new(3);

/// `(level, message)`: `FnArgs` spreads its tuple into two arguments.
type SinkArgs = FnArgs<(JsString<'static>, JsString<'static>)>;

struct Sink {
    id: u64,
    dispatcher: Dispatcher,
    /// The JS function `(level, message) => void`; usable on its own JS thread only.
    func: FunctionRef<SinkArgs, Unknown<'static>>,
    /// Which function `func` is (a new number each time a sink function is installed).
    serial: u64,
}

/// Sinks of the live JS environments, oldest first.
static SINKS: Mutex<Vec<Sink>> = Mutex::new(Vec::new());
static NEXT_SINK: AtomicU64 = AtomicU64::new(1);
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

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
pub fn set_log_sink(env: Env, sink_fn: Function<'_, FnArgs<(JsString<'static>, JsString<'static>)>, Unknown<'static>>) -> Result<()> {
    let dispatcher = dispatch::dispatcher(env.raw()).map_err(|_| Error::from_reason("cannot create dispatcher"))?;
    let func = sink_fn.create_ref().map_err(|_| Error::from_reason("cannot keep the log function"))?;
    let serial = NEXT_SERIAL.fetch_add(1, Ordering::Relaxed);
    let existing = THREAD_SINK.with(Cell::get);
    let mut all = sinks();
    let replaced = if let Some(sink) = all.iter_mut().find(|s| s.id == existing && existing != 0) {
        sink.serial = serial;
        Some(std::mem::replace(&mut sink.func, func))
    } else {
        let id = NEXT_SINK.fetch_add(1, Ordering::Relaxed);
        all.push(Sink { id, dispatcher, func, serial });
        THREAD_SINK.with(|t| t.set(id));
        drop(all);
        if env.add_env_cleanup_hook(id, remove_sink).is_err() {
            tracing::debug!("cannot watch the environment's teardown; its log sink stays registered");
        }
        None
    };
    // The old function's reference is released here, on its own JS thread, outside the lock.
    drop(replaced);
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let _ = tracing::subscriber::set_global_default(JsSubscriber);
    });
    Ok(())
}

/// Environment teardown: forget that environment's sink. Its reference is not released
/// (it dies with the environment), so nothing here calls into Node-API while it tears down.
fn remove_sink(id: u64) {
    let mut all = sinks();
    let mut kept = Vec::with_capacity(all.len());
    for sink in all.drain(..) {
        if sink.id == id {
            std::mem::forget(sink.func);
        } else {
            kept.push(sink);
        }
    }
    *all = kept;
}

/// The sink an event on this thread goes to: the innermost entered driver span's, else the
/// thread's own, else the oldest live one; its dispatcher, id and function serial.
fn route() -> Option<(Dispatcher, u64, u64)> {
    let wanted = ENTERED.with(|e| e.borrow().last().copied()).filter(|id| *id != 0).unwrap_or_else(|| THREAD_SINK.with(Cell::get));
    let all = sinks();
    all.iter().find(|s| s.id == wanted).or_else(|| all.first()).map(|s| (s.dispatcher, s.id, s.serial))
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
        let Some((dispatcher, id, serial)) = route() else { return };
        dispatcher.run(move |env| {
            let env = Env::from_raw(env);
            let name = match level {
                1 => "error",
                2 => "warn",
                3 => "info",
                4 => "debug",
                _ => "trace",
            };
            // The sink may have been replaced or removed since the event was routed: use it
            // only if that function is still registered. The handle outlives the lock, which
            // is released before JavaScript runs (the logger may log or replace the sink).
            let func = {
                let all = sinks();
                // The job runs on the dispatcher of the sink's own thread, so the reference
                // belongs to this env.
                match all.iter().find(|s| s.id == id && s.serial == serial) {
                    Some(sink) => sink.func.borrow_back(&env),
                    None => return,
                }
            };
            let Ok(func) = func else { return };
            let (Ok(l), Ok(m)) = (env.create_string(name), env.create_string(&message)) else { return };
            // A throwing logger must not take the process down: `call` clears the exception
            // and returns it as an error, dropped here.
            let _ = func.call(FnArgs::from((l, m)));
        });
    }

    fn enter(&self, span: &Id) {
        ENTERED.with(|e| e.borrow_mut().push(span.into_u64() >> 40));
    }

    fn exit(&self, _span: &Id) {
        ENTERED.with(|e| e.borrow_mut().pop());
    }
}
