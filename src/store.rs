//! The committed state: context key → (key → value), both levels in JavaScript property
//! order and both persistent (structurally shared), so taking a consistent view for a
//! snapshot or a transaction is O(1) and never blocks the writer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::codec::jsstr::{JsStr, JsString};
use crate::codec::stored::Encoded;
use crate::codec::value::array_index;
use crate::log::commit::Op;

/// Where a key sorts: canonical array-index keys first (ascending), then every other key in
/// the order it was first inserted — JavaScript's own-property order for plain objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Slot {
    Index(u32),
    Seq(u64),
}

/// Insertion sequence shared by all maps; only its monotonicity matters.
static NEXT_SEQ: AtomicU64 = AtomicU64::new(0);

fn slot_for(key: &JsStr) -> Slot {
    match array_index(key) {
        Some(i) => Slot::Index(i),
        None => Slot::Seq(NEXT_SEQ.fetch_add(1, Ordering::Relaxed)),
    }
}

/// Key index of an [`OrderedMap`]: a persistent hash map with a fast (non-SipHash) hasher;
/// keys are context names and storage keys, not attacker-chosen hash-flooding input.
type KeyIndex<V> = imbl::GenericHashMap<Arc<JsStr>, (Slot, V), foldhash::fast::RandomState, imbl::shared_ptr::DefaultSharedPtr>;

/// A persistent map that iterates in JavaScript property order. Cloning is O(1).
#[derive(Clone)]
pub struct OrderedMap<V: Clone> {
    by_key: KeyIndex<V>,
    order: imbl::OrdMap<Slot, Arc<JsStr>>,
}

impl<V: Clone> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap { by_key: KeyIndex::default(), order: imbl::OrdMap::new() }
    }
}

impl<V: Clone> OrderedMap<V> {
    pub fn get(&self, key: &JsStr) -> Option<&V> {
        self.by_key.get(key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &JsStr) -> Option<&mut V> {
        self.by_key.get_mut(key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &JsStr) -> bool {
        self.by_key.contains_key(key)
    }

    /// Sets `key`; an existing key keeps its position, as in JavaScript.
    pub fn insert(&mut self, key: &JsStr, value: V) {
        if let Some(entry) = self.by_key.get_mut(key) {
            entry.1 = value;
            return;
        }
        let key: Arc<JsStr> = Arc::from(key);
        let slot = slot_for(&key);
        self.order.insert(slot, key.clone());
        self.by_key.insert(key, (slot, value));
    }

    pub fn remove(&mut self, key: &JsStr) -> Option<V> {
        let (slot, value) = self.by_key.remove(key)?;
        self.order.remove(&slot);
        Some(value)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Keys in JavaScript order.
    pub fn keys(&self) -> impl Iterator<Item = &Arc<JsStr>> + '_ {
        self.order.values()
    }

    /// Entries in JavaScript order.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<JsStr>, &V)> + '_ {
        self.order.values().map(move |k| (k, &self.by_key.get(k.as_ref()).expect("order and index agree").1))
    }
}

/// Contexts up to this many keys are a plain copy-on-write vector: imbl's fixed-size nodes
/// cost ~400 bytes per key in the 10–30-key contexts matter.js writes, a vector ~32.
const SMALL_CONTEXT: usize = 64;

/// The keys and values of one context, in JavaScript order. Cloning is O(1) either way.
#[derive(Clone)]
pub enum Context {
    /// Entries with a 32-bit hash of their key, compared before the key itself: most keys
    /// of a context share a prefix ("attr1", "attr12", …), which makes plain comparisons slow.
    Small(Arc<Vec<(u32, Arc<JsStr>, Encoded)>>),
    Large(OrderedMap<Encoded>),
}

/// Cheap key hash for small-context lookups (FNV-1a).
fn key_hash(key: &JsStr) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in key.as_bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    h
}

impl Default for Context {
    fn default() -> Self {
        Context::Small(Arc::new(Vec::new()))
    }
}

impl Context {
    pub fn get<K: AsRef<JsStr> + ?Sized>(&self, key: &K) -> Option<&Encoded> {
        let key = key.as_ref();
        match self {
            Context::Small(v) => {
                let h = key_hash(key);
                v.iter().find(|(kh, k, _)| *kh == h && k.as_ref() == key).map(|(_, _, e)| e)
            }
            Context::Large(m) => m.get(key),
        }
    }

