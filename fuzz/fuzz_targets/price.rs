//! Any price string: never a panic; a parsed price is an exact non-negative
//! decimal with an ISO-looking currency code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tiktok_gateway::product::parse_price;

fuzz_target!(|raw: &str| {
    if let Some(price) = parse_price(raw) {
        assert!(!price.amount.is_sign_negative(), "{raw:?} → {price:?}");
        assert_eq!(price.currency.len(), 3, "{raw:?} → {price:?}");
        assert!(
            price.currency.chars().all(|c| c.is_ascii_uppercase()),
            "{raw:?} → {price:?}"
        );
    }
});
