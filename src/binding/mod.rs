//! The Node.js binding: maps the engine onto the native classes that `lib/api.cjs` wraps.
//! Reads answer synchronously from the in-memory store; writes return promises settled
//! by the group-commit writer; slow work (open, close, history) runs on a blocking pool.
//!
//! `lib/api.cjs` does what JavaScript does best and keeps the rest here: it validates and joins
//! context arrays, and encodes values with `JSON.stringify` and matter.js's `toJson`
//! replacer (so every value is written exactly as matter.js writes it); this side reads
//! strings exactly (lone surrogates included), stores values as `fromJson` will read them
//! back, and builds JS values from stored bytes.

mod cache;
mod cli;
mod dispatch;
mod errors;
mod fast;
mod js;
mod logging;
mod runtime;
mod to_js;

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use crate::codec::jsstr::{JsStr, JsString};
use crate::codec::stored::Encoded;
use crate::engine::{BatchResult, Engine, Notify, Options, Submitted};
use crate::error::Error as CoreError;
use crate::lock::DirLock;
use crate::log::commit::{upd_from_json, CommitId, Op};
use crate::store::{valid_context_key, StoreData};
use crate::transaction::Transaction;
use dispatch::{Deferred, Dispatcher};
use errors::{Classes, Kind};
use js::{Fail, JsText, Res};

/// A raw JS value handed back to napi-rs unchanged.
pub struct Raw(sys::napi_value);

impl ToNapiValue for Raw {
    unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        Ok(val.0)
    }
}

impl TypeName for Raw {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

/// JSON text produced by `lib/values.cjs` (well-formed, so UTF-8 is exact), read with
/// napi-rs's own string reader: against a raw reader that took strings up to 1 KiB in one
/// call, `set()` of attribute-sized values and of a 5 kB one measured the same (2026-12-08,
/// `scripts/measure-safe-types.mjs`, 61 rounds, both orders, twice: −2.5 % to +4 % either way
/// with no consistent direction, on a ~6.5 µs call).
pub struct JsonText(String);

impl TypeName for JsonText {
    fn type_name() -> &'static str {
        "string"
    }
    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ValidateNapiValue for JsonText {}

impl FromNapiValue for JsonText {
    unsafe fn from_napi_value(env: sys::napi_env, v: sys::napi_value) -> Result<Self> {
        // SAFETY: napi-rs's own reader, given the env and value napi-rs handed this impl.
        unsafe { String::from_napi_value(env, v) }.map(JsonText)
    }
}

/// Lifecycle of a driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed,
    Opening,
    Open,
    Closing,
}

/// State shared by a driver and its transactions.
pub(crate) struct Inner {
    dir: PathBuf,
    options: Options,
    take_lock: bool,
    /// The error classes of the build of the package that created this driver.
    classes: Classes,
    phase: Mutex<Phase>,
    engine: RwLock<Option<Arc<Engine>>>,
    /// This driver's own `matter.lock` (when it locks natively), released by its `close()`.
    lock: Mutex<Option<DirLock>>,
    /// Resolvers of queued writes, oldest first; only touched on the JS thread.
    pending: Arc<Mutex<VecDeque<Deferred>>>,
    /// JS values handed out by `get`/`values`, reused while unchanged. JS thread only.
    pub(crate) cache: cache::JsCache,
}

