//! Starting and stopping the Environment Abstraction Layer, and running closures on lcores.

use std::ffi::{c_void, CStr, CString};
use std::os::raw::{c_char, c_int};
use std::path::{Path, PathBuf};

use crate::error::{rte_error, Error, Result, ToResult};
use crate::lcore::LcoreId;
use crate::raw;

/// A started EAL. Dropping it runs `rte_eal_cleanup` and then, in a primary process, removes EAL's
/// runtime directory (`/var/run/dpdk/<file prefix>`); drop every port and pool first.
pub struct Eal {
    /// What Drop removes: DPDK 22.11 leaves it behind (about 12 MB of memory-map files per prefix).
    runtime_dir: Option<PathBuf>,
}

impl Eal {
    /// Starts EAL with `args` (the first is taken as the program name). EAL can start once per process.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal> {
        let owned: Vec<CString> = args
            .iter()
            .map(|a| {
                CString::new(a.as_ref())
                    .map_err(|_| Error::Invalid(format!("EAL argument {:?} contains NUL", a.as_ref())))
            })
            .collect::<Result<_>>()?;
        // A start that fails part way (a signal arriving while hugepages are reserved makes the kernel's
        // fallocate fail with EINTR, say) leaves the runtime directory it created: remove it then, but
        // never one that was there before (another primary process may hold it).
        let expected = expected_runtime_dir(args);
        let existed = expected.as_deref().is_none_or(Path::exists);
        // EAL may permute argv; keep the strings alive and hand it a private pointer array.
        let mut argv: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr() as *mut c_char).collect();
        // SAFETY: argv holds argc valid NUL-terminated strings that outlive the call (EAL copies what it keeps).
        let n = unsafe { raw::rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
        if let Err(e) = n.rte_errno("rte_eal_init") {
            if let (false, Some(d)) = (existed, &expected) {
                let _ = std::fs::remove_dir_all(d);
            }
            return Err(e);
        }
        // SAFETY: EAL is initialised; this reads the process type it settled on.
        let primary = unsafe { raw::rte_eal_process_type() } == raw::RTE_PROC_PRIMARY;
        // SAFETY: EAL is initialised; the result points at EAL's static NUL-terminated path buffer.
        let dir = unsafe { CStr::from_ptr(raw::rte_eal_get_runtime_dir()) };
        let dir = PathBuf::from(dir.to_string_lossy().into_owned());
        Ok(Eal { runtime_dir: (primary && is_runtime_dir(&dir)).then_some(dir) })
    }

    /// EAL's runtime directory when this process will remove it at cleanup (a primary process).
    pub fn runtime_dir(&self) -> Option<&Path> {
        self.runtime_dir.as_deref()
    }

    /// Lets `dpdk-dumpcap` (and `dpdk-pdump`) capture this process's ports from a secondary process
    /// (`rte_pdump_init`). Captures need hugepages: a `--no-huge` process has no memory to share.
    pub fn enable_packet_capture(&self) -> Result<PacketCapture> {
        // SAFETY: EAL is initialised (self exists); rte_pdump_init registers a multi-process action.
        let rc = unsafe { raw::rte_pdump_init() };
        rc.rte_errno("rte_pdump_init")?;
        Ok(PacketCapture { _private: () })
    }

    /// Runs `f` on worker lcore `lcore`. Fails if that lcore is not idle or not a worker.
    pub fn launch<F>(&self, lcore: LcoreId, f: F) -> Result<()>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        extern "C" fn trampoline<F: FnOnce() -> i32>(arg: *mut c_void) -> c_int {
            // SAFETY: arg is the Box<F> leaked by launch below, handed to exactly one lcore.
            let f = unsafe { Box::from_raw(arg as *mut F) };
            f()
        }
        let arg = Box::into_raw(Box::new(f)) as *mut c_void;
        // SAFETY: trampoline::<F> matches lcore_function_t; arg is a valid Box<F> that the lcore takes over.
        let rc = unsafe { raw::rte_eal_remote_launch(Some(trampoline::<F>), arg, lcore.0) };
        if rc != 0 {
            // SAFETY: the launch failed, so no lcore took the box; reclaim it.
            drop(unsafe { Box::from_raw(arg as *mut F) });
            return Err(rte_error("rte_eal_remote_launch", -rc));
        }
        Ok(())
    }

    /// Waits for `lcore` to finish and returns its closure's result.
    pub fn wait(&self, lcore: LcoreId) -> i32 {
        // SAFETY: waits on EAL's lcore state; valid for any lcore id after init.
        unsafe { raw::rte_eal_wait_lcore(lcore.0) }
    }
}

