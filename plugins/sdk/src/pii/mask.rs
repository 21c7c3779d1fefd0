//! Masking strategies: how a piece of personal data is rewritten.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How to rewrite a value. In a configuration each is its name (`last4`), except
/// [`Strategy::Replace`], written `{replace: "[IP]"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Keep the last four letters or digits, star the others, keep separators:
    /// `123-45-6789` → `***-**-6789`.
    Last4,
    /// Keep the first character of the local part and the domain:
    /// `jane@example.com` → `j***@example.com`.
    Email,
    /// Keep the area code (and a `+1`/`1` country code), star the other digits:
    /// `(555) 123-4567` → `(555) ***-****`.
    AreaCode,
    /// Keep the first letter of each word: `Émile Zola` → `É*** Z***`.
    FirstLetter,
    /// Replace the whole value with `[REDACTED]`.
    Redact,
    /// Replace with the hex HMAC-SHA-256 of the value under the configured key, so
    /// equal values stay equal (joinable) without being readable.
    Hash,
    /// Keep an IP address's network, zero the host: `203.0.113.7` → `203.0.113.0/24`,
    /// `2001:db8:85a3::8a2e:370:7334` → `2001:db8:85a3::/48` (an IPv4-mapped address
    /// keeps its IPv4 /24); anything else is redacted.
    Network,
    /// Replace the whole value with this fixed text: `{replace: "[IP]"}`.
    Replace(String),
}

impl Strategy {
    /// Whether this strategy needs a hashing key.
    pub fn needs_key(&self) -> bool {
        *self == Strategy::Hash
    }

    /// The text this strategy writes whatever the value ([`Strategy::Redact`],
    /// [`Strategy::Replace`]), so a rule can write it once per batch and share it.
    pub fn fixed_text(&self) -> Option<&str> {
        match self {
            Strategy::Redact => Some(REDACTED),
            Strategy::Replace(text) => Some(text),
            _ => None,
        }
    }

    /// The strategy's name as written in configurations.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Last4 => "last4",
            Strategy::Email => "email",
            Strategy::AreaCode => "area_code",
            Strategy::FirstLetter => "first_letter",
            Strategy::Redact => "redact",
            Strategy::Hash => "hash",
            Strategy::Network => "network",
            Strategy::Replace(_) => "replace",
        }
    }
}

/// The text that replaces redacted values.
pub const REDACTED: &str = "[REDACTED]";

/// Applies strategies; holds the hashing key when one is configured.
#[derive(Clone, Default)]
pub struct Masker {
    key: Option<Hmac<Sha256>>,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masker").field("has_key", &self.key.is_some()).finish()
    }
}

impl Masker {
    /// A masker without a hashing key ([`Strategy::Hash`] then redacts).
    pub fn new() -> Self {
        Self::default()
    }

