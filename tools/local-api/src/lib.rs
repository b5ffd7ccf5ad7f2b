//! The whole API on localhost, for trying it by hand and for end-to-end tests.
//!
//! A small stand-in for API Gateway: it routes like `template.yaml` (a test checks
//! they agree), authenticates a local user (`Authorization: Bearer local:<user>`)
//! and hands each function's handler the same HTTP API v2 event API Gateway
//! would, claims in `requestContext.authorizer.jwt.claims`, and answers CORS for
//! the demo site's origin as the template's CORS configuration does. The
//! handlers run in-process, unchanged: no production code path knows it is local.
//!
//! As deployed, the site and the API are on different sites: the API listens on
//! `http://127.0.0.1:<port>`, the demo page on `http://localhost:<page port>`.
//! Both refuse a request whose `Host` is not their own address (DNS rebinding:
//! a web page must not be able to drive a local stack that may hold real TikTok
//! credentials).
//!
//! By default it embeds the TikTok emulator and the in-memory store, so it needs
//! nothing else; options switch to a DynamoDB endpoint and to real TikTok.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body as AxumBody;
use axum::extract::State;
use axum::http::{HeaderValue, Request as AxumRequest, StatusCode};
use axum::response::{Html, IntoResponse, Response as AxumResponse};
use base64::Engine;
use lambda_http::Body;
use secrecy::SecretString;
use tiktok_gateway::app_secrets::StaticSecret;
use tiktok_gateway::boot;
use tiktok_gateway::clock::system_clock;
use tiktok_gateway::store::TableLayout;
use tiktok_gateway::{AppState, Config, DynamoStore, MemoryStore, Secrets, TokenStore};

/// The functions behind the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `login-redirect`
    LoginRedirect,
    /// `oauth-callback`
    OAuthCallback,
    /// `oauth-complete`
    OAuthComplete,
    /// `disconnect`
    Disconnect,
    /// `connection-status`
    ConnectionStatus,
    /// `search`
    Search,
    /// `shop-lookup`
    ShopLookup,
    /// `product-lookup`
    ProductLookup,
    /// `tiktok-shop-webhook`
    TikTokShopWebhook,
}

/// One API route, as `template.yaml` declares it.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path, with `{param}` segments.
    pub path: &'static str,
    /// The function it invokes.
    pub function: Function,
    /// Whether the JWT authorizer guards it.
    pub authorizer: bool,
}

/// Every route of the API.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/auth/tiktok/login",
        function: Function::LoginRedirect,
        authorizer: true,
    },
    Route {
        method: "GET",
        path: "/auth/tiktok/callback",
        function: Function::OAuthCallback,
        authorizer: false,
    },
    Route {
        method: "POST",
        path: "/auth/tiktok/complete",
        function: Function::OAuthComplete,
        authorizer: true,
    },
    Route {
        method: "POST",
        path: "/auth/tiktok/disconnect",
        function: Function::Disconnect,
        authorizer: true,
    },
    Route {
        method: "GET",
        path: "/auth/tiktok/status",
        function: Function::ConnectionStatus,
        authorizer: true,
    },
    Route {
        method: "GET",
        path: "/api/tiktok/search",
        function: Function::Search,
        authorizer: true,
    },
    Route {
        method: "GET",
        path: "/api/tiktok/shops",
        function: Function::ShopLookup,
        authorizer: true,
    },
    Route {
        method: "GET",
        path: "/api/tiktok/products/{productId}",
        function: Function::ProductLookup,
        authorizer: true,
    },
    Route {
        method: "POST",
        path: "/webhooks/tiktok-shop",
        function: Function::TikTokShopWebhook,
        authorizer: false,
    },
];

