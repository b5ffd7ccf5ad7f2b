//! Checks a signed TikTok Shop request as the server received it, for the
//! wiremock servers that play the Partner API.

use url::Url;

/// Whether the request to `url` with `body` carries the signature of itself:
/// its `sign` query value equals `sign` over its path, its decoded query less
/// `sign` (in the order sent) and its body bytes (`None` when empty). The signer
/// is passed in (e.g. `tiktok_gateway::tiktok::shop::sign_request` with the app
/// secret), so this crate need not depend on the gateway.
pub fn signed_as_received(
    url: &Url,
    body: &[u8],
    sign: impl Fn(&str, &[(&str, &str)], Option<&[u8]>) -> String,
) -> bool {
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let Some((_, received)) = pairs.iter().find(|(k, _)| k == "sign") else {
        return false;
    };
    let params: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(k, _)| k != "sign")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = (!body.is_empty()).then_some(body);
    *received == sign(url.path(), &params, body)
}
