//! Build steps of the host crate:
//! - integration tests of the Fluent Bit plugin load `flb-filter_firehose.so`, which
//!   resolves `flb_filter_get_property` & co. against the executable, as it does inside
//!   Fluent Bit: test executables must export their symbols;
//! - the `firehose` command carries the module SDK's sources (the SDK, the JSON engine
//!   and the WIT contract), so that `firehose new-module` scaffolds a crate that builds
//!   anywhere, with no checkout of this repository.

use std::path::{Path, PathBuf};

/// What `firehose new-module` writes into a scaffold, by path in this repository.
const SDK_SOURCES: [&str; 3] = ["plugins/sdk", "crates/json", "wit"];

fn main() {
    println!("cargo::rustc-link-arg-tests=-rdynamic");
    if std::env::var_os("CARGO_FEATURE_CLI").is_some() {
        embed_sdk();
    }
}

fn embed_sdk() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in SDK_SOURCES {
        println!("cargo::rerun-if-changed={dir}");
        collect(&root, &root.join(dir), &mut files);
    }
    files.sort();
    let mut code = String::from(
        "/// The SDK's sources: (path in the repository, bytes).\npub const SDK_FILES: &[(&str, &[u8])] = &[\n",
    );
    for (relative, absolute) in &files {
        code.push_str(&format!("    ({relative:?}, include_bytes!({absolute:?})),\n"));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("sdk_files.rs");
    std::fs::write(&out, code).expect("write sdk_files.rs");
}

/// Every source file under `dir` (Rust, TOML, WIT, Markdown), as (path relative to
/// `root` with `/` separators, absolute path).
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read SDK directory").flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                collect(root, &path, out);
            }
        } else if ["rs", "toml", "wit", "md"].iter().any(|ext| name.ends_with(&format!(".{ext}"))) {
            let relative = path.strip_prefix(root).expect("under the root").components();
            let relative: Vec<String> = relative.map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            out.push((relative.join("/"), path.display().to_string()));
        }
    }
}