/// Packet capture enabled by [`Eal::enable_packet_capture`]; dropping it runs `rte_pdump_uninit`.
/// Drop it before the [`Eal`].
pub struct PacketCapture {
    _private: (),
}

impl Drop for PacketCapture {
    fn drop(&mut self) {
        // SAFETY: rte_pdump_init succeeded for this value and uninit runs once, while EAL is still up.
        unsafe { raw::rte_pdump_uninit() };
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: EAL was initialised by init; cleanup is called once.
        unsafe { raw::rte_eal_cleanup() };
        // Nothing of this process's EAL is left to use the directory's files: a later start with the
        // same prefix recreates them, and a prefix used once no longer leaves them behind for good.
        if let Some(d) = &self.runtime_dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Where EAL will put its runtime directory for `args`: `<base>/dpdk/<file prefix>`, the base being
/// `/var/run` for root and `$XDG_RUNTIME_DIR` (else `/tmp`) for anyone else, the prefix `rte` unless
/// `--file-prefix` says otherwise. None when EAL will make none (`--in-memory`, `--no-shconf`).
fn expected_runtime_dir<S: AsRef<str>>(args: &[S]) -> Option<PathBuf> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    if args.iter().any(|a| *a == "--in-memory" || *a == "--no-shconf") {
        return None;
    }
    let mut prefix = "rte";
    for (i, a) in args.iter().enumerate() {
        if let Some(p) = a.strip_prefix("--file-prefix=") {
            prefix = p;
        } else if *a == "--file-prefix" {
            prefix = args.get(i + 1)?;
        }
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let base = match unsafe { libc::geteuid() } {
        0 => PathBuf::from("/var/run"),
        _ => std::env::var_os("XDG_RUNTIME_DIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from),
    };
    let dir = base.join("dpdk").join(prefix);
    is_runtime_dir(&dir).then_some(dir)
}

/// A path of the shape EAL gives its runtime directory, `<base>/dpdk/<prefix>`, so that nothing else
/// is ever removed in its name.
fn is_runtime_dir(p: &Path) -> bool {
    p.is_absolute()
        && p.parent().and_then(Path::file_name).is_some_and(|n| n == "dpdk")
        && p.file_name().is_some_and(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_directory_a_failed_start_would_leave_is_named_from_the_arguments() {
        let base =
            |p: &str| expected_runtime_dir(&["x", "--file-prefix", p]).map(|d| d.file_name().unwrap().to_owned());
        assert_eq!(base("sluice-demo"), Some("sluice-demo".into()));
        assert_eq!(expected_runtime_dir(&["x", "--file-prefix=a"]).unwrap().file_name().unwrap(), "a");
        assert_eq!(expected_runtime_dir(&["x", "-l", "0"]).unwrap().file_name().unwrap(), "rte");
        assert!(expected_runtime_dir(&["x", "--file-prefix", "p", "--in-memory"]).is_none());
        assert!(expected_runtime_dir(&["x", "--file-prefix"]).is_none(), "no prefix after the flag");
        assert!(expected_runtime_dir(&["x", "--file-prefix", ".."]).is_none(), "never a directory above");
        assert!(expected_runtime_dir(&["x", "--file-prefix", "a/b"]).is_none());
    }

    #[test]
    fn only_eal_shaped_directories_are_removed() {
        assert!(is_runtime_dir(Path::new("/var/run/dpdk/sluice-demo")));
        assert!(is_runtime_dir(Path::new("/run/user/1000/dpdk/rte")));
        for p in ["", "/", "/var/run/dpdk", "/var/run/dpdk/..", "dpdk/rte", "/var/run/other/rte"] {
            assert!(!is_runtime_dir(Path::new(p)), "{p}");
        }
    }
}
