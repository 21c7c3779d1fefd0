//! Matching the location of a value against many JSONPath patterns at once, while
//! walking an event. Used where a rule applies "to these fields" (masking by path).
//!
//! The patterns are compiled into a trie of steps. Walking an event keeps, per
//! nesting level, the set of trie nodes the current location has reached — usually
//! zero or one — so testing a key costs one probe of each reached node's
//! [`NameSet`], however many patterns there are. A `..` segment becomes a node that
//! stays reached at any depth below it.

use super::names::NameSet;
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

/// A node of the pattern trie reached by the current location.
pub type State = u32;

#[derive(Debug, Clone, Default)]
struct Node {
    /// Member names leading to children (unescaped), and the child of each.
    names: NameSet,
    children: Vec<State>,
    /// Children by array index.
    indexes: Vec<(usize, State)>,
    /// Child reached by any step.
    wildcard: Option<State>,
    /// A `..` node hanging off this one: reached whenever this one is.
    hub: Option<State>,
    /// Whether this node stays reached on any step (it is a `..` node).
    floating: bool,
    /// Lowest index of a pattern that ends here.
    accepts: Option<usize>,
}

/// A set of path patterns compiled for incremental matching.
#[derive(Debug, Clone)]
pub struct PathMatcher {
    nodes: Vec<Node>,
    patterns: usize,
}

impl Default for PathMatcher {
    fn default() -> Self {
        PathMatcher { nodes: vec![Node::default()], patterns: 0 }
    }
}

impl PathMatcher {
    /// Compiles patterns; each must be one of the fast JSONPath forms (names, indexes,
    /// wildcards, `..`). Returns the index of the first pattern that is not.
    pub fn new(paths: &[Path]) -> Result<Self, usize> {
        let mut matcher = PathMatcher::default();
        for (p, path) in paths.iter().enumerate() {
            let segments = path.segments().ok_or(p)?;
            let mut node = 0;
            for segment in segments {
                // Negative indexes need the array's length, unknown while walking.
                if let Segment::Child(Selector::Index(i)) | Segment::Descendant(Selector::Index(i)) = segment
                    && *i < 0
                {
                    return Err(p);
                }
                let (from, selector) = match segment {
                    Segment::Child(selector) => (node, selector),
                    Segment::Descendant(selector) => (matcher.hub(node), selector),
                };
                node = matcher.child(from, selector);
            }
            let accepts = &mut matcher.nodes[node as usize].accepts;
            *accepts = Some(accepts.map_or(p, |a| a.min(p)));
        }
        matcher.patterns = paths.len();
        Ok(matcher)
    }

    fn add(&mut self, node: Node) -> State {
        self.nodes.push(node);
        (self.nodes.len() - 1) as State
    }

    fn hub(&mut self, from: State) -> State {
        if let Some(hub) = self.nodes[from as usize].hub {
            return hub;
        }
        let hub = self.add(Node { floating: true, ..Node::default() });
        self.nodes[from as usize].hub = Some(hub);
        hub
    }

    fn child(&mut self, from: State, selector: &Selector) -> State {
        let existing = {
            let node = &self.nodes[from as usize];
            match selector {
                Selector::Name(name) => node.names.find(name.as_bytes()).map(|n| node.children[n]),
                Selector::Index(i) => node.indexes.iter().find(|&&(n, _)| n as i64 == *i).map(|&(_, s)| s),
                Selector::Wildcard => node.wildcard,
            }
        };
        if let Some(state) = existing {
            return state;
        }
        let state = self.add(Node::default());
        let node = &mut self.nodes[from as usize];
        match selector {
            Selector::Name(name) => {
                node.names.insert(name.as_bytes());
                node.children.push(state);
            }
            Selector::Index(i) => node.indexes.push((*i as usize, state)),
            Selector::Wildcard => node.wildcard = Some(state),
        }
        state
    }

