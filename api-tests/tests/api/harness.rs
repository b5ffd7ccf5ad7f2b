//! A function's world in a test: config pointing at a wiremock TikTok, a store
//! (in-memory, or DynamoDB and Secrets Manager in moto through the production
//! wiring), a settable clock, and API Gateway v2 events to call handlers with.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lambda_http::{Body, Request, Response};
use secrecy::SecretString;
use tiktok_gateway::app_secrets::StaticSecret;
use tiktok_gateway::boot;
use tiktok_gateway::refresh::Summary;
use tiktok_gateway::Clock;
use tiktok_gateway::{
    AccessToken, AppState, Config, Connection, MemoryStore, RefreshToken, Secrets, Tokens,
};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const SITE: &str = "https://app.dshipit.com";
pub const SHOP: &str = "7494754040961993092";
pub const CLIENT_KEY: &str = "ck-test";
pub const CLIENT_SECRET: &str = "cs-test-secret-value";
pub const START: i64 = 1_800_000_000;
pub const APP_KEY: &str = "6abc1def2ghi";
pub const APP_SECRET: &str = "as-shop-S3CR3T-value";
pub const SERVICE_ID: &str = "7123456789012345678";

pub struct Harness {
    pub state: AppState,
    pub tiktok: MockServer,
    clock: Arc<AtomicI64>,
}

pub fn config(tiktok: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("TABLE_NAME".into(), "unused".into()),
        ("SECRET_ID".into(), "unused".into()),
        (
            "TIKTOK_AUTHORIZE_URL".into(),
            format!("{tiktok}/v2/auth/authorize/"),
        ),
        (
            "TIKTOK_TOKEN_URL".into(),
            format!("{tiktok}/v2/oauth/token/"),
        ),
        (
            "TIKTOK_REVOKE_URL".into(),
            format!("{tiktok}/v2/oauth/revoke/"),
        ),
        ("TIKTOK_API_BASE_URL".into(), tiktok.to_owned()),
        (
            "TIKTOK_REDIRECT_URI".into(),
            "https://api.dshipit.com/auth/tiktok/callback".into(),
        ),
        ("DEFAULT_RETURN_URL".into(), format!("{SITE}/research")),
        ("ALLOWED_RETURN_ORIGINS".into(), SITE.into()),
        ("UPSTREAM_RATE_PER_SEC".into(), "1000".into()),
        // Most tests are about users' own tokens (refresh, rotation); the
        // app-token mode (the default) is asked for where it is tested.
        ("DATA_TOKEN_MODE".into(), "user".into()),
        ("UPSTREAM_BUDGET_MS".into(), "3000".into()),
        ("UPSTREAM_REQUEST_TIMEOUT_MS".into(), "1000".into()),
    ]);
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    Config::from_lookup(|name| vars.get(name).cloned()).expect("test config")
}

/// The secret with the Login Kit pair and the Partner API pair (a deployment
/// switching `TIKTOK_PROVIDER` keeps one secret).
pub fn both_pairs_secret_json() -> String {
    let mut json: serde_json::Value =
        serde_json::from_str(&test_support::secret_json(CLIENT_KEY, CLIENT_SECRET)).unwrap();
    json["app_key"] = APP_KEY.into();
    json["app_secret"] = APP_SECRET.into();
    json.to_string()
}

fn static_secrets() -> Arc<Secrets> {
    Arc::new(Secrets::new(
        Arc::new(StaticSecret(SecretString::from(test_support::secret_json(
            CLIENT_KEY,
            CLIENT_SECRET,
        )))),
        Duration::from_secs(300),
    ))
}

impl Harness {
    /// In-memory store, static secret.
    pub async fn memory(extra: &[(&str, &str)]) -> Self {
        let tiktok = MockServer::start().await;
        let config = config(&tiktok.uri(), extra);
        Self::with_clock(tiktok, |clock| {
            boot::assemble(
                config,
                Arc::new(MemoryStore::new(4)),
                static_secrets(),
                clock,
            )
            .unwrap()
        })
    }

    /// The production wiring (`AppState::from_aws`) over moto: a fresh table and
    /// a real Secrets Manager secret.
    pub async fn moto(extra: &[(&str, &str)]) -> Self {
        Self::moto_through(&test_support::moto_config(), extra).await
    }

