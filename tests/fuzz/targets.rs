//! The fuzz targets: every parser that reads bytes from outside, each with an oracle.

use arbitrary::Unstructured;
use firehose::config::PipelineConfig;
use firehose::fluent_bit::msgpack::{self, Record};
use firehose::intake::{self, DecodeError, Intake};
use firehose_json::{self as json, Edit, EditAction, Event};
use serde_json::Value;

use super::engine::Target;

/// Every target, in the order `cargo xtask fuzz` runs them.
pub fn all() -> Vec<Target> {
    vec![
        Target { name: "ndjson", seeds: json_seeds, run: ndjson, tokens: JSON_TOKENS },
        Target { name: "json_array", seeds: array_seeds, run: json_array, tokens: JSON_TOKENS },
        Target { name: "edits", seeds: byte_seeds, run: edits, tokens: JSON_TOKENS },
        Target { name: "words", seeds: byte_seeds, run: words, tokens: &[] },
        Target { name: "msgpack_bytes", seeds: msgpack_seeds, run: msgpack_bytes, tokens: MSGPACK_TOKENS },
        Target { name: "msgpack_values", seeds: byte_seeds, run: msgpack_values, tokens: &[] },
        Target { name: "bodies", seeds: byte_seeds, run: bodies, tokens: &[] },
        Target { name: "pipeline", seeds: pipeline_seeds, run: pipeline, tokens: YAML_TOKENS },
    ]
}

const JSON_TOKENS: &[&[u8]] = &[
    b"{\"a\":1}",
    b"\"\\u0000\"",
    b"\"\\ud83d\\ude00\"",
    b"\"\\ud800\"",
    b"\\u",
    b"1e400",
    b"-0.0e-5",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"true",
    b"null",
    b"[[[[[[[[",
    b"]]]]]]]]",
    b"\xc3\xa9",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\r\n",
    b"\t",
    b"\x0c",
];

const MSGPACK_TOKENS: &[&[u8]] = &[
    b"\x92\x92\xd7\x00\x00\x00\x00\x01\x00\x00\x00\x00\x80",
    b"\x81\xa1a\x01",
    b"\xdf\xff\xff\xff\xff",
    b"\xdd\xff\xff\xff\xff",
    b"\xdb\xff\xff\xff\xff",
    b"\xc6\x00\x00\x00\x10",
    b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00",
    b"\xcb\x7f\xf0\x00\x00\x00\x00\x00\x00",
    b"\xc1",
    b"\xd4\x01\x02",
];

const YAML_TOKENS: &[&[u8]] = &[
    b"stages:\n",
    b"  - name: a\n    module: m.wasm\n",
    b"config: {$table: t.csv}",
    b"{$env: HOME}",
    b"{$file: /dev/null}",
    b"limits: {timeout_ms: 0}",
    b"serve: {max_body_bytes: -1}",
    b"trusted_keys: [k.pub]",
    b"&a [*a, *a]",
    b"!!binary aGk=",
    b"? [a]\n: b",
    b"tests: [{name: t, input: {}, expect: dropped}]",
    b"output: {size_mib: 99999999999999999999}",
    b"\t",
    b"'",
];

fn byte_seeds() -> Vec<Vec<u8>> {
    vec![vec![0; 64], (0..=255).collect(), b"{\"a\":[1,2,{\"b\":\"c\"}],\"d\":null}".repeat(3)]
}

fn json_seeds() -> Vec<Vec<u8>> {
    vec![
        br#"{"event_id":"e1","timestamp":"2024-01-15T14:30:45Z","flow_id":"f","metadata":{"price":20.5},"lead_data":{"email":"a@b.c","ssn":"123-45-6789"}}"#.to_vec(),
        b"{\"a\":1}\n\n  {\"b\":[true,false,null,-1.5e3,\"\\u00e9\\n\"]}\r\n[1]\n\"x\"\n{".to_vec(),
        b"{\"deep\":[[[[[[[[[[{\"x\":{}}]]]]]]]]]],\"k\":\"\\ud83d\\ude00\",\"\":0}".to_vec(),
        b"{\"n\":12345678901234567890,\"f\":1e-7,\"z\":-0}".to_vec(),
    ]
}

