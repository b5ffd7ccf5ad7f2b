//! Secrets never reach the logs. Every function's flow runs with the production
//! log format at the most verbose level (`RUST_LOG=trace`), against moto and a
//! TikTok that issues a fresh random token on every call, through failures
//! that carry tokens in their bodies; then the captured logs are searched for
//! every secret value that passed by: the client secret, the token key, every
//! access and refresh token, the codes, the state values and the PKCE verifier.

#[path = "common/capture.rs"]
mod capture;
#[path = "api/harness.rs"]
#[allow(dead_code, unused_imports, unused_macros)]
mod harness;

use std::sync::{Arc, Mutex};

use capture::{capture_logs_at_trace_level, random};
use harness::*;
use wiremock::matchers::body_string_contains;
use wiremock::ResponseTemplate;

#[tokio::test]
async fn no_secret_appears_in_the_logs_at_trace_level() {
    let captured = capture_logs_at_trace_level();

    let h = Harness::moto(&[("TIKTOK_PKCE", "true")]).await;
    let mut secrets: Vec<String> = vec![CLIENT_SECRET.to_owned()];
    let stored = aws_sdk_secretsmanager::Client::new(&test_support::moto_config())
        .get_secret_value()
        .secret_id(&h.state.config.secret_id)
        .send()
        .await
        .unwrap();
    let secret: serde_json::Value = serde_json::from_str(stored.secret_string().unwrap()).unwrap();
    secrets.push(secret["token_keys"]["k1"].as_str().unwrap().to_owned());

    // A TikTok that mints new tokens on every token call, lasting 30 s.
    let issued = Arc::new(Mutex::new(Vec::<String>::new()));
    let minted = issued.clone();
    token_request()
        .and(body_string_contains("grant_type"))
        .respond_with(move |_: &wiremock::Request| {
            let tag = random();
            minted
                .lock()
                .unwrap()
                .extend([format!("act.{tag}"), format!("rft.{tag}")]);
            token_response(&tag, 30)
        })
        .mount(&h.tiktok)
        .await;
    friendly_tiktok(&h, 1_729_000_000_000_000_001).await;

    // Connect: login (state, PKCE verifier), callback (code).
    let state = query_of(&h.login("u1", None).await, "state").unwrap();
    let code = format!("code-{}", random());
    secrets.extend([state.clone(), code.clone()]);
    let query = [
        ("code", code.as_str()),
        ("scopes", "user.info.basic"),
        ("state", state.as_str()),
    ];
    let completion = completion_of(&h.callback(&query).await);
    secrets.push(completion.clone());
    assert_eq!(h.complete("u1", &completion).await.status(), 200);
    // A replay of the same callback (refused) and a denied one.
    assert_eq!(h.callback(&query).await.status(), 400);

    // Data calls, each after the token expired: refresh, then the call.
    for _ in 0..2 {
        h.advance(60);
        let q = [("shopId", SHOP), ("query", "lipstick")];
        assert_eq!(h.search("u1", &q).await.status(), 200);
    }
    assert_eq!(h.shops("u1", "x").await.status(), 200);
    h.status("u1").await;

    // The refresher, then a token endpoint that fails with tokens in its body.
    h.advance(60);
    h.run_refresher().await;
    let leaked = format!("act.{}", random());
    secrets.push(leaked.clone());
    token_request()
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            r#"{{"access_token":"{leaked}","refresh_token":"rft.{leaked}","expires_in":"#
        )))
        .with_priority(1)
        .mount(&h.tiktok)
        .await;
    h.advance(60);
    let failed = h.search("u1", &[("shopId", SHOP)]).await;
    assert_eq!(
        failed.status(),
        502,
        "a token endpoint answering garbage is an upstream error"
    );

    assert_eq!(h.disconnect("u1").await.status(), 200);

    // The Partner API (TIKTOK_PROVIDER=shop) on the emulator: its token calls
    // carry the app secret in the URL; signed calls carry the seller's token.
    secrets.push(APP_SECRET.to_owned());
    let callback = "https://api.dshipit.com/auth/tiktok/callback";
    let (shop, tiktok) = shop_stack(callback).await;
    let login = login_redirect::handler(&shop, get("/auth/tiktok/login", &[], Some("s1")))
        .await
        .unwrap();
    let state = query_of(&location(&login), "state").unwrap();
    let code = tiktok.emulator.partner().issue_code();
    secrets.extend([state.clone(), code.clone()]);
    let query = [("code", code.as_str()), ("state", state.as_str())];
    let back = oauth_callback::handler(&shop, callback_request(&query))
        .await
        .unwrap();
    let completion = completion_of(&back);
    secrets.push(completion.clone());
    let done = oauth_complete::handler(&shop, complete_request(Some("s1"), &completion))
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let first = shop.store.get_connection("s1").await.unwrap().unwrap();
    secrets.extend([
        first.tokens.access_token.expose().to_owned(),
        first.tokens.refresh_token.expose().to_owned(),
    ]);
    // A search, then one after TikTok expired the token (105002: refresh, retry).
    let big = tiktok_emulator::partner::SHOPS[4].id;
    for expire in [false, true] {
        if expire {
            tiktok.emulator.partner().expire_access_tokens();
        }
        let q = [("shopId", big), ("query", "lamp")];
        let found = search::handler(&shop, get("/api/tiktok/search", &q, Some("s1")))
            .await
            .unwrap();
        assert_eq!(found.status(), 200);
    }
    let second = shop.store.get_connection("s1").await.unwrap().unwrap();
    assert_ne!(second.tokens.refresh_token, first.tokens.refresh_token);
    secrets.extend([
        second.tokens.access_token.expose().to_owned(),
        second.tokens.refresh_token.expose().to_owned(),
    ]);
    // The used code again: refused (36004004), logged, and still no secret.
    let login = login_redirect::handler(&shop, get("/auth/tiktok/login", &[], Some("s2")))
        .await
        .unwrap();
    let state = query_of(&location(&login), "state").unwrap();
    let query = [("code", code.as_str()), ("state", state.as_str())];
    let refused = oauth_callback::handler(&shop, callback_request(&query))
        .await
        .unwrap();
    assert!(query_of(&location(&refused), "tiktokError").is_some());

    secrets.extend(issued.lock().unwrap().iter().cloned());
    let logs = captured.text();
    assert!(
        logs.lines().count() > 10,
        "the flow logged something: {logs}"
    );
    assert!(
        issued.lock().unwrap().len() >= 6,
        "tokens were minted and rotated"
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret ({} chars) is in the logs:\n{logs}",
            secret.len()
        );
    }
    // The PKCE verifier is never sent in the clear before the callback; its
    // challenge is in the authorize URL. It is in the token request: check the
    // logs carry no `code_verifier=` value either.
    assert!(!logs.contains("code_verifier="), "{logs}");
}
