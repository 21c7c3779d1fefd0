//! Rule modules in Python and JavaScript (world `json-rule`): scaffolding them and
//! building them with the Bytecode Alliance's tools, which are installed on first use
//! into the project's own tool folder at the versions pinned here.
//!
//! A Python module is a directory with `app.py` (built with componentize-py), a
//! JavaScript module one with `rule.js` (built with componentize-js); the component is
//! written next to it as `NAME.wasm`, NAME being the directory's name.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::authoring::SDK_FILES;

/// componentize-py, from PyPI, pinned.
pub const COMPONENTIZE_PY: (&str, &str) = ("componentize-py", "0.25.1");
/// componentize-js, from npm, pinned.
pub const COMPONENTIZE_JS: (&str, &str) = ("@bytecodealliance/componentize-js", "0.23.0");

/// The world Python and JavaScript modules implement.
const WORLD: &str = "json-rule";

const PYTHON_APP: &str = include_str!("../../plugins/template-python/app.py");
const PYTHON_PIPELINE: &str = include_str!("../../plugins/template-python/pipeline.yaml");
const JS_RULE: &str = include_str!("../../plugins/template-js/rule.js");
const JS_PIPELINE: &str = include_str!("../../plugins/template-js/pipeline.yaml");

/// The language a module is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A Rust crate using the firehose SDK (world `tape-rule`, the tape).
    Rust,
    /// Python, built with componentize-py (world `json-rule`).
    Python,
    /// JavaScript, built with componentize-js (world `json-rule`).
    Js,
}

impl Lang {
    /// The language of the module in `dir`, told by its main file.
    pub fn of(dir: &Path) -> Option<Lang> {
        [("Cargo.toml", Lang::Rust), ("app.py", Lang::Python), ("rule.js", Lang::Js)]
            .into_iter()
            .find(|(file, _)| dir.join(file).is_file())
            .map(|(_, lang)| lang)
    }
}

/// The component file of the module in `dir`: `NAME.wasm` with dashes as underscores.
pub fn component_file(dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = dir.canonicalize().with_context(|| format!("{}", dir.display()))?;
    let name = dir.file_name().and_then(|n| n.to_str()).context("the module directory has no name")?;
    Ok(dir.join(format!("{}.wasm", name.replace('-', "_"))))
}

/// Writes a Python or JavaScript module into the (new, empty) directory `dir`.
pub fn scaffold(lang: Lang, name: &str, dir: &Path) -> anyhow::Result<()> {
    let (main, source, pipeline) = match lang {
        Lang::Python => ("app.py", PYTHON_APP, PYTHON_PIPELINE),
        Lang::Js => ("rule.js", JS_RULE, JS_PIPELINE),
        Lang::Rust => bail!("Rust modules are scaffolded from the SDK template"),
    };
    let file = format!("./{}.wasm", name.replace('-', "_"));
    let files = [
        (main, source.replace("<name>", name)),
        ("pipeline.yaml", pipeline.replace("<name>", name).replace("<file>", &file)),
        (".gitignore", "*.wasm\n/target\n__pycache__/\n".to_string()),
    ];
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (file, text) in files {
        std::fs::write(dir.join(file), text).with_context(|| format!("writing {}", dir.join(file).display()))?;
    }
    Ok(())
}

/// Builds the Python or JavaScript module in `dir` into its component file.
pub fn build(lang: Lang, dir: &Path) -> anyhow::Result<PathBuf> {
    let tools = tools_dir(dir)?;
    let wit = write_wit(&tools)?;
    let out = component_file(dir)?;
    let mut command = match lang {
        Lang::Python => {
            let site = install_componentize_py(&tools)?;
            let mut command = Command::new(python());
            command
                .env("PYTHONPATH", &site)
                .args(["-c", "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())"])
                .arg("-d")
                .arg(&wit)
                .args(["-w", WORLD, "componentize", "-p"])
                .arg(dir)
                .args(["app", "-o"])
                .arg(&out);
            command
        }
        Lang::Js => {
            let cli = install_componentize_js(&tools)?;
            let mut command = Command::new("node");
            // No wasi:http: rule modules may import only WASI's basics and the host.
            command
                .arg(cli)
                .arg(dir.join("rule.js"))
                .arg("--wit")
                .arg(&wit)
                .args(["-n", WORLD, "-d", "http", "fetch-event", "-o"])
                .arg(&out);
            command
        }
        Lang::Rust => bail!("Rust modules are built with cargo"),
    };
    let status = command.status().with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("building {} failed ({status}); the tool's messages are above", dir.display());
    }
    Ok(out)
}

