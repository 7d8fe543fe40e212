//! The one error type of every store, election and detector call.

use std::path::PathBuf;

/// What went wrong in a store, election or detector call. Messages are lower-case and
/// name the key, file or server involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A compare-and-swap or conditional delete found another version than the caller
    /// expected (`None` = absent).
    #[error("conflict on key {key:?}: expected version {}, found {}", fmt_version(.expected), fmt_version(.actual))]
    Conflict {
        /// The key written.
        key: String,
        /// The version the caller expected (`None` = the key must not exist).
        expected: Option<u64>,
        /// The version actually stored (`None` = the key does not exist).
        actual: Option<u64>,
    },
    /// Something that must be new already exists. The store itself reports a create-only
    /// compare-and-swap on an existing key as [`Error::Conflict`]; this variant is for
    /// callers that build named objects on top of it.
    #[error("{0:?} already exists")]
    AlreadyExists(String),
    /// The embedded store file is damaged (truncated, overwritten, not a Strata store).
    /// Nothing is opened: a damaged file is never treated as an empty store.
    #[error("store file {} is corrupt: {reason}", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was found wrong.
        reason: String,
    },
    /// The backend cannot answer now: ZooKeeper is unreachable, the session expired, or a
    /// call did not finish within its timeout. Retrying later may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A key that breaks the key rules (see [`Store`](crate::Store)).
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A value over [`MAX_VALUE_LEN`](crate::MAX_VALUE_LEN) bytes.
    #[error(
        "value for key {key:?} is {len} bytes, more than the limit of {} bytes",
        crate::MAX_VALUE_LEN
    )]
    ValueTooLarge {
        /// The key written.
        key: String,
        /// The value's length in bytes.
        len: usize,
    },
    /// A store URL that is neither absent nor `zk://host:port[,host:port]/path`.
    #[error("invalid store url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An I/O error on a file of the embedded store.
    #[error("i/o error on {}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Any other backend failure (for example the store file is locked by another process,
    /// or ZooKeeper refused a request).
    #[error("store backend error: {0}")]
    Backend(String),
}

/// The result of every store call.
pub type Result<T> = std::result::Result<T, Error>;

fn fmt_version(version: &Option<u64>) -> String {
    match version {
        Some(v) => v.to_string(),
        None => "none (absent)".to_string(),
    }
}

impl Error {
    pub(crate) fn invalid_key(key: &str, reason: impl Into<String>) -> Error {
        Error::InvalidKey {
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_url(url: &str, reason: impl Into<String>) -> Error {
        Error::InvalidUrl {
            url: url.to_string(),
            reason: reason.into(),
        }
    }
}