    /// As [`Harness::moto`], with the functions' AWS calls going to `through`
    /// (a [`test_support::Recorder`] in front of moto); set-up goes to moto directly.
    pub async fn moto_through(through: &aws_config::SdkConfig, extra: &[(&str, &str)]) -> Self {
        let tiktok = MockServer::start().await;
        let (table, secret) = fresh_table_and_secret("api", &both_pairs_secret_json()).await;
        let mut extra: Vec<(&str, &str)> = extra.to_vec();
        extra.push(("TABLE_NAME", &table));
        extra.push(("SECRET_ID", &secret));
        let config = config(&tiktok.uri(), &extra);
        Self::with_clock(tiktok, |clock| {
            boot::from_aws_at(config, through, clock).unwrap()
        })
    }

    /// `TIKTOK_PROVIDER=shop` over moto: every Partner API host on the
    /// wiremock, the secret holding `app_key` and `app_secret`.
    pub async fn shop(extra: &[(&str, &str)]) -> Self {
        let tiktok = MockServer::start().await;
        let (config, aws) = shop_config(&tiktok.uri(), extra).await;
        Self::with_clock(tiktok, |clock| {
            boot::from_aws_at(config, &aws, clock).unwrap()
        })
    }

    /// The harness over the state `build` wires on a clock the test moves.
    fn with_clock(tiktok: MockServer, build: impl FnOnce(Clock) -> AppState) -> Self {
        let clock = Arc::new(AtomicI64::new(START));
        let reader = clock.clone();
        let state = build(Arc::new(move || reader.load(Ordering::SeqCst)));
        Self {
            state,
            tiktok,
            clock,
        }
    }

    pub fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    pub fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// Stores a connection for `user` as a completed login would.
    pub async fn connect(&self, user: &str, tag: &str, access_ttl: i64) {
        self.state
            .store
            .put_connection(user, &tokens(tag, self.now(), access_ttl))
            .await
            .unwrap();
    }

    /// Mounts `mock` on the TikTok, to be called exactly `times` times.
    pub async fn expect(&self, times: u64, mock: Mock) {
        mock.expect(times).mount(&self.tiktok).await;
    }

    /// `GET /auth/tiktok/login` as `user`: a redirect that sets no cookie; where to.
    pub async fn login(&self, user: &str, return_to: Option<&str>) -> url::Url {
        let query: Vec<(&str, &str)> = return_to.map(|r| ("returnTo", r)).into_iter().collect();
        let response =
            login_redirect::handler(&self.state, get("/auth/tiktok/login", &query, Some(user)))
                .await
                .unwrap();
        assert_eq!(response.status(), 302);
        assert!(
            response.headers().get("set-cookie").is_none(),
            "no cookie: the site and the API live on different sites"
        );
        location(&response)
    }

    /// TikTok's redirect back to the callback with `query`.
    pub async fn callback(&self, query: &[(&str, &str)]) -> Response<Body> {
        oauth_callback::handler(&self.state, callback_request(query))
            .await
            .unwrap()
    }

    /// `user` logs in and TikTok sends the browser back with `code`.
    pub async fn login_and_return(&self, user: &str, code: &str) -> Response<Body> {
        let state = query_of(&self.login(user, None).await, "state").unwrap();
        self.callback(&[("code", code), ("state", &state)]).await
    }

    /// The site completing `completion` for `user`.
    pub async fn complete(&self, user: &str, completion: &str) -> Response<Body> {
        oauth_complete::handler(&self.state, complete_request(Some(user), completion))
            .await
            .unwrap()
    }

    /// The stored connection of `user`, who must have one.
    pub async fn stored(&self, user: &str) -> Connection {
        self.state
            .store
            .get_connection(user)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{user} has no stored connection"))
    }

    /// Whether `user` has a stored connection at all.
    pub async fn has_connection(&self, user: &str) -> bool {
        self.state
            .store
            .get_connection(user)
            .await
            .unwrap()
            .is_some()
    }

    /// `GET /auth/tiktok/status` as `user`: a 200 and its body.
    pub async fn status(&self, user: &str) -> serde_json::Value {
        let response =
            connection_status::handler(&self.state, get("/auth/tiktok/status", &[], Some(user)))
                .await
                .unwrap();
        assert_eq!(response.status(), 200);
        body_json(&response)
    }

