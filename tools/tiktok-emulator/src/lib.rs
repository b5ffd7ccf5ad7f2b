//! A TikTok v2 stand-in that plays TikTok's side of `TIKTOK_API.md` faithfully
//! enough for end-to-end tests, benchmarks and the local stack:
//!
//! - Login Kit: the authorize page (a consent screen with Approve / Deny, which
//!   checks `client_key` and the exact `redirect_uri` like TikTok), the token
//!   endpoint for all three grants with **rotating refresh tokens** (a used one
//!   stops working; reuse is `invalid_grant`), PKCE (S256), and revoke.
//! - The Research API's TikTok Shop endpoints with the v2 envelope, `fields`
//!   honoured, paging with `has_more`, ids above 2^53 as JSON numbers, over a
//!   deterministic catalogue (six shops, a few hundred products, reviews).
//! - Knobs for faults and load: a rate limit answering 429 with `Retry-After`,
//!   latency, injected 5xx / malformed JSON / connection resets / envelope
//!   errors, and per-endpoint request counts.
//!
//! - The TikTok Shop Partner API ([`partner`]): seller authorization, signed
//!   calls verified as the contract says, a catalogue with 10,000+ products.
//! - The TikTok Shop Affiliate Creator API ([`creator`]): creator
//!   authorization (sharing the Partner token endpoints), signed creator calls,
//!   open-collaboration product search and lookup and the creator profile over
//!   a generated marketplace of 2,160 products in three markets.
//!
//! Control routes: `GET /__emulator/stats`, `POST /__emulator/stats/reset`,
//! `GET|PUT /__emulator/knobs`, `POST /__emulator/expire-access-tokens`,
//! `GET /__emulator/health`.
#![warn(missing_docs)]

pub mod catalogue;
pub mod creator;
pub mod partner;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What the emulated TikTok app is, and how long what it issues lasts.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// The app's client key.
    pub client_key: String,
    /// The app's client secret (a made-up emulator value).
    pub client_secret: String,
    /// Registered redirect URIs; the authorize page and the code exchange require
    /// an exact match, as TikTok does.
    pub redirect_uris: Vec<String>,
    /// Access-token lifetime (`expires_in`).
    pub access_ttl_secs: u64,
    /// Refresh-token lifetime (`refresh_expires_in`).
    pub refresh_ttl_secs: u64,
    /// Client-credentials token lifetime.
    pub client_ttl_secs: u64,
    /// Authorization-code lifetime.
    pub code_ttl_secs: u64,
    /// Scopes the consent screen can grant.
    pub scopes: Vec<String>,
    /// Fault and load knobs at start.
    pub knobs: Knobs,
    /// The TikTok Shop Partner API side ([`partner`]).
    pub partner: partner::PartnerConfig,
    /// The TikTok Shop Affiliate Creator API side ([`creator`]); it shares the
    /// Partner app (key, secret, redirect) and token endpoints.
    pub creator: creator::CreatorConfig,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            client_key: "emulator-client-key".into(),
            client_secret: "emulator-client-secret".into(),
            redirect_uris: Vec::new(),
            access_ttl_secs: 7_200,
            refresh_ttl_secs: 180 * 86_400,
            client_ttl_secs: 7_200,
            code_ttl_secs: 300,
            scopes: vec!["user.info.basic".into(), "research.data.basic".into()],
            knobs: Knobs::default(),
            partner: partner::PartnerConfig::default(),
            creator: creator::CreatorConfig::default(),
        }
    }
}

/// Faults and load shaping, settable at run time (`PUT /__emulator/knobs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Knobs {
    /// Requests a second (all token and research endpoints together); over it:
    /// HTTP 429 `rate_limit_exceeded` with `Retry-After`.
    pub rate_limit_per_sec: Option<u32>,
    /// Added to every token, revoke and research answer.
    pub latency_ms: u64,
    /// Probability (0–1) that a request gets `fault`.
    pub fault_rate: f64,
    /// The fault injected.
    pub fault: Option<Fault>,
    /// The next N requests get `fault` whatever the rate.
    pub fail_next: u32,
    /// `Retry-After` on 429s (seconds); `None` sends none.
    pub retry_after_secs: Option<u64>,
}