fn array_seeds() -> Vec<Vec<u8>> {
    vec![
        b"[{\"a\":1},\n {\"b\":2}]".to_vec(),
        b"  [ ]  ".to_vec(),
        b"[{\"a\":[1,{\"c\":\"]\"}]}, 3, {\"d\":\"x\"}]".to_vec(),
        b"[{\"a\":1},".to_vec(),
    ]
}

fn msgpack_seeds() -> Vec<Vec<u8>> {
    let mut chunk = Vec::new();
    for body in [r#"{"a":1,"b":"x","c":[1.5,true,null]}"#, r#"{"n":{"m":{"o":-7}}}"#] {
        let value: Value = serde_json::from_str(body).unwrap();
        let record =
            rmpv::Value::Array(vec![rmpv::Value::Array(vec![event_time(), rmpv::Value::Map(vec![])]), to_rmpv(&value)]);
        rmpv::encode::write_value(&mut chunk, &record).unwrap();
    }
    let mut legacy = Vec::new();
    let record = rmpv::Value::Array(vec![rmpv::Value::from(1_700_000_000u64), to_rmpv(&serde_json::json!({"k": "v"}))]);
    rmpv::encode::write_value(&mut legacy, &record).unwrap();
    vec![chunk, legacy]
}

fn pipeline_seeds() -> Vec<Vec<u8>> {
    vec![
        b"name: p\nlimits: {timeout_ms: 1000, memory_mib: 64}\nstages:\n  - name: keep\n    module: filter.wasm\n    config: {event_type: [a, \"b.*\"]}\n  - name: mask\n    module: mask.wasm\n    config:\n      fields: [{path: $.ssn, strategy: last4}]\ntests:\n  - name: t\n    input: {a: 1}\n    expect: {output: {a: 1}, exact: true}\nserve: {listen: '0.0.0.0:1', max_in_flight: 4}\noutput: {framing: json_array, compression: lz4, size_mib: 5}\n".to_vec(),
        b"stages: []\n".to_vec(),
        b"stages:\n- {name: a, module: a.wasm, config: {x: {$env: FIREHOSE_FUZZ_UNSET}}}\n".to_vec(),
    ]
}

fn event_time() -> rmpv::Value {
    rmpv::Value::Ext(0, vec![0x65, 0x5c, 0x00, 0x00, 0, 0, 0, 0])
}

fn to_rmpv(value: &Value) -> rmpv::Value {
    match value {
        Value::Null => rmpv::Value::Nil,
        Value::Bool(b) => rmpv::Value::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => rmpv::Value::from(i),
            (_, Some(u)) => rmpv::Value::from(u),
            _ => rmpv::Value::F64(n.as_f64().unwrap()),
        },
        Value::String(s) => rmpv::Value::from(s.as_str()),
        Value::Array(items) => rmpv::Value::Array(items.iter().map(to_rmpv).collect()),
        Value::Object(map) => {
            rmpv::Value::Map(map.iter().map(|(k, v)| (rmpv::Value::from(k.as_str()), to_rmpv(v))).collect())
        }
    }
}

/// How many representable doubles lie between two finite doubles of the same sign
/// (`u64::MAX` when the signs differ).
fn ulps_apart(x: f64, y: f64) -> u64 {
    if x.is_sign_negative() != y.is_sign_negative() {
        return u64::MAX;
    }
    x.abs().to_bits().abs_diff(y.abs().to_bits())
}

/// Whether two JSON values are equal, numbers compared by value (2 == 2.0).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(x), Some(y), ..) => x == y,
            (_, _, Some(x), Some(y)) => x == y,
            // serde_json's default float parsing (no `float_roundtrip`) may be a few ulps
            // off, more of them (relative to the value) for subnormal numbers.
            _ => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x == y || ulps_apart(x, y) <= 16,
                _ => false,
            },
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((kx, vx), (ky, vy))| kx == ky && same(vx, vy))
        }
        _ => a == b,
    }
}

/// What serde_json makes of one NDJSON record: an event if it is one JSON object.
fn oracle_event(record: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Value>(record).ok().filter(Value::is_object)
}

/// Checks that `event` is valid JSON whose tape is the validator's, and returns its value.
fn checked_event(bytes: &[u8], tape: &[u32]) -> Value {
    let mut fresh = Vec::new();
    json::validate_event(bytes, &mut fresh).unwrap_or_else(|e| panic!("an event is not valid: {e}"));
    assert_eq!(fresh, tape, "an event's tape differs from a fresh validation");
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("serde_json refuses an accepted event: {e}"))
}

