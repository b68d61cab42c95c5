//! The write-ahead log: the commit line format, segment files (append, rotate, read),
//! gzip of rotated segments, and cleaning (removing segments a snapshot covers).

pub mod cleaner;
pub mod commit;
pub mod compress;
pub mod reader;
pub mod replay;
pub mod writer;
