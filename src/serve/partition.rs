//! Grouping a batch's output by partition for Vector in bytes mode. A bytes event in
//! Vector has no fields of its own, so a sink's partition key (`aws_s3` `key_prefix`,
//! Kinesis `partition_key_field`, Kafka `key_field`) cannot come from the event; it can
//! come from a request header, which Vector's `http_server` source turns into a field
//! (`headers: [X-Firehose-Partition]`). With `serve.partition` set, the sidecar renders
//! that template per event and forwards one request per value, with the value in
//! [`HEADER`].

use std::collections::HashMap;
use std::convert::Infallible;

use chrono::Utc;

use crate::emit::Letter;
use crate::emit::batches::{Template, event_time};
use crate::pass::{Delivered, Placed, Sink};

/// The header that carries a group's partition value.
pub const HEADER: &str = "X-Firehose-Partition";

/// Delivered events of one partition, as the NDJSON body forwarded for it.
#[derive(Debug, Default)]
pub struct Group {
    /// The rendered partition value (header-safe); `None` without `serve.partition`.
    pub partition: Option<String>,
    /// The events, one per line, each line ending in `\n`.
    pub body: Vec<u8>,
    /// For each event, its line in the request body.
    pub lines: Vec<u64>,
}

/// A batch's results split by partition, in first-seen order, plus its dead letters
/// (including events whose partition cannot be rendered).
pub struct PartitionSink<'t> {
    template: Option<&'t Template>,
    /// The groups; without a template, one.
    pub groups: Vec<Group>,
    index: HashMap<String, usize>,
    /// Dead-letter lines.
    pub dead_letters: Vec<u8>,
}

impl<'t> PartitionSink<'t> {
    /// A sink grouping by `template`, or into one group without one.
    pub fn new(template: Option<&'t Template>) -> PartitionSink<'t> {
        let groups = if template.is_some() { Vec::new() } else { vec![Group::default()] };
        PartitionSink { template, groups, index: HashMap::new(), dead_letters: Vec::new() }
    }

    /// Events delivered, in all groups.
    pub fn events(&self) -> usize {
        self.groups.iter().map(|g| g.lines.len()).sum()
    }
}

impl Sink for PartitionSink<'_> {
    type Error = Infallible;

    fn deliver(&mut self, delivered: Delivered<'_>) -> Result<Placed, Infallible> {
        let group = match self.template {
            None => 0,
            Some(template) => {
                let time = event_time(&delivered.event).unwrap_or_else(Utc::now);
                match template.render(Some(&delivered.event), time, "") {
                    Ok(value) => {
                        let value = header_safe(&value);
                        match self.index.get(&value) {
                            Some(&i) => i,
                            None => {
                                self.groups.push(Group { partition: Some(value.clone()), ..Group::default() });
                                self.index.insert(value, self.groups.len() - 1);
                                self.groups.len() - 1
                            }
                        }
                    }
                    Err(missing) => {
                        let reason = format!("no partition for serve.partition: {}", missing.0);
                        crate::emit::dead_letter(
                            delivered.line,
                            None,
                            &reason,
                            delivered.input.bytes(),
                            &mut self.dead_letters,
                        );
                        return Ok(Placed::DeadLettered);
                    }
                }
            }
        };
        let group = &mut self.groups[group];
        delivered.version.stamp().apply(&delivered.event, &mut group.body);
        group.body.push(b'\n');
        group.lines.push(delivered.line);
        Ok(Placed::Delivered)
    }

    fn dead_letter(&mut self, letter: Letter<'_>) -> Result<(), Infallible> {
        letter.write(&mut self.dead_letters);
        Ok(())
    }
}

/// `value` as an HTTP header value: visible ASCII as it is, every other byte (and `%`)
/// percent-encoded, so that non-ASCII partition values survive the hop.
pub fn header_safe(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if (0x21..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_visible_ascii() {
        assert_eq!(header_safe("flow=5f3c/year=2024"), "flow=5f3c/year=2024");
        assert_eq!(header_safe("José 50%"), "Jos%C3%A9%2050%25");
        assert!(hyper::header::HeaderValue::from_str(&header_safe("\u{7f}\n\u{1}é")).is_ok());
    }
}
