//! Walking every scalar of an event once, knowing for each which path patterns its
//! location matches. This is how a rule visits "all string fields at any depth":
//! a linear pass over the tape, no tokenizing, no recursion.

use super::event::{Event, Value};
use super::matcher::{PathMatcher, State, Step};
use super::tape::{self, KEY_ESCAPED};

/// Receives the scalars of an event during [`Walker::walk`].
pub trait Visitor<'a> {
    /// A string value. `matched` is the first pattern matching its location or the
    /// location of a container around it.
    fn string(&mut self, value: Value<'a>, matched: Option<usize>);

    /// A number, `true`, `false` or `null`, with the same `matched` rule.
    fn scalar(&mut self, _value: Value<'a>, _matched: Option<usize>) {}

    /// Whether the visitor ignores every value at or under a location that pattern
    /// `matched` matches (a "skip" list). Such scalars are not reported, and the walk
    /// steps over such a container whole, unless a pattern deeper inside it could still
    /// match (a scalar matched by that pattern first is reported).
    fn ignores(&self, _matched: usize) -> bool {
        false
    }
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    /// This container's states: `states[lo..hi]`.
    lo: usize,
    hi: usize,
    matched: Option<usize>,
    next_index: usize,
}

/// Reusable scratch space for walks; keep one per rule to avoid allocating.
#[derive(Debug, Default, Clone)]
pub struct Walker {
    states: Vec<State>,
    frames: Vec<Frame>,
}

impl Walker {
    /// A walker with empty scratch space.
    pub fn new() -> Walker {
        Walker::default()
    }

    /// Visits every scalar of `event` in document order.
    pub fn walk<'a>(&mut self, event: &Event<'a>, matcher: &PathMatcher, visitor: &mut impl Visitor<'a>) {
        let tape = event.tape();
        let n = tape::len(tape);
        let Walker { states, frames } = self;
        states.clear();
        frames.clear();
        matcher.start(states);
        frames.push(Frame { lo: 0, hi: states.len(), matched: matcher.accepted(states), next_index: 0 });
        let mut i = 1;
        while i < n {
            let tag = tape::tag(tape, i);
            if tape::is_end(tag) {
                if let Some(frame) = frames.pop() {
                    states.truncate(frame.lo);
                }
                i += 1;
                continue;
            }
            let Some(parent) = frames.last_mut() else { break };
            let step = if tape::is_key(tag) {
                let start = tape::offset(tape, i);
                let raw = &event.bytes()[start + 1..tape::word(tape, i) - 1];
                i += 1;
                Step::Key { raw, escaped: tag == KEY_ESCAPED }
            } else {
                parent.next_index += 1;
                Step::Index(parent.next_index - 1)
            };
            let parent = *parent;
            let lo = states.len();
            // Keep stepping under a matched container: a pattern deeper down may come
            // first (a masked field inside a skipped object).
            let own = if parent.lo == parent.hi {
                None
            } else {
                matcher.step(states, parent.lo..parent.hi, step);
                matcher.accepted(&states[lo..])
            };
            let matched = match (parent.matched, own) {
                (Some(outer), Some(inner)) => Some(outer.min(inner)),
                (outer, inner) => outer.or(inner),
            };
            let hi = states.len();
            let tag = tape::tag(tape, i);
            if tape::is_start(tag) {
                if matched.is_some_and(|m| visitor.ignores(m)) && matcher.is_dead_end(&states[lo..hi]) {
                    // Nothing inside can match and the visitor ignores it all: go to
                    // the entry after the container's end.
                    states.truncate(lo);
                    i = tape::word(tape, i) + 1;
                    continue;
                }
                frames.push(Frame { lo, hi, matched, next_index: 0 });
            } else {
                // An ignored scalar is not reported: in a module, the call alone costs a
                // prologue with stack and epoch checks.
                if !matched.is_some_and(|m| visitor.ignores(m)) {
                    let value = event.value_at(i);
                    if tag == tape::STRING || tag == tape::STRING_ESCAPED {
                        visitor.string(value, matched);
                    } else {
                        visitor.scalar(value, matched);
                    }
                }
                states.truncate(lo);
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Path, tape_of};

    #[derive(Default)]
    struct Collect(Vec<(String, Option<usize>)>);

    impl<'a> Visitor<'a> for Collect {
        fn string(&mut self, value: Value<'a>, matched: Option<usize>) {
            self.0.push((String::from_utf8(value.raw().to_vec()).unwrap(), matched));
        }
        fn scalar(&mut self, value: Value<'a>, matched: Option<usize>) {
            self.0.push((String::from_utf8(value.raw().to_vec()).unwrap(), matched));
        }
    }

    #[test]
    fn reports_every_scalar_with_the_pattern_its_location_matches() {
        let paths = ["$.lead_data.ssn", "$.lead_data.phones", "$..deep"].map(|p| Path::parse(p).unwrap());
        let matcher = PathMatcher::new(&paths).unwrap();
        let text = br#"{"id": 7, "lead_data": {"ssn": "123-45-6789", "phones": ["1", {"x": "2"}], "note": "hi"}, "e": [], "a": [[{"deep": false}]]}"#;
        let tape = tape_of(text).unwrap();
        let mut seen = Collect::default();
        Walker::new().walk(&Event::new(text, &tape), &matcher, &mut seen);
        assert_eq!(
            seen.0,
            vec![
                ("7".into(), None),
                ("\"123-45-6789\"".into(), Some(0)),
                ("\"1\"".into(), Some(1)),
                ("\"2\"".into(), Some(1)),
                ("\"hi\"".into(), None),
                ("false".into(), Some(2)),
            ]
        );
    }

    #[test]
    fn a_pattern_inside_a_matched_container_wins_when_it_comes_first() {
        // Masked fields are numbered before skipped paths: a field inside a skipped
        // object is still masked.
        let paths = ["$.lead_data.ssn", "$.lead_data"].map(|p| Path::parse(p).unwrap());
        let matcher = PathMatcher::new(&paths).unwrap();
        let text = br#"{"lead_data": {"ssn": "123-45-6789", "note": "hi"}}"#;
        let tape = tape_of(text).unwrap();
        let mut seen = Collect::default();
        Walker::new().walk(&Event::new(text, &tape), &matcher, &mut seen);
        assert_eq!(seen.0, vec![("\"123-45-6789\"".into(), Some(0)), ("\"hi\"".into(), Some(1))]);
    }

    /// Collects like [`Collect`] and ignores what patterns from `ignored` on match.
    struct Skipping {
        seen: Collect,
        ignored: usize,
    }

    impl<'a> Visitor<'a> for Skipping {
        fn string(&mut self, value: Value<'a>, matched: Option<usize>) {
            self.seen.string(value, matched);
        }
        fn scalar(&mut self, value: Value<'a>, matched: Option<usize>) {
            self.seen.scalar(value, matched);
        }
        fn ignores(&self, matched: usize) -> bool {
            matched >= self.ignored
        }
    }

    #[test]
    fn ignored_containers_are_stepped_over_unless_a_pattern_inside_can_still_match() {
        // 0: a field inside the ignored `lead_data`; 1, 2: ignored; 3: ignored, with `..`.
        let paths = ["$.lead_data.ssn", "$.lead_data", "$.flow", "$.tags"].map(|p| Path::parse(p).unwrap());
        let matcher = PathMatcher::new(&paths).unwrap();
        let text = br#"{"flow": {"name": "x", "deep": [[1], {"a": "y"}]}, "lead_data": {"ssn": "1", "n": "2"}, "after": "z", "tags": [], "last": [3]}"#;
        let tape = tape_of(text).unwrap();
        let mut skipping = Skipping { seen: Collect::default(), ignored: 1 };
        Walker::new().walk(&Event::new(text, &tape), &matcher, &mut skipping);
        assert_eq!(
            skipping.seen.0,
            vec![
                // `flow` is stepped over whole; `lead_data` is walked for its `ssn`, and
                // its ignored `n` is not reported.
                ("\"1\"".into(), Some(0)),
                ("\"z\"".into(), None),
                ("3".into(), None),
            ]
        );
        // The same walk without ignoring sees everything, and `..` keeps a container alive.
        let mut all = Collect::default();
        Walker::new().walk(&Event::new(text, &tape), &matcher, &mut all);
        assert_eq!(all.0.len(), 7);
        let descendant = PathMatcher::new(&["$..a", "$.flow"].map(|p| Path::parse(p).unwrap())).unwrap();
        let mut skipping = Skipping { seen: Collect::default(), ignored: 1 };
        Walker::new().walk(&Event::new(text, &tape), &descendant, &mut skipping);
        assert!(skipping.seen.0.contains(&("\"y\"".into(), Some(0))), "{:?}", skipping.seen.0);
        assert!(!skipping.seen.0.iter().any(|(_, m)| *m == Some(1)), "{:?}", skipping.seen.0);
    }

    #[test]
    fn walks_without_patterns_and_reuses_scratch() {
        let matcher = PathMatcher::default();
        let mut walker = Walker::new();
        for text in [&br#"{"a": [1, [2, [3]]], "b": {"c": {"d": "e"}}}"#[..], br#"{}"#, br#"{"x": "y"}"#] {
            let tape = tape_of(text).unwrap();
            let mut seen = Collect::default();
            walker.walk(&Event::new(text, &tape), &matcher, &mut seen);
            let expected = match text.len() {
                2 => 0,
                10 => 1,
                _ => 4,
            };
            assert_eq!(seen.0.len(), expected);
            assert!(seen.0.iter().all(|(_, m)| m.is_none()));
        }
    }
}
