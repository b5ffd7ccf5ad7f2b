//! `TIKTOK_PROVIDER=shop`: every route against a wiremock Partner API (which
//! checks each signature as TikTok does) and moto: a seller connects, lists
//! their shops, searches across several upstream pages, opens a product; an
//! expired token is refreshed once; concurrent requests lose no rotation;
//! disconnect deletes.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tiktok_gateway::tiktok::shop::sign_request;
use tiktok_gateway::ConnectionStatus;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::harness::*;

const BEAUTY: &str = "7000714532876273420";
const HOME: &str = "7000714532876273421";
const BEAUTY_CIPHER: &str = "GCP_beauty+cipher/=";
const HOME_CIPHER: &str = "GCP_home_cipher";
/// Products in the beauty shop; every third is a lamp.
const CATALOGUE: usize = 250;

fn envelope(data: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "code": 0, "message": "Success", "request_id": "req-shop", "data": data,
    }))
}

fn error(code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "code": code, "message": message, "request_id": "req-shop-error",
    }))
}

fn query(request: &Request, key: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Whether the request carries the signature of what arrived.
fn signed(request: &Request) -> bool {
    test_support::signed_as_received(&request.url, &request.body, |path, params, body| {
        sign_request(APP_SECRET, path, params, body)
    })
}

/// The seller's tokens as TikTok holds them: the current pair rotates on
/// every refresh, and a used refresh token is refused afterwards.
#[derive(Clone)]
struct Seller {
    current: Arc<Mutex<usize>>,
    refreshes: Arc<AtomicUsize>,
    access_ttl: i64,
    refresh_ttl: i64,
    /// TikTok's clock (Unix seconds): expiries are absolute timestamps from it.
    now: Arc<AtomicI64>,
}

impl Seller {
    fn new(access_ttl: i64) -> Self {
        Self {
            current: Arc::new(Mutex::new(1)),
            refreshes: Arc::new(AtomicUsize::new(0)),
            access_ttl,
            refresh_ttl: 365 * 86_400,
            now: Arc::new(AtomicI64::new(START)),
        }
    }

    fn access(&self) -> String {
        format!("TTP_access-{}", self.current.lock().unwrap())
    }

    fn grant(&self, n: usize) -> ResponseTemplate {
        let now = self.now.load(Ordering::SeqCst);
        envelope(serde_json::json!({
            "access_token": format!("TTP_access-{n}"),
            "access_token_expire_in": now + self.access_ttl,
            "refresh_token": format!("TTP_refresh-{n}"),
            "refresh_token_expire_in": now + self.refresh_ttl,
            "open_id": "7010736057180325637", "seller_name": "Maomao Ltd",
            "seller_base_region": "GB", "user_type": 0,
            "granted_scopes": ["seller.authorization.info", "seller.product.basic"],
        }))
    }
}

struct TokenGet(Seller);
impl Respond for TokenGet {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let ok = query(request, "app_key").as_deref() == Some(APP_KEY)
            && query(request, "app_secret").as_deref() == Some(APP_SECRET)
            && query(request, "grant_type").as_deref() == Some("authorized_code")
            && query(request, "auth_code").as_deref() == Some("code-1");
        if ok {
            self.0.grant(*self.0.current.lock().unwrap())
        } else {
            error(36004004, "Invalid auth code.")
        }
    }
}

struct TokenRefresh(Seller);
impl Respond for TokenRefresh {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut current = self.0.current.lock().unwrap();
        let expected = format!("TTP_refresh-{current}");
        if query(request, "refresh_token").as_deref() != Some(expected.as_str())
            || query(request, "grant_type").as_deref() != Some("refresh_token")
            || query(request, "app_secret").as_deref() != Some(APP_SECRET)
        {
            return error(36004005, "can not find related auth record");
        }
        *current += 1;
        self.0.refreshes.fetch_add(1, Ordering::SeqCst);
        self.0.grant(*current)
    }
}

