//! The client's one execution path against a wiremock TikTok: what is retried
//! (429, 5xx, timeouts, connection failures) and what is not (4xx, bad JSON,
//! a `Retry-After` past the deadline), the deadline, redirects, and the rate
//! limiter every attempt waits for.

mod common;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tiktok_gateway::tiktok::TokenGrant;
use tiktok_gateway::{AccessToken, TikTokClient, TikTokId, UpstreamError};
use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use common::*;

fn token() -> AccessToken {
    AccessToken::new("clt.retry-test-token!6143")
}

fn shop_ok() -> ResponseTemplate {
    json(200, fixture("shop_success.json"))
}

fn rate_limited(retry_after: &str) -> ResponseTemplate {
    json(429, fixture("envelope_error_rate_limit.json")).insert_header("retry-after", retry_after)
}

fn shop_endpoint() -> MockBuilder {
    Mock::given(method("POST")).and(path(SHOP_PATH))
}

fn token_endpoint() -> MockBuilder {
    Mock::given(method("POST")).and(path(TOKEN_PATH))
}

async fn shops(client: &TikTokClient, deadline: Instant) -> Result<usize, UpstreamError> {
    client
        .shops(&token(), "Acme", 10, deadline)
        .await
        .map(|shops| shops.len())
}

/// The shop endpoint gives `answers` in turn, one a request, and no more
/// requests than that; the usual client (3 attempts) asks once.
async fn shops_answered(answers: Vec<ResponseTemplate>) -> Result<usize, UpstreamError> {
    let server = serve_in_turn(shop_endpoint(), answers).await;
    shops(&client(&server), far_deadline()).await
}

/// The token endpoint gives `answers` in turn, one a request, and no more
/// requests than that; the usual client exchanges a code once.
async fn exchange_answered(answers: Vec<ResponseTemplate>) -> Result<TokenGrant, UpstreamError> {
    let server = serve_in_turn(token_endpoint(), answers).await;
    exchange_code(&server, "c").await
}

// ---- 429 -------------------------------------------------------------------------

#[tokio::test]
async fn rate_limited_with_retry_after_zero_is_retried_then_succeeds() {
    let found = shops_answered(vec![rate_limited("0"), shop_ok()]).await;
    // Two calls in all, checked when the server is dropped.
    assert_eq!(found.unwrap(), 2);
}

#[tokio::test]
async fn rate_limited_without_retry_after_is_retried_with_backoff_then_succeeds() {
    let found = shops_answered(vec![ResponseTemplate::new(429), shop_ok()]).await;
    assert_eq!(found.unwrap(), 2);
}

