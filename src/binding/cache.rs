//! Materialized JS values of recently read values. matter.js's driver hands out the very
//! object it keeps in its cache; we keep the JS value built the last time a stored value
//! was read, keyed by the identity of its `Arc` (the store replaces the `Arc` whenever a key
//! is written), so a warm `get` costs one pointer-hash lookup instead of rebuilding the
//! object through Node-API. Entries hold their `Arc`, so an address is never reused while
//! cached.

use std::collections::HashMap;
use std::ptr;
use std::thread::ThreadId;

use napi::sys;

use super::convert::{check, Res, Writer};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use crate::encoded::Encoded;

/// Entries kept before the cache starts over; bounds memory for huge stores.
const MAX_ENTRIES: usize = 100_000;

pub struct JsCache {
    env: sys::napi_env,
    thread: ThreadId,
    by_value: FastMap<usize, (Encoded, sys::napi_ref)>,
}

// Only used on the JS thread that created it (checked in Drop); the Mutex around it is
// what lets the driver state cross threads at all.
unsafe impl Send for JsCache {}

impl JsCache {
    pub fn new(env: sys::napi_env) -> Self {
        JsCache { env, thread: std::thread::current().id(), by_value: FastMap::default() }
    }

    /// The JS value for a stored value, reusing the one built last time for the same `Arc`.
    pub fn value(&mut self, env: sys::napi_env, value: &Encoded) -> Res<sys::napi_value> {
        if !worth_caching(value) {
            return Writer::new(env).write(&value.decode());
        }
        let id = value.id();
        if let Some((_, reference)) = self.by_value.get(&id) {
            let mut out = ptr::null_mut();
            check!(sys::napi_get_reference_value(env, *reference, &mut out));
            if !out.is_null() {
                return Ok(out);
            }
        }
        let js = Writer::new(env).write(&value.decode())?;
        let mut reference = ptr::null_mut();
        check!(sys::napi_create_reference(env, js, 1, &mut reference));
        if self.by_value.len() >= MAX_ENTRIES {
            self.clear();
        }
        if let Some((_, old)) = self.by_value.insert(id, (value.clone(), reference)) {
            unsafe { sys::napi_delete_reference(env, old) };
        }
        Ok(js)
    }

    /// Drops every cached value.
    pub fn clear(&mut self) {
        for (_, (_, reference)) in self.by_value.drain() {
            unsafe { sys::napi_delete_reference(self.env, reference) };
        }
    }
}

/// Objects only: Node-API before version 10 can only reference objects, and primitives are
/// cheap to rebuild anyway. Objects, arrays, and marker strings for bytes and Maps (bigints
/// are primitives, undefined too).
fn worth_caching(v: &Encoded) -> bool {
    match v.bytes().first() {
        Some(b'{') | Some(b'[') => true,
        Some(b'"') => {
            let b = v.bytes();
            b.starts_with(br#""{"__object__":"Uint8Array""#) || b.starts_with(br#""{"__object__":"Map""#)
        }
        _ => false,
    }
}

impl Drop for JsCache {
    fn drop(&mut self) {
        if std::thread::current().id() == self.thread {
            self.clear();
        }
        // Elsewhere the references cannot be touched; Node frees them with the environment.
    }
}

/// The cache slot of a driver: only ever touched on the JS thread that owns the driver
/// (napi calls and dispatcher jobs), so a plain cell suffices; the thread is checked.
#[derive(Default)]
pub struct JsThreadCell(std::cell::UnsafeCell<Option<JsCache>>);

// Access is confined to the owning JS thread (asserted in `with`).
unsafe impl Sync for JsThreadCell {}
unsafe impl Send for JsThreadCell {}

impl JsThreadCell {
    pub fn with<R>(&self, env: sys::napi_env, f: impl FnOnce(&mut JsCache) -> R) -> R {
        // Safety: only the JS thread reaches here and calls do not nest (f never re-enters).
        let slot = unsafe { &mut *self.0.get() };
        let cache = slot.get_or_insert_with(|| JsCache::new(env));
        assert_eq!(cache.thread, std::thread::current().id(), "JS value cache used off its thread");
        f(cache)
    }

    pub fn clear(&self, _env: sys::napi_env) {
        let slot = unsafe { &mut *self.0.get() };
        if let Some(mut c) = slot.take() {
            if c.thread == std::thread::current().id() {
                c.clear();
            }
        }
    }
}