/// Matches a request to a route and its path parameters.
pub fn route(method: &str, path: &str) -> Option<(&'static Route, HashMap<String, String>)> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    ROUTES.iter().find_map(|route| {
        if route.method != method {
            return None;
        }
        let pattern: Vec<&str> = route.path.split('/').collect();
        if pattern.len() != segments.len() {
            return None;
        }
        let mut params = HashMap::new();
        for (p, s) in pattern.iter().zip(&segments) {
            match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !s.is_empty() => {
                    params.insert(name.to_owned(), percent_decode(s));
                }
                Some(_) => return None,
                None if p == s => {}
                None => return None,
            }
        }
        Some((route, params))
    })
}

fn percent_decode(s: &str) -> String {
    url_decode(s.as_bytes())
}

fn url_decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The local user a request authenticates as: `Authorization: Bearer local:<user>`.
fn local_user(req: &AxumRequest<AxumBody>) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let user = value.strip_prefix("Bearer local:")?.trim();
    (!user.is_empty() && user.len() <= 128).then(|| user.to_owned())
}

/// Builds the API Gateway HTTP API v2 event for `req`, as API Gateway would.
pub fn to_event(
    req: &AxumRequest<AxumBody>,
    body: &[u8],
    route: &Route,
    path_params: &HashMap<String, String>,
    user: Option<&str>,
    request_id: &str,
) -> serde_json::Value {
    let headers: Vec<(&str, &str)> = req
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let path_parameters: Vec<(&str, &str)> = path_params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let route_key = format!("{} {}", route.method, route.path);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    apigw_event::HttpEvent {
        method: route.method,
        path: req.uri().path(),
        raw_query: req.uri().query().unwrap_or(""),
        route_key: &route_key,
        headers: &headers,
        path_parameters: &path_parameters,
        user: user.filter(|_| route.authorizer),
        issuer: "local-api",
        audience: "local",
        request_id,
        domain: "localhost",
        source_ip: "127.0.0.1",
        time_epoch_ms: now,
        body: Some(body),
    }
    .to_json()
}

/// The running local stack.
pub struct LocalStack {
    /// The API: `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The demo site, on another site than the API: `http://localhost:<page port>`.
    pub page_url: String,
    /// The handlers' state (store, config, ...).
    pub state: AppState,
    /// The embedded emulator, when used.
    pub emulator: Option<tiktok_emulator::RunningEmulator>,
}

/// Where data lives and who plays TikTok.
#[derive(Debug, Clone)]
pub struct Options {
    /// Port of the API (0: any free port).
    pub port: u16,
    /// Port of the demo page, served as `http://localhost:<port>` (0: any free
    /// port; `None`: the API's port + 1, or any free port when that is 0).
    pub page_port: Option<u16>,
    /// DynamoDB endpoint (e.g. moto or DynamoDB Local); the in-memory store when `None`.
    pub dynamodb_endpoint: Option<String>,
    /// Table name with `dynamodb_endpoint` (created when missing).
    pub table: String,
    /// Use real TikTok (URLs from `TIKTOK_*` env, credentials from this secret JSON file).
    pub real_tiktok_secret_file: Option<String>,
    /// Emulator access-token lifetime (short makes the refresher visible).
    pub emulator_access_ttl: u64,
    /// How often the refresher runs on its own (`None`: only when asked).
    pub refresh_every: Option<Duration>,
    /// `user` or `app`.
    pub token_mode: String,
    /// `research` or `shop` (`TIKTOK_PROVIDER`).
    pub provider: String,
    /// SQS endpoint (moto): the refresher hands surplus work to a queue there
    /// and in-process workers consume it, as in AWS; no fan-out when `None`.
    pub sqs_endpoint: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            port: 3000,
            page_port: None,
            dynamodb_endpoint: None,
            table: "dshipit-local".into(),
            real_tiktok_secret_file: None,
            emulator_access_ttl: 300,
            refresh_every: Some(Duration::from_secs(60)),
            token_mode: "user".into(),
            provider: "research".into(),
            sqs_endpoint: None,
        }
    }
}

