//! Warm requests, in-process: the data handlers called again and again on a
//! state that already served, against the emulator (no added latency), with the
//! memory store and with DynamoDB (moto). Handler latency is compared with the
//! same upstream calls made directly, and every AWS call is counted.

use std::sync::Arc;
use std::time::Duration;

use tiktok_gateway::boot;
use tiktok_gateway::tiktok::{PRODUCT_FIELDS, REVIEW_FIELDS, SHOP_FIELDS};
use tiktok_gateway::AppState;
use tokio::time::Instant;

use crate::cold_start::summarize_calls;
use crate::counting::{CountingStore, StoreCalls};
use crate::report::{ms, Samples, Section, Sink, Table, Target};
use crate::setup::{self, Moto, Res, SHOP_ID};

const USER: &str = "bench-warm-user";
const SEARCH_QUERY: &str = "mug";
const SHOP_NAME: &str = "sunny";
/// Requests per route in the pass that records wire-level AWS calls.
const RECORDED: usize = 20;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Search,
    ShopLookup,
    ProductLookup,
}

impl Route {
    const ALL: [Route; 3] = [Route::Search, Route::ShopLookup, Route::ProductLookup];

    fn name(self) -> &'static str {
        match self {
            Route::Search => "search",
            Route::ShopLookup => "shop-lookup",
            Route::ProductLookup => "product-lookup",
        }
    }

    /// The emulator endpoint the route calls.
    fn endpoint(self) -> &'static str {
        match self {
            Route::Search => "product",
            Route::ShopLookup => "shop",
            Route::ProductLookup => "review",
        }
    }

    fn request(self, user: &str, product_id: &str) -> lambda_http::Request {
        let user = Some(user);
        let accept = [("accept", "application/json")];
        match self {
            Route::Search => test_support::api_event(
                "GET",
                "/api/tiktok/search",
                &[("shopId", SHOP_ID), ("query", SEARCH_QUERY)],
                user,
                &accept,
            ),
            Route::ShopLookup => test_support::api_event(
                "GET",
                "/api/tiktok/shops",
                &[("name", SHOP_NAME)],
                user,
                &accept,
            ),
            Route::ProductLookup => test_support::api_event(
                "GET",
                &format!("/api/tiktok/products/{product_id}"),
                &[("shopId", SHOP_ID)],
                user,
                &accept,
            ),
        }
    }

    async fn call(self, state: &AppState, req: lambda_http::Request) -> Res<(u16, String)> {
        let response = match self {
            Route::Search => search::handler(state, req).await,
            Route::ShopLookup => shop_lookup::handler(state, req).await,
            Route::ProductLookup => product_lookup::handler(state, req).await,
        }
        .map_err(|e| e.to_string())?;
        Ok(setup::status_and_body(response))
    }
}

struct Backend {
    name: &'static str,
    state: AppState,
    counting: Arc<CountingStore>,
}

