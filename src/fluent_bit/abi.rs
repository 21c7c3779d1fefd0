//! Fluent Bit's C filter-plugin ABI (verified against Fluent Bit 5.1.1's source:
//! `include/fluent-bit/flb_filter.h`, `src/flb_plugin.c`, `src/flb_filter.c`).
//!
//! Fluent Bit `dlopen`s `flb-filter_firehose.so`, copies the 88-byte
//! `filter_firehose_plugin` struct and calls its callbacks. Everything unsafe is here:
//! raw pointers in, a `malloc`ed buffer out (Fluent Bit frees it with `free`), and no
//! panic ever crosses the boundary.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::{Mutex, Once, OnceLock};

use super::filter::{ChunkFailure, Filter};

/// `FLB_FILTER_MODIFIED`: `*out_buf` replaces the chunk.
pub const MODIFIED: c_int = 1;
/// `FLB_FILTER_NOTOUCH`: the chunk passes unchanged (`*out_buf` is ignored).
pub const NOTOUCH: c_int = 2;

/// `cb_pre_run`, `cb_init`, `cb_notification`.
pub type InstanceCallback = unsafe extern "C" fn(ins: *mut c_void, config: *mut c_void, data: *mut c_void) -> c_int;
/// `cb_filter`.
pub type FilterCallback = unsafe extern "C" fn(
    data: *const c_void,
    bytes: usize,
    tag: *const c_char,
    tag_len: c_int,
    out_buf: *mut *mut c_void,
    out_bytes: *mut usize,
    f_ins: *mut c_void,
    i_ins: *mut c_void,
    context: *mut c_void,
    config: *mut c_void,
) -> c_int;
/// `cb_exit`.
pub type ExitCallback = unsafe extern "C" fn(context: *mut c_void, config: *mut c_void) -> c_int;

/// `struct flb_filter_plugin` of Fluent Bit 5.x (x86_64: 88 bytes, align 8).
#[repr(C)]
pub struct FilterPlugin {
    /// `FLB_FILTER_LOGS` = 1.
    pub event_type: c_int,
    /// Unused by Fluent Bit.
    pub flags: c_int,
    /// The name `[FILTER] Name` matches.
    pub name: *const c_char,
    /// One line for `--help`.
    pub description: *const c_char,
    /// NULL: properties are not validated by Fluent Bit (the plugin checks its own).
    pub config_map: *const c_void,
    /// Called before init and when a hot reload validates the new configuration.
    pub cb_pre_run: Option<InstanceCallback>,
    /// Creates the instance.
    pub cb_init: Option<InstanceCallback>,
    /// Filters one chunk.
    pub cb_filter: Option<FilterCallback>,
    /// Destroys the instance.
    pub cb_exit: Option<ExitCallback>,
    /// Left NULL: Fluent Bit passes it the context where its prototype says instance.
    pub cb_notification: Option<InstanceCallback>,
    /// `struct mk_list _head`, owned by Fluent Bit.
    pub head: [*mut c_void; 2],
}

// SAFETY: the struct holds pointers to static strings and functions only.
unsafe impl Sync for FilterPlugin {}

const _: () = assert!(std::mem::size_of::<FilterPlugin>() == 88);

/// The plugin description Fluent Bit copies; export it as `filter_firehose_plugin`.
pub const PLUGIN: FilterPlugin = FilterPlugin {
    event_type: 1,
    flags: 0,
    name: c"firehose".as_ptr(),
    description: c"Firehose rules: filter, enrich and mask events with WebAssembly rule modules".as_ptr(),
    config_map: std::ptr::null(),
    cb_pre_run: Some(pre_run),
    cb_init: Some(init),
    cb_filter: Some(filter),
    cb_exit: Some(exit),
    cb_notification: None,
    head: [std::ptr::null_mut(); 2],
};

/// The Fluent Bit functions the plugin calls, found in the running process at first use
/// (`dlsym(RTLD_DEFAULT, …)`: the same global scope the dynamic loader binds a plugin's
/// undefined symbols against) instead of linked. A link-time reference would leave every
/// executable that links this crate with the `fluent-bit` feature (the workspace's test
/// binaries, built with `-rdynamic`) with undefined symbols.
struct FluentBit {
    get_property: GetProperty,
    set_context: SetContext,
    log_print: LogPrint,
}

/// `flb_filter_get_property`.
type GetProperty = unsafe extern "C" fn(key: *const c_char, ins: *mut c_void) -> *const c_char;
/// `flb_filter_set_context`.
type SetContext = unsafe extern "C" fn(ins: *mut c_void, context: *mut c_void);
/// `flb_log_print`.
type LogPrint = unsafe extern "C" fn(level: c_int, file: *const c_char, line: c_int, fmt: *const c_char, ...);

