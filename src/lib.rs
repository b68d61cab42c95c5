//! matter-wal-native: matter.js's write-ahead-log storage driver, in Rust.
//!
//! Everything except `binding` is plain Rust with no Node.js dependency and is tested with
//! `cargo test`; `binding` maps it onto the JavaScript class.

pub mod cleaner;
pub mod commit;
pub mod compress;
pub mod driver;
pub mod encoded;
pub mod fsutil;
pub mod inspect;
pub mod json_read;
pub mod json_write;
pub mod lock;
pub mod reader;
pub mod snapshot;
pub mod store;
pub mod value;
pub mod writer;

pub(crate) mod binding;