    /// A masker whose [`Strategy::Hash`] uses HMAC-SHA-256 with `key`.
    pub fn with_key(key: &[u8]) -> Self {
        Self { key: Some(<Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")) }
    }

    /// Whether a hashing key is set.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// Appends `value` rewritten by `strategy` to `out`.
    pub fn mask(&self, strategy: &Strategy, value: &str, out: &mut String) {
        match strategy {
            Strategy::Last4 => keep_last(value, 4, out),
            Strategy::Email => email(value, out),
            Strategy::AreaCode => area_code(value, out),
            Strategy::FirstLetter => first_letters(value, out),
            Strategy::Redact => out.push_str(REDACTED),
            Strategy::Hash => match &self.key {
                Some(key) => {
                    let mut mac = key.clone();
                    mac.update(value.as_bytes());
                    hex(&mac.finalize().into_bytes(), out);
                }
                None => out.push_str(REDACTED),
            },
            Strategy::Network => network(value, out),
            Strategy::Replace(text) => out.push_str(text),
        }
    }
}

fn network(value: &str, out: &mut String) {
    use std::fmt::Write;
    use std::net::{Ipv4Addr, Ipv6Addr};
    let v4 = value.parse::<Ipv4Addr>().ok();
    let v6 = value.parse::<Ipv6Addr>().ok();
    // An IPv4-mapped address (`::ffff:192.0.2.1`) keeps its IPv4 network.
    if let Some(ip) = v4.or_else(|| v6.and_then(|ip| ip.to_ipv4_mapped())) {
        let [a, b, c, _] = ip.octets();
        let _ = write!(out, "{a}.{b}.{c}.0/24");
    } else if let Some(ip) = v6 {
        let [a, b, c, ..] = ip.segments();
        let _ = write!(out, "{}/48", Ipv6Addr::new(a, b, c, 0, 0, 0, 0, 0));
    } else {
        out.push_str(REDACTED);
    }
}

fn keep_last(value: &str, keep: usize, out: &mut String) {
    if value.is_ascii() {
        keep_last_ascii(value, keep, out);
    } else {
        keep_last_chars(value, keep, out);
    }
}

/// [`keep_last`] for ASCII text, eight bytes a step: in a module a loop costs its epoch
/// check and Cranelift's spills on every step, ~50 instructions a character.
fn keep_last_ascii(value: &str, keep: usize, out: &mut String) {
    let bytes = value.as_bytes();
    let total =
        (0..bytes.len()).step_by(8).map(|at| ascii_word(bytes, at).0).map(alnum).map(u64::count_ones).sum::<u32>();
    let mut to_star = (total as usize).saturating_sub(keep) as u32;
    let (mut at, mut words) = (0, AsciiWords::new());
    while to_star > 0 {
        let (word, len) = ascii_word(bytes, at);
        let mut starred = alnum(word);
        if starred.count_ones() > to_star {
            starred = lowest_bits(starred, to_star);
        }
        to_star -= starred.count_ones();
        words.push(out, star(word, starred), len);
        at += len;
    }
    words.flush(out);
    out.push_str(&value[at..]);
}

fn keep_last_chars(value: &str, keep: usize, out: &mut String) {
    let total = value.chars().filter(|c| c.is_alphanumeric()).count();
    let mut seen = 0;
    for c in value.chars() {
        if c.is_alphanumeric() {
            seen += 1;
            out.push(if seen + keep > total { c } else { '*' });
        } else {
            out.push(c);
        }
    }
}

fn email(value: &str, out: &mut String) {
    match value.rfind('@') {
        Some(at) if at > 0 => {
            let first = value.chars().next().unwrap_or('*');
            out.push(first);
            out.push_str("***@");
            // The domain only: whatever follows it in the field is not kept.
            let domain = value[at + 1..].split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '-')).next();
            out.push_str(domain.unwrap_or_default());
        }
        _ => first_letters(value, out),
    }
}

fn area_code(value: &str, out: &mut String) {
    let digits = value.bytes().filter(u8::is_ascii_digit).count();
    let first = value.bytes().find(u8::is_ascii_digit);
    let keep = if digits == 11 && first == Some(b'1') { 4 } else { 3 };
    if value.is_ascii() {
        area_code_ascii(value, keep, out);
    } else {
        area_code_chars(value, keep, out);
    }
}

/// [`area_code`]'s rewrite for ASCII text, eight bytes a step (see [`keep_last_ascii`]).
fn area_code_ascii(value: &str, keep: usize, out: &mut String) {
    let bytes = value.as_bytes();
    let mut to_keep = keep as u32;
    let (mut at, mut words) = (0, AsciiWords::new());
    while at < bytes.len() {
        let (word, len) = ascii_word(bytes, at);
        let mut digits = in_range(word, b'0', b'9');
        if to_keep > 0 {
            let kept = lowest_bits(digits, to_keep);
            to_keep -= kept.count_ones();
            digits &= !kept;
        }
        words.push(out, star(word, digits | letters(word)), len);
        at += len;
    }
    words.flush(out);
}

fn area_code_chars(value: &str, keep: usize, out: &mut String) {
    let mut seen = 0;
    for c in value.chars() {
        if c.is_ascii_digit() {
            seen += 1;
            out.push(if seen <= keep { c } else { '*' });
        } else if c.is_alphanumeric() {
            out.push('*');
        } else {
            out.push(c);
        }
    }
}

/// Eight bytes as one number: bit 7 of a byte stands for the byte in the masks below.
const ONES: u64 = 0x0101_0101_0101_0101;

/// Up to eight bytes of ASCII `bytes` from `at`, zero-padded (a zero byte is in no
/// class), and how many they are.
fn ascii_word(bytes: &[u8], at: usize) -> (u64, usize) {
    let len = (bytes.len() - at).min(8);
    let word = if len == 8 {
        u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
    } else if bytes.len() >= 8 {
        // The last eight bytes, shifted down past those already seen.
        let last = u64::from_le_bytes(bytes[bytes.len() - 8..].try_into().expect("eight bytes"));
        last >> (8 * (8 - len))
    } else {
        bytes[at..].iter().rev().fold(0, |word, &b| word << 8 | u64::from(b))
    };
    (word, len)
}

