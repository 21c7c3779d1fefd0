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
    assert!(outcome.unchanged(), "no stage changed the batch");
    let delivered = outcome.delivered(&intake.events);
    assert!(std::ptr::eq(delivered, &intake.events), "a batch nothing changed is handed on, not copied");
    assert_eq!(delivered.get(0), text);

    // One event masked: the batch is the stages' copy, the other event byte for byte.
    intake.add(2, br#"{"email": "ann@example.com"}"#);
    let outcome = pipeline.runner().run(&intake.events);
    assert!(!outcome.unchanged());
    let delivered = outcome.delivered(&intake.events);
    assert!(!std::ptr::eq(delivered, &intake.events));
    assert_eq!(delivered.get(0), text);
    assert_ne!(delivered.get(1), intake.events.get(1), "the email is masked");
}

/// Every built-in kind on, with context words where a kind has a validity rule.
fn all_kinds() -> Value {
    json!({"detect": {
        "ssn": {"strategy": "last4", "context": "default"},
        "email": "email",
        "phone": "area_code",
        "card": {"strategy": "last4", "context": ["card no", "card"]},
        "ipv4": "network",
        "ipv6": {"replace": "[IPv6]"},
        "iban": {"strategy": "last4", "context": ["iban"]},
        "dob": "redact"
    }})
}

#[test]
fn every_kind_valid_and_invalid_inside_nested_values() {
    let pipeline = single("pii-mask", all_kinds());
    let out = &run(
        &pipeline,
        &[json!({
            "notes": [
                {"fr": "Née le — DOB: 04/01/1990 — à Lyon ✓", "en": "shipped 04/01/1990"},
                [["Zoë’s IP 203.0.113.7 → «2001:db8:85a3::8a2e:370:7334»"]],
                {"deep": {"deeper": ["IBAN DE89 3704 0044 0532 0130 00 ✓", "ref DE88 3704 0044 0532 0130 00"]}}
            ],
            "agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36",
            "ssn": ["ssn 666-39-9692", "order 666-39-9692", "SSN 123-45-6789"],
            "cards": {"ok": "card 4111 1111 1111 1111", "typo": "card no 4111 1111 1111 1112", "other": "ref 4111 1111 1111 1112"},
            "versions": "v10.0 build 1.2.3.4.5, 999.1.1.1, 12:30:45"
        })],
    )[0];
    let out = out.delivered();
    assert_eq!(out["notes"][0]["fr"], "Née le — DOB: [REDACTED] — à Lyon ✓");
    assert_eq!(out["notes"][0]["en"], "shipped 04/01/1990", "a date without a context word is not a birth date");
    assert_eq!(out["notes"][1][0][0], "Zoë’s IP 203.0.113.0/24 → «[IPv6]»");
    assert_eq!(out["notes"][2]["deep"]["deeper"][0], "IBAN **** **** **** **** **30 00 ✓");
    assert_eq!(out["notes"][2]["deep"]["deeper"][1], "ref DE88 3704 0044 0532 0130 00", "fails mod 97, no context");
    assert_eq!(
        out["agent"],
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36"
    );
    assert_eq!(out["ssn"], json!(["ssn ***-**-9692", "order 666-39-9692", "SSN ***-**-6789"]));
    assert_eq!(
        out["cards"],
        json!({"ok": "card **** **** **** 1111", "typo": "card no **** **** **** 1112", "other": "ref 4111 1111 1111 1112"})
    );
    assert_eq!(out["versions"], "v10.0 build 1.2.3.4.5, 999.1.1.1, 12:30:45");
}

#[test]
fn an_unissued_ssn_typed_after_ssn_is_masked_only_with_context_words() {
    let text = json!({"note": "ssn 666-39-9692"});
    let out = masked(text.clone());
    assert_eq!(out["note"], "ssn 666-39-9692", "the default stays Vector's choice");
    let with_context = json!({"detect": {"ssn": {"strategy": "last4", "context": ["ssn", "social security"]}}});
    assert_eq!(run(&single("pii-mask", with_context), &[text])[0].delivered()["note"], "ssn ***-**-9692");
}

#[test]
fn custom_patterns_and_built_in_kinds_together() {
    let mut config = all_kinds();
    config["detect"]["custom"] = json!([
        {"name": "member id", "pattern": r"\bMBR-\d{6}\b", "strategy": {"replace": "[MEMBER]"}},
        {"name": "four and four", "pattern": r"\d{4} \d{4}", "strategy": "redact"},
        {"name": "maybe digits", "pattern": r"[0-9]*", "strategy": "redact"},
        {"name": "claim", "pattern": r"\bC\d{7}\b", "strategy": "last4", "context": ["claim"], "window": 8}
    ]);
    let out = run(
        &single("pii-mask", config),
        &[
            json!({"a": [{"b": "Zoë MBR-123456 paid 4111 1111 1111 1111 ✓"}, "claim C1234567, C7654321"], "c": "no digits here"}),
        ],
    );
    let out = out[0].delivered();
    // The card starts where "four and four" does and is longer: it stays a card.
    assert_eq!(out["a"][0]["b"], "Zoë [MEMBER] paid **** **** **** 1111 ✓");
    // "[0-9]*" matches the empty string everywhere (masking nothing) and every run of
    // digits: the claim starts left of its digits and wins; the second C-number is too
    // far from "claim" (window 8), so only its digits go.
    assert_eq!(out["a"][1], "claim ****4567, C[REDACTED]");
    assert_eq!(out["c"], "no digits here");
}