    /// `GET /api/tiktok/search` as `user`.
    pub async fn search(&self, user: &str, query: &[(&str, &str)]) -> Response<Body> {
        search::handler(&self.state, get("/api/tiktok/search", query, Some(user)))
            .await
            .unwrap()
    }

    /// `GET /api/tiktok/shops?name=<name>` as `user`.
    pub async fn shops(&self, user: &str, name: &str) -> Response<Body> {
        shop_lookup::handler(
            &self.state,
            get("/api/tiktok/shops", &[("name", name)], Some(user)),
        )
        .await
        .unwrap()
    }

    /// `POST /auth/tiktok/disconnect` as `user`.
    pub async fn disconnect(&self, user: &str) -> Response<Body> {
        disconnect::handler(&self.state, disconnect_request(Some(user)))
            .await
            .unwrap()
    }

    /// One scheduled refresher run with 30 s to go.
    pub async fn run_refresher(&self) -> Summary {
        token_refresher::run(&self.state, deadline_in(30))
            .await
            .unwrap()
    }
}

/// A deadline `secs` from now.
pub fn deadline_in(secs: u64) -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(secs)
}

/// The site disconnecting `user` (`POST /auth/tiktok/disconnect`).
pub fn disconnect_request(user: Option<&str>) -> Request {
    event("POST", "/auth/tiktok/disconnect", &[], user, &[])
}

/// Two `#[tokio::test]`s, named as given, running one scenario (an
/// `async fn(Harness)`) on the in-memory store and on DynamoDB in moto, each
/// configured with the variables given.
macro_rules! on_each_store {
    ($scenario:ident($($var:expr),*) => $memory:ident, $dynamodb:ident) => {
        #[tokio::test]
        async fn $memory() {
            $scenario($crate::harness::Harness::memory(&[$($var),*]).await).await;
        }

        #[tokio::test]
        async fn $dynamodb() {
            $scenario($crate::harness::Harness::moto(&[$($var),*]).await).await;
        }
    };
}
pub(crate) use on_each_store;

pub fn tokens(tag: &str, now: i64, access_ttl: i64) -> Tokens {
    Tokens {
        open_id: "open-123".into(),
        scopes: vec!["user.info.basic".into(), "research.data.basic".into()],
        access_token: AccessToken::new(format!("act.{tag}")),
        refresh_token: RefreshToken::new(format!("rft.{tag}")),
        access_expires_at: now + access_ttl,
        refresh_expires_at: now + 180 * 86_400,
        refreshed_at: now,
        account: None,
    }
}

pub use test_support::api_event as event;

pub fn get(path: &str, query: &[(&str, &str)], user: Option<&str>) -> Request {
    event("GET", path, query, user, &[])
}

pub fn body_json(response: &Response<Body>) -> serde_json::Value {
    match response.body() {
        Body::Text(text) => serde_json::from_str(text).expect("a JSON body"),
        Body::Binary(bytes) => serde_json::from_slice(bytes).expect("a JSON body"),
        Body::Empty => serde_json::Value::Null,
        _ => serde_json::Value::Null,
    }
}

pub fn location(response: &Response<Body>) -> url::Url {
    let raw = response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap();
    url::Url::parse(raw).unwrap()
}

pub fn query_of(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .or_else(|| {
            // The completion id comes back in the fragment, `#name=value`.
            url::form_urlencoded::parse(url.fragment()?.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        })
}

/// Asserts the error body format and returns the code.
pub fn error_code(response: &Response<Body>) -> String {
    let body = body_json(response);
    assert_eq!(body["error"]["requestId"], "req-test-1", "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned()
}

/// A 200 answering `body` as JSON.
pub fn json_200(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// A Research API call, `POST /v2/research/tts/<what>/` (`shop`, `product`, `review`).
pub fn research_request(what: &str) -> wiremock::MockBuilder {
    Mock::given(method("POST")).and(path(format!("/v2/research/tts/{what}/")))
}

/// A Research API success: `data` in TikTok's envelope.
pub fn research_ok(data: serde_json::Value) -> ResponseTemplate {
    json_200(serde_json::json!({
        "data": data,
        "error": {"code": "ok", "message": "", "log_id": "log-ok"}
    }))
}

/// A Research API refusal: HTTP `status` with TikTok's error `code` in the envelope.
pub fn research_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "data": {},
        "error": {"code": code, "message": message, "log_id": "log-error"}
    }))
}