/// Locks a mutex, recovering the data of a poisoned one: the state guarded here stays
/// consistent across a panic (every critical section is a plain read or assignment).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn throw(&self, env: &Env, kind: Kind, msg: &str) -> Error {
        errors::throw(env.raw(), self.classes, kind, msg)
    }

    fn fail(&self, env: &Env, f: Fail) -> Error {
        errors::from_fail(env.raw(), self.classes, f)
    }

    /// Throws a core error as the matter.js error class it maps to.
    fn throw_core(&self, env: &Env, e: CoreError) -> Error {
        self.throw(env, errors::kind_of(&e), &e.to_string())
    }

    fn phase(&self) -> Phase {
        *lock(&self.phase)
    }

    fn set_phase(&self, p: Phase) {
        *lock(&self.phase) = p;
    }

    /// Runs `f` on the open engine, if any (a brief read lock, no reference count touched).
    fn with_engine<R>(&self, f: impl FnOnce(&Engine) -> R) -> Option<R> {
        self.engine.read().unwrap_or_else(|e| e.into_inner()).as_deref().map(f)
    }

    /// The open engine, if any.
    fn engine_now(&self) -> Option<Arc<Engine>> {
        self.engine.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn engine(&self, env: &Env) -> Result<Arc<Engine>> {
        self.engine_now().ok_or_else(|| self.throw(env, Kind::Storage, "WalStorageDriver is not initialized"))
    }

    fn value(&self, env: &Env, ctx: &JsStr, key: &JsStr, value: &Encoded) -> Result<sys::napi_value> {
        let raw = env.raw();
        self.cache.get_or_build(raw, ctx, key, value, || to_js::to_js(raw, value.bytes())).map_err(|f| self.fail(env, f))
    }

    /// Queues one commit of `ops` and returns the promise the writer settles.
    fn submit(&self, env: &Env, ops: Vec<Op>) -> Result<Raw> {
        self.cache.forget_ops(env.raw(), &ops);
        self.submit_with(env, move |engine| engine.submit(ops))
    }

    /// Queues the commit `submit` hands the engine and returns the promise the writer settles.
    fn submit_with(&self, env: &Env, submit: impl FnOnce(&Engine) -> std::result::Result<Submitted, CoreError>) -> Result<Raw> {
        match self.phase() {
            Phase::Open => {}
            Phase::Closing => return Err(self.throw(env, Kind::Storage, "WalStorageDriver is closing")),
            _ => return Err(self.throw(env, Kind::Storage, "WalStorageDriver is not initialized")),
        }
        let engine = self.engine(env)?;
        let raw = env.raw();
        let (deferred, promise) = dispatch::promise(raw).map_err(|f| self.fail(env, f))?;
        // Registered before submitting: the writer may settle it any moment after.
        lock(&self.pending).push_back(deferred);
        let outcome = submit(&engine);
        if let Ok(Submitted::Queued) = outcome {
            dispatch::hold(raw).map_err(|f| self.fail(env, f))?;
            return Ok(Raw(promise));
        }
        let Some(deferred) = lock(&self.pending).pop_back() else {
            return Err(self.throw(env, Kind::Storage, "WalStorageDriver lost a pending write (a bug; please report it)"));
        };
        match outcome {
            Ok(Submitted::Done(Ok(()))) => {
                let undefined = js::undefined(raw).map_err(|f| self.fail(env, f))?;
                deferred.resolve(raw, undefined);
            }
            Ok(Submitted::Done(Err(e))) | Err(e) => {
                let err = errors::make(raw, self.classes, errors::kind_of(&e), &e.to_string()).map_err(|f| self.fail(env, f))?;
                deferred.reject(raw, err);
            }
            Ok(Submitted::Queued) => {}
        }
        Ok(Raw(promise))
    }
}

/// What slow work gives: its result, or the matter.js error class and message to reject with.
type Outcome<T> = std::result::Result<T, (Kind, String)>;

/// The rejection of work that panicked (a bug), instead of a crash.
const INTERNAL_ERROR: &str = "Internal error in matter-wal-native (a bug; please report it)";

/// Runs `work` on the blocking pool of napi-rs's tokio runtime and settles the promise it
/// returns with `finish` on the JS thread.
///
/// The runtime is the one `runtime.rs` hands napi-rs: its threads have
/// `threads::ENGINE_THREAD_STACK` of stack, which the work needs (opening, closing,
/// rebuilding history, and dropping what it loaded decode, encode and drop values nested up
/// to `MAX_DEPTH` deep; libuv's pool threads, napi-rs's `AsyncTask`, have 8 MiB). Should the
/// work land on a thread with a smaller stack, it moves to a thread of its own. Rejections
/// are matter.js's error classes; a panic in `work` or `finish` rejects with a
/// `StorageError` rather than crossing into Node.
fn run_async<T: Send + 'static>(
    env: &Env,
    classes: Classes,
    work: impl FnOnce() -> Outcome<T> + Send + 'static,
    finish: impl FnOnce(sys::napi_env, Outcome<T>) -> Outcome<sys::napi_value> + Send + 'static,
) -> Result<Raw> {
    let span = tracing::Span::current();
    let task = async move {
        let blocking = tokio::task::spawn_blocking(move || {
            span.in_scope(|| runtime::on_engine_stack(move || guarded(work)).unwrap_or_else(|e| Err(core_err(e))))
        });
        // The work catches its own panics: a join error is the runtime shutting down.
        let outcome = blocking.await.unwrap_or_else(|_| Err((Kind::Storage, "Cancelled: matter-wal-native's runtime stopped".into())));
        Ok::<_, Error>(outcome)
    };
    let settle = move |env: &Env, outcome: Outcome<T>| {
        let raw = env.raw();
        match catch_unwind(AssertUnwindSafe(|| finish(raw, outcome))) {
            Ok(Ok(value)) => Ok(Raw(value)),
            Ok(Err((kind, msg))) => Err(errors::rejection(raw, classes, kind, &msg)),
            Err(_) => Err(errors::rejection(raw, classes, Kind::Storage, INTERNAL_ERROR)),
        }
    };
    // napi-rs panics when it has no runtime (only between environments): a thrown error.
    match catch_unwind(AssertUnwindSafe(|| env.spawn_future_with_callback(task, settle).map(|p| p.raw()))) {
        Ok(Ok(promise)) => Ok(Raw(promise)),
        Ok(Err(e)) => Err(errors::throw(env.raw(), classes, Kind::Storage, &format!("Cannot start the operation: {e}"))),
        Err(_) => Err(errors::throw(env.raw(), classes, Kind::Storage, "Cannot start the operation: no runtime")),
    }
}

