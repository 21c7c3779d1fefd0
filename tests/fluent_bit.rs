//! The Fluent Bit plugin, loaded the way Fluent Bit loads it: `dlopen` of
//! `flb-filter_firehose.so`, `dlsym` of `filter_firehose_plugin`, a copy of the 88-byte
//! struct, callbacks called with a fake filter instance, `flb_*` functions provided by
//! this executable (exported with -rdynamic, as Fluent Bit's are), real msgpack chunks
//! in v2 and legacy form, and the output freed with `free()`.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use common::{TestDir, module, root};
use rmpv::Value as Mp;

// ---- what Fluent Bit's executable provides -------------------------------------------

/// A stand-in for `struct flb_filter_instance`: the plugin reads `log_level` at offset 8.
#[repr(C)]
struct Instance {
    id: c_int,
    _pad: c_int,
    log_level: c_int,
    _rest: [u8; 204],
}

#[derive(Default)]
struct Host {
    properties: HashMap<usize, Vec<(String, CString)>>,
    contexts: HashMap<usize, usize>,
    log: Vec<String>,
}

fn host() -> &'static Mutex<Host> {
    static HOST: OnceLock<Mutex<Host>> = OnceLock::new();
    HOST.get_or_init(Default::default)
}

/// Fluent Bit's property lookup.
///
/// # Safety
/// `key` is a NUL-terminated string, as the plugin passes it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn flb_filter_get_property(key: *const c_char, ins: *mut c_void) -> *const c_char {
    let key = unsafe { CStr::from_ptr(key) }.to_string_lossy().to_ascii_lowercase();
    let host = host().lock().unwrap();
    let found =
        host.properties.get(&(ins as usize)).and_then(|props| props.iter().find(|(k, _)| k.eq_ignore_ascii_case(&key)));
    found.map_or(std::ptr::null(), |(_, v)| v.as_ptr())
}

/// Fluent Bit's context setter.
///
/// # Safety
/// Only records the two pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn flb_filter_set_context(ins: *mut c_void, context: *mut c_void) {
    host().lock().unwrap().contexts.insert(ins as usize, context as usize);
}

/// Fluent Bit's log function.
///
/// # Safety
/// `fmt` and `text` are NUL-terminated strings, as the plugin passes them.
///
/// Fluent Bit's is variadic; the plugin always calls it as (level, NULL, 0, "%s", text),
/// which on x86_64 passes the text in the fifth integer register, like this signature.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn flb_log_print(
    level: c_int,
    _file: *const c_char,
    _line: c_int,
    fmt: *const c_char,
    text: *const c_char,
) {
    let fmt = unsafe { CStr::from_ptr(fmt) }.to_string_lossy();
    assert_eq!(fmt, "%s", "user text must never be the format");
    let text = unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned();
    host().lock().unwrap().log.push(format!("{level} {text}"));
}

// ---- the plugin, as Fluent Bit sees it ------------------------------------------------

type InstanceCallback = unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void) -> c_int;
type FilterCallback = unsafe extern "C" fn(
    *const c_void,
    usize,
    *const c_char,
    c_int,
    *mut *mut c_void,
    *mut usize,
    *mut c_void,
    *mut c_void,
    *mut c_void,
    *mut c_void,
) -> c_int;
type ExitCallback = unsafe extern "C" fn(*mut c_void, *mut c_void) -> c_int;

/// `struct flb_filter_plugin` as declared in Fluent Bit 5.x's flb_filter.h.
#[repr(C)]
#[derive(Clone, Copy)]
struct FilterPlugin {
    event_type: c_int,
    flags: c_int,
    name: *const c_char,
    description: *const c_char,
    config_map: *const c_void,
    cb_pre_run: Option<InstanceCallback>,
    cb_init: Option<InstanceCallback>,
    cb_filter: Option<FilterCallback>,
    cb_exit: Option<ExitCallback>,
    cb_notification: Option<InstanceCallback>,
    head: [*mut c_void; 2],
}

const MODIFIED: c_int = 1;
const NOTOUCH: c_int = 2;

/// Set by [`alone_in_a_process`] for its child: the plugin the parent built.
const PLUGIN: &str = "FIREHOSE_TEST_PLUGIN";

fn plugin_path() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Some(built) = std::env::var_os(PLUGIN) {
                return PathBuf::from(built);
            }
            module("filter");
            let status = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
                .current_dir(root())
                .args(["xtask", "fluent-bit", "--debug"])
                .status()
                .expect("build the plugin");
            assert!(status.success(), "building flb-filter_firehose.so failed");
            let target =
                std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
            target.join("debug/flb-filter_firehose.so")
        })
        .clone()
}