/// Starts the stack and serves until the process ends.
pub async fn start(options: Options) -> std::io::Result<LocalStack> {
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port))).await?;
    let api_port = listener.local_addr()?.port();
    let base_url = format!("http://127.0.0.1:{api_port}");
    let page_listener = tokio::net::TcpListener::bind(SocketAddr::from((
        [127, 0, 0, 1],
        options
            .page_port
            .unwrap_or(if options.port == 0 { 0 } else { api_port + 1 }),
    )))
    .await?;
    let page_port = page_listener.local_addr()?.port();
    let page_url = format!("http://localhost:{page_port}");

    let token_key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    let (emulator, tiktok_vars, secret_json) = match &options.real_tiktok_secret_file {
        Some(file) => (None, Vec::new(), std::fs::read_to_string(file)?),
        None => {
            let callback = format!("{base_url}/auth/tiktok/callback");
            let config = tiktok_emulator::EmulatorConfig {
                redirect_uris: vec![callback.clone()],
                access_ttl_secs: options.emulator_access_ttl,
                partner: tiktok_emulator::partner::PartnerConfig {
                    redirect_uri: callback,
                    access_ttl_secs: options.emulator_access_ttl,
                    ..Default::default()
                },
                ..Default::default()
            };
            let secret = serde_json::json!({
                "client_key": config.client_key,
                "client_secret": config.client_secret,
                "app_key": config.partner.app_key,
                "app_secret": config.partner.app_secret,
                "token_keys": {"local": token_key},
                "active_token_key": "local",
            })
            .to_string();
            let service_id = config.partner.service_id.clone();
            let running = tiktok_emulator::Emulator::spawn(config).await?;
            let tiktok = running.base_url.clone();
            let vars = vec![
                (
                    "TIKTOK_AUTHORIZE_URL",
                    format!("{tiktok}/v2/auth/authorize/"),
                ),
                ("TIKTOK_TOKEN_URL", format!("{tiktok}/v2/oauth/token/")),
                ("TIKTOK_REVOKE_URL", format!("{tiktok}/v2/oauth/revoke/")),
                (
                    "TIKTOK_SHOP_AUTHORIZE_URL",
                    format!("{tiktok}/open/authorize"),
                ),
                (
                    "TIKTOK_CREATOR_AUTHORIZE_URL",
                    format!("{tiktok}/alliance/creator/auth"),
                ),
                (
                    "TIKTOK_SHOP_TOKEN_URL",
                    format!("{tiktok}/api/v2/token/get"),
                ),
                (
                    "TIKTOK_SHOP_REFRESH_URL",
                    format!("{tiktok}/api/v2/token/refresh"),
                ),
                ("TIKTOK_SHOP_API_BASE_URL", tiktok.clone()),
                ("TIKTOK_SHOP_SERVICE_ID", service_id),
                ("TIKTOK_API_BASE_URL", tiktok),
            ];
            (Some(running), vars, secret)
        }
    };

    let mut vars: HashMap<&str, String> = HashMap::from([
        ("TABLE_NAME", options.table.clone()),
        ("SECRET_ID", "local".to_owned()),
        (
            "TIKTOK_REDIRECT_URI",
            format!("{base_url}/auth/tiktok/callback"),
        ),
        ("DEFAULT_RETURN_URL", format!("{page_url}/")),
        ("ALLOWED_RETURN_ORIGINS", page_url.clone()),
        ("DATA_TOKEN_MODE", options.token_mode.clone()),
        ("TIKTOK_PROVIDER", options.provider.clone()),
        (
            "TIKTOK_SCOPES",
            "user.info.basic,research.data.basic".to_owned(),
        ),
    ]);
    vars.extend(tiktok_vars);
    // Trying things by hand (and the generated-request test) makes many calls as
    // one user against the emulator: no daily budget unless one is asked for.
    if std::env::var("USER_DAILY_UPSTREAM_CALLS").is_err() {
        vars.insert("USER_DAILY_UPSTREAM_CALLS", "1000000".to_owned());
    }
    if std::env::var("APP_DAILY_UPSTREAM_CALLS").is_err() {
        vars.insert("APP_DAILY_UPSTREAM_CALLS", "1000000000".to_owned());
    }
    let config =
        Config::from_lookup(|name| vars.get(name).cloned().or_else(|| std::env::var(name).ok()))
            .map_err(std::io::Error::other)?;
    let secrets = Arc::new(Secrets::new(
        Arc::new(StaticSecret(SecretString::from(secret_json))),
        config.secret_cache_ttl,
    ));
    let store: Arc<dyn TokenStore> = match &options.dynamodb_endpoint {
        None => Arc::new(MemoryStore::new(config.due_shards)),
        Some(endpoint) => {
            let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(endpoint)
                .load()
                .await;
            let client = aws_sdk_dynamodb::Client::new(&aws);
            tiktok_gateway::store::create_table(&client, &options.table)
                .await
                .map_err(std::io::Error::other)?;
            Arc::new(DynamoStore::new(
                client,
                TableLayout {
                    table: options.table.clone(),
                    due_shards: config.due_shards,
                },
                secrets.clone(),
            ))
        }
    };
    let state =
        boot::assemble(config, store, secrets, system_clock()).map_err(std::io::Error::other)?;
    let queue = match &options.sqs_endpoint {
        None => None,
        Some(endpoint) => Some(refresh_workers(&state, endpoint).await?),
    };

    if let Some(every) = options.refresh_every {
        let state = state.clone();
        let queue = queue.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                let run = token_refresher::run_with(&state, queue.as_deref(), deadline);
                if let Err(error) = run.await {
                    tracing::warn!(%error, "scheduled refresher run failed");
                }
            }
        });
    }

    let refresher = token_refresher::Refresher {
        state: state.clone(),
        queue,
    };
    let gateway_state = Gateway {
        state: state.clone(),
        site_origin: page_url.clone(),
        page_url: page_url.clone(),
    };
    let app = axum::Router::new()
        .route("/", axum::routing::get(to_page))
        .route(
            "/__local/refresher/run",
            axum::routing::post(run_refresher).with_state(refresher),
        )
        .route("/__local/cookie-probe", axum::routing::get(cookie_probe))
        .fallback(gateway)
        .layer(axum::middleware::from_fn_with_state(
            gateway_state.clone(),
            cors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            own_hosts(api_port),
            host_guard,
        ))
        .with_state(gateway_state);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "local API stopped");
        }
    });
    let page = PAGE
        .replace("__API_BASE__", &base_url)
        .replace("__PROVIDER__", &options.provider);
    let site = axum::Router::new()
        .route("/", axum::routing::get(move || async move { Html(page) }))
        .layer(axum::middleware::from_fn_with_state(
            own_hosts(page_port),
            host_guard,
        ));
    tokio::spawn(async move {
        if let Err(error) = axum::serve(page_listener, site).await {
            tracing::error!(%error, "local demo site stopped");
        }
    });
    Ok(LocalStack {
        base_url,
        page_url,
        state,
        emulator,
    })
}

