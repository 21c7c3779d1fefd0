use super::*;
use serde_json::{Value, json};

fn config() -> Value {
    json!({
        "fields": [
            {"path": "$.lead_data.ssn", "strategy": "last4"},
            {"path": "$.lead_data.email", "strategy": "email"},
            {"path": "$.lead_data.phone", "strategy": "area_code"},
            {"path": "$.lead_data.first_name", "strategy": "first_letter"},
            {"path": "$.lead_data.dob", "strategy": "redact"},
            {"path": "$.lead_data.email_hash", "strategy": "hash"},
            {"path": "$.lead_data.phones", "strategy": "area_code"}
        ],
        "detect": {"ssn": "last4", "email": "email", "phone": "area_code", "card": "last4"},
        "skip": ["$.event_id"],
        "hash_key": "k3y"
    })
}

/// Masks one event; returns whether it was changed and the result.
fn mask(config: &Value, event: &Value) -> (bool, Value) {
    use firehose_sdk::testing::TestBatch;
    let mut rule = PiiMask::configure(&config.to_string()).unwrap();
    let text = event.to_string();
    let fate = TestBatch::new(&[&text]).unwrap().run(&mut rule).remove(0);
    let result = fate.json();
    (fate != firehose_sdk::testing::Fate::Kept(text), result)
}

#[test]
fn masks_fields_by_path_with_each_strategy() {
    let (_, out) = mask(
        &config(),
        &json!({"lead_data": {
            "ssn": "123-45-6789", "email": "jane@example.com", "phone": "(555) 123-4567",
            "first_name": "Émile", "dob": "1990-01-01", "email_hash": "jane@example.com",
            "phones": ["555-111-2222", {"work": "555.333.4444"}]
        }}),
    );
    let lead = &out["lead_data"];
    assert_eq!(lead["ssn"], "***-**-6789");
    assert_eq!(lead["email"], "j***@example.com");
    assert_eq!(lead["phone"], "(555) ***-****");
    assert_eq!(lead["first_name"], "É***");
    assert_eq!(lead["dob"], "[REDACTED]");
    assert_eq!(lead["email_hash"].as_str().unwrap().len(), 64);
    assert_eq!(lead["phones"], json!(["555-***-****", {"work": "555.***.****"}]));
}

#[test]
fn hash_is_joinable_across_events_and_keyed() {
    let event = json!({"lead_data": {"email_hash": "jane@example.com"}});
    let (_, a) = mask(&config(), &event);
    let (_, b) = mask(&config(), &event);
    assert_eq!(a, b);
    let mut other = config();
    other["hash_key"] = json!("another");
    let (_, c) = mask(&other, &event);
    assert_ne!(a["lead_data"]["email_hash"], c["lead_data"]["email_hash"]);
}

#[test]
fn numbers_selected_by_path_are_masked_too() {
    let (_, out) = mask(&config(), &json!({"lead_data": {"ssn": 123456789, "dob": null}}));
    assert_eq!(out["lead_data"]["ssn"], "*****6789");
    assert_eq!(out["lead_data"]["dob"], Value::Null);
}

#[test]
fn detects_pii_in_free_text_at_any_depth() {
    let (_, out) = mask(
        &config(),
        &json!({
            "event_id": "123-45-6789",
            "notes": "Caller Zoë (SSN 123-45-6789) paid with 4111 1111 1111 1111; reach her at zoe@example.com or 555-867-5309.",
            "history": [{"comment": "card 4111111111111112 declined"}, ["old phone +1 555 123 4567"]],
            "metadata": {"buyer_response": {"raw": "{\"ssn\": \"078-05-1120\"}"}}
        }),
    );
    assert_eq!(out["event_id"], "123-45-6789", "skipped paths are not scanned");
    assert_eq!(
        out["notes"],
        "Caller Zoë (SSN ***-**-6789) paid with **** **** **** 1111; reach her at z***@example.com or 555-***-****."
    );
    assert_eq!(out["history"][0]["comment"], "card 4111111111111112 declined", "Luhn-invalid numbers stay");
    assert_eq!(out["history"][1][0], "old phone +1 555 *** ****");
    assert_eq!(out["metadata"]["buyer_response"]["raw"], "{\"ssn\": \"***-**-1120\"}");
}

