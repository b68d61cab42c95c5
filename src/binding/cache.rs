//! JS values handed out by reads, reused while the stored value is unchanged: a repeated
//! `get` of an object, array, `Uint8Array` or `Map` returns the very same JS object (as
//! matter.js's driver returns the object it caches) and costs a lookup instead of rebuilding
//! it. Primitives (strings, numbers, bigints) are rebuilt, which is as cheap as a lookup.
//!
//! Entries are keyed by context and key and hold the stored value they were built from (the
//! same `Arc` the store holds, so an entry is fresh exactly while the store still holds that
//! allocation). Writes evict their keys when they are submitted, and a read that finds the
//! store holding another value (or none) replaces (or drops) the entry, so the cache never
//! keeps more than one value per key that was read, and never an overwritten one for long.
//!
//! The references are napi-rs's `ObjectRef`s: measured on 2026-12-08 against the raw
//! `napi_ref`s they replaced (`scripts/measure-safe-types.mjs`, Node 20, one process, rounds
//! alternating A/B, best of 21 and 61 rounds), a `get()` of a cached object took 210–232 ns
//! against 223–236 ns, `values()` of a 50-key context (20 cached objects) 1.02–1.04× — the
//! same Node-API calls, no difference beyond noise.
//!
//! Only the JS thread of the driver touches the cache. Its lock is never held while
//! JavaScript runs (building a `Map` calls `Map.prototype.set`, which user code may replace
//! and which may call back into the driver).

use std::collections::HashMap;
use std::sync::Mutex;
use std::thread::ThreadId;

use napi::bindgen_prelude::{Env, JsValue, Object, ObjectRef};
use napi::sys;

use super::js::Res;
use crate::codec::jsstr::{JsStr, JsString};
use crate::codec::stored::Encoded;
use crate::log::commit::Op;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Entries kept before the cache starts over; bounds memory for huge stores.
const MAX_ENTRIES: usize = 100_000;

/// A strong reference to the object; deleted by [`Values::delete`] (never dropped undeleted
/// on the JS thread, so napi-rs's leak check is off).
type Reference = ObjectRef<false>;

struct Entry {
    value: Encoded,
    reference: Reference,
}

struct Values {
    /// The environment the references belong to, as an address: only compared, and turned
    /// back into an `Env` on the thread below.
    env: usize,
    thread: ThreadId,
    by_context: FastMap<JsString, FastMap<JsString, Entry>>,
    count: usize,
}

impl Values {
    /// Deletes a reference created in `self.env`; callers are on its thread (`JsCache::with`
    /// checks, `Drop` too).
    fn delete(&self, reference: Reference) {
        let _ = reference.unref(&Env::from_raw(self.env as sys::napi_env));
    }

    fn clear(&mut self) {
        let env = Env::from_raw(self.env as sys::napi_env);
        for (_, keys) in self.by_context.drain() {
            for (_, entry) in keys {
                let _ = entry.reference.unref(&env);
            }
        }
        self.count = 0;
    }

    fn forget(&mut self, ctx: &JsStr, key: &JsStr) {
        if let Some(keys) = self.by_context.get_mut(ctx) {
            if let Some(entry) = keys.remove(key) {
                self.count -= 1;
                self.delete(entry.reference);
            }
        }
    }

    /// Drops the context `ctx` and every context below it (`""`: everything).
    fn forget_tree(&mut self, ctx: &JsStr) {
        if ctx.is_empty() {
            self.clear();
            return;
        }
        let doomed: Vec<JsString> = self
            .by_context
            .keys()
            .filter(|k| k.as_js_str() == ctx || (k.starts_with(ctx) && k.as_bytes().get(ctx.len()) == Some(&b'.')))
            .cloned()
            .collect();
        for k in doomed {
            if let Some(keys) = self.by_context.remove(&k) {
                self.count -= keys.len();
                for (_, entry) in keys {
                    self.delete(entry.reference);
                }
            }
        }
    }
}

