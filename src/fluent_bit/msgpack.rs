//! Fluent Bit's record format, and converting record bodies between msgpack and JSON.
//!
//! A chunk is msgpack records back to back: `[[EventTime, {metadata}], {body}]` (log
//! event format v2), or the legacy `[time, {body}]`. Group start/end markers are
//! records whose EventTime seconds are `0xFFFFFFFF` / `0xFFFFFFFE`; they pass through
//! byte for byte. Bodies become JSON for the pipeline and the results become msgpack
//! again, with each record's original timestamp and metadata bytes.

use std::ops::Range;

use firehose_json::{self as json, Event, tape};
use rmp::Marker;

use crate::emit::Stamp;

/// A problem decoding a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset in the chunk.
    pub offset: usize,
    /// What is wrong.
    pub message: &'static str,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for DecodeError {}

fn fail<T>(offset: usize, message: &'static str) -> Result<T, DecodeError> {
    Err(DecodeError { offset, message })
}

/// A log record: its header (`[time, metadata]` array, or the bare time of the legacy
/// form) and its body map, as byte ranges of the chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The whole record.
    pub span: Range<usize>,
    /// Header bytes, copied unchanged into the output.
    pub header: Range<usize>,
    /// The body map.
    pub body: Range<usize>,
}

/// One record of a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A log record.
    Log(LogRecord),
    /// A group start/end marker, or a record that is not a log record: passed through.
    Other {
        /// The whole record.
        span: Range<usize>,
    },
}

/// Splits a chunk into records.
pub fn records(chunk: &[u8]) -> Result<Vec<Record>, DecodeError> {
    split(chunk, |r| r.skip())
}

/// Splits a chunk into records as [`records`] does, decoding each log record's body on
/// the way, in the same pass (one walk of each body instead of a walk to find its end
/// and another to decode it). For each log record, in order, `event` gets the body's
/// range in `chunk` and the body decoded as by [`to_event`] into `json` and `tape`, or
/// why it could not be.
pub fn records_decoded(
    chunk: &[u8],
    json: &mut Vec<u8>,
    tape: &mut Vec<u32>,
    mut event: impl FnMut(Range<usize>, Result<(&[u8], &[u32]), DecodeError>),
) -> Result<Vec<Record>, DecodeError> {
    split(chunk, |r| {
        let start = r.pos;
        // Offsets in errors count from the body's start, as `to_event`'s do.
        let mut body = Reader { b: &r.b[start..], pos: 0 };
        match body.write_event(json, tape) {
            Ok(()) => {
                r.pos = start + body.pos;
                event(start..r.pos, Ok((&json[..], &tape[..])));
            }
            Err(e) => {
                // Its end is then found the way `records` finds it.
                r.skip()?;
                event(start..r.pos, Err(e));
            }
        }
        Ok(())
    })
}

/// Splits a chunk into records; `body` moves the reader past each log record's body
/// (an error is the chunk's).
fn split(
    chunk: &[u8],
    mut body: impl FnMut(&mut Reader<'_>) -> Result<(), DecodeError>,
) -> Result<Vec<Record>, DecodeError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < chunk.len() {
        let start = pos;
        let mut r = Reader { b: chunk, pos };
        let root = r.array_len()?;
        let record = if root != 2 {
            r.pos = start;
            r.skip()?;
            Record::Other { span: start..r.pos }
        } else {
            let header_start = r.pos;
            let is_group_marker = match r.peek()? {
                Marker::FixArray(2) => {
                    // v2: [[time, metadata], body]; the time may be a group marker.
                    let mut inner = Reader { b: chunk, pos: r.pos + 1 };
                    inner.is_group_marker_time()
                }
                _ => false,
            };
            r.skip()?;
            let header = header_start..r.pos;
            let body_start = r.pos;
            let body_is_map = matches!(r.peek()?, Marker::FixMap(_) | Marker::Map16 | Marker::Map32);
            if is_group_marker || !body_is_map {
                r.skip()?;
                Record::Other { span: start..r.pos }
            } else {
                body(&mut r)?;
                Record::Log(LogRecord { span: start..r.pos, header, body: body_start..r.pos })
            }
        };
        pos = match &record {
            Record::Log(LogRecord { span, .. }) | Record::Other { span } => span.end,
        };
        out.push(record);
    }
    Ok(out)
}

/// The time of a record, in seconds since the epoch, from its header (`[time, metadata]`
/// or a bare time): an EventTime (ext type 0) or a number.
pub fn record_time(header: &[u8]) -> Option<f64> {
    let mut r = Reader { b: header, pos: 0 };
    if matches!(r.peek(), Ok(Marker::FixArray(2))) {
        r.pos += 1;
    }
    let event_time = |r: &mut Reader<'_>| -> Option<f64> {
        (r.take(1).ok()? == [0]).then_some(())?;
        Some(r.be(4).ok()? as f64 + r.be(4).ok()? as f64 / 1e9)
    };
    match r.next_marker().ok()? {
        Marker::FixExt8 => event_time(&mut r),
        Marker::Ext8 if r.be(1).ok()? == 8 => event_time(&mut r),
        Marker::FixPos(n) => Some(n as f64),
        Marker::U8 => Some(r.be(1).ok()? as f64),
        Marker::U16 => Some(r.be(2).ok()? as f64),
        Marker::U32 => Some(r.be(4).ok()? as f64),
        Marker::U64 => Some(r.be(8).ok()? as f64),
        Marker::F32 => Some(f32::from_bits(r.be(4).ok()? as u32) as f64),
        Marker::F64 => Some(f64::from_bits(r.be(8).ok()?)),
        _ => None,
    }
}

