//! The scheduled token refresher (EventBridge Scheduler, every 15 minutes by
//! default).
//!
//! Finds, through the due indexes (never a scan), active connections whose access
//! token expires before the next run plus a margin, or whose refresh token expires
//! within the window, and applies the refresh policy
//! ([`tiktok_gateway::refresh`]): active users' tokens are refreshed, idle ones
//! are left to their next request, unused ones past the keep-alive window go
//! dormant. When the due work is more than it can finish at the upstream rate
//! before its deadline and a queue is configured, it hands all of it to the
//! refresh workers in batches of user ids instead; otherwise it refreshes
//! concurrently, never faster than the upstream rate limiter allows, each with a
//! compare-and-set, stops taking work before its deadline and leaves the rest
//! for the next run: nothing is lost, since a connection stays due until it is
//! refreshed. Each run writes one Embedded Metric Format line.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tiktok_gateway::queue::{self, RefreshQueue};
use tiktok_gateway::refresh::{self, Outcome};
use tiktok_gateway::store::{Due, DueWindow};
use tiktok_gateway::{AppState, TokenMode};
use tiktok_gateway::{AppTokens, DueIndex};
use tokio::time::Instant;

pub use tiktok_gateway::refresh::Summary;

/// The `Function` dimension of the refresher's metrics.
pub const METRICS_FUNCTION: &str = "token-refresher";

/// What the refresher needs: the shared state and, when fan-out is configured,
/// the queue of the refresh workers.
#[derive(Clone)]
pub struct Refresher {
    /// Store, upstream, config.
    pub state: AppState,
    /// Where surplus work goes (`None`: no fan-out).
    pub queue: Option<Arc<dyn RefreshQueue>>,
}

/// One run without fan-out, to finish by `deadline`.
pub async fn run(state: &AppState, deadline: Instant) -> Result<Summary, tiktok_gateway::Error> {
    run_with(state, None, deadline).await
}

/// One run, to finish by `deadline`; surplus work goes to `queue` when given.
pub async fn run_with(
    state: &AppState,
    queue: Option<&dyn RefreshQueue>,
    deadline: Instant,
) -> Result<Summary, tiktok_gateway::Error> {
    let margin = state.config.refresher.deadline_margin;
    let stop_taking_work = deadline.checked_sub(margin).unwrap_or(deadline);
    let now = state.now();
    let window = refresh::due_window(&state.config.refresher, now);

    let mut summary = Summary::default();
    if state.config.token_mode == TokenMode::App {
        summary.app_token_refreshed =
            refresh_app_token(state, state.store.as_ref(), window.access_before, deadline).await;
    }

    let due = find_due(state.store.as_ref(), window, &mut summary).await?;
    summary.due = due.len();
    // `OldestDueAgeSeconds` is noted below, per connection the policy says to
    // refresh: an idle user's token found through the lookback is not late.
    let user_ids: Vec<String> = due.into_iter().map(|d| d.user_id).collect();

    if let Some(queue) = queue {
        // At most one upstream call per due connection, at the limiter's rate.
        let secs_left = stop_taking_work
            .saturating_duration_since(Instant::now())
            .as_secs();
        let capacity = secs_left.saturating_mul(state.config.tiktok.rate_per_sec.get() as u64);
        if user_ids.len() as u64 > capacity {
            let batches = queue::batches(&user_ids, state.config.refresher.batch_size);
            let sent = match queue.send(&batches).await {
                Ok(sent) => sent,
                Err(error) => {
                    tracing::warn!(error = %error, "could not hand the due work to the workers");
                    0
                }
            };
            summary.enqueued = sent;
            summary.left_for_next_run = user_ids.len().saturating_sub(sent);
            tracing::info!(?summary, "refresher run handed its work to the workers");
            return Ok(summary);
        }
    }

    let outcomes = futures::stream::iter(user_ids)
        .map(|user_id| async move {
            if Instant::now() >= stop_taking_work {
                return (Outcome::NotStarted, None);
            }
            refresh::refresh_one(
                state.store.as_ref(),
                &state.tokens,
                &state.config.refresher,
                now,
                &user_id,
                deadline,
            )
            .await
        })
        .buffer_unordered(state.config.refresher.concurrency)
        .collect::<Vec<_>>()
        .await;
    for (outcome, due) in outcomes {
        summary.add(outcome);
        if let Some(expires_at) = due {
            summary.note_due(expires_at, now);
        }
    }
    tracing::info!(?summary, "refresher run finished");
    Ok(summary)
}

/// What is due in every shard at once (each is one or two index queries). A
/// shard whose query fails is reported in `summary` and left for the next run;
/// the others go on. Only when every shard failed is the run an error.
async fn find_due<D: DueIndex + ?Sized>(
    index: &D,
    window: DueWindow,
    summary: &mut Summary,
) -> Result<Vec<Due>, tiktok_gateway::Error> {
    let shards = index.due_shards();
    let found = futures::future::join_all(
        (0..shards).map(|shard| async move { (shard, index.find_due(shard, window).await) }),
    )
    .await;
    let mut due = Vec::new();
    let mut last_error = None;
    for (shard, found) in found {
        match found {
            Ok(users) => due.extend(users),
            Err(error) => {
                tracing::error!(shard, error = %error, "could not query a due-index shard; it waits for the next run");
                summary.failed_shards += 1;
                last_error = Some(error);
            }
        }
    }
    match last_error {
        Some(error) if summary.failed_shards == shards as usize => Err(error.into()),
        _ => Ok(due),
    }
}

/// Renews the app's token when the stored one expires before `expires_before`;
/// reads it from `tokens`, renews through `state`.
async fn refresh_app_token<T: AppTokens + ?Sized>(
    state: &AppState,
    tokens: &T,
    expires_before: i64,
    deadline: Instant,
) -> bool {
    let stored = match tokens.get_app_token().await {
        Ok(stored) => stored,
        Err(error) => {
            tracing::warn!(error = %error, "could not read the app token");
            return false;
        }
    };
    let Some(stored) = stored.filter(|t| t.expires_at < expires_before) else {
        return false;
    };
    match state
        .tokens
        .app_token(deadline, Some(&stored.access_token))
        .await
    {
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
    refresher: &Refresher,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<Summary, lambda_runtime::Diagnostic> {
    use tracing::Instrument;
    // Without a deadline in the context (a local call): the template's timeout.
    let deadline = tiktok_gateway::clock::lambda_deadline(event.context.deadline)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(300));
    let span = tracing::info_span!(
        "request",
        request_id = %event.context.request_id,
        function = "token-refresher"
    );
    async move {
        let result = run_with(&refresher.state, refresher.queue.as_deref(), deadline).await;
        let stack = refresher.state.config.refresher.metrics_stack.as_deref();
        match &result {
            Ok(summary) => summary.emit(METRICS_FUNCTION, stack),
            // A run that could not even find its work counts as one failure.
            Err(_) => Summary {
                failed: 1,
                ..Summary::default()
            }
            .emit(METRICS_FUNCTION, stack),
        }
        result.map_err(|error| {
            tracing::error!(error = %error, "refresher run failed");
            lambda_runtime::Diagnostic {
                error_type: error.code().to_owned(),
                error_message: error.public_message(),
            }
        })
    }
    .instrument(span)
    .await
}
