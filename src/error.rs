//! What the core reports when something fails. One enum for every layer; each variant's
//! message names the file and the cause (they are what a matter.js user sees, inside a
//! `StorageError`). The binding maps variants to matter.js's error classes in one place
//! (`binding::errors::kind_of`).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::PoisonError;

/// A failure of the storage engine or one of its layers.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation on `path` failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// What `path` holds cannot be used (bad gzip, bad JSON, a snapshot that is not one…).
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The files cannot give a complete state: a segment is missing, the log lost its
    /// beginning with no snapshot covering it, a snapshot is ahead of the log it needs…
    IncompleteLog(String),
    /// A commit could not be written: nothing of it is in the log or in the store.
    WriteFailed(Box<Error>),
    /// `close()` has started: no new commits are taken.
    Closing,
    /// The writer thread is gone (it panicked): nothing can be committed any more.
    WriterStopped,
    /// Another live owner (process, or driver of this process) holds the directory.
    Locked(String),
    /// A transaction that was committed or disposed was used again.
    TransactionEnded(&'static str),
    /// A history request (`snapshotAtTime`/`snapshotAtCommit`, `matter-wal dump`) the files
    /// cannot answer.
    NoHistory(String),
    /// A tool command refused what it was pointed at (not a storage directory, a log it
    /// cannot work on); nothing was changed.
    Refused(String),
    /// A value matter.js could not read back was given to store; nothing of its commit was
    /// logged.
    Unstorable(String),
    /// A thread panicked while holding state the engine needs.
    Poisoned(&'static str),
    /// A thread could not be started or ended abnormally.
    Thread(String),
    /// `source`, while doing what `context` says ("Cannot read WAL", …).
    Context {
        /// What was being done.
        context: String,
        /// Why it failed.
        source: Box<Error>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Corrupt { path, detail } => write!(f, "{}: {detail}", path.display()),
            Error::IncompleteLog(m)
            | Error::Locked(m)
            | Error::Thread(m)
            | Error::NoHistory(m)
            | Error::Refused(m)
            | Error::Unstorable(m) => f.write_str(m),
            Error::WriteFailed(e) => write!(f, "WAL write failed: {e}"),
            Error::Closing => f.write_str("WalStorageDriver is closing"),
            Error::WriterStopped => f.write_str("WAL writer has stopped"),
            Error::TransactionEnded(m) => f.write_str(m),
            Error::Poisoned(what) => write!(f, "internal state poisoned by a panic ({what}); reopen the storage"),
            Error::Context { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::WriteFailed(e) | Error::Context { source: e, .. } => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl<T> From<PoisonError<T>> for Error {
    fn from(_: PoisonError<T>) -> Self {
        Error::Poisoned("a lock")
    }
}

/// A result whose error is the core's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The I/O error behind this one, if any (to tell "disk full" from "corrupt file").
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Error::Io { source, .. } => Some(source.kind()),
            Error::WriteFailed(e) | Error::Context { source: e, .. } => e.io_kind(),
            _ => None,
        }
    }

    /// This error as the cause of what `context` describes.
    pub fn context(self, context: impl Into<String>) -> Error {
        Error::Context { context: context.into(), source: Box::new(self) }
    }

    /// The innermost error (what actually went wrong, under any `Context`).
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            e => e,
        }
    }
}

/// Attaches the path an I/O error happened on.
pub trait AtPath<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> AtPath<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io { path: path.to_path_buf(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_and_the_cause() {
        let e = Err::<(), _>(io::Error::from(io::ErrorKind::NotFound)).at(Path::new("/s/wal/00000001.jsonl")).unwrap_err();
        assert!(e.to_string().starts_with("/s/wal/00000001.jsonl: "), "{e}");
        assert_eq!(e.io_kind(), Some(io::ErrorKind::NotFound));
        let w = Error::WriteFailed(Box::new(e));
        assert!(w.to_string().starts_with("WAL write failed: /s/wal/00000001.jsonl: "), "{w}");
        assert_eq!(w.io_kind(), Some(io::ErrorKind::NotFound));
        assert_eq!(Error::Closing.to_string(), "WalStorageDriver is closing");
    }
}
