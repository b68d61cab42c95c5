//! The Node.js binding: maps the engine onto the native classes that `index.js` wraps.
//! Reads answer synchronously from the in-memory store; writes return promises settled
//! by the group-commit writer; slow work (open, close, history) runs on the tokio pool.

mod cache;
mod cli;
pub(crate) mod convert;
mod dispatch;
mod errors;
mod fast;
mod logging;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use crate::commit::{CommitId, Op};
use crate::driver::{BatchResult, Engine, EngineError, Notify, Options, Submitted};
use crate::lock::{DirLock, LockError};
use crate::store::StoreData;
use crate::encoded::Encoded;
use crate::value::Value;
use convert::{check, create_string, get_string, type_of, Fail, Res};
use dispatch::{Deferred, Dispatcher};
use errors::Kind;

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

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(16)
            .thread_name("wal-io")
            .build()
            .expect("tokio runtime")
    })
}

fn fail(env: &Env, f: Fail) -> Error {
    errors::from_fail(env.raw(), f)
}

fn throw(env: &Env, kind: Kind, msg: &str) -> Error {
    errors::throw(env.raw(), kind, msg)
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
    phase: Mutex<Phase>,
    pub(crate) engine: RwLock<Option<Arc<Engine>>>,
    /// Resolvers of queued writes, oldest first; only touched on the JS thread.
    pending: Arc<Mutex<VecDeque<Deferred>>>,
    /// JS values handed out by `get`/`values`, reused while unchanged. JS thread only.
    pub(crate) cache: cache::JsThreadCell,
}

impl Inner {
    fn cached_value(&self, env: &Env, value: &Encoded) -> Result<sys::napi_value> {
        self.cache.with(env.raw(), |cache| cache.value(env.raw(), value)).map_err(|f| fail(env, f))
    }

    fn engine(&self, env: &Env) -> Result<Arc<Engine>> {
        match self.engine.read().unwrap().as_ref() {
            Some(e) => Ok(e.clone()),
            None => Err(throw(env, Kind::Storage, "WalStorageDriver is not initialized")),
        }
    }

    /// Queues one commit and returns the promise the writer settles.
    fn submit(&self, env: &Env, ops: Vec<Op>) -> Result<Raw> {
        if *self.phase.lock().unwrap() != Phase::Open {
            let msg = if *self.phase.lock().unwrap() == Phase::Closing {
                "WalStorageDriver is closing"
            } else {
                "WalStorageDriver is not initialized"
            };
            return Err(throw(env, Kind::Storage, msg));
        }
        let engine = self.engine(env)?;
        let raw = env.raw();
        let (deferred, promise) = dispatch::promise(raw).map_err(|f| fail(env, f))?;
        // Registered before submitting: the writer may settle it any moment after.
        self.pending.lock().unwrap().push_back(deferred);
        let outcome = engine.submit(ops);
        if let Ok(Submitted::Queued) = outcome {
            dispatch::hold(raw).map_err(|f| fail(env, f))?;
            return Ok(Raw(promise));
        }
        let deferred = self.pending.lock().unwrap().pop_back().expect("just pushed");
        match outcome {
            Ok(Submitted::Done(Ok(()))) => {
                let undefined = convert::undefined(raw).map_err(|f| fail(env, f))?;
                deferred.resolve(raw, undefined);
            }
            Ok(Submitted::Done(Err(e))) | Err(e) => {
                let err = errors::make(raw, Kind::Storage, &e.to_string()).map_err(|f| fail(env, f))?;
                deferred.reject(raw, err);
            }
            Ok(Submitted::Queued) => unreachable!(),
        }
        Ok(Raw(promise))
    }
}