    /// Whether there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns == 0
    }

    /// Appends the states for the event's root to `out`.
    pub fn start(&self, out: &mut Vec<State>) {
        if !self.is_empty() {
            self.reach(0, out);
        }
    }

    #[inline]
    fn reach(&self, state: State, out: &mut Vec<State>) {
        out.push(state);
        if let Some(hub) = self.nodes[state as usize].hub {
            out.push(hub);
        }
    }

    /// Appends to `states` the states reached by taking `step` from `states[from]`.
    ///
    /// Walkers keep one stack of states and a range per nesting level, so stepping
    /// reads and appends to the same vector.
    #[inline]
    pub fn step(&self, states: &mut Vec<State>, from: std::ops::Range<usize>, step: Step<'_>) {
        // Most steps are a plain key from one node without `*` or `..`: inlined into
        // the walk, they cost a hash and a slot.
        if from.len() == 1
            && let Step::Key { raw, escaped: false } = step
        {
            let node = &self.nodes[states[from.start] as usize];
            if !node.floating && node.wildcard.is_none() {
                if let Some(name) = node.names.find(raw) {
                    self.reach(node.children[name], states);
                }
                return;
            }
        }
        self.step_any(states, from, step);
    }

    /// [`PathMatcher::step`] from any states, by any step.
    #[inline(never)]
    fn step_any(&self, states: &mut Vec<State>, from: std::ops::Range<usize>, step: Step<'_>) {
        for k in from {
            let node = &self.nodes[states[k] as usize];
            if node.floating {
                states.push(states[k]);
            }
            if let Some(wildcard) = node.wildcard {
                self.reach(wildcard, states);
            }
            let node = &self.nodes[states[k] as usize];
            match step {
                Step::Key { raw, escaped: false } => {
                    if let Some(name) = node.names.find(raw) {
                        self.reach(node.children[name], states);
                    }
                }
                Step::Key { raw, escaped: true } => {
                    if let Some(key) = super::unescape(raw)
                        && let Some(name) = node.names.find(key.as_bytes())
                    {
                        self.reach(node.children[name], states);
                    }
                }
                Step::Index(at) => {
                    if let Some(&(_, child)) = node.indexes.iter().find(|&&(i, _)| i == at) {
                        self.reach(child, states);
                    }
                }
            }
        }
    }

    /// Whether no step from `states` can reach any pattern: nothing below the current
    /// location can match, so a walk may skip it.
    pub fn is_dead_end(&self, states: &[State]) -> bool {
        states.iter().all(|&s| {
            let node = &self.nodes[s as usize];
            node.names.is_empty()
                && node.indexes.is_empty()
                && node.wildcard.is_none()
                && node.hub.is_none()
                && !node.floating
        })
    }

    /// The lowest-numbered pattern that `states` has matched completely.
    #[inline]
    pub fn accepted(&self, states: &[State]) -> Option<usize> {
        match states {
            // Most locations reach no node or one.
            [] => None,
            [one] => self.nodes[*one as usize].accepts,
            _ => states.iter().filter_map(|&s| self.nodes[s as usize].accepts).min(),
        }
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
    fn shared_prefixes_and_overlaps_report_the_first_pattern() {
        let m = matcher(&["$.a.*", "$.a.b", "$..b", "$.*.c"]);
        assert_eq!(run(&m, &[key("a"), key("b")]), Some(0));
        assert_eq!(run(&m, &[key("x"), key("b")]), Some(2));
        assert_eq!(run(&m, &[key("x"), key("c")]), Some(3));
        assert_eq!(run(&m, &[key("x"), Step::Index(2), key("y"), key("b")]), Some(2));
        let m = matcher(&["$..lead_data..phone"]);
        assert_eq!(run(&m, &[key("x"), key("lead_data"), Step::Index(0), key("phone")]), Some(0));
        assert_eq!(run(&m, &[key("phone")]), None);
    }

    #[test]
    fn names_sharing_their_first_eight_bytes_or_a_shorter_prefix_stay_apart() {
        let m = matcher(&["$.lead_data_a", "$.lead_data_b", "$.ab", "$.abcdefgh"]);
        assert_eq!(run(&m, &[key("lead_data_a")]), Some(0));
        assert_eq!(run(&m, &[key("lead_data_b")]), Some(1));
        assert_eq!(run(&m, &[key("lead_data_c")]), None);
        assert_eq!(run(&m, &[key("lead_data_")]), None);
        assert_eq!(run(&m, &[key("ab")]), Some(2));
        assert_eq!(run(&m, &[key("a")]), None);
        assert_eq!(run(&m, &[key("abc")]), None);
        assert_eq!(run(&m, &[key("abcdefgh")]), Some(3));
        assert_eq!(run(&m, &[key("abcdefgi")]), None);
    }

    #[test]
    fn escaped_keys_match_their_decoded_name() {
        let m = matcher(&["$['é']"]);
        assert_eq!(run(&m, &[Step::Key { raw: br"\u00e9", escaped: true }]), Some(0));
    }

    #[test]
    fn refuses_patterns_needing_a_full_parse() {
        let paths = [Path::parse("$.a").unwrap(), Path::parse("$.a[?@.b]").unwrap()];
        assert_eq!(PathMatcher::new(&paths).unwrap_err(), 1);
    }
}
