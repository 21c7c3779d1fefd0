//! US dates of birth: `MM/DD/YYYY`, `M/D/YYYY`, `MM-DD-YYYY` and `YYYY-MM-DD`, real
//! calendar dates from 1900 to 2099. A date is personal data only as a birth date,
//! so the detector reports one only when a context word ("dob", "born") precedes it.

use super::detect::boundary_after;

/// The end of a date starting at `start` of `b`, if one does.
pub(crate) fn date(b: &[u8], start: usize) -> Option<usize> {
    let (year, month, day, end) = iso(b, start).or_else(|| us(b, start))?;
    (valid(year, month, day) && boundary_after(b, end) && b.get(end) != Some(&b'/')).then_some(end)
}

/// `YYYY-MM-DD` or `YYYY/MM/DD`.
fn iso(b: &[u8], i: usize) -> Option<(u32, u32, u32, usize)> {
    let (year, i) = number(b, i, 4, 4)?;
    let sep = *b.get(i).filter(|&&c| c == b'-' || c == b'/')?;
    let (month, i) = number(b, i + 1, 2, 2)?;
    if b.get(i) != Some(&sep) {
        return None;
    }
    let (day, i) = number(b, i + 1, 2, 2)?;
    Some((year, month, day, i))
}

/// `M/D/YYYY` or `MM-DD-YYYY` (month first, as written in the US).
fn us(b: &[u8], i: usize) -> Option<(u32, u32, u32, usize)> {
    let (month, i) = number(b, i, 1, 2)?;
    let sep = *b.get(i).filter(|&&c| c == b'-' || c == b'/')?;
    let (day, i) = number(b, i + 1, 1, 2)?;
    if b.get(i) != Some(&sep) {
        return None;
    }
    let (year, i) = number(b, i + 1, 4, 4)?;
    Some((year, month, day, i))
}

/// A number of `min..=max` digits at `i`, and the position after it.
fn number(b: &[u8], i: usize, min: usize, max: usize) -> Option<(u32, usize)> {
    let digits = b.get(i..)?.iter().take(max + 1).take_while(|c| c.is_ascii_digit()).count();
    if digits < min || digits > max {
        return None;
    }
    Some((b[i..i + digits].iter().fold(0, |v, &c| v * 10 + (c - b'0') as u32), i + digits))
}

fn valid(year: u32, month: u32, day: u32) -> bool {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1900..=2099).contains(&year) && (1..=days).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<&str> {
        date(text.as_bytes(), 0).map(|end| &text[..end])
    }

    #[test]
    fn accepts_us_and_iso_calendar_dates() {
        for text in ["04/01/1990", "4/1/1990", "04-01-1990", "1990-04-01", "02/29/2000"] {
            assert_eq!(at(text), Some(text), "{text}");
        }
        assert_eq!(at("12/31/1999, then"), Some("12/31/1999"));
    }

    #[test]
    fn refuses_impossible_or_ambiguous_dates() {
        for text in [
            "13/01/1990",
            "02/30/1990",
            "02/29/1900",
            "04/01/90",
            "04/01-1990",
            "1990-4-1",
            "04/01/1890",
            "1/2/19901",
            "04/01/1990/2",
        ] {
            assert_eq!(at(text), None, "{text}");
        }
    }
}
