//! Typed errors for DPDK calls, carrying `rte_errno`'s text.

use std::ffi::CStr;

use crate::raw;

/// An error from a DPDK call or from the safe layer's own argument checks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A DPDK function failed; `errno` is its (positive) error number and `text` what `rte_strerror` says.
    #[error("{call} failed: {text} (errno {errno})")]
    Rte { call: &'static str, errno: i32, text: String },
    /// An argument the safe layer refused before calling DPDK.
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The text DPDK gives for an error number (covers both libc and `rte_errno`-specific codes).
pub fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string.
    let p = unsafe { raw::rte_strerror(errno) };
    if p.is_null() {
        return format!("error {errno}");
    }
    // SAFETY: p is non-null and NUL-terminated (see above); we copy it out at once.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// The calling thread's `rte_errno`.
pub fn rte_errno() -> i32 {
    // SAFETY: reads a thread-local integer; no preconditions.
    unsafe { raw::sluice_errno() }
}

pub(crate) fn rte_error(call: &'static str, errno: i32) -> Error {
    Error::Rte { call, errno, text: strerror(errno) }
}

/// Turns DPDK's return conventions into `Result`s (capsule's `ToResult`).
pub(crate) trait ToResult: Sized {
    /// For functions that return `-errno` on failure (most of ethdev).
    fn neg_errno(self, call: &'static str) -> Result<Self>;
    /// For functions that return a negative value (or NULL) and set `rte_errno`.
    fn rte_errno(self, call: &'static str) -> Result<Self>;
}

impl ToResult for i32 {
    fn neg_errno(self, call: &'static str) -> Result<Self> {
        if self < 0 {
            Err(rte_error(call, -self))
        } else {
            Ok(self)
        }
    }
    fn rte_errno(self, call: &'static str) -> Result<Self> {
        if self < 0 {
            Err(rte_error(call, rte_errno()))
        } else {
            Ok(self)
        }
    }
}

impl<T> ToResult for *mut T {
    fn neg_errno(self, call: &'static str) -> Result<Self> {
        self.rte_errno(call)
    }
    fn rte_errno(self, call: &'static str) -> Result<Self> {
        if self.is_null() {
            Err(rte_error(call, rte_errno()))
        } else {
            Ok(self)
        }
    }
}
