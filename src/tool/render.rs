//! The pieces of the tool's text: stored values, property keys, times, sizes and counts,
//! spelled the way a JavaScript developer reads them (`12n`, `Map(1) { 1 => "x" }`,
//! `Date.prototype.toISOString`). The reports in [`super::report`] are built from these.

use std::fmt::Write as _;

use crate::codec::jsstr::JsStr;
use crate::codec::to_json::{write_js_string, write_number};
use crate::codec::value::{array_index, Value};

/// `Date.prototype.toISOString` of `ms` since the epoch.
pub fn iso_time(ms: f64) -> String {
    if !ms.is_finite() || ms.abs() > 8.64e15 {
        return "(invalid time)".into();
    }
    let total = ms.trunc() as i64;
    let days = total.div_euclid(86_400_000);
    let rem = total.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    if (0..=9999).contains(&year) {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
    } else {
        format!("{}{:06}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z", if year < 0 { '-' } else { '+' }, year.abs())
    }
}

/// `a` or `a .. b` for a time range; `-` when there is none.
pub fn time_range(first: Option<f64>, last: Option<f64>) -> String {
    match (first, last) {
        (Some(a), Some(b)) if a == b => iso_time(a),
        (Some(a), Some(b)) => format!("{} .. {}", iso_time(a), iso_time(b)),
        _ => "-".into(),
    }
}

/// `1 context`, `2 contexts`, `0 contexts`.
pub fn counted(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// `1.5 KiB`-style size.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `s` as a quoted JSON string.
pub fn js_string(s: &JsStr) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    write_js_string(&mut out, s);
    String::from_utf8(out).expect("escaper keeps UTF-8")
}

/// `s` cut to `max` characters, an ellipsis marking the cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// A property key as JavaScript source would spell it: bare when it is an identifier or an
/// array index, quoted otherwise.
pub fn render_key(out: &mut String, key: &JsStr) {
    let bytes = key.as_bytes();
    let ident = bytes.first().is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_' || *c == b'$')
        && bytes.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'$');
    if ident || array_index(key).is_some() {
        out.push_str(&key.to_string_lossy());
    } else {
        out.push_str(&js_string(key));
    }
}

/// A value on one line, close to how Node's `util.inspect` shows it: `12n` for bigint,
/// `<3 bytes 0a0b0c>` for Uint8Array, `Map(1) { 1 => "x" }`.
pub fn render_value(out: &mut String, v: &Value) {
    match v {
        Value::Undefined => out.push_str("undefined"),
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Interval(_) => out.push_str("NaN"),
        Value::Number(n) => {
            let mut buf = Vec::new();
            write_number(&mut buf, *n);
            out.push_str(std::str::from_utf8(&buf).unwrap_or("NaN"));
        }
        Value::String(s) => out.push_str(&js_string(s)),
        Value::BigInt(s) => {
            out.push_str(s);
            out.push('n');
        }
        Value::Bytes(b) => {
            let _ = write!(out, "<{} bytes", b.len());
            if !b.is_empty() {
                out.push(' ');
                for byte in b {
                    let _ = write!(out, "{byte:02x}");
                }
            }
            out.push('>');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_value(out, item);
            }
            out.push(']');
        }
        Value::Object(obj) => {
            if obj.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push_str("{ ");
            for (i, (k, v)) in obj.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_key(out, k);
                out.push_str(": ");
                render_value(out, v);
            }
            out.push_str(" }");
        }
        Value::Map(entries) => {
            let _ = write!(out, "Map({})", entries.len());
            if entries.is_empty() {
                out.push_str(" {}");
                return;
            }
            out.push_str(" { ");
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_value(out, k);
                out.push_str(" => ");
                render_value(out, v);
            }
            out.push_str(" }");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_time_matches_javascript() {
        assert_eq!(iso_time(0.0), "1970-01-01T00:00:00.000Z");
        // new Date(1700000000123).toISOString()
        assert_eq!(iso_time(1_700_000_000_123.0), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso_time(951_782_400_000.0), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso_time(-1.0), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn renders_values_readably() {
        let mut s = String::new();
        let obj = crate::codec::value::JsObject::from_ordered(vec![
            ("a".into(), Value::BigInt("12".into())),
            ("with space".into(), Value::Bytes(vec![1, 0xab])),
            ("m".into(), Value::Map(vec![(Value::Number(1.0), Value::String("x\"y".into()))])),
        ]);
        render_value(&mut s, &Value::Object(obj));
        assert_eq!(s, r#"{ a: 12n, "with space": <2 bytes 01ab>, m: Map(1) { 1 => "x\"y" } }"#);
    }
}