/// The loaded plugin: what Fluent Bit keeps after `dlopen` + `dlsym` + `memcpy`.
struct Loaded {
    plugin: FilterPlugin,
    _library: libloading::Library,
}

/// Tests here count threads and resident memory: run them one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn load() -> Loaded {
    let library = unsafe { libloading::Library::new(plugin_path()) }.expect("dlopen flb-filter_firehose.so");
    let symbol: libloading::Symbol<*const FilterPlugin> =
        unsafe { library.get(b"filter_firehose_plugin\0") }.expect("dlsym");
    assert_eq!(std::mem::size_of::<FilterPlugin>(), 88);
    let plugin = unsafe { std::ptr::read(*symbol) };
    assert_eq!(unsafe { CStr::from_ptr(plugin.name) }.to_str().unwrap(), "firehose");
    assert_eq!(plugin.event_type, 1);
    assert!(plugin.config_map.is_null() && plugin.cb_notification.is_none());
    Loaded { plugin, _library: library }
}

/// A filter instance with its properties.
struct Filter<'a> {
    loaded: &'a Loaded,
    instance: Box<Instance>,
}

impl<'a> Filter<'a> {
    fn init(loaded: &'a Loaded, properties: &[(&str, &str)]) -> Result<Filter<'a>, String> {
        let mut instance = Box::new(Instance { id: 0, _pad: 0, log_level: 3, _rest: [0; 204] });
        let ins = (&mut *instance as *mut Instance).cast::<c_void>();
        host()
            .lock()
            .unwrap()
            .properties
            .insert(ins as usize, properties.iter().map(|(k, v)| (k.to_string(), CString::new(*v).unwrap())).collect());
        let pre = unsafe { (loaded.plugin.cb_pre_run.unwrap())(ins, std::ptr::null_mut(), std::ptr::null_mut()) };
        assert_eq!(pre, 0);
        let ret = unsafe { (loaded.plugin.cb_init.unwrap())(ins, std::ptr::null_mut(), std::ptr::null_mut()) };
        if ret != 0 {
            return Err(host().lock().unwrap().log.join("\n"));
        }
        assert!(host().lock().unwrap().contexts.contains_key(&(ins as usize)), "cb_init must set a context");
        Ok(Filter { loaded, instance })
    }

    fn context(&self) -> *mut c_void {
        let ins = &*self.instance as *const Instance as usize;
        host().lock().unwrap().contexts[&ins] as *mut c_void
    }

    /// Calls cb_filter; returns None for NOTOUCH, else the output (freed with free()).
    fn filter(&self, chunk: &[u8]) -> Option<Vec<u8>> {
        let tag = b"dummy.0";
        let mut out: *mut c_void = std::ptr::null_mut();
        let mut out_len = 0usize;
        let ins = (&*self.instance as *const Instance).cast_mut().cast::<c_void>();
        let ret = unsafe {
            (self.loaded.plugin.cb_filter.unwrap())(
                chunk.as_ptr().cast(),
                chunk.len(),
                tag.as_ptr().cast(),
                tag.len() as c_int,
                &mut out,
                &mut out_len,
                ins,
                std::ptr::null_mut(),
                self.context(),
                std::ptr::null_mut(),
            )
        };
        match ret {
            NOTOUCH => {
                assert!(out.is_null(), "NOTOUCH must not hand over a buffer (it would leak)");
                None
            }
            MODIFIED => {
                let bytes = if out.is_null() {
                    Vec::new()
                } else {
                    unsafe { std::slice::from_raw_parts(out.cast::<u8>(), out_len) }.to_vec()
                };
                unsafe { libc::free(out) };
                Some(bytes)
            }
            other => panic!("cb_filter returned {other}"),
        }
    }
}

impl Drop for Filter<'_> {
    fn drop(&mut self) {
        let ins = &*self.instance as *const Instance as usize;
        let context = host().lock().unwrap().contexts.remove(&ins);
        if let Some(context) = context {
            assert_eq!(
                unsafe { (self.loaded.plugin.cb_exit.unwrap())(context as *mut c_void, std::ptr::null_mut()) },
                0
            );
        }
        host().lock().unwrap().properties.remove(&ins);
    }
}

// ---- records --------------------------------------------------------------------------

fn event_time(sec: u32, nsec: u32) -> Mp {
    let mut data = sec.to_be_bytes().to_vec();
    data.extend_from_slice(&nsec.to_be_bytes());
    Mp::Ext(0, data)
}

fn body(n: i64, event_type: &str) -> Mp {
    Mp::Map(vec![
        (Mp::from("n"), Mp::from(n)),
        (Mp::from("event_type"), Mp::from(event_type)),
        (Mp::from("ssn"), Mp::from("123-45-6789")),
        (Mp::from("note"), Mp::from("reach me at zoë@example.com")),
    ])
}