/// What the API's routes share.
#[derive(Clone)]
struct Gateway {
    state: AppState,
    /// The one origin CORS allows (the demo site's).
    site_origin: String,
    page_url: String,
}

/// The `Host` values a listener on 127.0.0.1:`port` answers to.
fn own_hosts(port: u16) -> Arc<Vec<String>> {
    Arc::new(
        ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .map(|host| format!("{host}:{port}"))
            .collect(),
    )
}

/// Refuses a request whose `Host` is not this listener's own address: a page on
/// `evil.example` that rebinds its name to 127.0.0.1 still sends
/// `Host: evil.example:<port>`.
async fn host_guard(
    State(hosts): State<Arc<Vec<String>>>,
    req: AxumRequest<AxumBody>,
    next: axum::middleware::Next,
) -> AxumResponse {
    let host = req
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if hosts.contains(&host) {
        next.run(req).await
    } else {
        (
            StatusCode::MISDIRECTED_REQUEST,
            axum::Json(
                serde_json::json!({"message": "this local stack answers only to its own address"}),
            ),
        )
            .into_response()
    }
}

/// What a preflight from the site's origin is told it may do.
const PREFLIGHT_HEADERS: [(&str, &str); 3] = [
    ("access-control-allow-methods", "GET,POST,OPTIONS"),
    (
        "access-control-allow-headers",
        "authorization,content-type,accept",
    ),
    ("access-control-max-age", "600"),
];