/// `state` wired again over a counting view of its store.
fn counted(state: AppState) -> (AppState, Arc<CountingStore>) {
    let counting = Arc::new(CountingStore::new(state.store.clone()));
    let state = boot::assemble(
        (*state.config).clone(),
        counting.clone(),
        state.secrets.clone(),
        state.clock().clone(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (state, counting)
}

struct RouteResult {
    handler: Samples,
    upstream: Samples,
    upstream_calls: f64,
    store: StoreCalls,
    secret_fetches: u64,
    wire: Option<Vec<String>>,
}

/// The warm benchmark.
pub async fn run(iterations: usize, sink: &Sink) -> Res<Section> {
    let mut section = Section::new("Warm requests (in-process)");
    let running = setup::emulator(Default::default()).await?;
    let emulator = running.emulator.clone();
    let secret_json = setup::secret_json(emulator.config());
    // The per-container upstream rate limit would space these sequential calls
    // (50/s by default); it is raised so the handler's own cost is measured.
    let extra = [("UPSTREAM_RATE_PER_SEC", "1000000".to_owned())];
    let moto = Moto::setup(&secret_json).await?;

    let mut backends = Vec::new();
    let vars = setup::app_vars(&running.base_url, "unused", "unused", &extra);
    let (state, counting) = counted(setup::memory_state(
        setup::config(&vars)?,
        secret_json.clone(),
    )?);
    backends.push(Backend {
        name: "memory store",
        state,
        counting,
    });
    if let Some(m) = &moto {
        let vars = setup::app_vars(&running.base_url, &m.table, &m.secret_arn, &extra);
        let state = boot::from_aws(setup::config(&vars)?, &m.aws).map_err(|e| e.to_string())?;
        let (state, counting) = counted(state);
        backends.push(Backend {
            name: "DynamoDB (moto)",
            state,
            counting,
        });
    }

    let http = reqwest::Client::new();
    let warmup = (iterations / 10).clamp(10, 200);
    let mut table = route_table();
    for backend in &backends {
        setup::connect_user(&backend.state, &emulator, USER).await?;
        let product_id = first_product(&backend.state).await?;
        let token = backend
            .state
            .store
            .get_connection(USER)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the user is not connected")?
            .tokens
            .access_token
            .expose()
            .to_owned();
        let wire = match (&moto, backend.name) {
            (Some(m), "DynamoDB (moto)") => {
                Some(record_wire_calls(m, &running.base_url, &extra, &emulator, &product_id).await?)
            }
            _ => None,
        };
        for route in Route::ALL {
            for _ in 0..warmup {
                route
                    .call(&backend.state, route.request(USER, &product_id))
                    .await?;
            }
            let store_before = backend.counting.calls();
            let secrets_before = backend.state.secrets.fetch_count();
            let emulator_before = emulator.stats().count(route.endpoint());
            let mut latencies = Vec::with_capacity(iterations);
            for _ in 0..iterations {
                let req = route.request(USER, &product_id);
                let started = Instant::now();
                let (status, body) = route.call(&backend.state, req).await?;
                latencies.push(started.elapsed());
                if status != 200 {
                    return Err(format!("{} answered {status}: {body}", route.name()));
                }
            }
            let upstream_calls = (emulator.stats().count(route.endpoint()) - emulator_before)
                as f64
                / iterations as f64;
            let store = backend.counting.calls().since(&store_before);
            let secret_fetches = backend.state.secrets.fetch_count() - secrets_before;
            let upstream = direct_upstream(
                &http,
                &running.base_url,
                &token,
                route,
                upstream_calls.round().max(1.0) as u32,
                &product_id,
                iterations,
            )
            .await?;
            let result = RouteResult {
                handler: Samples::from_durations(&latencies),
                upstream,
                upstream_calls,
                store,
                secret_fetches,
                wire: wire.as_ref().map(|w| {
                    w.iter()
                        .find(|(r, _)| *r == route.name())
                        .map(|(_, c)| c.clone())
                        .unwrap_or_default()
                }),
            };
            report_route(
                &mut section,
                &mut table,
                sink,
                backend.name,
                route,
                iterations,
                &result,
            );
        }
    }
    section.push(format!(
        "{iterations} requests per route after {warmup} warm-up requests, one at a time; TikTok is the in-process emulator with no added latency, \
         `UPSTREAM_RATE_PER_SEC=1000000` so the rate limiter does not space the calls. Routes: search `shopId={SHOP_ID}&query={SEARCH_QUERY}` \
         (page size 10: it reads listing pages until 10 mugs match), shop lookup `name={SHOP_NAME}`, product lookup of a product the search cached. \
         *Upstream* is the same emulator calls (same endpoint, pages and token) made directly with a reqwest client, {iterations} times; \
         overhead = handler − upstream at the same percentile. Store reads/writes count calls on the `TokenStore` port (a counting decorator); \
         Secrets Manager counts `Secrets::fetch_count`; the last column is the DynamoDB/Secrets Manager API calls recorded by a proxy in front of moto \
         over {RECORDED} further requests per route.{}",
        if moto.is_none() { " DynamoDB: skipped, MOTO_ENDPOINT is not set." } else { "" }
    ));
    section.push(table.render());
    section.push(shop_search(&running, iterations, warmup, sink).await?);
    section.push(creator_search(&running, iterations, warmup, sink).await?);
    Ok(section)
}

/// The seller shop the shop-mode search reads (120 products, every tenth a mug).
const PARTNER_SHOP: &str = tiktok_emulator::partner::SHOPS[0].id;

/// `TIKTOK_PROVIDER=shop`: warm search against the emulator's Partner API on
/// the memory store, compared with the same signed Search Products call made
/// directly with the gateway's `ShopClient`.
async fn shop_search(
    running: &tiktok_emulator::RunningEmulator,
    iterations: usize,
    warmup: usize,
    sink: &Sink,
) -> Res<String> {
    use tiktok_gateway::tiktok::shop::{ShopClient, MAX_SEARCH_PAGE_SIZE};
    use tiktok_gateway::tiktok::AppCredentials;
    use tiktok_gateway::{AuthCode, ClientSecret, TikTokClient};

    let base = &running.base_url;
    let partner = running.emulator.partner().config().clone();
    let mut vars = setup::app_vars(base, "unused", "unused", &[]);
    vars.extend([
        ("UPSTREAM_RATE_PER_SEC", "1000000".to_owned()),
        ("TIKTOK_PROVIDER", "shop".to_owned()),
        ("TIKTOK_SHOP_SERVICE_ID", partner.service_id.clone()),
        (
            "TIKTOK_SHOP_AUTHORIZE_URL",
            format!("{base}/open/authorize"),
        ),
        ("TIKTOK_SHOP_TOKEN_URL", format!("{base}/api/v2/token/get")),
        (
            "TIKTOK_SHOP_REFRESH_URL",
            format!("{base}/api/v2/token/refresh"),
        ),
        ("TIKTOK_SHOP_API_BASE_URL", base.clone()),
    ]);
    let config = setup::config(&vars)?;
    let client = TikTokClient::new(
        TikTokClient::http_client(&config.tiktok).map_err(|e| e.to_string())?,
        config.tiktok.clone(),
    );
    let shop_client = ShopClient::new(client, config.shop.clone());
    let mut secret: serde_json::Value =
        serde_json::from_str(&setup::secret_json(running.emulator.config()))
            .map_err(|e| e.to_string())?;
    secret["app_key"] = partner.app_key.clone().into();
    secret["app_secret"] = partner.app_secret.clone().into();
    let (state, counting) = counted(setup::memory_state(config, secret.to_string())?);
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = AuthCode::new(running.emulator.partner().issue_code());
    let tokens = state
        .authorization
        .connect(&code, None, deadline)
        .await
        .map_err(|e| e.to_string())?;
    state
        .store
        .put_connection(USER, &tokens)
        .await
        .map_err(|e| e.to_string())?;
    let cipher = tokens
        .account
        .as_ref()
        .and_then(|a| a.shops.iter().find(|s| s.id == PARTNER_SHOP))
        .map(|s| s.cipher.clone())
        .ok_or("the seller has no such shop")?;
    let request = || {
        test_support::api_event(
            "GET",
            "/api/tiktok/search",
            &[
                ("shopId", PARTNER_SHOP),
                ("query", SEARCH_QUERY),
                ("pageSize", "10"),
            ],
            Some(USER),
            &[("accept", "application/json")],
        )
    };
    for _ in 0..warmup {
        search::handler(&state, request())
            .await
            .map_err(|e| e.to_string())?;
    }
    let store_before = counting.calls();
    let secrets_before = state.secrets.fetch_count();
    let upstream_searches = || {
        let stats = running.emulator.partner().stats();
        stats.requests.get("search").copied().unwrap_or(0)
    };
    let upstream_before = upstream_searches();
    let mut latencies = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        let response = search::handler(&state, request())
            .await
            .map_err(|e| e.to_string())?;
        latencies.push(started.elapsed());
        let (status, body) = setup::status_and_body(response);
        if status != 200 {
            return Err(format!("shop-mode search answered {status}: {body}"));
        }
    }
    let upstream_calls = (upstream_searches() - upstream_before) as f64 / iterations as f64;
    let store = counting.calls().since(&store_before);
    let secret_fetches = state.secrets.fetch_count() - secrets_before;
    // The same upstream call, direct: one signed Search Products page of 100.
    let app = AppCredentials {
        client_key: partner.app_key.clone(),
        client_secret: ClientSecret::new(partner.app_secret.clone()),
    };
    let mut direct = Vec::with_capacity(iterations);
    for i in 0..(iterations + iterations / 10) {
        let started = Instant::now();
        shop_client
            .search_products(
                &app,
                &tokens.access_token,
                &cipher,
                MAX_SEARCH_PAGE_SIZE,
                None,
                deadline + Duration::from_secs(3600),
            )
            .await
            .map_err(|e| format!("direct Search Products: {e}"))?;
        if i >= iterations / 10 {
            direct.push(started.elapsed());
        }
    }
    let result = RouteResult {
        handler: Samples::from_durations(&latencies),
        upstream: Samples::from_durations(&direct),
        upstream_calls,
        store,
        secret_fetches,
        wire: None,
    };
    let mut table = route_table();
    let mut scratch = Section::new("shop");
    report_route(
        &mut scratch,
        &mut table,
        sink,
        "memory store, TIKTOK_PROVIDER=shop",
        Route::Search,
        iterations,
        &result,
    );
    Ok(format!(
        "`TIKTOK_PROVIDER=shop` (the emulator's Partner API): search `shopId={PARTNER_SHOP}&query={SEARCH_QUERY}&pageSize=10` \
         ({iterations} requests after {warmup} warm-up ones; one signed Search Products page of 100 holds the 10 mugs). \
         *Upstream* is that signed call made directly with the gateway's `ShopClient`, same token and cipher.\n\n{}",
        table.render()
    ))
}

/// `TIKTOK_PROVIDER=creator`: warm marketplace search against the emulator's
/// Affiliate Creator API on the memory store, compared with the same signed
/// search page made directly with the gateway's `CreatorClient`.
async fn creator_search(
    running: &tiktok_emulator::RunningEmulator,
    iterations: usize,
    warmup: usize,
    sink: &Sink,
) -> Res<String> {
    use tiktok_gateway::tiktok::creator::{CreatorClient, OpenSearch, SortField};
    use tiktok_gateway::tiktok::shop::ShopClient;
    use tiktok_gateway::tiktok::AppCredentials;
    use tiktok_gateway::{AuthCode, ClientSecret, TikTokClient};

    let base = &running.base_url;
    let partner = running.emulator.partner().config().clone();
    let mut vars = setup::app_vars(base, "unused", "unused", &[]);
    vars.extend([
        ("UPSTREAM_RATE_PER_SEC", "1000000".to_owned()),
        ("TIKTOK_PROVIDER", "creator".to_owned()),
        (
            "TIKTOK_CREATOR_AUTHORIZE_URL",
            format!("{base}/alliance/creator/auth"),
        ),
        ("TIKTOK_SHOP_TOKEN_URL", format!("{base}/api/v2/token/get")),
        (
            "TIKTOK_SHOP_REFRESH_URL",
            format!("{base}/api/v2/token/refresh"),
        ),
        ("TIKTOK_SHOP_API_BASE_URL", base.clone()),
    ]);
    let config = setup::config(&vars)?;
    let client = TikTokClient::new(
        TikTokClient::http_client(&config.tiktok).map_err(|e| e.to_string())?,
        config.tiktok.clone(),
    );
    let creator_client = CreatorClient::new(ShopClient::new(client, config.shop.clone()));
    let mut secret: serde_json::Value =
        serde_json::from_str(&setup::secret_json(running.emulator.config()))
            .map_err(|e| e.to_string())?;
    secret["app_key"] = partner.app_key.clone().into();
    secret["app_secret"] = partner.app_secret.clone().into();
    let (state, counting) = counted(setup::memory_state(config, secret.to_string())?);
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = AuthCode::new(running.emulator.creator().issue_code("US"));
    let tokens = state
        .authorization
        .connect(&code, None, deadline)
        .await
        .map_err(|e| e.to_string())?;
    state
        .store
        .put_connection(USER, &tokens)
        .await
        .map_err(|e| e.to_string())?;
    let request = || {
        test_support::api_event(
            "GET",
            "/api/tiktok/search",
            &[
                ("query", "yoga mat"),
                ("sort", "best_selling"),
                ("pageSize", "20"),
            ],
            Some(USER),
            &[("accept", "application/json")],
        )
    };
    for _ in 0..warmup {
        search::handler(&state, request())
            .await
            .map_err(|e| e.to_string())?;
    }
    let store_before = counting.calls();
    let secrets_before = state.secrets.fetch_count();
    let upstream_searches = || running.emulator.creator().stats().search;
    let upstream_before = upstream_searches();
    let mut latencies = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        let response = search::handler(&state, request())
            .await
            .map_err(|e| e.to_string())?;
        latencies.push(started.elapsed());
        let (status, body) = setup::status_and_body(response);
        if status != 200 {
            return Err(format!("creator-mode search answered {status}: {body}"));
        }
    }
    let upstream_calls = (upstream_searches() - upstream_before) as f64 / iterations as f64;
    let store = counting.calls().since(&store_before);
    let secret_fetches = state.secrets.fetch_count() - secrets_before;
    // The same upstream call, direct: one signed search page of 20.
    let app = AppCredentials {
        client_key: partner.app_key.clone(),
        client_secret: ClientSecret::new(partner.app_secret.clone()),
    };
    let search = OpenSearch {
        title_keywords: vec!["yoga".into(), "mat".into()],
        sort: Some((SortField::UnitsSold, true)),
        ..OpenSearch::default()
    };
    let mut direct = Vec::with_capacity(iterations);
    for i in 0..(iterations + iterations / 10) {
        let started = Instant::now();
        creator_client
            .search(
                &app,
                &tokens.access_token,
                &search,
                20,
                None,
                deadline + Duration::from_secs(3600),
            )
            .await
            .map_err(|e| format!("direct creator search: {e}"))?;
        if i >= iterations / 10 {
            direct.push(started.elapsed());
        }
    }
    let result = RouteResult {
        handler: Samples::from_durations(&latencies),
        upstream: Samples::from_durations(&direct),
        upstream_calls,
        store,
        secret_fetches,
        wire: None,
    };
    let mut table = route_table();
    let mut scratch = Section::new("creator");
    report_route(
        &mut scratch,
        &mut table,
        sink,
        "memory store, TIKTOK_PROVIDER=creator",
        Route::Search,
        iterations,
        &result,
    );
    Ok(format!(
        "`TIKTOK_PROVIDER=creator` (the emulator's Affiliate Creator API): search `query=yoga mat&sort=best_selling&pageSize=20` \
         ({iterations} requests after {warmup} warm-up ones; one signed marketplace search page of 20). \
         *Upstream* is that signed call made directly with the gateway's `CreatorClient`, same token.\n\n{}",
        table.render()
    ))
}