/// Fluent Bit's functions, or `None` when the plugin was loaded by a process without them.
fn fluent_bit() -> Option<&'static FluentBit> {
    static FUNCTIONS: OnceLock<Option<FluentBit>> = OnceLock::new();
    FUNCTIONS
        .get_or_init(|| {
            // SAFETY: each name is looked up with the signature Fluent Bit 5.x declares
            // for it (flb_filter.h, flb_log.h); a missing one makes the whole set None.
            unsafe {
                Some(FluentBit {
                    get_property: std::mem::transmute::<*mut c_void, GetProperty>(lookup(c"flb_filter_get_property")?),
                    set_context: std::mem::transmute::<*mut c_void, SetContext>(lookup(c"flb_filter_set_context")?),
                    log_print: std::mem::transmute::<*mut c_void, LogPrint>(lookup(c"flb_log_print")?),
                })
            }
        })
        .as_ref()
}

/// The address of `name` in the process's global scope, if it is there.
fn lookup(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads.
    let address = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!address.is_null()).then_some(address)
}

/// Why init fails when [`fluent_bit`] is `None`.
const NOT_IN_FLUENT_BIT: &str = "cannot start: flb_filter_get_property, flb_filter_set_context or flb_log_print is \
     not in this process; load flb-filter_firehose.so from Fluent Bit 5.x (`fluent-bit -e` or plugins_file)";

const LOG_ERROR: c_int = 1;
const LOG_WARN: c_int = 2;
const LOG_INFO: c_int = 3;
const LOG_DEBUG: c_int = 4;
const LOG_TRACE: c_int = 5;

fn print(level: c_int, message: &str) {
    let line = CString::new(format!("[filter:firehose] {message}").replace('\0', " ")).expect("no NUL left");
    match fluent_bit() {
        // SAFETY: a constant format and one NUL-terminated string argument.
        Some(fluent_bit) => unsafe {
            (fluent_bit.log_print)(level, std::ptr::null(), 0, c"%s".as_ptr(), line.as_ptr())
        },
        None => eprintln!("{}", line.to_string_lossy()),
    }
}

/// Sends the `log` crate's records (module logs, reloads) to Fluent Bit's log.
struct FluentBitLog;

impl log::Log for FluentBitLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata())
            && (record.target().starts_with("firehose") || record.level() <= log::Level::Warn)
        {
            let level = match record.level() {
                log::Level::Error => LOG_ERROR,
                log::Level::Warn => LOG_WARN,
                log::Level::Info => LOG_INFO,
                log::Level::Debug => LOG_DEBUG,
                log::Level::Trace => LOG_TRACE,
            };
            print(level, &record.args().to_string());
        }
    }

    fn flush(&self) {}
}

