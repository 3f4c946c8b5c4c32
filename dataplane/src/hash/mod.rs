//! Hashing: RSS-compatible Toeplitz for flows ([`toeplitz`]), ahash for content keys ([`content`]).

pub mod content;
pub mod nfs3;
pub mod toeplitz;

pub use content::ContentHasher;
pub use toeplitz::Toeplitz;
