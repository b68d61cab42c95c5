//! The few ECMAScript conversions the codec needs to mirror JavaScript exactly: `ToNumber`,
//! `ToString`, `ToUint8`, `Number::toString`, and the exact decimal digits behind `BigInt()`
//! (a tiny big-decimal type). Used by the writer (Buffer-shaped objects) and the reader
//! (marker revival).

use crate::codec::jsstr::JsString;
use crate::codec::value::Value;

/// ECMAScript `Number::toString(n)` (radix 10), including `NaN`, `Infinity`, `-Infinity`.
pub(crate) fn push_js_number(out: &mut Vec<u8>, n: f64) {
    if n == 0.0 {
        out.push(b'0');
    } else {
        let mut buf = ryu_js::Buffer::new();
        out.extend_from_slice(buf.format(n).as_bytes());
    }
}

/// `Uint8Array.from([..])` element conversion: ToNumber then ToUint8. A bigint element
/// would make JS throw a TypeError; we have no error channel here and write 0.
pub(crate) fn js_to_uint8(v: &Value) -> u8 {
    let n = match v {
        Value::BigInt(_) => 0.0,
        other => js_to_number(other),
    };
    if !n.is_finite() {
        return 0;
    }
    let m = n.trunc() % 256.0;
    (if m < 0.0 { m + 256.0 } else { m }) as u8
}

/// ECMAScript `ToNumber` for the values of our model (bigint is handled by callers).
pub(crate) fn js_to_number(v: &Value) -> f64 {
    match v {
        Value::Undefined => f64::NAN,
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => *n,
        Value::Interval(_) => f64::NAN,
        Value::String(s) => js_string_to_number(&s.to_string_lossy()),
        Value::BigInt(d) => d.parse().unwrap_or(f64::NAN),
        Value::Array(_) | Value::Bytes(_) => js_string_to_number(&js_to_string(v).to_string_lossy()),
        Value::Object(_) | Value::Map(_) => f64::NAN,
    }
}

/// The characters `String.prototype.trim` / `StringToNumber` / `StringToBigInt` strip:
/// ECMAScript WhiteSpace plus LineTerminator.
pub(crate) fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

/// ECMAScript `StringToNumber`.
pub(crate) fn js_string_to_number(s: &str) -> f64 {
    let t = s.trim_matches(is_js_whitespace);
    if t.is_empty() {
        return 0.0;
    }
    let b = t.as_bytes();
    if b.len() > 2 && b[0] == b'0' {
        let radix = match b[1] {
            b'x' | b'X' => 16,
            b'o' | b'O' => 8,
            b'b' | b'B' => 2,
            _ => 0,
        };
        if radix != 0 {
            let mut acc = 0f64;
            let mut exact = 0u128;
            let mut fits = true;
            for &c in &b[2..] {
                let Some(d) = (c as char).to_digit(radix) else { return f64::NAN };
                acc = acc * radix as f64 + d as f64;
                match exact.checked_mul(radix as u128).and_then(|x| x.checked_add(d as u128)) {
                    Some(x) if fits => exact = x,
                    _ => fits = false,
                }
            }
            // u128 -> f64 rounds correctly; beyond 2^128 the approximation is as good as it gets.
            return if fits { exact as f64 } else { acc };
        }
    }
    let (sign, body) = match b[0] {
        b'+' => (1.0, &t[1..]),
        b'-' => (-1.0, &t[1..]),
        _ => (1.0, t),
    };
    if body == "Infinity" {
        return sign * f64::INFINITY;
    }
    if !is_str_unsigned_decimal_literal(body.as_bytes()) {
        return f64::NAN;
    }
    // Rust's parser is correctly rounded, like the spec's RoundMVResult.
    sign * body.parse::<f64>().unwrap_or(f64::NAN)
}

/// `StrUnsignedDecimalLiteral` without `Infinity`: `1`, `1.`, `.5`, `1.5e-3`, no separators.
fn is_str_unsigned_decimal_literal(b: &[u8]) -> bool {
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp_digits == 0 {
            return false;
        }
        i += exp_digits;
    }
    i == b.len()
}

