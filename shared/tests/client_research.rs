//! The Research API's TikTok Shop endpoints against a wiremock TikTok: what is
//! sent (POST, bearer token, `fields`, JSON body with exact ids), how the list is
//! found (documented key or directly under `data`), `has_more`, ids above 2^53,
//! and envelope errors.

mod common;

use tiktok_gateway::tiktok::{PRODUCT_FIELDS, REVIEW_FIELDS, SHOP_FIELDS};
use tiktok_gateway::{AccessToken, TikTokId, UpstreamError};
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use common::*;

const TOKEN: &str = "clt.research-app-token!6143";

fn token() -> AccessToken {
    AccessToken::new(TOKEN)
}

fn id(raw: &str) -> TikTokId {
    TikTokId::parse(raw).unwrap()
}

fn json(status: u16, body: String) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body, "application/json")
}

/// A research endpoint at `route` that only answers a POST carrying the bearer
/// token and `fields`, once.
fn research(route: &str, fields: &[&str]) -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path(route))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("content-type", "application/json"))
        .and(query_param("fields", fields.join(",")))
}

// ---- shops ----------------------------------------------------------------------

#[tokio::test]
async fn shops_posts_name_and_limit_and_decodes_ids_above_2_pow_53_exactly() {
    let server = MockServer::start().await;
    research(SHOP_PATH, SHOP_FIELDS)
        .and(body_json(
            serde_json::json!({"shop_name": "Acme Home", "limit": 5}),
        ))
        .respond_with(json(200, fixture("shop_success.json")))
        .expect(1)
        .mount(&server)
        .await;

    let shops = client(&server)
        .shops(&token(), "Acme Home", 5, far_deadline())
        .await
        .unwrap();

    assert_eq!(shops.len(), 2);
    // A raw JSON number and a string: both exact, neither through f64.
    assert_eq!(shops[0].shop_id.as_str(), "7494754040961993092");
    assert_eq!(shops[1].shop_id.as_str(), "7494754040961993093");
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
    let server = MockServer::start().await;
    research(SHOP_PATH, SHOP_FIELDS)
        .and(body_json(
            serde_json::json!({"shop_name": "Acme", "limit": 10}),
        ))
        .respond_with(json(200, fixture("shop_success.json")))
        .expect(1)
        .mount(&server)
        .await;

    let shops = client(&server)
        .shops(&token(), "Acme", 50, far_deadline())
        .await
        .unwrap();

    assert_eq!(shops.len(), 2);
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
    let server = MockServer::start().await;
    research(PRODUCT_PATH, PRODUCT_FIELDS)
        .and(body_string_contains("\"shop_id\":7494754040961993092"))
        .and(shop_id_is_exact_integer)
        .and(body_json(serde_json::json!({
            "shop_id": 7_494_754_040_961_993_092u64,
            "page_start": 2,
            "page_size": 10,
        })))
        .respond_with(json(200, fixture("products_page.json")))
        .expect(1)
        .mount(&server)
        .await;

    let page = client(&server)
        .products(&token(), &id(SHOP_ID), 2, 10, far_deadline())
        .await
        .unwrap();

    // Two items on a page of ten, but TikTok's has_more: true wins.
    assert!(page.has_more);
    assert_eq!(page.items.len(), 2);
    let lamp = &page.items[0];
    assert_eq!(lamp.product_id.as_str(), "1729382256910270462");
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
    let server = MockServer::start().await;
    research(PRODUCT_PATH, PRODUCT_FIELDS)
        .and(body_json(serde_json::json!({
            "shop_id": 7_494_754_040_961_993_092u64,
            "page_start": 1,
            "page_size": 10,
        })))
        .respond_with(json(200, fixture("products_page.json")))
        .expect(1)
        .mount(&server)
        .await;

    client(&server)
        .products(&token(), &id(SHOP_ID), 0, 500, far_deadline())
        .await
        .unwrap();
}

#[tokio::test]
async fn products_listed_directly_under_data_are_accepted_and_a_full_page_means_more() {
    let server = MockServer::start().await;
    research(PRODUCT_PATH, PRODUCT_FIELDS)
        .and(body_json(serde_json::json!({
            "shop_id": 7_494_754_040_961_993_092u64,
            "page_start": 1,
            "page_size": 3,
        })))
        .respond_with(json(200, fixture("products_under_data.json")))
        .expect(1)
        .mount(&server)
        .await;

    let page = client(&server)
        .products(&token(), &id(SHOP_ID), 1, 3, far_deadline())
        .await
        .unwrap();

    let ids: Vec<&str> = page.items.iter().map(|p| p.product_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "1729382256910270462",
            "1729559178237105201",
            "18446744073709551615"
        ]
    );
    assert!(page.has_more, "no flag and a full page: there may be more");
}