/// Runs `work` on the blocking pool and settles a promise with `finish` on the JS thread.
fn run_async<T: Send + 'static>(
    env: &Env,
    work: impl FnOnce() -> std::result::Result<T, (Kind, String)> + Send + 'static,
    finish: impl FnOnce(sys::napi_env, T) -> Res<sys::napi_value> + Send + 'static,
) -> Result<Raw> {
    let raw = env.raw();
    let (deferred, promise) = dispatch::promise(raw).map_err(|f| fail(env, f))?;
    let dispatcher = dispatch::hold(raw).map_err(|f| fail(env, f))?;
    runtime().spawn_blocking(move || {
        let result = work();
        dispatcher.run(move |env| {
            let settled = match result {
                Ok(v) => finish(env, v).map_err(|_| (Kind::Storage, "Cannot convert result".to_string())),
                Err(e) => Err(e),
            };
            match settled {
                Ok(v) => deferred.resolve(env, v),
                Err((kind, msg)) => {
                    if let Ok(err) = errors::make(env, kind, &msg) {
                        deferred.reject(env, err);
                    }
                }
            }
            dispatch::release(env, 1);
        });
    });
    Ok(Raw(promise))
}

fn storage_err(e: EngineError) -> (Kind, String) {
    (Kind::Storage, e.to_string())
}

/// Joins and validates a contexts array with matter.js's rules.
fn context_key(env: &Env, contexts: &Unknown) -> Result<String> {
    let raw = env.raw();
    let v = contexts.raw();
    let mut is_array = false;
    unsafe { sys::napi_is_array(raw, v, &mut is_array) };
    if !is_array {
        return Err(throw(env, Kind::Storage, "Contexts must be an array of strings"));
    }
    let mut len = 0u32;
    unsafe { sys::napi_get_array_length(raw, v, &mut len) };
    let mut key = String::new();
    for i in 0..len {
        let mut item = ptr::null_mut();
        unsafe { sys::napi_get_element(raw, v, i, &mut item) };
        if type_of(raw, item).map_err(|f| fail(env, f))? != sys::ValueType::napi_string {
            return Err(throw(env, Kind::Storage, "Contexts must be an array of strings"));
        }
        let part = get_string(raw, item).map_err(|f| fail(env, f))?;
        if part.is_empty() || part.contains('.') {
            return Err(throw(env, Kind::Storage, "Context must not contain empty segments or leading or trailing dots."));
        }
        if i > 0 {
            key.push('.');
        }
        key.push_str(&part);
    }
    Ok(key)
}

fn key_string(env: &Env, key: &Unknown) -> Result<String> {
    if type_of(env.raw(), key.raw()).map_err(|f| fail(env, f))? != sys::ValueType::napi_string {
        return Err(throw(env, Kind::Storage, "Key must be a string"));
    }
    get_string(env.raw(), key.raw()).map_err(|f| fail(env, f))
}

/// Reads the `values` record of `set(contexts, values)`.
fn read_values(env: &Env, values: &Unknown) -> Result<Vec<(String, Encoded)>> {
    let raw = env.raw();
    let t = type_of(raw, values.raw()).map_err(|f| fail(env, f))?;
    let mut is_array = false;
    unsafe { sys::napi_is_array(raw, values.raw(), &mut is_array) };
    if t != sys::ValueType::napi_object || is_array {
        return Err(throw(env, Kind::Storage, "set() needs a string key or a record of values"));
    }
    let keys = convert::own_keys(raw, values.raw()).map_err(|f| fail(env, f))?;
    let mut reader = convert::Reader::new(raw);
    let mut out = Vec::with_capacity(keys.len());
    let mut buf = Vec::with_capacity(256);
    for (name, key) in keys {
        let mut prop = ptr::null_mut();
        unsafe { sys::napi_get_property(raw, values.raw(), name, &mut prop) };
        buf.clear();
        reader.encode(prop, &mut buf).map_err(|f| match f {
            Fail::Unsupported(m) => fail(env, Fail::Unsupported(format!("{m} (key \"{key}\")"))),
            other => fail(env, other),
        })?;
        out.push((key, Encoded::from_encoder(&buf)));
    }
    Ok(out)
}

fn read_value(env: &Env, value: &Unknown) -> Result<Encoded> {
    let mut buf = Vec::with_capacity(256);
    convert::Reader::new(env.raw()).encode(value.raw(), &mut buf).map_err(|f| fail(env, f))?;
    Ok(Encoded::from_encoder(&buf))
}