/// `work`'s outcome, a panic (a bug) turned into a `StorageError`.
fn guarded<T>(work: impl FnOnce() -> Outcome<T>) -> Outcome<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| Err((Kind::Storage, INTERNAL_ERROR.into())))
}

/// `finish` for work whose result needs no conversion beyond `to_js`.
fn settle<T>(
    to_js: impl FnOnce(sys::napi_env, T) -> Res<sys::napi_value>,
) -> impl FnOnce(sys::napi_env, Outcome<T>) -> Outcome<sys::napi_value> {
    move |env, result| match result {
        Ok(v) => to_js(env, v).map_err(|f| match f {
            Fail::Invalid(m) => (Kind::Storage, m),
            Fail::Napi(s) => (Kind::Storage, format!("Cannot convert the result (Node-API status {s})")),
        }),
        Err(e) => Err(e),
    }
}

/// A core error as the matter.js error class and message it is thrown as.
fn core_err(e: CoreError) -> (Kind, String) {
    (errors::kind_of(&e), e.to_string())
}

/// A context key from `lib/api.cjs` (already validated and joined there; checked again).
fn context_key(inner: &Inner, env: &Env, key: JsText) -> Result<JsString> {
    if !valid_context_key(&key.0) {
        return Err(inner.throw(env, Kind::Storage, "Context must not contain empty segments or leading or trailing dots."));
    }
    Ok(key.0)
}

/// The op of `set(contexts, …)`: `json` is `{"values":<record>}` as `lib/api.cjs` encoded it.
const NOT_A_RECORD: &str = "set() needs a string key or a record of values";

/// The record of `{"values":<record>}` (an object), in place.
fn values_record(mut json: String) -> Option<String> {
    const PREFIX: &str = "{\"values\":";
    if !(json.starts_with(PREFIX) && json.ends_with('}') && json[PREFIX.len()..].starts_with('{')) {
        return None;
    }
    json.truncate(json.len() - 1);
    json.drain(..PREFIX.len());
    Some(json)
}

fn upd_op(inner: &Inner, env: &Env, ctx: JsString, json: JsonText) -> Result<Op> {
    let Some(record) = values_record(json.0) else {
        return Err(inner.throw(env, Kind::Storage, NOT_A_RECORD));
    };
    upd_from_json(ctx, &record).map_err(|e| inner.throw(env, Kind::Storage, &e.to_string()))
}

fn js_context_values(env: sys::napi_env, store: &StoreData, ctx: &JsStr) -> Res<sys::napi_value> {
    let obj = js::object(env)?;
    if let Some(c) = store.context(ctx) {
        for (k, v) in c.iter() {
            let js = to_js::to_js(env, v.bytes())?;
            js::set_property(env, obj, k, js)?;
        }
    }
    Ok(obj)
}

fn js_commit_id(env: sys::napi_env, id: CommitId) -> Res<sys::napi_value> {
    let obj = js::object(env)?;
    js::set_property(env, obj, JsStr::new("segment"), js::number(env, id.segment as f64)?)?;
    js::set_property(env, obj, JsStr::new("offset"), js::number(env, id.offset as f64)?)?;
    Ok(obj)
}

/// Constructor options, already normalized and type-checked by `lib/api.cjs` (durations in ms,
/// paths as strings).
#[napi(object)]
pub struct NativeOptions {
    pub max_segment_size: Option<f64>,
    pub fsync: Option<bool>,
    pub snapshot_interval: Option<f64>,
    pub clean_interval: Option<f64>,
    pub compress_snapshot: Option<bool>,
    pub compress_log: Option<bool>,
    pub head_snapshot: Option<bool>,
    /// Take `matter.lock` natively (false when a matter.js `DatafileRoot` holds the lock).
    pub lock: Option<bool>,
    /// Id from `setErrorFactory`: the error classes this driver's errors are made of.
    pub error_classes: Option<u32>,
}

fn duration_ms(env: &Env, classes: Classes, name: &str, ms: f64) -> Result<Duration> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(errors::throw(env.raw(), classes, Kind::Storage, &format!("{name} must be a non-negative number of milliseconds")));
    }
    Ok(Duration::from_secs_f64(ms.max(1.0) / 1000.0))
}

/// The native half of `WalStorageDriver`.
#[napi]
pub struct NativeWal {
    inner: Arc<Inner>,
}