/// Whether building the JS value for `v` is worth caching: objects, arrays, and the marker
/// strings of bytes and Maps (bigints and undefined are primitives).
fn worth_caching(v: &Encoded) -> bool {
    let b = v.bytes();
    match b.first() {
        Some(b'{') | Some(b'[') => true,
        Some(b'"') => b.starts_with(br#""{\"__object__\":\"Uint8Array\""#) || b.starts_with(br#""{\"__object__\":\"Map\""#),
        _ => false,
    }
}

/// The cache of one driver. Its references are only touched on the JS thread that created
/// them: every method takes that thread's `env` and checks the thread before using them.
#[derive(Default)]
pub struct JsCache(Mutex<Option<Values>>);

impl JsCache {
    fn with<R>(&self, env: sys::napi_env, f: impl FnOnce(&mut Values) -> R) -> Option<R> {
        let env = env as usize;
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let values =
            guard.get_or_insert_with(|| Values { env, thread: std::thread::current().id(), by_context: FastMap::default(), count: 0 });
        (values.thread == std::thread::current().id() && values.env == env).then(|| f(values))
    }

    /// The JS value for `value`, stored under `ctx`/`key`: the cached one while the store
    /// holds the same allocation, otherwise built by `build` (which may run JavaScript; no
    /// lock is held meanwhile) and cached.
    pub fn get_or_build(
        &self,
        env: sys::napi_env,
        ctx: &JsStr,
        key: &JsStr,
        value: &Encoded,
        build: impl FnOnce() -> Res<sys::napi_value>,
    ) -> Res<sys::napi_value> {
        if !worth_caching(value) {
            return build();
        }
        let js_env = Env::from_raw(env);
        let cached = self
            .with(env, |v| {
                let entry = v.by_context.get(ctx)?.get(key)?;
                // The reference belongs to this env and thread (checked by `with`) and is alive
                // (entries delete their reference only when removed).
                (entry.value.id() == value.id()).then(|| entry.reference.get_value(&js_env).map(|o| o.raw()))
            })
            .flatten()
            .transpose()?;
        if let Some(out) = cached.filter(|out| !out.is_null()) {
            return Ok(out);
        }
        let js = build()?;
        // `worth_caching` only admits values that materialize as objects; one strong reference.
        let reference: Reference = Object::from_raw(env, js).create_ref()?;
        let mut reference = Some(reference);
        self.with(env, |v| {
            let Some(reference) = reference.take() else { return };
            if v.count >= MAX_ENTRIES {
                v.clear();
            }
            let keys = v.by_context.entry(ctx.to_js_string()).or_default();
            match keys.insert(key.to_js_string(), Entry { value: value.clone(), reference }) {
                Some(old) => v.delete(old.reference),
                None => v.count += 1,
            }
        });
        if let Some(unstored) = reference {
            // Created just above in this env, on this thread, not stored anywhere.
            let _ = unstored.unref(&js_env);
        }
        Ok(js)
    }

    /// Drops the entry of a key whose value is gone from the store.
    pub fn forget(&self, env: sys::napi_env, ctx: &JsStr, key: &JsStr) {
        self.with(env, |v| v.forget(ctx, key));
    }

    /// Drops what `ops` are about to change.
    pub fn forget_ops(&self, env: sys::napi_env, ops: &[Op]) {
        self.with(env, |v| {
            for op in ops {
                match op {
                    Op::Upd { key, values, .. } => {
                        for (k, _) in values {
                            v.forget(key, k);
                        }
                    }
                    Op::Del { key, values: Some(keys) } => {
                        for k in keys {
                            v.forget(key, k);
                        }
                    }
                    Op::Del { key, values: None } => v.forget_tree(key),
                }
            }
        });
    }

    /// Drops everything (on close).
    pub fn clear(&self, env: sys::napi_env) {
        self.with(env, Values::clear);
    }
}

impl Drop for JsCache {
    fn drop(&mut self) {
        let values = self.0.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = values {
            if v.thread == std::thread::current().id() {
                v.clear();
            }
            // Elsewhere the references cannot be touched; Node frees them with the environment.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::worth_caching;
    use crate::codec::stored::Encoded;
    use crate::codec::value::Value;

    fn encoded(v: Value) -> Encoded {
        Encoded::from_value(&v)
    }

    #[test]
    fn objects_arrays_bytes_and_maps_are_cached_primitives_are_not() {
        assert!(worth_caching(&Encoded::from_json_str(r#"{"a":1}"#).unwrap()));
        assert!(worth_caching(&Encoded::from_json_str("[1,2]").unwrap()));
        // Top-level bytes and Maps are marker strings: `"{\"__object__\":\"Uint8Array\",…"`.
        assert!(worth_caching(&encoded(Value::Bytes(vec![1, 2]))));
        assert!(worth_caching(&encoded(Value::Map(vec![(Value::Number(1.0), Value::Null)]))));
        for primitive in [Value::Number(1.0), Value::Null, Value::Bool(true), Value::BigInt("12".into()), Value::Undefined] {
            assert!(!worth_caching(&encoded(primitive)));
        }
        assert!(!worth_caching(&Encoded::from_json_str(r#""text""#).unwrap()));
        assert!(!worth_caching(&encoded(Value::String(r#"{"Map" and "Uint8Array", a string"#.into()))));
    }
}
