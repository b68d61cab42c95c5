//! Forwards the core's `tracing` events to a JavaScript log function (matter.js's `Logger`
//! or `console`, chosen by `index.js`). Events are filtered by level on the emitting thread
//! and handed to the JS thread without waiting, so logging never blocks I/O threads.

use std::fmt::Write as _;
use std::ptr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use super::convert::create_string;
use super::dispatch::{self, Dispatcher};

/// 0 = off, 1 = error, 2 = warn, 3 = info, 4 = debug, 5 = trace.
static MAX_LEVEL: AtomicU8 = AtomicU8::new(3);

struct Sink {
    dispatcher: Dispatcher,
    /// `napi_ref` of the JS function `(level, message) => void`, valid on the JS thread.
    func: usize,
}

fn sink() -> &'static Mutex<Option<Sink>> {
    static SINK: OnceLock<Mutex<Option<Sink>>> = OnceLock::new();
    SINK.get_or_init(Default::default)
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

/// Installs the JS log function `(level, message) => void` that receives the core's events.
#[napi]
pub fn set_log_sink(env: Env, sink_fn: Function<'_>) -> Result<()> {
    let dispatcher = dispatch::dispatcher(env.raw()).map_err(|_| Error::from_reason("cannot create dispatcher"))?;
    let mut reference = ptr::null_mut();
    unsafe { sys::napi_create_reference(env.raw(), sink_fn.raw(), 1, &mut reference) };
    *sink().lock().unwrap() = Some(Sink { dispatcher, func: reference as usize });
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let _ = tracing::subscriber::set_global_default(JsSubscriber);
    });
    Ok(())
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

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Id::from_u64(NEXT.fetch_add(1, Ordering::Relaxed))
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
        let guard = sink().lock().unwrap();
        let Some(s) = guard.as_ref() else { return };
        let func = s.func;
        s.dispatcher.run(move |env| {
            let name = match level {
                1 => "error",
                2 => "warn",
                3 => "info",
                4 => "debug",
                _ => "trace",
            };
            let mut f = ptr::null_mut();
            unsafe { sys::napi_get_reference_value(env, func as sys::napi_ref, &mut f) };
            if f.is_null() {
                return;
            }
            let (Ok(l), Ok(m)) = (create_string(env, name), create_string(env, &message)) else { return };
            let mut undefined = ptr::null_mut();
            let mut out = ptr::null_mut();
            unsafe {
                sys::napi_get_undefined(env, &mut undefined);
                let args = [l, m];
                if sys::napi_call_function(env, undefined, f, 2, args.as_ptr(), &mut out) != sys::Status::napi_ok {
                    // A throwing logger must not take the process down.
                    let mut ex = ptr::null_mut();
                    sys::napi_get_and_clear_last_exception(env, &mut ex);
                }
            }
        });
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}
