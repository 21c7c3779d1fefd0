//! Host-side bindings generated from `wit/rules.wit`: the tape world `rule-module` at
//! the top, the JSON world `json-rule` in [`json_rule`], sharing the package's types.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "wit",
    world: "firehose:rules/rule-module",
});

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
