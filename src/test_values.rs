//! Value strategies shared by the property tests of the codec, the commit format and
//! snapshots: every shape of value matter.js stores, strings with lone surrogates included.

use proptest::prelude::*;

use crate::codec::jsstr::{JsStr, JsString};
use crate::codec::value::{JsObject, Value};

const MARKER_PREFIX: &str = "{\"__object__\":\"";

pub fn tricky_number() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        any::<i32>().prop_map(|n| n as f64),
        any::<i64>().prop_map(|n| n as f64),
        (any::<i32>(), -30i32..30).prop_map(|(m, e)| m as f64 * 10f64.powi(e)),
        prop::sample::select(vec![
            0.0,
            -0.0,
            0.1,
            0.3,
            1e21,
            1e-7,
            5e-7,
            123456789012345680000.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            9007199254740993.0,
            1.5,
            -2.5e-10,
        ]),
    ]
}

/// Any JavaScript string: UTF-16 units including lone surrogates.
pub fn any_string() -> impl Strategy<Value = JsString> {
    let unit = prop_oneof![
        4 => 0x20u16..0x7f,
        1 => 0u16..0x20,
        1 => prop::sample::select(vec![0x22u16, 0x5c, 0x7f, 0xe9, 0x2028, 0x20ac, 0xfffd]),
        1 => 0xd800u16..0xe000,
        1 => any::<u16>(),
    ];
    prop_oneof![
        "[a-z0-9]{0,6}".prop_map(JsString::from),
        any::<String>().prop_map(JsString::from),
        prop::collection::vec(unit, 0..12).prop_map(|u| JsString::from_utf16(&u)),
    ]
    .prop_filter("marker-looking strings are decoded by design", |s| !s.starts_with(JsStr::new(MARKER_PREFIX)))
}

pub fn any_key() -> impl Strategy<Value = JsString> {
    prop_oneof![
        prop::sample::select(vec!["0", "1", "2", "10", "01", "-1", "4294967294", "4294967295", "a", "b", "__proto__", ""])
            .prop_map(JsString::from),
        any_string(),
    ]
}

pub fn any_bigint() -> impl Strategy<Value = String> {
    prop_oneof![any::<i128>().prop_map(|n| n.to_string()), "[1-9][0-9]{20,60}", "-[1-9][0-9]{20,60}",]
}

pub fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Undefined),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        tricky_number().prop_map(Value::Number),
        any_string().prop_map(Value::String),
        any_bigint().prop_map(Value::BigInt),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any_key(), inner.clone()), 0..6).prop_map(|entries| {
                let mut o = JsObject::new();
                for (k, v) in entries {
                    o.insert(k, v);
                }
                Value::Object(o)
            }),
            prop::collection::vec((inner.clone(), inner), 0..4).prop_map(Value::Map),
        ]
    })
}
