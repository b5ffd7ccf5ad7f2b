//! The TikTok Shop Partner API client against a wiremock TikTok
//! (`TIKTOK_SHOP_API.md`): token get/refresh (unsigned GETs with the app secret
//! in the query, never in an error), the signed calls (the signature recomputed
//! here from what the server received: path, decoded query, body bytes),
//! `shop_cipher` only where the path needs it, the envelope, and every row of
//! the error table (§6).

mod common;

use std::sync::Arc;

use tiktok_gateway::config::ShopConfig;
use tiktok_gateway::tiktok::shop::{
    sign_request, AuthorizedShop, ProductDetail, ShopClient, ShopGrant,
};
use tiktok_gateway::tiktok::{AppCredentials, RetryPolicy};
use tiktok_gateway::{AccessToken, AuthCode, ClientSecret, Error, OAuthState, RefreshToken};
use tiktok_gateway::{TikTokId, UpstreamError};
use url::Url;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

use common::*;

const APP_KEY: &str = "6abc1def2ghi";
const APP_SECRET: &str = "shop-S3CR3T-app-secret-5e1f";
const ACCESS: &str = "TTP_access.seller-token";
const NOW: i64 = 1_760_000_000;
const CIPHER: &str = "GCP_XF90igAAAABh00qsWgtvOiGFNqyubMt3";
const SHOP: &str = "7000714532876273420";

fn app() -> AppCredentials {
    AppCredentials {
        client_key: APP_KEY.into(),
        client_secret: ClientSecret::new(APP_SECRET),
    }
}

const TOKEN_GET_PATH: &str = "/api/v2/token/get";
const TOKEN_REFRESH_PATH: &str = "/api/v2/token/refresh";
const SHOPS_PATH: &str = "/authorization/202309/shops";

/// A Partner API client whose token and API URLs are on `base` (the authorize
/// page is TikTok's), with `retry` and a clock stopped at [`NOW`].
fn shop_client_at(base: &str, retry: RetryPolicy) -> ShopClient {
    let url = |p: &str| Url::parse(&format!("{base}{p}")).unwrap();
    let exec = client_with(config(base), retry);
    ShopClient::new(
        exec,
        ShopConfig {
            authorize_url: Url::parse("https://services.tiktokshop.com/open/authorize").unwrap(),
            token_url: url(TOKEN_GET_PATH),
            refresh_url: url(TOKEN_REFRESH_PATH),
            api_base_url: url("/"),
            service_id: "7123456789".into(),
            creator_authorize_url: Url::parse("https://shop.tiktok.com/alliance/creator/auth")
                .unwrap(),
        },
    )
    .with_clock(Arc::new(|| NOW))
}

fn shop_client(server: &MockServer, retry: RetryPolicy) -> ShopClient {
    shop_client_at(&server.uri(), retry)
}

/// One attempt a call.
fn client(server: &MockServer) -> ShopClient {
    shop_client(server, fast_retry(1))
}

fn access() -> AccessToken {
    AccessToken::new(ACCESS)
}

/// Any request to `route`.
fn any_to(route: &str) -> MockBuilder {
    Mock::given(path(route))
}

/// Token get for `code` with `client`.
async fn get_token(client: &ShopClient, code: &str) -> Result<ShopGrant, UpstreamError> {
    client
        .get_token(&app(), &AuthCode::new(code), far_deadline())
        .await
}

/// Token refresh of `refresh_token` with the one-attempt client on `server`.
async fn refresh(server: &MockServer, refresh_token: &str) -> Result<ShopGrant, UpstreamError> {
    client(server)
        .refresh_token(&app(), &RefreshToken::new(refresh_token), far_deadline())
        .await
}

/// The seller's authorized shops, with `client`.
async fn authorized_shops(client: &ShopClient) -> Result<Vec<AuthorizedShop>, UpstreamError> {
    client
        .authorized_shops(&app(), &access(), far_deadline())
        .await
}

/// Product `id` of the [`CIPHER`] shop, with the one-attempt client on `server`.
async fn get_product(server: &MockServer, id: &str) -> Result<ProductDetail, UpstreamError> {
    let id = TikTokId::parse(id).unwrap();
    client(server)
        .get_product(&app(), &access(), CIPHER, &id, far_deadline())
        .await
}

fn envelope(code: i64, message: &str, data: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "code": code, "message": message, "request_id": "20240808094623010245099103", "data": data,
    }))
}