#[napi]
impl NativeWal {
    #[napi(constructor)]
    pub fn new(env: Env, dir: String, options: Option<NativeOptions>) -> Result<Self> {
        let mut o = Options::default();
        let mut take_lock = true;
        let classes = Classes(options.as_ref().and_then(|n| n.error_classes).unwrap_or(0));
        if let Some(n) = options {
            if let Some(v) = n.max_segment_size {
                if !(v.is_finite() && v > 0.0) {
                    return Err(errors::throw(env.raw(), classes, Kind::Storage, "maxSegmentSize must be a positive number"));
                }
                o.max_segment_size = v as u64;
            }
            if let Some(v) = n.fsync {
                o.fsync = v;
            }
            if let Some(v) = n.snapshot_interval {
                o.snapshot_interval = duration_ms(&env, classes, "snapshotInterval", v)?;
            }
            if let Some(v) = n.clean_interval {
                o.clean_interval = Some(duration_ms(&env, classes, "cleanInterval", v)?);
            }
            if let Some(v) = n.compress_snapshot {
                o.compress_snapshot = v;
            }
            if let Some(v) = n.compress_log {
                o.compress_log = v;
            }
            if let Some(v) = n.head_snapshot {
                o.head_snapshot = v;
            }
            if let Some(v) = n.lock {
                take_lock = v;
            }
        }
        Ok(NativeWal {
            inner: Arc::new(Inner {
                dir: PathBuf::from(dir),
                options: o,
                take_lock,
                classes,
                phase: Mutex::new(Phase::Closed),
                engine: RwLock::new(None),
                lock: Mutex::new(None),
                pending: Arc::new(Mutex::new(VecDeque::new())),
                cache: cache::JsCache::default(),
            }),
        })
    }

    #[napi(getter)]
    pub fn initialized(&self) -> bool {
        matches!(self.inner.phase(), Phase::Open | Phase::Closing)
    }

    /// `{ get(contextKey, key), has(contextKey, key) }`: the read hot path (see `fast.rs`).
    #[napi(ts_return_type = "{ get(contextKey: string, key: string): unknown; has(contextKey: string, key: string): boolean }")]
    pub fn fast_reads(&self, env: Env) -> Result<Raw> {
        fast::bind(env.raw(), &self.inner).map(Raw).map_err(|f| self.inner.fail(&env, f))
    }

    #[napi(getter)]
    pub fn directory(&self) -> String {
        self.inner.dir.to_string_lossy().into_owned()
    }

