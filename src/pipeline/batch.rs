//! Events stored back to back: the form a batch takes between stages and across the
//! WebAssembly boundary (one copy in, one copy out, whatever the event count).

/// A batch of events, each one JSON object, stored contiguously.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Events {
    /// All event bytes.
    pub data: Vec<u8>,
    /// End offset of each event in `data`.
    pub ends: Vec<u32>,
}

impl Events {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `events` events of `bytes` total.
    pub fn with_capacity(events: usize, bytes: usize) -> Self {
        Events { data: Vec::with_capacity(bytes), ends: Vec::with_capacity(events) }
    }

    /// Appends one event.
    pub fn push(&mut self, event: &[u8]) {
        self.data.extend_from_slice(event);
        self.ends.push(self.data.len() as u32);
    }

    /// Appends one event written by `write`.
    pub fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.data);
        self.ends.push(self.data.len() as u32);
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

    /// Event `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.data[start..self.ends[i] as usize]
    }

    /// The events in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// Removes all events, keeping the allocations.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }

    /// A copy of events `range` as a batch of their own.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Events {
        let start = if range.start == 0 { 0 } else { self.ends[range.start - 1] };
        let end = if range.end == 0 { 0 } else { self.ends[range.end - 1] };
        Events {
            data: self.data[start as usize..end as usize].to_vec(),
            ends: self.ends[range].iter().map(|e| e - start).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_slices_events() {
        let mut events = Events::new();
        for e in [&b"{\"a\":1}"[..], b"{}", b"{\"b\":[2]}"] {
            events.push(e);
        }
        assert_eq!(events.len(), 3);
        assert_eq!(events.get(1), b"{}");
        let tail = events.slice(1..3);
        assert_eq!(tail.iter().collect::<Vec<_>>(), vec![&b"{}"[..], b"{\"b\":[2]}"]);
        assert_eq!(events.slice(0..0).len(), 0);
    }
}
