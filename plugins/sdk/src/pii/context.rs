//! Context words: a candidate that fails a validity rule (an unissued SSN area, a card
//! number failing Luhn) still counts when a word such as "ssn" comes just before it.

/// The window, in characters before a candidate, searched when none is configured.
pub const DEFAULT_WINDOW: usize = 32;

/// Words that must occur shortly before a candidate, and how far back to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextWords {
    /// ASCII-lowercased words, each of one or more bytes.
    words: Vec<Box<[u8]>>,
    /// How many characters before the candidate's start are searched.
    window: usize,
}

impl ContextWords {
    /// The words (matched case-insensitively for ASCII letters, on word boundaries)
    /// searched in the `window` characters before a candidate. Empty words are ignored.
    pub fn new(words: impl IntoIterator<Item = impl AsRef<str>>, window: usize) -> Self {
        let words = words
            .into_iter()
            .map(|w| w.as_ref().trim().to_ascii_lowercase().into_bytes().into_boxed_slice())
            .filter(|w| !w.is_empty())
            .collect();
        ContextWords { words, window }
    }

    /// The words used for `kind` when its context is switched on without a list.
    pub fn defaults(kind: super::PiiKind) -> &'static [&'static str] {
        use super::PiiKind::*;
        match kind {
            Ssn => &["ssn", "ssn#", "social security", "social sec", "soc sec", "taxpayer id", "tin"],
            Card => {
                &["card", "card no", "card number", "credit card", "debit card", "cc", "visa", "mastercard", "amex"]
            }
            Phone => &["phone", "tel", "telephone", "mobile", "cell", "call", "fax"],
            Iban => &["iban", "account", "bank account", "acct"],
            Dob => &["dob", "d.o.b", "born", "birth", "birthday", "date of birth", "birthdate"],
            Email | Ipv4 | Ipv6 => &[],
        }
    }

    /// Whether one of the words occurs within the window before byte `start` of `text`
    /// (UTF-8), starting and ending on word boundaries.
    pub fn near(&self, text: &[u8], start: usize) -> bool {
        let from = window_start(text, start, self.window);
        let hay = &text[from..start];
        self.words.iter().any(|word| {
            hay.windows(word.len()).enumerate().any(|(at, candidate)| {
                let at = from + at;
                candidate.eq_ignore_ascii_case(word)
                    && (at == 0 || !is_word(text[at - 1]) || !is_word(word[0]))
                    && text.get(at + word.len()).is_none_or(|&c| !is_word(c) || !is_word(word[word.len() - 1]))
            })
        })
    }
}

/// Letters, digits and `_` continue a word; so does any byte of a non-ASCII character.
fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// The byte offset `window` characters before `start`.
fn window_start(text: &[u8], start: usize, window: usize) -> usize {
    let mut from = start;
    let mut chars = 0;
    while from > 0 && chars < window {
        from -= 1;
        // Count a character at its first byte, not at its continuation bytes.
        if text[from] & 0xC0 != 0x80 {
            chars += 1;
        }
    }
    from
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near(words: &[&str], window: usize, text: &str) -> bool {
        let start = text.find('#').expect("the candidate is marked with #");
        ContextWords::new(words, window).near(text.as_bytes(), start)
    }

    #[test]
    fn matches_whole_words_case_insensitively() {
        assert!(near(&["ssn"], 32, "SSN: #"));
        assert!(near(&["social security"], 32, "her Social Security number is #"));
        assert!(!near(&["ssn"], 32, "assn #"), "inside a longer word");
        assert!(!near(&["ssn"], 32, "ssns #"), "inside a longer word");
        assert!(!near(&["ssn"], 32, "ssné #"), "a non-ASCII letter continues the word");
        assert!(near(&["ssn"], 32, "(ssn)#"));
    }

    #[test]
    fn the_window_counts_characters_before_the_candidate() {
        assert!(near(&["dob"], 8, "dob: 12 #"));
        assert!(!near(&["dob"], 8, "dob was on #"), "starts 11 characters before");
        // Eight characters, sixteen bytes: the window counts characters.
        assert!(near(&["dob"], 8, "dob éééé#"));
        assert!(!near(&["dob"], 8, "dob ééééé#"));
        assert!(!near(&["dob"], 32, "# dob"), "only before the candidate");
    }
}
