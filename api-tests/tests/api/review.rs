//! Edge cases an outside review of the code found, each as a user meets them:
//! odd token lifetimes from TikTok, and ids written with leading zeros.

use wiremock::matchers::body_string_contains;

use crate::harness::*;

const PRODUCT: u64 = 1_729_000_000_000_000_001;

/// Login, TikTok's redirect back and the site's completion, TikTok answering
/// the code exchange with `grant`.
async fn connect_with_grant(h: &Harness, user: &str, grant: serde_json::Value) {
    let exchange = token_request().and(body_string_contains("grant_type=authorization_code"));
    h.expect(1, exchange.respond_with(json_200(grant))).await;
    let back = h.login_and_return(user, "code-1").await;
    let done = h.complete(user, &completion_of(&back)).await;
    assert_eq!(done.status(), 200, "{}", body_json(&done));
}

async fn search(h: &Harness, user: &str) -> lambda_http::Response<lambda_http::Body> {
    h.search(user, &[("shopId", SHOP), ("query", "lipstick")])
        .await
}

async fn refreshes_asked(h: &Harness) -> usize {
    h.tiktok
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("grant_type=refresh_token"))
        .count()
}

#[tokio::test]
async fn a_huge_expires_in_is_a_long_lived_token_not_an_expired_one() {
    let h = Harness::memory(&[]).await;
    let mut grant = token_body("first", 0);
    grant["expires_in"] = serde_json::json!(u64::MAX);
    connect_with_grant(&h, "user-1", grant).await;
    friendly_tiktok(&h, PRODUCT).await;

    let stored = h.stored("user-1").await;
    assert!(
        stored.tokens.access_expires_at > h.now(),
        "access token expires at {}",
        stored.tokens.access_expires_at
    );
    assert_eq!(search(&h, "user-1").await.status(), 200);
    assert_eq!(
        refreshes_asked(&h).await,
        0,
        "the fresh token was used as is"
    );
}

#[tokio::test]
async fn a_grant_without_refresh_expires_in_is_a_working_connection() {
    let h = Harness::memory(&[]).await;
    let mut grant = token_body("first", 86_400);
    grant.as_object_mut().unwrap().remove("refresh_expires_in");
    connect_with_grant(&h, "user-1", grant).await;
    friendly_tiktok(&h, PRODUCT).await;

    let shown = h.status("user-1").await;
    assert_eq!(shown["connected"], true, "{shown}");
    assert_eq!(shown["reconnectRequired"], false, "{shown}");
    h.advance(3600);
    assert_eq!(search(&h, "user-1").await.status(), 200);
    assert_eq!(h.status("user-1").await["connected"], true);
}

#[tokio::test]
async fn a_refresh_without_refresh_expires_in_does_not_keep_the_old_tokens_expiry() {
    // The old refresh token had 100 s left; TikTok rotates it and does not say
    // how long the new one lives. The new one is not taken to die with the old.
    let h = Harness::memory(&[]).await;
    let mut old = tokens("old", h.now(), -10);
    old.refresh_expires_at = h.now() + 100;
    h.state.store.put_connection("user-1", &old).await.unwrap();
    let mut rotated = token_body("new", 7200);
    rotated
        .as_object_mut()
        .unwrap()
        .remove("refresh_expires_in");
    h.expect(1, refresh_request("old").respond_with(json_200(rotated)))
        .await;
    friendly_tiktok(&h, PRODUCT).await;

    assert_eq!(search(&h, "user-1").await.status(), 200);
    h.advance(200);
    let shown = h.status("user-1").await;
    assert_eq!(shown["connected"], true, "{shown}");
    assert_eq!(search(&h, "user-1").await.status(), 200);
}

#[tokio::test]
async fn ids_with_leading_zeros_name_the_same_product_and_shop() {
    let h = Harness::memory(&[]).await;
    h.connect("user-1", "live", 3600).await;
    friendly_tiktok(&h, PRODUCT).await;

    let response = product_lookup::handler(
        &h.state,
        get(
            &format!("/api/tiktok/products/00{PRODUCT}"),
            &[("shopId", &format!("0{SHOP}"))],
            Some("user-1"),
        ),
    )
    .await
    .unwrap();

    let body = body_json(&response);
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["product"]["product_id"], PRODUCT.to_string());
    assert_eq!(body["product"]["seller_id"], SHOP);
    let listing = h
        .tiktok
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/v2/research/tts/product/")
        .expect("the shop's listing was read");
    let asked: serde_json::Value = serde_json::from_slice(&listing.body).unwrap();
    assert_eq!(
        asked["shop_id"].to_string().trim_matches('"'),
        SHOP,
        "{asked}"
    );
}
