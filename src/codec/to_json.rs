//! JSON encoder producing exactly the bytes of matter.js's `toJson` (StringifyTools).
//!
//! `toJson` is `JSON.stringify` with a replacer that turns the values JSON cannot carry
//! into *strings* holding a small JSON object (`{"__object__":"BigInt","__value__":"5"}`
//! and so on). Those strings are then quoted like any other string, so on the wire the
//! marker's own quotes appear escaped. A `Map`'s marker embeds the compact encoding of its
//! entry list as a JSON string, which therefore gets escaped twice.
//!

use crate::codec::ecma::{js_to_uint8, push_js_number};
use crate::codec::jsstr::JsStr;
use crate::codec::value::Value;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `"{\"__object__\":\"Undefined\"}"` — what `undefined` becomes anywhere in the tree.
pub(crate) const UNDEFINED_QUOTED: &[u8] = br#""{\"__object__\":\"Undefined\"}""#;
const BIGINT_OPEN: &[u8] = br#""{\"__object__\":\"BigInt\",\"__value__\":\""#;
const BYTES_OPEN: &[u8] = br#""{\"__object__\":\"Uint8Array\",\"__value__\":\""#;
/// Closes a BigInt or Uint8Array marker: `\"}` plus the outer closing quote.
const MARKER_CLOSE: &[u8] = br#"\"}""#;
const MAP_OPEN: &str = r#"{"__object__":"Map","__value__":"#;

/// Appends the compact `toJson(v)` encoding of `v`.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    write_any(out, v, None);
}

/// Appends `v` as `toJson(container, 2)` prints it (the tests' reference for the
/// re-indenting snapshot writer, which works on stored bytes) when `v` sits at nesting depth `level`
/// (0 = the top-level value). The opening bracket is not indented; children get
/// `2 * (level + 1)` spaces and the closing bracket `2 * level`.
#[cfg(test)]
pub fn write_value_pretty(out: &mut Vec<u8>, v: &Value, level: usize) {
    write_any(out, v, Some(level));
}

/// Appends `s` quoted the way `JSON.stringify` quotes a string: `"` and `\` escaped, the
/// short escapes `\b \f \n \r \t`, other control characters and lone surrogates as
/// `\uxxxx` (lowercase hex), everything else (including U+007F and U+2028/2029) as raw UTF-8.
pub fn write_js_string(out: &mut Vec<u8>, s: &JsStr) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => &[],
            // A lone surrogate (WTF-8 `ED A0..BF xx`): JSON.stringify writes it as an escape.
            0xed if bytes.get(i + 1).is_some_and(|b1| *b1 >= 0xa0) => {
                out.extend_from_slice(&bytes[start..i]);
                let unit = 0xd000 | ((bytes[i + 1] as u32 & 0x3f) << 6) | (bytes[i + 2] as u32 & 0x3f);
                push_unicode_escape(out, unit);
                i += 3;
                start = i;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            push_unicode_escape(out, b as u32);
        } else {
            out.extend_from_slice(esc);
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn push_unicode_escape(out: &mut Vec<u8>, unit: u32) {
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((unit >> shift) & 0xf) as usize]);
    }
}

/// Appends `n` as `JSON.stringify(n)` does: ECMAScript `Number::toString` for finite
/// values (`-0` prints as `0`), `null` for NaN and the infinities.
pub fn write_number(out: &mut Vec<u8>, n: f64) {
    if n.is_finite() {
        push_js_number(out, n);
    } else {
        out.extend_from_slice(b"null");
    }
}

