//! The error every storage trait returns (each crate declares the storage it needs as traits of
//! its own; `store` implements them). Outcomes a caller must tell apart ("already used", "not
//! found") are values of the methods' own result types, never errors: an error means the
//! storage could not do its work, and the caller fails closed.

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The database cannot be reached or refused the query; trying again may work.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back as its type (a bug, or data written by hand).
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
}
