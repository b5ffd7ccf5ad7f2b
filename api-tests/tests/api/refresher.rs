//! The scheduled refresher: due connections refreshed, others untouched,
//! refused ones marked, and a summary.

use std::future::Future;
use std::time::Duration;

use tiktok_gateway::{Connection, ConnectionStatus, Refresh};

use crate::harness::*;

/// `user-1` connected with `rft.old` and an access token about to expire: the
/// connection as a request read it.
async fn stale_connection(h: &Harness) -> Connection {
    h.connect("user-1", "old", 60).await;
    h.stored("user-1").await
}

/// TikTok refusing every refresh token (another container used ours).
async fn refresh_refused(h: &Harness) {
    token_request()
        .respond_with(invalid_grant("used"))
        .mount(&h.tiktok)
        .await;
}

/// Our refresh of `stale` while `sibling` (another container) runs alongside.
async fn refresh_racing(
    h: &Harness,
    stale: &Connection,
    sibling: impl Future<Output = ()> + Send + 'static,
) -> Refresh {
    let sibling = tokio::spawn(sibling);
    let outcome = h
        .state
        .tokens
        .refresh_connection(stale, deadline_in(5))
        .await
        .unwrap();
    sibling.await.unwrap();
    outcome
}

/// `user-1` is still connected, holding `rft.<tag>`.
async fn assert_active_holding(h: &Harness, tag: &str) {
    let stored = h.stored("user-1").await;
    assert_eq!(stored.status, ConnectionStatus::Active);
    assert_eq!(stored.tokens.refresh_token.expose(), format!("rft.{tag}"));
}

#[tokio::test]
async fn the_refresher_refreshes_what_is_due_and_marks_what_tiktok_refuses() {
    let h = Harness::moto(&[("REFRESH_AHEAD_SECS", "1200")]).await;
    h.connect("due", "due", 600).await;
    h.connect("fresh", "fresh", 7200).await;
    h.connect("revoked", "revoked", 60).await;
    h.expect(
        1,
        refresh_request("due").respond_with(token_response("due2", 7200)),
    )
    .await;
    h.expect(
        1,
        refresh_request("revoked").respond_with(invalid_grant("revoked")),
    )
    .await;
    let summary = h.run_refresher().await;
    assert_eq!(
        (
            summary.due,
            summary.refreshed,
            summary.reconnect_required,
            summary.failed
        ),
        (2, 1, 1, 0)
    );
    let due = h.stored("due").await;
    assert_eq!(due.tokens.refresh_token.expose(), "rft.due2");
    assert_eq!(h.stored("fresh").await.version, 1, "not due, not touched");
    assert_eq!(
        h.stored("revoked").await.status,
        ConnectionStatus::ReconnectRequired
    );
    // A second run finds nothing due.
    assert_eq!(h.run_refresher().await.due, 0);
}

#[tokio::test]
async fn a_refresher_past_its_deadline_leaves_the_work_for_the_next_run() {
    let h = Harness::memory(&[]).await;
    h.connect("due", "due", 60).await;
    let summary = token_refresher::run(&h.state, tokio::time::Instant::now())
        .await
        .unwrap();
    assert_eq!(
        (summary.due, summary.left_for_next_run, summary.refreshed),
        (1, 1, 0)
    );
    let still = h.stored("due").await;
    assert_eq!(still.version, 1, "nothing lost, still due next run");
    assert!(h.tiktok.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_lost_race_is_not_a_reconnect() {
    // Another container rotated the token first: TikTok refuses our old refresh
    // token, the re-read shows the newer version, and the user stays connected.
    let h = Harness::memory(&[]).await;
    let stale = stale_connection(&h).await;
    h.state
        .store
        .update_tokens("user-1", stale.version, &tokens("sibling", h.now(), 7200))
        .await
        .unwrap();
    refresh_refused(&h).await;
    let outcome = h
        .state
        .tokens
        .refresh_connection(&stale, deadline_in(5))
        .await
        .unwrap();
    assert!(
        matches!(outcome, Refresh::LostRace(ref c) if c.tokens.refresh_token.expose() == "rft.sibling"),
        "{outcome:?}"
    );
    assert_active_holding(&h, "sibling").await;
}

#[tokio::test]
async fn a_refused_token_waits_for_a_racing_siblings_write_before_asking_for_a_reconnect() {
    // Both hold rft.old. The sibling's refresh wins at TikTok, ours is refused,
    // and the sibling's write lands 100 ms later: we wait for it and use it.
    let h = Harness::memory(&[]).await;
    let stale = stale_connection(&h).await;
    refresh_refused(&h).await;
    let store = h.state.store.clone();
    let sibling_tokens = tokens("sibling", h.now(), 7200);
    let sibling = async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        store
            .update_tokens("user-1", 1, &sibling_tokens)
            .await
            .unwrap();
    };

    let outcome = refresh_racing(&h, &stale, sibling).await;

    assert!(matches!(outcome, Refresh::LostRace(_)), "{outcome:?}");
    assert_active_holding(&h, "sibling").await;
}

#[tokio::test]
async fn a_rotation_is_stored_over_a_siblings_premature_reconnect_mark() {
    // We rotate rft.old at TikTok; a sibling racing with rft.old was refused and
    // (past its grace) marked the connection before our write landed. Our tokens
    // are the newest: they replace the mark, and the user stays connected.
    let h = Harness::memory(&[]).await;
    let stale = stale_connection(&h).await;
    token_request()
        .respond_with(token_response("ours", 7200).set_delay(Duration::from_millis(200)))
        .mount(&h.tiktok)
        .await;
    let store = h.state.store.clone();
    let sibling = async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        store.mark_reconnect_required("user-1", 1).await.unwrap();
    };

    let outcome = refresh_racing(&h, &stale, sibling).await;

    assert!(matches!(outcome, Refresh::Refreshed(_)), "{outcome:?}");
    assert_active_holding(&h, "ours").await;
}

#[tokio::test]
async fn one_failing_shard_does_not_stop_the_others_and_is_reported() {
    let recorder = test_support::Recorder::start(&test_support::moto_endpoint()).await;
    let h = Harness::moto_through(
        &test_support::aws_config_for(&recorder.endpoint),
        &[("DUE_INDEX_SHARDS", "4")],
    )
    .await;
    friendly_tiktok(&h, 1).await;
    // Two due users in every shard.
    let mut users: Vec<(String, u32)> = Vec::new();
    for i in 0.. {
        let user = format!("user-{i}");
        let shard = tiktok_gateway::store::shard_of(&user, 4);
        if users.iter().filter(|(_, s)| *s == shard).count() < 2 {
            h.connect(&user, &user, 60).await;
            users.push((user, shard));
        }
        if users.len() == 8 {
            break;
        }
    }
    recorder.fail_when_body_contains(
        "dynamodb:Query",
        "SHARD#1",
        test_support::Failure::ServerError,
    );

    let summary = token_refresher::run(&h.state, deadline_in(30))
        .await
        .expect("the run completes with one shard failing");

    assert_eq!(
        (summary.due, summary.refreshed, summary.failed_shards),
        (6, 6, 1),
        "{summary:?}"
    );
    for (user, shard) in &users {
        let connection = h.stored(user).await;
        let refreshed = connection.tokens.refresh_token.expose() == "rft.fresh";
        assert_eq!(refreshed, *shard != 1, "{user} in shard {shard}");
    }
}
