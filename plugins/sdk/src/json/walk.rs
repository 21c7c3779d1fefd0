//! Walking every scalar of an event once, knowing for each which path patterns its
//! location matches. This is how a rule visits "all string fields at any depth"
//! without building a tree.

use std::ops::Range;

use super::matcher::{PathMatcher, State, Step};
use super::scan::{Error, err, scan_string, skip_value, skip_ws};

/// Receives the scalars of an event during [`walk`].
pub trait Visitor {
    /// A string value; `range` covers it with its quotes. `matched` is the first
    /// pattern matching its location or the location of a container around it.
    fn string(&mut self, text: &[u8], range: Range<usize>, escaped: bool, matched: Option<usize>);

    /// A number, `true`, `false` or `null`, with the same `matched` rule.
    fn scalar(&mut self, _text: &[u8], _range: Range<usize>, _matched: Option<usize>) {}
}

/// Visits every scalar of `event` in document order. `states` is scratch space that
/// the caller may keep between events to avoid allocating.
pub fn walk(
    event: &[u8],
    matcher: &PathMatcher,
    states: &mut Vec<State>,
    visitor: &mut impl Visitor,
) -> Result<(), Error> {
    states.clear();
    matcher.start(states);
    let start = skip_ws(event, 0);
    let mut walker = Walker { text: event, matcher, states, visitor };
    let frame = 0..walker.states.len();
    walker.value(start, frame, None)?;
    Ok(())
}

struct Walker<'w, V> {
    text: &'w [u8],
    matcher: &'w PathMatcher,
    states: &'w mut Vec<State>,
    visitor: &'w mut V,
}

impl<V: Visitor> Walker<'_, V> {
    fn value(&mut self, i: usize, frame: Range<usize>, inherited: Option<usize>) -> Result<usize, Error> {
        let b = self.text;
        let matched = inherited.or_else(|| self.matcher.accepted(&self.states[frame.clone()]));
        match b.get(i) {
            Some(b'{') => {
                let mut j = skip_ws(b, i + 1);
                if b.get(j) == Some(&b'}') {
                    return Ok(j + 1);
                }
                loop {
                    if b.get(j) != Some(&b'"') {
                        return err(j, "expected a string key");
                    }
                    let (key_end, escaped) = scan_string(b, j)?;
                    let key = &b[j + 1..key_end - 1];
                    j = skip_ws(b, key_end);
                    if b.get(j) != Some(&b':') {
                        return err(j, "expected `:` after key");
                    }
                    j = skip_ws(b, j + 1);
                    let end = self.child(j, frame.clone(), Step::Key { raw: key, escaped }, matched)?;
                    j = skip_ws(b, end);
                    match b.get(j) {
                        Some(b',') => j = skip_ws(b, j + 1),
                        Some(b'}') => return Ok(j + 1),
                        _ => return err(j, "expected `,` or `}` in object"),
                    }
                }
            }
            Some(b'[') => {
                let mut j = skip_ws(b, i + 1);
                if b.get(j) == Some(&b']') {
                    return Ok(j + 1);
                }
                let mut index = 0;
                loop {
                    let end = self.child(j, frame.clone(), Step::Index(index), matched)?;
                    index += 1;
                    j = skip_ws(b, end);
                    match b.get(j) {
                        Some(b',') => j = skip_ws(b, j + 1),
                        Some(b']') => return Ok(j + 1),
                        _ => return err(j, "expected `,` or `]` in array"),
                    }
                }
            }
            Some(b'"') => {
                let (end, escaped) = scan_string(b, i)?;
                self.visitor.string(b, i..end, escaped, matched);
                Ok(end)
            }
            Some(_) => {
                let end = skip_value(b, i)?;
                self.visitor.scalar(b, i..end, matched);
                Ok(end)
            }
            None => err(i, "expected a value"),
        }
    }

    fn child(&mut self, i: usize, frame: Range<usize>, step: Step<'_>, matched: Option<usize>) -> Result<usize, Error> {
        if matched.is_some() || frame.is_empty() {
            return self.value(i, frame.end..frame.end, matched);
        }
        let lo = self.states.len();
        self.matcher.step(self.states, frame, step);
        let hi = self.states.len();
        let end = self.value(i, lo..hi, None);
        self.states.truncate(lo);
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Path;

    #[derive(Default)]
    struct Collect(Vec<(String, Option<usize>)>);

    impl Visitor for Collect {
        fn string(&mut self, text: &[u8], range: Range<usize>, _escaped: bool, matched: Option<usize>) {
            self.0.push((String::from_utf8(text[range].to_vec()).unwrap(), matched));
        }
        fn scalar(&mut self, text: &[u8], range: Range<usize>, matched: Option<usize>) {
            self.0.push((String::from_utf8(text[range].to_vec()).unwrap(), matched));
        }
    }

    #[test]
    fn reports_every_scalar_with_the_pattern_its_location_matches() {
        let paths = ["$.lead_data.ssn", "$.lead_data.phones"].map(|p| Path::parse(p).unwrap());
        let matcher = PathMatcher::new(&paths).unwrap();
        let event =
            br#"{"id": 7, "lead_data": {"ssn": "123-45-6789", "phones": ["1", {"x": "2"}], "note": "hi"}, "e": []}"#;
        let mut seen = Collect::default();
        walk(event, &matcher, &mut Vec::new(), &mut seen).unwrap();
        assert_eq!(
            seen.0,
            vec![
                ("7".into(), None),
                ("\"123-45-6789\"".into(), Some(0)),
                ("\"1\"".into(), Some(1)),
                ("\"2\"".into(), Some(1)),
                ("\"hi\"".into(), None),
            ]
        );
    }
}
