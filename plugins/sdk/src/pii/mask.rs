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