/// An injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// HTTP 500 with `internal_error`.
    ServerError,
    /// HTTP 200 with a truncated JSON body.
    MalformedJson,
    /// The connection is dropped mid-answer.
    ConnectionReset,
    /// HTTP 200 whose envelope says `internal_error`.
    EnvelopeError,
    /// HTTP 429 `rate_limit_exceeded` with `Retry-After`.
    RateLimited,
    /// No answer for 30 s.
    Timeout,
}

/// Requests received, by endpoint and outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// By endpoint (`authorize`, `token`, `revoke`, `shop`, `product`, `review`)
    /// and by grant (`token:refresh_token`, ...).
    pub requests: BTreeMap<String, u64>,
    /// 429s answered by the rate limit or a fault.
    pub rate_limited: u64,
    /// Refresh grants that rotated a token.
    pub refresh_rotated: u64,
    /// Refresh grants refused (`invalid_grant`).
    pub refresh_refused: u64,
    /// The most token + research requests received within one wall-clock second.
    pub max_per_second: u64,
    /// Faults injected.
    pub faults: u64,
}

impl Stats {
    /// Requests counted under `name`.
    pub fn count(&self, name: &str) -> u64 {
        self.requests.get(name).copied().unwrap_or(0)
    }
}

struct CodeGrant {
    client_key: String,
    redirect_uri: String,
    scope: String,
    open_id: String,
    challenge: Option<String>,
    expires_at: u64,
}

struct AccessGrant {
    expires_at: u64,
    revoked: bool,
    family: u64,
}

struct RefreshGrant {
    open_id: String,
    scope: String,
    expires_at: u64,
    family: u64,
}

#[derive(Default)]
struct Grants {
    codes: HashMap<String, CodeGrant>,
    access: HashMap<String, AccessGrant>,
    /// Only the current refresh token of each family is here: rotation removes the old one.
    refresh: HashMap<String, RefreshGrant>,
    next_family: u64,
}

#[derive(Default)]
struct Counters {
    stats: Stats,
    second: u64,
    in_second: u64,
}

struct Inner {
    config: EmulatorConfig,
    knobs: Mutex<Knobs>,
    grants: Mutex<Grants>,
    counters: Mutex<Counters>,
    shops: Vec<catalogue::Shop>,
    partner: partner::Partner,
    creator: creator::Creator,
}

/// The emulator's state; cheap to clone (shared).
#[derive(Clone)]
pub struct Emulator(Arc<Inner>);