/// Bit 7 of each byte of `word` (ASCII) set when the byte is in `lo..=hi`.
fn in_range(word: u64, lo: u8, hi: u8) -> u64 {
    // Bytes are below 0x80, so no sum carries into the next byte.
    let at_least_lo = word + ONES * u64::from(0x80 - lo);
    let above_hi = word + ONES * u64::from(0x7f - hi);
    at_least_lo & !above_hi & (ONES * 0x80)
}

/// The ASCII letters of `word`, as [`in_range`] marks them.
fn letters(word: u64) -> u64 {
    in_range(word | (ONES * 0x20), b'a', b'z')
}

/// The ASCII letters and digits of `word`, as [`in_range`] marks them.
fn alnum(word: u64) -> u64 {
    in_range(word, b'0', b'9') | letters(word)
}

/// The lowest `n` marks of `marks`.
fn lowest_bits(marks: u64, n: u32) -> u64 {
    let (mut rest, mut kept) = (marks, 0);
    for _ in 0..n.min(rest.count_ones()) {
        let lowest = rest & rest.wrapping_neg();
        kept |= lowest;
        rest ^= lowest;
    }
    kept
}

/// `word` with the marked bytes replaced by `*`.
fn star(word: u64, marks: u64) -> u64 {
    let whole = (marks >> 7) * 0xff;
    (word & !whole) | ((ONES * u64::from(b'*')) & whole)
}

/// Rewritten ASCII collected eight bytes at a time and appended to the output in one
/// piece: appending each word would check it as UTF-8 and copy it with `memory.copy`,
/// a call out of the module, and appending character by character costs a loop.
struct AsciiWords {
    buf: [u8; 64],
    len: usize,
}

impl AsciiWords {
    fn new() -> Self {
        AsciiWords { buf: [0; 64], len: 0 }
    }

    /// Adds the first `len` bytes of `word` (ASCII).
    fn push(&mut self, out: &mut String, word: u64, len: usize) {
        if self.len + 8 > self.buf.len() {
            self.flush(out);
        }
        // All eight bytes, a fixed-size store; only `len` of them count.
        self.buf[self.len..self.len + 8].copy_from_slice(&word.to_le_bytes());
        self.len += len;
    }

    fn flush(&mut self, out: &mut String) {
        out.push_str(firehose_json::utf8(&self.buf[..self.len]).expect("ASCII stays ASCII"));
        self.len = 0;
    }
}

fn first_letters(value: &str, out: &mut String) {
    for (i, word) in value.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if let Some(first) = word.chars().next() {
            out.push(first);
            out.push_str("***");
        }
    }
}

