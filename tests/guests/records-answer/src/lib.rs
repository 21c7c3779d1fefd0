//! A rule module of the tape world as SDK modules implemented it before 0.1.2
//! (`rule-module`: `process` answering with `batch-result` records), written against
//! the WIT directly, as such a module was built. The host must keep running it beside
//! today's `tape-rule` modules. Rules, per event: `"drop": true` drops it, a string
//! `"reject"` rejects it with that reason, a string `"email"` is set to `"***"` and a
//! member `"checked": true` is added; other events are kept.

#[cfg(target_arch = "wasm32")]
mod component {
    use firehose_json::Event;

    wit_bindgen::generate!({ path: "../../../wit", world: "firehose:rules/rule-module" });

    use firehose::rules::types as wit;

    struct Exports;

    impl Guest for Exports {
        fn describe() -> wit::ModuleInfo {
            wit::ModuleInfo {
                name: "records-answer".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                description: "answers with batch-result records, as modules before 0.1.2".into(),
            }
        }

        fn configure(_config: String) -> Result<(), wit::ConfigError> {
            Ok(())
        }

        fn process(
            events: Vec<u8>,
            ends: Vec<u32>,
            tape: Vec<u32>,
            tape_ends: Vec<u32>,
            _context: wit::BatchContext,
        ) -> wit::BatchResult {
            let mut result = wit::BatchResult { verdicts: Vec::new(), bytes: Vec::new(), edits: Vec::new() };
            let (mut start, mut tape_start) = (0, 0);
            for (&end, &tape_end) in ends.iter().zip(&tape_ends) {
                let event = Event::new(&events[start..end as usize], &tape[tape_start..tape_end as usize]);
                (start, tape_start) = (end as usize, tape_end as usize);
                result.verdicts.push(decide(&event, &mut result.bytes, &mut result.edits));
            }
            result
        }
    }

    fn decide(event: &Event<'_>, bytes: &mut Vec<u8>, edits: &mut Vec<wit::Edit>) -> wit::Verdict {
        if event.member("drop").is_some_and(|v| v.raw() == b"true") {
            return wit::Verdict::Drop;
        }
        if let Some(reason) = event.member("reject").and_then(|v| v.as_str()) {
            return wit::Verdict::Reject(reason.into_owned());
        }
        let Some(email) = event.member("email").filter(|v| v.as_str().is_some()) else {
            return wit::Verdict::Keep;
        };
        let first = edits.len() as u32;
        let mut push = |entry: usize, action: wit::EditAction, text: &[u8]| {
            let span = wit::Span { start: bytes.len() as u32, len: text.len() as u32 };
            bytes.extend_from_slice(text);
            edits.push(wit::Edit { entry: entry as u32, action, text: span });
        };
        push(email.entry(), wit::EditAction::SetValue, br#""***""#);
        push(event.root().entry(), wit::EditAction::AddMember, br#""checked":true"#);
        wit::Verdict::Edit(wit::Span { start: first, len: 2 })
    }

    export!(Exports);
}
