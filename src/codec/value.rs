//! The typed value model: every value matter.js stores, with bigint, bytes, Map and
//! undefined kept distinct so they survive a round trip through the log unchanged.

use crate::codec::jsstr::{JsStr, JsString};

/// One stored value. Mirrors what `@matter/general`'s `SupportedStorageTypes` can hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `undefined`.
    Undefined,
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number (NaN, the infinities and -0 included).
    Number(f64),
    /// A JavaScript string (lone surrogates included, see [`JsString`]).
    String(JsString),
    /// A JavaScript bigint, kept as its canonical decimal text (`-12`, `0`, `340282366920938463463374607431768211456`).
    BigInt(String),
    /// A `Uint8Array` (or Node `Buffer`).
    Bytes(Vec<u8>),
    /// An array (`undefined` elements kept as such).
    Array(Vec<Value>),
    /// A plain object; keys are kept in JavaScript property order (see [`JsObject`]).
    Object(JsObject),
    /// A `Map`, entries in insertion order.
    Map(Vec<(Value, Value)>),
    /// What `fromJson` makes of a legacy `Interval` marker: `NaN` (it multiplies the marker
    /// object). JSON cannot hold NaN, so the marker string itself is kept (and written back
    /// unchanged), and reads as NaN every time — matter.js would turn it into `null` at its
    /// next snapshot.
    Interval(JsString),
}

/// A plain object's own properties in the order JavaScript enumerates them: array-index
/// keys ascending first, then the other keys in insertion order. Keeping that order is what
/// makes our JSON bytes equal to `JSON.stringify`'s.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JsObject(Vec<(JsString, Value)>);

impl JsObject {
    /// An empty object.
    pub fn new() -> Self {
        JsObject(Vec::new())
    }

    /// Builds an object from entries already in JavaScript order (e.g. read from a live JS object).
    pub fn from_ordered(entries: Vec<(JsString, Value)>) -> Self {
        JsObject(entries)
    }

    /// Sets a property with JavaScript semantics: an existing key keeps its position, a new
    /// array-index key is placed among the index keys, any other new key goes last.
    pub fn insert(&mut self, key: impl Into<JsString>, value: Value) {
        let key: JsString = key.into();
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
            return;
        }
        match array_index(&*key) {
            Some(idx) => {
                let pos = self.0.iter().position(|(k, _)| array_index(&**k).is_none_or(|other| other > idx)).unwrap_or(self.0.len());
                self.0.insert(pos, (key, value));
            }
            None => self.0.push((key, value)),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let pos = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(pos).1)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The properties in JavaScript order.
    pub fn iter(&self) -> impl Iterator<Item = (&JsString, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The number of properties.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no properties.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The properties in JavaScript order, owned.
    pub fn into_entries(self) -> Vec<(JsString, Value)> {
        self.0
    }
}

/// Returns the numeric value if `key` is a canonical JavaScript array index
/// (`"0"`, `"17"`, never `"01"` or `"-1"`, below 2^32 - 1). Such keys enumerate first.
pub fn array_index<K: AsRef<JsStr> + ?Sized>(key: &K) -> Option<u32> {
    let bytes = key.as_ref().as_bytes();
    if bytes.is_empty() || bytes.len() > 10 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes.len() > 1 && bytes[0] == b'0' {
        return None;
    }
    let n: u64 = std::str::from_utf8(bytes).ok()?.parse().ok()?;
    if n < u32::MAX as u64 {
        Some(n as u32)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_sort_first_like_javascript() {
        let mut o = JsObject::new();
        o.insert("z", Value::Null);
        o.insert("2", Value::Null);
        o.insert("a", Value::Null);
        o.insert("1", Value::Null);
        o.insert("01", Value::Null);
        o.insert("4294967295", Value::Null);
        let keys: Vec<String> = o.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, ["1", "2", "z", "a", "01", "4294967295"]);
    }

    #[test]
    fn existing_key_keeps_its_position() {
        let mut o = JsObject::new();
        o.insert("b", Value::Number(1.0));
        o.insert("a", Value::Number(2.0));
        o.insert("b", Value::Number(3.0));
        let entries: Vec<_> = o.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(entries[0], (JsString::from("b"), Value::Number(3.0)));
    }
}
