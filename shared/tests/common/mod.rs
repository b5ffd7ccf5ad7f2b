//! Shared by the TikTok client tests: a [`TikTokClient`] whose every URL points at
//! one wiremock server, with short timeouts and a fast retry policy; a server
//! that answers an expected request with given answers, in turn; the fixtures,
//! and form-body and query matchers.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tiktok_gateway::config::TikTokConfig;
use tiktok_gateway::tiktok::{AppCredentials, RetryPolicy, TokenGrant};
use tiktok_gateway::{AuthCode, ClientSecret, TikTokClient, UpstreamError};
use tokio::time::Instant;
use url::Url;
use wiremock::{MockBuilder, MockServer, Request, Respond, ResponseTemplate};

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

/// Exchanges `code` (no PKCE) with the usual client on `server`.
pub async fn exchange_code(server: &MockServer, code: &str) -> Result<TokenGrant, UpstreamError> {
    client(server)
        .exchange_code(
            &app(),
            &AuthCode::new(code),
            None,
            &Url::parse(REDIRECT_URI).unwrap(),
            far_deadline(),
        )
        .await
}

/// An answer with `body` as it is, labelled JSON (it need not be valid JSON).
pub fn json(status: u16, body: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.into(), "application/json")
}

/// Answers the requests it gets with `answers` in turn, the first with the first.
/// (How many requests there must be is the mock's `expect`.)
struct InTurn {
    answers: Vec<ResponseTemplate>,
    next: AtomicUsize,
}

impl Respond for InTurn {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let turn = self.next.fetch_add(1, Ordering::SeqCst);
        let last = self.answers.len() - 1;
        self.answers[turn.min(last)].clone()
    }
}

/// Mounts `expected` on `server`, answering with `answers` in turn: exactly one
/// request per answer, checked when the server is dropped.
pub async fn mount_in_turn(
    server: &MockServer,
    expected: MockBuilder,
    answers: Vec<ResponseTemplate>,
) {
    assert!(!answers.is_empty(), "at least one answer");
    let times = answers.len() as u64;
    expected
        .respond_with(InTurn {
            answers,
            next: AtomicUsize::new(0),
        })
        .expect(times)
        .mount(server)
        .await;
}

/// A new server on which `expected` is answered with `answers` in turn, exactly
/// one request per answer (checked when the server is dropped).
pub async fn serve_in_turn(expected: MockBuilder, answers: Vec<ResponseTemplate>) -> MockServer {
    let server = MockServer::start().await;
    mount_in_turn(&server, expected, answers).await;
    server
}

/// A new server on which `expected` is answered with `answer`, exactly once.
pub async fn serve_once(expected: MockBuilder, answer: ResponseTemplate) -> MockServer {
    serve_in_turn(expected, vec![answer]).await
}

/// A fixture from `tests/fixtures/`.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// Key-value pairs, owned and sorted (duplicates kept, so "exactly" can be checked).
fn sorted<K: Into<String>, V: Into<String>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = pairs
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    pairs.sort();
    pairs
}

/// The request body's form fields, sorted.
pub fn form_fields(request: &Request) -> Vec<(String, String)> {
    sorted(url::form_urlencoded::parse(&request.body).into_owned())
}

/// Matches a form-encoded body holding exactly `expected` (no more, no fewer, no
/// duplicates), in any order.
pub fn form_is(expected: &[(&str, &str)]) -> impl Fn(&Request) -> bool + Send + Sync + 'static {
    let expected = sorted(expected.iter().copied());
    move |request: &Request| form_fields(request) == expected
}

/// Matches a URL query holding exactly `expected` (decoded; no more, no fewer, no
/// duplicates), in any order.
pub fn query_is(expected: &[(&str, &str)]) -> impl Fn(&Request) -> bool + Send + Sync + 'static {
    let expected = sorted(expected.iter().copied());
    move |request: &Request| sorted(request.url.query_pairs().into_owned()) == expected
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