fn js_value(env: &Env, v: Option<&Value>) -> Result<Raw> {
    match v {
        Some(v) => convert::Writer::new(env.raw()).write(v).map(Raw).map_err(|f| fail(env, f)),
        None => convert::undefined(env.raw()).map(Raw).map_err(|f| fail(env, f)),
    }
}

fn js_strings<S: AsRef<str>>(env: sys::napi_env, items: &[S]) -> Res<sys::napi_value> {
    let mut arr = ptr::null_mut();
    check!(sys::napi_create_array_with_length(env, items.len(), &mut arr));
    for (i, s) in items.iter().enumerate() {
        let js = create_string(env, s.as_ref())?;
        check!(sys::napi_set_element(env, arr, i as u32, js));
    }
    Ok(arr)
}

fn js_context_values(env: sys::napi_env, store: &StoreData, ctx: &str) -> Res<sys::napi_value> {
    let mut obj = ptr::null_mut();
    check!(sys::napi_create_object(env, &mut obj));
    if let Some(c) = store.context(ctx) {
        let mut w = convert::Writer::new(env);
        for (k, v) in c.iter() {
            w.set_property(obj, k, &v.decode())?;
        }
    }
    Ok(obj)
}

fn js_commit_id(env: sys::napi_env, id: CommitId) -> Res<sys::napi_value> {
    let mut obj = ptr::null_mut();
    check!(sys::napi_create_object(env, &mut obj));
    let mut w = convert::Writer::new(env);
    w.set_property(obj, "segment", &Value::Number(id.segment as f64))?;
    w.set_property(obj, "offset", &Value::Number(id.offset as f64))?;
    Ok(obj)
}

/// Constructor options, already normalized by `index.js` (durations in ms, paths as strings).
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
}