/// An emulator serving on loopback.
pub struct RunningEmulator {
    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub base_url: String,
    /// Its state, for knobs and stats.
    pub emulator: Emulator,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn random_token(prefix: &str) -> String {
    let bytes: [u8; 30] = rand::random();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn log_id() -> String {
    format!("{:020X}", rand::random::<u64>())
}

impl Emulator {
    /// An emulator with `config`.
    pub fn new(config: EmulatorConfig) -> Emulator {
        let knobs = config.knobs.clone();
        let partner = partner::Partner::new(config.partner.clone());
        let creator = creator::Creator::new(config.creator.clone(), partner.clone());
        Emulator(Arc::new(Inner {
            partner,
            creator,
            config,
            knobs: Mutex::new(knobs),
            grants: Mutex::new(Grants::default()),
            counters: Mutex::new(Counters::default()),
            shops: catalogue::build(),
        }))
    }

    /// Serves on 127.0.0.1 on a free port, in a tokio task.
    pub async fn spawn(config: EmulatorConfig) -> std::io::Result<RunningEmulator> {
        Self::spawn_on(config, 0).await
    }

    /// Serves on 127.0.0.1:`port`, in a tokio task.
    pub async fn spawn_on(config: EmulatorConfig, port: u16) -> std::io::Result<RunningEmulator> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let mut config = config;
        config.partner.image_base_url = format!("{base_url}/__emulator/partner/images");
        config.creator.image_base_url = format!("{base_url}/__emulator/creator/images");
        let emulator = Emulator::new(config);
        let app = emulator.router();
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "TikTok emulator stopped");
            }
        });
        Ok(RunningEmulator { base_url, emulator })
    }

    /// Every route, for serving in-process.
    pub fn router(&self) -> Router {
        let both = |path: &str| [path.to_owned(), path.trim_end_matches('/').to_owned()];
        let mut router = Router::new();
        for p in both("/v2/auth/authorize/") {
            router = router.route(&p, get(authorize));
        }
        for p in both("/v2/auth/authorize/decision/") {
            router = router.route(&p, post(decision));
        }
        for p in both("/v2/oauth/token/") {
            router = router.route(&p, post(token));
        }
        for p in both("/v2/oauth/revoke/") {
            router = router.route(&p, post(revoke));
        }
        for (p, endpoint) in [
            ("/v2/research/tts/shop/", Endpoint::Shop),
            ("/v2/research/tts/product/", Endpoint::Product),
            ("/v2/research/tts/review/", Endpoint::Review),
        ] {
            for p in both(p) {
                router = router.route(
                    &p,
                    post(
                        move |s: State<Emulator>,
                              q: Query<HashMap<String, String>>,
                              h: HeaderMap,
                              b: Bytes| { research(s, q, h, b, endpoint) },
                    ),
                );
            }
        }
        router
            .route("/__emulator/health", get(|| async { "ok" }))
            .route(
                "/__emulator/stats",
                get(|State(e): State<Emulator>| async move { Json(e.stats()) }),
            )
            .route(
                "/__emulator/stats/reset",
                post(|State(e): State<Emulator>| async move {
                    e.reset_stats();
                    StatusCode::NO_CONTENT
                }),
            )
            .route(
                "/__emulator/knobs",
                get(|State(e): State<Emulator>| async move { Json(e.knobs()) }).put(
                    |State(e): State<Emulator>, Json(knobs): Json<Knobs>| async move {
                        e.set_knobs(knobs);
                        StatusCode::NO_CONTENT
                    },
                ),
            )
            .route(
                "/__emulator/expire-access-tokens",
                post(|State(e): State<Emulator>| async move {
                    e.expire_access_tokens();
                    StatusCode::NO_CONTENT
                }),
            )
            .with_state(self.clone())
            .merge(self.0.partner.router())
            .merge(self.0.creator.router())
    }

    /// The TikTok Shop Affiliate Creator API side.
    pub fn creator(&self) -> &creator::Creator {
        &self.0.creator
    }

    /// The TikTok Shop Partner API side.
    pub fn partner(&self) -> &partner::Partner {
        &self.0.partner
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &EmulatorConfig {
        &self.0.config
    }

    /// Replaces the knobs.
    pub fn set_knobs(&self, knobs: Knobs) {
        *lock(&self.0.knobs) = knobs;
    }

    /// The current knobs.
    pub fn knobs(&self) -> Knobs {
        lock(&self.0.knobs).clone()
    }

    /// Requests received so far.
    pub fn stats(&self) -> Stats {
        lock(&self.0.counters).stats.clone()
    }

    /// Starts counting from zero.
    pub fn reset_stats(&self) {
        *lock(&self.0.counters) = Counters::default();
    }

    /// Every access token issued so far expires now (the refresh tokens stay good),
    /// so a test can make the next data call need a refresh.
    pub fn expire_access_tokens(&self) {
        let now = now();
        for grant in lock(&self.0.grants).access.values_mut() {
            grant.expires_at = grant.expires_at.min(now.saturating_sub(1));
        }
    }

    /// A code as if a user had approved the consent screen for `redirect_uri`
    /// (a test shortcut past the browser).
    pub fn issue_code(&self, redirect_uri: &str) -> String {
        self.mint_code(redirect_uri, &self.0.config.scopes.join(","), None)
    }

    /// Whether `refresh_token` is the current one of its grant (not rotated, not revoked).
    pub fn is_current_refresh_token(&self, refresh_token: &str) -> bool {
        lock(&self.0.grants)
            .refresh
            .get(refresh_token)
            .is_some_and(|g| g.expires_at > now())
    }

    fn mint_code(&self, redirect_uri: &str, scope: &str, challenge: Option<String>) -> String {
        let code = random_token("code.");
        let open_id = format!("-000{:032x}", rand::random::<u128>());
        lock(&self.0.grants).codes.insert(
            code.clone(),
            CodeGrant {
                client_key: self.0.config.client_key.clone(),
                redirect_uri: redirect_uri.to_owned(),
                scope: scope.to_owned(),
                open_id,
                challenge,
                expires_at: now() + self.0.config.code_ttl_secs,
            },
        );
        code
    }

    fn count(&self, name: &str) {
        *lock(&self.0.counters)
            .stats
            .requests
            .entry(name.to_owned())
            .or_default() += 1;
    }

    /// Counts a token/revoke/research request against the rate window; `true`
    /// when it is over the rate limit.
    fn admit(&self) -> bool {
        let limit = lock(&self.0.knobs).rate_limit_per_sec;
        let second = now();
        let mut counters = lock(&self.0.counters);
        if counters.second != second {
            counters.second = second;
            counters.in_second = 0;
        }
        counters.in_second += 1;
        let in_second = counters.in_second;
        counters.stats.max_per_second = counters.stats.max_per_second.max(in_second);
        match limit {
            Some(limit) if in_second > u64::from(limit) => {
                counters.stats.rate_limited += 1;
                true
            }
            _ => false,
        }
    }

    /// The fault this request gets, if any.
    fn fault(&self) -> Option<Fault> {
        let mut knobs = lock(&self.0.knobs);
        let fault = knobs.fault?;
        let hit = if knobs.fail_next > 0 {
            knobs.fail_next -= 1;
            true
        } else {
            knobs.fault_rate > 0.0 && rand::random::<f64>() < knobs.fault_rate
        };
        drop(knobs);
        if hit {
            lock(&self.0.counters).stats.faults += 1;
        }
        hit.then_some(fault)
    }

    /// Latency, rate limit and faults, shared by every API endpoint. `Some` is
    /// the answer instead of the real one.
    async fn inject_latency_and_faults(&self, oauth: bool) -> Option<Response> {
        let (latency, retry_after) = {
            let knobs = lock(&self.0.knobs);
            (knobs.latency_ms, knobs.retry_after_secs)
        };
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if self.admit() {
            return Some(rate_limited(oauth, retry_after.or(Some(1))));
        }
        let fault = self.fault()?;
        Some(match fault {
            Fault::ServerError => {
                let body = if oauth {
                    json!({"error": "server_error", "error_description": "injected", "log_id": log_id()})
                } else {
                    envelope_error("internal_error", "injected")
                };
                (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
            }
            Fault::MalformedJson => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"data": {"product_data": [{"product_id": 1729000000000000001, "product_na"#,
            )
                .into_response(),
            Fault::ConnectionReset => {
                let broken = futures::stream::once(async {
                    Err::<Bytes, std::io::Error>(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "injected reset",
                    ))
                });
                Response::builder()
                    .status(StatusCode::OK)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from_stream(broken))
                    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
            Fault::EnvelopeError => (
                StatusCode::OK,
                Json(envelope_error("internal_error", "injected")),
            )
                .into_response(),
            Fault::RateLimited => {
                lock(&self.0.counters).stats.rate_limited += 1;
                rate_limited(oauth, retry_after)
            }
            Fault::Timeout => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                StatusCode::GATEWAY_TIMEOUT.into_response()
            }
        })
    }
}

fn envelope_error(code: &str, message: &str) -> Value {
    json!({"data": {}, "error": {"code": code, "message": message, "log_id": log_id()}})
}

fn rate_limited(oauth: bool, retry_after: Option<u64>) -> Response {
    let body = if oauth {
        json!({"error": "rate_limit_exceeded", "error_description": "too many requests", "log_id": log_id()})
    } else {
        envelope_error("rate_limit_exceeded", "too many requests")
    };
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    if let Some(secs) = retry_after {
        if let Ok(value) = secs.to_string().parse() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description, "log_id": log_id()})),
    )
        .into_response()
}

