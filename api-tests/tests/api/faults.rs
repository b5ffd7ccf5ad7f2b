//! AWS failing under the functions: DynamoDB unreachable or throttled, a write
//! lost between TikTok's rotation and ours (the dangerous case), Secrets Manager
//! down at start-up and after the cached secret expired. Each answer is a 503
//! with the request id inside the Lambda timeout, and nothing stored is lost or
//! half-written.

use std::time::{Duration, Instant};

use test_support::{Failure, Recorder};

use crate::harness::*;

/// The functions' Lambda timeout (template.yaml Globals).
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(10);

async fn behind_recorder(extra: &[(&str, &str)]) -> (Harness, Recorder) {
    let recorder = Recorder::start(&test_support::moto_endpoint()).await;
    let h = Harness::moto_through(&test_support::aws_config_for(&recorder.endpoint), extra).await;
    (h, recorder)
}

async fn search(h: &Harness) -> lambda_http::Response<lambda_http::Body> {
    let q = [("shopId", SHOP), ("query", "lipstick")];
    search::handler(&h.state, get("/api/tiktok/search", &q, Some("u1")))
        .await
        .expect("the handler answers; it does not fail the invocation")
}

fn unavailable(response: &lambda_http::Response<lambda_http::Body>, started: Instant) {
    assert_eq!(response.status(), 503, "{}", body_json(response));
    assert_eq!(error_code(response), "unavailable");
    assert!(
        started.elapsed() < LAMBDA_TIMEOUT,
        "answered in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn dynamodb_with_nothing_listening_is_a_503_with_the_request_id() {
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    }; // closed again: nothing listens there now
    let h = Harness::moto_through(&test_support::aws_config_for(&dead), &[]).await;
    friendly_tiktok(&h, 1).await;

    let started = Instant::now();
    let response = search(&h).await;

    unavailable(&response, started);
    assert!(
        h.tiktok.received_requests().await.unwrap().is_empty(),
        "TikTok was not called"
    );
}

#[tokio::test]
async fn throttled_dynamodb_is_a_503_and_the_connection_is_unchanged() {
    let (h, recorder) = behind_recorder(&[]).await;
    friendly_tiktok(&h, 1).await;
    h.connect("u1", "old", 3600).await;
    let before = h.stored("u1").await;

    recorder.fail("dynamodb:", Failure::Throttled);
    let started = Instant::now();
    let response = search(&h).await;
    unavailable(&response, started);
    let attempts = recorder
        .take()
        .iter()
        .filter(|a| a.starts_with("dynamodb:"))
        .count();
    assert!(
        attempts > 1,
        "the SDK retried the throttled read ({attempts} attempts)"
    );

    recorder.heal();
    assert_eq!(search(&h).await.status(), 200);
    let after = h.stored("u1").await;
    assert_eq!(after, before, "nothing was written");
}

/// TikTok rotates the refresh token, and our write of the new one fails. The
/// request is a 503; nothing half-written is stored (the old tokens and version
/// stay); TikTok has retired the old refresh token, so the next refresh gets
/// `invalid_grant`, a re-read shows nobody else rotated it, and the user is
/// asked to reconnect (409 `reconnect_required`): one click, nothing else lost.
/// README "Tokens and what can go wrong" describes this outcome.
#[tokio::test]
async fn a_rotation_whose_write_fails_leaves_the_old_tokens_then_asks_for_a_reconnect() {
    let (h, recorder) = behind_recorder(&[]).await;
    h.connect("u1", "old", 10).await; // expired: the next call refreshes
    let before = h.stored("u1").await;
    refresh_request("old")
        .respond_with(token_response("rotated", 7200))
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.tiktok)
        .await;
    // Once rotated, TikTok refuses the old refresh token.
    refresh_request("old")
        .respond_with(invalid_grant("refresh token already used"))
        .mount(&h.tiktok)
        .await;

    // The write of the rotated tokens fails (not the refresh lease before it).
    recorder.fail_when_body_contains(
        "dynamodb:UpdateItem",
        "refresh_expires_at",
        Failure::ServerError,
    );
    let started = Instant::now();
    let response = search(&h).await;
    unavailable(&response, started);
    recorder.heal();

    let after = h.stored("u1").await;
    assert_eq!(after, before, "the failed write left nothing half-written");

    let next = search(&h).await;
    assert_eq!(next.status(), 409);
    assert_eq!(error_code(&next), "reconnect_required");
    let status = connection_status::handler(&h.state, get("/auth/tiktok/status", &[], Some("u1")))
        .await
        .unwrap();
    assert_eq!(body_json(&status)["reconnectRequired"], true);
}

#[tokio::test]
async fn secrets_manager_down_at_start_up_is_a_503_and_stores_nothing() {
    let (h, recorder) = behind_recorder(&[]).await;
    recorder.fail("secretsmanager:", Failure::ServerError);

    let started = Instant::now();
    let login = login_redirect::handler(&h.state, get("/auth/tiktok/login", &[], Some("u1")))
        .await
        .unwrap();
    unavailable(&login, started);
    assert!(
        !recorder.take().iter().any(|a| a == "dynamodb:PutItem"),
        "no login state was stored without the secret"
    );

    recorder.heal();
    let login = login_redirect::handler(&h.state, get("/auth/tiktok/login", &[], Some("u1")))
        .await
        .unwrap();
    assert_eq!(
        login.status(),
        302,
        "works as soon as Secrets Manager is back"
    );
}

#[tokio::test]
async fn an_expired_cached_secret_keeps_serving_while_secrets_manager_is_down() {
    let (h, recorder) = behind_recorder(&[("SECRET_CACHE_TTL_SECS", "1")]).await;
    friendly_tiktok(&h, 1).await;
    h.connect("u1", "old", 3600).await;
    assert_eq!(search(&h).await.status(), 200);

    recorder.fail("secretsmanager:", Failure::ServerError);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    recorder.take();
    let response = search(&h).await;

    assert_eq!(response.status(), 200, "{}", body_json(&response));
    assert!(
        recorder
            .take()
            .iter()
            .any(|a| a == "secretsmanager:GetSecretValue"),
        "the expired secret was re-fetched, failed, and the cached one served"
    );
}