fn duration_ms(env: &Env, name: &str, ms: f64) -> Result<Duration> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(throw(env, Kind::Storage, &format!("{name} must be a non-negative number of milliseconds")));
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
        if let Some(n) = options {
            if let Some(v) = n.max_segment_size {
                if !(v.is_finite() && v > 0.0) {
                    return Err(throw(&env, Kind::Storage, "maxSegmentSize must be a positive number"));
                }
                o.max_segment_size = v as u64;
            }
            if let Some(v) = n.fsync {
                o.fsync = v;
            }
            if let Some(v) = n.snapshot_interval {
                o.snapshot_interval = duration_ms(&env, "snapshotInterval", v)?;
            }
            if let Some(v) = n.clean_interval {
                o.clean_interval = Some(duration_ms(&env, "cleanInterval", v)?);
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
                phase: Mutex::new(Phase::Closed),
                engine: RwLock::new(None),
                pending: Arc::new(Mutex::new(VecDeque::new())),
                cache: cache::JsThreadCell::default(),
            }),
        })
    }

    #[napi(getter)]
    pub fn initialized(&self) -> bool {
        matches!(*self.inner.phase.lock().unwrap(), Phase::Open | Phase::Closing)
    }

    /// `{ get(joinedContexts, count, key), has(…) }`: the read hot path (see `fast.rs`).
    #[napi(ts_return_type = "{ get(contexts: string, count: number, key: string): unknown; has(contexts: string, count: number, key: string): boolean }")]
    pub fn fast_reads(&self, env: Env) -> Result<Raw> {
        fast::bind(env.raw(), &self.inner).map(Raw).map_err(|f| fail(&env, f))
    }

    #[napi(getter)]
    pub fn directory(&self) -> String {
        self.inner.dir.to_string_lossy().into_owned()
    }

    /// Opens the storage: lock, load snapshot, replay the log, start the workers.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn open(&self, env: Env) -> Result<Raw> {
        {
            let mut phase = self.inner.phase.lock().unwrap();
            if *phase != Phase::Closed {
                return Err(throw(&env, Kind::Storage, "WalStorageDriver already initialized"));
            }
            *phase = Phase::Opening;
        }
        let dispatcher = dispatch::dispatcher(env.raw()).map_err(|f| fail(&env, f))?;
        let notify = batch_notifier(dispatcher, self.inner.pending.clone());
        let inner = self.inner.clone();
        let inner_done = self.inner.clone();
        run_async(
            &env,
            move || open_engine(&inner.dir, inner.options.clone(), inner.take_lock, notify),
            move |env, (engine, lock)| {
                *inner_done.engine.write().unwrap() = Some(Arc::new(engine));
                LOCKS.lock().unwrap().push((inner_done.dir.clone(), lock));
                *inner_done.phase.lock().unwrap() = Phase::Open;
                convert::undefined(env)
            },
        )
        .inspect_err(|_| *self.inner.phase.lock().unwrap() = Phase::Closed)
        .map(|p| {
            // Failed opens go back to Closed when their rejection is delivered.
            let inner = self.inner.clone();
            let _ = &inner;
            p
        })
    }

    /// Resets the phase after a failed `open()`; called by `index.js` when open rejects.
    #[napi]
    pub fn open_failed(&self) {
        let mut phase = self.inner.phase.lock().unwrap();
        if *phase == Phase::Opening {
            *phase = Phase::Closed;
        }
    }

    /// Lets queued writes finish, then final snapshot + clean, then closes the log.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> Result<Raw> {
        let engine = {
            let mut phase = self.inner.phase.lock().unwrap();
            if *phase != Phase::Open {
                drop(phase);
                return run_async(&env, || Ok(()), |env, ()| convert::undefined(env));
            }
            *phase = Phase::Closing;
            self.inner.engine.read().unwrap().clone()
        };
        let inner = self.inner.clone();
        run_async(
            &env,
            move || {
                let result = engine.as_ref().map(|e| e.close()).unwrap_or(Ok(()));
                drop(engine);
                result.map_err(storage_err)
            },
            move |env, ()| {
                // Freeing a large store takes a while: never on the JS thread.
                let engine = inner.engine.write().unwrap().take();
                runtime().spawn_blocking(move || drop(engine));
                inner.cache.clear(env);
                LOCKS.lock().unwrap().retain_mut(|(dir, lock)| {
                    if *dir == inner.dir {
                        if let Some(l) = lock {
                            let _ = l.release();
                        }
                        false
                    } else {
                        true
                    }
                });
                *inner.phase.lock().unwrap() = Phase::Closed;
                convert::undefined(env)
            },
        )
    }

    #[napi(ts_return_type = "unknown")]
    pub fn get(&self, env: Env, contexts: Unknown, key: Unknown) -> Result<Raw> {
        let engine = self.inner.engine(&env)?;
        let ctx = context_key(&env, &contexts)?;
        let key = key_string(&env, &key)?;
        match engine.read(|s| s.store.get(&ctx, &key).cloned()) {
            Some(value) => self.inner.cached_value(&env, &value).map(Raw),
            None => convert::undefined(env.raw()).map(Raw).map_err(|f| fail(&env, f)),
        }
    }

    #[napi]
    pub fn has(&self, env: Env, contexts: Unknown, key: Unknown) -> Result<bool> {
        let engine = self.inner.engine(&env)?;
        let ctx = context_key(&env, &contexts)?;
        let key = key_string(&env, &key)?;
        Ok(engine.read(|s| s.store.get(&ctx, &key).is_some_and(|v| !v.is_undefined())))
    }

    #[napi(ts_return_type = "string[]")]
    pub fn keys(&self, env: Env, contexts: Unknown) -> Result<Raw> {
        let engine = self.inner.engine(&env)?;
        let ctx = context_key(&env, &contexts)?;
        let keys = engine.read(|s| s.store.keys(&ctx));
        js_strings(env.raw(), &keys).map(Raw).map_err(|f| fail(&env, f))
    }

    #[napi(ts_return_type = "Record<string, unknown>")]
    pub fn values(&self, env: Env, contexts: Unknown) -> Result<Raw> {
        let engine = self.inner.engine(&env)?;
        let ctx = context_key(&env, &contexts)?;
        let entries: Vec<(Arc<str>, Encoded)> = engine.read(|s| {
            s.store.context(&ctx).map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
        });
        let raw = env.raw();
        let mut obj = ptr::null_mut();
        unsafe { sys::napi_create_object(raw, &mut obj) };
        let mut w = convert::Writer::new(raw);
        for (k, v) in &entries {
            let js = self.inner.cached_value(&env, v)?;
            w.set_raw(obj, k, js).map_err(|f| fail(&env, f))?;
        }
        Ok(Raw(obj))
    }

    #[napi(ts_return_type = "string[]")]
    pub fn contexts(&self, env: Env, contexts: Unknown) -> Result<Raw> {
        let engine = self.inner.engine(&env)?;
        let ctx = context_key(&env, &contexts)?;
        let found = engine.read(|s| s.store.sub_contexts(&ctx));
        js_strings(env.raw(), &found).map(Raw).map_err(|f| fail(&env, f))
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn set(&self, env: Env, contexts: Unknown, key_or_values: Unknown, value: Unknown) -> Result<Raw> {
        self.inner.engine(&env)?;
        let op = upd_op(&env, &contexts, &key_or_values, &value)?;
        self.inner.submit(&env, vec![op])
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn delete(&self, env: Env, contexts: Unknown, key: Unknown) -> Result<Raw> {
        self.inner.engine(&env)?;
        let ctx = context_key(&env, &contexts)?;
        let key = key_string(&env, &key)?;
        self.inner.submit(&env, vec![Op::Del { key: ctx, values: Some(vec![key]) }])
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn clear_all(&self, env: Env, contexts: Unknown) -> Result<Raw> {
        self.inner.engine(&env)?;
        let ctx = context_key(&env, &contexts)?;
        self.inner.submit(&env, vec![Op::Del { key: ctx, values: None }])
    }

    #[napi]
    pub fn begin(&self, env: Env) -> Result<NativeTransaction> {
        self.inner.engine(&env)?;
        Ok(NativeTransaction { inner: self.inner.clone(), ops: Vec::new(), committed: false, disposed: false })
    }

    /// Rebuilds the state as of `asOf` (ms since epoch) from the snapshot file and the log.
    #[napi(ts_return_type = "Promise<NativeSnapshot>")]
    pub fn snapshot_at_time(&self, env: Env, as_of: Option<f64>) -> Result<Raw> {
        let engine = self.inner.engine(&env)?;
        if let Some(t) = as_of {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as f64;
            if t > now {
                return Err(throw(&env, Kind::Storage, "Timestamp is in the future"));
            }
        }
        run_async(
            &env,
            move || {
                let stop = move |_id: CommitId, ts: f64| as_of.is_some_and(|a| ts > a);
                let check = move |base: f64| match as_of {
                    Some(a) if base > 0.0 && a < base => Err(EngineError::Storage("Timestamp predates available logs".into())),
                    _ => Ok(()),
                };
                engine.reconstruct(Some(&stop), Some(&check)).map_err(storage_err)
            },
            snapshot_to_js,
        )
    }

    /// Rebuilds the state as of a commit id (`{segment, offset}`); everything when omitted.
    #[napi(ts_return_type = "Promise<NativeSnapshot>")]
    pub fn snapshot_at_commit(&self, env: Env, segment: Option<f64>, offset: Option<f64>) -> Result<Raw> {
        let engine = self.inner.engine(&env)?;
        let target = match (segment, offset) {
            (Some(s), Some(o)) => Some((s, o)),
            _ => None,
        };
        run_async(
            &env,
            move || {
                let stop = move |id: CommitId, _ts: f64| {
                    target.is_some_and(|(s, o)| (id.segment as f64, id.offset as f64) > (s, o))
                };
                engine.reconstruct(Some(&stop), None).map_err(storage_err)
            },
            snapshot_to_js,
        )
    }

    /// Writes a snapshot now and copies the directory to a fresh temporary one; resolves
    /// to its path (`index.js` opens a driver on it).
    #[napi(ts_return_type = "Promise<string>")]
    pub fn copy_to_temp(&self, env: Env) -> Result<Raw> {
        let engine = self.inner.engine(&env)?;
        let dir = self.inner.dir.clone();
        run_async(
            &env,
            move || {
                engine.snapshot_now().map_err(storage_err)?;
                let target = std::env::temp_dir().join(format!("matter-wal-clone-{:016x}", rand::random::<u64>()));
                copy_dir(&dir, &target).map_err(|e| (Kind::Storage, format!("Cannot copy storage: {e}")))?;
                Ok(target.to_string_lossy().into_owned())
            },
            |env, path: String| create_string(env, &path),
        )
    }
}

/// A fresh empty directory for `index.js` to let matter.js lock once (see `adopt_lock_token`).
#[napi]
pub fn lock_probe_dir() -> Result<String> {
    let dir = std::env::temp_dir().join(format!("matter-wal-token-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::from_reason(e.to_string()))?;
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

/// Locks held by open drivers with native locking, by directory.
static LOCKS: Mutex<Vec<(PathBuf, Option<DirLock>)>> = Mutex::new(Vec::new());

fn open_engine(dir: &Path, options: Options, take_lock: bool, notify: Notify) -> std::result::Result<(Engine, Option<DirLock>), (Kind, String)> {
    std::fs::create_dir_all(dir).map_err(|e| (Kind::Storage, format!("Cannot create storage directory {}: {e}", dir.display())))?;
    let lock = if take_lock {
        Some(DirLock::acquire(dir).map_err(|e| match e {
            // matter.js's message for a directory this process holds names no directory: add it,
            // since the other open is somewhere else in this same program.
            LockError::Locked(m) if m.ends_with("by this process") => (Kind::Lock, format!("{m}: {}", dir.display())),
            LockError::Locked(m) => (Kind::Lock, m),
            LockError::Io(e) => (Kind::Storage, format!("Cannot lock {}: {e}", dir.display())),
        })?)
    } else {
        None
    };
    let engine = Engine::open(dir, options, notify).map_err(storage_err)?;
    Ok((engine, lock))
}

fn batch_notifier(dispatcher: Dispatcher, pending: Arc<Mutex<VecDeque<Deferred>>>) -> Notify {
    Arc::new(move |batch: BatchResult| {
        let pending = pending.clone();
        dispatcher.run(move |env| {
            let settled: Vec<Deferred> = {
                let mut q = pending.lock().unwrap();
                let n = batch.count.min(q.len());
                q.drain(..n).collect()
            };
            let count = settled.len();
            match &batch.result {
                Ok(()) => {
                    if let Ok(undef) = convert::undefined(env) {
                        for d in settled {
                            d.resolve(env, undef);
                        }
                    }
                }
                Err(e) => {
                    for d in settled {
                        if let Ok(err) = errors::make(env, Kind::Storage, &e.to_string()) {
                            d.reject(env, err);
                        }
                    }
                }
            }
            dispatch::release(env, count);
        });
    })
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == crate::lock::LOCK_FILE || name == crate::lock::PID_FILE {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn upd_op(env: &Env, contexts: &Unknown, key_or_values: &Unknown, value: &Unknown) -> Result<Op> {
    let ctx = context_key(env, contexts)?;
    let values = if type_of(env.raw(), key_or_values.raw()).map_err(|f| fail(env, f))? == sys::ValueType::napi_string {
        let key = key_string(env, key_or_values)?;
        vec![(key, read_value(env, value)?)]
    } else {
        read_values(env, key_or_values)?
    };
    Ok(Op::Upd { key: ctx, values })
}

fn snapshot_to_js(env: sys::napi_env, snap: crate::snapshot::Snapshot) -> Res<sys::napi_value> {
    let native = NativeSnapshot { commit_id: snap.commit_id, ts: snap.ts, data: snap.data };
    unsafe { ToNapiValue::to_napi_value(env, native) }.map_err(|_| Fail::Napi(sys::Status::napi_generic_failure))
}

/// A transaction: buffers ops, reads see them over the committed state, commit writes them
/// as one WAL line.
#[napi]
pub struct NativeTransaction {
    inner: Arc<Inner>,
    ops: Vec<Op>,
    committed: bool,
    disposed: bool,
}

#[napi]
impl NativeTransaction {
    fn assert_active(&self, env: &Env) -> Result<()> {
        if self.disposed {
            return Err(throw(env, Kind::Commit, "Transaction is disposed"));
        }
        if self.committed {
            return Err(throw(env, Kind::Commit, "Transaction is already committed"));
        }
        Ok(())
    }

    /// Committed state with this transaction's ops applied.
    fn view(&self, env: &Env) -> Result<StoreData> {
        let mut store = self.inner.engine(env)?.view().store;
        store.apply(&self.ops);
        Ok(store)
    }

    #[napi(getter)]
    pub fn committed(&self) -> bool {
        self.committed
    }

    #[napi(getter)]
    pub fn disposed(&self) -> bool {
        self.disposed
    }

    #[napi]
    pub fn set(&mut self, env: Env, contexts: Unknown, key_or_values: Unknown, value: Unknown) -> Result<()> {
        self.assert_active(&env)?;
        let op = upd_op(&env, &contexts, &key_or_values, &value)?;
        self.ops.push(op);
        Ok(())
    }

    #[napi]
    pub fn delete(&mut self, env: Env, contexts: Unknown, key: Unknown) -> Result<()> {
        self.assert_active(&env)?;
        let ctx = context_key(&env, &contexts)?;
        let key = key_string(&env, &key)?;
        self.ops.push(Op::Del { key: ctx, values: Some(vec![key]) });
        Ok(())
    }

    #[napi]
    pub fn clear_all(&mut self, env: Env, contexts: Unknown) -> Result<()> {
        self.assert_active(&env)?;
        let ctx = context_key(&env, &contexts)?;
        self.ops.push(Op::Del { key: ctx, values: None });
        Ok(())
    }

    #[napi(ts_return_type = "unknown")]
    pub fn get(&self, env: Env, contexts: Unknown, key: Unknown) -> Result<Raw> {
        let ctx = context_key(&env, &contexts)?;
        let key = key_string(&env, &key)?;
        let store = self.view(&env)?;
        js_value(&env, store.get(&ctx, &key).map(|v| v.decode()).as_ref())
    }

    #[napi]
    pub fn has(&self, env: Env, contexts: Unknown, key: Unknown) -> Result<bool> {
        let ctx = context_key(&env, &contexts)?;
        let key = key_string(&env, &key)?;
        Ok(self.view(&env)?.get(&ctx, &key).is_some_and(|v| !v.is_undefined()))
    }

    #[napi(ts_return_type = "string[]")]
    pub fn keys(&self, env: Env, contexts: Unknown) -> Result<Raw> {
        let ctx = context_key(&env, &contexts)?;
        js_strings(env.raw(), &self.view(&env)?.keys(&ctx)).map(Raw).map_err(|f| fail(&env, f))
    }

    #[napi(ts_return_type = "Record<string, unknown>")]
    pub fn values(&self, env: Env, contexts: Unknown) -> Result<Raw> {
        let ctx = context_key(&env, &contexts)?;
        js_context_values(env.raw(), &self.view(&env)?, &ctx).map(Raw).map_err(|f| fail(&env, f))
    }

    #[napi(ts_return_type = "string[]")]
    pub fn contexts(&self, env: Env, contexts: Unknown) -> Result<Raw> {
        let ctx = context_key(&env, &contexts)?;
        js_strings(env.raw(), &self.view(&env)?.sub_contexts(&ctx)).map(Raw).map_err(|f| fail(&env, f))
    }

    /// What the buffered ops alone say about `key`: `[value]` when an op of this
    /// transaction decides it (matter.js then answers synchronously), `null` otherwise.
    #[napi(ts_return_type = "[unknown] | null")]
    pub fn buffered(&self, env: Env, contexts: Unknown, key: Unknown) -> Result<Raw> {
        let ctx = context_key(&env, &contexts)?;
        let key = key_string(&env, &key)?;
        let raw = env.raw();
        let decided: Option<Option<Value>> = self.ops.iter().rev().find_map(|op| match op {
            Op::Upd { key: k, values } if *k == ctx => {
                values.iter().rev().find(|(name, _)| *name == key).map(|(_, v)| Some(v.decode()))
            }
            Op::Del { key: k, values: Some(keys) } if *k == ctx => keys.contains(&key).then_some(None),
            Op::Del { key: k, values: None } if *k == ctx => Some(None),
            _ => None,
        });
        let build = || -> Res<sys::napi_value> {
            let Some(value) = decided else {
                let mut null = ptr::null_mut();
                check!(sys::napi_get_null(raw, &mut null));
                return Ok(null);
            };
            let mut arr = ptr::null_mut();
            check!(sys::napi_create_array_with_length(raw, 1, &mut arr));
            let js = match value {
                Some(v) => convert::Writer::new(raw).write(&v)?,
                None => convert::undefined(raw)?,
            };
            check!(sys::napi_set_element(raw, arr, 0, js));
            Ok(arr)
        };
        build().map(Raw).map_err(|f| fail(&env, f))
    }

    /// Writes all buffered ops as one commit.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn commit(&mut self, env: Env) -> Result<Raw> {
        self.assert_active(&env)?;
        self.committed = true;
        let ops = std::mem::take(&mut self.ops);
        if ops.is_empty() {
            return run_async(&env, || Ok(()), |env, ()| convert::undefined(env));
        }
        self.inner.submit(&env, ops)
    }

    /// Ends the transaction; uncommitted ops are dropped (rollback).
    #[napi]
    pub fn dispose(&mut self) {
        if !self.disposed {
            self.disposed = true;
            if !self.committed {
                self.ops.clear();
            }
        }
    }
}

/// The state as of one commit, queried synchronously.
#[napi]
pub struct NativeSnapshot {
    commit_id: CommitId,
    ts: f64,
    data: StoreData,
}

#[napi]
impl NativeSnapshot {
    #[napi(getter, ts_return_type = "{ segment: number; offset: number }")]
    pub fn commit_id(&self, env: Env) -> Result<Raw> {
        js_commit_id(env.raw(), self.commit_id).map(Raw).map_err(|f| fail(&env, f))
    }

    #[napi(getter)]
    pub fn ts(&self) -> f64 {
        self.ts
    }

    #[napi(getter, ts_return_type = "Record<string, Record<string, unknown>>")]
    pub fn data(&self, env: Env) -> Result<Raw> {
        let raw = env.raw();
        let build = || -> Res<sys::napi_value> {
            let mut obj = ptr::null_mut();
            check!(sys::napi_create_object(raw, &mut obj));
            let mut w = convert::Writer::new(raw);
            for (ctx, _) in self.data.contexts() {
                let values = js_context_values(raw, &self.data, ctx)?;
                w.set_raw(obj, ctx, values)?;
            }
            Ok(obj)
        };
        build().map(Raw).map_err(|f| fail(&env, f))
    }

    #[napi(ts_return_type = "unknown")]
    pub fn get(&self, env: Env, contexts: Vec<String>, key: String) -> Result<Raw> {
        js_value(&env, self.data.get(&contexts.join("."), &key).map(|v| v.decode()).as_ref())
    }

    #[napi]
    pub fn keys(&self, contexts: Vec<String>) -> Vec<String> {
        self.data.keys(&contexts.join(".")).iter().map(|k| k.to_string()).collect()
    }

    #[napi(ts_return_type = "Record<string, unknown>")]
    pub fn values(&self, env: Env, contexts: Vec<String>) -> Result<Raw> {
        js_context_values(env.raw(), &self.data, &contexts.join(".")).map(Raw).map_err(|f| fail(&env, f))
    }

    #[napi]
    pub fn contexts(&self, contexts: Vec<String>) -> Vec<String> {
        self.data.sub_contexts(&contexts.join("."))
    }
}