/// What every answer to the site's origin carries beside the origin itself.
const CREDENTIALED_HEADERS: [(&str, &str); 2] = [
    ("access-control-allow-credentials", "true"),
    ("access-control-expose-headers", "retry-after"),
];

/// Sets each `(name, value)` of `pairs` on `headers`.
fn insert_static(headers: &mut axum::http::HeaderMap, pairs: &[(&'static str, &'static str)]) {
    for (name, value) in pairs {
        headers.insert(*name, HeaderValue::from_static(value));
    }
}

/// CORS as `template.yaml` configures it (`x-amazon-apigateway-cors`): the site's
/// origin only, with credentials; preflights answered before any route (and
/// before the authorizer), as API Gateway does.
async fn cors(
    State(gateway): State<Gateway>,
    req: AxumRequest<AxumBody>,
    next: axum::middleware::Next,
) -> AxumResponse {
    let origin = req
        .headers()
        .get(axum::http::header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| *o == gateway.site_origin)
        .map(str::to_owned);
    let preflight = req.method() == axum::http::Method::OPTIONS
        && req
            .headers()
            .contains_key(axum::http::header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut r = StatusCode::NO_CONTENT.into_response();
        if origin.is_some() {
            insert_static(r.headers_mut(), &PREFLIGHT_HEADERS);
        }
        r
    } else {
        next.run(req).await
    };
    if let Some(origin) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        let h = response.headers_mut();
        h.insert("access-control-allow-origin", origin);
        insert_static(h, &CREDENTIALED_HEADERS);
        h.append("vary", HeaderValue::from_static("origin"));
    }
    response
}

/// The API's own `/` sends a person to the demo site.
async fn to_page(State(gateway): State<Gateway>) -> AxumResponse {
    axum::response::Redirect::temporary(&format!("{}/", gateway.page_url)).into_response()
}

/// For the browser test: whether the browser sent back the cookie this route
/// set (`SameSite=None; Secure`, the only kind a cross-site request could
/// carry). With third-party cookies blocked it never comes back.
async fn cookie_probe(req: AxumRequest<AxumBody>) -> AxumResponse {
    let sent = req
        .headers()
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(';').any(|c| c.trim() == "probe=1"));
    let mut response = axum::Json(serde_json::json!({ "cookieSentBack": sent })).into_response();
    response.headers_mut().insert(
        axum::http::header::SET_COOKIE,
        HeaderValue::from_static("probe=1; Path=/; SameSite=None; Secure"),
    );
    response
}

/// The demo page: it uses only the public API routes, from another site.
pub const PAGE: &str = include_str!("page.html");