/// ECMAScript `ToString` for the values of our model (`Array.prototype.join` for arrays and
/// typed arrays, `[object Object]` / `[object Map]` for the rest).
pub(crate) fn js_to_string(v: &Value) -> JsString {
    let mut out = JsString::new();
    push_js_to_string(&mut out, v);
    out
}

fn push_js_to_string(out: &mut JsString, v: &Value) {
    match v {
        Value::Undefined => out.push_str("undefined"),
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let mut digits = Vec::new();
            push_js_number(&mut digits, *n);
            out.push_str(std::str::from_utf8(&digits).expect("numbers print as ASCII"));
        }
        Value::Interval(_) => out.push_str("NaN"),
        Value::String(s) => out.push_js(s),
        Value::BigInt(d) => out.push_str(d),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",");
                }
                if !matches!(item, Value::Undefined | Value::Null) {
                    push_js_to_string(out, item);
                }
            }
        }
        Value::Bytes(bytes) => {
            for (i, b) in bytes.iter().enumerate() {
                if i > 0 {
                    out.push_str(",");
                }
                out.push_str(&b.to_string());
            }
        }
        Value::Object(_) => out.push_str("[object Object]"),
        Value::Map(_) => out.push_str("[object Map]"),
    }
}

/// The exact decimal digits of an integral finite double (what `BigInt(n)` yields).
/// Callers guarantee `n.is_finite() && n.trunc() == n`.
pub(crate) fn integral_f64_to_decimal(n: f64) -> String {
    if n == 0.0 {
        return "0".to_string();
    }
    let neg = n < 0.0;
    let a = n.abs();
    let digits = if a < 18446744073709551616.0 {
        (a as u64).to_string()
    } else {
        // a = mantissa * 2^exp with exp > 0: multiply out in base-1e9 limbs.
        let bits = a.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as i32 - 1075;
        let mantissa = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
        let mut big = BigDec::from_u64(mantissa);
        for _ in 0..exp {
            big.mul_add(2, 0);
        }
        big.to_decimal()
    };
    if neg {
        format!("-{digits}")
    } else {
        digits
    }
}

/// A tiny unsigned big integer in base 10^9 (little-endian limbs), enough for radix
/// conversion of bigint literals and exact printing of large doubles.
pub(crate) struct BigDec(Vec<u32>);

impl BigDec {
    const BASE: u64 = 1_000_000_000;

    pub(crate) fn from_u64(mut n: u64) -> Self {
        let mut limbs = Vec::new();
        while n > 0 {
            limbs.push((n % Self::BASE) as u32);
            n /= Self::BASE;
        }
        BigDec(limbs)
    }

    /// self = self * mul + add (mul, add < 2^32).
    pub(crate) fn mul_add(&mut self, mul: u32, add: u32) {
        let mut carry = add as u64;
        for limb in &mut self.0 {
            let x = *limb as u64 * mul as u64 + carry;
            *limb = (x % Self::BASE) as u32;
            carry = x / Self::BASE;
        }
        while carry > 0 {
            self.0.push((carry % Self::BASE) as u32);
            carry /= Self::BASE;
        }
    }

    pub(crate) fn to_decimal(&self) -> String {
        let Some((top, rest)) = self.0.split_last() else { return "0".to_string() };
        let mut s = top.to_string();
        for limb in rest.iter().rev() {
            s.push_str(&format!("{limb:09}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_coercions() {
        assert_eq!(integral_f64_to_decimal(1e21), "1000000000000000000000");
        assert_eq!(integral_f64_to_decimal(-0.0), "0");
        assert_eq!(integral_f64_to_decimal(-(2f64.powi(64))), "-18446744073709551616");
        // node: BigInt(1.7976931348623157e308).toString()
        assert_eq!(
            integral_f64_to_decimal(f64::MAX),
            "179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368"
        );
        assert_eq!(js_string_to_number(" 0x1F "), 31.0);
        assert!(js_string_to_number("1_0").is_nan());
        assert!(js_string_to_number("Infinityx").is_nan());
        assert_eq!(js_string_to_number("-Infinity"), f64::NEG_INFINITY);
        assert_eq!(js_string_to_number(".5e1"), 5.0);
        assert_eq!(js_string_to_number("\u{a0}"), 0.0);
        assert!(js_string_to_number("0x").is_nan());
        assert!(js_string_to_number("-0x1").is_nan());
    }
}