#[test]
fn events_without_pii_are_kept_untouched() {
    let (changed, out) =
        mask(&config(), &json!({"event_type": "source.accepted", "price": 12.5, "note": "nothing here 12345"}));
    assert!(!changed);
    assert_eq!(out["note"], "nothing here 12345");
}

#[test]
fn output_stays_valid_utf8_and_json_with_escapes() {
    let (_, out) = mask(&config(), &json!({"t": "naïve \"quote\" \u{1F600} tab\t ssn 123-45-6789 \u{00e9}"}));
    assert_eq!(out["t"], "naïve \"quote\" 😀 tab\t ssn ***-**-6789 é");
}

#[test]
fn bad_configs_name_the_field() {
    let err = |c: Value| PiiMask::configure(&c.to_string()).unwrap_err();
    let e = err(json!({"fields": [{"path": "$.a", "strategy": "last4"}, {"path": "$.b", "strategy": "lst4"}]}));
    assert_eq!(e.field, "fields[1].strategy");
    assert!(e.message.contains("unknown variant `lst4`") && e.message.contains("`last4`"), "{e}");
    let e = err(json!({"fields": [{"path": "$.a", "strategy": "hash"}]}));
    assert_eq!(e.field, "fields[0].strategy");
    assert!(e.message.contains("hash_key"), "{e}");
    let e = err(json!({"detect": {"ssn": "hash"}}));
    assert_eq!(e.field, "detect.ssn");
    let e = err(json!({"detect": {"passport": "redact"}}));
    assert!(e.message.contains("unknown field `passport`") && e.message.contains("`iban`"), "{e}");
    assert_eq!(e.field, "detect.passport");
    let e = err(json!({"fields": [{"path": "$.a[?@.b]", "strategy": "redact"}]}));
    assert_eq!(e.field, "fields[0].path");
    let e = err(json!({"fields": [{"path": "a.b", "strategy": "redact"}]}));
    assert_eq!(e.field, "fields[0].path");
    let e = err(json!({"fields": [{"path": "$.phones[-1]", "strategy": "redact"}]}));
    assert_eq!(e.field, "fields[0].path");
    assert!(e.message.contains("negative indexes"), "{e}");
}

#[test]
fn a_field_inside_a_skipped_object_is_still_masked() {
    let config = json!({"fields": [{"path": "$.lead_data.ssn", "strategy": "last4"}], "skip": ["$.lead_data"], "detect": {"email": "email"}});
    let (_, out) = mask(&config, &json!({"lead_data": {"ssn": "123-45-6789", "note": "a@b.com"}}));
    assert_eq!(out["lead_data"], json!({"ssn": "***-**-6789", "note": "a@b.com"}));
}

#[test]
fn a_skipped_object_is_left_whole_and_what_follows_it_is_still_scanned() {
    let config = json!({"skip": ["$.flow", "$.tags"], "detect": {"email": "email", "ssn": "last4"}});
    let event = json!({
        "flow": {"owner": "a@b.com", "rows": [{"ssn": "123-45-6789"}, ["c@d.com"]]},
        "tags": ["e@f.com"],
        "note": "write to g@h.com",
        "after": [{"x": "123-45-6789"}]
    });
    let (_, out) = mask(&config, &event);
    assert_eq!(out["flow"], event["flow"]);
    assert_eq!(out["tags"], event["tags"]);
    assert_eq!(out["note"], "write to g***@h.com");
    assert_eq!(out["after"], json!([{"x": "***-**-6789"}]));
}