fn error_envelope(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "code": code, "message": message, "request_id": "2024REQ",
    }))
}

fn grant_data() -> serde_json::Value {
    serde_json::json!({
        "access_token": "TTP_Fw8r-new-access", "access_token_expire_in": 1660556783,
        "refresh_token": "TTP_NTUx-new-refresh", "refresh_token_expire_in": 1691487031,
        "open_id": "7010736057180325637", "seller_name": "Test Seller",
        "seller_base_region": "US", "user_type": 0,
        "granted_scopes": ["seller.authorization.info", "seller.product.basic"],
        "a_new_field": {"tiktok": "keeps adding"},
    })
}

/// The query as sent, decoded, in order.
fn query_pairs(request: &Request) -> Vec<(String, String)> {
    request.url.query_pairs().into_owned().collect()
}

fn query_value(request: &Request, key: &str) -> Option<String> {
    query_pairs(request)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Whether the request's `sign` is the signature of what arrived: its path,
/// its decoded query (less `sign`), its body bytes.
fn signed_as_received(request: &Request) -> bool {
    test_support::signed_as_received(&request.url, &request.body, |path, params, body| {
        sign_request(APP_SECRET, path, params, body)
    })
}

/// A signed call as the contract wants it: token header, JSON content type,
/// `app_key`, the clock's `timestamp`, a valid `sign`, no `access_token` in the query.
fn signed_call(verb: &str, route: &str) -> wiremock::MockBuilder {
    Mock::given(method(verb))
        .and(path(route))
        .and(header("x-tts-access-token", ACCESS))
        .and(header("content-type", "application/json"))
        .and(|r: &Request| query_value(r, "app_key").as_deref() == Some(APP_KEY))
        .and(|r: &Request| query_value(r, "timestamp") == Some(NOW.to_string()))
        .and(|r: &Request| query_value(r, "access_token").is_none())
        .and(signed_as_received)
}

// ---- authorization ------------------------------------------------------------

#[test]
fn the_authorization_page_gets_service_id_and_state_and_no_redirect_uri() {
    let shop = shop_client_at("http://127.0.0.1:9", fast_retry(1));
    let url = shop.authorize_url(&OAuthState::new("st+ate/="));
    assert_eq!(
        url.as_str(),
        "https://services.tiktokshop.com/open/authorize?service_id=7123456789&state=st%2Bate%2F%3D"
    );
}

// ---- tokens -------------------------------------------------------------------

#[tokio::test]
async fn token_get_sends_exactly_the_documented_query_and_keeps_absolute_expiries() {
    let token_get = Mock::given(method("GET"))
        .and(path(TOKEN_GET_PATH))
        .and(query_is(&[
            ("app_key", APP_KEY),
            ("app_secret", APP_SECRET),
            ("auth_code", "ROW_code+/="),
            ("grant_type", "authorized_code"),
        ]))
        .and(|r: &Request| r.body.is_empty());
    let server = serve_once(token_get, envelope(0, "success", grant_data())).await;

    let grant = get_token(&client(&server), "ROW_code+/=").await.unwrap();

    assert_eq!(grant.access_token, AccessToken::new("TTP_Fw8r-new-access"));
    assert_eq!(
        grant.refresh_token,
        RefreshToken::new("TTP_NTUx-new-refresh")
    );
    // Absolute timestamps despite the names: kept as they are.
    assert_eq!(grant.access_expires_at, 1660556783);
    assert_eq!(grant.refresh_expires_at, 1691487031);
    assert_eq!(grant.open_id, "7010736057180325637");
    assert_eq!(grant.seller_name, "Test Seller");
    assert_eq!(grant.seller_base_region, "US");
    assert_eq!(
        grant.scopes,
        ["seller.authorization.info", "seller.product.basic"]
    );
}

#[tokio::test]
async fn token_refresh_sends_the_refresh_token_and_reads_the_rotated_pair() {
    let token_refresh = Mock::given(method("GET"))
        .and(path(TOKEN_REFRESH_PATH))
        .and(query_is(&[
            ("app_key", APP_KEY),
            ("app_secret", APP_SECRET),
            ("grant_type", "refresh_token"),
            ("refresh_token", "TTP_old-refresh"),
        ]));
    let server = serve_once(token_refresh, envelope(0, "success", grant_data())).await;

    let grant = refresh(&server, "TTP_old-refresh").await.unwrap();
    assert_eq!(
        grant.refresh_token,
        RefreshToken::new("TTP_NTUx-new-refresh")
    );
    assert_eq!(grant.access_expires_at, 1660556783);
}

#[tokio::test]
async fn refused_codes_and_refresh_tokens_mean_reconnect_whatever_the_http_status() {
    for (status, code, message) in [
        (200, 36004004, "Invalid auth code."),
        (200, 36004005, "can not find related auth record"),
        (400, 36004005, "can not find related auth record"),
    ] {
        let refused = error_envelope(status, code, message);
        let server = serve_once(any_to(TOKEN_REFRESH_PATH), refused).await;
        let error = refresh(&server, "TTP_old").await.unwrap_err();
        assert!(
            matches!(error, UpstreamError::InvalidGrant { .. }),
            "{code}: {error:?}"
        );
        assert_eq!(Error::from(error).status(), 409);
    }
}

#[tokio::test]
async fn the_app_secret_never_reaches_an_error_whatever_fails() {
    let answers = [
        error_envelope(200, 36009004, "Invalid app_key"),
        ResponseTemplate::new(200).set_body_string(format!("<html>{APP_SECRET}")),
        ResponseTemplate::new(503).set_body_string(format!("echo {APP_SECRET}")),
        envelope(0, "success", serde_json::json!({"access_token": "x"})),
    ];
    for answer in answers {
        let server = serve_once(any_to(TOKEN_GET_PATH), answer).await;
        let error = get_token(&client(&server), "code").await.unwrap_err();
        let shown = format!("{error} {error:?}");
        let shown = format!("{shown} {}", Error::from(error).public_message());
        assert!(!shown.contains(APP_SECRET), "{shown}");
        assert!(!shown.contains("app_secret="), "{shown}");
    }
    // Nobody listening: the transport error carries no URL.
    let dead = shop_client_at("http://127.0.0.1:9", fast_retry(1));
    let error = get_token(&dead, "code").await.unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(APP_SECRET), "{shown}");
}

