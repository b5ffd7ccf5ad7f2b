//! Prices as TikTok writes them, read exactly: `"29.99USD"`, `"Rp15.000"`,
//! decimal strings in major units.

use std::str::FromStr;

use rust_decimal::Decimal;

/// A parsed price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    /// The amount, exactly as written (scale kept).
    pub amount: Decimal,
    /// ISO 4217 code.
    pub currency: String,
}

const SYMBOLS: &[(&str, &str)] = &[
    ("US$", "USD"),
    ("$", "USD"),
    ("€", "EUR"),
    ("£", "GBP"),
    ("¥", "JPY"),
    ("₩", "KRW"),
    ("₫", "VND"),
    ("₱", "PHP"),
    ("฿", "THB"),
    ("RM", "MYR"),
    ("Rp", "IDR"),
    ("S$", "SGD"),
];

/// Parses `"29.99USD"`, `"1,299.00 EUR"`, `"USD 5"`, `"¥88"`, `"€15,50"`,
/// `"100.000₫"`, `"Rp15.000"` (see [`parse_amount`] for the separators).
pub fn parse_price(raw: &str) -> Option<Price> {
    let text = raw.trim();
    let (number, currency) = split_currency(text)?;
    Some(Price {
        amount: parse_amount(number.trim())?,
        currency,
    })
}

fn split_currency(text: &str) -> Option<(&str, String)> {
    let is_code = |s: &str| s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase());
    if text.len() > 3 && text.is_char_boundary(text.len() - 3) {
        let (number, code) = text.split_at(text.len() - 3);
        if is_code(code) {
            return Some((number, code.to_owned()));
        }
    }
    if text.len() > 3 && text.is_char_boundary(3) {
        let (code, number) = text.split_at(3);
        if is_code(code) {
            return Some((number, code.to_owned()));
        }
    }
    SYMBOLS.iter().find_map(|(symbol, code)| {
        text.strip_prefix(symbol)
            .or_else(|| text.strip_suffix(symbol))
            .map(|number| (number, (*code).to_owned()))
    })
}

/// A machine-written decimal (`"121.11"`, `"1250000"`: the Partner API's
/// amounts), exactly: digits with at most one `.` as the decimal point, no
/// grouping.
pub fn parse_decimal(number: &str) -> Option<Decimal> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return None;
    }
    Decimal::from_str(number).ok()
}

/// Characters that may group thousands but are never a decimal point.
fn is_space_separator(c: char) -> bool {
    matches!(c, ' ' | '\u{a0}' | '\u{202f}')
}

/// An amount as shops write it. `.` and `,` are each a decimal point in some
/// locales and a thousands separator in others, so which one a separator is
/// comes from its position, never from the locale alone:
/// - when both appear, the last one is the decimal point (`1.299,00`, `1,299.00`);
/// - a lone separator followed by exactly three digits groups thousands
///   (`100.000₫`, `Rp15.000`, `¥1,500`): no currency sold on TikTok Shop has
///   three decimal places, so three digits after it are never a fraction;
/// - a separator repeated (`1.234.567`) or a space always groups thousands.
///
/// Groups must be three digits after the first; anything else is refused
/// rather than guessed.
pub fn parse_amount(number: &str) -> Option<Decimal> {
    let mut runs: Vec<&str> = Vec::new();
    let mut separators: Vec<char> = Vec::new();
    let mut start = 0;
    for (i, c) in number.char_indices() {
        if c.is_ascii_digit() {
            continue;
        }
        if !(c == '.' || c == ',' || is_space_separator(c)) {
            return None;
        }
        runs.push(&number[start..i]);
        separators.push(c);
        start = i + c.len_utf8();
    }
    runs.push(&number[start..]);
    if runs.iter().any(|run| run.is_empty()) {
        return None;
    }
    let decimal_point = match separators.last() {
        Some(&last) if last == '.' || last == ',' => {
            let same = separators.iter().filter(|&&s| s == last).count();
            let mixed = same < separators.len();
            let digits_after = runs.last().map_or(0, |r| r.len());
            same == 1 && (mixed || digits_after != 3)
        }
        _ => false,
    };
    let (whole, fraction) = if decimal_point {
        (&runs[..runs.len() - 1], runs.last().copied())
    } else {
        (&runs[..], None)
    };
    let grouping = &separators[..whole.len() - 1];
    if grouping.windows(2).any(|pair| pair[0] != pair[1]) {
        return None;
    }
    // Grouped: 1 to 3 digits, not starting with 0 ("0.125" is not 125), then
    // groups of three.
    if whole.len() > 1
        && (whole[0].len() > 3
            || whole[0].starts_with('0')
            || whole[1..].iter().any(|run| run.len() != 3))
    {
        return None;
    }
    let mut normalised: String = whole.concat();
    if let Some(fraction) = fraction {
        normalised.push('.');
        normalised.push_str(fraction);
    }
    Decimal::from_str(&normalised).ok()
}