#[test]
fn a_kind_takes_a_bare_strategy_or_the_long_form() {
    let config = json!({"detect": {
        "ssn": {"strategy": "last4", "context": ["ssn", "social security"], "window": 20},
        "card": {"replace": "[CARD]", "context": "default"},
        "ipv4": "network",
        "ipv6": {"strategy": "network"},
        "iban": {"strategy": "last4"},
        "dob": {"replace": "[DOB]"},
        "email": "email"
    }});
    let (_, out) = mask(
        &config,
        &json!({"t": "ssn 666-39-9692, card no 4111 1111 1111 1112, from 203.0.113.7 / 2001:db8:1:2::9, IBAN GB82 WEST 1234 5698 7654 32, DOB 4/1/1990, jo@example.com"}),
    );
    assert_eq!(
        out["t"],
        "ssn ***-**-9692, card no [CARD], from 203.0.113.0/24 / 2001:db8:1::/48, IBAN **** **** **** **** **54 32, DOB [DOB], j***@example.com"
    );
}

#[test]
fn context_is_off_unless_configured() {
    let text = json!({"t": "ssn 666-39-9692, card no 4111 1111 1111 1112"});
    let (changed, _) = mask(&config(), &text);
    assert!(!changed, "unissued SSNs and Luhn failures stay as they were");
}

#[test]
fn custom_patterns_mask_with_their_own_strategy() {
    let config = json!({"detect": {
        "ssn": "last4",
        "custom": [
            {"name": "member id", "pattern": r"\bMBR-\d{6}\b", "strategy": "redact"},
            {"name": "policy", "pattern": r"(?i)\bpol[- ]?\d{4,}\b", "strategy": {"replace": "[POLICY]"}},
            {"name": "ticket", "pattern": r"\b\d{5}\b", "strategy": "last4", "context": ["ticket"], "window": 10},
            {"name": "anything digits", "pattern": r"\d*", "strategy": "redact"}
        ]
    }});
    let (_, out) = mask(
        &config,
        &json!({"a": ["MBR-123456 and pol-99887", {"b": "ticket 12345, order 67890"}], "c": "nothing here"}),
    );
    // `\d*` matches the empty string everywhere: empty matches mask nothing, and its
    // non-empty ones lose to the leftmost, longest, then first-listed match they overlap.
    assert_eq!(out["a"][0], "[REDACTED] and [POLICY]");
    assert_eq!(out["a"][1]["b"], "ticket *2345, order [REDACTED]");
    assert_eq!(out["c"], "nothing here");
}

#[test]
fn built_in_kinds_win_over_custom_patterns_they_overlap_from_the_left() {
    let config = json!({"detect": {"card": "last4", "custom": [{"name": "two groups", "pattern": r"\d{4} \d{4}", "strategy": "redact"}]}});
    let (_, out) = mask(&config, &json!({"t": "card 4111 1111 1111 1111; ref 1234 5678"}));
    assert_eq!(out["t"], "card **** **** **** 1111; ref [REDACTED]");
}

#[test]
fn bad_detect_configs_name_the_exact_field() {
    let err = |c: Value| PiiMask::configure(&c.to_string()).unwrap_err();
    let custom = |pattern: &str| json!({"name": "x", "pattern": pattern, "strategy": "redact"});
    let e = err(json!({"detect": {"custom": [custom("a"), custom("b"), custom("(unclosed")]}}));
    assert_eq!(e.field, "detect.custom[2].pattern");
    assert!(e.message.contains("unclosed group"), "{e}");
    let e = err(json!({"detect": {"ssn": {"strategy": "last4", "context": []}}}));
    assert_eq!(e.field, "detect.ssn.context");
    let e = err(json!({"detect": {"ssn": {"strategy": "last4", "context": ["ssn", " "]}}}));
    assert_eq!(e.field, "detect.ssn.context[1]");
    let e = err(json!({"detect": {"ssn": {"strategy": "last4", "context": "defaults"}}}));
    assert_eq!(e.field, "detect.ssn.context");
    assert!(e.message.contains("a list of words, or `default`"), "{e}");
    let e = err(json!({"detect": {"ssn": {"strategy": "last4", "context": "default", "window": 0}}}));
    assert_eq!(e.field, "detect.ssn.window");
    let e = err(json!({"detect": {"ssn": {"strategy": "last4", "window": 10}}}));
    assert_eq!(e.field, "detect.ssn.window");
    let e = err(json!({"detect": {"email": {"strategy": "email", "context": ["mail"]}}}));
    assert_eq!(e.field, "detect.email.context");
    let e = err(json!({"detect": {"ssn": "network"}}));
    assert_eq!(e.field, "detect.ssn");
    let e = err(json!({"detect": {"ssn": {"strategy": "lst4"}}}));
    assert_eq!(e.field, "detect.ssn.strategy");
    assert!(e.message.contains("unknown variant `lst4`"), "{e}");
    let e = err(json!({"detect": {"ssn": {"context": "default"}}}));
    assert_eq!(e.field, "detect.ssn");
    assert!(e.message.contains("missing `strategy`"), "{e}");
    let e = err(json!({"detect": {"ssn": {"strategy": "redact", "replace": "x"}}}));
    assert_eq!(e.field, "detect.ssn");
    let e = err(json!({"detect": {"custom": [{"name": "x", "pattern": "a", "strategy": "hash"}]}}));
    assert_eq!(e.field, "detect.custom[0].strategy");
    let e = err(json!({"detect": {"custom": [{"name": "x", "pattern": "a"}]}}));
    assert_eq!(e.field, "detect.custom[0]");
    assert!(e.message.contains("missing field `strategy`"), "{e}");
}

