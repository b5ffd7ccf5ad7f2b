//! Hostile API Gateway events, generated: every HTTP handler gets malformed and
//! odd events (no request context, missing or wrong-typed claims, huge and
//! odd-unicode parameters, bad base64 bodies, wrong methods and paths) and must
//! never panic, never fail the invocation, and never answer 5xx for what is the
//! client's fault. Events lambda_http cannot parse never reach a handler; they
//! are counted, and most events must reach the handlers (claims arrive as API
//! Gateway's JWT authorizer writes them: strings). `PROPTEST_CASES` sets the
//! count (10,000 by default).

use std::sync::OnceLock;

use lambda_http::{Body, Request, Response};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::harness::*;

const PRODUCT: u64 = 1_729_000_000_000_000_001;

struct World {
    runtime: tokio::runtime::Runtime,
    harness: Harness,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        // Keep the CI log readable: the one documented library panic (see
        // below) is expected thousands of times; every other panic still prints.
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info
                .to_string()
                .contains("failed to decode aws base64 encoded body")
            {
                report(info);
            }
        }));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let harness = runtime.block_on(async {
            let h = Harness::memory(&[]).await;
            h.connect("u1", "fuzz", 1 << 30).await;
            friendly_tiktok(&h, PRODUCT).await;
            h
        });
        World { runtime, harness }
    })
}

fn odd_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".into()),
        Just("7494754040961993092".into()),
        Just("0".into()),
        Just("-1".into()),
        Just("1e3".into()),
        Just("18446744073709551616".into()),
        Just("%00%ff".into()),
        Just("\u{0}\u{202e}\u{fffd}".into()),
        Just("mug".into()),
        Just("https://app.dshipit.com/research".into()),
        Just("//evil.example".into()),
        Just("javascript:alert(1)".into()),
        "[0-9]{1,25}",
        "\\PC{0,40}",
        any::<String>(),
        // Long, but inside what API Gateway passes on (its request line and
        // headers are limited to 10 KB; the `http` crate refuses URIs over 64 KB).
        (1usize..1500).prop_map(|n| "é".repeat(n)),
    ]
}

/// A claim as API Gateway's JWT authorizer hands it to the function: every
/// value a string (numbers and booleans as their text, arrays as `[a b]`),
/// null claims left out. A hostile token's odd claims reach the handler in
/// this shape; lambda_http would refuse any other before a handler runs.
fn as_api_gateway_claims(authorizer: &mut Value) {
    let Some(claims) = authorizer
        .get_mut("jwt")
        .and_then(|jwt| jwt.get_mut("claims"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    claims.retain(|_, value| !value.is_null());
    for value in claims.values_mut() {
        let text = match &*value {
            Value::String(_) => continue,
            Value::Array(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map_or_else(|| item.to_string(), str::to_owned)
                    })
                    .collect();
                format!("[{}]", items.join(" "))
            }
            other => other.to_string(),
        };
        *value = Value::String(text);
    }
}

fn claims() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => Just(None),
        3 => Just(Some(json!({"jwt": {"claims": {"sub": "u1"}, "scopes": null}}))),
        3 => Just(Some(json!({"jwt": {"claims": {"sub": "stranger"}}}))),
        3 => Just(Some(json!({"jwt": {"claims": {"sub": ""}}}))),
        3 => Just(Some(json!({"jwt": {"claims": {"sub": 42}}}))),
        3 => Just(Some(json!({"jwt": {"claims": {"sub": null}}}))),
        3 => Just(Some(json!({"jwt": {"claims": {"sub": ["u1"]}}}))),
        3 => Just(Some(json!({"jwt": {"claims": {}}}))),
        3 => Just(Some(json!({"jwt": {"claims": {
            "sub": "u1", "exp": 1795575600, "aud": ["dshipit", "x"], "email_verified": true
        }}}))),
        3 => Just(Some(json!({"jwt": {}}))),
        3 => Just(Some(json!({"lambda": {"sub": "u1"}}))),
        // Authorizer shapes API Gateway never sends: lambda_http refuses them.
        1 => Just(Some(json!({"jwt": "u1"}))),
        1 => Just(Some(json!("u1"))),
        6 => odd_text().prop_map(|sub| Some(json!({"jwt": {"claims": {"sub": sub}}}))),
    ]
}