/// The shop search's answer: one shop, "Sunny Home".
pub fn sunny_home() -> serde_json::Value {
    serde_json::json!({"shop_data": [
        {"shop_id": 7494754040961993092u64, "shop_name": "Sunny Home"}
    ]})
}

/// A request carrying `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> wiremock::matchers::HeaderExactMatcher {
    header("authorization", format!("Bearer {token}").as_str())
}

/// A call to TikTok's revoke endpoint.
pub fn revoke_request() -> wiremock::MockBuilder {
    Mock::given(method("POST")).and(path("/v2/oauth/revoke/"))
}

/// Any call to TikTok's token endpoint.
pub fn token_request() -> wiremock::MockBuilder {
    Mock::given(method("POST")).and(path("/v2/oauth/token/"))
}

/// TikTok's token endpoint asked for an app (client-credentials) token.
pub fn client_token_request() -> wiremock::MockBuilder {
    token_request().and(body_string_contains("grant_type=client_credentials"))
}

/// A client-credentials token `token`, two hours.
pub fn client_token(token: &str) -> ResponseTemplate {
    json_200(serde_json::json!({
        "access_token": token, "expires_in": 7200, "token_type": "Bearer"
    }))
}

/// TikTok's OAuth refusal (`invalid_grant`) with `description`.
pub fn invalid_grant(description: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(serde_json::json!({
        "error": "invalid_grant", "error_description": description, "log_id": "log-grant"
    }))
}

/// TikTok's token endpoint asked to refresh `rft.<old>` (respond with
/// [`token_body`] or an OAuth error).
pub fn refresh_request(old: &str) -> wiremock::MockBuilder {
    token_request()
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains(format!("refresh_token=rft.{old}")))
}

/// A TikTok token response body.
pub fn token_body(tag: &str, expires_in: i64) -> serde_json::Value {
    serde_json::json!({
        "open_id": "open-123",
        "scope": "user.info.basic,research.data.basic",
        "access_token": format!("act.{tag}"),
        "expires_in": expires_in,
        "refresh_token": format!("rft.{tag}"),
        "refresh_expires_in": 15_552_000,
        "token_type": "Bearer",
    })
}

/// A token response from TikTok: [`token_body`] in a 200.
pub fn token_response(tag: &str, expires_in: i64) -> ResponseTemplate {
    json_200(token_body(tag, expires_in))
}

/// A product listing envelope.
pub fn products_body(products: &[(u64, &str, &str)], has_more: bool) -> serde_json::Value {
    let products: Vec<_> = products
        .iter()
        .map(|(id, name, description)| {
            serde_json::json!({
                "product_id": id,
                "product_name": name,
                "product_description": description,
                "product_price": ["19.99USD", "24.99USD"],
                "product_sold_count": 42,
                "product_rating_4_count": 1,
                "product_rating_5_count": 1,
            })
        })
        .collect();
    serde_json::json!({
        "data": {"product_data": products, "has_more": has_more},
        "error": {"code": "ok", "message": "", "log_id": "log-products"}
    })
}

/// A TikTok that answers every call: one shop, two products (`product`, a
/// lipstick, and `product + 1`), no reviews, tokens tagged `fresh`, revoke.
pub async fn friendly_tiktok(h: &Harness, product: u64) {
    research_request("shop")
        .respond_with(research_ok(serde_json::json!({"shop_data": [
            {"shop_id": 7494754040961993092u64, "shop_name": "dshipit beauty", "shop_rating": 4.8}
        ]})))
        .mount(&h.tiktok)
        .await;
    research_request("product")
        .respond_with(json_200(products_body(
            &[
                (product, "Matte Lipstick", "long-lasting"),
                (product + 1, "Face Serum", "vitamin C"),
            ],
            false,
        )))
        .mount(&h.tiktok)
        .await;
    research_request("review")
        .respond_with(research_ok(
            serde_json::json!({"review_data": [], "has_more": false}),
        ))
        .mount(&h.tiktok)
        .await;
    token_request()
        .respond_with(token_response("fresh", 7200))
        .mount(&h.tiktok)
        .await;
    revoke_request()
        .respond_with(json_200(serde_json::json!({})))
        .mount(&h.tiktok)
        .await;
}

