//! The `--context a.b` argument of `dump` and `log`: which contexts and which ops it
//! selects. A context is the joined key the driver stores (`node0.ep1`), so the argument is
//! held to the driver's own rule ([`valid_context_key`]) instead of one of the tool's.

use crate::codec::jsstr::JsStr;
use crate::log::commit::Op;
use crate::store::{valid_context_key, StoreData};

use super::render::js_string;

/// A validated context filter: a context and everything below it; empty selects all.
#[derive(Debug, Clone, Copy)]
pub struct ContextFilter<'a>(&'a JsStr);

impl<'a> ContextFilter<'a> {
    /// `arg` as a filter (`""` for everything), or why it names no context.
    pub fn parse(arg: &'a str) -> Result<Self, String> {
        let key = JsStr::new(arg);
        if !valid_context_key(key) {
            return Err(format!(
                "Invalid context {}: a context is a dot-separated path such as \"node0.ep1\" and none of its segments may be \
                 empty (no leading, trailing or doubled dots)",
                js_string(key)
            ));
        }
        Ok(ContextFilter(key))
    }

    /// True when it selects everything.
    pub fn is_all(self) -> bool {
        self.0.is_empty()
    }

    /// True when context `key` is the filter's context or below it.
    pub fn selects(self, key: &JsStr) -> bool {
        in_context(key, self.0)
    }

    /// True when `op` changes something the filter selects: an update or deletion in a
    /// selected context, or clearing one of them or a context above them all.
    pub fn touches(self, op: &Op) -> bool {
        match op {
            Op::Del { key, values: None } => in_context(key, self.0) || in_context(self.0, key),
            _ => in_context(op.context_key(), self.0),
        }
    }

    /// The contexts of `data` the filter selects.
    pub fn apply(self, data: &StoreData) -> StoreData {
        if self.is_all() {
            return data.clone();
        }
        let mut out = StoreData::default();
        for (key, ctx) in data.contexts() {
            if self.selects(key) {
                out.put_context(key, ctx.clone());
            }
        }
        out
    }
}

/// True when context key `key` is `context` or below it (`""` matches everything).
fn in_context(key: &JsStr, context: &JsStr) -> bool {
    context.is_empty() || key == context || (key.len() > context.len() && key.starts_with(context) && key.as_bytes()[context.len()] == b'.')
}

#[cfg(test)]
mod tests {
    use super::super::testing::upd;
    use super::*;
    use crate::codec::value::Value;

    #[test]
    fn follows_the_drivers_rule_for_context_keys() {
        for ok in ["", "a", "a.b", "node0.ep1", "é.ü"] {
            assert!(ContextFilter::parse(ok).is_ok(), "{ok:?}");
        }
        for bad in [".", "a.", ".a", "a..b", "a.b."] {
            let e = ContextFilter::parse(bad).unwrap_err();
            assert!(e.starts_with(&format!("Invalid context \"{bad}\": ")), "{e}");
            assert!(e.contains("none of its segments may be empty"), "{e}");
        }
    }

    #[test]
    fn selects_a_context_and_those_below_it() {
        let ab = ContextFilter::parse("a.b").unwrap();
        let selected = |k: &str| ab.selects(JsStr::new(k));
        assert!(selected("a.b") && selected("a.b.c"));
        assert!(!selected("a") && !selected("a.bc") && !selected("b") && !selected(""));
        assert!(ContextFilter::parse("").unwrap().selects(JsStr::new("anything")));

        // Clearing a parent (or everything) touches it; clearing a sibling does not.
        let clear = |k: &str| Op::Del { key: k.into(), values: None };
        assert!(ab.touches(&clear("a")) && ab.touches(&clear("")) && ab.touches(&clear("a.b.c")));
        assert!(!ab.touches(&clear("a.c")));
        assert!(ab.touches(&upd("a.b.c", "k", Value::Null)) && !ab.touches(&upd("a", "k", Value::Null)));
        let deletes = Op::Del { key: "a".into(), values: Some(vec!["k".into()]) };
        assert!(!ab.touches(&deletes), "deleting keys of the parent leaves the context alone");

        let mut data = StoreData::default();
        data.apply(&[
            upd("a", "k", Value::Null),
            upd("a.b", "k", Value::Null),
            upd("a.b.c", "k", Value::Null),
            upd("a.bc", "k", Value::Null),
        ]);
        let kept: Vec<String> = ab.apply(&data).contexts().map(|(k, _)| k.to_string()).collect();
        assert_eq!(kept, ["a.b", "a.b.c"]);
        assert_eq!(ContextFilter::parse("").unwrap().apply(&data).context_count(), 4);
    }
}
