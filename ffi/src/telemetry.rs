//! DPDK telemetry commands: sluice registers its own (`/sluice/...`) so `dpdk-telemetry.py` lists and
//! calls them next to DPDK's. Handlers are Rust closures kept in a registry; DPDK's telemetry thread calls
//! one C trampoline that finds the handler by command name and writes its answer into DPDK's dict.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, Result, ToResult};
use crate::raw;

/// What a command answers with: the subset of DPDK telemetry data sluice uses. A dict may hold one level
/// of nested dicts (DPDK's limit); deeper ones are sent as their JSON-ish text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U64(u64),
    Str(String),
    Dict(Vec<(String, Value)>),
}

/// A command's handler: gets the parameters after the comma (`/cmd,params`), returns the dict's entries.
pub type Handler = Box<dyn Fn(&str) -> Vec<(String, Value)> + Send + Sync>;

fn handlers() -> &'static Mutex<HashMap<String, Handler>> {
    static H: OnceLock<Mutex<HashMap<String, Handler>>> = OnceLock::new();
    H.get_or_init(|| Mutex::new(HashMap::new()))
}

/// A dict key DPDK accepts: letters, digits, `_` and `/`, at most 63 bytes; anything else becomes `_`.
pub fn key(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '/' { c } else { '_' }).take(63).collect()
}

/// Registers `cmd` (starting with `/`, letters, digits, `_` and `/` only, under 56 bytes) with `help`.
/// Works after EAL init while telemetry is enabled; registering a name twice replaces the handler.
pub fn register(cmd: &str, help: &str, handler: Handler) -> Result<()> {
    let valid = cmd.starts_with('/')
        && cmd.len() < 56
        && cmd.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/');
    if !valid {
        return Err(Error::Invalid(format!(
            "telemetry command {cmd:?}: '/' then letters, digits, '_' or '/', < 56 bytes"
        )));
    }
    let c_cmd = CString::new(cmd).expect("validated: no NUL");
    let c_help = CString::new(help.replace('\0', " ")).expect("NULs replaced");
    handlers().lock().unwrap_or_else(|e| e.into_inner()).insert(cmd.to_string(), handler);
    // SAFETY: both strings are valid NUL-terminated C strings for the call (DPDK copies them); the callback
    // is a plain extern "C" function with the signature DPDK expects and lives for the whole program.
    let rc = unsafe { raw::rte_telemetry_register_cmd(c_cmd.as_ptr(), Some(trampoline), c_help.as_ptr()) };
    rc.neg_errno("rte_telemetry_register_cmd").map(|_| ())
}

fn fill(d: *mut raw::rte_tel_data, entries: &[(String, Value)], nested: bool) {
    for (k, v) in entries {
        let Ok(name) = CString::new(key(k)) else { continue };
        match v {
            Value::U64(n) => {
                // SAFETY: `d` is a dict DPDK handed us (or one we allocated and started); `name` is a valid
                // C string. A full dict returns an error, which only drops this entry.
                unsafe { raw::rte_tel_data_add_dict_u64(d, name.as_ptr(), *n) };
            }
            Value::Str(s) => {
                let s: String = s.chars().filter(|c| *c != '\0').take(127).collect();
                let s = CString::new(s).expect("NULs filtered");
                // SAFETY: as above; DPDK copies the string (at most 127 bytes).
                unsafe { raw::rte_tel_data_add_dict_string(d, name.as_ptr(), s.as_ptr()) };
            }
            Value::Dict(inner) if !nested => {
                // SAFETY: rte_tel_data_alloc returns a fresh container or NULL (checked).
                let c = unsafe { raw::rte_tel_data_alloc() };
                if c.is_null() {
                    continue;
                }
                // SAFETY: `c` is the container just allocated.
                unsafe { raw::rte_tel_data_start_dict(c) };
                fill(c, inner, true);
                // SAFETY: `c` is a started dict; with keep = 0 DPDK takes ownership and frees it after
                // encoding (and on error we free nothing twice: DPDK only takes it on success).
                let rc = unsafe { raw::rte_tel_data_add_dict_container(d, name.as_ptr(), c, 0) };
                if rc != 0 {
                    // SAFETY: not taken by DPDK; release what we allocated.
                    unsafe { libc::free(c.cast()) };
                }
            }
            Value::Dict(inner) => {
                let text: Vec<String> = inner.iter().map(|(k, v)| format!("{k}={}", short(v))).collect();
                fill(d, &[(k.clone(), Value::Str(text.join(" ")))], nested);
            }
        }
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::U64(n) => n.to_string(),
        Value::Str(s) => s.clone(),
        Value::Dict(d) => {
            format!("{{{}}}", d.iter().map(|(k, v)| format!("{k}={}", short(v))).collect::<Vec<_>>().join(" "))
        }
    }
}

unsafe extern "C" fn trampoline(cmd: *const c_char, params: *const c_char, d: *mut raw::rte_tel_data) -> c_int {
    // SAFETY: DPDK passes the NUL-terminated command it matched and, when given, NUL-terminated
    // parameters; both outlive this call.
    let (cmd, params) = unsafe {
        (
            CStr::from_ptr(cmd).to_string_lossy().into_owned(),
            if params.is_null() { String::new() } else { CStr::from_ptr(params).to_string_lossy().into_owned() },
        )
    };
    let entries = {
        let h = handlers().lock().unwrap_or_else(|e| e.into_inner());
        let Some(f) = h.get(&cmd) else { return -libc::ENOENT };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&params))) {
            Ok(e) => e,
            Err(_) => return -libc::EIO,
        }
    };
    // SAFETY: `d` is the response container DPDK handed us for this call.
    unsafe { raw::rte_tel_data_start_dict(d) };
    fill(d, &entries, false);
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sanitised() {
        assert_eq!(key("chassis-a"), "chassis_a");
        assert_eq!(key("n1/x_y"), "n1/x_y");
        assert_eq!(key(&"k".repeat(100)).len(), 63);
    }

    #[test]
    fn bad_command_names_are_refused_before_dpdk() {
        for bad in ["sluice/stats", "/sluice-stats", &format!("/{}", "x".repeat(60))] {
            assert!(matches!(register(bad, "h", Box::new(|_| vec![])), Err(Error::Invalid(_))), "{bad}");
        }
    }
}