/// TikTok's redirect back to the callback, from whichever browser approved.
pub fn callback_request(query: &[(&str, &str)]) -> Request {
    event("GET", "/auth/tiktok/callback", query, None, &[])
}

/// The completion id the callback sent the browser back to the site with.
pub fn completion_of(callback: &Response<Body>) -> String {
    query_of(&location(callback), "tiktokCompletion").expect("tiktokCompletion in the redirect")
}

/// The site completing a connection for `user` (`POST /auth/tiktok/complete`).
pub fn complete_request(user: Option<&str>, completion: &str) -> Request {
    let body = serde_json::json!({ "completion": completion }).to_string();
    test_support::api_event_with_body(
        "POST",
        "/auth/tiktok/complete",
        user,
        &[("content-type", "application/json")],
        &body,
    )
}

/// The production wiring over moto, every Partner API URL on the emulator,
/// the wall clock (the emulator's expiries are real timestamps).
pub async fn shop_stack(callback: &str) -> (AppState, tiktok_emulator::RunningEmulator) {
    let partner = tiktok_emulator::partner::PartnerConfig {
        app_key: APP_KEY.into(),
        app_secret: APP_SECRET.into(),
        service_id: SERVICE_ID.into(),
        redirect_uri: callback.into(),
        ..Default::default()
    };
    let tiktok = tiktok_emulator::Emulator::spawn(tiktok_emulator::EmulatorConfig {
        partner,
        ..Default::default()
    })
    .await
    .unwrap();
    let state = shop_state(&tiktok.base_url, &[("UPSTREAM_PAGE_BUDGET", "5")]).await;
    (state, tiktok)
}

/// A fresh table and a new secret holding `secret_json`, in moto: their names.
pub async fn fresh_table_and_secret(prefix: &str, secret_json: &str) -> (String, String) {
    let aws = test_support::moto_config();
    let table = test_support::unique(prefix);
    tiktok_gateway::store::create_table(&aws_sdk_dynamodb::Client::new(&aws), &table)
        .await
        .unwrap();
    let secret = test_support::create_secret(
        &aws_sdk_secretsmanager::Client::new(&aws),
        &test_support::unique(&format!("{prefix}-secret")),
        secret_json,
    )
    .await;
    (table, secret)
}

/// The production wiring of `TIKTOK_PROVIDER=shop` over moto: every Partner
/// API URL on `base`, the secret holding `app_key` and `app_secret`, and `extra`.
async fn shop_config(base: &str, extra: &[(&str, &str)]) -> (Config, aws_config::SdkConfig) {
    let (table, secret) =
        fresh_table_and_secret("shop", &test_support::shop_secret_json(APP_KEY, APP_SECRET)).await;
    let urls = [
        format!("{base}/open/authorize"),
        format!("{base}/api/v2/token/get"),
        format!("{base}/api/v2/token/refresh"),
    ];
    let mut vars: Vec<(&str, &str)> = vec![
        ("TIKTOK_PROVIDER", "shop"),
        ("TIKTOK_SHOP_SERVICE_ID", SERVICE_ID),
        ("TIKTOK_SHOP_AUTHORIZE_URL", &urls[0]),
        ("TIKTOK_SHOP_TOKEN_URL", &urls[1]),
        ("TIKTOK_SHOP_REFRESH_URL", &urls[2]),
        ("TIKTOK_SHOP_API_BASE_URL", base),
        ("TABLE_NAME", &table),
        ("SECRET_ID", &secret),
    ];
    vars.extend_from_slice(extra);
    (config(base, &vars), test_support::moto_config())
}

/// `TIKTOK_PROVIDER=shop` over moto on the wall clock (see [`shop_config`]).
pub async fn shop_state(base: &str, extra: &[(&str, &str)]) -> AppState {
    let (config, aws) = shop_config(base, extra).await;
    boot::from_aws(config, &aws).unwrap()
}