#[tokio::test]
async fn a_short_page_without_has_more_means_no_more() {
    let server = MockServer::start().await;
    research(PRODUCT_PATH, PRODUCT_FIELDS)
        .respond_with(json(200, fixture("products_under_data.json")))
        .expect(1)
        .mount(&server)
        .await;

    let page = client(&server)
        .products(&token(), &id(SHOP_ID), 1, 10, far_deadline())
        .await
        .unwrap();

    assert_eq!(page.items.len(), 3);
    assert!(!page.has_more);
}

#[tokio::test]
async fn an_id_that_went_through_a_float_is_refused_with_the_body_kept() {
    let server = MockServer::start().await;
    let body = fixture("product_float_id.json");
    research(PRODUCT_PATH, PRODUCT_FIELDS)
        .respond_with(json(200, body.clone()))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server)
        .products(&token(), &id(SHOP_ID), 1, 10, far_deadline())
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
    let server = MockServer::start().await;
    research(REVIEW_PATH, REVIEW_FIELDS)
        .and(body_string_contains("\"product_id\":1729382256910270462"))
        .and(body_json(serde_json::json!({
            "product_id": 1_729_382_256_910_270_462u64,
            "page_start": 3,
            "page_size": 2,
        })))
        .respond_with(json(200, fixture("reviews_page.json")))
        .expect(1)
        .mount(&server)
        .await;

    let page = client(&server)
        .reviews(&token(), &id("1729382256910270462"), 3, 2, far_deadline())
        .await
        .unwrap();

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
    let server = MockServer::start().await;
    research(REVIEW_PATH, REVIEW_FIELDS)
        .respond_with(json(200, fixture("envelope_error_invalid_params.json")))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server)
        .reviews(&token(), &id("1729382256910270462"), 1, 10, far_deadline())
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
    let server = MockServer::start().await;
    research(SHOP_PATH, SHOP_FIELDS)
        .respond_with(json(
            401,
            fixture("envelope_error_access_token_invalid.json"),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server)
        .shops(&token(), "Acme", 10, far_deadline())
        .await
        .unwrap_err();

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
    let server = MockServer::start().await;
    research(PRODUCT_PATH, PRODUCT_FIELDS)
        .respond_with(json(
            401,
            fixture("envelope_error_scope_not_authorized.json"),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server)
        .products(&token(), &id(SHOP_ID), 1, 10, far_deadline())
        .await
        .unwrap_err();

    assert!(
        matches!(&error, UpstreamError::ScopeMissing { message, .. }
            if message.contains("research.data.basic") && message.contains("scope_not_authorized")),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn an_envelope_without_error_code_is_a_decode_error() {
    let server = MockServer::start().await;
    let body = r#"{"data":{"product_data":[]}}"#;
    research(PRODUCT_PATH, PRODUCT_FIELDS)
        .respond_with(json(200, body.into()))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server)
        .products(&token(), &id(SHOP_ID), 1, 10, far_deadline())
        .await
        .unwrap_err();

    assert!(
        matches!(&error, UpstreamError::Decode { status: 200, body: kept, .. } if kept == body),
        "{error:?}"
    );
}

// ---- configuration ----------------------------------------------------------

#[tokio::test]
async fn an_api_base_url_with_a_path_prefix_keeps_it() {
    let server = MockServer::start().await;
    let prefixed = Mock::given(method("POST"))
        .and(path(format!("/tiktok{SHOP_PATH}")))
        .respond_with(json(200, fixture("shop_success.json")))
        .expect(1)
        .named("prefixed shop endpoint");
    prefixed.mount(&server).await;
    let mut config = config(&server.uri());
    config.api_base_url = url::Url::parse(&format!("{}/tiktok/", server.uri())).unwrap();

    let shops = client_with(config, fast_retry(1))
        .shops(&token(), "Acme", 10, far_deadline())
        .await;

    assert!(shops.is_ok(), "{shops:?}");
}

#[tokio::test]
async fn a_path_prefix_without_a_trailing_slash_is_kept_too() {
    let server = MockServer::start().await;
    let prefixed = Mock::given(method("POST"))
        .and(path(format!("/tiktok{SHOP_PATH}")))
        .respond_with(json(200, fixture("shop_success.json")))
        .expect(1)
        .named("prefixed shop endpoint");
    prefixed.mount(&server).await;
    let mut config = config(&server.uri());
    config.api_base_url = url::Url::parse(&format!("{}/tiktok", server.uri())).unwrap();

    let shops = client_with(config, fast_retry(1))
        .shops(&token(), "Acme", 10, far_deadline())
        .await;

    assert!(shops.is_ok(), "{shops:?}");
}
