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

    /// Adds `name` unless it is there, and returns its index.
    pub fn insert(&mut self, name: &[u8]) -> usize {
        if let Some(known) = self.find(name) {
            return known;
        }
        self.names.push(name.into());
        self.lengths |= length_bit(name.len());
        self.rebuild();
        self.names.len() - 1
    }

    /// The index of `key` (a name's bytes, unescaped), if it is in the set.
    #[inline]
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        if self.lengths & length_bit(key.len()) == 0 {
            return None;
        }
        let (head, rest) = packed(key);
        let last = self.table.len() - 1;
        let mut at = home(head, key.len(), self.shift);
        loop {
            let slot = self.table[at];
            if slot.name == FREE {
                return None;
            }
            if slot.head == head
                && slot.rest == rest
                && slot.len as usize == key.len()
                && (key.len() <= 16 || self.names[slot.name as usize][16..] == key[16..])
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
        let mut table = vec![Slot { head: 0, rest: 0, len: 0, name: FREE }; size];
        for (i, name) in self.names.iter().enumerate() {
            let (head, rest) = packed(name);
            let mut at = home(head, name.len(), self.shift);
            while table[at].name != FREE {
                at = (at + 1) & (size - 1);
            }
            table[at] = Slot { head, rest, len: name.len() as u32, name: i as u32 };
        }
        self.table = table.into();
    }
}

#[inline]
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// Where a key with these packed first bytes and this length starts probing a table of
/// `1 << (64 - shift)` slots (a multiplicative hash: its top bits).
#[inline]
fn home(head: u64, len: usize, shift: u32) -> usize {
    (head ^ len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_shr(shift) as usize
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
    fn a_prefix_is_the_first_eight_bytes_zero_padded_at_every_length() {
        let text = b"abcdefghijklmnopq";
        for n in 0..=text.len() {
            let bytes = &text[..n];
            let padded = bytes.iter().take(8).enumerate().fold(0, |packed, (i, &b)| packed | u64::from(b) << (8 * i));
            assert_eq!(prefix(bytes), padded, "{n} bytes");
        }
    }
}
