//! Login, callback, status and disconnect: the connection's life cycle.

use wiremock::matchers::body_string_contains;
use wiremock::{Mock, ResponseTemplate};

use crate::harness::*;

/// TikTok exchanging `code` (sent with the client secret) for tokens tagged `tag`.
fn mock_token_exchange(code: &str, tag: &str) -> Mock {
    token_request()
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains(format!("code={code}")))
        .and(body_string_contains(format!(
            "client_secret={CLIENT_SECRET}"
        )))
        .respond_with(token_response(tag, 86_400))
}

async fn full_connect(h: &Harness, user: &str) {
    h.expect(1, mock_token_exchange("code-1", "first")).await;
    let authorize = h
        .login(user, Some("https://app.dshipit.com/research?tab=shops"))
        .await;
    let state = query_of(&authorize, "state").unwrap();
    let response = h
        .callback(&[
            ("code", "code-1"),
            ("scopes", "user.info.basic"),
            ("state", &state),
        ])
        .await;
    assert_eq!(response.status(), 302);
    let back = location(&response);
    assert_eq!(back.origin().ascii_serialization(), SITE);
    assert_eq!(back.path(), "/research");
    assert_eq!(query_of(&back, "tab").as_deref(), Some("shops"));
    assert!(
        !h.has_connection(user).await,
        "the callback stores no connection"
    );
    let completion = completion_of(&response);
    assert!(completion.len() >= 43, "{completion}");
    let done = h.complete(user, &completion).await;
    assert_eq!(done.status(), 200);
    let body = body_json(&done);
    assert_eq!(body["connected"], true, "{body}");
    assert_eq!(body["openId"], "open-123", "{body}");
}

#[tokio::test]
async fn login_redirects_to_tiktok_with_every_parameter() {
    let h = Harness::memory(&[("TIKTOK_SCOPES", "user.info.basic,research.data.basic")]).await;
    let url = h.login("user-1", None).await;
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
        disconnect::handler(&h.state, disconnect_request(None)).await,
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
    let s = h.status("user-1").await;
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
    let stored = h.stored("user-1").await;
    assert_eq!(
        stored.tokens.access_expires_at,
        h.now() + 86_400,
        "lifetime from expires_in"
    );
    assert_eq!(stored.tokens.refresh_expires_at, h.now() + 15_552_000);
}

on_each_store!(connect_then_replay_is_refused() =>
    a_user_connects_and_sees_the_connection_memory,
    a_user_connects_and_sees_the_connection_dynamodb);

#[tokio::test]
async fn a_replayed_unknown_missing_or_expired_state_is_refused_and_stores_nothing() {
    let h = Harness::moto(&[]).await;
    h.expect(1, mock_token_exchange("code-1", "first")).await;
    let authorize = h.login("user-1", None).await;
    let state = query_of(&authorize, "state").unwrap();
    let ok = h.callback(&[("code", "code-1"), ("state", &state)]).await;
    assert_eq!(ok.status(), 302);
    h.state.store.delete_connection("user-1").await.unwrap();

    let replay = h.callback(&[("code", "code-1"), ("state", &state)]).await;
    assert_eq!(replay.status(), 400);
    assert_eq!(error_code(&replay), "bad_request");
    let unknown = h
        .callback(&[("code", "code-1"), ("state", "forged-state")])
        .await;
    assert_eq!(unknown.status(), 400);
    let missing = h.callback(&[("code", "code-1")]).await;
    assert_eq!(missing.status(), 400);

    let late = query_of(&h.login("user-1", None).await, "state").unwrap();
    h.advance(601);
    let expired = h.callback(&[("code", "code-1"), ("state", &late)]).await;
    assert_eq!(expired.status(), 400);
    assert!(!h.has_connection("user-1").await);
}

#[tokio::test]
async fn a_denied_authorization_goes_back_to_the_site_with_the_error() {
    let h = Harness::memory(&[]).await;
    let state = query_of(
        &h.login("user-1", Some("https://app.dshipit.com/research"))
            .await,
        "state",
    )
    .unwrap();
    let response = h
        .callback(&[
            ("error", "access_denied"),
            ("error_description", "User denied"),
            ("state", &state),
        ])
        .await;
    assert_eq!(response.status(), 302);
    let back = location(&response);
    assert_eq!(back.path(), "/research");
    assert_eq!(
        query_of(&back, "tiktokError").as_deref(),
        Some("access_denied")
    );
    assert!(!h.has_connection("user-1").await);
    // The state was consumed: it cannot be used afterwards.
    let reuse = h.callback(&[("code", "c"), ("state", &state)]).await;
    assert_eq!(reuse.status(), 400);
}

#[tokio::test]
async fn a_refused_code_exchange_goes_back_with_an_error_and_stores_nothing() {
    let h = Harness::memory(&[]).await;
    h.expect(
        1,
        token_request().respond_with(invalid_grant("Authorization code is expired.")),
    )
    .await;
    let response = h.login_and_return("user-1", "old-code").await;
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
    assert!(!h.has_connection("user-1").await);
}

#[tokio::test]
async fn disconnect_revokes_deletes_and_is_idempotent() {
    let h = Harness::moto(&[]).await;
    h.connect("user-1", "live", 3600).await;
    let revoke = revoke_request()
        .and(body_string_contains("token=act.live"))
        .and(body_string_contains(format!("client_key={CLIENT_KEY}")));
    h.expect(1, revoke.respond_with(json_200(serde_json::json!({}))))
        .await;
    for _ in 0..2 {
        let response = h.disconnect("user-1").await;
        assert_eq!(response.status(), 200);
        assert_eq!(body_json(&response)["connected"], false);
    }
    assert_eq!(h.status("user-1").await["connected"], false);
}