/// NDJSON intake against serde_json: the same records accepted, with the same values.
pub fn ndjson(data: &[u8]) -> u8 {
    let mut intake = Intake::default();
    intake::ndjson(data, 1, &mut intake);
    let mut expected = Vec::new();
    let mut refused = 0;
    for (line, record) in (1u64..).zip(data.split(|&b| b == b'\n')) {
        if record.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match oracle_event(record) {
            Some(value) => expected.push((line, value)),
            None => refused += 1,
        }
    }
    assert_eq!(
        intake.events.len(),
        expected.len(),
        "accepted {} events, serde_json {}",
        intake.events.len(),
        expected.len()
    );
    assert_eq!(intake.malformed.len(), refused, "malformed records");
    for (i, (line, value)) in expected.iter().enumerate() {
        let got = checked_event(intake.events.get(i), intake.events.tape_of(i));
        assert_eq!(intake.lines[i], *line);
        assert!(same(&got, value), "event {i} differs: {got} vs {value}");
    }
    u8::from(refused > 0) + 2 * u8::from(!expected.is_empty())
}

/// JSON-array intake against serde_json: an array it reads gives its objects as events
/// and its other items as malformed; a broken array is never accepted whole.
pub fn json_array(data: &[u8]) -> u8 {
    let mut intake = Intake::default();
    intake::json_array(data, &mut intake);
    for i in 0..intake.events.len() {
        checked_event(intake.events.get(i), intake.events.tape_of(i));
    }
    match serde_json::from_slice::<Value>(data) {
        Ok(Value::Array(items)) => {
            let objects: Vec<&Value> = items.iter().filter(|v| v.is_object()).collect();
            assert_eq!(intake.events.len(), objects.len(), "objects of a valid array");
            assert_eq!(intake.malformed.len(), items.len() - objects.len(), "non-objects of a valid array");
            for (i, value) in objects.into_iter().enumerate() {
                let got: Value = serde_json::from_slice(intake.events.get(i)).unwrap();
                assert!(same(&got, value), "element {i} differs: {got} vs {value}");
            }
            0
        }
        _ => {
            let blank = data.iter().all(u8::is_ascii_whitespace);
            assert!(blank || !intake.malformed.is_empty(), "serde_json refuses this array, but nothing was malformed");
            1
        }
    }
}

/// The edit applier fed arbitrary module answers: never a panic, never invalid JSON,
/// and an edit it cannot apply is refused with nothing written.
pub fn edits(data: &[u8]) -> u8 {
    let mut u = Unstructured::new(data);
    let events = json_seeds();
    let pick = u.choose_index(events.len()).unwrap_or(0);
    let event_text = events[pick].split(|&b| b == b'\n').next().unwrap().to_vec();
    let mut tape = Vec::new();
    if json::validate_event(&event_text, &mut tape).is_err() {
        return 0;
    }
    let entries = json::tape::len(&tape) as u32;
    // The module's output bytes: pieces of JSON and raw bytes.
    const PIECES: &[&[u8]] = &[
        b"1",
        b"\"x\"",
        b"{}",
        b"[]",
        b"null",
        b"\"k\":2",
        b"\"k\": {\"n\":[1]}",
        b"{\"a\":1}",
        b"tru",
        b"\"\\u",
        b"1e",
        b"\"ssn\":\"***\"",
        b" ",
        b",",
        b"\xff",
    ];
    let mut text = Vec::new();
    for _ in 0..u.int_in_range(0..=12).unwrap_or(0) {
        if u.ratio(1, 4).unwrap_or(false) {
            let n = u.int_in_range(0..=6).unwrap_or(0);
            text.extend_from_slice(u.bytes(n).unwrap_or(&[]));
        } else {
            text.extend_from_slice(PIECES[u.choose_index(PIECES.len()).unwrap_or(0)]);
        }
    }
    let mut edits = Vec::new();
    for _ in 0..u.int_in_range(0..=6).unwrap_or(0) {
        let entry = if u.ratio(1, 8).unwrap_or(false) {
            u.arbitrary().unwrap_or(0)
        } else {
            u.int_in_range(0..=entries + 1).unwrap_or(0)
        };
        let action = match u.int_in_range(0..=2).unwrap_or(0) {
            0 => EditAction::SetValue,
            1 => EditAction::AddMember,
            _ => EditAction::RemoveMember,
        };
        let len = text.len() as u32;
        let text_start = if u.ratio(1, 16).unwrap_or(false) {
            u.arbitrary().unwrap_or(0)
        } else {
            u.int_in_range(0..=len).unwrap_or(0)
        };
        let text_len = if u.ratio(1, 16).unwrap_or(false) {
            u.arbitrary().unwrap_or(0)
        } else {
            u.int_in_range(0..=len.saturating_sub(text_start)).unwrap_or(0)
        };
        edits.push(Edit { entry, action, text_start, text_len });
    }
    let mut applier = json::Applier::new();
    let mut out = b"prefix".to_vec();
    let mut out_tape = vec![7];
    match applier.apply(&event_text, &tape, &edits, &text, &mut out, &mut out_tape) {
        Ok(()) => {
            let event = &out[6..];
            let value = checked_event(event, &out_tape[1..]);
            assert!(value.is_object(), "an edited event must stay an object");
            1
        }
        Err(e) => {
            assert_eq!(out, b"prefix", "a refused edit wrote bytes: {e}");
            assert_eq!(out_tape, [7], "a refused edit wrote tape entries: {e}");
            assert!(!e.to_string().is_empty());
            0
        }
    }
}