fn v2(sec: u32, nsec: u32, metadata: Mp, body: Mp) -> Mp {
    Mp::Array(vec![Mp::Array(vec![event_time(sec, nsec), metadata]), body])
}

fn legacy(sec: u64, body: Mp) -> Mp {
    Mp::Array(vec![Mp::from(sec), body])
}

fn group(start: bool) -> Mp {
    let sec = if start { 0xFFFF_FFFF } else { 0xFFFF_FFFE };
    Mp::Array(vec![
        Mp::Array(vec![event_time(sec, 0), Mp::Map(vec![(Mp::from("otel"), Mp::from("resource"))])]),
        Mp::Map(vec![]),
    ])
}

fn chunk(records: &[Mp]) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records {
        rmpv::encode::write_value(&mut out, record).unwrap();
    }
    out
}

fn decode(mut bytes: &[u8]) -> Vec<Mp> {
    let mut records = Vec::new();
    while !bytes.is_empty() {
        records.push(rmpv::decode::read_value(&mut bytes).expect("output is msgpack"));
    }
    records
}

fn pipeline(dir: &TestDir, exclude: &str) -> String {
    dir.pipeline(&format!(
        "stages:\n  - name: keep\n    module: '{{filter}}'\n    config: {{exclude_event_type: [{exclude}]}}\n  - name: mask\n    module: '{{pii-mask}}'\n    config: {{fields: [{{path: $.ssn, strategy: last4}}], detect: {{email: email}}}}\n  - name: refuse\n    module: '{{misbehave}}'\n"
    ))
    .display()
    .to_string()
}

/// A filter running [`pipeline`] (events of type `skip` dropped) with its dead letters
/// in `dir`; the filter and the dead-letter file's path.
fn skipping_filter<'a>(loaded: &'a Loaded, dir: &TestDir) -> (Filter<'a>, String) {
    let path = pipeline(dir, "skip");
    let dead = dir.path("dead.ndjson").display().to_string();
    let filter = Filter::init(loaded, &[("Pipeline", &path), ("Dead_Letter", &dead), ("Watch", "off")]).unwrap();
    (filter, dead)
}

// ---- the tests ------------------------------------------------------------------------

#[test]
fn filters_masks_and_keeps_timestamps_metadata_and_group_markers() {
    let _serial = serial();
    let loaded = load();
    let dir = TestDir::new();
    let (filter, dead) = skipping_filter(&loaded, &dir);
    let meta = Mp::Map(vec![(Mp::from("source"), Mp::from("edge-1"))]);
    let mut rejected = body(3, "keep");
    if let Mp::Map(entries) = &mut rejected {
        entries.push((Mp::from("act"), Mp::from("reject")));
    }
    // No rule changes this one: its binary, float width and ext survive as they came.
    let raw = Mp::Map(vec![
        (Mp::from("event_type"), Mp::from("keep")),
        (Mp::from("blob"), Mp::Binary(vec![0, 159, 255])),
        (Mp::from("ratio"), Mp::F32(0.25)),
        (Mp::from("tagged"), Mp::Ext(7, vec![1, 2, 3])),
    ]);
    let input = chunk(&[
        group(true),
        v2(1_700_000_000, 123_456_789, meta.clone(), body(0, "keep")),
        v2(1_700_000_001, 5, Mp::Map(vec![]), body(1, "skip")),
        legacy(1_700_000_002, body(2, "keep")),
        v2(1_700_000_003, 0, Mp::Map(vec![]), rejected),
        v2(1_700_000_004, 0, Mp::Map(vec![]), raw.clone()),
        group(false),
    ]);
    let output = decode(&filter.filter(&input).expect("modified"));
    assert_eq!(output.len(), 5, "dropped and rejected records are removed: {output:?}");
    assert_eq!(output[0], group(true), "group markers pass through untouched");
    assert_eq!(output[4], group(false));
    let Mp::Map(members) = &output[3][1] else { panic!("{:?}", output[3]) };
    let Mp::Map(expected) = &raw else { unreachable!() };
    assert_eq!(&members[..4], &expected[..], "untouched members keep their msgpack types");
    assert!(output[3][1]["firehose_metadata"]["rules_version"].as_str().is_some());
    assert_eq!(
        output[1][0],
        Mp::Array(vec![event_time(1_700_000_000, 123_456_789), meta]),
        "timestamp and metadata kept"
    );
    assert_eq!(output[1][1]["ssn"], Mp::from("***-**-6789"));
    assert_eq!(output[1][1]["note"], Mp::from("reach me at z***@example.com"));
    assert!(output[1][1]["firehose_metadata"]["rules_version"].as_str().is_some());
    assert_eq!(output[2][0], Mp::from(1_700_000_002u64), "legacy form keeps its plain timestamp");
    assert_eq!(output[2][1]["n"], Mp::from(2));
    let letters = std::fs::read_to_string(&dead).unwrap();
    assert!(letters.contains("\"stage\":\"refuse\"") && letters.contains("rejected on request"), "{letters}");
    let letter: serde_json::Value = serde_json::from_str(letters.trim()).unwrap();
    assert_eq!(letter["tag"], "dummy.0", "dead letters name the tag: {letter}");
    assert_eq!(letter["time"], 1_700_000_003.0, "and the record's time: {letter}");
    assert_eq!(letter["line"], 5, "and its position in the chunk: {letter}");
}