/// The table [`report_route`] fills, one row per store and route.
fn route_table() -> Table {
    Table::new(&[
        "store",
        "route",
        "handler p50",
        "handler p99",
        "upstream p50",
        "upstream p99",
        "overhead p50",
        "overhead p99",
        "upstream calls / req",
        "store reads / req",
        "store writes / req",
        "Secrets Manager / req",
        "AWS API calls / req (recorded)",
    ])
}

fn report_route(
    section: &mut Section,
    table: &mut Table,
    sink: &Sink,
    backend: &str,
    route: Route,
    n: usize,
    r: &RouteResult,
) {
    let per = |v: u64| v as f64 / n as f64;
    let reads = per(r.store.reads);
    let writes = per(r.store.writes);
    let secrets = per(r.secret_fetches);
    let overhead50 = r.handler.median() - r.upstream.median();
    let overhead99 = r.handler.pct(99.0) - r.upstream.pct(99.0);
    let wire = r.wire.as_ref().map(|calls| {
        if calls.is_empty() {
            "none".to_owned()
        } else {
            per_request(calls, RECORDED)
        }
    });
    table.row(vec![
        backend.to_owned(),
        route.name().to_owned(),
        ms(r.handler.median()),
        ms(r.handler.pct(99.0)),
        ms(r.upstream.median()),
        ms(r.upstream.pct(99.0)),
        ms(overhead50),
        ms(overhead99),
        format!("{:.2}", r.upstream_calls),
        format!("{reads:.2}"),
        format!("{writes:.2}"),
        format!("{secrets:.2}"),
        wire.clone().unwrap_or_else(|| "n/a".into()),
    ]);
    sink.record(
        "warm",
        serde_json::json!({
            "store": backend, "route": route.name(), "iterations": n,
            "handlerP50Ms": r.handler.median(), "handlerP99Ms": r.handler.pct(99.0),
            "upstreamP50Ms": r.upstream.median(), "upstreamP99Ms": r.upstream.pct(99.0),
            "overheadP50Ms": overhead50, "overheadP99Ms": overhead99,
            "upstreamCallsPerRequest": r.upstream_calls, "storeReadsPerRequest": reads, "storeWritesPerRequest": writes,
            "storeCallsByMethod": r.store.by_method, "secretsManagerCallsPerRequest": secrets,
            "awsCallsPerRequest": wire,
        }),
    );
    if backend.starts_with("DynamoDB") {
        section.targets.push(Target::new(
            format!("{} warm: DynamoDB reads / request", route.name()),
            "1",
            format!("{reads:.2} ({})", by_method(&r.store, n)),
            (reads - 1.0).abs() < 1e-9,
        ));
        section.targets.push(Target::new(
            format!("{} warm: Secrets Manager calls / request", route.name()),
            "0",
            format!("{secrets:.2}"),
            r.secret_fetches == 0,
        ));
    }
}

