//! The Affiliate Creator API client against a wiremock TikTok: the signing
//! vectors C1–C3, the creator authorization page, each endpoint's request
//! exactly (no `shop_cipher`, the token header, the search body signed as
//! sent, `product_ids` in the query and no body), the tolerant decoding of
//! products (absent `units_sold` stays absent) and the creator error codes.

mod common;

use std::sync::Arc;

use tiktok_gateway::config::ShopConfig;
use tiktok_gateway::product::DshipitProduct;
use tiktok_gateway::tiktok::creator::{CreatorClient, OpenSearch, SortField};
use tiktok_gateway::tiktok::shop::{sign_request, ShopClient};
use tiktok_gateway::tiktok::{AppCredentials, TikTokId};
use tiktok_gateway::{AccessToken, ClientSecret, Error, OAuthState, UpstreamError};
use url::Url;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use common::*;

const APP_KEY: &str = "creatorappkey";
const APP_SECRET: &str = "creator-S3CR3T-app-secret-77";
const ACCESS: &str = "TTP_access.creator-token";
const NOW: i64 = 1_760_000_000;
const SEARCH_PATH: &str = "/affiliate_creator/202405/open_collaborations/products/search";
const BY_IDS_PATH: &str = "/affiliate_creator/202509/open_collaborations/products";
const PROFILE_PATH: &str = "/affiliate_creator/202508/profiles";

fn app() -> AppCredentials {
    AppCredentials {
        client_key: APP_KEY.into(),
        client_secret: ClientSecret::new(APP_SECRET),
    }
}

fn creator(server: &MockServer) -> CreatorClient {
    let base = server.uri();
    let url = |p: &str| Url::parse(&format!("{base}{p}")).unwrap();
    CreatorClient::new(
        ShopClient::new(
            client_with(config(&base), fast_retry(1)),
            ShopConfig {
                authorize_url: Url::parse("https://services.tiktokshop.com/open/authorize")
                    .unwrap(),
                token_url: url("/api/v2/token/get"),
                refresh_url: url("/api/v2/token/refresh"),
                api_base_url: url("/"),
                service_id: String::new(),
                creator_authorize_url: Url::parse("https://shop.tiktok.com/alliance/creator/auth")
                    .unwrap(),
            },
        )
        .with_clock(Arc::new(|| NOW)),
    )
}

fn envelope(data: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "code": 0, "message": "Success", "request_id": "2026REQ", "data": data,
    }))
}

fn error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "code": code, "message": message, "request_id": "2026ERR",
    }))
}

fn query(request: &Request) -> Vec<(String, String)> {
    request.url.query_pairs().into_owned().collect()
}

/// A signed creator call: the token header, JSON content type, `app_key`,
/// the clock's `timestamp`, the signature of what arrived, and never a
/// `shop_cipher` or `access_token` in the query.
fn creator_call(verb: &str, route: &str) -> wiremock::MockBuilder {
    Mock::given(method(verb))
        .and(path(route))
        .and(header("x-tts-access-token", ACCESS))
        .and(header("content-type", "application/json"))
        .and(|r: &Request| {
            let q = query(r);
            let has = |k: &str, v: &str| q.iter().any(|(a, b)| a == k && b == v);
            has("app_key", APP_KEY)
                && has("timestamp", &NOW.to_string())
                && !q
                    .iter()
                    .any(|(k, _)| k == "shop_cipher" || k == "access_token")
        })
        .and(|r: &Request| {
            test_support::signed_as_received(&r.url, &r.body, |path, params, body| {
                sign_request(APP_SECRET, path, params, body)
            })
        })
}

// ---- the signing vectors -------------------------------------------------------

const VECTOR_SECRET: &str = "e59af819cc";
const VECTOR_QUERY: [(&str, &str); 2] = [("app_key", "29a39d"), ("timestamp", "1623812664")];

#[test]
fn c1_the_profile_call_signs_as_the_vector_says() {
    assert_eq!(
        sign_request(VECTOR_SECRET, PROFILE_PATH, &VECTOR_QUERY, None),
        "e74b20075de1187d22a3906c08527284c9a2ba29c49b330e6fda1e8a808fbc18"
    );
}

#[test]
fn c2_the_search_signs_its_query_and_body_as_the_vector_says() {
    let mut query = VECTOR_QUERY.to_vec();
    query.extend([
        ("page_size", "20"),
        ("sort_field", "units_sold"),
        ("sort_order", "DESC"),
    ]);
    let body = br#"{"title_keywords":["yoga","mat"],"commission_rate_range":{"rate_ge":1000}}"#;
    assert_eq!(
        sign_request(VECTOR_SECRET, SEARCH_PATH, &query, Some(body)),
        "b29e07fe01326bd3202891be9bf7fe4426cdf6b65e7a50658fa209e222a290f8"
    );
    // The client writes exactly those bytes for that search.
    let search = OpenSearch {
        title_keywords: vec!["yoga".into(), "mat".into()],
        rate_ge: Some(1000),
        sort: Some((SortField::UnitsSold, true)),
        ..OpenSearch::default()
    };
    let written: serde_json::Value = serde_json::from_slice(&search.body()).unwrap();
    let vector: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(written, vector);
}

