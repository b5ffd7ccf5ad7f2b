//! One-pass deploy: without `TIKTOK_REDIRECT_URI` the login derives the
//! callback URL from API Gateway's `requestContext.domainName` (never the
//! client's `Host`), keeps it with the state, and the callback exchanges the
//! code with exactly that URI; a configured `TIKTOK_REDIRECT_URI` still wins.

use lambda_http::{Body, Request, Response};
use wiremock::matchers::body_string_contains;

use crate::harness::*;

const API_DOMAIN: &str = "abc123xyz9.execute-api.us-east-1.amazonaws.com";
const CONFIGURED: &str = "https://api.dshipit.com/auth/tiktok/callback";

/// `events/login-redirect-ok.json` as API Gateway would send it for a request
/// it answered on `domain`, from a client that sent `Host: host`.
fn login_event(domain: &str, host: &str) -> Request {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/login-redirect-ok.json"
    );
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["requestContext"]["domainName"] = domain.into();
    event["requestContext"]["domainPrefix"] = domain.split('.').next().unwrap().into();
    event["headers"]["host"] = host.into();
    event["headers"]["x-forwarded-host"] = host.into();
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

async fn login(h: &Harness, domain: &str, host: &str) -> Response<Body> {
    login_redirect::handler(&h.state, login_event(domain, host))
        .await
        .unwrap()
}

/// The login sends the browser to TikTok with `expected` as `redirect_uri`;
/// TikTok sends it back, and the code exchange carries `expected` too.
async fn login_and_exchange_with(h: &Harness, domain: &str, host: &str, expected: &str) {
    let wanted = expected.to_owned();
    let exact_redirect_uri = move |request: &wiremock::Request| {
        url::form_urlencoded::parse(&request.body)
            .filter(|(name, _)| name == "redirect_uri")
            .map(|(_, value)| value == wanted.as_str())
            .eq([true])
    };
    h.expect(
        1,
        token_request()
            .and(body_string_contains("grant_type=authorization_code"))
            .and(body_string_contains("code=code-derived"))
            .and(exact_redirect_uri)
            .respond_with(token_response("derived", 86_400)),
    )
    .await;
    let response = login(h, domain, host).await;
    assert_eq!(response.status(), 302);
    let authorize = location(&response);
    assert_eq!(
        query_of(&authorize, "redirect_uri").as_deref(),
        Some(expected)
    );
    let state = query_of(&authorize, "state").unwrap();
    let back = h
        .callback(&[("code", "code-derived"), ("state", &state)])
        .await;
    assert_eq!(back.status(), 302);
    let completion = completion_of(&back);
    let done = h.complete("user-123", &completion).await;
    assert_eq!(done.status(), 200, "{}", body_json(&done));
    assert_eq!(
        h.stored("user-123").await.tokens.access_token.expose(),
        "act.derived"
    );
}

async fn the_callback_url_comes_from_the_apis_domain_not_the_host_header(h: Harness) {
    login_and_exchange_with(
        &h,
        API_DOMAIN,
        "evil.example.com",
        &format!("https://{API_DOMAIN}/auth/tiktok/callback"),
    )
    .await;
}

on_each_store!(
    the_callback_url_comes_from_the_apis_domain_not_the_host_header(("TIKTOK_REDIRECT_URI", ""))
        => derived_callback_url_in_memory, derived_callback_url_in_dynamodb
);

#[tokio::test]
async fn a_configured_redirect_uri_still_wins_over_the_apis_domain() {
    let h = Harness::moto(&[("TIKTOK_REDIRECT_URI", CONFIGURED)]).await;
    login_and_exchange_with(&h, API_DOMAIN, "evil.example.com", CONFIGURED).await;
}

#[tokio::test]
async fn a_custom_domain_is_the_callbacks_domain() {
    let h = Harness::memory(&[("TIKTOK_REDIRECT_URI", "")]).await;
    login_and_exchange_with(
        &h,
        "tiktok-api.dshipit.com",
        "tiktok-api.dshipit.com",
        "https://tiktok-api.dshipit.com/auth/tiktok/callback",
    )
    .await;
}

#[tokio::test]
async fn without_either_the_login_fails() {
    let h = Harness::memory(&[("TIKTOK_REDIRECT_URI", "")]).await;
    for domain in ["", "evil.example.com/path?x=", "a b"] {
        let response = login(&h, domain, "evil.example.com").await;
        assert_eq!(response.status(), 500, "{domain:?}");
    }
}
