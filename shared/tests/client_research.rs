//! The Research API's TikTok Shop endpoints against a wiremock TikTok: what is
//! sent (POST, bearer token, `fields`, JSON body with exact ids), how the list is
//! found (documented key or directly under `data`), `has_more`, ids above 2^53,
//! and envelope errors.

mod common;

use tiktok_gateway::tiktok::{
    Page, Product, Review, Shop, PRODUCT_FIELDS, REVIEW_FIELDS, SHOP_FIELDS,
};
use tiktok_gateway::{AccessToken, TikTokId, UpstreamError};
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

use common::*;

const TOKEN: &str = "clt.research-app-token!6143";
/// A product id above 2^53.
const LAMP_ID: &str = "1729382256910270462";

fn token() -> AccessToken {
    AccessToken::new(TOKEN)
}

fn id(raw: &str) -> TikTokId {
    TikTokId::parse(raw).unwrap()
}

/// A 200 carrying the fixture `name`.
fn ok(name: &str) -> ResponseTemplate {
    json(200, fixture(name))
}

/// A research endpoint at `route` that only answers a POST carrying the bearer
/// token and `fields`.
fn research(route: &str, fields: &[&str]) -> MockBuilder {
    Mock::given(method("POST"))
        .and(path(route))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("content-type", "application/json"))
        .and(query_param("fields", fields.join(",")))
}

fn shop_search() -> MockBuilder {
    research(SHOP_PATH, SHOP_FIELDS)
}

fn product_list() -> MockBuilder {
    research(PRODUCT_PATH, PRODUCT_FIELDS)
}

fn review_list() -> MockBuilder {
    research(REVIEW_PATH, REVIEW_FIELDS)
}

/// The product list of [`SHOP_ID`], asked for with exactly this page.
fn product_page(page_start: u32, page_size: u32) -> MockBuilder {
    product_list().and(body_json(serde_json::json!({
        "shop_id": 7_494_754_040_961_993_092u64,
        "page_start": page_start,
        "page_size": page_size,
    })))
}

/// TikTok answers `answer` to `expected`, once; the client searches shops.
async fn shops(
    expected: MockBuilder,
    answer: ResponseTemplate,
    name: &str,
    limit: u32,
) -> Result<Vec<Shop>, UpstreamError> {
    let server = serve_once(expected, answer).await;
    client(&server)
        .shops(&token(), name, limit, far_deadline())
        .await
}

/// TikTok answers `answer` to `expected`, once; the client asks for a page of
/// [`SHOP_ID`]'s products.
async fn products(
    expected: MockBuilder,
    answer: ResponseTemplate,
    page_start: u32,
    page_size: u32,
) -> Result<Page<Product>, UpstreamError> {
    let server = serve_once(expected, answer).await;
    client(&server)
        .products(
            &token(),
            &id(SHOP_ID),
            page_start,
            page_size,
            far_deadline(),
        )
        .await
}

/// TikTok answers `answer` to `expected`, once; the client asks for a page of
/// [`LAMP_ID`]'s reviews.
async fn reviews(
    expected: MockBuilder,
    answer: ResponseTemplate,
    page_start: u32,
    page_size: u32,
) -> Result<Page<Review>, UpstreamError> {
    let server = serve_once(expected, answer).await;
    client(&server)
        .reviews(
            &token(),
            &id(LAMP_ID),
            page_start,
            page_size,
            far_deadline(),
        )
        .await
}

// ---- shops ----------------------------------------------------------------------

#[tokio::test]
async fn shops_posts_name_and_limit_and_decodes_ids_above_2_pow_53_exactly() {
    let expected = shop_search().and(body_json(
        serde_json::json!({"shop_name": "Acme Home", "limit": 5}),
    ));

    let shops = shops(expected, ok("shop_success.json"), "Acme Home", 5)
        .await
        .unwrap();

    // A raw JSON number and a string: both exact, neither through f64.
    let ids: Vec<&str> = shops.iter().map(|s| s.shop_id.as_str()).collect();
    assert_eq!(ids, ["7494754040961993092", "7494754040961993093"]);
    assert_eq!(shops[0].shop_name, "Acme Home Goods");
    assert_eq!(shops[0].shop_rating, Some(4.8));
    assert_eq!(shops[0].shop_review_count, Some(15_230));
    assert_eq!(shops[0].item_sold_count, Some(982_341));
    assert_eq!(
        shops[0].shop_performance_value.as_deref(),
        Some("Excellent")
    );
    assert_eq!(shops[1].shop_rating, Some(4.2));
    assert_eq!(shops[1].shop_review_count, Some(311));
    assert_eq!(shops[1].shop_performance_value.as_deref(), Some("87"));
}

