//! The error type of `hangar-core`.

use std::path::Path;

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The stable kinds of error. The C ABI maps them to status codes and the CLI to exit
/// codes, so a kind never changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A repository, branch, commit, column, sample or key does not exist.
    NotFound,
    /// Something with that name already exists.
    AlreadyExists,
    /// The caller passed a bad name, key, value, shape, dtype or option.
    InvalidArgument,
    /// Another writer holds the repository's writer lock.
    Locked,
    /// The operation conflicts with a concurrent change.
    Conflict,
    /// Stored data failed a checksum, digest or structural check.
    Corrupt,
    /// The repository uses a format version or feature this build does not know.
    Unsupported,
    /// The operating system refused an I/O operation.
    Io,
    /// The checkout (or a column from it) was closed.
    Closed,
    /// A commit was requested with nothing staged (or a reset with nothing to discard).
    NothingToCommit,
    /// The staging area has uncommitted changes that the operation would lose (switching
    /// a writer to another branch, merging).
    DirtyStaging,
    /// A bug in libhangar: a thread panicked while holding shared state, or an invariant
    /// broke. Reopen the repository; please report it.
    Internal,
    /// The value is on a remote and not in this repository yet (a clone or fetch without
    /// its data): `hangar fetch-data` brings it.
    NotFetched,
    /// A remote could not be reached or refused the request (bad URL, missing bucket,
    /// wrong credentials, a server error after retries).
    Remote,
}

/// Errors of `hangar-core`. Every message says what happened and what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`ErrorKind::NotFound`].
    #[error("{0}")]
    NotFound(String),
    /// See [`ErrorKind::AlreadyExists`].
    #[error("{0}")]
    AlreadyExists(String),
    /// See [`ErrorKind::InvalidArgument`].
    #[error("{0}")]
    InvalidArgument(String),
    /// See [`ErrorKind::Locked`].
    #[error("{0}")]
    Locked(String),
    /// See [`ErrorKind::Conflict`].
    #[error("{0}")]
    Conflict(String),
    /// See [`ErrorKind::Closed`].
    #[error("{0}")]
    Closed(String),
    /// See [`ErrorKind::NothingToCommit`].
    #[error("{0}")]
    NothingToCommit(String),
    /// See [`ErrorKind::Unsupported`].
    #[error("{0}")]
    Unsupported(String),
    /// See [`ErrorKind::DirtyStaging`].
    #[error("{0}")]
    DirtyStaging(String),
    /// See [`ErrorKind::Internal`].
    #[error("{0}")]
    Internal(String),
    /// See [`ErrorKind::NotFetched`].
    #[error("{0}")]
    NotFetched(String),
    /// See [`ErrorKind::Remote`].
    #[error("{0}")]
    Remote(String),
    /// A merge found conflicts; nothing was changed. The report lists every one.
    #[error("{0}")]
    MergeConflict(Box<crate::merge::MergeConflicts>),
    /// An error from the storage layer (I/O, corruption, ...).
    #[error(transparent)]
    Store(#[from] hangar_store::Error),
}

impl Error {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        use hangar_store::ErrorKind as S;
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Locked(_) => ErrorKind::Locked,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Closed(_) => ErrorKind::Closed,
            Error::NothingToCommit(_) => ErrorKind::NothingToCommit,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::DirtyStaging(_) => ErrorKind::DirtyStaging,
            Error::Internal(_) => ErrorKind::Internal,
            Error::NotFetched(_) => ErrorKind::NotFetched,
            Error::Remote(_) => ErrorKind::Remote,
            Error::MergeConflict(_) => ErrorKind::Conflict,
            Error::Store(e) => match e.kind() {
                S::NotFound => ErrorKind::NotFound,
                S::Corrupt => ErrorKind::Corrupt,
                S::InvalidArgument => ErrorKind::InvalidArgument,
                S::Unsupported => ErrorKind::Unsupported,
                S::Io => ErrorKind::Io,
                // A kind the store added that this layer does not know yet.
                _ => ErrorKind::Internal,
            },
        }
    }

    /// A `Corrupt` error naming the damaged file.
    pub fn corrupt(path: impl AsRef<Path>, detail: impl Into<String>) -> Error {
        Error::Store(hangar_store::Error::corrupt(path, detail))
    }

    /// An `Io` error naming the operation and path.
    pub fn io(op: &'static str, path: impl AsRef<Path>, source: std::io::Error) -> Error {
        Error::Store(hangar_store::Error::io(op, path, source))
    }
}

/// Shorthand for an `InvalidArgument` error.
pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}
