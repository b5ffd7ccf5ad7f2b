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
    seller_of(&h, "bystander", "7000714532876279999").await; // another shop
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

// Issue 20 (items 2-4): replays, stale deliveries, expiry notices, two users.

fn notice(kind: i64, id: &str, shop: &str, timestamp: i64, data: serde_json::Value) -> String {
    serde_json::json!({
        "type": kind, "tts_notification_id": id, "shop_id": shop,
        "timestamp": timestamp, "data": data,
    })
    .to_string()
}

/// A connected seller whose account covers `shop`.
async fn seller_of(h: &Harness, user: &str, shop: &str) {
    let mut tokens = tokens("seller", h.now(), 86_400);
    tokens.account = Some(tiktok_gateway::store::SellerAccount {
        seller_name: "Maomao Ltd".into(),
        region: "GB".into(),
        shops: vec![tiktok_gateway::store::SellerShop {
            id: shop.into(),
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

#[tokio::test]
async fn a_delivery_timestamped_outside_the_window_is_refused_and_changes_nothing() {
    let h = Harness::shop(&[]).await;
    seller(&h, "seller-1").await;
    h.advance(400);
    let before = h.stored("seller-1").await;
    let now = h.now();
    for (n, timestamp) in [now - 8 * 86_400, now - 301, now + 61]
        .into_iter()
        .enumerate()
    {
        let body = notice(
            6,
            &format!("73800662840100301{n}"),
            SHOP,
            timestamp,
            serde_json::json!({}),
        );
        let response = tiktok_shop_webhook::handler(&h.state, signed(&body))
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "timestamp {timestamp} (now {now})");
        let error = body_json(&response);
        assert_eq!(error["error"]["code"], "bad_request");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("timestamp"),
            "{error}"
        );
    }
    // Without a timestamp at all, too.
    let body = serde_json::json!({"type": 6, "tts_notification_id": "7380066284010030199",
        "shop_id": SHOP, "data": {}})
    .to_string();
    assert_eq!(send(&h, signed(&body)).await, 400);
    assert_eq!(h.stored("seller-1").await, before, "nothing changed");
    // Inside the window it is acted on.
    let body = notice(
        6,
        "7380066284010030198",
        SHOP,
        now - 299,
        serde_json::json!({}),
    );
    assert_eq!(send(&h, signed(&body)).await, 200);
    assert_eq!(
        h.stored("seller-1").await.status,
        ConnectionStatus::ReconnectRequired
    );
}

#[tokio::test]
async fn concurrent_copies_of_one_delivery_act_once() {
    const OTHER: &str = "7000714532876279999";
    let h = Harness::shop(&[]).await;
    seller(&h, "seller-1").await;
    seller_of(&h, "reference", OTHER).await;
    // What one deauthorization does to a connection's version.
    let reference = h.stored("reference").await.version;
    let body = notice(
        6,
        "7380066284010030201",
        OTHER,
        h.now(),
        serde_json::json!({}),
    );
    assert_eq!(send(&h, signed(&body)).await, 200);
    let one = h.stored("reference").await.version - reference;

    let before = h.stored("seller-1").await.version;
    let body = notice(
        6,
        "7380066284010030202",
        SHOP,
        h.now(),
        serde_json::json!({}),
    );
    let answers = futures::future::join_all((0..8).map(|_| send(&h, signed(&body)))).await;
    assert!(answers.iter().all(|&s| s == 200), "{answers:?}");
    let after = h.stored("seller-1").await;
    assert_eq!(after.status, ConnectionStatus::ReconnectRequired);
    assert_eq!(
        after.version - before,
        one,
        "acted on once, not once per copy"
    );
}

#[tokio::test]
async fn notices_older_than_the_connection_are_ignored() {
    let h = Harness::shop(&[]).await;
    let sent_at = h.now();
    // The seller deauthorized, then authorized again before the notice came.
    h.advance(120);
    seller(&h, "seller-1").await;
    let before = h.stored("seller-1").await;
    let deauthorized = notice(
        6,
        "7380066284010030301",
        SHOP,
        sent_at,
        serde_json::json!({}),
    );
    assert_eq!(send(&h, signed(&deauthorized)).await, 200);
    let expiring = notice(
        7,
        "7380066284010030302",
        SHOP,
        sent_at,
        serde_json::json!({"expiration_time": (START + 86_400).to_string()}),
    );
    assert_eq!(send(&h, signed(&expiring)).await, 200);
    assert_eq!(
        h.stored("seller-1").await,
        before,
        "an older notice changes nothing"
    );
}

#[tokio::test]
async fn an_expiry_notice_never_revives_an_ended_connection() {
    let h = Harness::shop(&[]).await;
    let expires = START + 20 * 86_400;
    let expiry = |id: &str| {
        notice(
            7,
            id,
            SHOP,
            START,
            serde_json::json!({"expiration_time": expires.to_string()}),
        )
    };
    // On an active connection it records the expiry and nothing else.
    seller(&h, "seller-1").await;
    let before = h.stored("seller-1").await;
    assert_eq!(send(&h, signed(&expiry("7380066284010030401"))).await, 200);
    let after = h.stored("seller-1").await;
    assert_eq!(
        after
            .tokens
            .account
            .as_ref()
            .unwrap()
            .authorization_expires_at,
        Some(expires)
    );
    assert_eq!(
        (after.status, after.version),
        (before.status, before.version)
    );

    // After a deauthorization: still ended, tokens still gone, not due.
    let deauthorized = notice(6, "7380066284010030402", SHOP, START, serde_json::json!({}));
    assert_eq!(send(&h, signed(&deauthorized)).await, 200);
    let ended = h.stored("seller-1").await;
    assert_eq!(send(&h, signed(&expiry("7380066284010030403"))).await, 200);
    let after = h.stored("seller-1").await;
    assert_eq!(after.status, ConnectionStatus::ReconnectRequired);
    assert_eq!(after.tokens.refresh_token.expose(), "");
    assert_eq!(after.version, ended.version);
    assert_eq!(h.status("seller-1").await["connected"], false);

    // A dormant connection stays dormant and out of the due index.
    seller(&h, "seller-2").await;
    let c = h.stored("seller-2").await;
    h.state
        .store
        .mark_dormant("seller-2", c.version, START + 1)
        .await
        .unwrap();
    assert_eq!(send(&h, signed(&expiry("7380066284010030404"))).await, 200);
    let after = h.stored("seller-2").await;
    assert_eq!(after.status, ConnectionStatus::Dormant);
    let window = tiktok_gateway::store::DueWindow {
        access_from: i64::MIN,
        access_before: i64::MAX,
        refresh_before: i64::MAX,
    };
    for shard in 0..h.state.store.due_shards() {
        let due = h.state.store.find_due(shard, window).await.unwrap();
        assert!(due.iter().all(|d| d.user_id != "seller-2"), "{due:?}");
    }
}

#[tokio::test]
async fn a_shop_connected_by_two_users_is_deauthorized_for_both() {
    let h = Harness::shop(&[]).await;
    seller(&h, "owner").await;
    seller(&h, "colleague").await;
    let body = notice(
        6,
        "7380066284010030501",
        SHOP,
        h.now(),
        serde_json::json!({}),
    );
    assert_eq!(send(&h, signed(&body)).await, 200);
    for user in ["owner", "colleague"] {
        let ended = h.stored(user).await;
        assert_eq!(ended.status, ConnectionStatus::ReconnectRequired, "{user}");
        assert_eq!(ended.tokens.refresh_token.expose(), "", "{user}");
    }
}

/// Issue 20 item 5: a deauthorization is one conditional write that removes
/// the token attributes (nothing sealed is left, nothing to open first) and
/// takes the connection out of the due indexes.
#[tokio::test]
async fn a_deauthorization_removes_the_token_attributes() {
    let h = Harness::shop(&[]).await;
    seller(&h, "seller-1").await;
    let body = notice(
        6,
        "7380066284010030601",
        SHOP,
        h.now(),
        serde_json::json!({}),
    );
    assert_eq!(send(&h, signed(&body)).await, 200);
    let item = aws_sdk_dynamodb::Client::new(&test_support::moto_config())
        .get_item()
        .table_name(&h.state.config.table_name)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("USER#seller-1".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("TIKTOK".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    for gone in ["access_token", "refresh_token", "due_shard"] {
        assert!(!item.contains_key(gone), "{gone} is still stored");
    }
    let ended = h.stored("seller-1").await;
    assert_eq!(ended.status, ConnectionStatus::ReconnectRequired);
    assert_eq!(ended.tokens.access_token.expose(), "");
}
