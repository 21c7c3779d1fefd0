//! Events stored back to back with their tapes: the form a batch takes between stages
//! and across the WebAssembly boundary (one copy in, whatever the event count).

use firehose_json::Event;

/// A batch of valid events, each one JSON object, with the host-built tape of each.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Events {
    /// All event bytes.
    pub data: Vec<u8>,
    /// End offset of each event in `data`.
    pub ends: Vec<u32>,
    /// All events' tapes (see `firehose_json::tape`).
    pub tape: Vec<u32>,
    /// End of each event's tape in `tape`.
    pub tape_ends: Vec<u32>,
}

impl Events {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `events` events of `bytes` total.
    pub fn with_capacity(events: usize, bytes: usize) -> Self {
        Events {
            data: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(events),
            tape: Vec::with_capacity(bytes),
            tape_ends: Vec::with_capacity(events),
        }
    }

    /// Makes room for events whose JSON text is about `bytes` long, with their tapes
    /// (two words an entry, an entry for every ~15 bytes of a typical event, and a
    /// little more), so that filling a batch does not copy it again and again as it
    /// grows.
    pub fn reserve_for_text(&mut self, bytes: usize) {
        self.data.reserve(bytes);
        self.tape.reserve(bytes / 6);
    }

    /// Appends one valid event and its tape.
    pub fn push(&mut self, event: &[u8], tape: &[u32]) {
        self.data.extend_from_slice(event);
        self.ends.push(self.data.len() as u32);
        self.tape.extend_from_slice(tape);
        self.tape_ends.push(self.tape.len() as u32);
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Total bytes of all events.
    pub fn byte_len(&self) -> usize {
        self.data.len()
    }

    /// The bytes of event `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.data[start..self.ends[i] as usize]
    }

    /// The tape of event `i`.
    pub fn tape_of(&self, i: usize) -> &[u32] {
        let start = if i == 0 { 0 } else { self.tape_ends[i - 1] as usize };
        &self.tape[start..self.tape_ends[i] as usize]
    }

    /// Event `i` with its tape.
    pub fn event(&self, i: usize) -> Event<'_> {
        Event::new(self.get(i), self.tape_of(i))
    }

    /// The events' bytes in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// Removes all events, keeping the allocations.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
        self.tape.clear();
        self.tape_ends.clear();
    }

    /// A copy of events `range` as a batch of their own.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Events {
        let mut part = Events::with_capacity(range.len(), 0);
        for i in range {
            part.push(self.get(i), self.tape_of(i));
        }
        part
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firehose_json::tape_of;

    #[test]
    fn stores_and_slices_events_with_their_tapes() {
        let mut events = Events::new();
        for e in [&b"{\"a\":1}"[..], b"{}", b"{\"b\":[2]}"] {
            events.push(e, &tape_of(e).unwrap());
        }
        assert_eq!(events.len(), 3);
        assert_eq!(events.get(1), b"{}");
        assert_eq!(events.event(2).member("b").unwrap().raw(), b"[2]");
        let tail = events.slice(1..3);
        assert_eq!(tail.iter().collect::<Vec<_>>(), vec![&b"{}"[..], b"{\"b\":[2]}"]);
        assert_eq!(tail.event(1).member("b").unwrap().raw(), b"[2]");
        assert_eq!(events.slice(0..0).len(), 0);
    }
}