    /// Sets `key`; an existing key keeps its position, a new index key goes among the index
    /// keys, any other new key last.
    pub fn insert<K: AsRef<JsStr> + ?Sized>(&mut self, key: &K, value: Encoded) {
        let key = key.as_ref();
        match self {
            Context::Small(v) => {
                let h = key_hash(key);
                if let Some(pos) = v.iter().position(|(kh, k, _)| *kh == h && k.as_ref() == key) {
                    Arc::make_mut(v)[pos].2 = value;
                    return;
                }
                if v.len() >= SMALL_CONTEXT {
                    let mut m = OrderedMap::default();
                    for (_, k, e) in v.iter() {
                        m.insert(k, e.clone());
                    }
                    m.insert(key, value);
                    *self = Context::Large(m);
                    return;
                }
                let entries = Arc::make_mut(v);
                let pos = match array_index(key) {
                    Some(idx) => {
                        entries.iter().position(|(_, k, _)| array_index(k).is_none_or(|other| other > idx)).unwrap_or(entries.len())
                    }
                    None => entries.len(),
                };
                entries.insert(pos, (h, Arc::from(key), value));
            }
            Context::Large(m) => m.insert(key, value),
        }
    }

    pub fn remove<K: AsRef<JsStr> + ?Sized>(&mut self, key: &K) -> Option<Encoded> {
        let key = key.as_ref();
        match self {
            Context::Small(v) => {
                let h = key_hash(key);
                let pos = v.iter().position(|(kh, k, _)| *kh == h && k.as_ref() == key)?;
                Some(Arc::make_mut(v).remove(pos).2)
            }
            Context::Large(m) => m.remove(key),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Context::Small(v) => v.len(),
            Context::Large(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys in JavaScript order.
    pub fn keys(&self) -> Box<dyn Iterator<Item = &Arc<JsStr>> + '_> {
        match self {
            Context::Small(v) => Box::new(v.iter().map(|(_, k, _)| k)),
            Context::Large(m) => Box::new(m.keys()),
        }
    }

    /// Entries in JavaScript order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&Arc<JsStr>, &Encoded)> + '_> {
        match self {
            Context::Small(v) => Box::new(v.iter().map(|(_, k, e)| (k, e))),
            Context::Large(m) => Box::new(m.iter()),
        }
    }
}

/// matter.js's rule for a joined context key: every segment non-empty (so no segment held a
/// dot); `""` is the root. (`lib/api.cjs` checks the segments themselves before joining.)
pub fn valid_context_key(key: &JsStr) -> bool {
    key.is_empty() || key.split_dots().all(|part| !part.is_empty())
}

/// All committed data: what matter.js's driver keeps as `StoreData`.
#[derive(Clone, Default)]
pub struct StoreData {
    contexts: OrderedMap<Context>,
}

impl StoreData {
    /// Applies one commit's ops in order, with matter.js's semantics.
    pub fn apply(&mut self, ops: &[Op]) {
        for op in ops {
            match op {
                Op::Upd { key, values, .. } => {
                    if !self.contexts.contains_key(key) {
                        self.contexts.insert(key, Context::default());
                    }
                    let ctx = self.contexts.get_mut(key).expect("just inserted");
                    for (k, v) in values {
                        // A key set to `undefined` is gone, as a property the reviver deletes
                        // (matter.js keeps it in its cache until a reload, then keeps the
                        // key's previous value; see the README's table of differences).
                        if v.is_undefined() {
                            ctx.remove(k);
                        } else {
                            ctx.insert(k, v.clone());
                        }
                    }
                }
                Op::Del { key, values: Some(keys) } => {
                    if let Some(ctx) = self.contexts.get_mut(key) {
                        for k in keys {
                            ctx.remove(k);
                        }
                    }
                }
                Op::Del { key, values: None } => self.clear_context(key),
            }
        }
    }

    /// Removes a context and every sub-context below it; `""` removes everything.
    fn clear_context(&mut self, key: &JsStr) {
        if key.is_empty() {
            self.contexts.clear();
            return;
        }
        self.contexts.remove(key);
        let mut prefix = key.to_js_string();
        prefix.push_str(".");
        let doomed: Vec<Arc<JsStr>> = self.contexts.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
        for k in doomed {
            self.contexts.remove(&k);
        }
    }

    /// The values of the context `key` (not of its sub-contexts).
    pub fn context<K: AsRef<JsStr> + ?Sized>(&self, key: &K) -> Option<&Context> {
        let key = key.as_ref();
        self.contexts.get(key)
    }

    /// The value of `key` in `context`.
    pub fn get<C: AsRef<JsStr> + ?Sized, K: AsRef<JsStr> + ?Sized>(&self, context: &C, key: &K) -> Option<&Encoded> {
        let (context, key) = (context.as_ref(), key.as_ref());
        self.contexts.get(context)?.get(key)
    }

    /// The keys of `context`, in JavaScript property order.
    pub fn keys<C: AsRef<JsStr> + ?Sized>(&self, context: &C) -> Vec<Arc<JsStr>> {
        let context = context.as_ref();
        self.contexts.get(context).map(|c| c.keys().cloned().collect()).unwrap_or_default()
    }

    /// The distinct first segments of the context keys below `context` (`""` = top level),
    /// in the order they first appear.
    pub fn sub_contexts<C: AsRef<JsStr> + ?Sized>(&self, context: &C) -> Vec<JsString> {
        let context = context.as_ref();
        let mut prefix = context.to_js_string();
        if !context.is_empty() {
            prefix.push_str(".");
        }
        let mut found: Vec<JsString> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for key in self.contexts.keys() {
            if let Some(rest) = key.strip_prefix(&prefix) {
                let first = rest.split_dots().next().unwrap_or(JsStr::new(""));
                if !first.is_empty() && seen.insert(first) {
                    found.push(first.to_js_string());
                }
            }
        }
        found
    }