/// The refresh queue on `endpoint` (created as the template defines it) and
/// `REFRESH_WORKER_CONCURRENCY` in-process workers polling it, each with its
/// own container state at its share of the refresh rate, as Lambda's SQS event
/// source would run them.
async fn refresh_workers(
    state: &AppState,
    endpoint: &str,
) -> std::io::Result<Arc<dyn tiktok_gateway::queue::RefreshQueue>> {
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .load()
        .await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (url, _) = tiktok_gateway::queue::create_queue(&sqs, "dshipit-local-refresh", 60)
        .await
        .map_err(std::io::Error::other)?;
    for _ in 0..state.config.refresher.worker_concurrency.get() {
        let mut config = (*state.config).clone();
        config.tiktok.rate_per_sec = config.refresher.worker_rate();
        let worker = boot::assemble(
            config,
            state.store.clone(),
            state.secrets.clone(),
            state.clock().clone(),
        )
        .map_err(std::io::Error::other)?;
        let source =
            token_refresh_worker::event_source::EventSource::new(sqs.clone(), url.clone(), 5);
        tokio::spawn(async move {
            loop {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                // Short polls: moto serves one request at a time.
                match source.poll_once(&worker, 0, deadline).await {
                    Ok(polled) if polled.received > 0 => continue,
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "refresh queue poll failed"),
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }
    Ok(Arc::new(tiktok_gateway::queue::SqsQueue::lazy(&aws, url)))
}

/// The header a control route needs: a cross-site "simple" request (a form
/// post, `fetch` with `no-cors`) cannot carry a custom header, and one that
/// tries is preflighted, which the stack answers only for the demo page.
pub const LOCAL_CONTROL_HEADER: &str = "x-local-control";

async fn run_refresher(
    State(refresher): State<token_refresher::Refresher>,
    headers: axum::http::HeaderMap,
) -> AxumResponse {
    if headers
        .get(LOCAL_CONTROL_HEADER)
        .is_none_or(|v| v.as_bytes() != b"1")
    {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({
                "message": "control routes need the header `X-Local-Control: 1`"
            })),
        )
            .into_response();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    match token_refresher::run_with(&refresher.state, refresher.queue.as_deref(), deadline).await {
        Ok(summary) => axum::Json(summary).into_response(),
        Err(error) => (
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            error.public_message(),
        )
            .into_response(),
    }
}

async fn gateway(
    State(Gateway { state, .. }): State<Gateway>,
    req: AxumRequest<AxumBody>,
) -> AxumResponse {
    let Some((route, params)) = route(req.method().as_str(), req.uri().path()) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"message": "Not Found"})),
        )
            .into_response();
    };
    let user = local_user(&req);
    if route.authorizer && user.is_none() {
        // What API Gateway's JWT authorizer answers, before any function runs.
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"message": "Unauthorized"})),
        )
            .into_response();
    }
    let request_id = format!("local-{:016x}", rand::random::<u64>());
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let req = AxumRequest::from_parts(parts, AxumBody::empty());
    let event = to_event(&req, &body, route, &params, user.as_deref(), &request_id);
    let lambda_req = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(error) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response()
        }
    };
    let result = match route.function {
        Function::LoginRedirect => login_redirect::handler(&state, lambda_req).await,
        Function::OAuthCallback => oauth_callback::handler(&state, lambda_req).await,
        Function::OAuthComplete => oauth_complete::handler(&state, lambda_req).await,
        Function::Disconnect => disconnect::handler(&state, lambda_req).await,
        Function::ConnectionStatus => connection_status::handler(&state, lambda_req).await,
        Function::Search => search::handler(&state, lambda_req).await,
        Function::ShopLookup => shop_lookup::handler(&state, lambda_req).await,
        Function::ProductLookup => product_lookup::handler(&state, lambda_req).await,
        Function::TikTokShopWebhook => tiktok_shop_webhook::handler(&state, lambda_req).await,
    };
    match result {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let bytes = match body {
                Body::Empty => bytes::Bytes::new(),
                Body::Text(t) => bytes::Bytes::from(t),
                Body::Binary(b) => bytes::Bytes::from(b),
                _ => bytes::Bytes::new(),
            };
            let mut out = AxumResponse::new(AxumBody::from(bytes));
            *out.status_mut() = parts.status;
            *out.headers_mut() = parts.headers;
            out.headers_mut().insert(
                "x-request-id",
                HeaderValue::from_str(&request_id).unwrap_or(HeaderValue::from_static("-")),
            );
            out
        }
        // What Lambda's failed invocation looks like through API Gateway.
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(serde_json::json!({"message": "Internal Server Error"})),
        )
            .into_response(),
    }
}