/// A `tape-answer` (a module's answer as words) from arbitrary words: never a panic; a
/// malformed one is refused with a reason, and a well-formed one written back as words
/// reads the same again.
pub fn words(data: &[u8]) -> u8 {
    let mut u = Unstructured::new(data);
    // Mostly small words (real kinds, actions, spans), sometimes any word at all.
    let word = |u: &mut Unstructured<'_>| -> u32 {
        if u.ratio(1, 8).unwrap_or(false) { u.arbitrary().unwrap_or(0) } else { u.int_in_range(0..=6).unwrap_or(0) }
    };
    let verdicts: Vec<u32> = (0..u.int_in_range(0..=13).unwrap_or(0)).map(|_| word(&mut u)).collect();
    let edits: Vec<u32> = (0..u.int_in_range(0..=13).unwrap_or(0)).map(|_| word(&mut u)).collect();
    let len = u.int_in_range(0..=8).unwrap_or(0);
    let bytes = u.bytes(len).unwrap_or(&[]).to_vec();
    match json::Output::from_words(&verdicts, bytes, &edits) {
        Ok(output) => {
            let again = output.clone().into_words();
            let back =
                json::Output::from_words(&again.verdicts, again.bytes, &again.edits).expect("written words read");
            assert_eq!((back.verdicts, back.edits), (output.verdicts, output.edits));
            1
        }
        Err(e) => {
            assert!(e.to_string().contains("tape-answer layout"), "{e}");
            0
        }
    }
}

/// The Fluent Bit chunk walker on arbitrary bytes: never a panic; every body it turns
/// into JSON is a valid event, rmpv reads the same body, and JSON → msgpack → JSON is
/// stable.
pub fn msgpack_bytes(data: &[u8]) -> u8 {
    // The plugin splits and decodes in one pass: it must agree with splitting, then
    // decoding each body, on every input (records, each body's event or error).
    let (mut json, mut tape) = (Vec::new(), Vec::new());
    let mut fused = Vec::new();
    let split = msgpack::records_decoded(data, &mut json, &mut tape, |body, event| {
        fused.push((body, event.map(|(json, tape)| (json.to_vec(), tape.to_vec()))));
    });
    let Ok(records) = msgpack::records(data) else {
        assert!(split.is_err(), "the fused split accepted a chunk the split refuses");
        return 0;
    };
    assert_eq!(split.as_ref().ok(), Some(&records), "the fused split found other records");
    let alone: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            Record::Log(log) => Some(log),
            Record::Other { .. } => None,
        })
        .map(|log| {
            let alone = msgpack::to_event(&data[log.body.clone()], &mut json, &mut tape);
            (log.body.clone(), alone.map(|()| (json.clone(), tape.clone())))
        })
        .collect();
    assert_eq!(fused, alone, "decoding while splitting differs from decoding after");
    let mut outcome = 1;
    for record in records {
        let Record::Log(log) = record else { continue };
        let body = &data[log.body.clone()];
        if msgpack::to_event(body, &mut json, &mut tape).is_err() {
            continue;
        }
        outcome = 2;
        checked_event(&json, &tape);
        rmpv::decode::read_value(&mut &body[..]).expect("rmpv reads a body the walker read");
        let mut again = Vec::new();
        msgpack::encode_record(&data[log.header.clone()], &Event::new(&json, &tape), &mut again);
        let (mut json2, mut tape2) = (Vec::new(), Vec::new());
        let records = msgpack::records(&again).expect("an encoded record decodes");
        let Record::Log(log2) = &records[0] else { panic!("an encoded record is a log record") };
        msgpack::to_event(&again[log2.body.clone()], &mut json2, &mut tape2).expect("an encoded body decodes");
        let (a, b): (Value, Value) = (serde_json::from_slice(&json).unwrap(), serde_json::from_slice(&json2).unwrap());
        assert!(same(&a, &b), "JSON -> msgpack -> JSON changed the event: {a} vs {b}");
    }
    outcome
}

