//! Findings of the outside review (issue 11, section 2), each as the site or an
//! operator would observe it.

use std::collections::BTreeMap;

use wiremock::ResponseTemplate;

use crate::harness::*;
use crate::template::template;

fn scope_refusal(code: &str) -> ResponseTemplate {
    research_error(
        401,
        code,
        "The user did not authorize the scope required for completing this request.",
    )
}

/// TikTok refuses research calls made with a Login Kit user token
/// (`scope_not_authorized`, 401): the site gets 403 `missing_scope` naming the
/// scope, not a generic 502, and the connection is left alone.
#[tokio::test]
async fn a_scope_refusal_is_a_403_naming_the_scope() {
    for code in ["scope_not_authorized", "scope_permission_missed"] {
        let h = Harness::memory(&[("DATA_TOKEN_MODE", "user")]).await;
        h.connect("user-1", "live", 3600).await;
        research_request("shop")
            .respond_with(scope_refusal(code))
            .mount(&h.tiktok)
            .await;
        let response = h.shops("user-1", "x").await;
        assert_eq!(response.status(), 403, "{code}");
        assert_eq!(error_code(&response), "missing_scope", "{code}");
        let message = body_json(&response)["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains("research.data.basic"), "{message}");
        let stored = h.stored("user-1").await;
        assert_eq!(stored.tokens.access_token.expose(), "act.live");
    }
}

/// A `sub` with surrounding whitespace is another string than the user's id:
/// refused, never trimmed into someone else's key.
#[tokio::test]
async fn a_sub_with_surrounding_whitespace_is_refused() {
    let h = Harness::memory(&[]).await;
    h.connect("user-1", "live", 3600).await;
    for sub in [" user-1", "user-1 ", "\tuser-1", "user-1\n", " "] {
        let status =
            connection_status::handler(&h.state, get("/auth/tiktok/status", &[], Some(sub)))
                .await
                .unwrap();
        assert_eq!(status.status(), 401, "{sub:?}");
        assert_eq!(error_code(&status), "unauthorized");
        assert_eq!(h.disconnect(sub).await.status(), 401, "{sub:?}");
    }
    assert!(h.has_connection("user-1").await);
}

/// One user cannot spend the app's daily upstream quota: past the per-user
/// budget the site gets 429 with `Retry-After` (until the next UTC day) and
/// TikTok is not called; another user is still served. Concurrent requests
/// cannot overspend (atomic counter).
async fn the_daily_budget_stops_one_user_not_the_others(h: Harness) {
    friendly_tiktok(&h, 1_729_000_000_000_000_001).await;
    h.connect("heavy", "heavy", 3600).await;
    h.connect("light", "light", 3600).await;
    let lookup = |user: &'static str| h.shops(user, "beauty");
    let answers = futures::future::join_all((0..8).map(|_| lookup("heavy"))).await;
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for answer in &answers {
        *statuses.entry(answer.status().as_u16()).or_default() += 1;
        if answer.status() == 429 {
            assert_eq!(error_code(answer), "rate_limited");
            let after: u64 = answer.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            // START is 1_800_000_000: 2027-01-15 08:00:00 UTC; the day ends in 16 h.
            assert_eq!(after, 16 * 3600, "until the next UTC day");
        }
    }
    assert_eq!(statuses, BTreeMap::from([(200, 3), (429, 5)]));
    let shop_calls = h
        .tiktok
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/v2/research/tts/shop/")
        .count();
    assert_eq!(shop_calls, 3, "TikTok is not called past the budget");
    assert_eq!(lookup("light").await.status(), 200);
    // The next UTC day the budget is back.
    h.advance(16 * 3600);
    assert_eq!(lookup("heavy").await.status(), 200);
}

on_each_store!(the_daily_budget_stops_one_user_not_the_others(("USER_DAILY_UPSTREAM_CALLS", "3")) =>
    the_daily_budget_stops_one_user_not_the_others_memory,
    the_daily_budget_stops_one_user_not_the_others_dynamodb);

/// Issue 20 item 6: the app's daily upstream quota is shared by everyone, so
/// an app-wide counter stops all users once it is spent (429, `Retry-After`
/// until the next UTC day, TikTok not called), whatever each user has left.
async fn the_apps_daily_quota_holds_across_users(h: Harness) {
    friendly_tiktok(&h, 1_729_000_000_000_000_001).await;
    for user in ["a", "b", "c"] {
        h.connect(user, user, 3600).await;
    }
    for user in ["a", "a", "b", "c"] {
        assert_eq!(h.shops(user, "beauty").await.status(), 200, "{user}");
    }
    for user in ["b", "c"] {
        let refused = h.shops(user, "beauty").await;
        assert_eq!(refused.status(), 429, "{user}");
        assert_eq!(error_code(&refused), "rate_limited");
        let message = body_json(&refused)["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains("app"), "{message}");
        assert_eq!(
            refused.headers()["retry-after"],
            (16 * 3600).to_string().as_str()
        );
    }
    let shop_calls = h
        .tiktok
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/v2/research/tts/shop/")
        .count();
    assert_eq!(shop_calls, 4, "TikTok is not called past the app's quota");
    h.advance(16 * 3600);
    assert_eq!(
        h.shops("b", "beauty").await.status(),
        200,
        "back the next UTC day"
    );
}

on_each_store!(the_apps_daily_quota_holds_across_users(
        ("APP_DAILY_UPSTREAM_CALLS", "4"), ("USER_DAILY_UPSTREAM_CALLS", "3")) =>
    the_apps_daily_quota_holds_across_users_memory,
    the_apps_daily_quota_holds_across_users_dynamodb);

/// Issue 21: a search reserves its page budget (5 calls) against both daily
/// counts when it starts, in one write each beside the connection read, and
/// gives back what it did not use when it ends: a search that read one page
/// leaves exactly five of six calls, for the user and for the app.
async fn a_search_gives_back_the_calls_it_did_not_make(h: Harness) {
    friendly_tiktok(&h, 1_729_000_000_000_000_001).await;
    h.connect("user-1", "one", 3600).await;
    h.connect("user-2", "two", 3600).await;
    let search = h
        .search("user-1", &[("shopId", SHOP), ("query", "lipstick")])
        .await;
    assert_eq!(search.status(), 200, "{}", body_json(&search));
    for n in 0..5 {
        let shops = h.shops("user-1", "beauty").await;
        assert_eq!(shops.status(), 200, "lookup {n}: {}", body_json(&shops));
    }
    let spent = h.shops("user-1", "beauty").await;
    assert_eq!(spent.status(), 429);
    let message = body_json(&spent)["error"]["message"].to_string();
    assert!(
        !message.contains("app"),
        "the user's budget, not the app's: {message}"
    );
    // The app's quota of six is spent too: nothing reserved was kept.
    let app = h.shops("user-2", "beauty").await;
    assert_eq!(app.status(), 429);
    let message = body_json(&app)["error"]["message"].to_string();
    assert!(message.contains("app"), "{message}");
    let calls = h.tiktok.received_requests().await.unwrap();
    let made = |what: &str| {
        let wanted = format!("/v2/research/tts/{what}/");
        calls.iter().filter(|r| r.url.path() == wanted).count()
    };
    assert_eq!((made("product"), made("shop")), (1, 5));
}

on_each_store!(a_search_gives_back_the_calls_it_did_not_make(
        ("USER_DAILY_UPSTREAM_CALLS", "6"), ("APP_DAILY_UPSTREAM_CALLS", "6")) =>
    a_search_gives_back_the_calls_it_did_not_make_memory,
    a_search_gives_back_the_calls_it_did_not_make_dynamodb);

/// Issue 21: with fewer calls left than a search's page budget, the search
/// still runs on what is left (it reserves one call, then counts each page),
/// and stops with 429 once the last one is spent.
async fn a_search_runs_on_the_last_calls_of_the_day(h: Harness) {
    friendly_tiktok(&h, 1_729_000_000_000_000_001).await;
    h.connect("user-1", "one", 3600).await;
    assert_eq!(h.shops("user-1", "beauty").await.status(), 200);
    for n in 0..2 {
        let search = h
            .search("user-1", &[("shopId", SHOP), ("query", "lipstick")])
            .await;
        assert_eq!(search.status(), 200, "search {n}: {}", body_json(&search));
    }
    let spent = h
        .search("user-1", &[("shopId", SHOP), ("query", "lipstick")])
        .await;
    assert_eq!(spent.status(), 429);
    assert_eq!(error_code(&spent), "rate_limited");
}

on_each_store!(a_search_runs_on_the_last_calls_of_the_day(("USER_DAILY_UPSTREAM_CALLS", "3")) =>
    a_search_runs_on_the_last_calls_of_the_day_memory,
    a_search_runs_on_the_last_calls_of_the_day_dynamodb);

/// Issue 20 item 6: every upstream attempt is counted, the retry after a
/// refresh included; and the per-user default is well below the app's.
#[tokio::test]
async fn every_upstream_attempt_is_counted_and_the_user_default_is_below_the_apps() {
    let h = Harness::memory(&[("USER_DAILY_UPSTREAM_CALLS", "2")]).await;
    h.connect("user-1", "old", 3600).await;
    let shops = || research_request("shop");
    h.expect(
        1,
        shops().and(bearer("act.old")).respond_with(research_error(
            401,
            "access_token_invalid",
            "expired",
        )),
    )
    .await;
    h.expect(1, token_request().respond_with(token_response("new", 7200)))
        .await;
    h.expect(
        1,
        shops()
            .and(bearer("act.new"))
            .respond_with(research_ok(sunny_home())),
    )
    .await;
    assert_eq!(h.shops("user-1", "sunny").await.status(), 200);
    // Two attempts were made: the budget of two is spent.
    let next = h.shops("user-1", "sunny").await;
    assert_eq!(next.status(), 429, "{}", body_json(&next));

    let defaults = Harness::memory(&[]).await;
    let config = &defaults.state.config;
    assert!(
        config.user_daily_upstream_calls * 4 <= 1_000,
        "one user's default budget is a small share of the app's quota: {}",
        config.user_daily_upstream_calls
    );
}

/// The token key a connection was sealed under was removed from the secret
/// (a rotation finished too early): the connection reads as needing a
/// reconnect; status and disconnect keep working; data routes answer 409.
#[tokio::test]
async fn a_connection_sealed_under_a_removed_key_asks_for_a_reconnect() {
    let mut h = Harness::moto(&[]).await;
    h.connect("user-1", "old-key", 3600).await;
    // The secret now holds only a new key.
    let aws = test_support::moto_config();
    aws_sdk_secretsmanager::Client::new(&aws)
        .put_secret_value()
        .secret_id(&h.state.config.secret_id)
        .secret_string(test_support::secret_json_with_key(
            CLIENT_KEY,
            CLIENT_SECRET,
            "k2",
        ))
        .send()
        .await
        .unwrap();
    // A container started after the rotation.
    let state =
        tiktok_gateway::boot::from_aws_at((*h.state.config).clone(), &aws, h.state.clock().clone())
            .unwrap();
    h.state = state;

    let body = h.status("user-1").await;
    assert_eq!(
        (
            body["connected"].as_bool(),
            body["reconnectRequired"].as_bool()
        ),
        (Some(false), Some(true)),
        "{body}"
    );
    let search = h.search("user-1", &[("shopId", SHOP)]).await;
    assert_eq!(search.status(), 409);
    assert_eq!(error_code(&search), "reconnect_required");
    assert_eq!(h.disconnect("user-1").await.status(), 200);
    assert!(!h.has_connection("user-1").await);
}

/// API Gateway throttles the stage (template parameters with sane defaults),
/// and the per-user daily budget is a parameter too.
#[test]
fn the_stage_is_throttled_and_the_user_budget_configurable() {
    let t = template();
    let rate = &t["Parameters"]["ApiThrottleRatePerSecond"];
    let burst = &t["Parameters"]["ApiThrottleBurst"];
    let rate_default = rate["Default"].as_u64().expect("a numeric default rate");
    let burst_default = burst["Default"].as_u64().expect("a numeric default burst");
    assert!((1..=1000).contains(&rate_default), "{rate_default}");
    assert!(burst_default >= rate_default && burst_default <= 5000);
    let settings = &t["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"];
    let text = serde_yaml::to_string(settings).unwrap();
    assert!(
        text.contains("ThrottlingRateLimit") && text.contains("ApiThrottleRatePerSecond"),
        "{text}"
    );
    assert!(
        text.contains("ThrottlingBurstLimit") && text.contains("ApiThrottleBurst"),
        "{text}"
    );
    let env = serde_yaml::to_string(&t["Globals"]["Function"]["Environment"]["Variables"]).unwrap();
    assert!(env.contains("USER_DAILY_UPSTREAM_CALLS"), "{env}");
    assert!(t["Parameters"]["UserDailyUpstreamCalls"]["Default"]
        .as_u64()
        .is_some());
}

/// PKCE is a template parameter, wired to the functions, off by default.
#[test]
fn pkce_is_switchable_from_the_template() {
    let t = template();
    let pkce = &t["Parameters"]["TikTokPkce"];
    assert_eq!(pkce["Default"].as_str(), Some("false"));
    assert_eq!(
        serde_yaml::to_string(&pkce["AllowedValues"])
            .unwrap()
            .trim(),
        "- 'true'\n- 'false'"
    );
    let env = serde_yaml::to_string(&t["Globals"]["Function"]["Environment"]["Variables"]).unwrap();
    assert!(env.contains("TIKTOK_PKCE"), "{env}");
}

/// The template leaves the token mode to each provider's documented default
/// (the app's token for the Research API: `config::tests`), and asks for https
/// TikTok URLs.
#[test]
fn the_template_defaults_to_the_apps_token_and_https_tiktok_urls() {
    let t = template();
    assert_eq!(
        t["Parameters"]["DataTokenMode"]["Default"].as_str(),
        Some("")
    );
    for name in [
        "TikTokAuthorizeUrl",
        "TikTokTokenUrl",
        "TikTokRevokeUrl",
        "TikTokApiBaseUrl",
        "TikTokShopAuthorizeUrl",
        "TikTokShopTokenUrl",
        "TikTokShopRefreshUrl",
        "TikTokShopApiBaseUrl",
    ] {
        assert_eq!(
            t["Parameters"][name]["AllowedPattern"].as_str(),
            Some("^https://.+"),
            "{name}"
        );
    }
}