#[test]
fn patterns_that_backtrack_catastrophically_elsewhere_run_in_linear_time() {
    // Each would take exponential time in a backtracking engine on these strings; the
    // regex crate's automata are linear, so the batch finishes well within the stage's
    // CPU deadline (a timeout would dead-letter the event).
    let dir = TestDir::new();
    let config = json!({"detect": {"custom": [
        {"name": "nested", "pattern": "(a+)+$", "strategy": "redact"},
        {"name": "alternation", "pattern": "(a|aa)*c", "strategy": "redact"},
        {"name": "x", "pattern": "(x+x+)+y", "strategy": "redact"}
    ]}});
    let path = dir.pipeline(&format!(
        "limits: {{timeout_ms: 2000}}\nstages:\n  - name: m\n    module: '{{pii-mask}}'\n    config: {config}\n"
    ));
    let pipeline = Pipeline::load(&common::engine(), &path).unwrap();
    let a = format!("{}!", "a".repeat(40_000));
    let x = "x".repeat(40_000);
    let out = run(&pipeline, &[json!({"a": a, "x": x, "tail": "bbb aaaa"})]);
    let out = out[0].delivered();
    assert_eq!(out["a"].as_str().unwrap(), a, "no match: `$` is not after the a's");
    assert_eq!(out["x"].as_str().unwrap(), x);
    assert_eq!(out["tail"], "bbb [REDACTED]");
}

#[test]
fn a_bad_custom_pattern_is_refused_naming_its_field() {
    let error = common::load_error(
        "stages:\n  - name: m\n    module: '{pii-mask}'\n    config: {detect: {custom: [{name: ok, pattern: 'a+', strategy: redact}, {name: bad, pattern: 'a{2,1}', strategy: redact}]}}\n",
    );
    assert!(
        error.contains("config field `detect.custom[1].pattern`") && error.contains("`bad` is not a valid pattern"),
        "{error}"
    );
    let error = common::load_error(
        "stages:\n  - name: m\n    module: '{pii-mask}'\n    config: {detect: {ssn: {strategy: last4, context: [ssn], window: 5000}}}\n",
    );
    assert!(error.contains("config field `detect.ssn.window`"), "{error}");
}

#[test]
fn generated_events_keep_their_user_agent_and_lose_their_host_part() {
    let mut generator = firehose::tools::generate::Generator::new(7);
    let event: Value = serde_json::from_str(&generator.next_event()).unwrap();
    let out = run(&single("pii-mask", all_kinds()), std::slice::from_ref(&event));
    let out = out[0].delivered();
    assert_eq!(out["metadata"]["user_agent"], event["metadata"]["user_agent"]);
    assert_eq!(out["metadata"]["ip_address"], "203.0.113.0/24");
    assert_eq!(out["event_id"], event["event_id"], "uuids are not IPv6 addresses");
    assert_eq!(out["timestamp"], event["timestamp"], "times are not IPv6 addresses or dates of birth");
}

/// Without `detect`, the component names the members its fields lie in, and the host
/// sends it only those: the fields are masked exactly as when it gets whole events, and
/// the members it never saw come out byte for byte.
#[test]
fn masking_only_fields_is_sent_only_their_members() {
    let mut fields_only = config();
    fields_only.as_object_mut().unwrap().remove("detect");
    let pipeline = single("pii-mask", fields_only);
    assert_eq!(pipeline.stages()[0].reads(), Some(&["lead_data".to_string()][..]));
    let event = json!({"id": 1, "note": "call 555-123-4567", "lead_data": {"ssn": "123-45-6789", "contacts": [{"phone": "555.987.6543"}]}, "z": [true]});
    let mut intake = firehose::intake::Intake::default();
    intake.add(1, event.to_string().as_bytes());
    let at = |runner: &mut firehose::Runner| {
        runner.run_as(&intake.events, 0, "b".into()).into_delivered(intake.events.clone())
    };
    let (cut, whole) = (at(&mut pipeline.runner()), at(&mut pipeline.runner_sending_whole_events()));
    assert_eq!(cut, whole);
    let out: Value = serde_json::from_slice(cut.get(0)).unwrap();
    assert_eq!(out["lead_data"], json!({"ssn": "***-**-6789", "contacts": [{"phone": "555.***.****"}]}));
    assert_eq!(out["note"], "call 555-123-4567", "not a field, and nothing is detected");
}
