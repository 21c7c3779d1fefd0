//! Personal data: detectors that find it in free text and strategies that mask it.

mod context;
mod detect;
mod dob;
mod iban;
mod mask;
mod network;

pub use context::{ContextWords, DEFAULT_WINDOW};
pub use detect::{Detectors, Found, PiiKind, luhn};
pub use mask::{Masker, REDACTED, Strategy};

/// Appends `text` to `out` with each of `found` (from [`Detectors::find`], in order,
/// not overlapping) masked by the strategy `strategy_for` gives its kind.
pub fn mask_findings<'s>(
    text: &str,
    found: &[Found],
    masker: &Masker,
    strategy_for: impl Fn(PiiKind) -> &'s Strategy,
    out: &mut String,
) {
    let mut copied = 0;
    for f in found {
        out.push_str(&text[copied..f.range.start]);
        masker.mask(strategy_for(f.kind), &text[f.range.clone()], out);
        copied = f.range.end;
    }
    out.push_str(&text[copied..]);
}