fn html_error(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><title>TikTok emulator</title><h1>Something went wrong</h1><p id=\"error\">{}</p>",
            escape(message)
        )),
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> Option<String> {
    let mut url = url::Url::parse(base).ok()?;
    url.query_pairs_mut().extend_pairs(pairs);
    Some(url.into())
}

/// `GET /v2/auth/authorize/`: the consent screen.
async fn authorize(
    State(e): State<Emulator>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    e.count("authorize");
    let config = &e.0.config;
    let param = |name: &str| q.get(name).map(String::as_str).unwrap_or_default();
    if param("client_key") != config.client_key {
        return html_error("client_key is not registered");
    }
    let redirect_uri = param("redirect_uri");
    if !config.redirect_uris.iter().any(|r| r == redirect_uri) {
        return html_error("redirect_uri does not match the app's registered redirect URIs");
    }
    if param("response_type") != "code" || param("scope").is_empty() || param("state").is_empty() {
        return html_error("response_type=code, scope and state are required");
    }
    let challenge = match (
        q.get("code_challenge"),
        q.get("code_challenge_method").map(String::as_str),
    ) {
        (Some(c), Some("S256")) => c.clone(),
        (Some(_), _) => return html_error("code_challenge_method must be S256"),
        (None, _) => String::new(),
    };
    let hidden = |name: &str, value: &str| {
        format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape(value)
        )
    };
    let fields = [
        hidden("client_key", param("client_key")),
        hidden("redirect_uri", redirect_uri),
        hidden("state", param("state")),
        hidden("scope", param("scope")),
        hidden("code_challenge", &challenge),
    ]
    .concat();
    let scopes: String = param("scope")
        .split(',')
        .map(|s| format!("<li>{}</li>", escape(s.trim())))
        .collect();
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TikTok emulator — authorize</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.6rem 1.4rem;margin-right:.5rem;border-radius:.4rem;border:1px solid #888}}
#approve{{background:#fe2c55;color:#fff;border-color:#fe2c55}}</style></head>
<body><h1>TikTok (emulator)</h1>
<p><strong>{app}</strong> would like to access your TikTok account:</p><ul id="scopes">{scopes}</ul>
<form method="post" action="/v2/auth/authorize/decision/">{fields}
<button id="approve" name="decision" value="approve">Approve</button>
<button id="deny" name="decision" value="deny">Deny</button></form>
<p><small>This is the local TikTok emulator; no real account is involved.</small></p></body></html>"#,
        app = escape(&config.client_key),
    ))
    .into_response()
}