const ROUTES: &[&str] = &[
    "/auth/tiktok/login",
    "/auth/tiktok/callback",
    "/auth/tiktok/disconnect",
    "/auth/tiktok/status",
    "/api/tiktok/search",
    "/api/tiktok/shops",
    "/api/tiktok/products/1729000000000000001",
];

const KEYS: &[&str] = &[
    "shopId",
    "query",
    "pageStart",
    "pageSize",
    "name",
    "returnTo",
    "code",
    "state",
    "scopes",
    "error",
    "error_description",
    "productId",
    "userId",
    "sub",
];

prop_compose! {
    fn event()(
        method in prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE"), Just("OPTIONS"), Just("HEAD"), Just("BREW")],
        path in prop_oneof![proptest::sample::select(ROUTES).prop_map(str::to_owned), "/\\PC{0,30}"],
        params in proptest::collection::vec((prop_oneof![proptest::sample::select(KEYS).prop_map(str::to_owned), "\\PC{0,10}"], odd_text()), 0..5),
        authorizer in claims(),
        context_kind in 0u8..24,
        accept in prop_oneof![Just(None), Just(Some("application/json")), Just(Some("text/html")), Just(Some("*/*"))],
        // A body, and how it is flagged: plain, base64 as API Gateway encodes
        // it, or flagged base64 and not (API Gateway never does that).
        body in proptest::option::of(("\\PC{0,200}", prop_oneof![4 => Just(0u8), 4 => Just(1u8), 1 => Just(2u8)])),
        product_id in proptest::option::of(odd_text()),
    ) -> Value {
        let raw_query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .finish();
        let mut query = serde_json::Map::new();
        for (k, v) in &params {
            query.insert(k.clone(), v.clone().into());
        }
        let mut headers = serde_json::Map::new();
        headers.insert("host".into(), "api.dshipit.com".into());
        if let Some(accept) = accept {
            headers.insert("accept".into(), accept.into());
        }
        let mut event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": raw_query,
            "headers": headers,
            "queryStringParameters": query,
            "isBase64Encoded": false,
        });
        let mut context = json!({
            "accountId": "123456789012", "apiId": "api", "domainName": "api.dshipit.com",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "fuzz"},
            "requestId": "req-fuzz", "routeKey": "$default", "stage": "$default", "timeEpoch": 0,
        });
        if let Some(mut authorizer) = authorizer {
            as_api_gateway_claims(&mut authorizer);
            context["authorizer"] = authorizer;
        }
        match context_kind {
            // Not what API Gateway sends: a few, to show they are refused cleanly.
            0 => {} // no requestContext at all
            1 => event["requestContext"] = json!({}),
            2 => event["requestContext"] = json!({"http": {"method": method}}),
            _ => event["requestContext"] = context,
        }
        if let Some((body, encoding)) = body {
            event["body"] = match encoding {
                1 => base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &body),
                _ => body,
            }
            .into();
            event["isBase64Encoded"] = (encoding != 0).into();
        }
        if let Some(id) = product_id {
            event["pathParameters"] = json!({ "productId": id });
        }
        event
    }
}

fn status_and_body(response: &Response<Body>) -> (u16, Value) {
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (response.status().as_u16(), body)
}

async fn every_handler(event: &str) -> Vec<(&'static str, Result<Response<Body>, String>)> {
    let state = &world().harness.state;
    let request =
        || -> Request { lambda_http::request::from_str(event).expect("parsed once already") };
    let e = |r: Result<Response<Body>, lambda_http::Error>| r.map_err(|e| e.to_string());
    vec![
        (
            "login-redirect",
            e(login_redirect::handler(state, request()).await),
        ),
        (
            "oauth-callback",
            e(oauth_callback::handler(state, request()).await),
        ),
        (
            "oauth-complete",
            e(oauth_complete::handler(state, request()).await),
        ),
        (
            "connection-status",
            e(connection_status::handler(state, request()).await),
        ),
        ("search", e(search::handler(state, request()).await)),
        (
            "shop-lookup",
            e(shop_lookup::handler(state, request()).await),
        ),
        (
            "product-lookup",
            e(product_lookup::handler(state, request()).await),
        ),
        ("disconnect", e(disconnect::handler(state, request()).await)),
        (
            "tiktok-shop-webhook",
            e(tiktok_shop_webhook::handler(state, request()).await),
        ),
    ]
}