#[test]
fn a_record_whose_body_cannot_be_read_is_dead_lettered_as_it_came_and_the_others_go_on() {
    let _serial = serial();
    let loaded = load();
    let dir = TestDir::new();
    let (filter, dead) = skipping_filter(&loaded, &dir);
    // Well-formed msgpack, but nested deeper than an event may be.
    let mut deep = Mp::from(1);
    for _ in 0..200 {
        deep = Mp::Map(vec![(Mp::from("a"), deep)]);
    }
    let input = chunk(&[
        v2(1, 0, Mp::Map(vec![]), body(0, "keep")),
        v2(2, 0, Mp::Map(vec![]), deep.clone()),
        v2(3, 0, Mp::Map(vec![]), body(2, "keep")),
    ]);
    let output = decode(&filter.filter(&input).expect("modified"));
    let kept: Vec<&Mp> = output.iter().map(|record| &record[1]["n"]).collect();
    assert_eq!(kept, [&Mp::from(0), &Mp::from(2)], "the records around it go on");
    let letters = std::fs::read_to_string(&dead).unwrap();
    let letter: serde_json::Value = serde_json::from_str(letters.trim()).expect("one dead letter");
    assert_eq!(letter["line"], 2, "{letter}");
    assert!(letter["reason"].as_str().unwrap().starts_with("record body cannot be read: "), "{letter}");
    let mut body = Vec::new();
    rmpv::encode::write_value(&mut body, &deep).unwrap();
    assert!(letter["raw_base64"].is_string(), "msgpack is not UTF-8: {letter}");
    let raw = firehose::emit::raw_of(&letter).expect("the exact bytes");
    assert_eq!(raw, body, "the body's exact bytes, to replay it");
}

#[test]
fn untouched_chunks_are_notouch_and_dropping_everything_is_an_empty_buffer() {
    let _serial = serial();
    let loaded = load();
    let dir = TestDir::new();
    let path = pipeline(&dir, "nothing");
    let pass = Filter::init(&loaded, &[("Pipeline", &path), ("Version_Field", "off"), ("Watch", "off")]).unwrap();
    let plain = Mp::Map(vec![(Mp::from("event_type"), Mp::from("keep")), (Mp::from("msg"), Mp::from("no pii"))]);
    assert_eq!(pass.filter(&chunk(&[v2(1, 0, Mp::Map(vec![]), plain)])), None);
    drop(pass);
    let path = pipeline(&dir, "keep");
    let drop_all = Filter::init(&loaded, &[("Pipeline", &path), ("Watch", "off")]).unwrap();
    assert_eq!(drop_all.filter(&chunk(&[v2(1, 0, Mp::Map(vec![]), body(0, "keep"))])), Some(Vec::new()));
}