#[tokio::test]
async fn rate_limited_forever_gives_up_after_max_attempts() {
    let error = shops_answered(vec![rate_limited("0"); 3])
        .await
        .unwrap_err();

    match error {
        UpstreamError::RateLimited {
            retry_after,
            log_id,
        } => {
            assert_eq!(retry_after, Some(Duration::ZERO));
            assert_eq!(
                log_id.as_deref(),
                Some("20240917031207D8E9F0A1B2C3D4E5F607")
            );
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn retry_after_beyond_the_deadline_returns_rate_limited_at_once() {
    let server = serve_once(shop_endpoint(), rate_limited("30")).await;
    let started = Instant::now();

    let error = shops(&client(&server), deadline_in(3_000))
        .await
        .unwrap_err();

    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            error,
            UpstreamError::RateLimited { retry_after: Some(after), .. } if after == Duration::from_secs(30)
        ),
        "{error:?}"
    );
    // One call, no retry: checked when the server is dropped.
}

// ---- 5xx ---------------------------------------------------------------------------

#[tokio::test]
async fn server_error_then_success_is_retried_once() {
    let hiccup = ResponseTemplate::new(500).set_body_string("upstream hiccup");
    let found = shops_answered(vec![hiccup, shop_ok()]).await;
    assert_eq!(found.unwrap(), 2);
}

#[tokio::test]
async fn internal_error_envelope_is_retried() {
    let internal = r#"{"data":{},"error":{"code":"internal_error","message":"","log_id":"L1"}}"#;
    let found = shops_answered(vec![json(500, internal), shop_ok()]).await;
    assert_eq!(found.unwrap(), 2);
}

#[tokio::test]
async fn server_error_forever_gives_up_after_max_attempts_with_the_status() {
    let unavailable = ResponseTemplate::new(503).set_body_string("Service Unavailable");

    let error = shops_answered(vec![unavailable; 3]).await.unwrap_err();

    match error {
        UpstreamError::Status { status, body } => {
            assert_eq!(status, 503);
            assert_eq!(body, "Service Unavailable");
        }
        other => panic!("expected Status, got {other:?}"),
    }
}

#[tokio::test]
async fn token_endpoint_server_error_is_retried_too() {
    let answers = vec![
        ResponseTemplate::new(502),
        json(200, fixture("token_success.json")),
    ];

    let grant = exchange_answered(answers).await.unwrap();

    assert_eq!(grant.expires_in, 86_400);
}

#[tokio::test]
async fn token_endpoint_oauth_server_error_body_is_retried() {
    let body = r#"{"error":"server_error","error_description":"try again","log_id":"L5"}"#;
    let answers = vec![json(500, body), json(200, fixture("token_success.json"))];

    let retried = exchange_answered(answers).await;

    assert_eq!(retried.unwrap().expires_in, 86_400);
}

#[tokio::test]
async fn token_endpoint_invalid_client_is_not_retried() {
    let body = r#"{"error":"invalid_client","error_description":"bad key","log_id":"L6"}"#;

    let error = exchange_answered(vec![json(401, body)]).await.unwrap_err();

    assert!(
        matches!(&error, UpstreamError::OAuth { error, .. } if error == "invalid_client"),
        "{error:?}"
    );
}

// ---- not retried ---------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_on_200_is_a_decode_error_with_the_raw_body_and_not_retried() {
    let raw = r#"{"data": {"shop_data": [{"shop_id": 7494754040961993092,"#;

    let error = shops_answered(vec![json(200, raw)]).await.unwrap_err();

    match &error {
        UpstreamError::Decode { status, body, .. } => {
            assert_eq!(*status, 200);
            assert_eq!(body, raw);
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn bad_request_is_not_retried() {
    let invalid = json(400, fixture("envelope_error_invalid_params.json"));

    let error = shops_answered(vec![invalid]).await.unwrap_err();

    assert!(
        matches!(&error, UpstreamError::Api { status: 400, code, .. } if code == "invalid_params"),
        "{error:?}"
    );
}

// ---- timeouts and the deadline --------------------------------------------------------

/// Asks for shops with a deadline `deadline` from now, asserts the call ends in
/// `DeadlineExceeded` at most 500 ms past the deadline, and returns how long it took.
async fn deadline_exceeded_in_time(client: &TikTokClient, deadline: Duration) -> Duration {
    let started = Instant::now();
    let error = shops(client, started + deadline).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(error, UpstreamError::DeadlineExceeded),
        "{error:?}"
    );
    assert!(
        elapsed < deadline + Duration::from_millis(500),
        "{elapsed:?}"
    );
    elapsed
}

/// The usual client on `server`, but giving up on an answer after 200 ms.
fn impatient_client(server: &MockServer, max_attempts: u32) -> TikTokClient {
    let mut config = config(&server.uri());
    config.request_timeout = Duration::from_millis(200);
    client_with(config, fast_retry(max_attempts))
}

#[tokio::test]
async fn an_answer_slower_than_the_request_timeout_is_a_timeout_and_is_retried() {
    let slow = shop_ok().set_delay(Duration::from_secs(2));
    // Three answers expected: every attempt reached the server.
    let server = serve_in_turn(shop_endpoint(), vec![slow; 3]).await;

    let error = shops(&impatient_client(&server, 3), far_deadline())
        .await
        .unwrap_err();

    assert!(matches!(error, UpstreamError::Timeout), "{error:?}");
}

#[tokio::test]
async fn a_slow_answer_then_a_fast_one_succeeds() {
    let slow = shop_ok().set_delay(Duration::from_secs(2));
    let server = serve_in_turn(shop_endpoint(), vec![slow, shop_ok()]).await;

    let found = shops(&impatient_client(&server, 3), far_deadline()).await;

    assert_eq!(found.unwrap(), 2);
}

#[tokio::test]
async fn a_deadline_shorter_than_the_server_delay_is_deadline_exceeded_on_time() {
    let slow = shop_ok().set_delay(Duration::from_secs(3));
    let server = serve_once(shop_endpoint(), slow).await;
    let deadline = Duration::from_millis(300);

    let elapsed = deadline_exceeded_in_time(&client(&server), deadline).await;

    assert!(
        elapsed >= deadline - Duration::from_millis(50),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn retries_after_timeouts_stop_at_the_deadline() {
    let server = MockServer::start().await;
    shop_endpoint()
        .respond_with(shop_ok().set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let deadline = Duration::from_millis(700);

    let elapsed = deadline_exceeded_in_time(&impatient_client(&server, 50), deadline).await;

    let calls = server.received_requests().await.unwrap().len();
    assert!((2..=5).contains(&calls), "{calls} calls in {elapsed:?}");
}

// ---- connection failures ------------------------------------------------------------

#[tokio::test]
async fn connection_refused_is_a_retryable_transport_error() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = client_with(config(&format!("http://127.0.0.1:{port}")), fast_retry(3));
    let started = Instant::now();

    let error = shops(&client, far_deadline()).await.unwrap_err();

    assert!(matches!(error, UpstreamError::Transport(_)), "{error:?}");
    assert!(error.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(!format!("{error} {error:?}").contains("retry-test-token"));
}

#[tokio::test]
async fn a_dropped_connection_is_transport_and_retried_until_attempts_run_out() {
    // A server that reads the request and hangs up without answering, counting calls.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = stream.readable().await;
            let _ = stream.try_read(&mut buf);
            drop(stream);
        }
    });
    let client = client_with(config(&format!("http://127.0.0.1:{port}")), fast_retry(4));

    let error = shops(&client, far_deadline()).await.unwrap_err();

    assert!(matches!(error, UpstreamError::Transport(_)), "{error:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

// ---- redirects ---------------------------------------------------------------------

/// A `status` redirect to `target` on `server`, where a mock that must never be
/// called waits.
async fn redirect_unfollowed(server: &MockServer, target: &str, status: u16) -> ResponseTemplate {
    Mock::given(path(target))
        .respond_with(shop_ok())
        .expect(0)
        .named("redirect target")
        .mount(server)
        .await;
    let location = format!("{}{target}", server.uri());
    ResponseTemplate::new(status).insert_header("location", location.as_str())
}

#[tokio::test]
async fn a_redirect_from_a_research_endpoint_is_not_followed() {
    let server = MockServer::start().await;
    let elsewhere = redirect_unfollowed(&server, "/v2/elsewhere/", 302).await;
    mount_in_turn(&server, shop_endpoint(), vec![elsewhere]).await;

    let error = shops(&client(&server), far_deadline()).await.unwrap_err();

    assert!(
        matches!(error, UpstreamError::Decode { status: 302, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_redirect_from_the_token_endpoint_is_not_followed() {
    let server = MockServer::start().await;
    // 307 would resend the POST body, client_secret included.
    let elsewhere = redirect_unfollowed(&server, "/collect/", 307).await;
    mount_in_turn(&server, token_endpoint(), vec![elsewhere]).await;

    let error = exchange_code(&server, "c").await.unwrap_err();

    assert!(
        matches!(error, UpstreamError::Decode { status: 307, .. }),
        "{error:?}"
    );
}

// ---- rate limiter ----------------------------------------------------------------------

fn limited_client(server: &MockServer, per_sec: u32) -> TikTokClient {
    let mut config = config(&server.uri());
    config.rate_per_sec = NonZeroU32::new(per_sec).unwrap();
    client_with(config, fast_retry(3))
}

#[tokio::test]
async fn every_call_waits_for_the_rate_limiter() {
    let server = serve_in_turn(shop_endpoint(), vec![shop_ok(); 10]).await;
    let client = limited_client(&server, 5);
    let started = Instant::now();

    for _ in 0..10 {
        shops(&client, deadline_in(10_000)).await.unwrap();
    }

    // 5 a second, evenly spaced: nine gaps of 200 ms after the first call.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1_600), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
}

#[tokio::test]
async fn retries_wait_for_the_rate_limiter_too() {
    let server = serve_in_turn(shop_endpoint(), vec![ResponseTemplate::new(503); 3]).await;
    let client = limited_client(&server, 5);
    let started = Instant::now();

    let error = shops(&client, far_deadline()).await.unwrap_err();

    assert!(
        matches!(error, UpstreamError::Status { status: 503, .. }),
        "{error:?}"
    );
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(350), "{elapsed:?}");
}

#[tokio::test]
async fn a_rate_limiter_wait_past_the_deadline_is_deadline_exceeded_without_a_call() {
    let server = serve_once(shop_endpoint(), shop_ok()).await;
    let client = limited_client(&server, 1);
    shops(&client, far_deadline()).await.unwrap();

    // The limiter's next slot is a second away; the deadline 300 ms.
    deadline_exceeded_in_time(&client, Duration::from_millis(300)).await;
    // One answer served: the second call never reached TikTok (checked on drop).
}

#[tokio::test]
async fn the_limiter_is_shared_by_clones_and_across_endpoints() {
    let server = serve_in_turn(shop_endpoint(), vec![shop_ok(); 3]).await;
    let products = Mock::given(method("POST")).and(path(PRODUCT_PATH));
    mount_in_turn(
        &server,
        products,
        vec![json(200, fixture("products_page.json")); 3],
    )
    .await;
    let client = limited_client(&server, 10);
    let clone = client.clone();
    let shop = TikTokId::parse(SHOP_ID).unwrap();
    let started = Instant::now();

    for _ in 0..3 {
        shops(&client, far_deadline()).await.unwrap();
        clone
            .products(&token(), &shop, 1, 10, far_deadline())
            .await
            .unwrap();
    }

    // Six calls at 10 a second through one limiter: five gaps of 100 ms.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(420), "{elapsed:?}");
}