fn arbitrary_value(u: &mut Unstructured<'_>, depth: usize) -> Value {
    let kind = if depth > 4 { u.int_in_range(0..=5).unwrap_or(0) } else { u.int_in_range(0..=7).unwrap_or(0) };
    match kind {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary().unwrap_or(false)),
        2 => Value::from(u.arbitrary::<i64>().unwrap_or(0)),
        3 => Value::from(u.arbitrary::<u64>().unwrap_or(0)),
        4 => serde_json::Number::from_f64(u.arbitrary::<f64>().unwrap_or(0.0)).map_or(Value::Null, Value::Number),
        5 => Value::String(u.arbitrary::<String>().unwrap_or_default()),
        6 => Value::Array((0..u.int_in_range(0..=4).unwrap_or(0)).map(|_| arbitrary_value(u, depth + 1)).collect()),
        _ => arbitrary_object(u, depth + 1),
    }
}

fn arbitrary_object(u: &mut Unstructured<'_>, depth: usize) -> Value {
    let mut map = serde_json::Map::new();
    for _ in 0..u.int_in_range(0..=5).unwrap_or(0) {
        map.insert(u.arbitrary::<String>().unwrap_or_default(), arbitrary_value(u, depth));
    }
    Value::Object(map)
}

/// Structured msgpack: arbitrary bodies written by rmpv decode to exactly their JSON
/// value, and the walker's msgpack reads back with rmpv as the same value.
pub fn msgpack_values(data: &[u8]) -> u8 {
    let mut u = Unstructured::new(data);
    let body = arbitrary_object(&mut u, 0);
    let legacy = u.arbitrary().unwrap_or(false);
    let header = if legacy {
        rmpv::Value::from(1_700_000_000u64)
    } else {
        rmpv::Value::Array(vec![event_time(), rmpv::Value::Map(vec![])])
    };
    let mut chunk = Vec::new();
    rmpv::encode::write_value(&mut chunk, &rmpv::Value::Array(vec![header, to_rmpv(&body)])).unwrap();
    let records = msgpack::records(&chunk).expect("rmpv's record decodes");
    let Record::Log(log) = &records[0] else { panic!("a record with a map body is a log record") };
    let (mut json, mut tape) = (Vec::new(), Vec::new());
    msgpack::to_event(&chunk[log.body.clone()], &mut json, &mut tape).expect("rmpv's body decodes");
    let value = checked_event(&json, &tape);
    assert!(same(&value, &body), "msgpack -> JSON: {value} vs {body}");
    let mut out = Vec::new();
    msgpack::encode_record(&chunk[log.header.clone()], &Event::new(&json, &tape), &mut out);
    let back = rmpv::decode::read_value(&mut &out[..]).expect("rmpv reads what the walker writes");
    let rmpv::Value::Array(parts) = back else { panic!("a record is an array") };
    let back_json = rmpv_to_json(&parts[1]);
    assert!(same(&back_json, &body), "JSON -> msgpack: {back_json} vs {body}");
    u8::from(legacy)
}

