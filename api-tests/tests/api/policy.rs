//! The refresh policy against moto: an active user's token is refreshed ahead of
//! time, an idle one's is left to their next request, a refresh token nobody
//! needs goes dormant (and the status says so), one used within the keep-alive
//! window is kept alive; a data request records the use at most once a day and
//! the warm path stays one read.

use tiktok_gateway::{ConnectionStatus, RefreshToken, Tokens};
use wiremock::ResponseTemplate;

use crate::harness::*;

const DAY: i64 = 86_400;

fn tokens_expiring(tag: &str, now: i64, access_in: i64, refresh_in: i64) -> Tokens {
    let mut t = tokens(tag, now, access_in);
    t.refresh_expires_at = now + refresh_in;
    t.refresh_token = RefreshToken::new(format!("rft.{tag}"));
    t
}

async fn store(h: &Harness, user: &str, t: Tokens) {
    h.state.store.put_connection(user, &t).await.unwrap();
}

async fn shop_lookup(h: &Harness, user: &str) -> lambda_http::Response<lambda_http::Body> {
    h.shops(user, "sunny").await
}

async fn shops_answer(h: &Harness) {
    research_request("shop")
        .respond_with(research_ok(sunny_home()))
        .mount(&h.tiktok)
        .await;
}

/// TikTok refreshes `rft.<old>` into `new` (access token for `expires_in`), once.
async fn refreshes_once(h: &Harness, old: &str, new: &str, expires_in: i64) {
    h.expect(
        1,
        refresh_request(old).respond_with(token_response(new, expires_in)),
    )
    .await;
}

/// A refresh of `rft.<tag>` would fail, and is not expected at all.
async fn never_refreshed(h: &Harness, tag: &str) {
    let refresh = refresh_request(tag).respond_with(ResponseTemplate::new(500));
    h.expect(0, refresh.named(tag)).await;
}

#[tokio::test]
async fn active_idle_kept_alive_and_dormant_connections_are_each_handled_as_stated() {
    let h = Harness::moto(&[
        ("REFRESH_ACTIVE_DAYS", "7"),
        ("KEEP_ALIVE_ACTIVE_DAYS", "30"),
        ("REFRESH_WINDOW_DAYS", "7"),
        ("REFRESH_LOOKBACK_SECS", "3600"),
    ])
    .await;
    shops_answer(&h).await;
    let t0 = h.now();
    // Connected 50 days ago, all of them (connecting counts as a use).
    store(&h, "active", tokens_expiring("active", t0, 600, 365 * DAY)).await;
    // Its access token expires ten minutes before "now": found due, but idle.
    store(
        &h,
        "idle",
        tokens_expiring("idle", t0, 50 * DAY - 600, 365 * DAY),
    )
    .await;
    // Its refresh token expires in 3 days and nobody came back.
    store(&h, "dormant", tokens_expiring("dormant", t0, 600, 53 * DAY)).await;
    h.advance(35 * DAY);
    // Used 15 days before "now": not active, but within the keep-alive window.
    store(
        &h,
        "kept-alive",
        tokens_expiring("kept", h.now(), 30 * DAY, 18 * DAY),
    )
    .await;
    h.advance(15 * DAY);

    // The active user comes back: their expired token is refreshed by the
    // request, and the use is recorded.
    refreshes_once(&h, "active", "bravo", 600).await;
    assert_eq!(shop_lookup(&h, "active").await.status(), 200);
    assert_eq!(h.stored("active").await.last_used_at, h.now());

    refreshes_once(&h, "bravo", "charlie", 7200).await;
    refreshes_once(&h, "kept", "kept2", 7 * DAY).await;
    for untouched in ["idle", "dormant"] {
        never_refreshed(&h, untouched).await;
    }
    let summary = h.run_refresher().await;
    assert_eq!(
        (
            summary.due,
            summary.refreshed,
            summary.idle,
            summary.dormant,
            summary.failed,
            summary.reconnect_required
        ),
        (4, 2, 1, 1, 0, 0),
        "{summary:?}"
    );
    assert_eq!(
        summary.oldest_due_age_secs, 0,
        "the idle token expired 10 min ago, but idle is not late; the refreshed ones were not overdue"
    );
    let line: serde_json::Value =
        serde_json::from_str(&summary.emf_line(token_refresher::METRICS_FUNCTION, 1)).unwrap();
    assert_eq!(
        (
            &line["Due"],
            &line["Refreshed"],
            &line["Dormant"],
            &line["Function"]
        ),
        (
            &serde_json::json!(4),
            &serde_json::json!(2),
            &serde_json::json!(1),
            &serde_json::json!("token-refresher")
        )
    );

    let get = |user| h.stored(user);
    assert_eq!(
        get("active").await.tokens.refresh_token.expose(),
        "rft.charlie"
    );
    assert_eq!(
        get("kept-alive").await.tokens.refresh_token.expose(),
        "rft.kept2"
    );
    let idle = get("idle").await;
    assert_eq!((idle.status, idle.version), (ConnectionStatus::Active, 1));
    assert_eq!(get("dormant").await.status, ConnectionStatus::Dormant);

    // Status: dormant but still usable for three days, then a reconnect.
    let s = h.status("dormant").await;
    assert_eq!(
        (&s["dormant"], &s["connected"]),
        (&true.into(), &true.into())
    );
    assert_eq!(h.status("active").await["dormant"], false);
    // A second run leaves the dormant one alone (it left the due indexes).
    let again = h.run_refresher().await;
    assert_eq!((again.dormant, again.refreshed), (0, 0), "{again:?}");
    h.advance(4 * DAY);
    let s = h.status("dormant").await;
    assert_eq!(
        (&s["dormant"], &s["connected"], &s["reconnectRequired"]),
        (&true.into(), &false.into(), &true.into())
    );
    let response = shop_lookup(&h, "dormant").await;
    assert_eq!(response.status(), 409);
    assert_eq!(error_code(&response), "reconnect_required");

    // The idle user comes back: their request refreshes on demand.
    h.tiktok.verify().await;
    h.tiktok.reset().await;
    shops_answer(&h).await;
    refresh_request("idle")
        .respond_with(token_response("idle2", 7200))
        .mount(&h.tiktok)
        .await;
    assert_eq!(shop_lookup(&h, "idle").await.status(), 200);
    assert_eq!(get("idle").await.last_used_at, h.now());
}