#[tokio::test]
async fn shops_limit_is_capped_at_ten() {
    let capped = shop_search().and(body_json(
        serde_json::json!({"shop_name": "Acme", "limit": 10}),
    ));

    let found = shops(capped, ok("shop_success.json"), "Acme", 50).await;

    assert_eq!(found.unwrap().len(), 2);
}

#[test]
fn the_fixture_really_carries_ids_as_raw_json_numbers() {
    // Guards the tests above: the ids must reach the client as numbers, not strings.
    assert!(fixture("shop_success.json").contains("\"shop_id\": 7494754040961993092,"));
    assert!(fixture("products_page.json").contains("\"product_id\": 1729382256910270462,"));
}

// ---- products ---------------------------------------------------------------------

/// The request's `shop_id`, as the JSON text TikTok receives.
fn shop_id_is_exact_integer(request: &Request) -> bool {
    let body: serde_json::Value = match request.body_json() {
        Ok(body) => body,
        Err(_) => return false,
    };
    body["shop_id"].as_u64() == Some(7_494_754_040_961_993_092)
}

#[tokio::test]
async fn products_sends_shop_id_as_an_exact_json_integer_and_decodes_the_page() {
    let exact = product_page(2, 10)
        .and(body_string_contains("\"shop_id\":7494754040961993092"))
        .and(shop_id_is_exact_integer);

    let page = products(exact, ok("products_page.json"), 2, 10)
        .await
        .unwrap();

    // Two items on a page of ten, but TikTok's has_more: true wins.
    assert!(page.has_more);
    assert_eq!(page.items.len(), 2);
    let lamp = &page.items[0];
    assert_eq!(lamp.product_id.as_str(), LAMP_ID);
    assert_eq!(lamp.product_name, "Ceramic Table Lamp");
    assert_eq!(lamp.product_description, "Warm light, linen shade.");
    assert_eq!(lamp.product_price, ["29.99USD", "39.99USD"]);
    assert_eq!(lamp.product_sold_count, Some(1_520));
    assert_eq!(lamp.product_review_count, Some(214));
    assert_eq!(lamp.product_rating, Some(4.6));
    assert_eq!(
        [
            lamp.product_rating_1_count,
            lamp.product_rating_2_count,
            lamp.product_rating_3_count,
            lamp.product_rating_4_count,
            lamp.product_rating_5_count,
        ],
        [Some(4), Some(6), Some(12), Some(48), Some(144)]
    );
    let shade = &page.items[1];
    assert_eq!(shade.product_id.as_str(), "1729559178237105201");
    assert_eq!(shade.product_sold_count, Some(88));
    assert_eq!(shade.product_rating, Some(4.0));
}

#[tokio::test]
async fn products_page_arguments_are_clamped() {
    let clamped = product_page(1, 10);

    let page = products(clamped, ok("products_page.json"), 0, 500).await;

    assert!(page.is_ok(), "{page:?}");
}

#[tokio::test]
async fn products_listed_directly_under_data_are_accepted_and_a_full_page_means_more() {
    let page = products(product_page(1, 3), ok("products_under_data.json"), 1, 3)
        .await
        .unwrap();

    let ids: Vec<&str> = page.items.iter().map(|p| p.product_id.as_str()).collect();
    assert_eq!(
        ids,
        [LAMP_ID, "1729559178237105201", "18446744073709551615"]
    );
    assert!(page.has_more, "no flag and a full page: there may be more");
}

#[tokio::test]
async fn a_short_page_without_has_more_means_no_more() {
    let page = products(product_list(), ok("products_under_data.json"), 1, 10)
        .await
        .unwrap();

    assert_eq!(page.items.len(), 3);
    assert!(!page.has_more);
}

#[tokio::test]
async fn an_id_that_went_through_a_float_is_refused_with_the_body_kept() {
    let body = fixture("product_float_id.json");

    let error = products(product_list(), json(200, body.clone()), 1, 10)
        .await
        .unwrap_err();

    match error {
        UpstreamError::Decode {
            status, body: kept, ..
        } => {
            assert_eq!(status, 200);
            assert_eq!(kept, body);
        }
        other => panic!("expected Decode, got {other:?}"),
    }
}

// ---- reviews ----------------------------------------------------------------------