fn rmpv_to_json(value: &rmpv::Value) -> Value {
    match value {
        rmpv::Value::Nil => Value::Null,
        rmpv::Value::Boolean(b) => Value::Bool(*b),
        rmpv::Value::Integer(i) => i.as_i64().map_or_else(|| Value::from(i.as_u64().unwrap()), Value::from),
        rmpv::Value::F32(f) => serde_json::Number::from_f64(*f as f64).map_or(Value::Null, Value::Number),
        rmpv::Value::F64(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        rmpv::Value::String(s) => Value::String(s.as_str().expect("UTF-8 strings").to_string()),
        rmpv::Value::Array(items) => Value::Array(items.iter().map(rmpv_to_json).collect()),
        rmpv::Value::Map(members) => Value::Object(
            members.iter().map(|(k, v)| (k.as_str().expect("string keys").to_string(), rmpv_to_json(v))).collect(),
        ),
        other => panic!("the walker wrote {other:?}"),
    }
}

/// Body decoding (identity, gzip, zstd): valid bodies decode to their data, bodies over
/// the cap are refused as too large, truncated and corrupt ones are errors; nothing
/// ever decodes past the cap.
pub fn bodies(data: &[u8]) -> u8 {
    let mut u = Unstructured::new(data);
    let encoding = ["identity", "gzip", "x-gzip", "zstd", "br", "GZIP"][u.choose_index(6).unwrap_or(0)];
    let payload: Vec<u8> = match u.int_in_range(0..=2).unwrap_or(0) {
        0 => {
            let n = u.int_in_range(0..=256).unwrap_or(0);
            u.bytes(n).unwrap_or(&[]).to_vec()
        }
        // A bomb: a long run of one byte compresses to almost nothing.
        1 => vec![b' '; u.int_in_range(0..=(2usize << 20)).unwrap_or(0)],
        _ => b"{\"a\":1}\n".repeat(u.int_in_range(0..=500).unwrap_or(0)),
    };
    let cap = u.int_in_range(0..=payload.len() * 2 + 1).unwrap_or(0);
    let mut body = match encoding {
        "gzip" | "x-gzip" | "GZIP" => {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&payload).unwrap();
            e.finish().unwrap()
        }
        "zstd" => zstd::encode_all(&payload[..], 1).unwrap(),
        _ => payload.clone(),
    };
    let damage = match u.int_in_range(0..=3).unwrap_or(0) {
        // Cut inside the data: an empty body is no data in any encoding.
        1 if body.len() > 1 => {
            body.truncate(u.int_in_range(1..=body.len() - 1).unwrap_or(1));
            1
        }
        2 if !body.is_empty() => {
            let i = u.int_in_range(0..=body.len() - 1).unwrap_or(0);
            body[i] ^= u.int_in_range(1..=255).unwrap_or(1);
            2
        }
        3 => {
            let n = u.len();
            body = u.bytes(n).unwrap_or(&[]).to_vec();
            3
        }
        _ => 0,
    };
    let result = intake::decode(Some(encoding), &body, cap);
    if let Ok(decoded) = &result {
        assert!(decoded.len() <= cap, "decoded {} bytes past the {cap}-byte cap", decoded.len());
    }
    match (encoding, damage == 0) {
        ("br", _) => assert!(matches!(result, Err(DecodeError::Unsupported(_)))),
        (_, true) if payload.len() <= cap => assert_eq!(result.as_deref().ok(), Some(&payload[..]), "a valid body"),
        (_, true) => assert_eq!(result, Err(DecodeError::TooLarge(cap)), "a body over the cap"),
        ("identity", false) => {}
        (_, false) if damage == 1 => assert!(result.is_err() || payload.is_empty(), "a truncated body decoded"),
        _ => {}
    }
    match result {
        Ok(_) => 0,
        Err(DecodeError::TooLarge(_)) => 1,
        Err(DecodeError::Corrupt(_)) => 2,
        Err(DecodeError::Unsupported(_)) => 3,
    }
}

/// The pipeline loader on arbitrary YAML: an error with a message, never a panic.
pub fn pipeline(data: &[u8]) -> u8 {
    let text = String::from_utf8_lossy(data);
    let dir = std::env::temp_dir().join("firehose-fuzz-pipeline");
    match PipelineConfig::parse(&dir.join("pipeline.yaml"), &text) {
        Ok(_) => 1,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            0
        }
    }
}