// ---- signed calls ---------------------------------------------------------------

#[tokio::test]
async fn authorized_shops_is_a_signed_get_without_shop_cipher() {
    let signed = signed_call("GET", SHOPS_PATH)
        .and(|r: &Request| query_value(r, "shop_cipher").is_none() && r.body.is_empty());
    let one_shop = envelope(
        0,
        "Success",
        serde_json::json!({"shops": [{
            "id": SHOP, "name": "Maomao beauty shop", "region": "GB",
            "seller_type": "CROSS_BORDER", "cipher": CIPHER, "code": "CNGBCBA4LLU8",
        }]}),
    );
    let server = serve_once(signed, one_shop).await;

    let shops = authorized_shops(&client(&server)).await.unwrap();
    assert_eq!(shops.len(), 1);
    assert_eq!(shops[0].id.as_str(), SHOP);
    assert_eq!(shops[0].name, "Maomao beauty shop");
    assert_eq!(shops[0].region, "GB");
    assert_eq!(shops[0].seller_type, "CROSS_BORDER");
    assert_eq!(shops[0].cipher, CIPHER);
}

#[tokio::test]
async fn search_signs_the_exact_body_it_sends_and_pages_by_token() {
    let server = MockServer::start().await;
    let product = |id: &str, title: &str| {
        serde_json::json!({
            "id": id, "title": title, "status": "ACTIVATE",
            "skus": [{"id": "1729", "seller_sku": "LAMP-1",
                "price": {"currency": "VND", "sale_price": "1250000", "tax_exclusive_price": "1250000"},
                "list_price": {"amount": "1500000", "currency": "VND"},
                "inventory": [{"warehouse_id": "7068517275539719942", "quantity": 12}]}],
        })
    };
    // First page: no page_token.
    signed_call("POST", "/product/202502/products/search")
        .and(|r: &Request| {
            query_value(r, "page_token").is_none()
                && query_value(r, "page_size").as_deref() == Some("100")
                && query_value(r, "shop_cipher").as_deref() == Some(CIPHER)
                && r.body == br#"{"status":"ACTIVATE"}"#
        })
        .respond_with(envelope(
            0,
            "Success",
            serde_json::json!({"total_count": 3, "next_page_token": "b2Zmc2V0+/=",
                "products": [product("1729382476852921560", "Desk Lamp"), product("1729382476852921561", "Mug")]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    // Second page: the token percent-encoded on the wire, signed raw (checked
    // by signed_as_received over the decoded query).
    signed_call("POST", "/product/202502/products/search")
        .and(|r: &Request| {
            r.url
                .query()
                .is_some_and(|q| q.contains("page_token=b2Zmc2V0%2B%2F%3D"))
                && query_value(r, "page_token").as_deref() == Some("b2Zmc2V0+/=")
        })
        .respond_with(envelope(
            0,
            "Success",
            serde_json::json!({"total_count": 3, "next_page_token": "",
                "products": [product("0729382476852921562", "Vase")]}),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let shop = client(&server);
    let token = access();
    let first = shop
        .search_products(&app(), &token, CIPHER, 500, None, far_deadline())
        .await
        .unwrap();
    assert_eq!(first.total_count, Some(3));
    assert_eq!(first.next_page_token.as_deref(), Some("b2Zmc2V0+/="));
    assert_eq!(first.products[0].id.as_str(), "1729382476852921560");
    let sku = &first.products[0].skus[0];
    assert_eq!(sku.price.as_ref().unwrap().sale_price, "1250000");
    assert_eq!(sku.price.as_ref().unwrap().currency, "VND");
    assert_eq!(sku.list_price.as_ref().unwrap().amount, "1500000");
    assert_eq!(sku.inventory[0].quantity, Some(12));

    let second = shop
        .search_products(
            &app(),
            &token,
            CIPHER,
            100,
            first.next_page_token.as_deref(),
            far_deadline(),
        )
        .await
        .unwrap();
    assert_eq!(second.next_page_token, None);
    // A leading zero survives.
    assert_eq!(second.products[0].id.as_str(), "0729382476852921562");
}

#[tokio::test]
async fn get_product_carries_shop_cipher_and_decodes_images_skus_and_html() {
    let signed =
        signed_call("GET", "/product/202309/products/1729382476852921560").and(|r: &Request| {
            query_value(r, "shop_cipher").as_deref() == Some(CIPHER) && r.body.is_empty()
        });
    let lamp = envelope(
        0,
        "Success",
        serde_json::json!({
            "id": "1729382476852921560", "title": "Desk Lamp", "status": "ACTIVATE",
            "description": "<p>Warm <b>light</b></p>",
            "main_images": [
                {"uri": "tos-1", "urls": ["https://p16.example/lamp-1.jpg", "https://p16.example/lamp-1b.jpg"], "thumb_urls": [], "width": 800, "height": 800},
                {"uri": "tos-2", "urls": ["https://p16.example/lamp-2.jpg"]},
            ],
            "skus": [{"id": "1", "price": {"currency": "JPY", "sale_price": "1980", "unit_price": "1980"},
                "sales_attributes": [{"id": "100000", "name": "Color", "value_id": "7", "value_name": "Black", "sku_img": {"uri": "x"}}]}],
            "brand": {"id": "7", "name": "Acme"},
        }),
    );
    let server = serve_once(signed, lamp).await;

    let product = get_product(&server, "1729382476852921560").await.unwrap();
    assert_eq!(product.title, "Desk Lamp");
    assert_eq!(product.description, "<p>Warm <b>light</b></p>");
    assert_eq!(product.main_image_url(), "https://p16.example/lamp-1.jpg");
    assert_eq!(product.main_images.len(), 2);
    assert_eq!(product.skus[0].sales_attributes[0].value_name, "Black");
    assert_eq!(product.skus[0].price.as_ref().unwrap().unit_price, "1980");
}

// ---- the error table (§6) ---------------------------------------------------------

#[tokio::test]
async fn every_error_row_maps_to_its_site_facing_status() {
    use Becomes::*;
    // (HTTP status, code, message, site status, what the error must be)
    #[rustfmt::skip]
    let rows = [
        (200, 105002, "Access token is expired", 502, AccessTokenInvalid),
        (401, 36009004, "x-tts-access-token header is invalid", 502, AccessTokenInvalid),
        (200, 36009004, "Invalid timestamp", 502, Misconfigured),
        (200, 36009004, "Invalid app_key", 502, Misconfigured),
        (200, 36009004, "Unexpected identifier: shop_cipher", 502, Misconfigured),
        (401, 106001, "Invalid sign", 502, Misconfigured),
        (200, 105005, "Scope seller.product.basic is not authorized", 403, ScopeMissing),
        (200, 106013, "Missing identifier: shop_cipher", 502, Misconfigured),
        (429, 36009002, "Too many requests", 429, RateLimited),
        (200, 36009003, "Internal error", 502, Retryable),
        (200, 36009007, "Timeout", 502, Retryable),
        (200, 36009033, "IP is not in the allow-list", 502, Misconfigured),
        (200, 12019150, "The product ID does not exist.", 404, NotFound),
    ];
    for (status, code, message, site_status, expected) in rows {
        let answer = error_envelope(status, code, message);
        let server = serve_once(any_to("/product/202309/products/1"), answer).await;
        let error = get_product(&server, "1").await.unwrap_err();
        assert!(expected.fits(&error), "{code} {message}: {error:?}");
        assert_eq!(error.log_id(), Some("2024REQ"), "{code}: request_id kept");
        let site = Error::from(error);
        assert_eq!(site.status(), site_status, "{code} {message}");
    }
}

/// What a row of the error table must become.
#[derive(Debug, Clone, Copy)]
enum Becomes {
    AccessTokenInvalid,
    Misconfigured,
    ScopeMissing,
    RateLimited,
    /// Whatever the variant, worth another attempt.
    Retryable,
    NotFound,
}

impl Becomes {
    fn fits(self, error: &UpstreamError) -> bool {
        match self {
            Self::AccessTokenInvalid => matches!(error, UpstreamError::AccessTokenInvalid { .. }),
            Self::Misconfigured => matches!(error, UpstreamError::Misconfigured { .. }),
            Self::ScopeMissing => matches!(error, UpstreamError::ScopeMissing { .. }),
            Self::RateLimited => matches!(error, UpstreamError::RateLimited { .. }),
            Self::Retryable => error.is_retryable(),
            Self::NotFound => matches!(error, UpstreamError::NotFound { .. }),
        }
    }
}

#[tokio::test]
async fn configuration_errors_are_not_retried_but_internal_errors_are() {
    // Three attempts allowed, one made.
    let bad_sign = error_envelope(401, 106001, "Invalid sign");
    let server = serve_once(any_to(SHOPS_PATH), bad_sign).await;
    let error = authorized_shops(&shop_client(&server, fast_retry(3))).await;
    let site = Error::from(error.unwrap_err());
    assert_eq!(site.status(), 502);
    assert!(
        site.public_message().contains("operator"),
        "{}",
        site.public_message()
    );
    assert!(site.public_message().contains("106001"));

    let answers = vec![
        error_envelope(200, 36009003, "Internal error"),
        envelope(0, "Success", serde_json::json!({"shops": []})),
    ];
    let server = serve_in_turn(any_to(SHOPS_PATH), answers).await;
    let shops = authorized_shops(&shop_client(&server, fast_retry(3))).await;
    assert!(shops.unwrap().is_empty());
}

#[tokio::test]
async fn rate_limits_keep_retry_after_and_a_missing_scope_names_it() {
    let limited =
        error_envelope(429, 36009002, "Too many requests").insert_header("retry-after", "7");
    let server = serve_once(any_to(SHOPS_PATH), limited).await;
    let site = Error::from(authorized_shops(&client(&server)).await.unwrap_err());
    assert_eq!(site.status(), 429);
    assert_eq!(site.retry_after(), Some(std::time::Duration::from_secs(7)));

    let refused = error_envelope(200, 105005, "seller.authorization.info scope is required");
    let server = serve_once(any_to(SHOPS_PATH), refused).await;
    let site = Error::from(authorized_shops(&client(&server)).await.unwrap_err());
    assert_eq!(site.status(), 403);
    assert!(site.public_message().contains("seller.authorization.info"));
}

#[tokio::test]
async fn malformed_envelopes_are_decode_errors_and_5xx_without_envelope_is_retryable() {
    for (status, body, retryable) in [
        (200, "not json", false),
        (200, r#"{"message":"no code"}"#, false),
        (200, r#"{"code":0,"data":{"shops":"not a list"}}"#, false),
        (502, "<html>bad gateway</html>", true),
    ] {
        let answer = ResponseTemplate::new(status).set_body_string(body);
        let server = serve_once(any_to(SHOPS_PATH), answer).await;
        let error = authorized_shops(&client(&server)).await.unwrap_err();
        assert_eq!(error.is_retryable(), retryable, "{body}: {error:?}");
        assert_eq!(Error::from(error).status(), 502, "{body}");
    }
}