/// The signed Open API: shops, search (pages of 100 by `page_token`), product.
struct OpenApi(Seller);
impl Respond for OpenApi {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if !signed(request) {
            return ResponseTemplate::new(401).set_body_json(serde_json::json!({
                "code": 106001, "message": "Invalid sign", "request_id": "r"}));
        }
        let token = request
            .headers
            .get("x-tts-access-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if token != self.0.access() {
            return error(105002, "Access token is expired");
        }
        let cipher = query(request, "shop_cipher");
        let route = request.url.path();
        if route == "/authorization/202309/shops" {
            if cipher.is_some() {
                return error(36009004, "Unexpected identifier: shop_cipher");
            }
            return envelope(serde_json::json!({"shops": [
                {"id": BEAUTY, "name": "Maomao Beauty", "region": "GB", "seller_type": "CROSS_BORDER", "cipher": BEAUTY_CIPHER, "code": "GB1"},
                {"id": HOME, "name": "Acme Home", "region": "US", "seller_type": "LOCAL", "cipher": HOME_CIPHER, "code": "US1"},
            ]}));
        }
        if cipher.as_deref() != Some(BEAUTY_CIPHER) {
            return error(106013, "Missing identifier: shop_cipher");
        }
        if route == "/product/202502/products/search" {
            assert_eq!(request.body, br#"{"status":"ACTIVATE"}"#);
            let start: usize = query(request, "page_token")
                .map(|t| t.trim_start_matches("pg+").parse().unwrap())
                .unwrap_or(0);
            let size: usize = query(request, "page_size").unwrap().parse().unwrap();
            let end = (start + size).min(CATALOGUE);
            let products: Vec<_> = (start..end).map(listed).collect();
            let next = if end < CATALOGUE {
                format!("pg+{end}")
            } else {
                String::new()
            };
            return envelope(serde_json::json!({
                "total_count": CATALOGUE, "next_page_token": next, "products": products,
            }));
        }
        if let Some(id) = route.strip_prefix("/product/202309/products/") {
            let Some(i) = (0..CATALOGUE).find(|i| product_id(*i) == id) else {
                return error(12019150, "The product ID does not exist.");
            };
            let mut product = listed(i);
            product["description"] = serde_json::json!("<p>A <b>warm</b> lamp</p>");
            product["main_images"] = serde_json::json!([
                {"uri": "a", "urls": [format!("https://p16.example/{i}-1.jpg")]},
                {"uri": "b", "urls": [format!("https://p16.example/{i}-2.jpg")]},
            ]);
            product["skus"][0]["sales_attributes"] = serde_json::json!([{"id": "1", "name": "Colour", "value_id": "2", "value_name": "Black"}]);
            return envelope(product);
        }
        ResponseTemplate::new(404)
    }
}

fn product_id(i: usize) -> String {
    format!("17293824768529{i:05}")
}

fn listed(i: usize) -> serde_json::Value {
    let title = if i % 3 == 0 {
        format!("Desk Lamp {i}")
    } else {
        format!("Mug {i}")
    };
    serde_json::json!({
        "id": product_id(i), "title": title, "status": "ACTIVATE",
        "skus": [
            {"id": format!("{i}1"), "seller_sku": "A", "price": {"currency": "VND", "sale_price": "1250000"},
             "list_price": {"amount": "1500000", "currency": "VND"},
             "inventory": [{"warehouse_id": "w1", "quantity": 3}, {"warehouse_id": "w2", "quantity": 4}]},
            {"id": format!("{i}2"), "seller_sku": "B", "price": {"currency": "VND", "sale_price": "990000"},
             "list_price": {"amount": "1100000", "currency": "VND"}, "inventory": []},
        ],
    })
}

async fn partner_api(h: &Harness, seller: &Seller) {
    Mock::given(method("GET"))
        .and(path("/api/v2/token/get"))
        .respond_with(TokenGet(seller.clone()))
        .mount(&h.tiktok)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/token/refresh"))
        .respond_with(TokenRefresh(seller.clone()))
        .mount(&h.tiktok)
        .await;
    Mock::given(|r: &Request| !r.url.path().starts_with("/api/v2/token/"))
        .respond_with(OpenApi(seller.clone()))
        .mount(&h.tiktok)
        .await;
}

