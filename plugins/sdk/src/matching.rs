//! Matching helpers for rules: shell-style globs for names like `recipient.*`.

use firehose_json::bytes_equal;

/// A compiled glob: `*` matches any run of characters (dots included), `?` one character.
#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
    form: Form,
}

/// How a glob is matched: most event-type patterns are a name or a name with a trailing
/// `*` (`recipient.*`), compared as bytes; the rest go to `wildmatch`, which walks the
/// value a character at a time (in a module, a loop with an epoch check per character).
#[derive(Debug, Clone)]
enum Form {
    /// No `*` or `?`: the value must equal the pattern.
    Exact,
    /// One `*`, at the end: the value must start with the pattern before it.
    Prefix(usize),
    /// Anything else.
    Wild(wildmatch::WildMatch),
}

impl Glob {
    /// Compiles `pattern`; patterns without `*` or `?` compare exactly.
    pub fn new(pattern: &str) -> Self {
        let form = match pattern.find(['*', '?']) {
            None => Form::Exact,
            Some(star) if star == pattern.len() - 1 && pattern.ends_with('*') => Form::Prefix(star),
            Some(_) => Form::Wild(wildmatch::WildMatch::new(pattern)),
        };
        Self { text: pattern.to_string(), form }
    }

    /// Whether `value` matches.
    #[inline]
    pub fn matches(&self, value: &str) -> bool {
        let (bytes, text) = (value.as_bytes(), self.text.as_bytes());
        match &self.form {
            Form::Exact => bytes_equal(bytes, text),
            Form::Prefix(n) => bytes.len() >= *n && bytes_equal(&bytes[..*n], &text[..*n]),
            Form::Wild(p) => p.matches(value),
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
        assert!(Glob::new("*").matches("") && Glob::new("a*").matches("a") && !Glob::new("ab*").matches("a"));
    }

    /// The byte forms (exact, trailing `*`) against `wildmatch` itself, which the other
    /// patterns use, on random patterns and values over a small alphabet (non-ASCII
    /// included), so that they often share a prefix, differ in one byte or in length.
    #[test]
    fn every_pattern_matches_what_wildmatch_matches() {
        let mut below = firehose_json::test_random::below(0x9e37_79b9_7f4a_7c15);
        // Wildcards only in patterns (the first `kinds` characters of the alphabet).
        let mut text = |kinds: usize| -> String {
            (0..below(12)).map(|_| ['a', 'b', '.', 'é', '*', '?'][below(kinds)]).collect()
        };
        for round in 0..20_000 {
            let mut pattern = text(if round % 4 == 0 { 6 } else { 4 });
            if round % 2 == 0 {
                pattern.push('*');
            }
            // A third of the values start with the pattern's literal text.
            let value = if round % 3 == 0 { pattern.replace(['*', '?'], "") + &text(4) } else { text(4) };
            let oracle = wildmatch::WildMatch::new(&pattern).matches(&value);
            assert_eq!(Glob::new(&pattern).matches(&value), oracle, "pattern {pattern:?}, value {value:?}");
        }
    }
}