/// Appends the map `body` with one more member, `key` → the msgpack `value`, leaving
/// every other byte as it was (binary, ext and float widths survive). The caller knows
/// `body` has no member `key` (the decoded event's tape says so without walking the
/// msgpack again). Returns false, writing nothing, if `body` is not a map.
pub fn append_member(body: &[u8], key: &str, value: &[u8], out: &mut Vec<u8>) -> bool {
    let mut r = Reader { b: body, pos: 0 };
    let Ok(marker) = r.next_marker() else { return false };
    if !matches!(marker, Marker::FixMap(_) | Marker::Map16 | Marker::Map32) {
        return false;
    }
    let Ok(count) = r.length(marker) else { return false };
    let _ = rmp::encode::write_map_len(out, count as u32 + 1);
    out.extend_from_slice(&body[r.pos..]);
    write_str(out, key);
    out.extend_from_slice(value);
    true
}

/// Appends the msgpack value `value` as JSON text to `out`.
pub fn to_json(value: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let mut r = Reader { b: value, pos: 0 };
    r.write_json(out, &mut Vec::new(), 0)
}

/// Writes the msgpack map `body` as one JSON event into `json` and its tape into
/// `tape` (both cleared first), in one pass: the result is exactly what
/// [`to_json`] followed by `firehose_json::validate_event` gives, without reading the
/// text again (msgpack is structured, and everything written here is valid JSON by
/// construction). Nesting deeper than the validator accepts is refused the same way.
pub fn to_event(body: &[u8], json: &mut Vec<u8>, tape: &mut Vec<u32>) -> Result<(), DecodeError> {
    let mut r = Reader { b: body, pos: 0 };
    r.write_event(json, tape)?;
    if r.pos != body.len() {
        return fail(r.pos, "data after the record body");
    }
    Ok(())
}

/// Appends a record with `header` (copied) and the JSON event `body` as msgpack.
pub fn encode_record(header: &[u8], body: &Event<'_>, out: &mut Vec<u8>) {
    out.push(0x92);
    out.extend_from_slice(header);
    from_json(body, 0, out);
}

/// Appends a record with `header` (copied) and the JSON event `body` as msgpack, with
/// `stamp`'s member added (replacing a member of that name).
pub fn encode_record_stamped(header: &[u8], body: &Event<'_>, stamp: &Stamp, out: &mut Vec<u8>) {
    let Some(key) = stamp.key() else {
        encode_record(header, body, out);
        return;
    };
    out.push(0x92);
    out.extend_from_slice(header);
    let root = body.root();
    let (mut members, mut kept) = (0u32, 0u32);
    for (k, _) in root.members() {
        members += 1;
        kept += u32::from(!k.is(key));
    }
    let _ = rmp::encode::write_map_len(out, kept + 1);
    if kept == members {
        // No member to replace (the usual case): the root's contents in one run.
        encode_entries(body, 1..tape::word(body.tape(), 0), out);
    } else {
        for (k, value) in root.members().filter(|(k, _)| !k.is(key)) {
            // The key as `from_json` writes a string: copied as it is unless escaped.
            from_json(body, k.entry, out);
            from_json(body, value.entry(), out);
        }
    }
    write_str(out, key);
    out.extend_from_slice(stamp.msgpack_value());
}

/// Appends the JSON value at tape entry `entry` of `event` as msgpack. One pass over the
/// value's tape entries in order, no recursion: containers become their headers (the
/// count from the tape's skip links), strings without escapes are copied as they are.
pub fn from_json(event: &Event<'_>, entry: usize, out: &mut Vec<u8>) {
    encode_entries(event, entry..tape::next_value(event.tape(), entry), out);
}

/// Appends tape entries `entries` of `event` as msgpack: whole values, or whole members
/// of one object (a key entry, then its value's). What [`from_json`] does for one value,
/// for a run of them in one loop: a stamped record's members are one run.
fn encode_entries(event: &Event<'_>, entries: Range<usize>, out: &mut Vec<u8>) {
    let t = event.tape();
    let bytes = event.bytes();
    let Some(pairs) = t.get(2 * entries.start..2 * entries.end) else { return };
    // The entries two words at a time: no bounds check per entry.
    for (i, pair) in (entries.start..).zip(pairs.chunks_exact(2)) {
        let (tag, offset, word) = (pair[0] & 15, (pair[0] >> 4) as usize, pair[1] as usize);
        match tag {
            tape::OBJECT => {
                let _ = rmp::encode::write_map_len(out, children(t, i, true));
            }
            tape::ARRAY => {
                let _ = rmp::encode::write_array_len(out, children(t, i, false));
            }
            tape::OBJECT_END | tape::ARRAY_END => {}
            tape::KEY | tape::STRING => {
                // The host validated the event: a string body without escapes is UTF-8.
                let body = &bytes[offset + 1..word - 1];
                str_header(out, body.len());
                out.extend_from_slice(body);
            }
            tape::KEY_ESCAPED | tape::STRING_ESCAPED => {
                let text = json::unescape(&bytes[offset + 1..word - 1]).unwrap_or_default();
                write_str(out, &text);
            }
            tape::NUMBER => {
                let text = std::str::from_utf8(&bytes[offset..word]).unwrap_or("0");
                if let Ok(i) = text.parse::<i64>() {
                    let _ = rmp::encode::write_sint(out, i);
                } else if let Ok(u) = text.parse::<u64>() {
                    let _ = rmp::encode::write_uint(out, u);
                } else {
                    let _ = rmp::encode::write_f64(out, text.parse::<f64>().unwrap_or(0.0));
                }
            }
            tape::TRUE => out.push(0xc3),
            tape::FALSE => out.push(0xc2),
            _ => out.push(0xc0),
        }
    }
}

