//! Undoing `Content-Encoding`: identity, gzip or zstd, with a cap on the decoded
//! size so a small compressed body cannot expand into unbounded memory.

use std::borrow::Cow;
use std::io::Read;

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The encoding is not one Firehose reads.
    Unsupported(String),
    /// The body is not valid data in its encoding.
    Corrupt(String),
    /// The decoded body would be larger than allowed.
    TooLarge(usize),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Unsupported(e) => write!(f, "unsupported Content-Encoding `{e}` (use gzip, zstd or identity)"),
            DecodeError::Corrupt(e) => write!(f, "the body cannot be decoded: {e}"),
            DecodeError::TooLarge(max) => write!(f, "the decoded body is larger than {max} bytes"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes `body` sent with `Content-Encoding: encoding` (`None` = identity): an
/// identity body is borrowed as it is, a compressed one decoded into a new buffer.
pub fn decode<'a>(encoding: Option<&str>, body: &'a [u8], max_decoded: usize) -> Result<Cow<'a, [u8]>, DecodeError> {
    let encoding = encoding.map(|e| e.trim().to_ascii_lowercase()).unwrap_or_default();
    match encoding.as_str() {
        "" | "identity" => {
            if body.len() > max_decoded {
                return Err(DecodeError::TooLarge(max_decoded));
            }
            Ok(Cow::Borrowed(body))
        }
        "gzip" | "x-gzip" => read_capped(flate2::read::MultiGzDecoder::new(body), max_decoded).map(Cow::Owned),
        "zstd" => {
            let decoder = zstd::stream::read::Decoder::new(body).map_err(|e| DecodeError::Corrupt(e.to_string()))?;
            read_capped(decoder, max_decoded).map(Cow::Owned)
        }
        other => Err(DecodeError::Unsupported(other.to_string())),
    }
}

fn read_capped(reader: impl Read, max: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    reader.take(max as u64 + 1).read_to_end(&mut out).map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    if out.len() > max {
        return Err(DecodeError::TooLarge(max));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn decodes_each_encoding() {
        let data = b"{\"a\":1}\n{\"b\":2}";
        assert_eq!(*decode(None, data, 100).unwrap(), data[..]);
        assert_eq!(*decode(Some("identity"), data, 100).unwrap(), data[..]);
        assert_eq!(*decode(Some("GZIP"), &gzip(data), 100).unwrap(), data[..]);
        assert_eq!(*decode(Some("zstd"), &zstd::encode_all(&data[..], 3).unwrap(), 100).unwrap(), data[..]);
        // An identity body is read where it is, not copied (the sidecar's bodies are ~1 MB).
        assert!(matches!(decode(None, data, 100).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn refuses_bad_bodies_with_a_reason() {
        assert!(matches!(decode(Some("br"), b"x", 100), Err(DecodeError::Unsupported(_))));
        assert!(matches!(decode(Some("gzip"), b"not gzip", 100), Err(DecodeError::Corrupt(_))));
        let bomb = gzip(&vec![b' '; 10_000]);
        assert_eq!(decode(Some("gzip"), &bomb, 1000), Err(DecodeError::TooLarge(1000)));
        assert_eq!(decode(None, &[0; 10], 5), Err(DecodeError::TooLarge(5)));
    }
}
