//! Every sample event in `events/` (what `sam local invoke -e` would send) runs
//! through its function's handler and gets the answer the README promises for it.
//! A new event file without an expectation here fails the test, so the samples
//! cannot drift from the code.

use std::collections::BTreeSet;
use std::path::PathBuf;

use lambda_http::{Body, Request, Response};
use tiktok_gateway::crypto::sha256_hex;
use tiktok_gateway::store::{PendingGrant, PendingLogin};

use crate::harness::*;

/// The product id `product-lookup-ok.json` asks for.
const EVENT_PRODUCT: u64 = 7_494_754_040_961_993_100;
/// The user the authorized sample events carry.
const EVENT_USER: &str = "user-123";

fn events_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// (file stem, expected status, expected error code for 4xx).
const EXPECTED: &[(&str, u16, Option<&str>)] = &[
    ("login-redirect-ok", 302, None),
    ("login-redirect-json", 200, None),
    ("login-redirect-bad-return-to", 400, Some("bad_request")),
    ("login-redirect-no-identity", 401, Some("unauthorized")),
    ("oauth-callback-ok", 302, None),
    ("oauth-callback-denied", 302, None),
    ("oauth-callback-missing-state", 400, Some("bad_request")),
    ("oauth-callback-unknown-state", 400, Some("bad_request")),
    ("oauth-complete-ok", 200, None),
    ("oauth-complete-other-user", 403, Some("forbidden")),
    ("oauth-complete-unknown", 400, Some("bad_request")),
    ("oauth-complete-no-identity", 401, Some("unauthorized")),
    ("disconnect-ok", 200, None),
    ("disconnect-no-identity", 401, Some("unauthorized")),
    ("connection-status-ok", 200, None),
    ("connection-status-no-identity", 401, Some("unauthorized")),
    ("search-ok", 200, None),
    ("search-no-query", 200, None),
    ("search-bad-page-size", 400, Some("bad_request")),
    ("search-bad-shop-id", 400, Some("bad_request")),
    ("search-query-too-long", 400, Some("bad_request")),
    ("search-no-identity", 401, Some("unauthorized")),
    ("shop-lookup-ok", 200, None),
    ("shop-lookup-missing-name", 400, Some("bad_request")),
    ("shop-lookup-no-identity", 401, Some("unauthorized")),
    ("product-lookup-ok", 200, None),
    ("product-lookup-bad-id", 400, Some("bad_request")),
    ("product-lookup-missing-shop-id", 400, Some("bad_request")),
    ("product-lookup-no-identity", 401, Some("unauthorized")),
    ("tiktok-shop-webhook-unsigned", 401, Some("unauthorized")),
    ("tiktok-shop-webhook-forged", 401, Some("unauthorized")),
];

/// A TikTok that knows the sample events' shop, products and user.
async fn world() -> Harness {
    let h = Harness::memory(&[]).await;
    h.connect(EVENT_USER, "event", 3600).await;
    friendly_tiktok(&h, EVENT_PRODUCT).await;
    h
}

async fn call(h: &Harness, stem: &str, request: Request) -> Response<Body> {
    let function = http_functions()
        .into_iter()
        .find(|f| stem.starts_with(&format!("{f}-")))
        .unwrap_or_else(|| panic!("{stem}: events are named <function>-<case>"));
    let answer = match function.as_str() {
        "login-redirect" => login_redirect::handler(&h.state, request).await,
        "oauth-callback" => oauth_callback::handler(&h.state, request).await,
        "oauth-complete" => oauth_complete::handler(&h.state, request).await,
        "disconnect" => disconnect::handler(&h.state, request).await,
        "connection-status" => connection_status::handler(&h.state, request).await,
        "search" => search::handler(&h.state, request).await,
        "shop-lookup" => shop_lookup::handler(&h.state, request).await,
        "product-lookup" => product_lookup::handler(&h.state, request).await,
        "tiktok-shop-webhook" => tiktok_shop_webhook::handler(&h.state, request).await,
        other => panic!("{stem}: no HTTP function named {other}"),
    };
    answer.unwrap_or_else(|e| panic!("{stem}: handler error {e}"))
}

