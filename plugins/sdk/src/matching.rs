//! Matching helpers for rules: shell-style globs for names like `recipient.*`.

/// A compiled glob: `*` matches any run of characters (dots included), `?` one character.
#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
    pattern: Option<wildmatch::WildMatch>,
}

impl Glob {
    /// Compiles `pattern`; patterns without `*` or `?` compare exactly.
    pub fn new(pattern: &str) -> Self {
        let wild = pattern.contains(['*', '?']);
        Self { text: pattern.to_string(), pattern: wild.then(|| wildmatch::WildMatch::new(pattern)) }
    }

    /// Whether `value` matches.
    #[inline]
    pub fn matches(&self, value: &str) -> bool {
        match &self.pattern {
            Some(p) => p.matches(value),
            None => self.text == value,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn matches_exact_and_wildcard_patterns() {
        assert!(Glob::new("recipient.*").matches("recipient.delivered"));
        assert!(Glob::new("recipient.*").matches("recipient.a.b"));
        assert!(!Glob::new("recipient.*").matches("source.accepted"));
        assert!(Glob::new("source.accepted").matches("source.accepted"));
        assert!(!Glob::new("source.accepted").matches("source.accepted2"));
        assert!(Glob::new("*.fail?d").matches("recipient.failed"));
    }
}