/// Where the language tools live: `$FIREHOSE_TOOLS_DIR`, else `target/tools` of the
/// nearest enclosing directory that has a `target/` or `.git` (the project), else
/// `target/tools` inside the module directory.
pub fn tools_dir(module: &Path) -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("FIREHOSE_TOOLS_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let module = module.canonicalize().with_context(|| format!("{}", module.display()))?;
    let project = module.ancestors().find(|d| d.join("target").is_dir() || d.join(".git").exists());
    Ok(project.unwrap_or(&module).join("target/tools"))
}

/// The WIT contract this binary was built with, written under `tools`.
fn write_wit(tools: &Path) -> anyhow::Result<PathBuf> {
    let dir = tools.join("wit");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (path, bytes) in SDK_FILES {
        if let Some(file) = path.strip_prefix("wit/").filter(|f| f.ends_with(".wit")) {
            std::fs::write(dir.join(file), bytes).with_context(|| format!("writing {}", dir.join(file).display()))?;
        }
    }
    Ok(dir)
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Installs componentize-py (once) and returns the directory to put on PYTHONPATH.
fn install_componentize_py(tools: &Path) -> anyhow::Result<PathBuf> {
    let (package, version) = COMPONENTIZE_PY;
    let site = tools.join(format!("{package}-{version}"));
    if site.join("componentize_py").is_dir() {
        return Ok(site);
    }
    eprintln!("installing {package} {version} into {} (first use)", site.display());
    let status = Command::new(python())
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--target"])
        .arg(&site)
        .arg(format!("{package}=={version}"))
        .status();
    if !status.as_ref().is_ok_and(|s| s.success()) || !site.join("componentize_py").is_dir() {
        let _ = std::fs::remove_dir_all(&site);
        bail!(
            "could not install {package} {version} from PyPI into {} ({}); Python modules need python3 with pip \
             and access to PyPI (or set FIREHOSE_TOOLS_DIR to a folder holding {package}-{version}/)",
            site.display(),
            describe(status)
        );
    }
    Ok(site)
}

/// Installs componentize-js (once) and returns its command-line script.
fn install_componentize_js(tools: &Path) -> anyhow::Result<PathBuf> {
    let (package, version) = COMPONENTIZE_JS;
    let prefix = tools.join(format!("componentize-js-{version}"));
    let cli = prefix.join("node_modules").join(package).join("src/cli.js");
    if cli.is_file() {
        return Ok(cli);
    }
    eprintln!("installing {package} {version} into {} (first use)", prefix.display());
    std::fs::create_dir_all(&prefix).with_context(|| format!("creating {}", prefix.display()))?;
    // A package.json of its own, so npm installs here and not into an enclosing project.
    std::fs::write(prefix.join("package.json"), "{\"private\": true}\n")
        .with_context(|| format!("writing {}", prefix.join("package.json").display()))?;
    let status = Command::new("npm")
        .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
        .arg(&prefix)
        .arg(format!("{package}@{version}"))
        .status();
    if !status.as_ref().is_ok_and(|s| s.success()) || !cli.is_file() {
        bail!(
            "could not install {package} {version} from npm into {} ({}); JavaScript modules need node and npm \
             and access to the npm registry (or set FIREHOSE_TOOLS_DIR to a folder holding componentize-js-{version}/)",
            prefix.display(),
            describe(status)
        );
    }
    Ok(cli)
}

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(status) => format!("it exited with {status}"),
        Err(e) => format!("it could not start: {e}"),
    }
}
