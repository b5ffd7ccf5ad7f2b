//! Any answer from TikTok (status, body) through the token and listing decoders:
//! never a panic, and a decode failure keeps the status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tiktok_gateway::tiktok::fuzzing;

fuzz_target!(|input: (u16, &[u8])| {
    let (status, body) = input;
    let status = 100 + status % 500;
    let _ = fuzzing::token(status, body);
    let (shops, products, reviews) = fuzzing::listings(status, body);
    for ok in [shops.is_ok(), products.is_ok(), reviews.is_ok()] {
        if ok {
            // Success only from a JSON body.
            assert!(serde_json::from_slice::<serde_json::Value>(body).is_ok());
        }
    }
});
