//! Login, callback, status and disconnect: the connection's life cycle.

use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::harness::*;

async fn login(h: &Harness, user: &str, return_to: Option<&str>) -> url::Url {
    let query: Vec<(&str, &str)> = return_to.map(|r| ("returnTo", r)).into_iter().collect();
    let response = login_redirect::handler(&h.state, get("/auth/tiktok/login", &query, Some(user)))
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert!(
        response.headers().get("set-cookie").is_none(),
        "no cookie: the site and the API live on different sites"
    );
    location(&response)
}

async fn callback(h: &Harness, query: &[(&str, &str)]) -> lambda_http::Response<lambda_http::Body> {
    oauth_callback::handler(&h.state, callback_request(query))
        .await
        .unwrap()
}

async fn complete(
    h: &Harness,
    user: &str,
    completion: &str,
) -> lambda_http::Response<lambda_http::Body> {
    oauth_complete::handler(&h.state, complete_request(Some(user), completion))
        .await
        .unwrap()
}

async fn status(h: &Harness, user: &str) -> serde_json::Value {
    let response =
        connection_status::handler(&h.state, get("/auth/tiktok/status", &[], Some(user)))
            .await
            .unwrap();
    assert_eq!(response.status(), 200);
    body_json(&response)
}

fn mock_token_exchange(h: &Harness, code: &str, tag: &str) -> Mock {
    let _ = h;
    Mock::given(method("POST"))
        .and(path("/v2/oauth/token/"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains(format!("code={code}")))
        .and(body_string_contains(format!(
            "client_secret={CLIENT_SECRET}"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(tag, 86_400)))
}

async fn full_connect(h: &Harness, user: &str) {
    mock_token_exchange(h, "code-1", "first")
        .expect(1)
        .mount(&h.tiktok)
        .await;
    let authorize = login(h, user, Some("https://app.dshipit.com/research?tab=shops")).await;
    let state = query_of(&authorize, "state").unwrap();
    let response = callback(
        h,
        &[
            ("code", "code-1"),
            ("scopes", "user.info.basic"),
            ("state", &state),
        ],
    )
    .await;
    assert_eq!(response.status(), 302);
    let back = location(&response);
    assert_eq!(back.origin().ascii_serialization(), SITE);
    assert_eq!(back.path(), "/research");
    assert_eq!(query_of(&back, "tab").as_deref(), Some("shops"));
    assert!(
        h.state.store.get_connection(user).await.unwrap().is_none(),
        "the callback stores no connection"
    );
    let completion = completion_of(&response);
    assert!(completion.len() >= 43, "{completion}");
    let done = complete(h, user, &completion).await;
    assert_eq!(done.status(), 200);
    let body = body_json(&done);
    assert_eq!(body["connected"], true, "{body}");
    assert_eq!(body["openId"], "open-123", "{body}");
}

#[tokio::test]
async fn login_redirects_to_tiktok_with_every_parameter() {
    let h = Harness::memory(&[("TIKTOK_SCOPES", "user.info.basic,research.data.basic")]).await;
    let url = login(&h, "user-1", None).await;
    assert!(url
        .as_str()
        .starts_with(&format!("{}/v2/auth/authorize/?", h.tiktok.uri())));
    assert_eq!(query_of(&url, "client_key").as_deref(), Some(CLIENT_KEY));
    assert_eq!(
        query_of(&url, "scope").as_deref(),
        Some("user.info.basic,research.data.basic")
    );
    assert_eq!(
        query_of(&url, "redirect_uri").as_deref(),
        Some("https://api.dshipit.com/auth/tiktok/callback")
    );
    assert_eq!(query_of(&url, "response_type").as_deref(), Some("code"));
    assert!(query_of(&url, "state").unwrap().len() >= 43);
    assert_eq!(
        query_of(&url, "code_challenge"),
        None,
        "PKCE is off by default for web"
    );
}

#[tokio::test]
async fn login_answers_json_to_a_single_page_site_and_uses_pkce_when_configured() {
    let h = Harness::memory(&[("TIKTOK_PKCE", "true")]).await;
    let response = login_redirect::handler(
        &h.state,
        event(
            "GET",
            "/auth/tiktok/login",
            &[],
            Some("user-1"),
            &[("accept", "application/json")],
        ),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let url = url::Url::parse(body_json(&response)["authorizeUrl"].as_str().unwrap()).unwrap();
    assert_eq!(
        query_of(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(query_of(&url, "code_challenge").unwrap().len(), 43);
}

#[tokio::test]
async fn login_refuses_an_open_redirect_and_stores_nothing() {
    let h = Harness::memory(&[]).await;
    for bad in [
        "https://evil.example.com/",
        "//evil.example.com",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "/\\evil.example.com",
        "https://app.dshipit.com.evil.example.com/",
        "https://app.dshipit.com@evil.example.com/",
        // Encoded variants (the query string is decoded once before the handler).
        "%2F%2Fevil.example.com",
        "https:%2F%2Fevil.example.com",
        "https://app.dshipit.com%40evil.example.com/",
        "%68ttps://evil.example.com",
        "https%3A%2F%2Fevil.example.com",
    ] {
        let response = login_redirect::handler(
            &h.state,
            get("/auth/tiktok/login", &[("returnTo", bad)], Some("user-1")),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        assert_eq!(error_code(&response), "bad_request");
    }
}

#[tokio::test]
async fn routes_behind_the_authorizer_refuse_a_request_without_identity() {
    let h = Harness::memory(&[]).await;
    let responses = [
        login_redirect::handler(&h.state, get("/auth/tiktok/login", &[], None)).await,
        connection_status::handler(&h.state, get("/auth/tiktok/status", &[], None)).await,
        oauth_complete::handler(&h.state, complete_request(None, "some-completion")).await,
        disconnect::handler(
            &h.state,
            event("POST", "/auth/tiktok/disconnect", &[], None, &[]),
        )
        .await,
        search::handler(
            &h.state,
            get("/api/tiktok/search", &[("shopId", SHOP)], None),
        )
        .await,
        shop_lookup::handler(&h.state, get("/api/tiktok/shops", &[("name", "x")], None)).await,
        product_lookup::handler(
            &h.state,
            get("/api/tiktok/products/1", &[("shopId", SHOP)], None),
        )
        .await,
    ];
    for response in responses {
        let response = response.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(error_code(&response), "unauthorized");
    }
}

async fn connect_then_replay_is_refused(h: Harness) {
    full_connect(&h, "user-1").await;
    let s = status(&h, "user-1").await;
    assert_eq!(s["connected"], true);
    assert_eq!(s["openId"], "open-123");
    assert_eq!(
        s["scopes"],
        serde_json::json!(["user.info.basic", "research.data.basic"])
    );
    assert_eq!(s["reconnectRequired"], false);
    let text = s.to_string();
    assert!(
        !text.contains("act.first") && !text.contains("rft.first"),
        "{text}"
    );
    let stored = h
        .state
        .store
        .get_connection("user-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.tokens.access_expires_at,
        h.now() + 86_400,
        "lifetime from expires_in"
    );
    assert_eq!(stored.tokens.refresh_expires_at, h.now() + 15_552_000);
}

#[tokio::test]
async fn a_user_connects_and_sees_the_connection_memory() {
    connect_then_replay_is_refused(Harness::memory(&[]).await).await;
}

#[tokio::test]
async fn a_user_connects_and_sees_the_connection_dynamodb() {
    connect_then_replay_is_refused(Harness::moto(&[]).await).await;
}

#[tokio::test]
async fn a_replayed_unknown_missing_or_expired_state_is_refused_and_stores_nothing() {
    let h = Harness::moto(&[]).await;
    mock_token_exchange(&h, "code-1", "first")
        .expect(1)
        .mount(&h.tiktok)
        .await;
    let state = query_of(&login(&h, "user-1", None).await, "state").unwrap();
    let ok = callback(&h, &[("code", "code-1"), ("state", &state)]).await;
    assert_eq!(ok.status(), 302);
    h.state.store.delete_connection("user-1").await.unwrap();

    let replay = callback(&h, &[("code", "code-1"), ("state", &state)]).await;
    assert_eq!(replay.status(), 400);
    assert_eq!(error_code(&replay), "bad_request");
    let unknown = callback(&h, &[("code", "code-1"), ("state", "forged-state")]).await;
    assert_eq!(unknown.status(), 400);
    let missing = callback(&h, &[("code", "code-1")]).await;
    assert_eq!(missing.status(), 400);

    let late = query_of(&login(&h, "user-1", None).await, "state").unwrap();
    h.advance(601);
    let expired = callback(&h, &[("code", "code-1"), ("state", &late)]).await;
    assert_eq!(expired.status(), 400);
    assert!(h
        .state
        .store
        .get_connection("user-1")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_denied_authorization_goes_back_to_the_site_with_the_error() {
    let h = Harness::memory(&[]).await;
    let state = query_of(
        &login(&h, "user-1", Some("https://app.dshipit.com/research")).await,
        "state",
    )
    .unwrap();
    let response = callback(
        &h,
        &[
            ("error", "access_denied"),
            ("error_description", "User denied"),
            ("state", &state),
        ],
    )
    .await;
    assert_eq!(response.status(), 302);
    let back = location(&response);
    assert_eq!(back.path(), "/research");
    assert_eq!(
        query_of(&back, "tiktokError").as_deref(),
        Some("access_denied")
    );
    assert!(h
        .state
        .store
        .get_connection("user-1")
        .await
        .unwrap()
        .is_none());
    // The state was consumed: it cannot be used afterwards.
    let reuse = callback(&h, &[("code", "c"), ("state", &state)]).await;
    assert_eq!(reuse.status(), 400);
}

#[tokio::test]
async fn a_refused_code_exchange_goes_back_with_an_error_and_stores_nothing() {
    let h = Harness::memory(&[]).await;
    Mock::given(method("POST"))
        .and(path("/v2/oauth/token/"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": "invalid_grant", "error_description": "Authorization code is expired.", "log_id": "log-1"
        })))
        .expect(1)
        .mount(&h.tiktok)
        .await;
    let state = query_of(&login(&h, "user-1", None).await, "state").unwrap();
    let response = callback(&h, &[("code", "old-code"), ("state", &state)]).await;
    assert_eq!(response.status(), 302);
    let back = location(&response);
    assert_eq!(
        back.as_str().split('?').next(),
        Some("https://app.dshipit.com/research")
    );
    assert_eq!(
        query_of(&back, "tiktokError").as_deref(),
        Some("reconnect_required")
    );
    assert!(h
        .state
        .store
        .get_connection("user-1")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn disconnect_revokes_deletes_and_is_idempotent() {
    let h = Harness::moto(&[]).await;
    h.connect("user-1", "live", 3600).await;
    Mock::given(method("POST"))
        .and(path("/v2/oauth/revoke/"))
        .and(body_string_contains("token=act.live"))
        .and(body_string_contains(format!("client_key={CLIENT_KEY}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .expect(1)
        .mount(&h.tiktok)
        .await;
    for _ in 0..2 {
        let response = disconnect::handler(
            &h.state,
            event("POST", "/auth/tiktok/disconnect", &[], Some("user-1"), &[]),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(body_json(&response)["connected"], false);
    }
    assert_eq!(status(&h, "user-1").await["connected"], false);
}

#[tokio::test]
async fn disconnect_still_deletes_when_tiktok_fails_to_revoke() {
    let h = Harness::memory(&[]).await;
    h.connect("user-1", "live", 3600).await;
    Mock::given(method("POST"))
        .and(path("/v2/oauth/revoke/"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&h.tiktok)
        .await;
    let response = disconnect::handler(
        &h.state,
        event("POST", "/auth/tiktok/disconnect", &[], Some("user-1"), &[]),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert!(h
        .state
        .store
        .get_connection("user-1")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn status_reports_a_needed_reconnect() {
    let h = Harness::memory(&[]).await;
    h.connect("user-1", "live", 3600).await;
    let c = h
        .state
        .store
        .get_connection("user-1")
        .await
        .unwrap()
        .unwrap();
    h.state
        .store
        .mark_reconnect_required("user-1", c.version)
        .await
        .unwrap();
    let s = status(&h, "user-1").await;
    assert_eq!(
        (s["connected"].as_bool(), s["reconnectRequired"].as_bool()),
        (Some(false), Some(true))
    );
    let never = status(&h, "someone-else").await;
    assert_eq!(
        (
            never["connected"].as_bool(),
            never["reconnectRequired"].as_bool()
        ),
        (Some(false), Some(false))
    );
}

/// The account-linking attack: user A sends B her authorize link; B approves at
/// TikTok with B's own TikTok account and B's browser comes back through the
/// callback to the site, where B is signed in. Completing as B is refused (the
/// grant was A's), and neither A nor B ends up with a connection.
async fn another_users_authorization_is_refused_and_stores_nothing(h: Harness) {
    mock_token_exchange(&h, "code-victim", "victim")
        .expect(1)
        .mount(&h.tiktok)
        .await;
    // A starts a login for her own dshipit account and sends the link to B...
    let authorize = login(&h, "attacker-a", None).await;
    let state = query_of(&authorize, "state").unwrap();
    // ...B approves with B's TikTok account; B's browser comes back.
    let back = callback(&h, &[("code", "code-victim"), ("state", &state)]).await;
    assert_eq!(back.status(), 302);
    let completion = completion_of(&back);
    // The site, signed in as B, completes: refused.
    let refused = complete(&h, "victim-b", &completion).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(error_code(&refused), "forbidden");
    let text = body_json(&refused).to_string();
    assert!(
        !text.contains("act.victim") && !text.contains("attacker-a"),
        "{text}"
    );
    // The grant is gone: A cannot complete it afterwards (were she to learn the id).
    let late = complete(&h, "attacker-a", &completion).await;
    assert_eq!(late.status(), 400);
    assert_eq!(error_code(&late), "bad_request");
    for user in ["attacker-a", "victim-b"] {
        assert!(
            h.state.store.get_connection(user).await.unwrap().is_none(),
            "{user} got a connection"
        );
        assert_eq!(status(&h, user).await["connected"], false, "{user}");
    }
}

#[tokio::test]
async fn another_users_authorization_is_refused_and_stores_nothing_memory() {
    another_users_authorization_is_refused_and_stores_nothing(Harness::memory(&[]).await).await;
}

#[tokio::test]
async fn another_users_authorization_is_refused_and_stores_nothing_dynamodb() {
    another_users_authorization_is_refused_and_stores_nothing(Harness::moto(&[]).await).await;
}

#[tokio::test]
async fn an_unknown_replayed_expired_or_malformed_completion_is_refused() {
    let h = Harness::moto(&[]).await;
    mock_token_exchange(&h, "code-1", "first")
        .mount(&h.tiktok)
        .await;
    let state = query_of(&login(&h, "user-1", None).await, "state").unwrap();
    let completion = completion_of(&callback(&h, &[("code", "code-1"), ("state", &state)]).await);
    assert_eq!(complete(&h, "user-1", &completion).await.status(), 200);
    h.state.store.delete_connection("user-1").await.unwrap();

    let replay = complete(&h, "user-1", &completion).await;
    assert_eq!(replay.status(), 400);
    assert_eq!(error_code(&replay), "bad_request");
    let unknown = complete(
        &h,
        "user-1",
        "Zm9yZ2VkLWNvbXBsZXRpb24taWQtdGhhdC1kb2VzLW5vdA",
    )
    .await;
    assert_eq!(unknown.status(), 400);

    let state = query_of(&login(&h, "user-1", None).await, "state").unwrap();
    let late = completion_of(&callback(&h, &[("code", "code-1"), ("state", &state)]).await);
    h.advance(601);
    assert_eq!(complete(&h, "user-1", &late).await.status(), 400, "expired");

    for body in [
        "",
        "{}",
        "not json",
        r#"{"completion": 7}"#,
        r#"{"completion": ""}"#,
        r#"{"completion": "a b"}"#,
        &format!(r#"{{"completion": "{}"}}"#, "x".repeat(500)),
    ] {
        let request = test_support::api_event_with_body(
            "POST",
            "/auth/tiktok/complete",
            Some("user-1"),
            &[],
            body,
        );
        let response = oauth_complete::handler(&h.state, request).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(error_code(&response), "bad_request");
    }
    assert!(h
        .state
        .store
        .get_connection("user-1")
        .await
        .unwrap()
        .is_none());
}