/// `POST /v2/auth/authorize/decision/`: Approve or Deny, back to the app.
async fn decision(State(e): State<Emulator>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let param = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let redirect_uri = param("redirect_uri");
    if param("client_key") != e.0.config.client_key
        || !e.0.config.redirect_uris.iter().any(|r| r == redirect_uri)
    {
        return html_error("unknown app or redirect_uri");
    }
    let state = param("state");
    let target = if param("decision") == "approve" {
        let granted: Vec<&str> = param("scope")
            .split(',')
            .map(str::trim)
            .filter(|s| e.0.config.scopes.iter().any(|g| g == s))
            .collect();
        let scope = if granted.is_empty() {
            param("scope").to_owned()
        } else {
            granted.join(",")
        };
        let challenge = Some(param("code_challenge").to_owned()).filter(|c| !c.is_empty());
        let code = e.mint_code(redirect_uri, &scope, challenge);
        with_query(
            redirect_uri,
            &[("code", &code), ("scopes", &scope), ("state", state)],
        )
    } else {
        with_query(
            redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "The user denied the request"),
                ("state", state),
            ],
        )
    };
    match target {
        Some(url) => Redirect::to(&url).into_response(),
        None => html_error("redirect_uri is not a URL"),
    }
}

fn token_answer(
    open_id: &str,
    scope: &str,
    access: &str,
    refresh: &str,
    config: &EmulatorConfig,
) -> Response {
    Json(json!({
        "open_id": open_id,
        "scope": scope,
        "access_token": access,
        "expires_in": config.access_ttl_secs,
        "refresh_token": refresh,
        "refresh_expires_in": config.refresh_ttl_secs,
        "token_type": "Bearer",
    }))
    .into_response()
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn invalid_grant(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

/// What the token and revoke endpoints check first, in TikTok's order: the
/// request is counted as `endpoint` and shaped by the knobs, its body must be
/// form-encoded, and it must carry the app's client key and secret. `Ok` is
/// the form; `Err` is the answer instead.
async fn app_form(
    e: &Emulator,
    endpoint: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<String, String>, Response> {
    e.count(endpoint);
    if let Some(injected) = e.inject_latency_and_faults(true).await {
        return Err(injected);
    }
    if !is_form(headers) {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be form-encoded",
        ));
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let config = &e.0.config;
    let given = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if given("client_key") != config.client_key || given("client_secret") != config.client_secret {
        return Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_key or client_secret is wrong",
        ));
    }
    Ok(form)
}

impl Grants {
    /// A new access token of `family` (0: the app's own) that lasts `ttl_secs`.
    fn issue_access(&mut self, prefix: &str, ttl_secs: u64, family: u64, now: u64) -> String {
        let access = random_token(prefix);
        self.access.insert(
            access.clone(),
            AccessGrant {
                expires_at: now + ttl_secs,
                revoked: false,
                family,
            },
        );
        access
    }