#[tokio::test]
async fn reviews_posts_product_id_and_honours_has_more_false_on_a_full_page() {
    let exact = review_list()
        .and(body_string_contains("\"product_id\":1729382256910270462"))
        .and(body_json(serde_json::json!({
            "product_id": 1_729_382_256_910_270_462u64,
            "page_start": 3,
            "page_size": 2,
        })));

    let page = reviews(exact, ok("reviews_page.json"), 3, 2).await.unwrap();

    assert!(
        !page.has_more,
        "TikTok's has_more: false wins over a full page"
    );
    assert_eq!(page.items.len(), 2);
    let first = &page.items[0];
    assert_eq!(first.product_name, "Ceramic Table Lamp");
    assert_eq!(first.review_text, "Exactly as pictured, sturdy base.");
    assert_eq!(first.display_name, "m***a");
    assert_eq!(first.review_like_count, Some(12));
    assert_eq!(first.create_time, Some(1_726_540_800));
    assert_eq!(first.review_rating, Some(5.0));
    let second = &page.items[1];
    assert_eq!(second.review_like_count, Some(0));
    assert_eq!(second.create_time, Some(1_726_627_200));
    assert_eq!(second.review_rating, Some(2.0));
}

// ---- envelope errors ------------------------------------------------------------

#[tokio::test]
async fn envelope_error_on_http_200_is_an_api_error_with_code_message_and_log_id() {
    let invalid_params = ok("envelope_error_invalid_params.json");

    let error = reviews(review_list(), invalid_params, 1, 10)
        .await
        .unwrap_err();

    match &error {
        UpstreamError::Api {
            status,
            code,
            message,
            log_id,
        } => {
            assert_eq!(*status, 200);
            assert_eq!(code, "invalid_params");
            assert_eq!(message, "page_size should be less than or equal to 10");
            assert_eq!(
                log_id.as_deref(),
                Some("20240917031005B6C7D8E9F0A1B2C3D4E5")
            );
        }
        other => panic!("expected Api, got {other:?}"),
    }
    assert!(!error.is_retryable());
    assert_eq!(error.log_id(), Some("20240917031005B6C7D8E9F0A1B2C3D4E5"));
}

#[tokio::test]
async fn access_token_invalid_401_is_its_own_variant_and_not_retried() {
    let invalid = json(401, fixture("envelope_error_access_token_invalid.json"));

    // Once: shops() serves one answer and checks that only one was asked for.
    let error = shops(shop_search(), invalid, "Acme", 10).await.unwrap_err();

    match &error {
        UpstreamError::AccessTokenInvalid { message, log_id } => {
            assert_eq!(
                message,
                "The access token is invalid or not found in the request."
            );
            assert_eq!(
                log_id.as_deref(),
                Some("20240917031106C7D8E9F0A1B2C3D4E5F6")
            );
        }
        other => panic!("expected AccessTokenInvalid, got {other:?}"),
    }
    assert!(!error.is_retryable());
    assert!(!format!("{error} {error:?}").contains(TOKEN));
}

#[tokio::test]
async fn scope_not_authorized_401_is_a_missing_scope_naming_it_and_not_retried() {
    let refused = json(401, fixture("envelope_error_scope_not_authorized.json"));

    let error = products(product_list(), refused, 1, 10).await.unwrap_err();

    assert!(
        matches!(&error, UpstreamError::ScopeMissing { message, .. }
            if message.contains("research.data.basic") && message.contains("scope_not_authorized")),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn an_envelope_without_error_code_is_a_decode_error() {
    let body = r#"{"data":{"product_data":[]}}"#;

    let error = products(product_list(), json(200, body), 1, 10)
        .await
        .unwrap_err();

    assert!(
        matches!(&error, UpstreamError::Decode { status: 200, body: kept, .. } if kept == body),
        "{error:?}"
    );
}

// ---- configuration ----------------------------------------------------------

/// A shop search through a client whose API base URL is the server's `prefix`:
/// it must reach `/tiktok{SHOP_PATH}`.
async fn shops_under(prefix: &str) -> Result<Vec<Shop>, UpstreamError> {
    let server = MockServer::start().await;
    let prefixed = Mock::given(method("POST"))
        .and(path(format!("/tiktok{SHOP_PATH}")))
        .respond_with(ok("shop_success.json"))
        .expect(1)
        .named("prefixed shop endpoint");
    prefixed.mount(&server).await;
    let mut config = config(&server.uri());
    config.api_base_url = url::Url::parse(&format!("{}{prefix}", server.uri())).unwrap();
    client_with(config, fast_retry(1))
        .shops(&token(), "Acme", 10, far_deadline())
        .await
}

#[tokio::test]
async fn an_api_base_url_with_a_path_prefix_keeps_it() {
    let shops = shops_under("/tiktok/").await;
    assert!(shops.is_ok(), "{shops:?}");
}

#[tokio::test]
async fn a_path_prefix_without_a_trailing_slash_is_kept_too() {
    let shops = shops_under("/tiktok").await;
    assert!(shops.is_ok(), "{shops:?}");
}