/// Routes logging to Fluent Bit at the instance's level (`ins->log_level`, an `int` at
/// offset 8 of `struct flb_filter_instance`, set before `cb_init`).
unsafe fn install_logger(ins: *mut c_void) {
    static LOGGER: Once = Once::new();
    LOGGER.call_once(|| {
        let _ = log::set_logger(&FluentBitLog);
    });
    // SAFETY: Fluent Bit passes a valid instance; log_level precedes every #ifdef'd field.
    let level = unsafe { *(ins as *const c_int).add(2) };
    let filter = match level {
        ..=0 => log::LevelFilter::Off,
        1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        4 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    if filter > log::max_level() {
        log::set_max_level(filter);
    }
}

/// Runs `f`, turning a panic into `fallback` and an error line instead of unwinding into C.
fn guarded<T>(what: &str, fallback: T, f: impl FnOnce() -> T) -> T {
    match crate::panics::catch(f) {
        Ok(value) => value,
        Err(message) => {
            print(LOG_ERROR, &format!("{what} panicked: {message}"));
            fallback
        }
    }
}

unsafe extern "C" fn pre_run(_ins: *mut c_void, _config: *mut c_void, _data: *mut c_void) -> c_int {
    // Also called while a hot reload validates the new configuration: no side effects.
    0
}

unsafe extern "C" fn init(ins: *mut c_void, _config: *mut c_void, _data: *mut c_void) -> c_int {
    guarded("init", -1, || {
        let Some(fluent_bit) = fluent_bit() else {
            // Without Fluent Bit's log, `print` writes to stderr.
            print(LOG_ERROR, NOT_IN_FLUENT_BIT);
            return -1;
        };
        // SAFETY: Fluent Bit passes its filter instance.
        unsafe { install_logger(ins) };
        let property = |key: &str| -> Option<String> {
            let key = CString::new(key).ok()?;
            // SAFETY: valid instance and NUL-terminated key; the value lives as long as the instance.
            let value = unsafe { (fluent_bit.get_property)(key.as_ptr(), ins) };
            (!value.is_null()).then(|| unsafe { CStr::from_ptr(value) }.to_string_lossy().into_owned())
        };
        match Filter::start(property) {
            Ok(filter) => {
                let context = Box::into_raw(Box::new(Mutex::new(filter)));
                // SAFETY: a non-NULL context, so that cb_exit is called.
                unsafe { (fluent_bit.set_context)(ins, context.cast()) };
                0
            }
            Err(e) => {
                print(LOG_ERROR, &format!("cannot start: {}", crate::error::report(&e)));
                -1
            }
        }
    })
}

unsafe extern "C" fn filter(
    data: *const c_void,
    bytes: usize,
    tag: *const c_char,
    tag_len: c_int,
    out_buf: *mut *mut c_void,
    out_bytes: *mut usize,
    _f_ins: *mut c_void,
    _i_ins: *mut c_void,
    context: *mut c_void,
    _config: *mut c_void,
) -> c_int {
    guarded("filter", NOTOUCH, || {
        if context.is_null() || data.is_null() {
            return NOTOUCH;
        }
        // SAFETY: Fluent Bit passes `bytes` readable bytes and a tag of `tag_len` bytes
        // (not always NUL-terminated), and the context cb_init set.
        let (chunk, tag, filter) = unsafe {
            let chunk = std::slice::from_raw_parts(data.cast::<u8>(), bytes);
            let tag = if tag.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(tag.cast::<u8>(), tag_len.max(0) as usize)
            };
            (chunk, String::from_utf8_lossy(tag), &*(context as *const Mutex<Filter>))
        };
        let mut filter = filter.lock().unwrap_or_else(|e| e.into_inner());
        let output = match filter.process(&tag, chunk) {
            Ok(None) => return NOTOUCH,
            Ok(Some(output)) => output,
            Err(taken_out) => {
                print(LOG_WARN, &crate::error::report(&taken_out));
                taken_out.kept
            }
        };
        // SAFETY: Fluent Bit passes valid out-pointers.
        match unsafe { hand_over(&output, out_buf, out_bytes) } {
            Ok(()) => MODIFIED,
            Err(OutOfMemory) => {
                // Not passed on as it came: its records would go out unmasked.
                let taken_out = filter.take_out(&tag, chunk, ChunkFailure::OutOfMemory(output.len()));
                print(LOG_ERROR, &crate::error::report(&taken_out));
                // SAFETY: as above; an empty output needs no buffer.
                let Ok(()) = (unsafe { hand_over(&[], out_buf, out_bytes) }) else { unreachable!("no allocation") };
                MODIFIED
            }
        }
    })
}

/// `malloc` could not give the output buffer.
struct OutOfMemory;

/// Gives `output` to Fluent Bit as a chunk's new contents: a copy in a `malloc`ed
/// buffer, which Fluent Bit frees with `free()`; NULL and 0 for an empty output (every
/// record dropped).
///
/// # Safety
/// `out_buf` and `out_bytes` must be valid for writes.
unsafe fn hand_over(output: &[u8], out_buf: *mut *mut c_void, out_bytes: *mut usize) -> Result<(), OutOfMemory> {
    if output.is_empty() {
        // SAFETY: the caller passes valid out-pointers.
        unsafe {
            *out_buf = std::ptr::null_mut();
            *out_bytes = 0;
        }
        return Ok(());
    }
    // SAFETY: malloc of a non-zero size; checked for NULL before use.
    let buffer = unsafe { libc::malloc(output.len()) };
    if buffer.is_null() {
        return Err(OutOfMemory);
    }
    // SAFETY: `buffer` holds `output.len()` bytes; the caller passes valid out-pointers.
    unsafe {
        std::ptr::copy_nonoverlapping(output.as_ptr(), buffer.cast::<u8>(), output.len());
        *out_buf = buffer;
        *out_bytes = output.len();
    }
    Ok(())
}

unsafe extern "C" fn exit(context: *mut c_void, _config: *mut c_void) -> c_int {
    guarded("exit", -1, || {
        if !context.is_null() {
            // SAFETY: the context cb_init created with Box::into_raw, freed once here.
            drop(unsafe { Box::from_raw(context as *mut Mutex<Filter>) });
        }
        0
    })
}
