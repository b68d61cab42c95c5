use crate::value::Value;
pub fn write_value(_out: &mut Vec<u8>, _v: &Value) { todo!() }
pub fn write_value_pretty(_out: &mut Vec<u8>, _v: &Value, _level: usize) { todo!() }
pub fn write_js_string(out: &mut Vec<u8>, s: &str) { out.push(b'"'); out.extend_from_slice(s.as_bytes()); out.push(b'"'); }
pub fn write_number(out: &mut Vec<u8>, n: f64) { out.extend_from_slice(format!("{n}").as_bytes()) }