    /// Contexts in JavaScript order.
    pub fn contexts(&self) -> impl Iterator<Item = (&Arc<JsStr>, &Context)> + '_ {
        self.contexts.iter()
    }

    /// Replaces or creates a whole context (used when loading a snapshot).
    pub fn put_context<K: AsRef<JsStr> + ?Sized>(&mut self, key: &K, ctx: Context) {
        let key = key.as_ref();
        self.contexts.insert(key, ctx);
    }

    /// How many contexts hold values.
    pub fn context_count(&self) -> usize {
        self.contexts.len()
    }

    /// How many values there are in all.
    pub fn key_count(&self) -> usize {
        self.contexts.iter().map(|(_, c)| c.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::value::Value;

    fn upd(key: &str, pairs: &[(&str, f64)]) -> Op {
        Op::upd(key, pairs.iter().map(|(k, v)| (JsString::from(*k), Encoded::from_value(&Value::Number(*v)))).collect())
    }

    fn keys(store: &StoreData, ctx: &str) -> Vec<String> {
        store.keys(ctx).iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn applies_updates_in_javascript_order() {
        let mut s = StoreData::default();
        s.apply(&[upd("a", &[("z", 1.0), ("2", 2.0), ("b", 3.0), ("1", 4.0)])]);
        s.apply(&[upd("a", &[("z", 5.0)])]);
        assert_eq!(keys(&s, "a"), ["1", "2", "z", "b"]);
        assert_eq!(s.get("a", "z").unwrap().decode(), Value::Number(5.0));
    }

    #[test]
    fn delete_keys_keeps_the_context() {
        let mut s = StoreData::default();
        s.apply(&[upd("a", &[("k", 1.0)]), Op::Del { key: "a".into(), values: Some(vec!["k".into()]) }]);
        assert!(s.context("a").is_some());
        assert!(s.get("a", "k").is_none());
        assert_eq!(s.sub_contexts(""), ["a"]);
    }

    #[test]
    fn clear_all_removes_sub_contexts_only_below_the_dot() {
        let mut s = StoreData::default();
        s.apply(&[upd("a", &[("k", 1.0)]), upd("a.b", &[("k", 1.0)]), upd("a.b.c", &[("k", 1.0)]), upd("ab", &[("k", 1.0)])]);
        assert_eq!(s.sub_contexts("a"), ["b"]);
        s.apply(&[Op::Del { key: "a".into(), values: None }]);
        assert_eq!(s.sub_contexts(""), ["ab"]);
        s.apply(&[Op::Del { key: "".into(), values: None }]);
        assert_eq!(s.context_count(), 0);
    }

    #[test]
    fn clones_are_isolated_views() {
        let mut s = StoreData::default();
        s.apply(&[upd("a", &[("k", 1.0)])]);
        let view = s.clone();
        s.apply(&[upd("a", &[("k", 2.0)]), upd("b", &[("x", 1.0)])]);
        assert_eq!(view.get("a", "k").unwrap().decode(), Value::Number(1.0));
        assert_eq!(view.context_count(), 1);
        assert_eq!(s.get("a", "k").unwrap().decode(), Value::Number(2.0));
    }

    #[test]
    fn large_contexts_keep_order_and_values_after_growing() {
        let mut s = StoreData::default();
        let pairs: Vec<(String, f64)> =
            (0..200).rev().map(|i| (if i % 3 == 0 { i.to_string() } else { format!("k{i}") }, i as f64)).collect();
        let refs: Vec<(&str, f64)> = pairs.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        s.apply(&[upd("big", &refs)]);
        let ks = keys(&s, "big");
        assert_eq!(ks.len(), 200);
        // index keys ascending first, then the others in insertion order
        let index: Vec<u32> = ks.iter().take_while(|k| !k.starts_with('k')).map(|k| k.parse().unwrap()).collect();
        assert!(index.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ks[index.len()], "k199");
        assert_eq!(s.get("big", "k5").unwrap().decode(), Value::Number(5.0));
        let view = s.clone();
        s.apply(&[Op::Del { key: "big".into(), values: Some(vec!["k5".into()]) }]);
        assert!(s.get("big", "k5").is_none());
        assert!(view.get("big", "k5").is_some());
    }

    #[test]
    fn deleted_then_reinserted_key_moves_to_the_end() {
        let mut s = StoreData::default();
        s.apply(&[upd("a", &[("x", 1.0), ("y", 1.0)])]);
        s.apply(&[Op::Del { key: "a".into(), values: Some(vec!["x".into()]) }, upd("a", &[("x", 1.0)])]);
        assert_eq!(keys(&s, "a"), ["y", "x"]);
    }
}
