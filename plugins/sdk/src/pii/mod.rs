//! Personal data: detectors that find it in free text and strategies that mask it.

mod detect;
mod mask;

pub use detect::{Detectors, Found, PiiKind, luhn};
pub use mask::{Masker, REDACTED, Strategy};

/// Appends `text` to `out` with every finding of `detectors` masked by `strategy_for`
/// its kind. Returns whether anything was found.
pub fn mask_findings(
    text: &str,
    detectors: &Detectors,
    masker: &Masker,
    strategy_for: impl Fn(PiiKind) -> Strategy,
    found: &mut Vec<Found>,
    out: &mut String,
) -> bool {
    found.clear();
    detectors.find(text, found);
    if found.is_empty() {
        return false;
    }
    let mut copied = 0;
    for f in found.iter() {
        out.push_str(&text[copied..f.range.start]);
        masker.mask(strategy_for(f.kind), &text[f.range.clone()], out);
        copied = f.range.end;
    }
    out.push_str(&text[copied..]);
    true
}
