//! A set of member names, looked up by a key's bytes in one hash probe: how the path
//! matcher steps from a node to its children and how a rule finds the few top-level
//! members it reads.
//!
//! A key's first sixteen bytes are packed into two numbers with at most four loads,
//! and the slot its hash picks holds a name's packed bytes and length: most keys are
//! matched or refused by comparing numbers, with no byte loop (in a module, every loop
//! pays an epoch check) and no call to `memcmp`.

/// Member names, each with an index (the order they were inserted in).
#[derive(Debug, Clone, Default)]
pub struct NameSet {
    names: Vec<Box<[u8]>>,
    /// The names, open-addressed by [`home`] with linear probing in a power of two of
    /// at least twice as many slots, so a free slot ends every probe.
    table: Box<[Slot]>,
    /// [`home`]'s shift for `table`.
    shift: u32,
    /// Bit `n` is set when some name is `n` bytes long (bit 63: 63 or longer): most
    /// keys are refused before hashing.
    lengths: u64,
}

/// A slot of the table: a name's first sixteen bytes packed (zero-padded), its length
/// and its index ([`FREE`] for a free slot).
#[derive(Debug, Clone, Copy)]
struct Slot {
    head: u64,
    rest: u64,
    len: u32,
    name: u32,
}

/// [`Slot::name`] of a free slot.
const FREE: u32 = u32::MAX;

impl NameSet {
    /// An empty set.
    pub fn new() -> NameSet {
        NameSet::default()
    }

    /// A set of `names`, indexed in their order (a repeated name keeps its first index).
    pub fn of<N: AsRef<[u8]>>(names: impl IntoIterator<Item = N>) -> NameSet {
        let mut set = NameSet::new();
        for name in names {
            set.insert(name.as_ref());
        }
        set
    }

    /// Adds `name` unless it is there, and returns its index.
    pub fn insert(&mut self, name: &[u8]) -> usize {
        if let Some(known) = self.find(name) {
            return known;
        }
        self.names.push(name.into());
        self.lengths |= length_bit(name.len());
        let index = self.names.len() - 1;
        if 2 * self.names.len() > self.table.len() {
            // Keep at most half the slots taken: double, and place every name again.
            self.rebuild();
        } else {
            self.place(index);
        }
        index
    }

    /// The index of `key` (a name's bytes, unescaped), if it is in the set.
    #[inline(always)]
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        // Most keys are refused by their length alone: inline everywhere, no call.
        if self.lengths & length_bit(key.len()) == 0 {
            return None;
        }
        self.probe(key)
    }

    /// [`find`](NameSet::find) for a key of a length some name has.
    #[inline(always)]
    fn probe(&self, key: &[u8]) -> Option<usize> {
        let (head, rest) = packed(key);
        let last = self.table.len() - 1;
        let mut at = home(key, head, rest, self.shift);
        loop {
            let slot = self.table[at];
            if slot.name == FREE {
                return None;
            }
            if slot.head == head
                && slot.rest == rest
                && slot.len as usize == key.len()
                && (key.len() <= 16 || same_bytes(&self.names[slot.name as usize][16..], &key[16..]))
            {
                return Some(slot.name as usize);
            }
            at = (at + 1) & last;
        }
    }

    /// The name at `index`.
    pub fn name(&self, index: usize) -> &[u8] {
        &self.names[index]
    }

    /// How many names the set holds.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the set holds no name.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    fn rebuild(&mut self) {
        let size = (2 * self.names.len()).next_power_of_two().max(2);
        self.shift = 64 - size.trailing_zeros();
        self.table = vec![Slot { head: 0, rest: 0, len: 0, name: FREE }; size].into();
        for i in 0..self.names.len() {
            self.place(i);
        }
    }

    /// The most slots any name is from its home (how long the longest probe is).
    #[cfg(test)]
    fn longest_probe(&self) -> usize {
        let last = self.table.len() - 1;
        let slots = self.table.iter().enumerate().filter(|(_, slot)| slot.name != FREE);
        slots
            .map(|(at, slot)| {
                let name = &self.names[slot.name as usize];
                let (head, rest) = packed(name);
                at.wrapping_sub(home(name, head, rest, self.shift)) & last
            })
            .max()
            .unwrap_or(0)
    }

    /// Puts name `i` in the first free slot from its home.
    fn place(&mut self, i: usize) {
        let name = &self.names[i];
        let (head, rest) = packed(name);
        let last = self.table.len() - 1;
        let mut at = home(name, head, rest, self.shift);
        while self.table[at].name != FREE {
            at = (at + 1) & last;
        }
        self.table[at] = Slot { head, rest, len: name.len() as u32, name: i as u32 };
    }
}

#[inline]
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// Where `key`, whose first sixteen bytes pack into `head` and `rest`, starts probing a
/// table of `1 << (64 - shift)` slots: a multiplicative hash (its top bits) of every
/// byte of the key. Keys sharing a long prefix (identifiers of one system) must not
/// share a home: a table of thousands of them would probe for ever.
#[inline]
fn home(key: &[u8], head: u64, rest: u64, shift: u32) -> usize {
    let mut mixed = head ^ rest.rotate_left(29) ^ key.len() as u64;
    if key.len() > 16 {
        mixed ^= tail_hash(&key[16..]);
    }
    mixed.wrapping_mul(K).wrapping_shr(shift) as usize
}

const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// The bytes after a long key's sixteenth folded into one number. Out of line: member
/// names are rarely that long, and the common path stays small.
#[inline(never)]
fn tail_hash(tail: &[u8]) -> u64 {
    tail.chunks(8).fold(0, |hash, word| (hash ^ prefix(word)).wrapping_mul(K).rotate_left(29))
}