/// Login, the seller approves, the callback stores the connection.
async fn connect(h: &Harness, user: &str) {
    let authorize = h.login(user, None).await;
    assert_eq!(authorize.path(), "/open/authorize");
    assert_eq!(
        query_of(&authorize, "service_id").as_deref(),
        Some(SERVICE_ID)
    );
    assert_eq!(query_of(&authorize, "redirect_uri"), None);
    assert_eq!(query_of(&authorize, "client_key"), None);
    let state = query_of(&authorize, "state").unwrap();
    let back = h
        .callback(&[("code", "code-1"), ("state", &state), ("shop_region", "GB")])
        .await;
    assert_eq!(back.status(), 302);
    // The site completes with the seller's own dshipit identity.
    let done = h.complete(user, &completion_of(&back)).await;
    assert_eq!(done.status(), 200, "{}", body_json(&done));
    assert_eq!(body_json(&done)["seller"]["name"], "Maomao Ltd");
}

/// A shop-mode harness (with `extra` variables) whose Partner API is played
/// by `seller`, and `seller-1` connected.
async fn seller_connected(extra: &[(&str, &str)], seller: &Seller) -> Harness {
    let h = Harness::shop(extra).await;
    partner_api(&h, seller).await;
    connect(&h, "seller-1").await;
    h
}

/// `seller-1` connected with one-hour access tokens, an hour ago (for us and
/// for TikTok): the access token has just expired.
async fn an_hour_after_connecting(seller: &Seller) -> Harness {
    let h = seller_connected(&[], seller).await;
    h.advance(3_600);
    seller.now.store(h.now(), Ordering::SeqCst);
    h
}

async fn call(
    h: &Harness,
    handler: &str,
    route: &str,
    query: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let req = get(route, query, Some("seller-1"));
    let response = match handler {
        "search" => search::handler(&h.state, req).await,
        "shops" => shop_lookup::handler(&h.state, req).await,
        "status" => connection_status::handler(&h.state, req).await,
        _ => product_lookup::handler(&h.state, req).await,
    }
    .unwrap();
    (response.status().as_u16(), body_json(&response))
}

async fn search(h: &Harness, query: &[(&str, &str)]) -> (u16, serde_json::Value) {
    call(h, "search", "/api/tiktok/search", query).await
}

/// `GET /api/tiktok/products/<id>?shopId=<shop>` as `user`, as API Gateway
/// passes it (the id as a path parameter).
fn product_request(id: &str, shop: &str, user: &str) -> lambda_http::Request {
    use lambda_http::RequestExt;
    get(
        &format!("/api/tiktok/products/{id}"),
        &[("shopId", shop)],
        Some(user),
    )
    .with_path_parameters(std::collections::HashMap::from([(
        "productId".to_owned(),
        id.to_owned(),
    )]))
}

#[tokio::test]
async fn a_seller_connects_and_status_shows_the_shops_but_no_token_or_cipher() {
    let seller = Seller::new(7 * 86_400);
    let h = seller_connected(&[], &seller).await;

    let (status, body) = call(&h, "status", "/auth/tiktok/status", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["connected"], true);
    assert_eq!(body["openId"], "7010736057180325637");
    assert_eq!(body["seller"]["name"], "Maomao Ltd");
    assert_eq!(body["seller"]["region"], "GB");
    assert_eq!(body["seller"]["shops"][0]["shopId"], BEAUTY);
    assert_eq!(body["seller"]["shops"][0]["sellerType"], "CROSS_BORDER");
    assert_eq!(body["seller"]["shops"][1]["shopName"], "Acme Home");
    // Absolute expiries from TikTok, 7 days and a year after the grant.
    assert_eq!(body["accessTokenExpiresAt"], "2027-01-22T08:00:00Z");
    assert_eq!(body["refreshTokenExpiresAt"], "2028-01-15T08:00:00Z");
    let text = body.to_string();
    for hidden in ["TTP_", "GCP_", APP_SECRET] {
        assert!(!text.contains(hidden), "{hidden} in {text}");
    }
    let stored = h.stored("seller-1").await;
    assert_eq!(stored.tokens.access_token.expose(), "TTP_access-1");
}

