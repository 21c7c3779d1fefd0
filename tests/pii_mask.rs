//! The `pii-mask` module, compiled to a component: every strategy and detector.

mod common;

use common::{TestDir, run, single};
use firehose::Pipeline;
use serde_json::{Value, json};

fn config() -> Value {
    json!({
        "fields": [
            {"path": "$.lead_data.ssn", "strategy": "last4"},
            {"path": "$.lead_data.email", "strategy": "email"},
            {"path": "$.lead_data.phone", "strategy": "area_code"},
            {"path": "$.lead_data.first_name", "strategy": "first_letter"},
            {"path": "$.lead_data.last_name", "strategy": "first_letter"},
            {"path": "$.lead_data.dob", "strategy": "redact"},
            {"path": "$.lead_data.contacts[*].phone", "strategy": "area_code"}
        ],
        "detect": {"ssn": "last4", "email": "email", "phone": "area_code", "card": "last4"},
        "skip": ["$.event_id"]
    })
}

fn masked(event: Value) -> Value {
    run(&single("pii-mask", config()), &[event])[0].delivered().clone()
}

#[test]
fn every_path_strategy() {
    let out = masked(json!({"lead_data": {
        "ssn": "123-45-6789", "email": "jane.doe@example.com", "phone": "(555) 123-4567",
        "first_name": "Zoë", "last_name": "王小明", "dob": "1990-04-01",
        "contacts": [{"phone": "+1 555.987.6543"}, {"phone": 5551112222i64}]
    }}));
    let lead = &out["lead_data"];
    assert_eq!(lead["ssn"], "***-**-6789");
    assert_eq!(lead["email"], "j***@example.com");
    assert_eq!(lead["phone"], "(555) ***-****");
    assert_eq!(lead["first_name"], "Z***");
    assert_eq!(lead["last_name"], "王***");
    assert_eq!(lead["dob"], "[REDACTED]");
    assert_eq!(lead["contacts"], json!([{"phone": "+1 555.***.****"}, {"phone": "555*******"}]));
}

#[test]
fn keyed_hash_from_an_environment_variable_is_joinable() {
    // SAFETY: only this test reads or writes this variable.
    unsafe { std::env::set_var("FIREHOSE_TEST_PII_KEY", "a-long-random-secret") };
    let dir = TestDir::new();
    let path = dir.pipeline(
        "stages:\n  - name: hash\n    module: '{pii-mask}'\n    config:\n      hash_key: {$env: FIREHOSE_TEST_PII_KEY}\n      fields: [{path: $.email, strategy: hash}]\n",
    );
    let pipeline = Pipeline::load(&common::engine(), &path).unwrap();
    let fates = run(
        &pipeline,
        &[
            json!({"email": "jane@example.com"}),
            json!({"email": "jane@example.com"}),
            json!({"email": "john@example.com"}),
        ],
    );
    let hashes: Vec<&str> = fates.iter().map(|f| f.delivered()["email"].as_str().unwrap()).collect();
    assert_eq!(hashes[0], hashes[1], "equal values hash equally");
    assert_ne!(hashes[0], hashes[2]);
    assert_eq!(hashes[0].len(), 64);
    assert!(hashes[0].bytes().all(|b| b.is_ascii_hexdigit()));
    // Independent check: HMAC-SHA-256 computed here with the same key.
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"a-long-random-secret").unwrap();
    mac.update(b"jane@example.com");
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hashes[0], expected);
}

#[test]
fn a_hash_without_key_is_refused() {
    let error = common::load_error(
        "stages:\n  - name: m\n    module: '{pii-mask}'\n    config: {fields: [{path: $.a, strategy: hash}]}\n",
    );
    assert!(error.contains("config field `fields[0].strategy`") && error.contains("hash_key"), "{error}");
    let error = common::load_error(
        "stages:\n  - name: m\n    module: '{pii-mask}'\n    config: {fields: [{path: $.a, strategy: lst4}]}\n",
    );
    assert!(error.contains("unknown variant `lst4`") && error.contains("last4"), "{error}");
}

#[test]
fn detectors_find_pii_in_free_text_at_any_depth() {
    let out = masked(json!({
        "event_id": "123-45-6789",
        "notes": "SSN 123-45-6789, card 4111 1111 1111 1111, mail zoë.x@example.com? no: zoe@example.com, call (555) 123-4567",
        "history": [{"text": "new card 5500-0000-0000-0004"}, ["bad card 4111 1111 1111 1112", {"deep": {"deeper": "ssn 078-05-1120"}}]],
    }));
    assert_eq!(out["event_id"], "123-45-6789", "skipped path");
    assert_eq!(
        out["notes"],
        "SSN ***-**-6789, card **** **** **** 1111, mail z***@example.com? no: z***@example.com, call (555) ***-****"
    );
    assert_eq!(out["history"][0]["text"], "new card ****-****-****-0004");
    assert_eq!(out["history"][1][0], "bad card 4111 1111 1111 1112", "Luhn-invalid numbers are not cards");
    assert_eq!(out["history"][1][1]["deep"]["deeper"], "ssn ***-**-1120");
}

#[test]
fn escaped_and_non_ascii_text_stays_valid() {
    let out = masked(json!({"t": "line1\nZoë «quote» \"ssn\": 123-45-6789\t😀 e@x.io"}));
    assert_eq!(out["t"], "line1\nZoë «quote» \"ssn\": ***-**-6789\t😀 e***@x.io");
}

#[test]
fn events_without_pii_pass_byte_for_byte() {
    let pipeline = single("pii-mask", config());
    let mut intake = firehose::intake::Intake::default();
    let text = br#"{"a": 1, "b" : "nothing here", "c": [true, null, 2.5e3]}"#;
    intake.add(1, text);
    let outcome = pipeline.runner().run(&intake.events);
    assert_eq!(outcome.delivered.get(0), text);
}