    /// Opens the storage: lock, load snapshot, replay the log, start the workers. A second
    /// call while opening or open is refused without touching the first.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn open(&self, env: Env) -> Result<Raw> {
        {
            let mut phase = lock(&self.inner.phase);
            if *phase != Phase::Closed {
                return Err(self.inner.throw(&env, Kind::Storage, "WalStorageDriver already initialized"));
            }
            *phase = Phase::Opening;
        }
        let dispatcher = match dispatch::dispatcher(env.raw()) {
            Ok(d) => d,
            Err(f) => {
                self.inner.set_phase(Phase::Closed);
                return Err(self.inner.fail(&env, f));
            }
        };
        let notify = batch_notifier(dispatcher, self.inner.classes, self.inner.pending.clone());
        let inner = self.inner.clone();
        let inner_done = self.inner.clone();
        let span = logging::driver_span();
        let _entered = span.enter();
        run_async(
            &env,
            self.inner.classes,
            move || open_engine(&inner.dir, inner.options.clone(), inner.take_lock, notify),
            move |env, result| match result {
                Ok((engine, dir_lock)) => {
                    *inner_done.engine.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(engine));
                    *lock(&inner_done.lock) = dir_lock;
                    inner_done.set_phase(Phase::Open);
                    js::undefined(env).map_err(|_| (Kind::Storage, "Cannot settle open()".into()))
                }
                Err(e) => {
                    inner_done.set_phase(Phase::Closed);
                    Err(e)
                }
            },
        )
        .inspect_err(|_| self.inner.set_phase(Phase::Closed))
    }

    /// Lets queued writes finish, then final snapshot + clean, then closes the log and
    /// releases this driver's lock.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> Result<Raw> {
        let engine = {
            let mut phase = lock(&self.inner.phase);
            if *phase != Phase::Open {
                drop(phase);
                return run_async(&env, self.inner.classes, || Ok(()), settle(|env, ()| js::undefined(env)));
            }
            *phase = Phase::Closing;
            self.inner.engine_now()
        };
        let inner = self.inner.clone();
        run_async(
            &env,
            self.inner.classes,
            move || {
                let result = engine.as_ref().map(|e| e.close()).unwrap_or(Ok(()));
                drop(engine);
                result.map_err(core_err)
            },
            move |env, result| {
                // Freeing a large store takes a while: not on the JS thread.
                runtime::drop_later(inner.engine.write().unwrap_or_else(|e| e.into_inner()).take());
                inner.cache.clear(env);
                if let Some(mut l) = lock(&inner.lock).take() {
                    let _ = l.release();
                }
                inner.set_phase(Phase::Closed);
                result?;
                js::undefined(env).map_err(|_| (Kind::Storage, "Cannot settle close()".into()))
            },
        )
    }

    #[napi(ts_return_type = "string[]")]
    pub fn keys(&self, env: Env, contexts: JsText) -> Result<Raw> {
        let engine = self.inner.engine(&env)?;
        let ctx = context_key(&self.inner, &env, contexts)?;
        let keys = engine.read(|s| s.store.keys(&ctx)).map_err(|e| self.inner.throw_core(&env, e))?;
        js::string_array(env.raw(), &keys).map(Raw).map_err(|f| self.inner.fail(&env, f))
    }

    #[napi(ts_return_type = "Record<string, unknown>")]
    pub fn values(&self, env: Env, contexts: JsText) -> Result<Raw> {
        let engine = self.inner.engine(&env)?;
        let ctx = context_key(&self.inner, &env, contexts)?;
        let entries: Vec<(Arc<JsStr>, Encoded)> = engine
            .read(|s| s.store.context(&ctx).map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default())
            .map_err(|e| self.inner.throw_core(&env, e))?;
        let raw = env.raw();
        let obj = js::object(raw).map_err(|f| self.inner.fail(&env, f))?;
        for (k, v) in &entries {
            let js = self.inner.value(&env, &ctx, k, v)?;
            js::set_property(raw, obj, k, js).map_err(|f| self.inner.fail(&env, f))?;
        }
        Ok(Raw(obj))
    }

    #[napi(ts_return_type = "string[]")]
    pub fn contexts(&self, env: Env, contexts: JsText) -> Result<Raw> {
        let engine = self.inner.engine(&env)?;
        let ctx = context_key(&self.inner, &env, contexts)?;
        let found = engine.read(|s| s.store.sub_contexts(&ctx)).map_err(|e| self.inner.throw_core(&env, e))?;
        js::string_array(env.raw(), &found).map(Raw).map_err(|f| self.inner.fail(&env, f))
    }

    /// `json` is `{"values":<record>}` as `lib/api.cjs` encoded it with matter.js's `toJson`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn set(&self, env: Env, contexts: JsText, json: JsonText) -> Result<Raw> {
        self.inner.engine(&env)?;
        let ctx = context_key(&self.inner, &env, contexts)?;
        let Some(record) = values_record(json.0) else {
            return Err(self.inner.throw(&env, Kind::Storage, NOT_A_RECORD));
        };
        // The record is parsed and checked on the writer thread (it rejects this promise, and
        // logs nothing of it, when a value cannot be stored). The value cache needs no word of
        // it: it hands out a cached object only while the store holds the very allocation it
        // was built from, and the keys written are not known here (forgetting the whole
        // context would give new objects for the keys this write leaves alone).
        self.inner.submit_with(&env, move |engine| engine.submit_record(ctx, record))
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn delete(&self, env: Env, contexts: JsText, key: JsText) -> Result<Raw> {
        self.inner.engine(&env)?;
        let ctx = context_key(&self.inner, &env, contexts)?;
        self.inner.submit(&env, vec![Op::Del { key: ctx, values: Some(vec![key.0]) }])
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn clear_all(&self, env: Env, contexts: JsText) -> Result<Raw> {
        self.inner.engine(&env)?;
        let ctx = context_key(&self.inner, &env, contexts)?;
        self.inner.submit(&env, vec![Op::Del { key: ctx, values: None }])
    }

    #[napi]
    pub fn begin(&self, env: Env) -> Result<NativeTransaction> {
        self.inner.engine(&env)?;
        Ok(NativeTransaction { inner: self.inner.clone(), tx: Transaction::new() })
    }

    /// Rebuilds the state as of `asOf` (ms since epoch) from the snapshot file and the log.
    #[napi(ts_return_type = "Promise<NativeSnapshot>")]
    pub fn snapshot_at_time(&self, env: Env, as_of: Option<f64>) -> Result<Raw> {
        let engine = self.inner.engine(&env)?;
        let classes = self.inner.classes;
        if let Some(t) = as_of {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as f64).unwrap_or(0.0);
            if t > now {
                return Err(self.inner.throw(&env, Kind::Storage, "Timestamp is in the future"));
            }
        }
        run_async(
            &env,
            self.inner.classes,
            move || {
                let stop = move |_id: CommitId, ts: f64| as_of.is_some_and(|a| ts > a);
                let check = move |base: f64| match as_of {
                    Some(a) if base > 0.0 && a < base => Err(CoreError::NoHistory("Timestamp predates available logs".into())),
                    _ => Ok(()),
                };
                engine.reconstruct(Some(&stop), Some(&check)).map_err(core_err)
            },
            settle(move |env, snap| snapshot_to_js(env, classes, snap)),
        )
    }

    /// Rebuilds the state as of a commit id (`{segment, offset}`); everything when omitted.
    #[napi(ts_return_type = "Promise<NativeSnapshot>")]
    pub fn snapshot_at_commit(&self, env: Env, segment: Option<f64>, offset: Option<f64>) -> Result<Raw> {
        let engine = self.inner.engine(&env)?;
        let classes = self.inner.classes;
        let target = match (segment, offset) {
            (Some(s), Some(o)) => Some((s, o)),
            _ => None,
        };
        run_async(
            &env,
            self.inner.classes,
            move || {
                let stop = move |id: CommitId, _ts: f64| target.is_some_and(|(s, o)| (id.segment as f64, id.offset as f64) > (s, o));
                engine.reconstruct(Some(&stop), None).map_err(core_err)
            },
            settle(move |env, snap| snapshot_to_js(env, classes, snap)),
        )
    }

    /// Writes a snapshot now and copies the directory to a fresh temporary one; resolves
    /// to its path (`lib/api.cjs` opens a driver on it).
    #[napi(ts_return_type = "Promise<string>")]
    pub fn copy_to_temp(&self, env: Env) -> Result<Raw> {
        let engine = self.inner.engine(&env)?;
        let dir = self.inner.dir.clone();
        run_async(
            &env,
            self.inner.classes,
            move || {
                engine.snapshot_now().map_err(core_err)?;
                let target = std::env::temp_dir().join(format!("matter-wal-clone-{:016x}", rand::random::<u64>()));
                engine
                    .copy_files_to(&target)
                    .map_err(|e| (Kind::Storage, format!("Cannot copy storage {} to {}: {e}", dir.display(), target.display())))?;
                Ok(target.to_string_lossy().into_owned())
            },
            settle(|env, path: String| js::create_string(env, &path)),
        )
    }
}

