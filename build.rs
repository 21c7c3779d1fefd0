// Integration tests of the Fluent Bit plugin load `flb-filter_firehose.so`, which
// resolves `flb_filter_get_property` & co. against the executable, as it does inside
// Fluent Bit: test executables must export their symbols.
fn main() {
    println!("cargo::rustc-link-arg-tests=-rdynamic");
}
