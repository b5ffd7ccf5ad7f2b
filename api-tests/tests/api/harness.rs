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
use tiktok_gateway::{AccessToken, AppState, Config, MemoryStore, RefreshToken, Secrets, Tokens};
use wiremock::matchers::{body_string_contains, method, path};
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
        let upstream = Arc::new(tiktok_gateway::TikTokClient::new(
            tiktok_gateway::TikTokClient::http_client(&config.tiktok).unwrap(),
            config.tiktok.clone(),
        ));
        let state = AppState::new(
            config,
            Arc::new(MemoryStore::new(4)),
            upstream,
            static_secrets(),
        );
        Self::with_clock(state, tiktok)
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
        let aws = test_support::moto_config();
        let table = test_support::unique("api");
        tiktok_gateway::store::create_table(&aws_sdk_dynamodb::Client::new(&aws), &table)
            .await
            .unwrap();
        let secret = test_support::create_secret(
            &aws_sdk_secretsmanager::Client::new(&aws),
            &test_support::unique("tiktok-app"),
            &both_pairs_secret_json(),
        )
        .await;
        let mut extra: Vec<(&str, &str)> = extra.to_vec();
        extra.push(("TABLE_NAME", &table));
        extra.push(("SECRET_ID", &secret));
        let state = AppState::from_aws(config(&tiktok.uri(), &extra), through).unwrap();
        Self::with_clock(state, tiktok)
    }

    /// `TIKTOK_PROVIDER=shop` over moto: every Partner API host on the
    /// wiremock, the secret holding `app_key` and `app_secret`.
    pub async fn shop(extra: &[(&str, &str)]) -> Self {
        let tiktok = MockServer::start().await;
        let aws = test_support::moto_config();
        let table = test_support::unique("shop");
        tiktok_gateway::store::create_table(&aws_sdk_dynamodb::Client::new(&aws), &table)
            .await
            .unwrap();
        let secret = test_support::create_secret(
            &aws_sdk_secretsmanager::Client::new(&aws),
            &test_support::unique("tiktok-shop-app"),
            &test_support::shop_secret_json(APP_KEY, APP_SECRET),
        )
        .await;
        let base = tiktok.uri();
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
            ("TIKTOK_SHOP_API_BASE_URL", &base),
            ("TABLE_NAME", &table),
            ("SECRET_ID", &secret),
        ];
        vars.extend_from_slice(extra);
        let state = AppState::from_aws(config(&base, &vars), &aws).unwrap();
        Self::with_clock(state, tiktok)
    }

    fn with_clock(mut state: AppState, tiktok: MockServer) -> Self {
        let clock = Arc::new(AtomicI64::new(START));
        let reader = clock.clone();
        state.clock = Arc::new(move || reader.load(Ordering::SeqCst));
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
}

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

/// TikTok's token endpoint asked to refresh `rft.<old>` (respond with
/// [`token_body`] or an OAuth error).
pub fn refresh_request(old: &str) -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/v2/oauth/token/"))
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
    let ok = |data: serde_json::Value| {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "data": data,
            "error": {"code": "ok", "message": "", "log_id": "log-events"}
        }))
    };
    Mock::given(method("POST"))
        .and(path("/v2/research/tts/shop/"))
        .respond_with(ok(serde_json::json!({"shop_data": [
            {"shop_id": 7494754040961993092u64, "shop_name": "dshipit beauty", "shop_rating": 4.8}
        ]})))
        .mount(&h.tiktok)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/research/tts/product/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(products_body(
            &[
                (product, "Matte Lipstick", "long-lasting"),
                (product + 1, "Face Serum", "vitamin C"),
            ],
            false,
        )))
        .mount(&h.tiktok)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/research/tts/review/"))
        .respond_with(ok(
            serde_json::json!({"review_data": [], "has_more": false}),
        ))
        .mount(&h.tiktok)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/oauth/token/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("fresh", 7200)))
        .mount(&h.tiktok)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/oauth/revoke/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
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
    let aws = test_support::moto_config();
    let table = test_support::unique("shop-emu");
    tiktok_gateway::store::create_table(&aws_sdk_dynamodb::Client::new(&aws), &table)
        .await
        .unwrap();
    let secret = test_support::create_secret(
        &aws_sdk_secretsmanager::Client::new(&aws),
        &test_support::unique("tiktok-shop-emu"),
        &test_support::shop_secret_json(APP_KEY, APP_SECRET),
    )
    .await;
    let base = tiktok.base_url.clone();
    let urls = [
        format!("{base}/open/authorize"),
        format!("{base}/api/v2/token/get"),
        format!("{base}/api/v2/token/refresh"),
    ];
    let vars: Vec<(&str, &str)> = vec![
        ("TIKTOK_PROVIDER", "shop"),
        ("TIKTOK_SHOP_SERVICE_ID", SERVICE_ID),
        ("TIKTOK_SHOP_AUTHORIZE_URL", &urls[0]),
        ("TIKTOK_SHOP_TOKEN_URL", &urls[1]),
        ("TIKTOK_SHOP_REFRESH_URL", &urls[2]),
        ("TIKTOK_SHOP_API_BASE_URL", &base),
        ("TABLE_NAME", &table),
        ("SECRET_ID", &secret),
        ("UPSTREAM_PAGE_BUDGET", "5"),
    ];
    let state = AppState::from_aws(config(&base, &vars), &aws).unwrap();
    (state, tiktok)
}