/// How many members (or items) the container starting at entry `start` has.
fn children(t: &[u32], start: usize, object: bool) -> u32 {
    let end = tape::word(t, start);
    let (mut k, mut count) = (start + 1, 0);
    while k < end {
        count += 1;
        // A member is a key entry followed by its value.
        k = tape::next_value(t, if object { k + 1 } else { k });
    }
    count
}

/// Appends the header of a msgpack string of `len` bytes: what `rmp`'s `write_str_len`
/// writes, without its `Write` plumbing (this runs for every string of every record).
fn str_header(out: &mut Vec<u8>, len: usize) {
    match len {
        0..32 => out.push(0xa0 | len as u8),
        32..256 => out.extend_from_slice(&[0xd9, len as u8]),
        256..65536 => {
            out.push(0xda);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdb);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    let _ = rmp::encode::write_str(out, s);
}

/// A cursor over msgpack bytes.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Result<Marker, DecodeError> {
        match self.b.get(self.pos) {
            Some(&byte) => Ok(Marker::from_u8(byte)),
            None => fail(self.pos, "truncated msgpack"),
        }
    }

    /// Writes the map at the cursor as one JSON event into `json` and its tape into
    /// `tape` (both cleared first); see [`to_event`].
    fn write_event(&mut self, json: &mut Vec<u8>, tape: &mut Vec<u32>) -> Result<(), DecodeError> {
        json.clear();
        tape.clear();
        let start = self.pos;
        if !matches!(self.peek()?, Marker::FixMap(_) | Marker::Map16 | Marker::Map32) {
            return fail(start, "a record body must be a map");
        }
        self.write_json(json, tape, 0)?;
        if json.len() > tape::MAX_EVENT_BYTES {
            return fail(start, "event larger than 256 MiB");
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        match end {
            Some(end) => {
                let slice = &self.b[self.pos..end];
                self.pos = end;
                Ok(slice)
            }
            None => fail(self.pos, "truncated msgpack"),
        }
    }

    fn be(&mut self, n: usize) -> Result<u64, DecodeError> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, &b| acc << 8 | b as u64))
    }

    fn array_len(&mut self) -> Result<usize, DecodeError> {
        let at = self.pos;
        match self.next_marker()? {
            Marker::FixArray(n) => Ok(n as usize),
            Marker::Array16 => Ok(self.be(2)? as usize),
            Marker::Array32 => Ok(self.be(4)? as usize),
            _ => fail(at, "a record must be a msgpack array"),
        }
    }

    fn next_marker(&mut self) -> Result<Marker, DecodeError> {
        let marker = self.peek()?;
        self.pos += 1;
        Ok(marker)
    }

    /// At the time of a v2 header: is it an EventTime with the group marker seconds?
    fn is_group_marker_time(&mut self) -> bool {
        matches!(self.b.get(self.pos..self.pos + 6), Some([0xd7, 0x00, 0xff, 0xff, 0xff, 0xff | 0xfe]))
    }

    /// Length of a str/bin/ext payload or the count of an array/map, per marker.
    fn length(&mut self, marker: Marker) -> Result<usize, DecodeError> {
        Ok(match marker {
            Marker::FixStr(n) => n as usize,
            Marker::FixArray(n) => n as usize,
            Marker::FixMap(n) => n as usize,
            Marker::Str8 | Marker::Bin8 => self.be(1)? as usize,
            Marker::Str16 | Marker::Bin16 | Marker::Array16 | Marker::Map16 => self.be(2)? as usize,
            Marker::Str32 | Marker::Bin32 | Marker::Array32 | Marker::Map32 => self.be(4)? as usize,
            _ => 0,
        })
    }

    /// Steps over one value, however deeply nested, without recursion: a count of the
    /// values still to step over replaces the call stack, so a hostile chunk cannot
    /// exhaust the stack of Fluent Bit's thread (and a deep record stays one record,
    /// dead-lettered by [`to_json`]'s depth limit, instead of failing the chunk).
    fn skip(&mut self) -> Result<(), DecodeError> {
        let mut remaining: u64 = 1;
        while remaining > 0 {
            remaining -= 1;
            let at = self.pos;
            let marker = self.next_marker()?;
            let skip = match marker {
                Marker::Null | Marker::True | Marker::False | Marker::FixPos(_) | Marker::FixNeg(_) => 0,
                Marker::U8 | Marker::I8 => 1,
                Marker::U16 | Marker::I16 => 2,
                Marker::U32 | Marker::I32 | Marker::F32 => 4,
                Marker::U64 | Marker::I64 | Marker::F64 => 8,
                Marker::FixStr(_)
                | Marker::Str8
                | Marker::Str16
                | Marker::Str32
                | Marker::Bin8
                | Marker::Bin16
                | Marker::Bin32 => self.length(marker)?,
                Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                    remaining += self.length(marker)? as u64;
                    0
                }
                Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                    remaining += self.length(marker)? as u64 * 2;
                    0
                }
                Marker::FixExt1 => 2,
                Marker::FixExt2 => 3,
                Marker::FixExt4 => 5,
                Marker::FixExt8 => 9,
                Marker::FixExt16 => 17,
                Marker::Ext8 => self.be(1)? as usize + 1,
                Marker::Ext16 => self.be(2)? as usize + 1,
                Marker::Ext32 => self.be(4)? as usize + 1,
                Marker::Reserved => return fail(at, "invalid msgpack marker 0xc1"),
            };
            self.take(skip)?;
            // More values announced than bytes left: truncated, and not worth counting down.
            if remaining > (self.b.len() - self.pos) as u64 {
                return fail(self.pos, "truncated msgpack");
            }
        }
        Ok(())
    }

    /// Writes the value at the cursor as JSON text to `out` and its tape entries
    /// (offsets from the start of `out`) to `tape`. `depth` is the nesting of the value
    /// (the record body is 0); a container deeper than `json::MAX_DEPTH` levels is
    /// refused, as the validator refuses it.
    fn write_json(&mut self, out: &mut Vec<u8>, tape: &mut Vec<u32>, depth: usize) -> Result<(), DecodeError> {
        let at = self.pos;
        if let Some(n) = self.fixstr() {
            return self.text_to_json(n, out, tape, false);
        }
        let start = out.len();
        let marker = self.next_marker()?;
        let number = |n: i128, out: &mut Vec<u8>, tape: &mut Vec<u32>| {
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            tape::push(tape, start, tape::NUMBER, out.len());
        };
        match marker {
            Marker::Null => literal(out, tape, b"null", tape::NULL),
            Marker::True => literal(out, tape, b"true", tape::TRUE),
            Marker::False => literal(out, tape, b"false", tape::FALSE),
            Marker::FixPos(n) => number(n.into(), out, tape),
            Marker::FixNeg(n) => number(n.into(), out, tape),
            Marker::U8 => number(self.be(1)?.into(), out, tape),
            Marker::U16 => number(self.be(2)?.into(), out, tape),
            Marker::U32 => number(self.be(4)?.into(), out, tape),
            Marker::U64 => number(self.be(8)?.into(), out, tape),
            Marker::I8 => number((self.be(1)? as u8 as i8).into(), out, tape),
            Marker::I16 => number((self.be(2)? as u16 as i16).into(), out, tape),
            Marker::I32 => number((self.be(4)? as u32 as i32).into(), out, tape),
            Marker::I64 => number((self.be(8)? as i64).into(), out, tape),
            Marker::F32 => float(f32::from_bits(self.be(4)? as u32) as f64, out, tape),
            Marker::F64 => float(f64::from_bits(self.be(8)?), out, tape),
            Marker::FixStr(_)
            | Marker::Str8
            | Marker::Str16
            | Marker::Str32
            | Marker::Bin8
            | Marker::Bin16
            | Marker::Bin32 => {
                let n = self.length(marker)?;
                self.text_to_json(n, out, tape, false)?;
            }
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                if depth + 1 > json::MAX_DEPTH {
                    return fail(at, "nesting too deep");
                }
                let entry = tape::len(tape);
                tape::push(tape, start, tape::ARRAY, 0);
                out.push(b'[');
                for i in 0..self.length(marker)? {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.write_json(out, tape, depth + 1)?;
                }
                close(out, tape, entry, b']', tape::ARRAY_END);
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                if depth + 1 > json::MAX_DEPTH {
                    return fail(at, "nesting too deep");
                }
                let entry = tape::len(tape);
                tape::push(tape, start, tape::OBJECT, 0);
                out.push(b'{');
                for i in 0..self.length(marker)? {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.key_to_json(out, tape)?;
                    out.push(b':');
                    self.write_json(out, tape, depth + 1)?;
                }
                close(out, tape, entry, b'}', tape::OBJECT_END);
            }
            Marker::Reserved => return fail(at, "invalid msgpack marker 0xc1"),
            _ => {
                // Extension values (e.g. an EventTime inside a body) have no JSON form.
                self.pos = at;
                self.skip()?;
                literal(out, tape, b"null", tape::NULL);
            }
        }
        Ok(())
    }

    /// Map keys must be JSON strings: strings stay, anything else becomes its JSON text.
    fn key_to_json(&mut self, out: &mut Vec<u8>, tape: &mut Vec<u32>) -> Result<(), DecodeError> {
        if let Some(n) = self.fixstr() {
            return self.text_to_json(n, out, tape, true);
        }
        let at = self.pos;
        let marker = self.next_marker()?;
        match marker {
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                let n = self.length(marker)?;
                self.text_to_json(n, out, tape, true)
            }
            _ => {
                self.pos = at;
                let mut key = Vec::new();
                self.write_json(&mut key, &mut Vec::new(), 0)?;
                string(out, tape, &String::from_utf8_lossy(&key), true);
                Ok(())
            }
        }
    }

    /// At a fixstr (a string of up to 31 bytes, most keys and values): steps over its
    /// marker and gives its length, which the marker holds.
    #[inline]
    fn fixstr(&mut self) -> Option<usize> {
        let byte = *self.b.get(self.pos)?;
        (byte & 0xe0 == 0xa0).then(|| {
            self.pos += 1;
            (byte & 0x1f) as usize
        })
    }

    /// Writes the `n` bytes at the cursor as a JSON string (a member key when `key`) with
    /// its tape entry: copied between quotes when they are ASCII with nothing to escape
    /// (most keys and values), else repaired as UTF-8 and escaped.
    fn text_to_json(&mut self, n: usize, out: &mut Vec<u8>, tape: &mut Vec<u32>, key: bool) -> Result<(), DecodeError> {
        let at = self.pos;
        let bytes = self.take(n)?;
        if json::is_plain_ascii(self.b, at..at + n) {
            plain_string(out, tape, bytes, if key { tape::KEY } else { tape::STRING });
        } else {
            string(out, tape, &lossy_text(bytes), key);
        }
        Ok(())
    }
}

