//! Shared by the TikTok client tests: a [`TikTokClient`] whose every URL points at
//! one wiremock server, with short timeouts and a fast retry policy, plus the
//! fixtures and a form-body matcher.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use tiktok_gateway::config::TikTokConfig;
use tiktok_gateway::tiktok::{AppCredentials, RetryPolicy};
use tiktok_gateway::{ClientSecret, TikTokClient};
use tokio::time::Instant;
use url::Url;
use wiremock::{MockServer, Request};

pub const AUTHORIZE_PATH: &str = "/v2/auth/authorize/";
pub const TOKEN_PATH: &str = "/v2/oauth/token/";
pub const REVOKE_PATH: &str = "/v2/oauth/revoke/";
pub const SHOP_PATH: &str = "/v2/research/tts/shop/";
pub const PRODUCT_PATH: &str = "/v2/research/tts/product/";
pub const REVIEW_PATH: &str = "/v2/research/tts/review/";

pub const REDIRECT_URI: &str = "https://api.dshipit.com/auth/tiktok/callback";
pub const CLIENT_KEY: &str = "aw1b2c3d4e5f6g7h";
pub const CLIENT_SECRET: &str = "cs.S3CR3T-client-secret";
/// A shop id above 2^53 that an `f64` cannot hold (as an `f64` it becomes 7494754040961992704).
pub const SHOP_ID: &str = "7494754040961993092";

/// A config whose authorize, token, revoke and data URLs all point at `base`
/// (e.g. `server.uri()`), with short timeouts and a rate that never gets in the way.
pub fn config(base: &str) -> TikTokConfig {
    let url = |path: &str| Url::parse(&format!("{base}{path}")).expect("mock server URL");
    TikTokConfig {
        authorize_url: url(AUTHORIZE_PATH),
        token_url: url(TOKEN_PATH),
        revoke_url: url(REVOKE_PATH),
        api_base_url: url("/"),
        redirect_uri: Url::parse(REDIRECT_URI).unwrap(),
        scopes: vec!["user.info.basic".into(), "research.data.basic".into()],
        rate_per_sec: NonZeroU32::new(1_000).unwrap(),
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_secs(2),
    }
}

/// Retries that take milliseconds, not seconds.
pub fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

/// A client over `config` with `retry`, built the way the functions build it
/// (redirects off, timeouts from the config).
pub fn client_with(config: TikTokConfig, retry: RetryPolicy) -> TikTokClient {
    let http = TikTokClient::http_client(&config).expect("reqwest client");
    TikTokClient::with_retry(http, config, retry)
}

/// The usual client: every URL on `server`, 3 fast attempts.
pub fn client(server: &MockServer) -> TikTokClient {
    client_with(config(&server.uri()), fast_retry(3))
}

/// A deadline `ms` milliseconds from now.
pub fn deadline_in(ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(ms)
}

/// A deadline far enough away never to matter.
pub fn far_deadline() -> Instant {
    deadline_in(10_000)
}

pub fn app() -> AppCredentials {
    AppCredentials {
        client_key: CLIENT_KEY.into(),
        client_secret: ClientSecret::new(CLIENT_SECRET),
    }
}

/// A fixture from `tests/fixtures/`.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// The request body's form fields (duplicates kept, so "exactly" can be checked).
pub fn form_fields(request: &Request) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect();
    fields.sort();
    fields
}

/// Matches a form-encoded body holding exactly `expected` (no more, no fewer, no
/// duplicates), in any order.
pub fn form_is(expected: &[(&str, &str)]) -> impl Fn(&Request) -> bool + Send + Sync + 'static {
    let mut expected: Vec<(String, String)> = expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    expected.sort();
    move |request: &Request| form_fields(request) == expected
}

/// The URL's query as a map (each key once).
pub fn query_map(url: &Url) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for (k, v) in url.query_pairs() {
        assert!(
            map.insert(k.to_string(), v.to_string()).is_none(),
            "query key {k} repeated in {url}"
        );
    }
    map
}
