//! Signed rule modules: a pipeline that names trusted ed25519 public keys
//! (`trusted_keys:`) only runs modules that carry a valid detached signature over
//! their exact bytes in `MODULE.wasm.sig`. A version with a module that is unsigned,
//! tampered with or signed by another key is refused, naming the file; on a hot swap
//! the running version keeps serving.
//!
//! Files are one line of base64: a private key file holds the 32-byte seed (written
//! with mode 0600), a `.pub` file the 32-byte public key, a `.sig` file the 64-byte
//! signature. `firehose keygen` and `firehose sign` write them.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// Why a key, a signature or a signed module cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// A file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A key or signature file does not hold what it should.
    #[error("{path}: not {what} (expected one line of base64, as written by `firehose {tool}`)")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
        /// The command that writes such files.
        tool: &'static str,
    },
    /// The module has no signature file.
    #[error(
        "no signature {signature}: the pipeline names trusted_keys, so every module must be signed \
         (`firehose sign --key KEY {module}`)"
    )]
    Unsigned {
        /// The module.
        module: PathBuf,
        /// Where its signature should be.
        signature: PathBuf,
    },
    /// The signature does not verify under any trusted key.
    #[error(
        "signature {signature} does not match the bytes of {module} under any of the pipeline's trusted_keys \
         (the module changed after it was signed, or another key signed it)"
    )]
    Invalid {
        /// The module.
        module: PathBuf,
        /// Its signature file.
        signature: PathBuf,
    },
    /// The key file to be written exists already.
    #[error("{0} exists; refusing to overwrite a key (choose another --out or remove it)")]
    Exists(PathBuf),
    /// The operating system gave no randomness.
    #[error("no randomness for a new key: {0}")]
    Random(String),
}

/// A public key the pipeline trusts, with the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// The `.pub` file.
    pub path: PathBuf,
    /// The key.
    pub key: VerifyingKey,
}

/// Where the signature of `module` lives: `MODULE.wasm.sig`.
pub fn signature_path(module: &Path) -> PathBuf {
    let mut path = module.as_os_str().to_owned();
    path.push(".sig");
    PathBuf::from(path)
}

/// Reads a public key file (`firehose keygen` writes `KEY.pub`).
pub fn read_public_key(path: &Path) -> Result<TrustedKey, SigningError> {
    let bytes: [u8; 32] = read_base64(path, "an ed25519 public key", "keygen")?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| SigningError::Malformed {
        path: path.to_path_buf(),
        what: "an ed25519 public key",
        tool: "keygen",
    })?;
    Ok(TrustedKey { path: path.to_path_buf(), key })
}

/// Checks that `bytes`, read from `module`, carry a valid signature by one of `keys`.
pub fn verify(keys: &[TrustedKey], module: &Path, bytes: &[u8]) -> Result<(), SigningError> {
    let signature = signature_path(module);
    if !signature.exists() {
        return Err(SigningError::Unsigned { module: module.to_path_buf(), signature });
    }
    let raw: [u8; 64] = read_base64(&signature, "an ed25519 signature", "sign")?;
    let parsed = Signature::from_bytes(&raw);
    if keys.iter().any(|k| k.key.verify_strict(bytes, &parsed).is_ok()) {
        Ok(())
    } else {
        Err(SigningError::Invalid { module: module.to_path_buf(), signature })
    }
}

/// Writes a new private key to `out` (mode 0600) and its public key to `out.pub`;
/// returns the public key's path.
pub fn keygen(out: &Path) -> Result<PathBuf, SigningError> {
    let public = {
        let mut path = out.as_os_str().to_owned();
        path.push(".pub");
        PathBuf::from(path)
    };
    for path in [out, &public] {
        if path.exists() {
            return Err(SigningError::Exists(path.to_path_buf()));
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| SigningError::Random(e.to_string()))?;
    let key = SigningKey::from_bytes(&seed);
    write_line(out, &STANDARD.encode(seed), true)?;
    write_line(&public, &STANDARD.encode(key.verifying_key().as_bytes()), false)?;
    Ok(public)
}

/// Signs the module file `module` with the private key in `key`; writes and returns
/// `MODULE.wasm.sig`.
pub fn sign(key: &Path, module: &Path) -> Result<PathBuf, SigningError> {
    let seed: [u8; 32] = read_base64(key, "an ed25519 private key", "keygen")?;
    let key = SigningKey::from_bytes(&seed);
    let bytes = std::fs::read(module).map_err(|source| SigningError::Io { path: module.to_path_buf(), source })?;
    let signature = signature_path(module);
    write_line(&signature, &STANDARD.encode(key.sign(&bytes).to_bytes()), false)?;
    Ok(signature)
}

fn read_base64<const N: usize>(path: &Path, what: &'static str, tool: &'static str) -> Result<[u8; N], SigningError> {
    let text = std::fs::read_to_string(path).map_err(|source| SigningError::Io { path: path.to_path_buf(), source })?;
    let malformed = || SigningError::Malformed { path: path.to_path_buf(), what, tool };
    let bytes = STANDARD.decode(text.trim()).map_err(|_| malformed())?;
    bytes.try_into().map_err(|_| malformed())
}

fn write_line(path: &Path, text: &str, private: bool) -> Result<(), SigningError> {
    let io = |source| SigningError::Io { path: path.to_path_buf(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).create_new(true);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(io)?;
    file.write_all(format!("{text}\n").as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_exact_bytes_only() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("release.key");
        let public = keygen(&key).unwrap();
        assert!(matches!(keygen(&key), Err(SigningError::Exists(_))));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let trusted = vec![read_public_key(&public).unwrap()];
        let module = dir.path().join("m.wasm");
        std::fs::write(&module, b"\0asm module bytes").unwrap();
        assert!(matches!(verify(&trusted, &module, b"\0asm module bytes"), Err(SigningError::Unsigned { .. })));
        assert_eq!(sign(&key, &module).unwrap(), dir.path().join("m.wasm.sig"));
        verify(&trusted, &module, b"\0asm module bytes").unwrap();
        let tampered = verify(&trusted, &module, b"\0asm module bytez").unwrap_err().to_string();
        assert!(tampered.contains("m.wasm.sig") && tampered.contains("does not match"), "{tampered}");
        let other = keygen(&dir.path().join("other.key")).unwrap();
        let untrusted = vec![read_public_key(&other).unwrap()];
        assert!(matches!(verify(&untrusted, &module, b"\0asm module bytes"), Err(SigningError::Invalid { .. })));
        std::fs::write(signature_path(&module), "not base64!\n").unwrap();
        assert!(matches!(verify(&trusted, &module, b"\0asm module bytes"), Err(SigningError::Malformed { .. })));
    }
}
