//! The Partner API's request signature and the webhook signature
//! (`TIKTOK_SHOP_API.md` §4 and §8): one function each, HMAC-SHA256, lowercase hex.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Query parameters never signed.
const UNSIGNED: [&str; 2] = ["sign", "access_token"];

/// The `sign` of a request: every query parameter but `sign` and
/// `access_token`, empty ones dropped, sorted by key in byte order and
/// concatenated as `{key}{value}` with the *decoded* values; the request path
/// in front; the body bytes exactly as sent behind (`None` for no body or a
/// `multipart/form-data` body, which is never signed); wrapped in the app
/// secret on both sides; HMAC-SHA256 keyed with the app secret, lowercase hex.
pub fn sign_request(
    app_secret: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<&[u8]>,
) -> String {
    let mut params: Vec<&(&str, &str)> = query
        .iter()
        .filter(|(key, value)| !value.is_empty() && !UNSIGNED.contains(key))
        .collect();
    params.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut message = Vec::with_capacity(256);
    message.extend_from_slice(app_secret.as_bytes());
    message.extend_from_slice(path.as_bytes());
    for (key, value) in params {
        message.extend_from_slice(key.as_bytes());
        message.extend_from_slice(value.as_bytes());
    }
    if let Some(body) = body {
        message.extend_from_slice(body);
    }
    message.extend_from_slice(app_secret.as_bytes());
    hex(&mac(app_secret, &[&message]).finalize().into_bytes())
}

/// The `Authorization` header TikTok puts on a webhook delivery: lowercase hex
/// HMAC-SHA256 keyed with the app secret over `app_key` followed by the raw
/// body (no wrapping).
pub fn webhook_signature(app_key: &str, app_secret: &str, body: &[u8]) -> String {
    hex(&mac(app_secret, &[app_key.as_bytes(), body])
        .finalize()
        .into_bytes())
}

/// Whether `signature` (the delivery's `Authorization` header) is the webhook
/// signature of `body`. The comparison is constant-time; anything that is not
/// 64 hex digits is refused.
pub fn verify_webhook(app_key: &str, app_secret: &str, body: &[u8], signature: &str) -> bool {
    let Some(given) = unhex(signature.trim()) else {
        return false;
    };
    mac(app_secret, &[app_key.as_bytes(), body])
        .verify_slice(&given)
        .is_ok()
}

fn mac(key: &str, parts: &[&[u8]]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    for part in parts {
        mac.update(part);
    }
    mac
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_the_official_worked_example() {
        let query = [("app_key", "29a39d"), ("timestamp", "1623812664")];
        assert_eq!(
            sign_request("e59af819cc", "/authorization/202309/shops", &query, None),
            "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"
        );
    }

    #[test]
    fn v2_shop_cipher_is_signed_like_any_parameter() {
        let query = [
            ("timestamp", "1696909648"),
            ("shop_cipher", "ROW_xkMbgAAAeVAQra0eZWebFQq5aIK"),
            ("app_key", "68xu9ks5p4i8"),
        ];
        assert_eq!(
            sign_request("e59af819cc", "/event/202309/webhooks", &query, None),
            "ed58e1b5e59865c22a7b828c1cab65007441f43cc91a6cb2f2cdc638e0995a37"
        );
    }

    #[test]
    fn v3_the_body_is_signed_exactly_as_sent() {
        let query = [
            ("app_key", "68xu9ks5p4i8"),
            ("shop_cipher", "ROW_xkMbgAAAeVAQra0eZWebFQq5aIK"),
            ("timestamp", "1696909648"),
        ];
        let body = br#"{"event_type":"PACKAGE_UPDATE","address":"https://partner.tiktokshop.com"}"#;
        assert_eq!(
            sign_request("e59af819cc", "/event/202309/webhooks", &query, Some(body)),
            "701dd6deb2389fe4c469b89bd37fc56f96a6da6afeb4d01c9077a65169752fa7"
        );
        // One byte of whitespace more is another signature.
        let spaced =
            br#"{"event_type": "PACKAGE_UPDATE","address":"https://partner.tiktokshop.com"}"#;
        assert_ne!(
            sign_request("e59af819cc", "/event/202309/webhooks", &query, Some(spaced)),
            "701dd6deb2389fe4c469b89bd37fc56f96a6da6afeb4d01c9077a65169752fa7"
        );
    }

    #[test]
    fn v4_sdk_vector() {
        assert_eq!(
            sign_request("app_secret", "/test-api", &[("foo", "bar")], None),
            "d3cb7fe11ecae942802ceeca67e7cf10120cc12f1517d45fbc1c8cfe5413c80f"
        );
    }

    #[test]
    fn sign_access_token_and_empty_values_are_left_out() {
        let plain = sign_request("app_secret", "/test-api", &[("foo", "bar")], None);
        let noisy = sign_request(
            "app_secret",
            "/test-api",
            &[
                ("sign", "whatever"),
                ("access_token", "TTP_x"),
                ("empty", ""),
                ("foo", "bar"),
            ],
            None,
        );
        assert_eq!(plain, noisy);
    }

    #[test]
    fn keys_sort_in_byte_order_and_values_are_signed_decoded() {
        // Upper case sorts before lower case in byte order; `+/=` stay raw.
        let a = sign_request("s", "/p", &[("b", "1"), ("B", "2"), ("t", "a+b/c=")], None);
        let b = sign_request("s", "/p", &[("t", "a+b/c="), ("B", "2"), ("b", "1")], None);
        assert_eq!(a, b);
        let wrapped = b"s/pB2b1ta+b/c=s";
        assert_eq!(a, hex(&mac("s", &[wrapped]).finalize().into_bytes()));
    }

    const WEBHOOK_BODY: &str = r#"{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507","timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178","order_status":"UNPAID","update_time":1718305585}}"#;
    const WEBHOOK_SIGNATURE: &str =
        "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05";

    #[test]
    fn webhook_vector() {
        assert_eq!(
            webhook_signature("abcdef", "123", WEBHOOK_BODY.as_bytes()),
            WEBHOOK_SIGNATURE
        );
        assert!(verify_webhook(
            "abcdef",
            "123",
            WEBHOOK_BODY.as_bytes(),
            WEBHOOK_SIGNATURE
        ));
    }

    #[test]
    fn forged_or_malformed_webhook_signatures_are_refused() {
        let body = WEBHOOK_BODY.as_bytes();
        let mut flipped = WEBHOOK_SIGNATURE.to_owned();
        flipped.replace_range(0..1, "6");
        for bad in [
            "",
            "5dec",
            flipped.as_str(),
            &WEBHOOK_SIGNATURE.to_uppercase().replace('C', "g"),
            &format!("{WEBHOOK_SIGNATURE}00"),
        ] {
            assert!(!verify_webhook("abcdef", "123", body, bad), "{bad}");
        }
        assert!(!verify_webhook("abcdef", "124", body, WEBHOOK_SIGNATURE));
        assert!(!verify_webhook("abcdeg", "123", body, WEBHOOK_SIGNATURE));
        let mut tampered = body.to_vec();
        tampered[9] = b'2';
        assert!(!verify_webhook(
            "abcdef",
            "123",
            &tampered,
            WEBHOOK_SIGNATURE
        ));
        // Upper-case hex is still the same digest.
        assert!(verify_webhook(
            "abcdef",
            "123",
            body,
            &WEBHOOK_SIGNATURE.to_uppercase()
        ));
    }
}
