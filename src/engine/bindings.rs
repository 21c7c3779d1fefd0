//! Host-side bindings generated from `wit/rules.wit`, sharing the package's types: the
//! tape world of SDK modules before 0.1.2, `rule-module`, at the top (it generates the
//! types); the tape world `tape-rule` in [`tape_rule`] and the SDK's, `tape-rule-reads`
//! (the same plus `reads`), in [`tape_rule_reads`]; the JSON world `json-rule` in
//! [`json_rule`].
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "wit",
    world: "firehose:rules/rule-module",
});

/// Bindings of the `tape-rule` world: events and their tape in, the answer as words.
pub mod tape_rule {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "firehose:rules/tape-rule",
        with: {
            "firehose:rules/types": super::firehose::rules::types,
            "firehose:rules/host": super::firehose::rules::host,
        },
    });
}

/// Bindings of the `tape-rule-reads` world: `tape-rule` plus the members a module reads.
pub mod tape_rule_reads {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "firehose:rules/tape-rule-reads",
        with: {
            "firehose:rules/types": super::firehose::rules::types,
            "firehose:rules/host": super::firehose::rules::host,
        },
    });
}

/// Bindings of the `json-rule` world: events as JSON text, a verdict per event.
pub mod json_rule {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "firehose:rules/json-rule",
        with: {
            "firehose:rules/types": super::firehose::rules::types,
            "firehose:rules/host": super::firehose::rules::host,
        },
    });
}