/// The functions behind the HTTP API, by binary name, as the template deploys them.
fn http_functions() -> BTreeSet<String> {
    crate::template::template_routes()
        .into_iter()
        .map(|(_, _, binary, _)| binary)
        .collect()
}

fn body_of(response: &Response<Body>) -> serde_json::Value {
    match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap_or(serde_json::Value::Null),
        Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null),
        Body::Empty => serde_json::Value::Null,
        _ => serde_json::Value::Null,
    }
}

#[tokio::test]
async fn every_sample_http_event_gets_its_documented_answer() {
    let mut files: Vec<_> = std::fs::read_dir(events_dir())
        .expect("events/")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut seen = 0;
    for file in files {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        // `env.json` is `sam local invoke`'s environment, not an event.
        if stem.starts_with("token-refresh") || stem == "env" {
            continue;
        }
        let (_, status, code) = EXPECTED
            .iter()
            .find(|(s, ..)| *s == stem)
            .unwrap_or_else(|| panic!("events/{stem}.json has no expectation in this test"));
        let text = std::fs::read_to_string(&file).unwrap();
        let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
        let request_id = raw["requestContext"]["requestId"]
            .as_str()
            .unwrap()
            .to_owned();
        let request = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("events/{stem}.json is not an API Gateway event: {e}"));

        let h = world().await;
        if let Some(state) = raw["queryStringParameters"]["state"].as_str() {
            if !stem.ends_with("unknown-state") {
                let login = PendingLogin {
                    user_id: EVENT_USER.into(),
                    return_to: Some(format!("{SITE}/research")),
                    code_verifier: None,
                    expires_at: h.now() + 600,
                };
                h.state
                    .store
                    .put_login(&sha256_hex(state), &login)
                    .await
                    .unwrap();
            }
        }

        if stem.starts_with("oauth-complete") && !stem.ends_with("unknown") {
            // What the callback left: a grant for the event's user, or for another
            // user (someone's login link approved in this user's browser).
            let completion =
                serde_json::from_str::<serde_json::Value>(raw["body"].as_str().expect("a body"))
                    .unwrap()["completion"]
                    .as_str()
                    .unwrap()
                    .to_owned();
            let grant = PendingGrant {
                user_id: if stem.ends_with("other-user") {
                    "someone-else".into()
                } else {
                    EVENT_USER.into()
                },
                tokens: tokens("granted", h.now(), 86_400),
                expires_at: h.now() + 600,
            };
            h.state
                .store
                .put_grant(&sha256_hex(&completion), &grant)
                .await
                .unwrap();
        }

        let response = call(&h, &stem, request).await;

        let body = body_of(&response);
        assert_eq!(
            response.status().as_u16(),
            *status,
            "events/{stem}.json: {body}"
        );
        if let Some(code) = code {
            assert_eq!(body["error"]["code"], *code, "events/{stem}.json: {body}");
            assert_eq!(
                body["error"]["requestId"],
                request_id.as_str(),
                "events/{stem}.json"
            );
        }
        match stem.as_str() {
            "login-redirect-ok" => {
                let to = location(&response);
                assert!(
                    to.as_str()
                        .starts_with(&format!("{}/v2/auth/authorize/", h.tiktok.uri())),
                    "{to}"
                );
            }
            "login-redirect-json" => assert!(body["authorizeUrl"].is_string(), "{body}"),
            "oauth-callback-ok" => {
                let back = location(&response);
                assert!(back.as_str().starts_with(&format!("{SITE}/research")));
                let completion = query_of(&back, "tiktokCompletion").expect("a completion id");
                let grant = h
                    .state
                    .store
                    .take_grant(&sha256_hex(&completion), h.now())
                    .await
                    .unwrap()
                    .expect("a pending grant");
                assert_eq!(grant.user_id, EVENT_USER);
                assert_eq!(grant.tokens.access_token.expose(), "act.fresh");
            }
            "oauth-complete-ok" => {
                assert_eq!(body["connected"], true, "{body}");
                let connection = h.stored(EVENT_USER).await;
                assert_eq!(connection.tokens.access_token.expose(), "act.granted");
            }
            "oauth-complete-other-user" => {
                let connection = h.stored(EVENT_USER).await;
                assert_eq!(
                    connection.tokens.access_token.expose(),
                    "act.event",
                    "the user's own connection is untouched"
                );
                assert!(!h.has_connection("someone-else").await);
            }
            "oauth-callback-denied" => {
                assert_eq!(
                    query_of(&location(&response), "tiktokError").as_deref(),
                    Some("access_denied")
                );
            }
            "connection-status-ok" => assert_eq!(body["connected"], true, "{body}"),
            "disconnect-ok" => {
                assert!(!h.has_connection(EVENT_USER).await);
            }
            "search-ok" => {
                let titles: Vec<_> = body["products"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["product_title"].clone())
                    .collect();
                assert_eq!(titles, ["Matte Lipstick"], "{body}");
            }
            "search-no-query" => {
                assert_eq!(body["products"].as_array().unwrap().len(), 2, "{body}")
            }
            "shop-lookup-ok" => {
                assert_eq!(body["shops"][0]["shopId"], "7494754040961993092", "{body}")
            }
            "product-lookup-ok" => {
                assert_eq!(
                    body["product"]["product_id"],
                    EVENT_PRODUCT.to_string(),
                    "{body}"
                )
            }
            _ => {}
        }
        seen += 1;
    }
    assert_eq!(seen, EXPECTED.len(), "every expectation has its event file");
}

