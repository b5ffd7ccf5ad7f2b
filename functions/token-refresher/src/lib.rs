//! The scheduled token refresher (EventBridge Scheduler, every 15 minutes by
//! default).
//!
//! Finds, through the due indexes (never a scan), active connections whose access
//! token expires before the next run plus a margin, or whose refresh token expires
//! within the window; refreshes them concurrently, never faster than the upstream
//! rate limiter allows, each with a compare-and-set. On `invalid_grant` it re-reads
//! first (a sibling may have rotated the token) and only then marks the connection
//! as needing a reconnect. It stops taking work before its deadline and leaves the
//! rest for the next run: nothing is lost, since a connection stays due until it
//! is refreshed.

use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use tiktok_gateway::{AppState, ConnectionStatus, Refresh, TokenMode};
use tokio::time::Instant;

/// What one run did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Connections the indexes reported due.
    pub due: usize,
    /// Refreshed and stored by this run.
    pub refreshed: usize,
    /// Not refreshed because they no longer needed it (someone else did it, or
    /// they were deleted or already needed a reconnect).
    pub skipped: usize,
    /// Refresh failed (TikTok or the store); they stay due for the next run.
    pub failed: usize,
    /// TikTok refused the refresh token: the user must connect again.
    pub reconnect_required: usize,
    /// Refreshed, but the refresh token still expires within the window (a
    /// refresh did not extend it): the user will have to connect again before
    /// then. Each is logged with its user id and expiry.
    pub refresh_token_expiring: usize,
    /// Not started before the deadline; left for the next run.
    pub left_for_next_run: usize,
    /// Whether the app's client-credentials token was renewed (app mode).
    pub app_token_refreshed: bool,
    /// Due-index shards whose query failed: their connections were not looked
    /// at and wait for the next run (the other shards' work was done).
    pub failed_shards: usize,
}

enum Outcome {
    Refreshed { expiring: bool },
    Skipped,
    Failed,
    ReconnectRequired,
    NotStarted,
}

/// One run, to finish by `deadline`.
pub async fn run(state: &AppState, deadline: Instant) -> Result<Summary, tiktok_gateway::Error> {
    let margin = state.config.refresher.deadline_margin;
    let stop_taking_work = deadline.checked_sub(margin).unwrap_or(deadline);
    let now = state.now();
    let access_before = now + state.config.refresher.ahead.as_secs() as i64;
    let refresh_before = now + state.config.refresher.refresh_window.as_secs() as i64;

    let mut summary = Summary::default();
    if state.config.token_mode == TokenMode::App {
        summary.app_token_refreshed = refresh_app_token(state, access_before, deadline).await;
    }

    // Every shard at once (each is one or two index queries). A shard whose
    // query fails is reported and left for the next run; the others go on.
    let shards = state.store.due_shards();
    let found = futures::future::join_all((0..shards).map(|shard| async move {
        let users = state
            .store
            .find_due(shard, access_before, refresh_before)
            .await;
        (shard, users)
    }))
    .await;
    let mut due: Vec<String> = Vec::new();
    let mut last_error = None;
    for (shard, users) in found {
        match users {
            Ok(users) => due.extend(users),
            Err(error) => {
                tracing::error!(shard, error = %error, "could not query a due-index shard; it waits for the next run");
                summary.failed_shards += 1;
                last_error = Some(error);
            }
        }
    }
    // Nothing could be looked at: the run failed (and the invocation says so).
    if let (true, Some(error)) = (summary.failed_shards == shards as usize, last_error) {
        return Err(error.into());
    }
    summary.due = due.len();

    let outcomes = futures::stream::iter(due)
        .map(|user_id| async move {
            if Instant::now() >= stop_taking_work {
                return Outcome::NotStarted;
            }
            refresh_one(state, &user_id, access_before, refresh_before, deadline).await
        })
        .buffer_unordered(state.config.refresher.concurrency)
        .collect::<Vec<_>>()
        .await;
    for outcome in outcomes {
        match outcome {
            Outcome::Refreshed { expiring } => {
                summary.refreshed += 1;
                summary.refresh_token_expiring += usize::from(expiring);
            }
            Outcome::Skipped => summary.skipped += 1,
            Outcome::Failed => summary.failed += 1,
            Outcome::ReconnectRequired => summary.reconnect_required += 1,
            Outcome::NotStarted => summary.left_for_next_run += 1,
        }
    }
    tracing::info!(?summary, "refresher run finished");
    Ok(summary)
}

async fn refresh_one(
    state: &AppState,
    user_id: &str,
    access_before: i64,
    refresh_before: i64,
    deadline: Instant,
) -> Outcome {
    // The index is eventually consistent: read the item itself, strongly.
    let connection = match state.store.get_connection(user_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Outcome::Skipped,
        Err(error) => {
            tracing::warn!(user_id, error = %error, "could not read a due connection");
            return Outcome::Failed;
        }
    };
    // A refresh token a refresh did not extend (the Partner API's may not
    // move) is refreshed at most once a day for its own sake, not every run.
    let recently_refreshed = connection.tokens.refreshed_at > state.now() - 86_400;
    let still_due = connection.tokens.access_expires_at < access_before
        || (connection.tokens.refresh_expires_at < refresh_before && !recently_refreshed);
    if connection.status != ConnectionStatus::Active || !still_due {
        return Outcome::Skipped;
    }
    match state.refresh_connection(&connection, deadline).await {
        Ok(Refresh::Refreshed(refreshed)) => {
            let expiring = refreshed.tokens.refresh_expires_at < refresh_before;
            if expiring {
                tracing::warn!(
                    user_id,
                    refresh_expires_at = refreshed.tokens.refresh_expires_at,
                    "refresh token nears its expiry; the user must connect again before then"
                );
            }
            Outcome::Refreshed { expiring }
        }
        Ok(Refresh::LostRace(_) | Refresh::Gone) => Outcome::Skipped,
        Ok(Refresh::ReconnectRequired) => Outcome::ReconnectRequired,
        Err(error) => {
            tracing::warn!(user_id, error = %error, "refresh failed; will retry next run");
            Outcome::Failed
        }
    }
}

async fn refresh_app_token(state: &AppState, expires_before: i64, deadline: Instant) -> bool {
    let stored = match state.store.get_app_token().await {
        Ok(stored) => stored,
        Err(error) => {
            tracing::warn!(error = %error, "could not read the app token");
            return false;
        }
    };
    let Some(stored) = stored.filter(|t| t.expires_at < expires_before) else {
        return false;
    };
    match state.app_token(deadline, Some(&stored.access_token)).await {
        Ok(_) => true,
        Err(error) => {
            tracing::warn!(error = %error, "could not renew the app token");
            false
        }
    }
}

/// The Lambda handler: the scheduler's payload is not needed; the deadline comes
/// from the invocation context.
pub async fn handler(
    state: &AppState,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<Summary, lambda_runtime::Diagnostic> {
    let deadline = deadline_from(event.context.deadline);
    run(state, deadline).await.map_err(|error| {
        tracing::error!(error = %error, "refresher run failed");
        lambda_runtime::Diagnostic {
            error_type: error.code().to_owned(),
            error_message: error.public_message(),
        }
    })
}

/// The Lambda deadline (Unix milliseconds) as an `Instant`; 5 minutes when absent.
pub fn deadline_from(deadline_ms: u64) -> Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let left = match deadline_ms {
        0 => Duration::from_secs(300),
        ms => Duration::from_millis(ms.saturating_sub(now_ms)),
    };
    Instant::now() + left
}