fn write_any(out: &mut Vec<u8>, v: &Value, indent: Option<usize>) {
    match v {
        Value::Undefined => out.extend_from_slice(UNDEFINED_QUOTED),
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, *n),
        Value::Interval(marker) => write_js_string(out, marker),
        Value::String(s) => write_js_string(out, s),
        Value::BigInt(digits) => write_bigint_marker(out, digits),
        Value::Bytes(bytes) => write_bytes_marker(out, bytes.iter().copied()),
        Value::Array(items) => {
            if items.is_empty() {
                out.extend_from_slice(b"[]");
                return;
            }
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let child = newline_indent(out, indent);
                write_any(out, item, child);
            }
            close_indent(out, indent);
            out.push(b']');
        }
        Value::Object(obj) => {
            if let Some(data) = buffer_like_data(v) {
                // The replacer's Node `Buffer` branch matches any plain object shaped like
                // `Buffer.prototype.toJSON()`'s output and writes it as bytes.
                write_bytes_marker(out, data.iter().map(js_to_uint8));
                return;
            }
            if obj.is_empty() {
                out.extend_from_slice(b"{}");
                return;
            }
            out.push(b'{');
            for (i, (key, value)) in obj.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let child = newline_indent(out, indent);
                write_js_string(out, key);
                out.push(b':');
                if child.is_some() {
                    out.push(b' ');
                }
                write_any(out, value, child);
            }
            close_indent(out, indent);
            out.push(b'}');
        }
        Value::Map(entries) => {
            // The marker text: `{"__object__":"Map","__value__":<quoted compact entries>}`,
            // and that whole text is then a string value itself.
            let mut inner = Vec::with_capacity(16 * entries.len() + 2);
            inner.push(b'[');
            for (i, (k, val)) in entries.iter().enumerate() {
                if i > 0 {
                    inner.push(b',');
                }
                inner.push(b'[');
                write_any(&mut inner, k, None);
                inner.push(b',');
                write_any(&mut inner, val, None);
                inner.push(b']');
            }
            inner.push(b']');
            // The encoder escapes lone surrogates, so its output is plain UTF-8 text.
            let inner = String::from_utf8(inner).expect("encoder emits UTF-8");
            let mut marker = Vec::with_capacity(MAP_OPEN.len() + inner.len() * 2 + 3);
            marker.extend_from_slice(MAP_OPEN.as_bytes());
            write_js_string(&mut marker, JsStr::new(&inner));
            marker.push(b'}');
            let marker = String::from_utf8(marker).expect("encoder emits UTF-8");
            write_js_string(out, JsStr::new(&marker));
        }
    }
}

/// In pretty mode, starts a new line indented for a child of a container at `indent`, and
/// returns the child's own level.
fn newline_indent(out: &mut Vec<u8>, indent: Option<usize>) -> Option<usize> {
    let level = indent? + 1;
    out.push(b'\n');
    out.resize(out.len() + 2 * level, b' ');
    Some(level)
}

fn close_indent(out: &mut Vec<u8>, indent: Option<usize>) {
    if let Some(level) = indent {
        out.push(b'\n');
        out.resize(out.len() + 2 * level, b' ');
    }
}

pub(crate) fn write_bigint_marker(out: &mut Vec<u8>, digits: &str) {
    if digits.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        out.extend_from_slice(BIGINT_OPEN);
        out.extend_from_slice(digits.as_bytes());
        out.extend_from_slice(MARKER_CLOSE);
    } else {
        // Not canonical decimal (should not happen); still emit valid, faithfully escaped JSON.
        let marker = format!(r#"{{"__object__":"BigInt","__value__":"{digits}"}}"#);
        write_js_string(out, JsStr::new(&marker));
    }
}

pub(crate) fn write_bytes_marker(out: &mut Vec<u8>, bytes: impl ExactSizeIterator<Item = u8>) {
    out.reserve(BYTES_OPEN.len() + 2 * bytes.len() + MARKER_CLOSE.len());
    out.extend_from_slice(BYTES_OPEN);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 0xf) as usize]);
    }
    out.extend_from_slice(MARKER_CLOSE);
}