/// Writes `bytes`, ASCII with nothing to escape, as a JSON string with its tape entry.
#[inline]
fn plain_string(out: &mut Vec<u8>, tape: &mut Vec<u32>, bytes: &[u8], tag: u32) {
    let start = out.len();
    let end = start + bytes.len() + 2;
    // One capacity check for the quotes and the text, not one per push.
    out.reserve(bytes.len() + 2);
    let spare = &mut out.spare_capacity_mut()[..bytes.len() + 2];
    spare[0].write(b'"');
    spare[1..=bytes.len()].write_copy_of_slice(bytes);
    spare[bytes.len() + 1].write(b'"');
    // SAFETY: the `bytes.len() + 2` bytes after `start` were reserved and just written.
    unsafe { out.set_len(end) };
    tape::push(tape, start, tag, end);
}

/// `bytes` as text, invalid UTF-8 replaced by U+FFFD. `from_utf8` first: its check
/// runs a word at a time, where `from_utf8_lossy` walks the bytes one by one.
fn lossy_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.into(),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Writes `text` as a JSON string (a member key when `key`) with its tape entry.
fn string(out: &mut Vec<u8>, tape: &mut Vec<u32>, text: &str, key: bool) {
    let start = out.len();
    json::write_string(out, text);
    // Escapes only ever lengthen a string: the same length means none was needed.
    let escaped = out.len() - start != text.len() + 2;
    let tag = match (key, escaped) {
        (false, false) => tape::STRING,
        (false, true) => tape::STRING_ESCAPED,
        (true, false) => tape::KEY,
        (true, true) => tape::KEY_ESCAPED,
    };
    tape::push(tape, start, tag, out.len());
}

