//! The store's error type.

use std::path::{Path, PathBuf};

/// Result alias for the store.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, as a small stable set of kinds callers can match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file, object or value that should exist does not.
    NotFound,
    /// Stored bytes failed a checksum, digest or structural check.
    Corrupt,
    /// A caller passed something the store cannot accept.
    InvalidArgument,
    /// The operating system refused an I/O operation.
    Io,
    /// The data uses a format or feature this build does not know.
    Unsupported,
}

/// Errors of `hangar-store`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What we were doing ("open", "write", "fsync", ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Stored bytes are damaged; `detail` says which check failed.
    #[error("corrupt data in {}: {detail}; run verify to list every damaged file", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What check failed.
        detail: String,
    },
    /// Something that should exist is missing.
    #[error("{0}")]
    NotFound(String),
    /// Bad input from a caller.
    #[error("{0}")]
    InvalidArgument(String),
    /// Unknown format version or feature.
    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Error::Io { .. } => ErrorKind::Io,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Unsupported(_) => ErrorKind::Unsupported,
        }
    }

    /// True for an I/O error that says the file system (or the user's quota) is full.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, Error::Io { source, .. } if matches!(
            source.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        ))
    }

    /// Builds an [`Error::Io`].
    pub fn io(op: &'static str, path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// Builds an [`Error::Corrupt`].
    pub fn corrupt(path: impl AsRef<Path>, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.as_ref().to_path_buf(),
            detail: detail.into(),
        }
    }
}

/// Adds the path and operation to a `std::io::Result`.
pub trait IoContext<T> {
    /// Wraps the error as [`Error::Io`].
    fn ctx(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}