/// `toJson` treats any plain object whose `type` is the string `"Buffer"` and whose `data`
/// is an array as a Node Buffer (that is the shape `Buffer#toJSON` produces).
fn buffer_like_data(v: &Value) -> Option<&Vec<Value>> {
    let Value::Object(obj) = v else { return None };
    match (obj.get("type"), obj.get("data")) {
        (Some(Value::String(t)), Some(Value::Array(data))) if t == "Buffer" => Some(data),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    //! Expected bytes below are what matter.js 0.17.9's own `toJson` gave for the same values
    //! in Node 20, not written by hand; `__test__/differential.test.mjs` compares the two
    //! over the whole value space.
    use super::*;
    use crate::codec::value::JsObject;

    fn compact(v: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn pretty(v: &Value) -> String {
        let mut out = Vec::new();
        write_value_pretty(&mut out, v, 0);
        String::from_utf8(out).unwrap()
    }

    fn obj(entries: Vec<(&str, Value)>) -> Value {
        let mut o = JsObject::new();
        for (k, v) in entries {
            o.insert(k.to_string(), v);
        }
        Value::Object(o)
    }

    fn s(x: &str) -> Value {
        Value::String(x.into())
    }

    #[test]
    fn numbers_match_json_stringify() {
        // node: toJson([1e21,5e-7,0.1,123456789012345680000,-0,NaN,Infinity,-Infinity,1e-7,123e-20])
        let v = Value::Array(
            [1e21, 5e-7, 0.1, 123456789012345680000.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e-7, 123e-20]
                .into_iter()
                .map(Value::Number)
                .collect(),
        );
        assert_eq!(compact(&v), "[1e+21,5e-7,0.1,123456789012345680000,0,null,null,null,1e-7,1.23e-18]");
        // node: toJson([1e300, -1.5e-300, 5e-324, 1.7976931348623157e308, 2**53, 0.000001, 1e20, -123.456])
        let v = Value::Array(
            [1e300, -1.5e-300, 5e-324, f64::MAX, 9007199254740992.0, 0.000001, 1e20, -123.456].into_iter().map(Value::Number).collect(),
        );
        assert_eq!(
            compact(&v),
            "[1e+300,-1.5e-300,5e-324,1.7976931348623157e+308,9007199254740992,0.000001,100000000000000000000,-123.456]"
        );
    }

    #[test]
    fn strings_escape_like_json_stringify() {
        // node: toJson("\u0000\u001f\u007f\u2028\"\\\b\f\n\r\tx\u00e9\u{1F600}")
        let v = s("\u{0}\u{1f}\u{7f}\u{2028}\"\\\u{8}\u{c}\n\r\tx\u{e9}\u{1F600}");
        assert_eq!(compact(&v), "\"\\u0000\\u001f\u{7f}\u{2028}\\\"\\\\\\b\\f\\n\\r\\tx\u{e9}\u{1F600}\"");
    }

    #[test]
    fn undefined_everywhere_becomes_a_marker_string() {
        // node: toJson(undefined)
        assert_eq!(compact(&Value::Undefined), r#""{\"__object__\":\"Undefined\"}""#);
        // node: toJson({a: undefined, b: [undefined], c: new Map([[undefined, undefined]])})
        let v = obj(vec![
            ("a", Value::Undefined),
            ("b", Value::Array(vec![Value::Undefined])),
            ("c", Value::Map(vec![(Value::Undefined, Value::Undefined)])),
        ]);
        assert_eq!(
            compact(&v),
            r#"{"a":"{\"__object__\":\"Undefined\"}","b":["{\"__object__\":\"Undefined\"}"],"c":"{\"__object__\":\"Map\",\"__value__\":\"[[\\\"{\\\\\\\"__object__\\\\\\\":\\\\\\\"Undefined\\\\\\\"}\\\",\\\"{\\\\\\\"__object__\\\\\\\":\\\\\\\"Undefined\\\\\\\"}\\\"]]\"}"}"#
        );
    }

    #[test]
    fn bigint_and_bytes_markers() {
        // node: toJson({x: -12n, y: 0n, b: new Uint8Array([1, 255, 0x0a]), e: new Uint8Array(0)})
        let v = obj(vec![
            ("x", Value::BigInt("-12".into())),
            ("y", Value::BigInt("0".into())),
            ("b", Value::Bytes(vec![1, 255, 10])),
            ("e", Value::Bytes(vec![])),
        ]);
        assert_eq!(
            compact(&v),
            r#"{"x":"{\"__object__\":\"BigInt\",\"__value__\":\"-12\"}","y":"{\"__object__\":\"BigInt\",\"__value__\":\"0\"}","b":"{\"__object__\":\"Uint8Array\",\"__value__\":\"01ff0a\"}","e":"{\"__object__\":\"Uint8Array\",\"__value__\":\"\"}"}"#
        );
    }

    #[test]
    fn map_marker_nests_escaping_and_stays_compact_in_pretty_mode() {
        // node: toJson({c: new Map([[1n, {x: new Uint8Array([1,255])}], ["k\n", new Map([[1,2]])]]), d: [], e: {}}, 2)
        let v = obj(vec![
            (
                "c",
                Value::Map(vec![
                    (Value::BigInt("1".into()), obj(vec![("x", Value::Bytes(vec![1, 255]))])),
                    (s("k\n"), Value::Map(vec![(Value::Number(1.0), Value::Number(2.0))])),
                ]),
            ),
            ("d", Value::Array(vec![])),
            ("e", obj(vec![])),
        ]);
        let expected = "{\n  \"c\": \"{\\\"__object__\\\":\\\"Map\\\",\\\"__value__\\\":\\\"[[\\\\\\\"{\\\\\\\\\\\\\\\"__object__\\\\\\\\\\\\\\\":\\\\\\\\\\\\\\\"BigInt\\\\\\\\\\\\\\\",\\\\\\\\\\\\\\\"__value__\\\\\\\\\\\\\\\":\\\\\\\\\\\\\\\"1\\\\\\\\\\\\\\\"}\\\\\\\",{\\\\\\\"x\\\\\\\":\\\\\\\"{\\\\\\\\\\\\\\\"__object__\\\\\\\\\\\\\\\":\\\\\\\\\\\\\\\"Uint8Array\\\\\\\\\\\\\\\",\\\\\\\\\\\\\\\"__value__\\\\\\\\\\\\\\\":\\\\\\\\\\\\\\\"01ff\\\\\\\\\\\\\\\"}\\\\\\\"}],[\\\\\\\"k\\\\\\\\n\\\\\\\",\\\\\\\"{\\\\\\\\\\\\\\\"__object__\\\\\\\\\\\\\\\":\\\\\\\\\\\\\\\"Map\\\\\\\\\\\\\\\",\\\\\\\\\\\\\\\"__value__\\\\\\\\\\\\\\\":\\\\\\\\\\\\\\\"[[1,2]]\\\\\\\\\\\\\\\"}\\\\\\\"]]\\\"}\",\n  \"d\": [],\n  \"e\": {}\n}";
        assert_eq!(pretty(&v), expected);
        // node: toJson(new Map())
        assert_eq!(compact(&Value::Map(vec![])), r#""{\"__object__\":\"Map\",\"__value__\":\"[]\"}""#);
    }

    #[test]
    fn pretty_nesting_levels() {
        // node: toJson({a: [1, {b: [], c: [2, 3]}], "1": {}, z: null}, 2)
        let v = obj(vec![
            (
                "a",
                Value::Array(vec![
                    Value::Number(1.0),
                    obj(vec![("b", Value::Array(vec![])), ("c", Value::Array(vec![Value::Number(2.0), Value::Number(3.0)]))]),
                ]),
            ),
            ("1", obj(vec![])),
            ("z", Value::Null),
        ]);
        let expected = "{\n  \"1\": {},\n  \"a\": [\n    1,\n    {\n      \"b\": [],\n      \"c\": [\n        2,\n        3\n      ]\n    }\n  ],\n  \"z\": null\n}";
        assert_eq!(pretty(&v), expected);
        // A value nested at level 2 (as a property value inside {x: {y: HERE}}).
        let inner = Value::Array(vec![Value::Bool(true)]);
        let mut out = Vec::new();
        write_value_pretty(&mut out, &inner, 2);
        assert_eq!(String::from_utf8(out).unwrap(), "[\n      true\n    ]");
        // Scalars print the same in both modes.
        assert_eq!(pretty(&Value::Number(0.5)), "0.5");
    }

    #[test]
    fn buffer_shaped_objects_become_bytes() {
        // node: toJson({b: Buffer.from([1,2,3])}) and
        //       toJson({type: "Buffer", data: [1, -1, 256.7, "0x10", " 7 ", null, true, "x", [5]], extra: 1})
        let v = obj(vec![(
            "b",
            obj(vec![("type", s("Buffer")), ("data", Value::Array(vec![Value::Number(1.0), Value::Number(2.0), Value::Number(3.0)]))]),
        )]);
        assert_eq!(compact(&v), r#"{"b":"{\"__object__\":\"Uint8Array\",\"__value__\":\"010203\"}"}"#);
        let v = obj(vec![
            ("type", s("Buffer")),
            (
                "data",
                Value::Array(vec![
                    Value::Number(1.0),
                    Value::Number(-1.0),
                    Value::Number(256.7),
                    s("0x10"),
                    s(" 7 "),
                    Value::Null,
                    Value::Bool(true),
                    s("x"),
                    Value::Array(vec![Value::Number(5.0)]),
                ]),
            ),
            ("extra", Value::Number(1.0)),
        ]);
        assert_eq!(compact(&v), r#""{\"__object__\":\"Uint8Array\",\"__value__\":\"01ff00100700010005\"}""#);
        // Not buffer-shaped: data is not an array.
        let v = obj(vec![("type", s("Buffer")), ("data", s("x"))]);
        assert_eq!(compact(&v), r#"{"type":"Buffer","data":"x"}"#);
    }
}