    /// A new access and refresh token of `family` for `open_id`, and the token
    /// endpoint's answer carrying them. The refresh token becomes the family's
    /// current one.
    fn issue_user_tokens(
        &mut self,
        open_id: &str,
        scope: &str,
        family: u64,
        config: &EmulatorConfig,
        now: u64,
    ) -> Response {
        let access = self.issue_access("act.", config.access_ttl_secs, family, now);
        let refresh = random_token("rft.");
        self.refresh.insert(
            refresh.clone(),
            RefreshGrant {
                open_id: open_id.to_owned(),
                scope: scope.to_owned(),
                expires_at: now + config.refresh_ttl_secs,
                family,
            },
        );
        token_answer(open_id, scope, &access, &refresh, config)
    }
}

/// `POST /v2/oauth/token/`: the three grants.
async fn token(State(e): State<Emulator>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match app_form(&e, "token", &headers, &body).await {
        Ok(form) => form,
        Err(answer) => return answer,
    };
    let param = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let config = &e.0.config;
    let grant_type = param("grant_type");
    e.count(&format!("token:{grant_type}"));
    let now = now();
    let mut grants = lock(&e.0.grants);
    match grant_type {
        "authorization_code" => {
            // Single use: taken out whether or not it is then accepted.
            let Some(code) = grants.codes.remove(param("code")) else {
                return invalid_grant("the code is invalid or was already used");
            };
            if code.expires_at <= now || code.client_key != config.client_key {
                return invalid_grant("the code has expired");
            }
            if code.redirect_uri != param("redirect_uri") {
                return invalid_grant("redirect_uri does not match");
            }
            if let Some(challenge) = &code.challenge {
                let verifier = param("code_verifier");
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(Sha256::digest(verifier.as_bytes()));
                if verifier.is_empty() || &computed != challenge {
                    return invalid_grant("code_verifier does not match");
                }
            }
            grants.next_family += 1;
            let family = grants.next_family;
            grants.issue_user_tokens(&code.open_id, &code.scope, family, config, now)
        }
        "refresh_token" => {
            // Rotation: the presented token is retired the moment it is used.
            let presented = grants.refresh.remove(param("refresh_token"));
            let Some(old) = presented.filter(|g| g.expires_at > now) else {
                drop(grants);
                lock(&e.0.counters).stats.refresh_refused += 1;
                return invalid_grant("the refresh token is invalid, expired or was already used");
            };
            let answer =
                grants.issue_user_tokens(&old.open_id, &old.scope, old.family, config, now);
            drop(grants);
            lock(&e.0.counters).stats.refresh_rotated += 1;
            answer
        }
        "client_credentials" => {
            let access = grants.issue_access("clt.", config.client_ttl_secs, 0, now);
            Json(json!({"access_token": access, "expires_in": config.client_ttl_secs, "token_type": "Bearer"}))
                .into_response()
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "unknown grant_type",
        ),
    }
}

/// `POST /v2/oauth/revoke/`: the access token and its grant's refresh token stop working.
async fn revoke(State(e): State<Emulator>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match app_form(&e, "revoke", &headers, &body).await {
        Ok(form) => form,
        Err(answer) => return answer,
    };
    let token = form.get("token").map(String::as_str).unwrap_or_default();
    let mut grants = lock(&e.0.grants);
    if let Some(family) = grants.access.get_mut(token).map(|g| {
        g.revoked = true;
        g.family
    }) {
        if family != 0 {
            grants.refresh.retain(|_, g| g.family != family);
            for grant in grants.access.values_mut().filter(|g| g.family == family) {
                grant.revoked = true;
            }
        }
    }
    Json(json!({})).into_response()
}

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Shop,
    Product,
    Review,
}

fn invalid_params(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(envelope_error("invalid_params", message)),
    )
        .into_response()
}

fn ok(data: Value) -> Response {
    Json(json!({"data": data, "error": {"code": "ok", "message": "", "log_id": log_id()}}))
        .into_response()
}