#[test]
fn c3_the_by_ids_call_signs_the_decoded_ids_and_no_body() {
    let mut query = VECTOR_QUERY.to_vec();
    query.push(("product_ids", "1729432087292775344,1729432087292775345"));
    assert_eq!(
        sign_request(VECTOR_SECRET, BY_IDS_PATH, &query, None),
        "5bbb273e077791a7eb59e655c18a7f8196bb684e90fa8e3e838bcea55626985a"
    );
}

// ---- authorization -------------------------------------------------------------

#[tokio::test]
async fn the_creator_page_gets_app_key_and_state_and_nothing_else() {
    let server = MockServer::start().await;
    let url = creator(&server).authorize_url(APP_KEY, &OAuthState::new("st+ate/="));
    assert_eq!(
        url.as_str(),
        "https://shop.tiktok.com/alliance/creator/auth?app_key=creatorappkey&state=st%2Bate%2F%3D"
    );
}

// ---- endpoints -----------------------------------------------------------------

fn fixture_a() -> serde_json::Value {
    serde_json::json!({"products":[
      {"id":"1731000000000000001","title":"Non-Slip Yoga Mat 6mm TPE",
       "main_image_url":"https://p16-oec-va.ibyteimg.com/aa01.webp",
       "detail_link":"https://shop.tiktok.com/view/product/1731000000000000001?region=US&local=en",
       "sale_region":"US","has_inventory":true,"units_sold":4821,"shop":{"name":"Lotus Active Store"},
       "category_chains":[{"id":"605231","parent_id":"605220","local_name":"Yoga Mats","is_leaf":true},
         {"id":"601450","parent_id":"0","local_name":"Sports & Outdoor","is_leaf":false},
         {"id":"605220","parent_id":"601450","local_name":"Fitness Equipment","is_leaf":false}],
       "sales_price":{"currency":"USD","minimum_amount":"19.99","maximum_amount":"24.99"},
       "original_price":{"currency":"USD","minimum_amount":"29.99","maximum_amount":"34.99"},
       "commission":{"rate":1234,"currency":"USD","amount":"2.4668"}},
      {"id":"1731000000000000002","title":"Yoga Block Set of 2 EVA Foam",
       "sale_region":"US","has_inventory":false,"shop":{"name":"ZenHome Goods"},
       "sales_price":{"currency":"USD","minimum_amount":"8.5","maximum_amount":"8.5"},
       "original_price":{"currency":"USD","minimum_amount":"12.00","maximum_amount":"12.00"},
       "commission":{"rate":2200,"currency":"USD","amount":"1.87"}}],
     "next_page_token":"b2Zmc2V0+PTIw/=","total_count":137})
}

#[tokio::test]
async fn a_search_page_is_signed_as_sent_and_decoded_tolerantly() {
    let server = MockServer::start().await;
    creator_call("POST", SEARCH_PATH)
        .and(|r: &Request| {
            let q = query(r);
            let has = |k: &str, v: &str| q.iter().any(|(a, b)| a == k && b == v);
            has("page_size", "20")
                && has("page_token", "b2Zm+/=")
                && has("sort_field", "product_sales_price")
                && has("sort_order", "ASC")
        })
        .and(|r: &Request| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            body == serde_json::json!({
                "title_keywords": ["yoga", "mat"],
                "sales_price_range": {"amount_ge": "10", "amount_lt": "50.5"},
                "category": {"id": "601450"},
            })
        })
        .respond_with(envelope(fixture_a()))
        .expect(1)
        .mount(&server)
        .await;
    let search = OpenSearch {
        title_keywords: vec!["yoga".into(), "mat".into()],
        category_id: Some("601450".into()),
        amount_ge: Some("10".into()),
        amount_lt: Some("50.5".into()),
        sort: Some((SortField::SalesPrice, false)),
        ..OpenSearch::default()
    };
    let page = creator(&server)
        .search(
            &app(),
            &AccessToken::new(ACCESS),
            &search,
            20,
            Some("b2Zm+/="),
            far_deadline(),
        )
        .await
        .unwrap();
    assert_eq!(page.total_count, Some(137));
    assert_eq!(page.next_page_token, "b2Zmc2V0+PTIw/=");
    assert_eq!(page.products.len(), 2);

    // The record: exact decimals, ranges, commission in percent, units sold
    // absent stays null, the chain top level first, the shop as supplier.
    let mat = serde_json::to_value(DshipitProduct::from_open(&page.products[0])).unwrap();
    assert_eq!(mat["target_sale_price"], "19.99");
    assert_eq!(mat["target_original_price"], "29.99");
    assert_eq!(mat["discount"], "33");
    assert_eq!(mat["orders_count"], 4821);
    assert_eq!(mat["supplier"], "Lotus Active Store");
    assert_eq!(mat["currency"], "USD");
    assert_eq!(mat["commission_rate"], "12.34");
    assert_eq!(mat["commission_amount"], "2.4668");
    assert_eq!(mat["sale_price_range"]["max"], "24.99");
    assert_eq!(mat["in_stock"], true);
    assert_eq!(mat["category_chain"][0]["id"], "601450");
    assert_eq!(mat["category_chain"][2]["name"], "Yoga Mats");
    assert!(mat["product_detail_url"]
        .as_str()
        .unwrap()
        .starts_with("https://shop.tiktok.com/view/product/"));
    let block = serde_json::to_value(DshipitProduct::from_open(&page.products[1])).unwrap();
    assert!(block["orders_count"].is_null(), "{block}");
    assert_eq!(block["target_sale_price"], "8.5");
    assert_eq!(block["commission_rate"], "22");
}