#[test]
fn fixed_texts_are_shared_by_every_event_of_a_batch_and_written_per_batch() {
    use firehose_sdk::testing::TestBatch;
    let config = json!({"fields": [
        {"path": "$.dob", "strategy": "redact"},
        {"path": "$.ip", "strategy": {"replace": "[IP \"v4\"]"}},
        {"path": "$.id", "strategy": "redact"}
    ]});
    let mut rule = PiiMask::configure(&config.to_string()).unwrap();
    let events = [
        json!({"dob": "1990-01-01", "ip": "203.0.113.7", "id": 42}),
        json!({"ip": "198.51.100.1", "dob": "1961-10-13"}),
        json!({"dob": "2001-02-03", "id": 7.5}),
    ]
    .map(|e| e.to_string());
    let expected = [
        json!({"dob": "[REDACTED]", "ip": "[IP \"v4\"]", "id": "[REDACTED]"}),
        json!({"ip": "[IP \"v4\"]", "dob": "[REDACTED]"}),
        json!({"dob": "[REDACTED]", "id": "[REDACTED]"}),
    ];
    // Twice: the texts of the first batch's answer are not reused by the second.
    for _ in 0..2 {
        let texts: Vec<&str> = events.iter().map(String::as_str).collect();
        let fates = TestBatch::new(&texts).unwrap().run(&mut rule);
        let got: Vec<Value> = fates.iter().map(|f| f.json()).collect();
        assert_eq!(got, expected);
    }
}

#[test]
fn without_detection_it_reads_only_the_members_its_fields_lie_in() {
    let reads = |config: Value| PiiMask::configure(&config.to_string()).unwrap().reads();
    let mut fields_only = config();
    fields_only.as_object_mut().unwrap().remove("detect");
    fields_only["fields"].as_array_mut().unwrap().push(json!({"path": "$.contact.email", "strategy": "email"}));
    let names = reads(fields_only.clone()).unwrap();
    assert!(names.iter().all(|n| n == "lead_data" || n == "contact") && names.len() == 8, "one per field: {names:?}");
    assert_eq!(reads(config()), None, "detectors scan every string");
    let mut anywhere = fields_only.clone();
    anywhere["fields"].as_array_mut().unwrap().push(json!({"path": "$..ssn", "strategy": "last4"}));
    assert_eq!(reads(anywhere), None, "a path that may reach any member needs whole events");
    // Run through TestBatch, the rule is given only `lead_data` and `contact`: the same
    // masking, the other members untouched.
    let event =
        json!({"id": "x", "lead_data": {"ssn": "123-45-6789"}, "note": "555-123-4567", "contact": {"email": "a@b.co"}});
    let (changed, out) = mask(&fields_only, &event);
    assert!(changed);
    assert_eq!(
        out,
        json!({"id": "x", "lead_data": {"ssn": "***-**-6789"}, "note": "555-123-4567", "contact": {"email": "a***@b.co"}})
    );
}
