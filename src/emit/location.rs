//! Where dead letters go when nobody says: one rule for every front door.
//!
//! 1. The front door's own setting wins (`--dead-letter`, `serve.dead_letter`, Fluent
//!    Bit's `Dead_Letter` property); a relative path is relative to the working
//!    directory, like any path given on a command line.
//! 2. Otherwise `firehose-dead-letters.ndjson` in the data directory:
//!    `$FIREHOSE_DATA_DIR` when set, else the working directory.
//!
//! Never next to the pipeline file: configuration directories are often read-only (a
//! mounted Kubernetes ConfigMap always is). The place is checked at start-up, and an
//! error names the path, the setting it came from, and what to change.

use std::path::{Path, PathBuf};

/// The dead-letter file's name in the data directory.
pub const FILE_NAME: &str = "firehose-dead-letters.ndjson";

/// The environment variable naming the data directory.
pub const DATA_DIR_ENV: &str = "FIREHOSE_DATA_DIR";

/// Where dead letters go, and which setting said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterPath {
    /// The file.
    pub path: PathBuf,
    /// The setting it came from, as the user knows it (`--dead-letter`, `$FIREHOSE_DATA_DIR`, …).
    pub from: String,
}

/// Dead letters cannot be written where they would go.
#[derive(Debug, thiserror::Error)]
#[error(
    "dead letters go to {} (from {from}), which cannot be written: {source}; set {setting} to a writable file, or $FIREHOSE_DATA_DIR to a writable directory (configuration directories such as a Kubernetes ConfigMap are read-only)",
    .path.display()
)]
pub struct NotWritable {
    /// The file.
    pub path: PathBuf,
    /// The setting it came from.
    pub from: String,
    /// The front door's own setting, to name in the advice.
    pub setting: String,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Options for opening a dead-letter file, which creates it readable and writable by
/// its owner only (mode 0600): dead letters hold records as they came, personal data
/// unmasked. A file that exists keeps its mode (the operator's choice). Callers add
/// `append` or `truncate`.
pub fn dead_letter_file_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

impl DeadLetterPath {
    /// Applies the rule: the front door's `setting` (its name and value, if given), else
    /// the data directory from the environment.
    pub fn locate(setting: &str, value: Option<&Path>) -> DeadLetterPath {
        Self::locate_in(setting, value, std::env::var_os(DATA_DIR_ENV).map(PathBuf::from))
    }

    /// [`locate`](Self::locate) with the data directory given (tests, embedders).
    pub fn locate_in(setting: &str, value: Option<&Path>, data_dir: Option<PathBuf>) -> DeadLetterPath {
        match (value, data_dir) {
            (Some(value), _) => DeadLetterPath { path: value.to_path_buf(), from: setting.to_string() },
            (None, Some(dir)) if !dir.as_os_str().is_empty() => {
                DeadLetterPath { path: dir.join(FILE_NAME), from: format!("${DATA_DIR_ENV}") }
            }
            (None, _) => DeadLetterPath {
                path: PathBuf::from(FILE_NAME),
                from: format!("the default: the working directory, as neither {setting} nor ${DATA_DIR_ENV} is set"),
            },
        }
    }

    /// Checks that the file can be appended to (or created) without changing it: an
    /// existing file is opened for appending, a missing one created and removed again.
    /// `setting` is the front door's own setting, named in the error's advice.
    pub fn check_writable(&self, setting: &str) -> Result<(), NotWritable> {
        let fail = |source| NotWritable {
            path: self.path.clone(),
            from: self.from.clone(),
            setting: setting.to_string(),
            source,
        };
        if self.path.exists() {
            return std::fs::OpenOptions::new().append(true).open(&self.path).map(drop).map_err(fail);
        }
        std::fs::OpenOptions::new().create_new(true).write(true).open(&self.path).map_err(fail)?;
        std::fs::remove_file(&self.path).map_err(fail)
    }

    /// The path, for logs.
    pub fn display(&self) -> std::path::Display<'_> {
        self.path.display()
    }

    /// The path.
    pub fn as_path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn a_new_dead_letter_file_is_the_owners_only_and_an_existing_one_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("firehose-dead-mode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (new, existing) = (dir.join("new.ndjson"), dir.join("existing.ndjson"));
        let _ = std::fs::remove_file(&new);
        std::fs::write(&existing, b"").unwrap();
        std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o640)).unwrap();
        for path in [&new, &existing] {
            dead_letter_file_options().append(true).open(path).unwrap();
        }
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&new), 0o600);
        assert_eq!(mode(&existing), 0o640, "the operator's choice");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_setting_wins_then_the_data_dir_then_the_working_directory() {
        let set = DeadLetterPath::locate_in("`Dead_Letter`", Some(Path::new("/var/dl.ndjson")), Some("/data".into()));
        assert_eq!(set, DeadLetterPath { path: "/var/dl.ndjson".into(), from: "`Dead_Letter`".into() });
        let data = DeadLetterPath::locate_in("`Dead_Letter`", None, Some("/data".into()));
        assert_eq!(data.path, Path::new("/data").join(FILE_NAME));
        assert_eq!(data.from, "$FIREHOSE_DATA_DIR");
        let default = DeadLetterPath::locate_in("--dead-letter", None, None);
        assert_eq!(default.path, Path::new(FILE_NAME));
        assert!(default.from.contains("working directory") && default.from.contains("--dead-letter"));
    }

    #[test]
    fn an_unwritable_place_is_named_with_its_setting_and_nothing_is_left_behind() {
        let dir = std::env::temp_dir().join(format!("firehose-location-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = DeadLetterPath::locate_in("--dead-letter", None, Some(dir.clone()));
        ok.check_writable("--dead-letter").unwrap();
        assert!(!ok.path.exists(), "the check must not leave a file");
        let missing = DeadLetterPath::locate_in("--dead-letter", None, Some(dir.join("no/such/dir")));
        let error = missing.check_writable("--dead-letter").unwrap_err().to_string();
        assert!(error.contains("no/such/dir/firehose-dead-letters.ndjson"), "{error}");
        assert!(error.contains("$FIREHOSE_DATA_DIR") && error.contains("set --dead-letter"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
