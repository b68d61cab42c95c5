//! JavaScript strings in Rust.
//!
//! A JavaScript string is a sequence of UTF-16 code units and may hold *lone surrogates*
//! (`"\ud800"`), which no Rust `str` can. matter.js stores such strings (`JSON.stringify`
//! writes them as `\ud800` escapes and `JSON.parse` reads them back), so every key, context
//! name and string value here is a [`JsStr`]: WTF-8, i.e. UTF-8 that also encodes a lone
//! surrogate the way UTF-8 would encode its code point (three bytes `ED A0..BF xx`). A
//! surrogate *pair* is always encoded as the 4-byte sequence of the character it stands for,
//! so equal JavaScript strings have equal bytes. Strings without lone surrogates (nearly all)
//! are plain UTF-8 and convert to `str` for free.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A borrowed JavaScript string (WTF-8 bytes).
#[repr(transparent)]
#[derive(PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JsStr([u8]);

/// An owned JavaScript string (WTF-8 bytes).
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JsString(Vec<u8>);

impl JsStr {
    /// Every `str` is a JavaScript string.
    pub fn new(s: &str) -> &JsStr {
        JsStr::from_wtf8(s.as_bytes())
    }

    /// Wraps bytes the caller knows to be WTF-8.
    fn from_wtf8(bytes: &[u8]) -> &JsStr {
        // SAFETY: `JsStr` is `repr(transparent)` over `[u8]`, so the pointer cast keeps the
        // slice's layout and length metadata; the lifetime is carried over unchanged.
        unsafe { &*(bytes as *const [u8] as *const JsStr) }
    }

    /// Checks that `bytes` are WTF-8: valid UTF-8 except that surrogate code points may be
    /// encoded, but never a high surrogate directly followed by a low one.
    pub fn from_bytes(bytes: &[u8]) -> Option<&JsStr> {
        let mut rest = bytes;
        let mut prev_high = false;
        loop {
            match std::str::from_utf8(rest) {
                Ok(_) => return Some(JsStr::from_wtf8(bytes)),
                Err(e) => {
                    let at = e.valid_up_to();
                    if at > 0 {
                        prev_high = false;
                    }
                    let surrogate = surrogate_at(rest, at)?;
                    if prev_high && (0xdc00..=0xdfff).contains(&surrogate) && at == 0 {
                        return None;
                    }
                    prev_high = surrogate < 0xdc00;
                    rest = &rest[at + 3..];
                }
            }
        }
    }

    /// The WTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in WTF-8 bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether this is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The string as `str` when it holds no lone surrogate.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The string with each lone surrogate replaced by U+FFFD (for messages and display).
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        if let Some(s) = self.as_str() {
            return Cow::Borrowed(s);
        }
        let mut out = String::with_capacity(self.0.len());
        for c in self.code_points() {
            out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
        }
        Cow::Owned(out)
    }

    /// Unicode code points, lone surrogates included as their values (0xD800–0xDFFF).
    pub fn code_points(&self) -> CodePoints<'_> {
        CodePoints { bytes: &self.0, at: 0 }
    }

    /// The UTF-16 code units JavaScript holds for this string.
    pub fn code_units(&self) -> impl Iterator<Item = u16> + '_ {
        self.code_points().flat_map(|c| {
            if c >= 0x10000 {
                let c = c - 0x10000;
                [Some(0xd800 | (c >> 10) as u16), Some(0xdc00 | (c & 0x3ff) as u16)]
            } else {
                [Some(c as u16), None]
            }
            .into_iter()
            .flatten()
        })
    }

    /// Length in UTF-16 code units (JavaScript's `length`).
    pub fn utf16_len(&self) -> usize {
        self.code_points().map(|c| if c >= 0x10000 { 2 } else { 1 }).sum()
    }

    /// Whether `prefix` starts this string (byte-wise, so code point by code point).
    pub fn starts_with(&self, prefix: &JsStr) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// Whether `suffix` ends this string.
    pub fn ends_with(&self, suffix: &JsStr) -> bool {
        self.0.ends_with(&suffix.0)
    }

    /// This string without `prefix`, when it starts with it.
    pub fn strip_prefix(&self, prefix: &JsStr) -> Option<&JsStr> {
        self.0.strip_prefix(&prefix.0).map(JsStr::from_wtf8)
    }

    /// Splits at every `.` (an ASCII byte is never part of a multi-byte sequence).
    pub fn split_dots(&self) -> impl Iterator<Item = &JsStr> + '_ {
        self.0.split(|b| *b == b'.').map(JsStr::from_wtf8)
    }

    /// An owned copy.
    pub fn to_js_string(&self) -> JsString {
        JsString(self.0.to_vec())
    }
}