/// Whether `a` and `b` are the same bytes: slice equality for code that runs in a module,
/// where `==` on slices calls `memcmp`, a byte loop there (see [`same_bytes`]).
/// Up to sixteen bytes (most names and enum-like values) are two words each.
#[inline(always)]
pub fn bytes_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && if a.len() <= 16 { packed(a) == packed(b) } else { same_bytes(a, b) }
}

/// Whether `a` and `b`, of the same length, hold the same bytes, compared eight at a
/// time: slice equality calls `memcmp`, which in a module is a byte loop (~18
/// instructions a byte with its epoch check).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    a.chunks(8).zip(b.chunks(8)).all(|(x, y)| prefix(x) == prefix(y))
}

/// Bytes 0..8 and 8..16 of `bytes`, each zero-padded into one number.
#[inline]
fn packed(bytes: &[u8]) -> (u64, u64) {
    (prefix(bytes), bytes.get(8..).map_or(0, prefix))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_of_a_crowded_set_is_found_and_no_other() {
        // Enough names to wrap probes around the table, many sharing their first eight
        // or sixteen bytes (so their slots' packed bytes agree and the tails decide), of
        // every length.
        let mut names: Vec<String> = (0..40).map(|i| format!("lead_data_{i}")).collect();
        names.extend((0..20).map(|n| "k".repeat(n)));
        names.extend((0..12).map(|i| format!("firehose_process_{i}")));
        names.extend(["ssn", "email", "a", "b", "é"].map(String::from));
        let mut set = NameSet::new();
        for (i, name) in names.iter().enumerate() {
            assert_eq!(set.insert(name.as_bytes()), i);
        }
        assert_eq!(set.insert(b"email"), names.len() - 4, "a name already there keeps its index");
        assert_eq!(set.len(), names.len());
        for (i, name) in names.iter().enumerate() {
            assert_eq!(set.find(name.as_bytes()), Some(i), "{name}");
            assert_eq!(set.name(i), name.as_bytes());
        }
        let others = ["lead_data_40", "lead_data_", "lead_data_1x", "c", "ssm", "emai", "è", "firehose_process_"];
        let long = ["k".repeat(20), "firehose_process_12".into(), "firehose_processing".into()];
        for other in others.iter().copied().chain(long.iter().map(String::as_str)) {
            assert_eq!(set.find(other.as_bytes()), None, "{other}");
        }
        assert_eq!(NameSet::new().find(b"anything"), None);
    }

    #[test]
    fn finds_what_a_scan_of_the_names_finds() {
        // Random names: a prefix shared by many (none, short, eight, sixteen or twenty
        // bytes) and a short tail over a small alphabet, so names agree in their packed
        // bytes and differ only late; queries are names and near misses.
        let mut next = crate::test_random::below(0x853c_49e6_748f_ea9b);
        for _ in 0..300 {
            let mut set = NameSet::new();
            let mut names: Vec<Vec<u8>> = Vec::new();
            let word = |next: &mut dyn FnMut(usize) -> usize| -> Vec<u8> {
                let prefixes: [&[u8]; 5] = [b"", b"k", b"lead_dat", b"5f3c2a1b9d8e7f6a", b"5f3c2a1b9d8e7f6a5b4c"];
                let mut name = prefixes[next(prefixes.len())].to_vec();
                let len = next(12);
                name.extend((0..len).map(|_| b"a\xc3"[next(2)]));
                name
            };
            for _ in 0..next(60) {
                let name = word(&mut next);
                let expected = names.iter().position(|n| *n == name).unwrap_or(names.len());
                assert_eq!(set.insert(&name), expected);
                if expected == names.len() {
                    names.push(name);
                }
            }
            for _ in 0..200 {
                let query =
                    if next(2) == 0 && !names.is_empty() { names[next(names.len())].clone() } else { word(&mut next) };
                assert_eq!(set.find(&query), names.iter().position(|n| *n == query), "{query:?}");
            }
        }
    }

    #[test]
    fn a_large_set_grows_by_doubling_and_finds_every_name() {
        let mut set = NameSet::new();
        // Identifiers sharing their first twenty bytes, as a lookup table's keys may.
        let keys: Vec<String> = (0..100_000).map(|i| format!("5f3c2a1b9d8e7f6a5b4c{i:06}")).collect();
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(set.insert(key.as_bytes()), i);
        }
        assert!(keys.iter().enumerate().all(|(i, key)| set.find(key.as_bytes()) == Some(i)));
        // Keys sharing a prefix still spread over the table (hashing only the first
        // sixteen bytes put all of them in one cluster, 100,000 slots long).
        assert!(set.longest_probe() < 64, "longest probe {}", set.longest_probe());
        assert_eq!(set.find(b"5f3c2a1b9d8e7f6a5b4c100000"), None);
    }

    #[test]
    fn bytes_equal_is_slice_equality_at_every_length_and_difference() {
        let text = b"abcdefghijklmnopqrstuvwxyz0123456789";
        for n in 0..=text.len() {
            let a = &text[..n];
            assert!(bytes_equal(a, a), "{n} bytes");
            for cut in 0..n {
                assert!(!bytes_equal(a, &text[..cut]) && !bytes_equal(&text[..cut], a), "{n} against {cut} bytes");
            }
            // One byte differs, at each place: every word must be compared.
            for at in 0..n {
                let mut b = a.to_vec();
                b[at] ^= 0x20;
                assert!(!bytes_equal(a, &b), "{n} bytes, differing at {at}");
            }
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
}