fn literal(out: &mut Vec<u8>, tape: &mut Vec<u32>, word: &[u8], tag: u32) {
    let start = out.len();
    out.extend_from_slice(word);
    tape::push(tape, start, tag, out.len());
}

/// Closes the container whose start entry is `entry` with `bracket`.
fn close(out: &mut Vec<u8>, tape: &mut Vec<u32>, entry: usize, bracket: u8, tag: u32) {
    let end_entry = tape::len(tape);
    tape::push(tape, out.len(), tag, entry);
    tape[2 * entry + 1] = end_entry as u32;
    out.push(bracket);
}

/// A float as JSON: NaN and infinities have no JSON form and become `null`.
fn float(f: f64, out: &mut Vec<u8>, tape: &mut Vec<u32>) {
    match serde_json::Number::from_f64(f) {
        Some(n) => {
            let start = out.len();
            out.extend_from_slice(n.to_string().as_bytes());
            tape::push(tape, start, tape::NUMBER, out.len());
        }
        None => literal(out, tape, b"null", tape::NULL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value as Mp;
    use serde_json::json;

    fn mp(value: &Mp) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, value).unwrap();
        out
    }

    fn event_time(sec: u32, nsec: u32) -> Mp {
        let mut data = sec.to_be_bytes().to_vec();
        data.extend_from_slice(&nsec.to_be_bytes());
        Mp::Ext(0, data)
    }

    fn v2(sec: u32, body: Mp) -> Mp {
        Mp::Array(vec![Mp::Array(vec![event_time(sec, 5), Mp::Map(vec![(Mp::from("m"), Mp::from(1))])]), body])
    }

    #[test]
    fn splits_v2_legacy_and_group_markers() {
        let body = Mp::Map(vec![(Mp::from("a"), Mp::from(1))]);
        let start = Mp::Array(vec![Mp::Array(vec![event_time(0xFFFF_FFFF, 0), Mp::Map(vec![])]), Mp::Map(vec![])]);
        let end = Mp::Array(vec![Mp::Array(vec![event_time(0xFFFF_FFFE, 0), Mp::Map(vec![])]), Mp::Map(vec![])]);
        let legacy = Mp::Array(vec![Mp::from(1_700_000_000u64), body.clone()]);
        let chunk = [mp(&start), mp(&v2(7, body.clone())), mp(&legacy), mp(&end)].concat();
        let records = records(&chunk).unwrap();
        assert_eq!(records.len(), 4);
        assert!(matches!(records[0], Record::Other { .. }));
        assert!(matches!(records[3], Record::Other { .. }));
        let Record::Log(LogRecord { header, body: b, .. }) = &records[1] else { panic!() };
        assert_eq!(
            &chunk[header.clone()],
            &mp(&Mp::Array(vec![event_time(7, 5), Mp::Map(vec![(Mp::from("m"), Mp::from(1))])]))[..]
        );
        assert_eq!(&chunk[b.clone()], &mp(&body)[..]);
        assert_eq!(record_time(&chunk[header.clone()]), Some(7.000_000_005));
        let Record::Log(LogRecord { header, .. }) = &records[2] else { panic!() };
        assert_eq!(&chunk[header.clone()], &mp(&Mp::from(1_700_000_000u64))[..]);
        assert_eq!(record_time(&chunk[header.clone()]), Some(1_700_000_000.0));
    }

    #[test]
    fn bodies_round_trip_through_json() {
        let body = Mp::Map(vec![
            (Mp::from("s"), Mp::from("zoë \"q\"")),
            (Mp::from("i"), Mp::from(-42)),
            (Mp::from("u"), Mp::from(u64::MAX)),
            (Mp::from("f"), Mp::F64(2.5)),
            (Mp::from("b"), Mp::Boolean(true)),
            (Mp::from("n"), Mp::Nil),
            (Mp::from("a"), Mp::Array(vec![Mp::from(1), Mp::Map(vec![(Mp::from("x"), Mp::from("y"))])])),
            (Mp::from(7), Mp::from("int key")),
            (Mp::from("bin"), Mp::Binary(b"raw".to_vec())),
        ]);
        let mut text = Vec::new();
        to_json(&mp(&body), &mut text).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(
            value,
            json!({"s": "zoë \"q\"", "i": -42, "u": u64::MAX, "f": 2.5, "b": true, "n": null, "a": [1, {"x": "y"}], "7": "int key", "bin": "raw"})
        );
        let tape = json::tape_of(&text).unwrap();
        let mut back = Vec::new();
        from_json(&Event::new(&text, &tape), 0, &mut back);
        let decoded = rmpv::decode::read_value(&mut &back[..]).unwrap();
        assert_eq!(decoded["s"], Mp::from("zoë \"q\""));
        assert_eq!(decoded["i"], Mp::from(-42));
        assert_eq!(decoded["u"], Mp::from(u64::MAX));
        assert_eq!(decoded["f"], Mp::F64(2.5));
        assert_eq!(decoded["a"][1]["x"], Mp::from("y"));
    }

    #[test]
    fn a_fixstr_decodes_as_the_same_text_in_a_wider_header() {
        // The fixstr fast path (length in the marker) against the general one: every
        // short text, plain or not, as key and value, also written with a str8 header.
        let texts =
            ["", "a", "plain ascii", "q\"uote", "tab\t", "zoë", "0123456789abcdef", "a_thirty_one_byte_long_string_x"];
        let str8 = |text: &str| [&[0xd9, text.len() as u8][..], text.as_bytes()].concat();
        for text in texts {
            assert!(text.len() < 32);
            let fix = mp(&Mp::from(text));
            for (key, value) in [(&fix, &fix), (&fix, &str8(text)), (&str8(text), &fix), (&str8(text), &str8(text))] {
                let body = [&[0x81][..], key, value].concat();
                let (mut json, mut tape) = (Vec::new(), Vec::new());
                to_event(&body, &mut json, &mut tape).unwrap();
                let expected = serde_json::to_vec(&json!({ text: text })).unwrap();
                assert_eq!(String::from_utf8_lossy(&json), String::from_utf8_lossy(&expected), "{text:?}");
                assert_eq!(tape, json::tape_of(&json).unwrap(), "{text:?}");
            }
        }
    }

    #[test]
    fn broken_chunks_are_errors_not_panics() {
        let chunk = mp(&v2(1, Mp::Map(vec![(Mp::from("a"), Mp::from("b"))])));
        for cut in 0..chunk.len() {
            let _ = records(&chunk[..cut]);
        }
        assert!(records(&chunk[..chunk.len() - 1]).is_err());
        assert!(records(&[0xc1]).is_err());
    }

    #[test]
    fn a_member_is_appended_without_touching_the_others() {
        let body = Mp::Map(vec![
            (Mp::from("bin"), Mp::Binary(vec![0, 255])),
            (Mp::from("f"), Mp::F32(1.5)),
            (Mp::from(7), Mp::Ext(5, vec![1, 2])),
        ]);
        let mut out = Vec::new();
        assert!(append_member(&mp(&body), "v", &mp(&Mp::from("x")), &mut out));
        let Mp::Map(mut expected) = body.clone() else { unreachable!() };
        expected.push((Mp::from("v"), Mp::from("x")));
        assert_eq!(rmpv::decode::read_value(&mut &out[..]).unwrap(), Mp::Map(expected));
        let mut out = Vec::new();
        assert!(!append_member(&mp(&Mp::from(1)), "v", &mp(&Mp::from("x")), &mut out), "not a map");
        assert!(out.is_empty());
    }

    #[test]
    fn a_deeply_nested_record_is_one_record_and_does_not_exhaust_the_stack() {
        // [time, {"a": [[[[… a million levels …]]]]}]: one byte per level.
        let mut chunk = vec![0x92, 0x01, 0x81, 0xa1, b'a'];
        chunk.extend(std::iter::repeat_n(0x91, 1_000_000));
        chunk.push(0xc0);
        let split = records(&chunk).unwrap();
        let [Record::Log(LogRecord { body, .. })] = &split[..] else { panic!("one log record") };
        let error = to_json(&chunk[body.clone()], &mut Vec::new()).unwrap_err();
        assert!(error.to_string().contains("nesting too deep"), "{error}");
        assert!(records(&chunk[..chunk.len() - 1]).is_err(), "truncated");
    }

    /// Tricky bodies: escapes, control characters, non-ASCII, binary with invalid
    /// UTF-8, ext values, f32 and f64 (NaN too), extreme integers, non-string keys,
    /// empty containers, nesting at and past the validator's limit.
    fn tricky_bodies() -> Vec<Mp> {
        let nested = |levels: usize| {
            let mut value = Mp::Nil;
            for _ in 0..levels {
                value = Mp::Array(vec![value]);
            }
            Mp::Map(vec![(Mp::from("deep"), value)])
        };
        vec![
            Mp::Map(vec![]),
            Mp::Map(vec![
                (Mp::from("s"), Mp::from("zoë \"q\" \\ \n\t\u{1} \u{2028} 😀")),
                (Mp::from("k\"ey"), Mp::from("")),
                (Mp::from("i"), Mp::from(i64::MIN)),
                (Mp::from("u"), Mp::from(u64::MAX)),
                (Mp::from("f32"), Mp::F32(1.1)),
                (Mp::from("f64"), Mp::F64(-0.0)),
                (Mp::from("nan"), Mp::F64(f64::NAN)),
                (Mp::from("inf"), Mp::F32(f32::INFINITY)),
                (Mp::from("t"), Mp::Boolean(false)),
                (Mp::from("bin"), Mp::Binary(vec![0xff, b'a', 0x00, b'"'])),
                (Mp::from("ext"), Mp::Ext(0, vec![0; 8])),
                (Mp::from("empty"), Mp::Array(vec![])),
                (Mp::from("obj"), Mp::Map(vec![(Mp::from(1.5), Mp::Map(vec![])), (Mp::Nil, Mp::from(-1))])),
                (Mp::Binary(vec![0xc3, 0x28]), Mp::Array(vec![Mp::from(1), Mp::from("x"), Mp::Nil])),
                // Plain-ASCII detection 16 bytes at a time: a quote, a control character and
                // a non-ASCII byte past the first sixteen, and exactly sixteen plain bytes.
                (Mp::from("long_key_with_a_quote_late\""), Mp::from("abcdefghijklmnopqrstuvwxyz0123\"456789")),
                (Mp::from("ctl"), Mp::from("abcdefghijklmnopq\u{1}rs")),
                (Mp::from("late"), Mp::from("abcdefghijklmnopqrstuvwxyzé")),
                (Mp::from("sixteen_bytes_ok"), Mp::from("0123456789abcdef")),
            ]),
            // A plain string that ends the body: no bytes to read past it.
            Mp::Map(vec![(Mp::from("tail"), Mp::from("plain ascii that ends the body"))]),
            nested(json::MAX_DEPTH - 1),
            nested(json::MAX_DEPTH),
        ]
    }

    #[test]
    fn one_pass_to_json_and_tape_matches_json_then_validation() {
        let mut bodies = tricky_bodies();
        #[cfg(feature = "tools")]
        {
            let mut generator = crate::tools::generate::Generator::new(7);
            for _ in 0..200 {
                let event: serde_json::Value = serde_json::from_str(&generator.next_event()).unwrap();
                bodies.push(to_msgpack(&event));
            }
        }
        let (mut json, mut tape) = (Vec::new(), Vec::new());
        for body in &bodies {
            let bytes = mp(body);
            let mut slow = Vec::new();
            let slow_ok = to_json(&bytes, &mut slow).is_ok();
            let expected = json::tape_of(&slow);
            match to_event(&bytes, &mut json, &mut tape) {
                Ok(()) => {
                    assert!(slow_ok);
                    assert_eq!(json, slow, "text of {body}");
                    assert_eq!(Some(&tape), expected.as_ref().ok(), "tape of {}", String::from_utf8_lossy(&json));
                }
                // Refused exactly where the validator refuses the slow path's text.
                Err(e) => assert!(expected.is_err() || !slow_ok, "{e}: {}", String::from_utf8_lossy(&slow)),
            }
        }
        assert!(to_event(&mp(&nested_too_deep()), &mut json, &mut tape).is_err());
        assert!(to_event(&mp(&Mp::from(1)), &mut json, &mut tape).is_err(), "a body must be a map");
    }

    #[test]
    fn a_stamped_record_keeps_every_member_and_adds_the_stamp() {
        let stamp = Stamp::version_at(&crate::emit::Place::default(), "v1");
        for body in tricky_bodies() {
            let mut text = Vec::new();
            if to_json(&mp(&body), &mut text).is_err() {
                continue;
            }
            let Ok(tape) = json::tape_of(&text) else { continue };
            let event = Event::new(&text, &tape);
            let (mut plain, mut stamped) = (Vec::new(), Vec::new());
            encode_record(&[0xc0], &event, &mut plain);
            encode_record_stamped(&[0xc0], &event, &stamp, &mut stamped);
            let read = |bytes: &[u8]| rmpv::decode::read_value(&mut &bytes[..]).unwrap();
            let Mp::Map(mut members) = read(&plain)[1].clone() else { panic!("{body}") };
            members.push((Mp::from("firehose_metadata"), Mp::Map(vec![(Mp::from("rules_version"), Mp::from("v1"))])));
            // Keys with escapes (a quote) among them: written as the unstamped record does.
            assert_eq!(read(&stamped)[1], Mp::Map(members), "{}", String::from_utf8_lossy(&text));
        }
    }

    #[test]
    fn a_stamped_record_replaces_a_member_of_the_stamps_name() {
        // The root's contents are written in one run unless a member has the stamp's
        // name: then member by member, without it (escaped keys and nesting around it).
        let stamp = Stamp::version_at(&crate::emit::Place::default(), "v1");
        let text = br#"{"a\"b": [1, {"x": "y"}], "firehose_metadata": {"old": true}, "n": -2.5, "s": "caf\u00e9"}"#;
        let tape = json::tape_of(text).unwrap();
        let mut stamped = Vec::new();
        encode_record_stamped(&[0xc0], &Event::new(text, &tape), &stamp, &mut stamped);
        let read = rmpv::decode::read_value(&mut &stamped[..]).unwrap();
        let expected = Mp::Map(vec![
            (Mp::from("a\"b"), Mp::Array(vec![Mp::from(1), Mp::Map(vec![(Mp::from("x"), Mp::from("y"))])])),
            (Mp::from("n"), Mp::F64(-2.5)),
            (Mp::from("s"), Mp::from("café")),
            (Mp::from("firehose_metadata"), Mp::Map(vec![(Mp::from("rules_version"), Mp::from("v1"))])),
        ]);
        assert_eq!(read[1], expected);
    }

    #[test]
    fn string_headers_are_rmps() {
        for len in [0, 1, 31, 32, 33, 255, 256, 257, 65_535, 65_536, 65_537, 1 << 20] {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            str_header(&mut ours, len);
            rmp::encode::write_str_len(&mut theirs, len as u32).unwrap();
            assert_eq!(ours, theirs, "{len} bytes");
        }
    }

    #[test]
    fn decoding_while_splitting_matches_splitting_then_decoding() {
        // Every tricky body as a v2 record, between group markers, legacy records and a
        // record whose body is not a map; bodies that cannot be decoded among them.
        let mut bodies = tricky_bodies();
        bodies.push(nested_too_deep());
        let start = Mp::Array(vec![Mp::Array(vec![event_time(0xFFFF_FFFF, 0), Mp::Map(vec![])]), Mp::Map(vec![])]);
        let mut chunk = mp(&start);
        for (i, body) in bodies.iter().enumerate() {
            chunk.extend(mp(&v2(i as u32, body.clone())));
            if i % 5 == 0 {
                chunk.extend(mp(&Mp::Array(vec![Mp::from(1_700_000_000u64), body.clone()])));
                chunk.extend(mp(&v2(i as u32, Mp::from("not a map"))));
            }
        }
        let split = records(&chunk).unwrap();
        let (mut json, mut tape) = (Vec::new(), Vec::new());
        let mut decoded = Vec::new();
        let fused = records_decoded(&chunk, &mut json, &mut tape, |body, event| {
            decoded.push((body, event.map(|(json, tape)| (json.to_vec(), tape.to_vec()))));
        })
        .unwrap();
        assert_eq!(fused, split, "the same records");
        let logs: Vec<&LogRecord> = split
            .iter()
            .filter_map(|r| match r {
                Record::Log(log) => Some(log),
                Record::Other { .. } => None,
            })
            .collect();
        assert_eq!(decoded.len(), logs.len(), "one decoding per log record");
        let mut refused = 0;
        for (log, (body, fused)) in logs.iter().zip(decoded) {
            assert_eq!(body, log.body, "the body's range as `records` gives it");
            let alone = to_event(&chunk[log.body.clone()], &mut json, &mut tape).map(|()| (json.clone(), tape.clone()));
            refused += usize::from(alone.is_err());
            assert_eq!(fused, alone, "{}", String::from_utf8_lossy(&json));
        }
        assert!(refused > 0, "some bodies cannot be decoded and are reported the same way");
        // A truncated chunk is refused as a whole, as `records` refuses it.
        let cut = &chunk[..chunk.len() - 3];
        let fused = records_decoded(cut, &mut json, &mut tape, |_, _| {});
        assert_eq!(fused.unwrap_err(), records(cut).unwrap_err());
    }

    #[test]
    fn json_back_to_msgpack_keeps_every_value() {
        for body in tricky_bodies() {
            let mut text = Vec::new();
            if to_json(&mp(&body), &mut text).is_err() {
                continue;
            }
            let Ok(tape) = json::tape_of(&text) else { continue };
            let mut back = Vec::new();
            from_json(&Event::new(&text, &tape), 0, &mut back);
            // Written in the tape's order: byte for byte what the text says, read back.
            let mut again = Vec::new();
            to_json(&back, &mut again).unwrap();
            assert_eq!(again, text, "{}", String::from_utf8_lossy(&text));
        }
    }

    fn to_msgpack(value: &serde_json::Value) -> Mp {
        match value {
            serde_json::Value::Null => Mp::Nil,
            serde_json::Value::Bool(b) => Mp::Boolean(*b),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Mp::from(i),
                (None, Some(u)) => Mp::from(u),
                _ => Mp::F64(n.as_f64().unwrap()),
            },
            serde_json::Value::String(s) => Mp::from(s.as_str()),
            serde_json::Value::Array(items) => Mp::Array(items.iter().map(to_msgpack).collect()),
            serde_json::Value::Object(members) => {
                Mp::Map(members.iter().map(|(k, v)| (Mp::from(k.as_str()), to_msgpack(v))).collect())
            }
        }
    }

    fn nested_too_deep() -> Mp {
        let mut value = Mp::Nil;
        for _ in 0..json::MAX_DEPTH {
            value = Mp::Array(vec![value]);
        }
        Mp::Map(vec![(Mp::from("deep"), value)])
    }
}
