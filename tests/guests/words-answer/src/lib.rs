//! A rule module of the tape world as SDK modules implemented it in 0.1.2 (`tape-rule`:
//! `process-tape` answering with words, no `reads`), written against the WIT directly.
//! The host must keep running it, sending it whole events. Rules, per event: a string
//! `"reject"` rejects it with that reason; otherwise a member `"members": N` is added,
//! N the number of members the module saw (so a test sees that it got the whole event).

#[cfg(target_arch = "wasm32")]
mod component {
    use firehose_json::{Event, Output};

    wit_bindgen::generate!({ path: "../../../wit", world: "firehose:rules/tape-rule" });

    use firehose::rules::types as wit;

    struct Exports;

    impl Guest for Exports {
        fn describe() -> wit::ModuleInfo {
            wit::ModuleInfo {
                name: "words-answer".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                description: "answers with words and names no members, as modules of 0.1.2".into(),
            }
        }

        fn configure(_config: String) -> Result<(), wit::ConfigError> {
            Ok(())
        }

        fn process_tape(
            events: Vec<u8>,
            ends: Vec<u32>,
            tape: Vec<u32>,
            tape_ends: Vec<u32>,
            _context: wit::BatchContext,
        ) -> wit::TapeAnswer {
            let mut out = Output::new();
            let (mut start, mut tape_start) = (0, 0);
            for (&end, &tape_end) in ends.iter().zip(&tape_ends) {
                let event = Event::new(&events[start..end as usize], &tape[tape_start..tape_end as usize]);
                (start, tape_start) = (end as usize, tape_end as usize);
                if let Some(reason) = event.member("reject").and_then(|v| v.as_str()) {
                    out.reject(reason.into_owned());
                    continue;
                }
                let members = event.root().members().count();
                out.edit(|edits| {
                    edits.add_with(&event.root(), "members", |text| {
                        text.extend_from_slice(members.to_string().as_bytes())
                    })
                });
            }
            let words = out.into_words();
            wit::TapeAnswer { verdicts: words.verdicts, bytes: words.bytes, edits: words.edits }
        }
    }

    export!(Exports);
}
