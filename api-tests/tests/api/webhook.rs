//! `POST /webhooks/tiktok-shop` in shop mode, over moto: a deauthorization ends
//! the seller's connection, a replay is a no-op, a forged delivery is a 401 and
//! changes nothing, an upcoming expiration shows in the status, unknown types
//! are acknowledged, oversized bodies are refused.

use tiktok_gateway::tiktok::shop::webhook_signature;
use tiktok_gateway::ConnectionStatus;

use crate::harness::*;

const SHOP: &str = "7000714532876273420";

fn delivery(body: &str, signature: Option<&str>) -> lambda_http::Request {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(signature) = signature {
        headers.push(("authorization", signature));
    }
    test_support::api_event_with_body("POST", "/webhooks/tiktok-shop", None, &headers, body)
}

fn signed(body: &str) -> lambda_http::Request {
    let signature = webhook_signature(APP_KEY, APP_SECRET, body.as_bytes());
    delivery(body, Some(&signature))
}

fn notification(kind: i64, id: &str, data: serde_json::Value) -> String {
    serde_json::json!({
        "type": kind, "tts_notification_id": id, "shop_id": SHOP,
        "timestamp": START, "data": data,
    })
    .to_string()
}

/// A connected seller whose account covers `SHOP`.
async fn seller(h: &Harness, user: &str) {
    let mut tokens = tokens("seller", h.now(), 86_400);
    tokens.account = Some(tiktok_gateway::store::SellerAccount {
        seller_name: "Maomao Ltd".into(),
        region: "GB".into(),
        shops: vec![tiktok_gateway::store::SellerShop {
            id: SHOP.into(),
            name: "Maomao Beauty".into(),
            region: "GB".into(),
            seller_type: "LOCAL".into(),
            cipher: "GCP_x".into(),
        }],
        authorization_expires_at: None,
        creator: None,
    });
    h.state.store.put_connection(user, &tokens).await.unwrap();
}

async fn send(h: &Harness, req: lambda_http::Request) -> u16 {
    tiktok_shop_webhook::handler(&h.state, req)
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_deauthorization_ends_the_sellers_connection_and_a_replay_is_a_no_op() {
    let h = Harness::shop(&[]).await;
    seller(&h, "seller-1").await;
    seller(&h, "bystander").await; // the last connect of the shop wins the pointer
    seller(&h, "seller-1").await;
    let body = notification(
        6,
        "7380066284010030001",
        serde_json::json!({"message": "removed"}),
    );

    assert_eq!(send(&h, signed(&body)).await, 200);
    let ended = h.stored("seller-1").await;
    assert_eq!(ended.status, ConnectionStatus::ReconnectRequired);
    assert_eq!(ended.tokens.access_token.expose(), "", "tokens deleted");
    assert_eq!(ended.tokens.refresh_token.expose(), "");
    let status = h.status("seller-1").await;
    assert_eq!(
        (
            status["connected"].as_bool(),
            status["reconnectRequired"].as_bool()
        ),
        (Some(false), Some(true))
    );

    // TikTok retries: the same delivery again changes nothing.
    let version = ended.version;
    assert_eq!(send(&h, signed(&body)).await, 200);
    let after = h.stored("seller-1").await;
    assert_eq!(after.version, version);
    // The other user's connection was not touched.
    let other = h.stored("bystander").await;
    assert_eq!(other.status, ConnectionStatus::Active);
}

#[tokio::test]
async fn a_forged_or_unsigned_delivery_is_401_and_changes_nothing() {
    let h = Harness::shop(&[]).await;
    seller(&h, "seller-1").await;
    let before = h.stored("seller-1").await;
    let body = notification(6, "7380066284010030002", serde_json::json!({}));
    let forged = webhook_signature(APP_KEY, "not-the-app-secret", body.as_bytes());
    for req in [
        delivery(&body, Some(&forged)),
        delivery(&body, None),
        delivery(&body, Some("")),
        // Signed, then tampered with.
        {
            let signature = webhook_signature(APP_KEY, APP_SECRET, body.as_bytes());
            delivery(
                &body.replace("7380066284010030002", "7380066284010030003"),
                Some(&signature),
            )
        },
    ] {
        let response = tiktok_shop_webhook::handler(&h.state, req).await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(body_json(&response)["error"]["code"], "unauthorized");
    }
    assert_eq!(h.stored("seller-1").await, before);
    // Not recorded as handled either: the genuine delivery still works.
    assert_eq!(send(&h, signed(&body)).await, 200);
    assert_eq!(
        h.stored("seller-1").await.status,
        ConnectionStatus::ReconnectRequired
    );
}

#[tokio::test]
async fn an_upcoming_expiration_shows_in_the_status_and_unknown_types_are_acknowledged() {
    let h = Harness::shop(&[]).await;
    seller(&h, "seller-1").await;
    let expires = START + 20 * 86_400;
    let body = notification(
        7,
        "7380066284010030004",
        serde_json::json!({"expiration_time": expires.to_string()}),
    );
    assert_eq!(send(&h, signed(&body)).await, 200);
    let status = h.status("seller-1").await;
    assert_eq!(
        status["seller"]["authorizationExpiresAt"],
        "2027-02-04T08:00:00Z"
    );
    assert_eq!(status["connected"], true);

    let before = h.stored("seller-1").await;
    let unknown = notification(
        1,
        "7380066284010030005",
        serde_json::json!({"order_id": "1"}),
    );
    assert_eq!(send(&h, signed(&unknown)).await, 200);
    assert_eq!(h.stored("seller-1").await, before);

    // A body over the cap is refused before anything else.
    let huge = "x".repeat(tiktok_shop_webhook::MAX_BODY_BYTES + 1);
    assert_eq!(send(&h, signed(&huge)).await, 400);
    // Signed but not a notification.
    assert_eq!(send(&h, signed("[1,2]")).await, 400);
}