/// The surrogate encoded at `bytes[at..at + 3]`, if that is what the invalid UTF-8 there is.
fn surrogate_at(bytes: &[u8], at: usize) -> Option<u32> {
    match bytes.get(at..at + 3)? {
        [0xed, b1 @ 0xa0..=0xbf, b2 @ 0x80..=0xbf] => Some(0xd000 | ((*b1 as u32 & 0x3f) << 6) | (*b2 as u32 & 0x3f)),
        _ => None,
    }
}

/// Iterator over the code points of a [`JsStr`].
pub struct CodePoints<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Iterator for CodePoints<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let b = self.bytes;
        let i = self.at;
        let b0 = *b.get(i)? as u32;
        let (c, n) = if b0 < 0x80 {
            (b0, 1)
        } else if b0 < 0xe0 {
            (((b0 & 0x1f) << 6) | (b[i + 1] as u32 & 0x3f), 2)
        } else if b0 < 0xf0 {
            (((b0 & 0x0f) << 12) | ((b[i + 1] as u32 & 0x3f) << 6) | (b[i + 2] as u32 & 0x3f), 3)
        } else {
            (((b0 & 0x07) << 18) | ((b[i + 1] as u32 & 0x3f) << 12) | ((b[i + 2] as u32 & 0x3f) << 6) | (b[i + 3] as u32 & 0x3f), 4)
        };
        self.at += n;
        Some(c)
    }
}

impl JsString {
    /// The empty string.
    pub fn new() -> Self {
        JsString(Vec::new())
    }

    /// The empty string, with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Self {
        JsString(Vec::with_capacity(n))
    }

    /// From UTF-16 code units, as JavaScript holds them.
    pub fn from_utf16(units: &[u16]) -> Self {
        let mut s = JsString::with_capacity(units.len());
        s.push_utf16(units);
        s
    }

    /// Appends UTF-16 code units (pairs joined, lone surrogates kept).
    pub fn push_utf16(&mut self, units: &[u16]) {
        if units.iter().all(|&u| u < 0x80) {
            self.0.extend(units.iter().map(|&u| u as u8));
            return;
        }
        for &u in units {
            self.push_code_unit(u);
        }
    }

    /// Appends one UTF-16 code unit; a low surrogate right after a high one joins it into the
    /// character the pair stands for (so the bytes stay canonical).
    pub fn push_code_unit(&mut self, unit: u16) {
        let u = unit as u32;
        if (0xdc00..=0xdfff).contains(&u) {
            let n = self.0.len();
            if n >= 3 {
                if let Some(high @ 0xd800..=0xdbff) = surrogate_at(&self.0, n - 3) {
                    self.0.truncate(n - 3);
                    let c = 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00);
                    self.push_code_point(c);
                    return;
                }
            }
        }
        self.push_code_point(u);
    }

    /// Appends a code point (a lone surrogate value is encoded as such; callers joining
    /// pairs use [`JsString::push_code_unit`]).
    pub fn push_code_point(&mut self, c: u32) {
        let v = &mut self.0;
        if c < 0x80 {
            v.push(c as u8);
        } else if c < 0x800 {
            v.extend_from_slice(&[0xc0 | (c >> 6) as u8, 0x80 | (c & 0x3f) as u8]);
        } else if c < 0x10000 {
            v.extend_from_slice(&[0xe0 | (c >> 12) as u8, 0x80 | ((c >> 6) & 0x3f) as u8, 0x80 | (c & 0x3f) as u8]);
        } else {
            v.extend_from_slice(&[
                0xf0 | (c >> 18) as u8,
                0x80 | ((c >> 12) & 0x3f) as u8,
                0x80 | ((c >> 6) & 0x3f) as u8,
                0x80 | (c & 0x3f) as u8,
            ]);
        }
    }

    /// Appends `s`.
    pub fn push_str(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    /// Appends another JavaScript string (joining a trailing high surrogate with a leading
    /// low one, as JavaScript concatenation does).
    pub fn push_js(&mut self, s: &JsStr) {
        let mut rest = s.as_bytes();
        if let Some(low @ 0xdc00..=0xdfff) = surrogate_at(rest, 0) {
            self.push_code_unit(low as u16);
            rest = &rest[3..];
        }
        self.0.extend_from_slice(rest);
    }

    /// Empties the string, keeping its buffer.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The WTF-8 bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Borrows it as a [`JsStr`].
    pub fn as_js_str(&self) -> &JsStr {
        JsStr::from_wtf8(&self.0)
    }
}