#[tokio::test]
async fn disconnect_still_deletes_when_tiktok_fails_to_revoke() {
    let h = Harness::memory(&[]).await;
    h.connect("user-1", "live", 3600).await;
    revoke_request()
        .respond_with(ResponseTemplate::new(503))
        .mount(&h.tiktok)
        .await;
    assert_eq!(h.disconnect("user-1").await.status(), 200);
    assert!(!h.has_connection("user-1").await);
}

#[tokio::test]
async fn status_reports_a_needed_reconnect() {
    let h = Harness::memory(&[]).await;
    h.connect("user-1", "live", 3600).await;
    let c = h.stored("user-1").await;
    h.state
        .store
        .mark_reconnect_required("user-1", c.version)
        .await
        .unwrap();
    let s = h.status("user-1").await;
    assert_eq!(
        (s["connected"].as_bool(), s["reconnectRequired"].as_bool()),
        (Some(false), Some(true))
    );
    let never = h.status("someone-else").await;
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
    h.expect(1, mock_token_exchange("code-victim", "victim"))
        .await;
    // A starts a login for her own dshipit account and sends the link to B...
    let authorize = h.login("attacker-a", None).await;
    let state = query_of(&authorize, "state").unwrap();
    // ...B approves with B's TikTok account; B's browser comes back.
    let back = h
        .callback(&[("code", "code-victim"), ("state", &state)])
        .await;
    assert_eq!(back.status(), 302);
    let completion = completion_of(&back);
    // The site, signed in as B, completes: refused.
    let refused = h.complete("victim-b", &completion).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(error_code(&refused), "forbidden");
    let text = body_json(&refused).to_string();
    assert!(
        !text.contains("act.victim") && !text.contains("attacker-a"),
        "{text}"
    );
    // The grant is gone: A cannot complete it afterwards (were she to learn the id).
    let late = h.complete("attacker-a", &completion).await;
    assert_eq!(late.status(), 400);
    assert_eq!(error_code(&late), "bad_request");
    for user in ["attacker-a", "victim-b"] {
        assert!(!h.has_connection(user).await, "{user} got a connection");
        assert_eq!(h.status(user).await["connected"], false, "{user}");
    }
}

on_each_store!(another_users_authorization_is_refused_and_stores_nothing() =>
    another_users_authorization_is_refused_and_stores_nothing_memory,
    another_users_authorization_is_refused_and_stores_nothing_dynamodb);

#[tokio::test]
async fn an_unknown_replayed_expired_or_malformed_completion_is_refused() {
    let h = Harness::moto(&[]).await;
    mock_token_exchange("code-1", "first")
        .mount(&h.tiktok)
        .await;
    let completion = completion_of(&h.login_and_return("user-1", "code-1").await);
    assert_eq!(h.complete("user-1", &completion).await.status(), 200);
    h.state.store.delete_connection("user-1").await.unwrap();

    let replay = h.complete("user-1", &completion).await;
    assert_eq!(replay.status(), 400);
    assert_eq!(error_code(&replay), "bad_request");
    let unknown = h
        .complete("user-1", "Zm9yZ2VkLWNvbXBsZXRpb24taWQtdGhhdC1kb2VzLW5vdA")
        .await;
    assert_eq!(unknown.status(), 400);

    let late = completion_of(&h.login_and_return("user-1", "code-1").await);
    h.advance(601);
    assert_eq!(h.complete("user-1", &late).await.status(), 400, "expired");

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
    assert!(!h.has_connection("user-1").await);
}

/// Issue 20 item 5: the completion id goes back in the URL's fragment (never
/// sent to a server, never in a `Referer`), not its query string; it lives
/// about two minutes; a grant discarded because another user completed it is
/// revoked at TikTok.
#[tokio::test]
async fn the_completion_id_travels_in_the_fragment_and_lives_two_minutes() {
    let h = Harness::moto(&[]).await;
    mock_token_exchange("code-1", "first")
        .mount(&h.tiktok)
        .await;
    let back = h.login_and_return("user-1", "code-1").await;
    let site = location(&back);
    assert!(
        site.query_pairs().all(|(k, _)| k != "tiktokCompletion"),
        "the completion id is not in the query string: {site}"
    );
    let fragment = site.fragment().unwrap_or_default().to_owned();
    assert!(fragment.starts_with("tiktokCompletion="), "{site}");

    // Two minutes, not ten: a completion after 121 s is refused.
    let late = completion_of(&h.login_and_return("user-1", "code-1").await);
    h.advance(121);
    assert_eq!(h.complete("user-1", &late).await.status(), 400, "expired");
    assert_eq!(
        h.complete("user-1", &completion_of(&back)).await.status(),
        400
    );
    assert!(!h.has_connection("user-1").await);
}

#[tokio::test]
async fn a_grant_discarded_for_another_user_is_revoked_at_tiktok() {
    let h = Harness::moto(&[]).await;
    h.expect(1, mock_token_exchange("code-victim", "victim"))
        .await;
    h.expect(
        1,
        revoke_request()
            .and(body_string_contains("token=act.victim"))
            .respond_with(json_200(serde_json::json!({}))),
    )
    .await;
    let authorize = h.login("attacker-a", None).await;
    let state = query_of(&authorize, "state").unwrap();
    let back = h
        .callback(&[("code", "code-victim"), ("state", &state)])
        .await;
    let refused = h.complete("victim-b", &completion_of(&back)).await;
    assert_eq!(refused.status(), 403);
    // The mock's expectation (one revoke of the victim's token) is checked
    // when the harness's TikTok stops.
    h.tiktok.verify().await;
}
