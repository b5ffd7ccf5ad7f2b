//! The refresh worker: consumes the refresher's fan-out queue (an SQS event
//! source whose `MaximumConcurrency` times this worker's upstream rate is the
//! configured upstream refresh rate) and applies the same refresh policy to
//! each user id of each message ([`tiktok_gateway::refresh`]).
//!
//! Partial batch responses: only a message with a connection that failed (or
//! was not reached before the deadline) is reported in `batchItemFailures` and
//! comes back; after `maxReceiveCount` tries it goes to the dead-letter queue.
//! A message that is not a [`RefreshBatch`] can never succeed: it is reported
//! too, and ends in the dead-letter queue for a person to look at. A retried
//! message costs its already-refreshed connections one read each (they are no
//! longer due).

pub mod event_source;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures::StreamExt;
use tiktok_gateway::queue::RefreshBatch;
use tiktok_gateway::refresh::{self, Outcome, Summary};
use tiktok_gateway::AppState;
use tokio::time::Instant;

/// The `Function` dimension of the worker's metrics.
pub const METRICS_FUNCTION: &str = "token-refresh-worker";

/// Processes one SQS batch; returns the summary and the messages to retry.
pub async fn process(
    state: &AppState,
    event: SqsEvent,
    deadline: Instant,
) -> (Summary, SqsBatchResponse) {
    let margin = state.config.refresher.deadline_margin;
    let stop_taking_work = deadline.checked_sub(margin).unwrap_or(deadline);
    let mut summary = Summary::default();
    let mut failures = Vec::new();
    // (message index, user id) pairs, every message's ids in one stream so the
    // worker's concurrency and rate apply across the whole batch.
    let mut work = Vec::new();
    let mut message_ids = Vec::new();
    for (index, record) in event.records.iter().enumerate() {
        let message_id = record.message_id.clone().unwrap_or_default();
        match record
            .body
            .as_deref()
            .map(serde_json::from_str::<RefreshBatch>)
        {
            Some(Ok(batch)) => work.extend(batch.user_ids.into_iter().map(|u| (index, u))),
            _ => {
                tracing::error!(
                    message_id,
                    "not a refresh batch; it goes to the dead-letter queue"
                );
                failures.push(message_id.clone());
            }
        }
        message_ids.push(message_id);
    }
    summary.due = work.len();
    let now = state.now();
    let outcomes = futures::stream::iter(work)
        .map(|(index, user_id)| async move {
            if Instant::now() >= stop_taking_work {
                return (index, Outcome::NotStarted, None);
            }
            let (outcome, due) = refresh::refresh_one(
                state.store.as_ref(),
                &state.tokens,
                &state.config.refresher,
                now,
                &user_id,
                deadline,
            )
            .await;
            (index, outcome, due)
        })
        .buffer_unordered(state.config.refresher.concurrency)
        .collect::<Vec<_>>()
        .await;
    for (index, outcome, due) in outcomes {
        summary.add(outcome);
        if let Some(expires_at) = due {
            summary.note_due(expires_at, now);
        }
        if matches!(outcome, Outcome::Failed | Outcome::NotStarted) {
            let id = &message_ids[index];
            if !failures.contains(id) {
                failures.push(id.clone());
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.set_failures(failures);
    tracing::info!(
        ?summary,
        retried = response.batch_item_failures.len(),
        "refresh batch done"
    );
    (summary, response)
}

/// The Lambda handler (partial batch responses; the template sets
/// `FunctionResponseTypes: [ReportBatchItemFailures]`).
pub async fn handler(
    state: &AppState,
    event: lambda_runtime::LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Diagnostic> {
    use tracing::Instrument;
    // Without a deadline in the context (a local call): the template's timeout.
    let deadline = tiktok_gateway::clock::lambda_deadline(event.context.deadline)
        .unwrap_or_else(|| Instant::now() + std::time::Duration::from_secs(60));
    let span = tracing::info_span!(
        "request",
        request_id = %event.context.request_id,
        function = "token-refresh-worker"
    );
    let (summary, response) = process(state, event.payload, deadline)
        .instrument(span)
        .await;
    summary.emit(
        METRICS_FUNCTION,
        state.config.refresher.metrics_stack.as_deref(),
    );
    Ok(response)
}
