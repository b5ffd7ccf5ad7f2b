//! Lambda's SQS event source played in-process, for the local stack and the
//! tests: receive a batch, hand it to the worker as the same [`SqsEvent`],
//! delete the messages it did not report as failed, and leave the failed ones
//! to come back after their visibility timeout (and, past the queue's
//! `maxReceiveCount`, to its dead-letter queue, which SQS itself does).

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use tiktok_gateway::AppState;
use tokio::time::Instant;

/// One poller of one queue (run several for concurrent workers).
pub struct EventSource {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    batch_size: i32,
}

/// What one poll did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Polled {
    /// Messages received.
    pub received: usize,
    /// Messages the worker reported as failed (left on the queue).
    pub retried: usize,
}

impl EventSource {
    /// Polls `queue_url` with `client`, up to `batch_size` messages at a time.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: String, batch_size: i32) -> Self {
        Self {
            client,
            queue_url,
            batch_size: batch_size.clamp(1, 10),
        }
    }

    /// Receives one batch (waiting up to `wait_secs` for one), runs the worker,
    /// deletes what succeeded.
    pub async fn poll_once(
        &self,
        state: &AppState,
        wait_secs: i32,
        deadline: Instant,
    ) -> Result<Polled, aws_sdk_sqs::Error> {
        let received = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size)
            .wait_time_seconds(wait_secs)
            .send()
            .await?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(Polled::default());
        }
        let mut event = SqsEvent::default();
        let mut receipts = Vec::new();
        for message in &messages {
            let mut record = SqsMessage::default();
            record.message_id = message.message_id.clone();
            record.receipt_handle = message.receipt_handle.clone();
            record.body = message.body.clone();
            record.event_source = Some("aws:sqs".into());
            event.records.push(record);
            receipts.push((message.message_id.clone(), message.receipt_handle.clone()));
        }
        let (_, response) = crate::process(state, event, deadline).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for (id, receipt) in receipts {
            if failed.contains(&id.as_deref().unwrap_or_default()) {
                continue;
            }
            if let Some(receipt) = receipt {
                self.client
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await?;
            }
        }
        Ok(Polled {
            received: messages.len(),
            retried: failed.len(),
        })
    }
}