#[tokio::test]
async fn oldest_due_age_counts_only_connections_the_policy_refreshes() {
    let h = Harness::moto(&[
        ("REFRESH_ACTIVE_DAYS", "7"),
        ("REFRESH_LOOKBACK_SECS", "3600"),
    ])
    .await;
    let t0 = h.now();
    // Idle: connected 8 days ago, its access token expired 50 minutes ago
    // (inside the lookback, so the index finds it).
    store(
        &h,
        "idle",
        tokens_expiring("idle", t0, 8 * DAY - 3_000, 365 * DAY),
    )
    .await;
    // Connected three days ago and never checked in again: active.
    h.advance(5 * DAY);
    store(
        &h,
        "late",
        tokens_expiring("late", h.now(), 3 * DAY - 300, 365 * DAY),
    )
    .await;
    h.advance(3 * DAY);
    refreshes_once(&h, "late", "late2", 7_200).await;
    never_refreshed(&h, "idle").await;

    let summary = h.run_refresher().await;
    assert_eq!(
        (summary.due, summary.refreshed, summary.idle),
        (2, 1, 1),
        "{summary:?}"
    );
    assert_eq!(
        summary.oldest_due_age_secs, 300,
        "the active user's token, 5 min late; not the idle one's 50 min"
    );

    // Idle users only: the metric stays at 0 however long ago their tokens
    // expired (the alarm on it must not fire for them).
    h.advance(600);
    let idle_only = h.run_refresher().await;
    assert_eq!(
        (
            idle_only.idle,
            idle_only.refreshed,
            idle_only.oldest_due_age_secs
        ),
        (1, 0, 0),
        "{idle_only:?}"
    );
}

#[tokio::test]
async fn a_dormant_user_who_returns_in_time_is_active_again() {
    let h = Harness::moto(&[
        ("REFRESH_ACTIVE_DAYS", "7"),
        ("KEEP_ALIVE_ACTIVE_DAYS", "30"),
    ])
    .await;
    shops_answer(&h).await;
    store(&h, "u1", tokens_expiring("u1", h.now(), 40 * DAY, 43 * DAY)).await;
    h.advance(40 * DAY - 600);
    never_refreshed(&h, "u1").await;
    let summary = h.run_refresher().await;
    assert_eq!(summary.dormant, 1, "{summary:?}");
    assert_eq!(h.status("u1").await["dormant"], true);

    assert_eq!(shop_lookup(&h, "u1").await.status(), 200);
    let s = h.status("u1").await;
    assert_eq!(
        (&s["dormant"], &s["connected"]),
        (&false.into(), &true.into())
    );
    let back = h.stored("u1").await;
    assert_eq!(back.status, ConnectionStatus::Active);
    assert_eq!(back.last_used_at, h.now());
}

#[tokio::test]
async fn the_use_is_written_once_a_day_and_the_warm_path_stays_one_read() {
    let recorder = test_support::Recorder::start(&test_support::moto_endpoint()).await;
    let h = Harness::moto_through(&test_support::aws_config_for(&recorder.endpoint), &[]).await;
    shops_answer(&h).await;
    h.connect("u1", "u1", 30 * DAY).await;
    // The next day, first request: one read, one conditional write.
    h.advance(DAY);
    assert_eq!(shop_lookup(&h, "u1").await.status(), 200);
    recorder.take();
    let first = h.stored("u1").await;
    assert_eq!(first.last_used_at, h.now());
    recorder.take();
    // Later the same day: the warm path, one read of the connection; the only
    // writes are the daily counters, the user's and the app's (one each per
    // upstream call).
    h.advance(3_600);
    assert_eq!(shop_lookup(&h, "u1").await.status(), 200);
    assert_eq!(
        recorder.take(),
        [
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:UpdateItem"
        ]
    );
    let later = h.stored("u1").await;
    assert_eq!(later.last_used_at, first.last_used_at, "once a day");
    assert_eq!(later.version, first.version, "a use is not a new version");
    // The day after: written again.
    h.advance(DAY);
    recorder.take();
    assert_eq!(shop_lookup(&h, "u1").await.status(), 200);
    let calls = recorder.take();
    assert_eq!(
        calls,
        [
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:UpdateItem",
            "dynamodb:UpdateItem"
        ],
        "the read, the day's use, the user's budget, the app's quota"
    );
}
