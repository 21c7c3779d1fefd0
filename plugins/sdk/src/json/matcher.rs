//! Matching the location of a value against many JSONPath patterns at once, while
//! walking an event. Used where a rule applies "to these fields" (masking by path).

use super::path::{Path, Segment, Selector};

/// One step from a value to a child: a member key or an array index.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// A member, with its key's bytes between the quotes (still escaped).
    Key {
        /// The key's raw bytes.
        raw: &'a [u8],
        /// Whether `raw` contains escape sequences.
        escaped: bool,
    },
    /// An array item.
    Index(usize),
}

/// Progress of one pattern: `(pattern index, segments matched so far)`.
pub type State = (u16, u16);

/// A set of path patterns compiled for incremental matching (a small NFA over steps).
#[derive(Debug, Clone, Default)]
pub struct PathMatcher {
    patterns: Vec<Vec<Segment>>,
}

impl PathMatcher {
    /// Compiles patterns; each must be one of the fast JSONPath forms (names, indexes,
    /// wildcards, `..`). Returns the index of the first pattern that is not.
    pub fn new(paths: &[Path]) -> Result<Self, usize> {
        let patterns = paths
            .iter()
            .enumerate()
            .map(|(i, p)| p.segments().map(<[Segment]>::to_vec).ok_or(i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { patterns })
    }

    /// Whether there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Appends the states for the event's root to `out`.
    pub fn start(&self, out: &mut Vec<State>) {
        out.extend((0..self.patterns.len()).map(|p| (p as u16, 0)));
    }

    /// Appends to `states` the states reached by taking `step` from `states[from]`.
    ///
    /// Walkers keep one stack of states and a range per nesting level, so stepping
    /// reads and appends to the same vector.
    pub fn step(&self, states: &mut Vec<State>, from: std::ops::Range<usize>, step: Step<'_>) {
        for k in from {
            let (p, pos) = states[k];
            let Some(segment) = self.patterns[p as usize].get(pos as usize) else {
                continue;
            };
            match segment {
                Segment::Child(selector) => {
                    if selects(selector, step) {
                        states.push((p, pos + 1));
                    }
                }
                Segment::Descendant(selector) => {
                    states.push((p, pos));
                    if selects(selector, step) {
                        states.push((p, pos + 1));
                    }
                }
            }
        }
    }

    /// The lowest-numbered pattern that `states` has matched completely.
    pub fn accepted(&self, states: &[State]) -> Option<usize> {
        states
            .iter()
            .filter(|&&(p, pos)| pos as usize == self.patterns[p as usize].len())
            .map(|&(p, _)| p as usize)
            .min()
    }
}

#[inline]
fn selects(selector: &Selector, step: Step<'_>) -> bool {
    match (selector, step) {
        (Selector::Wildcard, _) => true,
        (Selector::Name(name), Step::Key { raw, escaped: false }) => raw == name.as_bytes(),
        (Selector::Name(name), Step::Key { raw, escaped: true }) => super::unescape(raw).is_some_and(|k| k == *name),
        (Selector::Index(i), Step::Index(at)) => *i >= 0 && *i as usize == at,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(paths: &[&str]) -> PathMatcher {
        PathMatcher::new(&paths.iter().map(|p| Path::parse(p).unwrap()).collect::<Vec<_>>()).unwrap()
    }

    fn run(m: &PathMatcher, steps: &[Step<'_>]) -> Option<usize> {
        let mut states = Vec::new();
        m.start(&mut states);
        let mut from = 0..states.len();
        for step in steps {
            let lo = states.len();
            m.step(&mut states, from, *step);
            from = lo..states.len();
        }
        m.accepted(&states[from])
    }

    fn key(k: &str) -> Step<'_> {
        Step::Key { raw: k.as_bytes(), escaped: false }
    }

    #[test]
    fn matches_names_indexes_wildcards_and_descendants() {
        let m = matcher(&["$.lead_data.ssn", "$.lead_data.phones[*]", "$..email", "$.a[1].b"]);
        assert_eq!(run(&m, &[key("lead_data"), key("ssn")]), Some(0));
        assert_eq!(run(&m, &[key("lead_data"), key("phones"), Step::Index(3)]), Some(1));
        assert_eq!(run(&m, &[key("x"), Step::Index(0), key("email")]), Some(2));
        assert_eq!(run(&m, &[key("email")]), Some(2));
        assert_eq!(run(&m, &[key("a"), Step::Index(1), key("b")]), Some(3));
        assert_eq!(run(&m, &[key("a"), Step::Index(0), key("b")]), None);
        assert_eq!(run(&m, &[key("lead_data")]), None);
        assert_eq!(run(&m, &[key("lead_data"), key("ssn"), key("deeper")]), None);
    }

    #[test]
    fn refuses_patterns_needing_a_full_parse() {
        let paths = [Path::parse("$.a").unwrap(), Path::parse("$.a[?@.b]").unwrap()];
        assert_eq!(PathMatcher::new(&paths).unwrap_err(), 1);
    }
}