fn hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(strategy: Strategy, value: &str) -> String {
        let mut out = String::new();
        Masker::with_key(b"secret").mask(&strategy, value, &mut out);
        out
    }

    #[test]
    fn last4_keeps_separators() {
        assert_eq!(mask(Strategy::Last4, "123-45-6789"), "***-**-6789");
        assert_eq!(mask(Strategy::Last4, "4111 1111 1111 1111"), "**** **** **** 1111");
        assert_eq!(mask(Strategy::Last4, "12"), "12");
    }

    #[test]
    fn ascii_paths_write_what_the_character_paths_write() {
        let mut samples: Vec<String> = [
            "",
            "1",
            "12345",
            "123-45-6789",
            "4111 1111 1111 1111",
            "(555) 123-4567",
            "+1 555.123.4567",
            "15551234567",
            "1-800-FLOWERS",
            "abc",
            "a1b2c3d4e5",
            "--",
            "ext. 42 x7",
            "Zz09@[`{/:",
        ]
        .map(String::from)
        .into();
        // Every printable ASCII character, in runs that shift against the kept ones.
        let printable: String = (b' '..=b'~').map(char::from).collect();
        for i in 0..printable.len() {
            let rotated = printable[i..].to_string() + &printable[..i];
            samples.extend((0..24).map(|n| rotated[..n].to_string()));
            samples.push(rotated);
        }
        for value in &samples {
            for keep in [0, 1, 3, 4, 9, 99] {
                let (mut fast, mut slow) = (String::new(), String::new());
                keep_last_ascii(value, keep, &mut fast);
                keep_last_chars(value, keep, &mut slow);
                assert_eq!(fast, slow, "keep_last({value:?}, {keep})");
                let (mut fast, mut slow) = (String::new(), String::new());
                area_code_ascii(value, keep, &mut fast);
                area_code_chars(value, keep, &mut slow);
                assert_eq!(fast, slow, "area_code({value:?}, {keep})");
            }
        }
        // Non-ASCII text takes the character paths.
        assert_eq!(mask(Strategy::Last4, "Zoë-1234-5678"), "***-****-5678");
        assert_eq!(mask(Strategy::AreaCode, "tél 555 123 4567"), "*** 555 *** ****");
    }

    #[test]
    fn email_keeps_first_letter_and_domain() {
        assert_eq!(mask(Strategy::Email, "jane.doe@example.com"), "j***@example.com");
        assert_eq!(mask(Strategy::Email, "élodie@example.fr"), "é***@example.fr");
        assert_eq!(mask(Strategy::Email, "not-an-email"), "n***");
        assert_eq!(mask(Strategy::Email, "jane@example.com, ssn 123-45-6789"), "j***@example.com");
    }

    #[test]
    fn area_code_keeps_the_first_three_digits_and_country_code() {
        assert_eq!(mask(Strategy::AreaCode, "(555) 123-4567"), "(555) ***-****");
        assert_eq!(mask(Strategy::AreaCode, "+1 555.123.4567"), "+1 555.***.****");
        assert_eq!(mask(Strategy::AreaCode, "5551234567"), "555*******");
    }

    #[test]
    fn first_letter_handles_unicode_words() {
        assert_eq!(mask(Strategy::FirstLetter, "Émile Zola"), "É*** Z***");
        assert_eq!(mask(Strategy::FirstLetter, "Łukasz"), "Ł***");
        assert_eq!(mask(Strategy::FirstLetter, "李小龙"), "李***");
    }

    #[test]
    fn hash_is_keyed_and_deterministic() {
        let a = mask(Strategy::Hash, "123-45-6789");
        assert_eq!(a.len(), 64);
        assert_eq!(a, mask(Strategy::Hash, "123-45-6789"));
        let mut other = String::new();
        Masker::with_key(b"other key").mask(&Strategy::Hash, "123-45-6789", &mut other);
        assert_ne!(a, other);
        // RFC 4231 test case 2.
        let mut rfc = String::new();
        Masker::with_key(b"Jefe").mask(&Strategy::Hash, "what do ya want for nothing?", &mut rfc);
        assert_eq!(rfc, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn redact_and_keyless_hash_hide_everything() {
        assert_eq!(mask(Strategy::Redact, "anything"), REDACTED);
        let mut out = String::new();
        Masker::new().mask(&Strategy::Hash, "x", &mut out);
        assert_eq!(out, REDACTED);
    }

    #[test]
    fn network_keeps_the_prefix_and_replace_writes_its_text() {
        assert_eq!(mask(Strategy::Network, "203.0.113.7"), "203.0.113.0/24");
        assert_eq!(mask(Strategy::Network, "2001:db8:85a3::8a2e:370:7334"), "2001:db8:85a3::/48");
        assert_eq!(mask(Strategy::Network, "::ffff:192.0.2.1"), "192.0.2.0/24");
        assert_eq!(mask(Strategy::Network, "not an address"), REDACTED);
        assert_eq!(mask(Strategy::Replace("[IP]".into()), "203.0.113.7"), "[IP]");
    }

    #[test]
    fn fixed_texts_are_what_masking_writes() {
        for strategy in [Strategy::Redact, Strategy::Replace("[IP]".into())] {
            assert_eq!(strategy.fixed_text(), Some(mask(strategy.clone(), "203.0.113.7").as_str()));
        }
        assert_eq!(Strategy::Hash.fixed_text(), None, "a hash depends on the value");
        assert_eq!(Strategy::Last4.fixed_text(), None);
    }

    #[test]
    fn strategies_read_as_configured() {
        let read = |json: &str| serde_json::from_str::<Strategy>(json).unwrap();
        assert_eq!(read(r#""network""#), Strategy::Network);
        assert_eq!(read(r#"{"replace": "[IP]"}"#), Strategy::Replace("[IP]".into()));
    }
}