fn by_method(calls: &StoreCalls, n: usize) -> String {
    calls
        .by_method
        .iter()
        .map(|(m, c)| format!("{m} {:.2}", *c as f64 / n as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `dynamodb:GetItem 1.00, dynamodb:BatchWriteItem 3.00`.
fn per_request(calls: &[String], n: usize) -> String {
    summarize_calls(calls)
        .split(", ")
        .map(|entry| {
            let (name, count) = match entry.rsplit_once(" x") {
                Some((name, count)) => (name, count.parse::<f64>().unwrap_or(1.0)),
                None => (entry, 1.0),
            };
            format!("{name} {:.2}", count / n as f64)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The id of the first product a search finds (it is then in the product cache).
async fn first_product(state: &AppState) -> Res<String> {
    let (status, body) = Route::Search
        .call(state, Route::Search.request(USER, "0"))
        .await?;
    if status != 200 {
        return Err(format!("search answered {status}: {body}"));
    }
    let body: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    body["products"][0]["product_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("search found nothing: {body}"))
}

/// The route's upstream calls made directly: `calls` requests to its endpoint
/// (listing pages 1..=calls for search), `n` times.
async fn direct_upstream(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    route: Route,
    calls: u32,
    product_id: &str,
    n: usize,
) -> Res<Samples> {
    let (path, fields) = match route {
        Route::Search => ("v2/research/tts/product/", PRODUCT_FIELDS),
        Route::ShopLookup => ("v2/research/tts/shop/", SHOP_FIELDS),
        Route::ProductLookup => ("v2/research/tts/review/", REVIEW_FIELDS),
    };
    let url = format!("{base}/{path}");
    let fields = fields.join(",");
    let product: u64 = product_id.parse().unwrap_or(0);
    let shop: u64 = SHOP_ID.parse().unwrap_or(0);
    let body = |page: u32| match route {
        Route::Search => serde_json::json!({"shop_id": shop, "page_start": page, "page_size": 10}),
        Route::ShopLookup => serde_json::json!({"shop_name": SHOP_NAME, "limit": 10}),
        Route::ProductLookup => {
            serde_json::json!({"product_id": product, "page_start": page, "page_size": 10})
        }
    };
    let mut samples: Vec<Duration> = Vec::with_capacity(n);
    for i in 0..(n + n / 10) {
        let started = Instant::now();
        for page in 1..=calls {
            let response = http
                .post(&url)
                .query(&[("fields", fields.as_str())])
                .bearer_auth(token)
                .json(&body(page))
                .send()
                .await
                .map_err(|e| format!("direct upstream call: {e}"))?;
            let status = response.status();
            response.bytes().await.map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(format!("direct upstream call answered {status}"));
            }
        }
        // The first tenth warms the connection pool, like the handler's warm-up.
        if i >= n / 10 {
            samples.push(started.elapsed());
        }
    }
    Ok(Samples::from_durations(&samples))
}

/// The AWS API calls each route makes per warm request, recorded by a proxy in
/// front of moto (a second state, another user on the same table).
async fn record_wire_calls(
    moto: &Moto,
    tiktok_base: &str,
    extra: &[(&'static str, String)],
    emulator: &tiktok_emulator::Emulator,
    product_id: &str,
) -> Res<Vec<(&'static str, Vec<String>)>> {
    let recorder = test_support::Recorder::start(&moto.endpoint).await;
    let aws = test_support::aws_config_for(&recorder.endpoint);
    let vars = setup::app_vars(tiktok_base, &moto.table, &moto.secret_arn, extra);
    let state = boot::from_aws(setup::config(&vars)?, &aws).map_err(|e| e.to_string())?;
    const RECORDED_USER: &str = "bench-warm-recorded-user";
    setup::connect_user(&state, emulator, RECORDED_USER).await?;
    let mut out = Vec::new();
    for route in Route::ALL {
        for _ in 0..5 {
            route
                .call(&state, route.request(RECORDED_USER, product_id))
                .await?;
        }
        recorder.take();
        for _ in 0..RECORDED {
            let (status, body) = route
                .call(&state, route.request(RECORDED_USER, product_id))
                .await?;
            if status != 200 {
                return Err(format!("{} answered {status}: {body}", route.name()));
            }
        }
        out.push((route.name(), recorder.take()));
    }
    Ok(out)
}
