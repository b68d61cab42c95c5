//! matter-wal-native: matter.js's write-ahead-log storage driver, in Rust.
//!
//! The layers, bottom up:
//!
//! * [`codec`]: matter.js's JSON encoding — JavaScript strings, the value model, `toJson`,
//!   `fromJson`, and a value's stored form (its canonical bytes);
//! * [`log`]: the write-ahead log — commit lines, segment files, gzip, cleaning;
//! * [`store`]: the committed state, and [`snapshot`]: its files;
//! * [`engine`]: opening (snapshot + replay), the group-commit writer and maintenance threads;
//! * [`transaction`]: matter.js's transaction semantics (buffered writes, one commit);
//! * [`error`]: the one error type, each failure naming its file and cause;
//! * [`lock`], [`fsutil`], [`threads`]: the directory lock, durable file-system steps, threads;
//! * [`tool`]: the `matter-wal` tool's logic, one module per command;
//! * [`binding`]: the only Node.js code (napi-rs): the native classes `lib/api.cjs` wraps.
//!
//! Everything but `binding` is plain Rust, tested with `cargo test`.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

// napi-rs registers the exported functions only outside test builds, so there they look unused.
#[cfg_attr(test, allow(dead_code))]
mod binding;
mod codec;
mod engine;
mod error;
mod fsutil;
mod lock;
mod log;
mod snapshot;
mod store;
mod threads;
mod tool;
mod transaction;

#[cfg(test)]
mod test_values;

// The surface for the integration tests, fuzz targets and profiling examples; the binding
// uses the modules directly.
pub use codec::from_json::parse_value;
pub use codec::jsstr::{JsStr, JsString};
pub use codec::stored::Encoded;
pub use codec::to_json::write_value;
pub use codec::value::{JsObject, Value};
pub use engine::{BatchResult, Engine, Notify, Options, State, Submitted};
pub use error::{Error, Result};
pub use log::commit::{deserialize_commit, serialize_commit, Commit, CommitError, CommitId, Op};
pub use log::reader::{read_commits, segment_lines, ReadCommit};
pub use log::writer::SegmentWriter;
pub use snapshot::{decode as decode_snapshot, encode as encode_snapshot, load as load_snapshot, Snapshot};
pub use store::StoreData;
pub use transaction::Transaction;