impl Deref for JsString {
    type Target = JsStr;

    fn deref(&self) -> &JsStr {
        self.as_js_str()
    }
}

impl Borrow<JsStr> for JsString {
    fn borrow(&self) -> &JsStr {
        self.as_js_str()
    }
}

impl AsRef<JsStr> for JsString {
    fn as_ref(&self) -> &JsStr {
        self.as_js_str()
    }
}

impl AsRef<JsStr> for JsStr {
    fn as_ref(&self) -> &JsStr {
        self
    }
}

impl AsRef<JsStr> for str {
    fn as_ref(&self) -> &JsStr {
        JsStr::new(self)
    }
}

impl ToOwned for JsStr {
    type Owned = JsString;

    fn to_owned(&self) -> JsString {
        self.to_js_string()
    }
}

impl From<&str> for JsString {
    fn from(s: &str) -> Self {
        JsString(s.as_bytes().to_vec())
    }
}

impl From<String> for JsString {
    fn from(s: String) -> Self {
        JsString(s.into_bytes())
    }
}

impl From<&JsStr> for JsString {
    fn from(s: &JsStr) -> Self {
        s.to_js_string()
    }
}

impl From<&JsStr> for Arc<JsStr> {
    fn from(s: &JsStr) -> Self {
        let bytes: Arc<[u8]> = Arc::from(&s.0);
        // SAFETY: `JsStr` is `repr(transparent)` over `[u8]`, so `ArcInner<[u8]>` and
        // `ArcInner<JsStr>` have the same layout; the bytes came from a `JsStr`, so they are
        // WTF-8; the raw pointer is turned back into an `Arc` exactly once.
        unsafe { Arc::from_raw(Arc::into_raw(bytes) as *const JsStr) }
    }
}

impl PartialEq<str> for JsStr {
    fn eq(&self, other: &str) -> bool {
        &self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for JsStr {
    fn eq(&self, other: &&str) -> bool {
        &self.0 == other.as_bytes()
    }
}

impl PartialEq<str> for JsString {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for JsString {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Display for JsStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl fmt::Display for JsString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_js_str(), f)
    }
}

impl fmt::Debug for JsStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.code_points() {
            match char::from_u32(c) {
                Some(ch) => write!(f, "{}", ch.escape_debug())?,
                None => write!(f, "\\u{{{c:x}}}")?,
            }
        }
        f.write_str("\"")
    }
}

impl fmt::Debug for JsString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_js_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_round_trip_keeps_lone_surrogates_and_joins_pairs() {
        let units: Vec<u16> = vec![0x61, 0xd800, 0x62, 0xdc00, 0xd83d, 0xde00, 0xdbff];
        let s = JsString::from_utf16(&units);
        assert_eq!(s.code_units().collect::<Vec<_>>(), units);
        assert!(s.as_str().is_none());
        assert_eq!(s.utf16_len(), units.len());
        // the pair became the 4-byte encoding of U+1F600
        assert!(s.as_bytes().windows(4).any(|w| w == "😀".as_bytes()));
        assert_eq!(s.to_string_lossy(), "a\u{fffd}b\u{fffd}😀\u{fffd}");
    }

    #[test]
    fn plain_strings_are_utf8() {
        let s = JsString::from("héllo €");
        assert_eq!(s.as_str(), Some("héllo €"));
        assert_eq!(JsStr::from_bytes("é".as_bytes()).map(|s| s.len()), Some(2));
    }

    #[test]
    fn validation_rejects_split_pairs_and_garbage() {
        let mut s = JsString::new();
        s.push_code_point(0xd800);
        assert!(JsStr::from_bytes(s.as_bytes()).is_some());
        let mut pair_as_two = s.as_bytes().to_vec();
        let mut low = JsString::new();
        low.push_code_point(0xdc00);
        pair_as_two.extend_from_slice(low.as_bytes());
        assert!(JsStr::from_bytes(&pair_as_two).is_none());
        assert!(JsStr::from_bytes(&[0xff]).is_none());
        // concatenation joins the halves, as in JavaScript
        let mut joined = s.clone();
        joined.push_js(&low);
        assert_eq!(joined.as_str(), Some("\u{10000}"));
    }

    #[test]
    fn splits_at_dots() {
        let parts: Vec<String> = JsStr::new("a.b..c").split_dots().map(|p| p.to_string()).collect();
        assert_eq!(parts, ["a", "b", "", "c"]);
    }
}
