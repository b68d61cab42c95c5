//! matter.js's JSON codec: the value model, JavaScript strings, `toJson` (the writer) and
//! `fromJson` (the reader) byte for byte, the ECMAScript conversions both need, and the
//! stored form of a value (its canonical `toJson` bytes).

pub mod ecma;
pub mod from_json;
pub mod jsstr;
pub mod stored;
pub mod to_json;
pub mod value;
