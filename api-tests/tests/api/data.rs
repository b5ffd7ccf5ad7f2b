//! Search, shop lookup and product lookup: validation, the dshipit format, the
//! refresh-once rule, both token modes, and upstream failures as the site sees them.

use wiremock::matchers::{body_string_contains, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::harness::*;

const P1: u64 = 7494754040961993100;
const P2: u64 = 7494754040961993101;
const P3: u64 = 7494754040961993102;

fn page_request(start: u32) -> wiremock::MockBuilder {
    research_request("product").and(body_string_contains(format!("\"page_start\":{start}")))
}

/// The listing page `start`: `products`, and whether more follow.
fn products_page(start: u32, products: &[(u64, &str, &str)], has_more: bool) -> Mock {
    page_request(start).respond_with(json_200(products_body(products, has_more)))
}

/// The listing page `start` asked for with `token`.
fn page_for(start: u32, token: &str, body: serde_json::Value) -> Mock {
    page_request(start)
        .and(bearer(token))
        .respond_with(json_200(body))
}

async fn search(h: &Harness, query: &[(&str, &str)]) -> lambda_http::Response<lambda_http::Body> {
    h.search("user-1", query).await
}

/// `user-1` connected with `act.old` about to expire; TikTok refreshes
/// `rft.old` into `new` once.
async fn connected_with_an_expiring_token(h: &Harness) {
    h.connect("user-1", "old", 30).await; // inside the expiry skew
    h.expect(
        1,
        refresh_request("old").respond_with(token_response("new", 7200)),
    )
    .await;
}

/// The shop search refusing the access token (TikTok's `access_token_invalid`).
fn token_refused() -> ResponseTemplate {
    research_error(401, "access_token_invalid", "expired")
}

#[tokio::test]
async fn bad_search_input_is_a_400_and_calls_nobody() {
    let h = Harness::memory(&[]).await;
    h.connect("user-1", "live", 3600).await;
    let long = "x".repeat(1001);
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("shopId", "12ab")],
        vec![("shopId", "-1")],
        vec![("shopId", "99999999999999999999999")],
        vec![("shopId", SHOP), ("pageSize", "0")],
        vec![("shopId", SHOP), ("pageSize", "11")],
        vec![("shopId", SHOP), ("pageSize", "ten")],
        vec![("shopId", SHOP), ("pageStart", "0")],
        vec![("shopId", SHOP), ("query", &long)],
    ];
    for query in cases {
        let response = search(&h, &query).await;
        assert_eq!(response.status(), 400, "{query:?}");
        assert_eq!(error_code(&response), "bad_request");
    }
    assert!(h.tiktok.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_user_without_a_connection_gets_409() {
    let h = Harness::memory(&[]).await;
    let response = search(&h, &[("shopId", SHOP)]).await;
    assert_eq!(response.status(), 409);
    assert_eq!(error_code(&response), "not_connected");
}

async fn search_filters_by_keyword_across_pages(h: Harness) {
    h.connect("user-1", "live", 3600).await;
    h.expect(
        1,
        products_page(
            2,
            &[(P1, "Desk Lamp", "warm light"), (P2, "Mug", "ceramic")],
            true,
        ),
    )
    .await;
    h.expect(1, products_page(3, &[(P3, "Cable", "a LAMP cable")], false))
        .await;
    let response = search(
        &h,
        &[
            ("shopId", SHOP),
            ("query", "  lamp "),
            ("pageStart", "2"),
            ("pageSize", "2"),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body = body_json(&response);
    let ids: Vec<&str> = body["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["product_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["7494754040961993100", "7494754040961993102"],
        "ids exact, as strings"
    );
    assert_eq!(body["totalCount"], 2);
    assert_eq!(body["hasMore"], false);
    assert!(body["nextPageStart"].is_null());
    let lamp = &body["products"][0];
    assert_eq!(lamp["product_title"], "Desk Lamp");
    assert_eq!(lamp["target_sale_price"], "19.99");
    assert_eq!(lamp["target_original_price"], "24.99");
    assert_eq!(lamp["discount"], "20");
    assert_eq!(lamp["evaluate_rate"], "4.5");
    assert_eq!(lamp["currency"], "USD");
    assert_eq!(lamp["supplier"], "TikTok Shop");
    assert_eq!(lamp["seller_id"], SHOP);
    // What the upstream was sent: the user's token, the fields, exact ids.
    let sent = h.tiktok.received_requests().await.unwrap();
    assert!(sent
        .iter()
        .all(|r| r.headers["authorization"] == "Bearer act.live"));
    assert!(sent.iter().all(|r| r
        .url
        .query()
        .unwrap()
        .contains("fields=product_id%2Cproduct_name")));
    assert!(String::from_utf8_lossy(&sent[0].body).contains(&format!("\"shop_id\":{SHOP}")));
}

on_each_store!(search_filters_by_keyword_across_pages() =>
    search_filters_by_keyword_across_pages_memory,
    search_filters_by_keyword_across_pages_dynamodb);

#[tokio::test]
async fn search_without_a_query_returns_one_page_and_where_to_continue() {
    let h = Harness::memory(&[]).await;
    h.connect("user-1", "live", 3600).await;
    h.expect(
        1,
        products_page(1, &[(P1, "Desk Lamp", ""), (P2, "Mug", "")], true),
    )
    .await;
    let body = body_json(&search(&h, &[("shopId", SHOP), ("pageSize", "2")]).await);
    assert_eq!(body["totalCount"], 2);
    assert_eq!(body["hasMore"], true);
    assert_eq!(body["nextPageStart"], 2);
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once_and_the_rotation_stored() {
    let h = Harness::moto(&[]).await;
    connected_with_an_expiring_token(&h).await;
    h.expect(
        1,
        page_for(1, "act.new", products_body(&[(P1, "Lamp", "")], false)),
    )
    .await;
    assert_eq!(search(&h, &[("shopId", SHOP)]).await.status(), 200);
    let stored = h.stored("user-1").await;
    assert_eq!(stored.tokens.refresh_token.expose(), "rft.new");
    assert_eq!(stored.tokens.access_expires_at, h.now() + 7200);
    assert_eq!(stored.version, 2);
}

#[tokio::test]
async fn access_token_invalid_refreshes_once_and_retries_once() {
    let h = Harness::memory(&[]).await;
    h.connect("user-1", "old", 3600).await;
    let shops = || research_request("shop");
    h.expect(
        1,
        shops().and(bearer("act.old")).respond_with(token_refused()),
    )
    .await;
    h.expect(1, token_request().respond_with(token_response("new", 7200)))
        .await;
    h.expect(
        1,
        shops()
            .and(bearer("act.new"))
            .respond_with(research_ok(sunny_home())),
    )
    .await;
    let response = h.shops("user-1", "sunny").await;
    assert_eq!(response.status(), 200);
    let body = body_json(&response);
    assert_eq!(body["shops"][0]["shopId"], SHOP);
    assert_eq!(body["shops"][0]["shopName"], "Sunny Home");
}

/// `response` is a 409 asking `user-1` to reconnect, and the connection is marked.
async fn assert_reconnect_required(
    h: &Harness,
    response: &lambda_http::Response<lambda_http::Body>,
) {
    assert_eq!(response.status(), 409);
    assert_eq!(error_code(response), "reconnect_required");
    assert_eq!(
        h.stored("user-1").await.status,
        tiktok_gateway::ConnectionStatus::ReconnectRequired
    );
}

#[tokio::test]
async fn a_token_refused_again_right_after_a_refresh_asks_the_user_to_reconnect() {
    // TikTok's rule (TIKTOK_SHOP_API.md §6): an invalid access token is
    // refreshed once; a freshly minted token refused too means the
    // authorization itself is gone: reconnect, not a 502.
    let h = Harness::memory(&[]).await;
    h.connect("user-1", "old", 3600).await;
    h.expect(2, research_request("shop").respond_with(token_refused()))
        .await;
    h.expect(1, token_request().respond_with(token_response("new", 7200)))
        .await;
    let response = h.shops("user-1", "sunny").await;
    assert_reconnect_required(&h, &response).await;
    // The next request does not call TikTok again (the mocks' counts hold).
    assert_eq!(h.shops("user-1", "sunny").await.status(), 409);
}

#[tokio::test]
async fn a_refused_refresh_token_asks_the_user_to_reconnect() {
    let h = Harness::moto(&[]).await;
    h.connect("user-1", "old", 0).await;
    h.expect(
        1,
        token_request().respond_with(invalid_grant("Refresh token is invalid")),
    )
    .await;
    let response = search(&h, &[("shopId", SHOP)]).await;
    assert_reconnect_required(&h, &response).await;
    // And the next request does not even try TikTok.
    assert_eq!(search(&h, &[("shopId", SHOP)]).await.status(), 409);
}

#[tokio::test]
async fn upstream_failures_get_the_documented_status_and_change_nothing() {
    let cases: Vec<(ResponseTemplate, u16, &str)> = vec![
        (
            research_error(429, "rate_limit_exceeded", "").insert_header("retry-after", "30"),
            429,
            "rate_limited",
        ),
        (ResponseTemplate::new(503), 502, "upstream_error"),
        (
            ResponseTemplate::new(200).set_body_string("{\"data\": {\"product_da"),
            502,
            "upstream_error",
        ),
        (
            research_error(200, "internal_error", ""),
            502,
            "upstream_error",
        ),
        (
            ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(5)),
            504,
            "upstream_timeout",
        ),
    ];
    for (template, status, code) in cases {
        let h = Harness::memory(&[("UPSTREAM_BUDGET_MS", "1500")]).await;
        h.connect("user-1", "live", 3600).await;
        let before = h.state.store.get_connection("user-1").await.unwrap();
        research_request("product")
            .respond_with(template)
            .mount(&h.tiktok)
            .await;
        let started = std::time::Instant::now();
        let response = search(&h, &[("shopId", SHOP)]).await;
        assert!(
            started.elapsed() < std::time::Duration::from_millis(2500),
            "within the budget"
        );
        assert_eq!(response.status(), status, "{code}");
        assert_eq!(error_code(&response), code);
        if status == 429 {
            assert_eq!(response.headers()["retry-after"], "30");
        }
        assert_eq!(
            h.state.store.get_connection("user-1").await.unwrap(),
            before
        );
    }
}

#[tokio::test]
async fn shop_lookup_is_404_when_tiktok_has_none_and_400_without_a_name() {
    let h = Harness::memory(&[]).await;
    h.connect("user-1", "live", 3600).await;
    let fields =
        "shop_id,shop_name,shop_rating,shop_review_count,item_sold_count,shop_performance_value";
    h.expect(
        1,
        research_request("shop")
            .and(query_param("fields", fields))
            .respond_with(research_ok(serde_json::json!({"shop_data": []}))),
    )
    .await;
    let none = h.shops("user-1", "nobody").await;
    assert_eq!(none.status(), 404);
    assert_eq!(error_code(&none), "not_found");
    let missing = h.shops("user-1", "  ").await;
    assert_eq!(missing.status(), 400);
}

fn reviews_mock() -> Mock {
    research_request("review")
        .and(body_string_contains(format!("\"product_id\":{P3}")))
        .respond_with(research_ok(serde_json::json!({
            "review_data": [{"review_text": "Bright!", "display_name": "ana", "review_rating": 5, "create_time": 1700000000, "review_like_count": 3, "product_name": "Cable"}]
        })))
}

async fn product(h: &Harness, id: u64, shop: &str) -> lambda_http::Response<lambda_http::Body> {
    product_lookup::handler(
        &h.state,
        get(
            &format!("/api/tiktok/products/{id}"),
            &[("shopId", shop)],
            Some("user-1"),
        ),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn product_lookup_pages_the_listing_then_answers_from_the_cache() {
    let h = Harness::moto(&[]).await;
    h.connect("user-1", "live", 3600).await;
    h.expect(
        1,
        products_page(1, &[(P1, "Desk Lamp", ""), (P2, "Mug", "")], true),
    )
    .await;
    h.expect(1, products_page(2, &[(P3, "Cable", "")], false))
        .await;
    h.expect(2, reviews_mock()).await;
    let first = product(&h, P3, SHOP).await;
    assert_eq!(first.status(), 200);
    let body = body_json(&first);
    assert_eq!(body["product"]["product_id"], P3.to_string());
    assert_eq!(body["reviews"][0]["reviewText"], "Bright!");
    // The second lookup is served from the cache: no listing call (expect(1) above).
    let second = product(&h, P3, SHOP).await;
    assert_eq!(body_json(&second)["product"], body["product"]);
}

#[tokio::test]
async fn product_lookup_is_404_when_the_listing_lacks_it_and_400_on_bad_ids() {
    let h = Harness::memory(&[]).await;
    h.connect("user-1", "live", 3600).await;
    h.expect(1, products_page(1, &[(P1, "Desk Lamp", "")], false))
        .await;
    let missing = product(&h, P3, SHOP).await;
    assert_eq!(missing.status(), 404);
    let bad = product_lookup::handler(
        &h.state,
        get(
            "/api/tiktok/products/abc",
            &[("shopId", SHOP)],
            Some("user-1"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), 400);
    let no_shop = product(&h, P1, "").await;
    assert_eq!(no_shop.status(), 400);
}

#[tokio::test]
async fn app_mode_uses_one_stored_client_token_for_every_user() {
    let h = Harness::moto(&[("DATA_TOKEN_MODE", "app")]).await;
    h.connect("user-1", "u1", 3600).await;
    h.connect("user-2", "u2", 3600).await;
    h.expect(
        1,
        client_token_request().respond_with(client_token("clt.app")),
    )
    .await;
    h.expect(
        2,
        page_for(1, "clt.app", products_body(&[(P1, "Lamp", "")], false)),
    )
    .await;
    for user in ["user-1", "user-2"] {
        let response = h.search(user, &[("shopId", SHOP)]).await;
        assert_eq!(response.status(), 200);
    }
    // Still requires the user to be connected.
    let stranger = h.search("user-3", &[("shopId", SHOP)]).await;
    assert_eq!(stranger.status(), 409);
}

#[tokio::test]
async fn a_search_over_several_pages_refreshes_an_expired_token_once() {
    let h = Harness::memory(&[]).await;
    connected_with_an_expiring_token(&h).await;
    for (start, products, more) in [
        (1, [(P1, "Mug", "")], true),
        (2, [(P2, "Lamp", "")], true),
        (3, [(P3, "Lamp cable", "")], false),
    ] {
        h.expect(
            1,
            page_for(start, "act.new", products_body(&products, more)),
        )
        .await;
    }

    let response = search(
        &h,
        &[("shopId", SHOP), ("query", "lamp"), ("pageSize", "2")],
    )
    .await;

    assert_eq!(response.status(), 200);
    let body = body_json(&response);
    assert_eq!(body["totalCount"], 2);
    let stored = h.stored("user-1").await;
    assert_eq!(stored.version, 2, "one rotation for the whole request");
    assert_eq!(stored.tokens.refresh_token.expose(), "rft.new");
}

#[tokio::test]
async fn a_product_a_search_answered_is_looked_up_without_listing_again() {
    let h = Harness::moto(&[]).await;
    h.connect("user-1", "live", 3600).await;
    h.expect(
        1,
        products_page(1, &[(P1, "Desk Lamp", ""), (P3, "Mug", "")], false),
    )
    .await;
    h.expect(1, reviews_mock()).await;
    let found = body_json(&search(&h, &[("shopId", SHOP), ("query", "mug")]).await);
    assert_eq!(found["products"][0]["product_id"], P3.to_string());

    let response = product(&h, P3, SHOP).await;

    // expect(1) on the listing: the product came from what the search cached.
    assert_eq!(response.status(), 200);
    assert_eq!(body_json(&response)["product"], found["products"][0]);
}

#[tokio::test]
async fn app_mode_replaces_a_refused_client_token_once_and_keeps_using_the_new_one() {
    let h = Harness::moto(&[("DATA_TOKEN_MODE", "app")]).await;
    h.connect("user-1", "u1", 3600).await;
    h.state
        .store
        .put_app_token(
            &tiktok_gateway::AccessToken::new("clt.old"),
            h.now() + 3600,
            None,
        )
        .await
        .unwrap();
    let shops = || research_request("shop");
    h.expect(
        1,
        shops().and(bearer("clt.old")).respond_with(token_refused()),
    )
    .await;
    h.expect(
        1,
        client_token_request().respond_with(client_token("clt.new")),
    )
    .await;
    h.expect(
        2,
        shops()
            .and(bearer("clt.new"))
            .respond_with(research_ok(sunny_home())),
    )
    .await;

    for _ in 0..2 {
        assert_eq!(h.shops("user-1", "sunny").await.status(), 200);
    }

    let stored = h.state.store.get_app_token().await.unwrap().unwrap();
    assert_eq!(
        stored.access_token.expose(),
        "clt.new",
        "for the other containers"
    );
}
