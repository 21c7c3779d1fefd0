//! Matching the location of a value against many JSONPath patterns at once, while
//! walking an event. Used where a rule applies "to these fields" (masking by path).
//!
//! The patterns are compiled into a trie of steps. Walking an event keeps, per
//! nesting level, the set of trie nodes the current location has reached — usually
//! zero or one — so testing a key costs a comparison with the names the reached
//! nodes expect, however many patterns there are. A `..` segment becomes a node that
//! stays reached at any depth below it.

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

/// A member name with its first eight bytes packed, so most mismatches are found by
/// one comparison instead of a call to `memcmp`.
#[derive(Debug, Clone)]
struct Name {
    prefix: u64,
    bytes: Box<[u8]>,
}

impl Name {
    fn new(bytes: &[u8]) -> Name {
        Name { prefix: prefix(bytes), bytes: bytes.into() }
    }
}

#[inline]
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// The first eight bytes of `bytes`, zero-padded, as one number. One load for keys of
/// eight bytes or more, and two overlapping loads for shorter ones (`ssn`, `email`): a
/// byte loop there cost a loop in a module, with its epoch check, for most keys of an
/// event; a copy of a variable length would be a call to `memcpy`.
#[inline]
fn prefix(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    // For n in 4..8 (2..4), the two loads overlap in the middle and agree there.
    let two = |lo: u64, hi: u64, width: usize| lo | hi << (8 * (n - width));
    match n {
        8.. => u64::from_le_bytes(*bytes.first_chunk::<8>().expect("eight bytes")),
        4..8 => {
            let word = |at: usize| u64::from(u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes")));
            two(word(0), word(n - 4), 4)
        }
        2..4 => {
            let word = |at: usize| u64::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
            two(word(0), word(n - 2), 2)
        }
        1 => u64::from(bytes[0]),
        0 => 0,
    }
}

/// A slot of a node's name table: a name's first sixteen bytes packed (zero-padded),
/// its length and its child ([`EMPTY`] for a free slot), so a key of up to sixteen
/// bytes is matched by comparing numbers; `name` is where longer names' tails are.
#[derive(Debug, Clone, Copy)]
struct Slot {
    prefix: u64,
    rest: u64,
    len: u32,
    child: State,
    name: u32,
}

/// [`Slot::child`] of a free slot.
const EMPTY: State = State::MAX;

/// Where a key with this packed prefix and length starts probing a table of
/// `1 << (64 - shift)` slots (a multiplicative hash: its top bits).
#[inline]
fn home(prefix: u64, len: usize, shift: u32) -> usize {
    (prefix ^ len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_shr(shift) as usize
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// Children by member name (unescaped).
    names: Vec<(Name, State)>,
    /// The names again, open-addressed by [`home`] with linear probing in a power of two
    /// of at least twice as many slots: a key costs one hash and usually one slot
    /// however many names the node has (the root of the demo's masking has eleven).
    table: Box<[Slot]>,
    /// [`home`]'s shift for `table`.
    shift: u32,
    /// Bit `n` is set when some name is `n` bytes long (bit 63: 63 or longer): most
    /// keys are ruled out without looking at the names.
    lengths: u64,
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
                Selector::Name(name) => node.names.iter().find(|(n, _)| *n.bytes == *name.as_bytes()).map(|&(_, s)| s),
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
                node.names.push((Name::new(name.as_bytes()), state));
                node.lengths |= length_bit(name.len());
                node.index_names();
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
                if node.lengths & length_bit(raw.len()) != 0
                    && let Some(child) = node.named(raw)
                {
                    self.reach(child, states);
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
                    if node.lengths & length_bit(raw.len()) == 0 {
                        continue;
                    }
                    if let Some(child) = node.named(raw) {
                        self.reach(child, states);
                    }
                }
                Step::Key { raw, escaped: true } => {
                    if let Some(key) = super::unescape(raw)
                        && let Some(&(_, child)) = node.names.iter().find(|(name, _)| *name.bytes == *key.as_bytes())
                    {
                        self.reach(child, states);
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

impl Node {
    /// Rebuilds [`Node::table`] from [`Node::names`].
    fn index_names(&mut self) {
        let size = (2 * self.names.len()).next_power_of_two().max(2);
        self.shift = 64 - size.trailing_zeros();
        let free = Slot { prefix: 0, rest: 0, len: 0, child: EMPTY, name: 0 };
        let mut table = vec![free; size];
        for (i, (name, child)) in self.names.iter().enumerate() {
            let bytes = &name.bytes;
            let mut at = home(name.prefix, bytes.len(), self.shift);
            while table[at].child != EMPTY {
                at = (at + 1) & (size - 1);
            }
            let rest = bytes.get(8..).map_or(0, prefix);
            table[at] = Slot { prefix: name.prefix, rest, len: bytes.len() as u32, child: *child, name: i as u32 };
        }
        self.table = table.into();
    }

    /// The child named `key` (raw bytes without escapes), if any. Only for a node with
    /// names: [`Node::lengths`] rules out the others first.
    #[inline]
    fn named(&self, key: &[u8]) -> Option<State> {
        let key_prefix = prefix(key);
        let key_rest = key.get(8..).map_or(0, prefix);
        let last = self.table.len() - 1;
        let mut at = home(key_prefix, key.len(), self.shift);
        // At most half the slots are taken, so a free one ends every probe.
        loop {
            let slot = self.table[at];
            if slot.child == EMPTY {
                return None;
            }
            if slot.prefix == key_prefix
                && slot.rest == key_rest
                && slot.len as usize == key.len()
                && (key.len() <= 16 || self.names[slot.name as usize].0.bytes[16..] == key[16..])
            {
                return Some(slot.child);
            }
            at = (at + 1) & last;
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
    fn every_name_of_a_crowded_node_is_found_and_no_other() {
        // Enough names to wrap probes around the table, many sharing their first eight
        // or sixteen bytes (so their slots' packed bytes agree and the tails decide), of
        // every length.
        let mut names: Vec<String> = (0..40).map(|i| format!("lead_data_{i}")).collect();
        names.extend((0..20).map(|n| "k".repeat(n)));
        names.extend((0..12).map(|i| format!("firehose_process_{i}")));
        names.extend(["ssn", "email", "a", "b", "é"].map(String::from));
        let paths: Vec<String> = names.iter().map(|n| format!("$['{n}']")).collect();
        let m = matcher(&paths.iter().map(String::as_str).collect::<Vec<_>>());
        for (i, name) in names.iter().enumerate() {
            assert_eq!(run(&m, &[key(name)]), Some(i), "{name}");
        }
        let others = [
            "lead_data_40",
            "lead_data_",
            "lead_data_1x",
            "c",
            "ssm",
            "emai",
            "è",
            "firehose_process_",
            "firehose_process_12",
        ];
        for other in others.iter().copied().chain(["k".repeat(20).as_str(), "firehose_processing"]) {
            assert_eq!(run(&m, &[key(other)]), None, "{other}");
        }
    }

    #[test]
    fn a_prefix_is_the_first_eight_bytes_zero_padded_at_every_length() {
        let text = b"abcdefghijklmnopq";
        for n in 0..=text.len() {
            let bytes = &text[..n];
            let padded = bytes.iter().take(8).enumerate().fold(0, |packed, (i, &b)| packed | u64::from(b) << (8 * i));
            assert_eq!(prefix(bytes), padded, "{n} bytes");
        }
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