/// A u64 given as a JSON number or a string of digits.
fn id_of(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `(page_start, page_size)`, checked as TikTok does.
fn paging(body: &Value) -> Result<(usize, usize), &'static str> {
    let start = match &body["page_start"] {
        Value::Null => 1,
        v => v
            .as_u64()
            .filter(|s| *s >= 1)
            .ok_or("page_start must be >= 1")?,
    };
    let size = match &body["page_size"] {
        Value::Null => 10,
        v => v
            .as_u64()
            .filter(|s| (1..=10).contains(s))
            .ok_or("page_size must be 1-10")?,
    };
    Ok((start as usize, size as usize))
}

/// The three Research API endpoints.
async fn research(
    State(e): State<Emulator>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
    endpoint: Endpoint,
) -> Response {
    let name = match endpoint {
        Endpoint::Shop => "shop",
        Endpoint::Product => "product",
        Endpoint::Review => "review",
    };
    e.count(name);
    if let Some(injected) = e.inject_latency_and_faults(false).await {
        return injected;
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let valid = lock(&e.0.grants)
        .access
        .get(token)
        .is_some_and(|g| !g.revoked && g.expires_at > now());
    if !valid {
        return (
            StatusCode::UNAUTHORIZED,
            Json(envelope_error(
                "access_token_invalid",
                "The access token is invalid or not found in the request.",
            )),
        )
            .into_response();
    }
    let allowed = match endpoint {
        Endpoint::Shop => catalogue::field_names(catalogue::SHOP_FIELDS),
        Endpoint::Product => catalogue::field_names(catalogue::PRODUCT_FIELDS),
        Endpoint::Review => catalogue::field_names(catalogue::REVIEW_FIELDS),
    };
    let fields: Vec<String> = query
        .get("fields")
        .map(|f| {
            f.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if fields.is_empty() {
        return invalid_params("fields is required");
    }
    if let Some(unknown) = fields.iter().find(|f| !allowed.contains(&f.as_str())) {
        return invalid_params(&format!("unknown field {unknown}"));
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return invalid_params("the body must be JSON");
    };
    let shops = &e.0.shops;
    match endpoint {
        Endpoint::Shop => {
            let Some(wanted) = body["shop_name"]
                .as_str()
                .map(str::to_lowercase)
                .filter(|n| !n.trim().is_empty())
            else {
                return invalid_params("shop_name is required");
            };
            let limit = match &body["limit"] {
                Value::Null => 10,
                v => match v.as_u64().filter(|l| (1..=10).contains(l)) {
                    Some(l) => l as usize,
                    None => return invalid_params("limit must be 1-10"),
                },
            };
            let found: Vec<Value> = shops
                .iter()
                .filter(|s| s.name.to_lowercase().contains(wanted.trim()))
                .take(limit)
                .map(|s| s.to_json(&fields))
                .collect();
            ok(json!({ "shop_data": found }))
        }
        Endpoint::Product => {
            let Some(shop_id) = id_of(&body["shop_id"]) else {
                return invalid_params("shop_id is required");
            };
            let (start, size) = match paging(&body) {
                Ok(p) => p,
                Err(message) => return invalid_params(message),
            };
            let products: &[catalogue::Product] = shops
                .iter()
                .find(|s| s.id == shop_id)
                .map_or(&[], |s| &s.products);
            let from = (start - 1).saturating_mul(size);
            let page: Vec<Value> = products
                .iter()
                .skip(from)
                .take(size)
                .map(|p| p.to_json(&fields))
                .collect();
            let has_more = from.saturating_add(size) < products.len();
            ok(json!({ "product_data": page, "has_more": has_more, "total": products.len() }))
        }
        Endpoint::Review => {
            let Some(product_id) = id_of(&body["product_id"]) else {
                return invalid_params("product_id is required");
            };
            let (start, size) = match paging(&body) {
                Ok(p) => p,
                Err(message) => return invalid_params(message),
            };
            let product = shops
                .iter()
                .flat_map(|s| &s.products)
                .find(|p| p.id == product_id);
            let reviews: &[catalogue::Review] = product.map_or(&[], |p| &p.reviews);
            let from = (start - 1).saturating_mul(size);
            let page: Vec<Value> = match product {
                Some(p) => reviews
                    .iter()
                    .skip(from)
                    .take(size)
                    .map(|r| r.to_json(p, &fields))
                    .collect(),
                None => Vec::new(),
            };
            ok(
                json!({ "review_data": page, "has_more": from.saturating_add(size) < reviews.len() }),
            )
        }
    }
}