/// A Lambda invocation context whose deadline is 30 s away.
fn context_with_30_seconds_left() -> lambda_runtime::Context {
    let mut context = lambda_runtime::Context::default();
    context.deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 30_000;
    context
}

#[tokio::test]
async fn the_sample_scheduler_event_runs_the_refresher() {
    let text =
        std::fs::read_to_string(events_dir().join("token-refresher-scheduled.json")).unwrap();
    let payload: serde_json::Value = serde_json::from_str(&text).unwrap();
    let h = world().await;
    h.connect("due-user", "due", 60).await;
    let context = context_with_30_seconds_left();

    let refresher = token_refresher::Refresher {
        state: h.state.clone(),
        queue: None,
    };
    let summary = token_refresher::handler(
        &refresher,
        lambda_runtime::LambdaEvent::new(payload, context),
    )
    .await
    .unwrap_or_else(|e| panic!("refresher failed: {}", e.error_message));

    let summary = serde_json::to_value(summary).unwrap();
    assert!(summary["refreshed"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    let connection = h.stored("due-user").await;
    assert_eq!(connection.tokens.refresh_token.expose(), "rft.fresh");
}

#[tokio::test]
async fn the_sample_sqs_event_runs_the_worker_and_retries_only_the_bad_message() {
    let text =
        std::fs::read_to_string(events_dir().join("token-refresh-worker-batch.json")).unwrap();
    let payload: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(&text).unwrap();
    let h = world().await;
    h.connect("user-123", "due", 60).await;
    let context = context_with_30_seconds_left();

    let response =
        token_refresh_worker::handler(&h.state, lambda_runtime::LambdaEvent::new(payload, context))
            .await
            .unwrap_or_else(|e| panic!("worker failed: {}", e.error_message));

    // The malformed message comes back (then the DLQ); the good one is done,
    // its deleted user skipped.
    let body = serde_json::to_value(&response).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"batchItemFailures": [
            {"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"}
        ]})
    );
    let connection = h.stored("user-123").await;
    assert_eq!(connection.tokens.refresh_token.expose(), "rft.fresh");
}
