//! Host-side bindings generated from `wit/rules.wit`.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "wit",
    world: "firehose:rules/rule-module",
});