#[test]
fn an_untouched_record_keeps_its_bytes_and_gets_one_stamp() {
    let _serial = serial();
    let loaded = load();
    let dir = TestDir::new();
    let path = pipeline(&dir, "nothing");
    let filter = Filter::init(&loaded, &[("Pipeline", &path), ("Watch", "off")]).unwrap();
    // No rule changes these: binary and f32 values that JSON cannot carry survive.
    let plain = Mp::Map(vec![
        (Mp::from("event_type"), Mp::from("keep")),
        (Mp::from("blob"), Mp::Binary(vec![0, 159, 255])),
        (Mp::from("ratio"), Mp::F32(0.5)),
    ]);
    // Stamped by an earlier pass: its stamp is replaced, not repeated.
    let restamped = Mp::Map(vec![
        (Mp::from("event_type"), Mp::from("keep")),
        (Mp::from("firehose_metadata"), Mp::Map(vec![(Mp::from("rules_version"), Mp::from("old"))])),
        (Mp::from("n"), Mp::from(7)),
    ]);
    let output = decode(
        &filter
            .filter(&chunk(&[v2(1, 0, Mp::Map(vec![]), plain.clone()), v2(2, 0, Mp::Map(vec![]), restamped)]))
            .unwrap(),
    );
    assert_eq!(output.len(), 2);
    let members = |record: &Mp| record[1].as_map().unwrap().clone();
    let version = output[0][1]["firehose_metadata"]["rules_version"].as_str().unwrap().to_string();
    assert_ne!(version, "old");
    let mut expected = plain.as_map().unwrap().clone();
    expected
        .push((Mp::from("firehose_metadata"), Mp::Map(vec![(Mp::from("rules_version"), Mp::from(version.as_str()))])));
    assert_eq!(members(&output[0]), expected, "every member as it came, the stamp last");
    let stamps: Vec<&Mp> = output[1][1]
        .as_map()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.as_str() == Some("firehose_metadata"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(stamps, [&Mp::Map(vec![(Mp::from("rules_version"), Mp::from(version.as_str()))])], "{:?}", output[1]);
    assert_eq!(output[1][1]["n"], Mp::from(7));
}

#[test]
fn a_chunk_that_is_not_msgpack_is_taken_out_whole_and_dead_lettered_not_passed_on() {
    let _serial = serial();
    let loaded = load();
    let dir = TestDir::new();
    let (filter, dead) = skipping_filter(&loaded, &dir);
    // A record with personal data, then a byte msgpack never uses: the chunk cannot be
    // split into records, so the plugin cannot tell where that record's SSN is.
    let mut input = chunk(&[v2(1, 0, Mp::Map(vec![]), body(0, "keep"))]);
    input.push(0xc1);
    assert_eq!(filter.filter(&input), Some(Vec::new()), "taken out: passed on, its SSN would go out unmasked");
    let log = host().lock().unwrap().log.join("\n");
    assert!(log.contains("chunk of tag `dummy.0` taken out of the stream"), "{log}");
    assert!(log.contains("not valid msgpack records"), "{log}");
    let letters = std::fs::read_to_string(&dead).unwrap();
    let letter: serde_json::Value = serde_json::from_str(letters.trim()).expect("one dead letter for the chunk");
    assert_eq!(letter["line"], 0, "the whole chunk: {letter}");
    assert_eq!(letter["tag"], "dummy.0", "{letter}");
    assert!(letter["reason"].as_str().unwrap().contains("not valid msgpack records"), "{letter}");
    assert!(letter["raw_base64"].is_string(), "msgpack is not UTF-8: {letter}");
    let raw = firehose::emit::raw_of(&letter).expect("the exact bytes");
    assert_eq!(raw, input, "the chunk's exact bytes, to replay it");
    assert_eq!(common::mode(std::path::Path::new(&dead)), 0o600, "records as they came: owner only");
}

#[test]
fn outside_fluent_bit_init_fails_saying_where_to_load_the_plugin() {
    let _serial = serial();
    use std::os::unix::ffi::OsStrExt;
    let path = CString::new(plugin_path().as_os_str().as_bytes()).unwrap();
    // Loaded into a link-map namespace of its own, the plugin's dlsym(RTLD_DEFAULT) does
    // not see this executable's flb_* functions: as in any process that is not Fluent Bit.
    let handle = unsafe { libc::dlmopen(libc::LM_ID_NEWLM, path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    assert!(!handle.is_null(), "dlmopen: {:?}", unsafe { CStr::from_ptr(libc::dlerror()) });
    let symbol = unsafe { libc::dlsym(handle, c"filter_firehose_plugin".as_ptr()) };
    assert!(!symbol.is_null());
    let plugin = unsafe { std::ptr::read(symbol as *const FilterPlugin) };
    let mut instance = Instance { id: 0, _pad: 0, log_level: 3, _rest: [0; 204] };
    let ins = (&mut instance as *mut Instance).cast::<c_void>();
    let dir = TestDir::new();
    let (status, stderr) =
        stderr_of(&dir, || unsafe { (plugin.cb_init.unwrap())(ins, std::ptr::null_mut(), std::ptr::null_mut()) });
    assert_eq!(status, -1, "init fails");
    assert!(
        stderr.contains("[filter:firehose] cannot start: flb_filter_get_property, flb_filter_set_context or flb_log_print is not in this process; load flb-filter_firehose.so from Fluent Bit 5.x"),
        "{stderr}"
    );
    // Not dlclosed: a Rust library's thread-local destructors may still be registered.
}

/// Runs `f` with file descriptor 2 going to a file in `dir`; what was written there.
fn stderr_of<T>(dir: &TestDir, f: impl FnOnce() -> T) -> (T, String) {
    use std::os::fd::AsRawFd;
    let path = dir.path("stderr.txt");
    let file = std::fs::File::create(&path).unwrap();
    let saved = unsafe { libc::dup(2) };
    assert!(saved >= 0);
    unsafe { libc::dup2(file.as_raw_fd(), 2) };
    let value = f();
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
    }
    (value, std::fs::read_to_string(&path).unwrap())
}

#[test]
fn a_missing_or_bad_pipeline_fails_init_with_a_clear_message() {
    let _serial = serial();
    let loaded = load();
    let error = Filter::init(&loaded, &[]).err().expect("no pipeline");
    assert!(error.contains("[filter:firehose] cannot start: the `Pipeline` property is required"), "{error}");
    let dir = TestDir::new();
    let bad = dir.pipeline(
        "stages:\n  - name: m\n    module: '{pii-mask}'\n    config: {fields: [{path: $.a, strategy: lst4}]}\n",
    );
    let error = Filter::init(&loaded, &[("Pipeline", bad.to_str().unwrap())]).err().expect("bad config");
    assert!(error.contains("unknown variant `lst4`"), "{error}");
    let error =
        Filter::init(&loaded, &[("Pipeline", bad.to_str().unwrap()), ("Watch", "maybe")]).err().expect("bad flag");
    assert!(error.contains("property `watch`: expected on or off"), "{error}");
}

/// `GET path` on `addr`, plain HTTP; the status line and the body.
fn http_get(addr: &str, path: &str) -> std::io::Result<(String, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    Ok((head.lines().next().unwrap_or_default().to_string(), body.to_string()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn metrics_listen_serves_the_plugins_own_numbers_after_a_known_chunk() {
    let _serial = serial();
    let loaded = load();
    let dir = TestDir::new();
    let path = pipeline(&dir, "skip");
    let dead = dir.path("dead.ndjson").display().to_string();
    let addr = format!("127.0.0.1:{}", free_port());
    let filter = Filter::init(
        &loaded,
        &[("Pipeline", &path), ("Dead_Letter", &dead), ("Watch", "off"), ("Metrics_Listen", &addr)],
    )
    .unwrap();
    let mut rejected = body(3, "keep");
    if let Mp::Map(entries) = &mut rejected {
        entries.push((Mp::from("act"), Mp::from("reject")));
    }
    let input = chunk(&[
        v2(1, 0, Mp::Map(vec![]), body(0, "keep")),
        v2(2, 0, Mp::Map(vec![]), body(1, "skip")),
        v2(3, 0, Mp::Map(vec![]), body(2, "keep")),
        v2(4, 0, Mp::Map(vec![]), rejected),
    ]);
    assert_eq!(decode(&filter.filter(&input).expect("modified")).len(), 2);

    let (status, metrics) = http_get(&addr, "/metrics").expect("Metrics_Listen answers");
    assert!(status.contains("200"), "{status}");
    for needle in [
        "firehose_events_total{outcome=\"in\"} 4",
        "firehose_events_total{outcome=\"delivered\"} 2",
        "firehose_events_total{outcome=\"dropped\"} 1",
        "firehose_events_total{outcome=\"dead_lettered\"} 1",
        "firehose_stage_dropped_total{stage=\"keep\",module=\"filter\"} 1",
        "firehose_dead_letters_total{stage=\"refuse\",module=\"misbehave\",reason=\"rejected\"} 1",
        "firehose_batch_events_count 1",
        "firehose_batch_events_sum 4.0",
        "firehose_batch_seconds_count 1",
        "firehose_stage_seconds_count{stage=\"mask\"} 1",
        "firehose_swaps{outcome=\"done\"} 0",
        "firehose_rules_version_info{version=",
    ] {
        assert!(metrics.contains(needle), "missing `{needle}` in:\n{metrics}");
    }
    // A chunk taken out whole counts as one event in, dead-lettered by the plugin.
    assert_eq!(filter.filter(&[0xc1]), Some(Vec::new()));
    let (_, metrics) = http_get(&addr, "/metrics").expect("Metrics_Listen answers");
    for needle in [
        "firehose_events_total{outcome=\"in\"} 5",
        "firehose_events_total{outcome=\"dead_lettered\"} 2",
        "firehose_dead_letters_total{stage=\"plugin\",module=\"\",reason=\"unreadable\"} 1",
    ] {
        assert!(metrics.contains(needle), "missing `{needle}` in:\n{metrics}");
    }
    assert!(http_get(&addr, "/other").unwrap().0.contains("404"));
    drop(filter);
    assert!(http_get(&addr, "/metrics").is_err(), "cb_exit stops the endpoint");
}

#[test]
fn metrics_listen_is_off_by_default_and_a_bad_address_or_dead_letter_place_fails_init() {
    let _serial = serial();
    let loaded = load();
    let dir = TestDir::new();
    let path = pipeline(&dir, "skip");
    let dead = dir.path("dead.ndjson").display().to_string();
    let metrics_threads = || {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter(|t| {
                std::fs::read_to_string(t.as_ref().unwrap().path().join("comm")).unwrap().trim() == "firehose-metric"
            })
            .count()
    };
    let quiet = Filter::init(&loaded, &[("Pipeline", &path), ("Dead_Letter", &dead), ("Watch", "off")]).unwrap();
    assert_eq!(metrics_threads(), 0, "no metrics thread unless asked");
    drop(quiet);

    let error = Filter::init(&loaded, &[("Pipeline", &path), ("Dead_Letter", &dead), ("Metrics_Listen", "nowhere")])
        .err()
        .expect("a bad address");
    assert!(error.contains("property `Metrics_Listen`: cannot listen on `nowhere`"), "{error}");

    let unwritable = dir.path("no/such/dir/dead.ndjson").display().to_string();
    let error =
        Filter::init(&loaded, &[("Pipeline", &path), ("Dead_Letter", &unwritable)]).err().expect("an unwritable place");
    assert!(
        error.contains(&format!(
            "dead letters go to {unwritable} (from the `Dead_Letter` property), which cannot be written"
        )),
        "{error}"
    );
    assert!(!dir.path("firehose-dead-letters.ndjson").exists(), "never next to the pipeline");
}

fn resident_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Set in the child process [`alone_in_a_process`] starts.
const ALONE: &str = "FIREHOSE_TEST_ALONE";

/// Thread counts and resident memory are process-wide, and the test harness starts and
/// ends a thread per test: a test that measures them reruns itself as the only test of a
/// child process. Returns true in the parent, after the child passed.
fn alone_in_a_process(test: &str) -> bool {
    if std::env::var_os(ALONE).is_some() {
        return false;
    }
    // Built here, once: the child must not rebuild a plugin other tests have loaded.
    let plugin = plugin_path();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE, "1")
        .env(PLUGIN, plugin)
        .env(common::MODULES_BUILT, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{test} failed in its own process:\n{stdout}\n{stderr}");
    assert!(stdout.contains("test result: ok. 1 passed"), "{test} did not run in its own process:\n{stdout}");
    true
}

/// Waits until the thread count falls to `expected`: a thread told to stop may take a
/// moment to exit, which is not a leak. Returns the count it last saw.
fn threads_settle_to(expected: usize) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = threads();
        if now <= expected || std::time::Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The thread count once it has held for half a second (at most ten): a thread of the
/// first cycle may still be finishing. wasmtime's cache worker, one per engine, ends only
/// once its engine is dropped and its queue is done, at a lowered priority, so on a
/// loaded machine it can outlive the cycle by a while.
fn steady_threads() -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (mut last, mut since) = (threads(), std::time::Instant::now());
    loop {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let now = threads();
        if now != last {
            (last, since) = (now, std::time::Instant::now());
        } else if since.elapsed() >= std::time::Duration::from_millis(500) || std::time::Instant::now() > deadline {
            return now;
        }
    }
}

#[test]
fn a_million_records_and_many_swaps_keep_memory_flat_and_reloads_leak_no_threads() {
    if alone_in_a_process("a_million_records_and_many_swaps_keep_memory_flat_and_reloads_leak_no_threads") {
        return;
    }
    let loaded = load();
    let dir = TestDir::new();
    // Fluent Bit's hot reload: cb_exit of the old instance, cb_init of a new one. The
    // first cycle may start process-wide pools (wasmtime's compilation threads); after
    // it, cycles must leave the thread count as they found it.
    let cycle = || {
        let path = pipeline(&dir, "skip");
        let filter = Filter::init(&loaded, &[("Pipeline", &path)]).unwrap();
        assert!(filter.filter(&chunk(&[v2(1, 0, Mp::Map(vec![]), body(0, "keep"))])).is_some());
    };
    cycle();
    let before = steady_threads();
    for _ in 0..5 {
        cycle();
    }
    // Fewer is not a leak (a late worker of the first cycle may end meanwhile); five
    // cycles that each left a thread would show as more even then.
    let after = threads_settle_to(before);
    assert!(after <= before, "init/exit cycles must not leave threads behind: {before} before, {after} after");

    let path = pipeline(&dir, "skip");
    let filter = Filter::init(&loaded, &[("Pipeline", &path), ("Watch", "on")]).unwrap();
    let records: Vec<Mp> = (0..1000)
        .map(|n| v2(1_700_000_000 + n as u32, 0, Mp::Map(vec![]), body(n, if n % 10 == 0 { "skip" } else { "keep" })))
        .collect();
    let input = chunk(&records);
    // Filters one chunk, noting the rules version it went through when it changed.
    let run = |versions: &mut Vec<String>| {
        let output = decode(&filter.filter(&input).expect("modified"));
        let version = output[0][1]["firehose_metadata"]["rules_version"].as_str().unwrap().to_string();
        if versions.last() != Some(&version) {
            versions.push(version);
        }
    };
    let mut baseline = 0;
    let mut versions = Vec::new();
    for round in 0..1000 {
        if round % 100 == 50 {
            // Swap rules: the watcher picks the change up while chunks flow. However
            // fast chunks go, each swap is awaited before the next (the build runs at
            // nice 19, so on a busy machine it can take longer than 100 chunks).
            let seen = versions.len();
            pipeline(&dir, if round % 200 == 50 { "never" } else { "skip" });
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while versions.len() == seen {
                assert!(std::time::Instant::now() < deadline, "a swap did not take effect in 30 s: {versions:?}");
                run(&mut versions);
            }
        }
        run(&mut versions);
        if round == 200 {
            baseline = resident_kib();
        }
    }
    let growth = resident_kib().saturating_sub(baseline);
    // Ten changes alternate between two rule sets, each seen before the next.
    assert_eq!(versions.len(), 11, "every swap must take effect: {versions:?}");
    assert!(growth < 24 * 1024, "resident memory grew by {growth} KiB over 800,000 records");
}

/// Every example in fluent-bit-examples/ (and the Kubernetes DaemonSet's configuration)
/// as a new user would try it: `fluent-bit -c FILE --dry-run` with a real Fluent Bit,
/// which loads the plugin (`cb_pre_run`, not `cb_init`) and checks every plugin's
/// properties. Runs when `fluent-bit` is on PATH (build it from its source, as
/// fluent-bit-examples/README.md says, or install Fluent Bit's own packages).
#[test]
fn every_example_passes_a_real_fluent_bit_dry_run() {
    let found = std::process::Command::new("fluent-bit").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!(
            "SKIPPED: `fluent-bit` is not on PATH (see fluent-bit-examples/README.md, \"Verified with a real Fluent Bit\")"
        );
        return;
    }
    // A directory that looks like the repository root to the examples' relative paths,
    // with the plugin where they expect the release build.
    let dir = TestDir::new();
    for name in ["fluent-bit-examples", "examples"] {
        std::os::unix::fs::symlink(root().join(name), dir.path(name)).unwrap();
    }
    std::fs::create_dir_all(dir.path("target/release")).unwrap();
    std::os::unix::fs::symlink(plugin_path(), dir.path("target/release/flb-filter_firehose.so")).unwrap();
    let mut configs: Vec<PathBuf> = Vec::new();
    for example in std::fs::read_dir(root().join("fluent-bit-examples")).unwrap() {
        let example = example.unwrap().path();
        if example.is_dir() {
            for file in ["fluent-bit.conf", "fluent-bit.yaml"] {
                if example.join(file).exists() {
                    configs.push(example.strip_prefix(root()).unwrap().join(file));
                }
            }
        }
    }
    assert!(configs.len() >= 6, "{configs:?}");
    // The DaemonSet's configuration, with the plugin and parsers where this machine has them.
    let manifest = std::fs::read_to_string(root().join("deploy/kubernetes/fluent-bit/fluent-bit-config.yaml")).unwrap();
    let manifest: serde_yaml_ng::Value = serde_yaml_ng::from_str(&manifest).unwrap();
    let data = &manifest["data"];
    dir.write("parsers.conf", data["parsers.conf"].as_str().unwrap());
    let daemonset = data["fluent-bit.yaml"]
        .as_str()
        .unwrap()
        .replace("/fluent-bit/firehose/flb-filter_firehose.so", &plugin_path().display().to_string())
        .replace("/fluent-bit/etc/parsers.conf", &dir.path("parsers.conf").display().to_string())
        .replace("/var/lib/firehose", &dir.path("data").display().to_string());
    dir.write("daemonset.yaml", &daemonset);
    configs.push(PathBuf::from("daemonset.yaml"));
    for config in &configs {
        let out = std::process::Command::new("fluent-bit")
            .current_dir(dir.dir.path())
            .env("KINESIS_STREAM", "leads")
            .env("S3_BUCKET", "leads")
            .env("S3_ENDPOINT", "http://127.0.0.1:9")
            .arg("-c")
            .arg(config)
            .arg("--dry-run")
            .output()
            .unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "fluent-bit -c {} --dry-run failed:\n{said}", config.display());
    }
}
