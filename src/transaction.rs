//! A transaction as matter.js's `StorageDriver.Transaction` behaves: writes are buffered,
//! reads see them over the committed state, `commit` hands them over as one commit (one WAL
//! line), `dispose` drops what was not committed. Once committed or disposed it takes no
//! more writes and cannot be committed again.

use crate::codec::jsstr::JsStr;
use crate::codec::stored::Encoded;
use crate::error::{Error, Result};
use crate::log::commit::Op;
use crate::store::StoreData;

/// Buffered ops and where the transaction is in its life.
#[derive(Debug, Default)]
pub struct Transaction {
    ops: Vec<Op>,
    committed: bool,
    disposed: bool,
}

impl Transaction {
    /// A transaction with nothing buffered.
    pub fn new() -> Transaction {
        Transaction::default()
    }

    /// Whether `commit` was called.
    pub fn is_committed(&self) -> bool {
        self.committed
    }

    /// Whether `dispose` was called.
    pub fn is_disposed(&self) -> bool {
        self.disposed
    }

    /// Refuses anything but reads once the transaction has ended (matter.js's messages).
    fn check_active(&self) -> Result<()> {
        if self.disposed {
            return Err(Error::TransactionEnded("Transaction is disposed"));
        }
        if self.committed {
            return Err(Error::TransactionEnded("Transaction is already committed"));
        }
        Ok(())
    }

    /// Buffers one write (a set, a delete or a clearAll).
    pub fn record(&mut self, op: Op) -> Result<()> {
        self.check_active()?;
        self.ops.push(op);
        Ok(())
    }

    /// `committed` with this transaction's writes applied: what its reads answer from.
    pub fn view(&self, mut committed: StoreData) -> StoreData {
        committed.apply(&self.ops);
        committed
    }

    /// What the buffered writes alone say about `key` of `context`: `Some(Some(v))` when the
    /// last write touching it set `v`, `Some(None)` when it deleted it (or cleared the
    /// context), `None` when no buffered write touches it (the committed state decides).
    pub fn decided(&self, context: &JsStr, key: &JsStr) -> Option<Option<&Encoded>> {
        self.ops.iter().rev().find_map(|op| match op {
            Op::Upd { key: c, values, .. } if **c == *context => values.iter().rev().find(|(name, _)| **name == *key).map(|(_, v)| Some(v)),
            Op::Del { key: c, values: Some(keys) } if **c == *context => keys.iter().any(|k| **k == *key).then_some(None),
            Op::Del { key: c, values: None } if **c == *context => Some(None),
            _ => None,
        })
    }

    /// Ends the transaction as committed and hands over its writes (possibly none: an empty
    /// commit writes nothing).
    pub fn commit(&mut self) -> Result<Vec<Op>> {
        self.check_active()?;
        self.committed = true;
        Ok(std::mem::take(&mut self.ops))
    }

    /// Ends the transaction; writes not committed are dropped (a rollback). Idempotent.
    pub fn dispose(&mut self) {
        self.disposed = true;
        self.ops.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::jsstr::JsString;
    use crate::codec::value::Value;

    fn set(ctx: &str, key: &str, n: f64) -> Op {
        Op::upd(ctx, vec![(key.into(), Encoded::from_value(&Value::Number(n)))])
    }

    fn del(ctx: &str, keys: Option<&[&str]>) -> Op {
        Op::Del { key: JsString::from(ctx), values: keys.map(|k| k.iter().map(|k| JsString::from(*k)).collect()) }
    }

    fn num(v: Option<&Encoded>) -> Option<f64> {
        match v.map(Encoded::decode) {
            Some(Value::Number(n)) => Some(n),
            _ => None,
        }
    }

    #[test]
    fn reads_see_buffered_writes_over_the_committed_state() {
        let mut committed = StoreData::default();
        committed.apply(&[set("a", "x", 1.0), set("a", "y", 2.0), set("b", "z", 3.0)]);
        let mut tx = Transaction::new();
        tx.record(set("a", "x", 10.0)).unwrap();
        tx.record(del("a", Some(&["y"]))).unwrap();
        tx.record(set("c", "w", 4.0)).unwrap();
        let view = tx.view(committed.clone());
        assert_eq!(num(view.get("a", "x")), Some(10.0));
        assert!(view.get("a", "y").is_none());
        assert_eq!(num(view.get("b", "z")), Some(3.0));
        assert_eq!(num(view.get("c", "w")), Some(4.0));
        // The committed state itself is untouched.
        assert_eq!(num(committed.get("a", "x")), Some(1.0));
    }

    #[test]
    fn the_last_buffered_write_decides_a_key() {
        let mut tx = Transaction::new();
        let (a, x, y) = (JsString::from("a"), JsString::from("x"), JsString::from("y"));
        assert_eq!(tx.decided(&a, &x), None);
        tx.record(set("a", "x", 1.0)).unwrap();
        assert_eq!(num(tx.decided(&a, &x).unwrap()), Some(1.0));
        assert_eq!(tx.decided(&a, &y), None, "another key is left to the committed state");
        assert_eq!(tx.decided(&JsString::from("a.b"), &x), None, "a sub-context is another context");
        tx.record(del("a", None)).unwrap();
        assert_eq!(tx.decided(&a, &x), Some(None), "clearAll deletes every key of the context");
        assert_eq!(tx.decided(&a, &y), Some(None));
        tx.record(set("a", "y", 2.0)).unwrap();
        assert_eq!(num(tx.decided(&a, &y).unwrap()), Some(2.0));
        tx.record(del("a", Some(&["y"]))).unwrap();
        assert_eq!(tx.decided(&a, &y), Some(None));
    }

    #[test]
    fn commit_hands_over_the_writes_once() {
        let mut tx = Transaction::new();
        tx.record(set("a", "x", 1.0)).unwrap();
        tx.record(set("a", "y", 2.0)).unwrap();
        assert_eq!(tx.commit().unwrap().len(), 2);
        assert!(tx.is_committed());
        assert_eq!(tx.commit().unwrap_err().to_string(), "Transaction is already committed");
        assert_eq!(tx.record(set("a", "z", 3.0)).unwrap_err().to_string(), "Transaction is already committed");
        tx.dispose();
        assert!(tx.is_committed() && tx.is_disposed());
        assert_eq!(Transaction::new().commit().unwrap().len(), 0, "an empty commit has nothing to write");
    }

    #[test]
    fn dispose_rolls_back() {
        let mut tx = Transaction::new();
        tx.record(set("a", "x", 1.0)).unwrap();
        tx.dispose();
        tx.dispose();
        assert!(tx.is_disposed() && !tx.is_committed());
        assert_eq!(tx.view(StoreData::default()).key_count(), 0);
        assert_eq!(tx.record(set("a", "x", 1.0)).unwrap_err().to_string(), "Transaction is disposed");
        assert_eq!(tx.commit().unwrap_err().to_string(), "Transaction is disposed");
    }
}