#[tokio::test]
async fn shops_are_the_sellers_own_filtered_by_name_and_404_when_none() {
    let h = seller_connected(&[], &Seller::new(7 * 86_400)).await;

    let (status, body) = call(&h, "shops", "/api/tiktok/shops", &[("name", "mAoMaO")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["shops"].as_array().unwrap().len(), 1);
    assert_eq!(body["shops"][0]["shopId"], BEAUTY);
    assert_eq!(body["shops"][0]["region"], "GB");
    assert!(!body.to_string().contains("GCP_"));
    let (status, body) = call(&h, "shops", "/api/tiktok/shops", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["shops"].as_array().unwrap().len(), 2);
    let (status, body) = call(&h, "shops", "/api/tiktok/shops", &[("name", "nowhere")]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test]
async fn search_reads_several_upstream_pages_and_the_cursor_continues_exactly() {
    let h = seller_connected(&[("UPSTREAM_PAGE_BUDGET", "5")], &Seller::new(7 * 86_400)).await;

    // 84 lamps among 250 products (every third), over three upstream pages.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut answers = 0;
    loop {
        let mut query = vec![("shopId", BEAUTY), ("query", "LAMP"), ("pageSize", "30")];
        if let Some(c) = cursor.as_deref() {
            query.push(("cursor", c));
        }
        let (status, body) = search(&h, &query).await;
        assert_eq!(status, 200, "{body}");
        answers += 1;
        for p in body["products"].as_array().unwrap() {
            assert!(p["product_title"]
                .as_str()
                .unwrap()
                .starts_with("Desk Lamp"));
            seen.push(p["product_id"].as_str().unwrap().to_owned());
        }
        if answers == 1 {
            let first = &body["products"][0];
            // The lowest SKU price, its list price, exact VND amounts.
            assert_eq!(first["target_sale_price"], "990000");
            assert_eq!(first["target_original_price"], "1100000");
            assert_eq!(first["discount"], "10");
            assert_eq!(first["currency"], "VND");
            assert!(first["evaluate_rate"].is_null() && first["orders_count"].is_null());
            assert_eq!(body["products"].as_array().unwrap().len(), 30);
            assert_eq!(body["hasMore"], true);
        }
        match body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => {
                assert_eq!(body["hasMore"], false);
                break;
            }
        }
    }
    let expected: Vec<String> = (0..CATALOGUE)
        .filter(|i| i % 3 == 0)
        .map(product_id)
        .collect();
    assert_eq!(seen, expected, "every lamp once, in order");
    assert_eq!(answers, 3);
    // A cursor we did not make is a 400, not a 500.
    let (status, _) = search(&h, &[("shopId", BEAUTY), ("cursor", "bm9wZQ")]).await;
    assert_eq!(status, 400);
    // A shop the seller did not authorize is a 404.
    let (status, _) = search(&h, &[("shopId", "1")]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_product_comes_with_its_html_description_images_and_skus_and_is_cached() {
    let h = seller_connected(&[], &Seller::new(7 * 86_400)).await;
    let id = product_id(3);
    let lookup = || product_request(&id, BEAUTY, "seller-1");
    let response = product_lookup::handler(&h.state, lookup()).await.unwrap();
    let body = body_json(&response);
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["product"]["product_id"], id.as_str());
    assert_eq!(
        body["product"]["product_main_image_url"],
        "https://p16.example/3-1.jpg"
    );
    assert_eq!(body["details"]["description"], "<p>A <b>warm</b> lamp</p>");
    assert_eq!(body["details"]["descriptionFormat"], "html");
    assert_eq!(body["details"]["images"][1], "https://p16.example/3-2.jpg");
    assert_eq!(body["details"]["skus"][0]["salePrice"], "1250000");
    assert_eq!(body["details"]["skus"][0]["listPrice"], "1500000");
    assert_eq!(body["details"]["skus"][0]["inventory"], 7);
    assert_eq!(
        body["details"]["skus"][0]["salesAttributes"][0]["value"],
        "Black"
    );
    assert_eq!(body["details"]["status"], "ACTIVATE");

    let calls_before = h.tiktok.received_requests().await.unwrap().len();
    let again = product_lookup::handler(&h.state, lookup()).await.unwrap();
    assert_eq!(body_json(&again), body);
    assert_eq!(
        h.tiktok.received_requests().await.unwrap().len(),
        calls_before,
        "the second lookup is served from the cache"
    );

    let missing = product_request("999", BEAUTY, "seller-1");
    let response = product_lookup::handler(&h.state, missing).await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(&response), "not_found");
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once_and_the_call_retried() {
    let seller = Seller::new(7 * 86_400);
    let h = seller_connected(&[], &seller).await;
    // TikTok rotates the pair behind our back (as if it expired early): 105002.
    *seller.current.lock().unwrap() = 1;
    let stored = h.stored("seller-1").await;
    let mut tokens = stored.tokens.clone();
    tokens.access_token = tiktok_gateway::AccessToken::new("TTP_access-stale");
    h.state
        .store
        .update_tokens("seller-1", stored.version, &tokens)
        .await
        .unwrap();

    let (status, body) = search(&h, &[("shopId", BEAUTY), ("pageSize", "5")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(seller.refreshes.load(Ordering::SeqCst), 1);
    let after = h.stored("seller-1").await;
    assert_eq!(after.tokens.refresh_token.expose(), "TTP_refresh-2");
    assert_eq!(
        after.tokens.account, stored.tokens.account,
        "the shops survive a refresh"
    );
}

#[tokio::test]
async fn eight_concurrent_requests_on_an_expired_token_lose_no_rotation() {
    let seller = Seller::new(3_600);
    let h = an_hour_after_connecting(&seller).await;

    let requests = (0..8).map(|_| search(&h, &[("shopId", BEAUTY), ("pageSize", "5")]));
    let answers = futures::future::join_all(requests).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
    }
    let stored = h.stored("seller-1").await;
    let valid = format!("TTP_refresh-{}", seller.current.lock().unwrap());
    assert_eq!(
        stored.tokens.refresh_token.expose(),
        valid,
        "the stored token is TikTok's current one"
    );
    assert_eq!(stored.status, ConnectionStatus::Active);
    assert_eq!(
        seller.refreshes.load(Ordering::SeqCst),
        1,
        "one rotation for eight requests"
    );
}

#[tokio::test]
async fn a_refused_refresh_token_asks_the_seller_to_reconnect() {
    let seller = Seller::new(3_600);
    let h = an_hour_after_connecting(&seller).await;
    // The seller's authorization is gone at TikTok: the refresh token is refused.
    *seller.current.lock().unwrap() = 99;
    let (status, body) = search(&h, &[("shopId", BEAUTY)]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("reconnect_required"))
    );
    let (_, status_body) = call(&h, "status", "/auth/tiktok/status", &[]).await;
    assert_eq!(status_body["reconnectRequired"], true);
}

#[tokio::test]
async fn disconnect_deletes_the_connection_without_calling_tiktok() {
    let h = seller_connected(&[], &Seller::new(7 * 86_400)).await;
    let before = h.tiktok.received_requests().await.unwrap().len();
    assert_eq!(h.disconnect("seller-1").await.status(), 200);
    assert!(!h.has_connection("seller-1").await);
    assert_eq!(h.tiktok.received_requests().await.unwrap().len(), before);
}

#[tokio::test]
async fn the_refresher_refreshes_seven_day_tokens_a_day_ahead() {
    let seller = Seller::new(7 * 86_400);
    let h = seller_connected(&[("REFRESH_AHEAD_SECS", "86400")], &seller).await;
    // Five days on: not due yet.
    h.advance(5 * 86_400);
    let summary = h.run_refresher().await;
    assert_eq!(summary.due, 0, "{summary:?}");
    // Six days and an hour on: the token expires within the day ahead.
    h.advance(86_400 + 3_600);
    seller.now.store(h.now(), Ordering::SeqCst);
    let summary = h.run_refresher().await;
    assert_eq!(
        (
            summary.due,
            summary.refreshed,
            summary.refresh_token_expiring
        ),
        (1, 1, 0),
        "{summary:?}"
    );
    let stored = h.stored("seller-1").await;
    assert_eq!(stored.tokens.refresh_token.expose(), "TTP_refresh-2");
    assert_eq!(stored.tokens.access_expires_at, h.now() + 7 * 86_400);
}

#[tokio::test]
async fn a_refresh_token_a_refresh_does_not_extend_is_flagged_not_hammered() {
    let mut seller = Seller::new(7 * 86_400);
    seller.refresh_ttl = 3 * 86_400; // the authorization ends in three days, refresh or not
    let h = seller_connected(&[("REFRESH_WINDOW_DAYS", "7")], &seller).await;
    // Just connected: within the window, but refreshed less than a day ago.
    let summary = h.run_refresher().await;
    assert_eq!(
        (summary.due, summary.refreshed, summary.skipped),
        (1, 0, 1),
        "{summary:?}"
    );
    // A day on: refreshed, and still expiring within the window: flagged.
    h.advance(86_400 + 1);
    seller.now.store(h.now() - 2 * 86_400, Ordering::SeqCst); // TikTok keeps the original end
    let summary = h.run_refresher().await;
    assert_eq!(
        (summary.refreshed, summary.refresh_token_expiring),
        (1, 1),
        "{summary:?}"
    );
    // The next run does not refresh it again.
    let summary = h.run_refresher().await;
    assert_eq!((summary.refreshed, summary.skipped), (0, 1), "{summary:?}");
    assert_eq!(seller.refreshes.load(Ordering::SeqCst), 1);
}

// ---- against the emulator ------------------------------------------------------

mod emulated {
    use std::sync::Arc;

    use tiktok_emulator::partner::SHOPS;
    use tiktok_emulator::RunningEmulator;
    use tiktok_gateway::AppState;

    use crate::harness::*;

    const CALLBACK: &str = "https://api.dshipit.com/auth/tiktok/callback";

    async fn stack() -> (AppState, RunningEmulator) {
        shop_stack(CALLBACK).await
    }

    async fn connection_of(state: &AppState, user: &str) -> Option<tiktok_gateway::Connection> {
        state.store.get_connection(user).await.unwrap()
    }

    /// The seller clicks through the emulator's authorization page.
    async fn connect(
        state: &AppState,
        tiktok: &RunningEmulator,
        user: &str,
        decision: &str,
    ) -> url::Url {
        let response = login_redirect::handler(state, get("/auth/tiktok/login", &[], Some(user)))
            .await
            .unwrap();
        let authorize = location(&response);
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = browser.get(authorize.as_str()).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("Approve"));
        let state_value = query_of(&authorize, "state").unwrap();
        let back = browser
            .post(format!("{}/open/authorize/decision", tiktok.base_url))
            .form(&[("state", state_value.as_str()), ("decision", decision)])
            .send()
            .await
            .unwrap();
        assert_eq!(back.status(), 303);
        let callback = url::Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
        assert!(callback.as_str().starts_with(CALLBACK));
        let query: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
        let query: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let back = oauth_callback::handler(state, callback_request(&query))
            .await
            .unwrap();
        assert_eq!(back.status(), 302);
        let site = location(&back);
        if let Some(completion) = query_of(&site, "tiktokCompletion") {
            let done = oauth_complete::handler(state, complete_request(Some(user), &completion))
                .await
                .unwrap();
            assert_eq!(done.status(), 200, "{}", body_json(&done));
        }
        site
    }

    async fn call(
        state: &AppState,
        route: &str,
        query: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let req = get(route, query, Some("seller-emu"));
        let response = if route.ends_with("/search") {
            search::handler(state, req).await
        } else {
            shop_lookup::handler(state, req).await
        }
        .unwrap();
        (response.status().as_u16(), body_json(&response))
    }

    #[tokio::test]
    async fn the_whole_shop_flow_against_the_emulator() {
        let (state, tiktok) = stack().await;
        let back = connect(&state, &tiktok, "seller-emu", "approve").await;
        assert!(query_of(&back, "tiktokCompletion").is_some(), "{back}");
        let stored = connection_of(&state, "seller-emu").await.unwrap();
        assert_eq!(
            stored.tokens.account.as_ref().unwrap().shops.len(),
            SHOPS.len()
        );

        // Shops: the seller's five, filtered by name.
        let (status, body) = call(&state, "/api/tiktok/shops", &[("name", "saigon")]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["shops"][0]["shopId"], SHOPS[1].id);

        // Search in the 10,050-product shop: lamps are one in ten; 60 of them
        // need six upstream pages of 100, more than the budget of five.
        let big = SHOPS[4].id;
        let (status, body) = call(
            &state,
            "/api/tiktok/search",
            &[("shopId", big), ("query", "lamp"), ("pageSize", "60")],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["products"].as_array().unwrap().len(), 50);
        assert_eq!(body["hasMore"], true);
        assert_eq!(body["products"][0]["currency"], "USD");
        let cursor = body["nextCursor"].as_str().unwrap().to_owned();
        let (status, body) = call(
            &state,
            "/api/tiktok/search",
            &[
                ("shopId", big),
                ("query", "lamp"),
                ("pageSize", "60"),
                ("cursor", &cursor),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["products"][0]["product_title"], "Desk Lamp 502");
        let stats = tiktok.emulator.partner().stats();
        assert_eq!(body["products"].as_array().unwrap().len(), 50);
        assert_eq!(
            stats.requests["search"], 10,
            "five upstream pages each: the budget"
        );
        assert_eq!(stats.bad_signatures, 0);

        // A product with its images and HTML description.
        let id = tiktok_emulator::partner::product_id(1, 7);
        let req = super::product_request(&id, SHOPS[1].id, "seller-emu");
        let response = product_lookup::handler(&state, req).await.unwrap();
        let body = body_json(&response);
        assert_eq!(response.status(), 200, "{body}");
        assert!(body["product"]["product_main_image_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/__emulator/partner/images/", tiktok.base_url)));
        assert_eq!(body["product"]["currency"], "VND");
        assert!(body["details"]["description"]
            .as_str()
            .unwrap()
            .contains("<li>Handmade</li>"));

        // Token expiry on demand: the next request refreshes once.
        tiktok.emulator.partner().expire_access_tokens();
        let (status, _) = call(
            &state,
            "/api/tiktok/search",
            &[("shopId", SHOPS[3].id), ("pageSize", "5")],
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(tiktok.emulator.partner().stats().refresh_rotated, 1);

        // And again with eight requests at once: no rotation lost.
        tiktok.emulator.partner().expire_access_tokens();
        let state = Arc::new(state);
        let answers = futures::future::join_all((0..8).map(|_| {
            let state = state.clone();
            async move {
                call(
                    &state,
                    "/api/tiktok/search",
                    &[("shopId", SHOPS[2].id), ("pageSize", "5")],
                )
                .await
            }
        }))
        .await;
        for (status, body) in &answers {
            assert_eq!(*status, 200, "{body}");
            assert_eq!(body["products"][0]["currency"], "IDR");
        }
        let stored = connection_of(&state, "seller-emu").await.unwrap();
        assert!(
            tiktok
                .emulator
                .partner()
                .is_current_refresh_token(stored.tokens.refresh_token.expose()),
            "the stored refresh token is the emulator's current one"
        );
        assert_eq!(stored.status, tiktok_gateway::ConnectionStatus::Active);
    }

    /// Issue 20 item 1, against a Partner API that revokes the whole grant
    /// when a rotated refresh token comes back (RFC 9700 §4.14.2): eight
    /// containers (separate states and store clients over moto) need the
    /// expired token at once, three times. One refresh each time, nothing
    /// refused, the grant never revoked, every search answered.
    #[tokio::test]
    async fn eight_containers_under_reuse_detection_keep_the_grant() {
        let (state, tiktok) = stack().await;
        connect(&state, &tiktok, "seller-emu", "approve").await;
        tiktok.emulator.partner().set_reuse_detection(true);
        let aws = test_support::moto_config();
        let containers: Vec<AppState> = (0..8)
            .map(|_| {
                tiktok_gateway::boot::from_aws_at(
                    (*state.config).clone(),
                    &aws,
                    state.clock().clone(),
                )
                .unwrap()
            })
            .collect();
        for round in 1..=3u64 {
            tiktok.emulator.partner().expire_access_tokens();
            let query = [("shopId", SHOPS[2].id), ("pageSize", "5")];
            let answers = futures::future::join_all(
                containers
                    .iter()
                    .map(|c| call(c, "/api/tiktok/search", &query)),
            )
            .await;
            for (status, body) in &answers {
                assert_eq!(*status, 200, "round {round}: {body}");
            }
            let stats = tiktok.emulator.partner().stats();
            assert_eq!(
                (
                    stats.refresh_rotated,
                    stats.refresh_refused,
                    stats.grants_revoked
                ),
                (round, 0, 0),
                "round {round}: one refresh, no reuse, the grant kept"
            );
        }
        let stored = connection_of(&state, "seller-emu").await.unwrap();
        assert_eq!(stored.status, tiktok_gateway::ConnectionStatus::Active);
        assert!(tiktok
            .emulator
            .partner()
            .is_current_refresh_token(stored.tokens.refresh_token.expose()));
    }

    #[tokio::test]
    async fn the_emulator_refuses_bad_signatures_stale_timestamps_and_misplaced_ciphers() {
        use tiktok_emulator::partner::{cipher, expected_sign};
        let (state, tiktok) = stack().await;
        connect(&state, &tiktok, "seller-sig", "approve").await;
        let stored = connection_of(&state, "seller-sig").await.unwrap();
        let token = stored.tokens.access_token.expose().to_owned();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let http = reqwest::Client::new();
        let send = |path: &'static str, query: Vec<(String, String)>, tamper: bool| {
            let http = http.clone();
            let token = token.clone();
            let base = tiktok.base_url.clone();
            async move {
                let mut sign = expected_sign(APP_SECRET, path, &query, b"");
                if tamper {
                    sign.replace_range(0..1, if sign.starts_with('0') { "1" } else { "0" });
                }
                let mut url = url::Url::parse(&format!("{base}{path}")).unwrap();
                url.query_pairs_mut()
                    .extend_pairs(&query)
                    .append_pair("sign", &sign);
                let answer = http
                    .get(url)
                    .header("x-tts-access-token", token)
                    .header("content-type", "application/json")
                    .send()
                    .await
                    .unwrap();
                let status = answer.status().as_u16();
                let body: serde_json::Value = answer.json().await.unwrap();
                (status, body["code"].as_i64().unwrap())
            }
        };
        let shops = "/authorization/202309/shops";
        let product = "/product/202309/products/1729382400000000000";
        let missing = "/product/202309/products/1729382409999999999";
        let c = cipher(0);
        let signed = [("app_key", APP_KEY), ("timestamp", now.as_str())];
        let with_cipher = [signed[0], signed[1], ("shop_cipher", c.as_str())];
        /// (path, query, signature tampered with, HTTP status where asserted, TikTok's code)
        type Case<'a> = (
            &'static str,
            &'a [(&'a str, &'a str)],
            bool,
            Option<u16>,
            i64,
        );
        let cases: [Case; 8] = [
            (shops, &signed, false, Some(200), 0),
            (shops, &signed, true, Some(401), 106001),
            (
                shops,
                &[("app_key", APP_KEY), ("timestamp", "1623812664")],
                false,
                None,
                36009004,
            ),
            (
                shops,
                &[("app_key", "other"), ("timestamp", &now)],
                false,
                None,
                36009004,
            ),
            (shops, &with_cipher, false, None, 36009004),
            (product, &signed, false, None, 106013),
            (product, &with_cipher, false, Some(200), 0),
            (missing, &with_cipher, false, None, 12019150),
        ];
        for (path, query, tamper, status, code) in cases {
            let query: Vec<(String, String)> = query
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
            let what = format!("{path} {query:?} tampered: {tamper}");
            let answer = send(path, query, tamper).await;
            assert_eq!(answer.1, code, "{what}");
            if let Some(status) = status {
                assert_eq!(answer.0, status, "{what}");
            }
        }
    }

    #[tokio::test]
    async fn a_seller_who_denies_goes_back_with_an_error_and_nothing_is_stored() {
        let (state, tiktok) = stack().await;
        let back = connect(&state, &tiktok, "seller-deny", "deny").await;
        assert_eq!(
            query_of(&back, "tiktokError").as_deref(),
            Some("access_denied")
        );
        assert!(connection_of(&state, "seller-deny").await.is_none());
    }
}