/// A fresh empty directory for `lib/api.cjs` to let matter.js lock once (see `adopt_lock_token`).
#[napi]
pub fn lock_probe_dir() -> Result<String> {
    let dir = std::env::temp_dir().join(format!("matter-wal-token-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::from_reason(format!("{}: {e}", dir.display())))?;
    Ok(dir.to_string_lossy().into_owned())
}

/// Takes matter.js's lock token from the `matter.pid` it wrote in `dir` (a probe directory
/// matter.js holds locked right now), then removes the directory; matter.js's release
/// tolerates the files being gone.
#[napi]
pub fn adopt_lock_token(dir: String) -> bool {
    let dir = PathBuf::from(dir);
    let adopted = crate::lock::adopt_token_from(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    adopted
}

fn open_engine(dir: &Path, options: Options, take_lock: bool, notify: Notify) -> Outcome<(Engine, Option<DirLock>)> {
    crate::fsutil::create_dir_all_durable(dir)
        .map_err(|e| core_err(e.context(format!("Cannot create storage directory {}", dir.display()))))?;
    let dir_lock = if take_lock {
        Some(DirLock::acquire(dir).map_err(|e| match e {
            // matter.js's message for a directory this process holds names no directory: add it,
            // since the other open is somewhere else in this same program.
            CoreError::Locked(m) if m.ends_with("by this process") => core_err(CoreError::Locked(format!("{m}: {}", dir.display()))),
            CoreError::Locked(m) => core_err(CoreError::Locked(m)),
            e => core_err(e.context(format!("Cannot lock {}", dir.display()))),
        })?)
    } else {
        None
    };
    let engine = Engine::open(dir, options, notify).map_err(core_err)?;
    Ok((engine, dir_lock))
}

fn batch_notifier(dispatcher: Dispatcher, classes: Classes, pending: Arc<Mutex<VecDeque<Deferred>>>) -> Notify {
    Arc::new(move |batch: BatchResult| {
        let pending = pending.clone();
        dispatcher.run(move |env| {
            let settled: Vec<Deferred> = {
                let mut q = lock(&pending);
                let n = batch.count.min(q.len());
                q.drain(..n).collect()
            };
            let count = settled.len();
            match &batch.result {
                Ok(()) => {
                    if let Ok(undef) = js::undefined(env) {
                        for d in settled {
                            d.resolve(env, undef);
                        }
                    }
                }
                Err(e) => {
                    for d in settled {
                        if let Ok(err) = errors::make(env, classes, errors::kind_of(e), &e.to_string()) {
                            d.reject(env, err);
                        }
                    }
                }
            }
            dispatch::release(env, count);
        });
    })
}

fn snapshot_to_js(env: sys::napi_env, classes: Classes, snap: crate::snapshot::Snapshot) -> Res<sys::napi_value> {
    let native = NativeSnapshot { classes, commit_id: snap.commit_id, ts: snap.ts, data: snap.data };
    // SAFETY: `env` is the live environment of the JS thread running this dispatcher job.
    unsafe { ToNapiValue::to_napi_value(env, native) }.map_err(|_| Fail::Napi(sys::Status::napi_generic_failure))
}

/// A transaction of one driver: writes are buffered until `commit()` writes them as one
/// commit; its reads see them over the committed state.
#[napi]
pub struct NativeTransaction {
    inner: Arc<Inner>,
    tx: Transaction,
}

#[napi]
impl NativeTransaction {
    /// Committed state with this transaction's writes applied.
    fn view(&self, env: &Env) -> Result<StoreData> {
        let committed = self.inner.engine(env)?.view().map_err(|e| self.inner.throw_core(env, e))?.store;
        Ok(self.tx.view(committed))
    }

    fn record(&mut self, env: &Env, op: Op) -> Result<()> {
        self.tx.record(op).map_err(|e| self.inner.throw_core(env, e))
    }

    #[napi(getter)]
    pub fn committed(&self) -> bool {
        self.tx.is_committed()
    }

    #[napi(getter)]
    pub fn disposed(&self) -> bool {
        self.tx.is_disposed()
    }

    #[napi]
    pub fn set(&mut self, env: Env, contexts: JsText, json: JsonText) -> Result<()> {
        let ctx = context_key(&self.inner, &env, contexts)?;
        let op = upd_op(&self.inner, &env, ctx, json)?;
        self.record(&env, op)
    }

    #[napi]
    pub fn delete(&mut self, env: Env, contexts: JsText, key: JsText) -> Result<()> {
        let ctx = context_key(&self.inner, &env, contexts)?;
        self.record(&env, Op::Del { key: ctx, values: Some(vec![key.0]) })
    }

    #[napi]
    pub fn clear_all(&mut self, env: Env, contexts: JsText) -> Result<()> {
        let ctx = context_key(&self.inner, &env, contexts)?;
        self.record(&env, Op::Del { key: ctx, values: None })
    }

    #[napi(ts_return_type = "unknown")]
    pub fn get(&self, env: Env, contexts: JsText, key: JsText) -> Result<Raw> {
        let ctx = context_key(&self.inner, &env, contexts)?;
        let store = self.view(&env)?;
        let raw = env.raw();
        match store.get(&ctx, &key.0) {
            Some(v) => to_js::to_js(raw, v.bytes()),
            None => js::undefined(raw),
        }
        .map(Raw)
        .map_err(|f| self.inner.fail(&env, f))
    }

    #[napi]
    pub fn has(&self, env: Env, contexts: JsText, key: JsText) -> Result<bool> {
        let ctx = context_key(&self.inner, &env, contexts)?;
        Ok(self.view(&env)?.get(&ctx, &key.0).is_some_and(|v| !v.is_undefined()))
    }

    #[napi(ts_return_type = "string[]")]
    pub fn keys(&self, env: Env, contexts: JsText) -> Result<Raw> {
        let ctx = context_key(&self.inner, &env, contexts)?;
        js::string_array(env.raw(), &self.view(&env)?.keys(&ctx)).map(Raw).map_err(|f| self.inner.fail(&env, f))
    }

    #[napi(ts_return_type = "Record<string, unknown>")]
    pub fn values(&self, env: Env, contexts: JsText) -> Result<Raw> {
        let ctx = context_key(&self.inner, &env, contexts)?;
        js_context_values(env.raw(), &self.view(&env)?, &ctx).map(Raw).map_err(|f| self.inner.fail(&env, f))
    }

    #[napi(ts_return_type = "string[]")]
    pub fn contexts(&self, env: Env, contexts: JsText) -> Result<Raw> {
        let ctx = context_key(&self.inner, &env, contexts)?;
        js::string_array(env.raw(), &self.view(&env)?.sub_contexts(&ctx)).map(Raw).map_err(|f| self.inner.fail(&env, f))
    }

    /// What the buffered writes alone say about `key`: `[value]` when a write of this
    /// transaction decides it (matter.js then answers synchronously), `null` otherwise.
    #[napi(ts_return_type = "[unknown] | null")]
    pub fn buffered(&self, env: Env, contexts: JsText, key: JsText) -> Result<Raw> {
        let ctx = context_key(&self.inner, &env, contexts)?;
        let decided = self.tx.decided(&ctx, &key.0);
        let raw = env.raw();
        let build = || -> Res<sys::napi_value> {
            let Some(value) = decided else { return js::null(raw) };
            let js = match value {
                Some(v) => to_js::to_js(raw, v.bytes())?,
                None => js::undefined(raw)?,
            };
            js::array_of(raw, &[js])
        };
        build().map(Raw).map_err(|f| self.inner.fail(&env, f))
    }

    /// Writes all buffered writes as one commit.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn commit(&mut self, env: Env) -> Result<Raw> {
        let ops = self.tx.commit().map_err(|e| self.inner.throw_core(&env, e))?;
        if ops.is_empty() {
            return run_async(&env, self.inner.classes, || Ok(()), settle(|env, ()| js::undefined(env)));
        }
        self.inner.submit(&env, ops)
    }

    /// Ends the transaction; uncommitted writes are dropped (rollback).
    #[napi]
    pub fn dispose(&mut self) {
        self.tx.dispose();
    }
}

/// The state as of one commit, queried synchronously.
#[napi]
pub struct NativeSnapshot {
    classes: Classes,
    commit_id: CommitId,
    ts: f64,
    data: StoreData,
}

#[napi]
impl NativeSnapshot {
    #[napi(getter, ts_return_type = "{ segment: number; offset: number }")]
    pub fn commit_id(&self, env: Env) -> Result<Raw> {
        js_commit_id(env.raw(), self.commit_id).map(Raw).map_err(|f| errors::from_fail(env.raw(), self.classes, f))
    }

    #[napi(getter)]
    pub fn ts(&self) -> f64 {
        self.ts
    }

    #[napi(getter, ts_return_type = "Record<string, Record<string, unknown>>")]
    pub fn data(&self, env: Env) -> Result<Raw> {
        let raw = env.raw();
        let build = || -> Res<sys::napi_value> {
            let obj = js::object(raw)?;
            for (ctx, _) in self.data.contexts() {
                let values = js_context_values(raw, &self.data, ctx)?;
                js::set_property(raw, obj, ctx, values)?;
            }
            Ok(obj)
        };
        build().map(Raw).map_err(|f| errors::from_fail(env.raw(), self.classes, f))
    }

    #[napi(ts_return_type = "unknown")]
    pub fn get(&self, env: Env, contexts: JsText, key: JsText) -> Result<Raw> {
        let raw = env.raw();
        match self.data.get(&contexts.0, &key.0) {
            Some(v) => to_js::to_js(raw, v.bytes()),
            None => js::undefined(raw),
        }
        .map(Raw)
        .map_err(|f| errors::from_fail(env.raw(), self.classes, f))
    }

    #[napi(ts_return_type = "string[]")]
    pub fn keys(&self, env: Env, contexts: JsText) -> Result<Raw> {
        js::string_array(env.raw(), &self.data.keys(&contexts.0)).map(Raw).map_err(|f| errors::from_fail(env.raw(), self.classes, f))
    }

    #[napi(ts_return_type = "Record<string, unknown>")]
    pub fn values(&self, env: Env, contexts: JsText) -> Result<Raw> {
        js_context_values(env.raw(), &self.data, &contexts.0).map(Raw).map_err(|f| errors::from_fail(env.raw(), self.classes, f))
    }

    #[napi(ts_return_type = "string[]")]
    pub fn contexts(&self, env: Env, contexts: JsText) -> Result<Raw> {
        js::string_array(env.raw(), &self.data.sub_contexts(&contexts.0))
            .map(Raw)
            .map_err(|f| errors::from_fail(env.raw(), self.classes, f))
    }
    /// Writes this state as `<basename>.json[.gz]` into `dir` (temp file, fsync, rename, as
    /// the driver's own snapshots).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save(&self, env: Env, dir: String, compress: bool, basename: String) -> Result<Raw> {
        if basename.is_empty() || basename.contains(['/', '\\']) {
            return Err(errors::throw(env.raw(), self.classes, Kind::Storage, &format!("Invalid snapshot basename {basename:?}")));
        }
        let (id, ts, data) = (self.commit_id, self.ts, self.data.clone());
        run_async(
            &env,
            self.classes,
            move || {
                let dir = PathBuf::from(dir);
                crate::snapshot::save(&dir, &basename, compress, id, ts, &data)
                    .map_err(|e| (Kind::Storage, format!("Cannot save snapshot in {}: {e}", dir.display())))
            },
            settle(|env, ()| js::undefined(env)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_work_that_panics_gives_a_storage_error() {
        assert_eq!(guarded(|| Ok(7)), Ok(7));
        assert_eq!(guarded::<()>(|| Err((Kind::Lock, "held".into()))), Err((Kind::Lock, "held".into())));
        let panicked = guarded::<()>(|| panic!("a bug"));
        assert_eq!(panicked, Err((Kind::Storage, INTERNAL_ERROR.to_string())));
    }
}
