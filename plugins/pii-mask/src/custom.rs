//! `detect.custom`: the user's own regular expressions, all of a stage matched by one
//! `RegexSet` pass per string; only the patterns it reports are then searched for
//! their matches. The `regex` crate runs in time linear in the text, whatever the
//! pattern, so no pattern can stall a batch by backtracking.

use std::ops::Range;

use firehose_sdk::ConfigError;
use firehose_sdk::pii::{ContextWords, Strategy};
use regex::{Regex, RegexSet};

use crate::config::{CustomConfig, check_window, check_words};

/// The largest compiled size of one pattern or of the set, in bytes.
const SIZE_LIMIT: usize = 4 << 20;

/// A stage's custom patterns, compiled once at configuration.
#[derive(Debug)]
pub(crate) struct CustomPatterns {
    set: RegexSet,
    patterns: Vec<Regex>,
    /// Words required before a match, per pattern.
    context: Vec<Option<ContextWords>>,
    /// The strategy of each pattern.
    pub strategies: Vec<Strategy>,
}

/// A match of pattern `pattern` at `range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Match {
    pub pattern: usize,
    pub range: Range<usize>,
}

impl CustomPatterns {
    /// Compiles `configs`; errors name `detect.custom[i].…`.
    pub fn new(configs: &[CustomConfig]) -> Result<Self, ConfigError> {
        let mut patterns = Vec::with_capacity(configs.len());
        let mut context = Vec::with_capacity(configs.len());
        for (i, config) in configs.iter().enumerate() {
            let at = format!("detect.custom[{i}]");
            if config.name.trim().is_empty() {
                return Err(ConfigError::new(format!("{at}.name"), "give the pattern a name (it appears in errors)"));
            }
            let regex = regex::RegexBuilder::new(&config.pattern).size_limit(SIZE_LIMIT).build().map_err(|e| {
                ConfigError::new(format!("{at}.pattern"), format!("`{}` is not a valid pattern: {e}", config.name))
            })?;
            patterns.push(regex);
            let window = check_window(config.window, &format!("{at}.window"))?;
            context.push(match &config.context {
                Some(words) => {
                    check_words(words, &format!("{at}.context"))?;
                    Some(ContextWords::new(words, window))
                }
                None if config.window.is_some() => {
                    return Err(ConfigError::new(
                        format!("{at}.window"),
                        "`window` applies to `context`: add the words",
                    ));
                }
                None => None,
            });
        }
        let set = regex::RegexSetBuilder::new(configs.iter().map(|c| &c.pattern))
            .size_limit(SIZE_LIMIT * configs.len().max(1))
            .build()
            .map_err(|e| ConfigError::new("detect.custom", format!("the patterns together do not compile: {e}")))?;
        let strategies = configs.iter().map(|c| c.strategy.clone()).collect();
        Ok(CustomPatterns { set, patterns, context, strategies })
    }

    /// Appends every non-empty match in `text` of every pattern (each pattern's
    /// matches in order; patterns may overlap each other) to `out`.
    pub fn find(&self, text: &str, out: &mut Vec<Match>) {
        if !self.set.is_match(text) {
            return;
        }
        for pattern in self.set.matches(text).iter() {
            let context = self.context[pattern].as_ref();
            for m in self.patterns[pattern].find_iter(text) {
                // An empty match (`\d*` between words) has nothing to mask.
                if m.is_empty() || context.is_some_and(|c| !c.near(text.as_bytes(), m.start())) {
                    continue;
                }
                out.push(Match { pattern, range: m.range() });
            }
        }
    }
}