#[tokio::test]
async fn by_ids_sends_the_ids_in_the_query_and_no_body() {
    let server = MockServer::start().await;
    creator_call("POST", BY_IDS_PATH)
        .and(|r: &Request| {
            query(r)
                .iter()
                .any(|(k, v)| k == "product_ids" && v == "1731000000000000003,1731000000000000004")
                && r.body.is_empty()
        })
        .respond_with(envelope(serde_json::json!({"products":[
            {"id":"1731000000000000003","title":"Bottle","shop_ads_commission":{"rate":1000},
             "sales_price":{"currency":"IDR","minimum_amount":"125000","maximum_amount":"150000"},
             "commission":{"rate":1800,"currency":"IDR","amount":"22500"}}]})))
        .expect(1)
        .mount(&server)
        .await;
    let ids = [
        TikTokId::parse("1731000000000000003").unwrap(),
        TikTokId::parse("1731000000000000004").unwrap(),
    ];
    let found = creator(&server)
        .products_by_ids(&app(), &AccessToken::new(ACCESS), &ids, far_deadline())
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let record = serde_json::to_value(DshipitProduct::from_open(&found[0])).unwrap();
    assert_eq!(record["target_sale_price"], "125000");
    assert_eq!(record["currency"], "IDR");
    assert_eq!(record["shop_ads_commission_rate"], "10");
}

#[tokio::test]
async fn the_profile_is_a_signed_get_without_a_body() {
    let server = MockServer::start().await;
    creator_call("GET", PROFILE_PATH)
        .and(|r: &Request| r.body.is_empty())
        .respond_with(envelope(serde_json::json!({
            "avatar":{"url":"https://p16-sign.tiktokcdn-us.com/ab12.webp","width":100,"height":100},
            "username":"fitwithjo","selection_region":"US","register_region":"US",
            "seller_type":"UNKNOWN","permissions":["ADD_AFFILIATE_PERMISSION"],
            "user_type":"TIKTOK_SHOP_CREATOR","creator_user_open_id":"uACafQ"})))
        .expect(1)
        .mount(&server)
        .await;
    let profile = creator(&server)
        .profile(&app(), &AccessToken::new(ACCESS), far_deadline())
        .await
        .unwrap();
    assert_eq!(profile.username, "fitwithjo");
    assert_eq!(profile.selection_region, "US");
    assert_eq!(
        profile.avatar.unwrap().url,
        "https://p16-sign.tiktokcdn-us.com/ab12.webp"
    );
}

#[tokio::test]
async fn creator_error_codes_are_told_apart() {
    let cases: Vec<(ResponseTemplate, u16, &str)> = vec![
        (
            error(200, 105005, "you should apply auth pkg for this api"),
            403,
            "missing_scope",
        ),
        (
            error(
                200,
                16015007,
                "no sale region error; detail: creator has no sale region.",
            ),
            403,
            "no_sale_region",
        ),
        (
            error(429, 36009002, "too many requests"),
            429,
            "rate_limited",
        ),
    ];
    for (answer, status, code) in cases {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(PROFILE_PATH))
            .respond_with(answer)
            .mount(&server)
            .await;
        let error: Error = creator(&server)
            .profile(&app(), &AccessToken::new(ACCESS), far_deadline())
            .await
            .unwrap_err()
            .into();
        assert_eq!((error.status(), error.code()), (status, code), "{error}");
    }
    // A deauthorized token and a token of the wrong user type are refused
    // tokens: refreshed once, then the user reconnects.
    for (code, message) in [
        (
            105001,
            "access token is invalid; detail:your token has been deauthorized",
        ),
        (101000, "x-tts-access-token header is invalid"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(PROFILE_PATH))
            .respond_with(error(401, code, message))
            .mount(&server)
            .await;
        let refused = creator(&server)
            .profile(&app(), &AccessToken::new(ACCESS), far_deadline())
            .await
            .unwrap_err();
        assert!(
            matches!(refused, UpstreamError::AccessTokenInvalid { .. }),
            "{code}: {refused:?}"
        );
    }
}
