//! The tape: a structural index of one event, built by the host while validating it
//! and handed to every stage with the event's bytes, so modules never tokenize JSON.
//!
//! One entry per token, two `u32` words each:
//!
//! | entry        | word 0                     | word 1                               |
//! |--------------|----------------------------|--------------------------------------|
//! | object start | `offset << 4 \| OBJECT`    | index of its end entry               |
//! | object end   | `offset << 4 \| OBJECT_END`| index of its start entry             |
//! | array start  | `offset << 4 \| ARRAY`     | index of its end entry               |
//! | array end    | `offset << 4 \| ARRAY_END` | index of its start entry             |
//! | key          | `offset << 4 \| KEY[_ESCAPED]` | end offset (after the closing quote) |
//! | string       | `offset << 4 \| STRING[_ESCAPED]` | end offset                        |
//! | number, true, false, null | `offset << 4 \| tag` | end offset                       |
//!
//! Offsets are byte offsets into the event, which therefore may not exceed
//! [`MAX_EVENT_BYTES`]. A member is a key entry followed by its value's entries.

/// Tag of an object's start.
pub const OBJECT: u32 = 0;
/// Tag of an object's end.
pub const OBJECT_END: u32 = 1;
/// Tag of an array's start.
pub const ARRAY: u32 = 2;
/// Tag of an array's end.
pub const ARRAY_END: u32 = 3;
/// Tag of a key without escapes.
pub const KEY: u32 = 4;
/// Tag of a key with escapes.
pub const KEY_ESCAPED: u32 = 5;
/// Tag of a string without escapes.
pub const STRING: u32 = 6;
/// Tag of a string with escapes.
pub const STRING_ESCAPED: u32 = 7;
/// Tag of a number.
pub const NUMBER: u32 = 8;
/// Tag of `true`.
pub const TRUE: u32 = 9;
/// Tag of `false`.
pub const FALSE: u32 = 10;
/// Tag of `null`.
pub const NULL: u32 = 11;

/// Largest event a tape can describe (offsets have 28 bits).
pub const MAX_EVENT_BYTES: usize = (1 << 28) - 1;

/// The tag of entry `i`.
#[inline]
pub fn tag(tape: &[u32], i: usize) -> u32 {
    tape[2 * i] & 15
}

/// The byte offset where entry `i` starts.
#[inline]
pub fn offset(tape: &[u32], i: usize) -> usize {
    (tape[2 * i] >> 4) as usize
}

/// The second word of entry `i`: an end offset, or the matching entry's index.
#[inline]
pub fn word(tape: &[u32], i: usize) -> usize {
    tape[2 * i + 1] as usize
}

/// Number of entries in `tape`.
#[inline]
pub fn len(tape: &[u32]) -> usize {
    tape.len() / 2
}

/// Whether `tag` starts a container.
#[inline]
pub fn is_start(tag: u32) -> bool {
    tag == OBJECT || tag == ARRAY
}

/// Whether `tag` ends a container.
#[inline]
pub fn is_end(tag: u32) -> bool {
    tag == OBJECT_END || tag == ARRAY_END
}

/// Whether `tag` is a key.
#[inline]
pub fn is_key(tag: u32) -> bool {
    tag == KEY || tag == KEY_ESCAPED
}

/// The entry after the value that starts at entry `i` (skipping a container whole).
#[inline]
pub fn next_value(tape: &[u32], i: usize) -> usize {
    if is_start(tag(tape, i)) { word(tape, i) + 1 } else { i + 1 }
}

/// The byte range of the value that starts at entry `i`.
#[inline]
pub fn value_span(tape: &[u32], i: usize) -> std::ops::Range<usize> {
    let start = offset(tape, i);
    if is_start(tag(tape, i)) { start..offset(tape, word(tape, i)) + 1 } else { start..word(tape, i) }
}

/// Appends an entry. For code that writes JSON text and its tape in one pass (the
/// Fluent Bit plugin's msgpack decoder); it must produce exactly what
/// [`validate_event`](crate::validate_event) would for the same text.
#[inline]
pub fn push(tape: &mut Vec<u32>, offset: usize, tag: u32, word: usize) {
    // One capacity check for both words.
    tape.extend_from_slice(&[((offset as u32) << 4) | tag, word as u32]);
}