/// Runs one generated event through every handler. `Ok(false)`: lambda_http
/// could not parse it, so no handler saw it (the runtime reports it).
fn check(event: &Value) -> Result<bool, TestCaseError> {
    let text = event.to_string();
    // lambda_http panics on a body flagged base64 that is not base64
    // (documented in aws_lambda_events; API Gateway itself always encodes
    // correctly, so a client cannot cause it): that is the only panic allowed.
    match std::panic::catch_unwind(|| lambda_http::request::from_str(&text)) {
        Ok(Ok(_)) => {}
        Ok(Err(_)) => return Ok(false),
        Err(_) => {
            let flagged = event["isBase64Encoded"] == true;
            let body = event["body"].as_str().unwrap_or_default();
            let valid =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body).is_ok();
            prop_assert!(flagged && !valid, "lambda_http panicked on {}", text);
            return Ok(false);
        }
    }
    let world = world();
    let answers = world.runtime.block_on(async {
        let answers = every_handler(&text).await;
        // A well-formed disconnect by u1 is allowed to succeed: connect again
        // so the next case still reaches TikTok.
        if world
            .harness
            .state
            .store
            .get_connection("u1")
            .await
            .ok()
            .flatten()
            .is_none()
        {
            world.harness.connect("u1", "fuzz", 1 << 30).await;
        }
        answers
    });
    for (function, answer) in answers {
        let response = answer.map_err(|e| {
            TestCaseError::fail(format!("{function}: invocation failed: {e}\n{text}"))
        })?;
        let (status, body) = status_and_body(&response);
        prop_assert!(
            status < 500,
            "{} answered {}: {}\n{}",
            function,
            status,
            body,
            text
        );
        if status >= 400 {
            prop_assert!(
                body["error"]["code"].is_string(),
                "{} {}: {}",
                function,
                status,
                body
            );
        }
    }
    Ok(true)
}

#[test]
fn no_handler_panics_or_answers_5xx_to_a_malformed_event() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(10_000);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let reached = std::sync::atomic::AtomicU32::new(0);
    let unparsed = std::sync::atomic::AtomicU32::new(0);
    let result = runner.run(&event(), |event| {
        let counter = if check(&event)? { &reached } else { &unparsed };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let (reached, unparsed) = (reached.into_inner(), unparsed.into_inner());
    eprintln!("hostile events: {reached} reached the handlers, {unparsed} did not parse");
    // Events lambda_http cannot parse test lambda_http, not the handlers: they
    // must stay the exception (no or a partial request context, an authorizer
    // that is not an object, a body flagged base64 that is not), or this test
    // would be checking little. Three quarters at least reach the handlers.
    assert!(
        reached * 4 >= (reached + unparsed) * 3,
        "only {reached} of {} events reached the handlers",
        reached + unparsed
    );
}

#[test]
fn disconnect_with_a_malformed_identity_changes_nothing() {
    let world = world();
    for authorizer in [
        json!({"jwt": {"claims": {"sub": 7}}}),
        json!({"jwt": {}}),
        json!("u1"),
    ] {
        let mut event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/auth/tiktok/disconnect",
            "rawQueryString": "userId=u1", "headers": {"host": "api.dshipit.com"},
            "queryStringParameters": {"userId": "u1"}, "isBase64Encoded": false,
            "requestContext": {"http": {"method": "POST", "path": "/auth/tiktok/disconnect"}, "requestId": "r"},
        });
        event["requestContext"]["authorizer"] = authorizer;
        let Ok(request) = lambda_http::request::from_str(&event.to_string()) else {
            continue;
        };
        let state = &world.harness.state;
        let response = world
            .runtime
            .block_on(disconnect::handler(state, request))
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{event}");
        let still = world
            .runtime
            .block_on(state.store.get_connection("u1"))
            .unwrap();
        assert!(still.is_some(), "u1's connection survived {event}");
    }
}
