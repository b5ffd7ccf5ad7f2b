//! The refresh fan-out queue: the [`RefreshQueue`] port, the [`SqsQueue`]
//! adapter and the message format ([`RefreshBatch`]).
//!
//! When a refresher run finds more due work than it can finish within the
//! upstream rate and its deadline, it sends the due user ids in batches; the
//! refresh worker consumes them (an SQS event source with `MaximumConcurrency`).

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::aws::LazyClient;

/// SQS takes at most this many messages per `SendMessageBatch`.
const SQS_BATCH_ENTRIES: usize = 10;

/// `SendMessageBatch` calls in flight at once.
const SEND_CONCURRENCY: usize = 8;

/// One queue message: users whose connections the worker should look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshBatch {
    /// dshipit user ids (the JWT `sub`).
    pub user_ids: Vec<String>,
}

/// Sending to the queue failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be reached or refused the messages.
    #[error("refresh queue unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The queue took some of the messages and refused the others.
    #[error("the refresh queue refused {0} message(s)")]
    Refused(usize),
}

/// Where a refresher run hands its surplus.
#[async_trait]
pub trait RefreshQueue: Send + Sync {
    /// Sends `batches`, one message each. Returns how many user ids the queue
    /// accepted; the others are the caller's to leave for the next run.
    async fn send(&self, batches: &[RefreshBatch]) -> Result<usize, QueueError>;
}

/// The SQS adapter.
pub struct SqsQueue {
    client: LazyClient<aws_sdk_sqs::Client>,
    url: String,
}

impl SqsQueue {
    /// The queue at `url`, its client built from `aws` on first use.
    pub fn lazy(aws: &aws_config::SdkConfig, url: String) -> Self {
        Self {
            client: LazyClient::new(aws, aws_sdk_sqs::Client::new),
            url,
        }
    }

    async fn send_group(&self, group: &[RefreshBatch]) -> Result<usize, QueueError> {
        let mut request = self.client.send_message_batch().queue_url(&self.url);
        for (i, batch) in group.iter().enumerate() {
            let body =
                serde_json::to_string(batch).map_err(|e| QueueError::Unavailable(Box::new(e)))?;
            let entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .build()
                .map_err(|e| QueueError::Unavailable(Box::new(e)))?;
            request = request.entries(entry);
        }
        let output = request
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(Box::new(e)))?;
        // Count the user ids in the messages SQS accepted (entry id = index).
        Ok(output
            .successful
            .iter()
            .filter_map(|ok| ok.id.parse::<usize>().ok())
            .filter_map(|i| group.get(i))
            .map(|batch| batch.user_ids.len())
            .sum())
    }
}

#[async_trait]
impl RefreshQueue for SqsQueue {
    async fn send(&self, batches: &[RefreshBatch]) -> Result<usize, QueueError> {
        let sends: Vec<_> = batches
            .chunks(SQS_BATCH_ENTRIES)
            .map(|group| self.send_group(group))
            .collect();
        let results = futures::stream::iter(sends)
            .buffer_unordered(SEND_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        let mut sent = 0;
        let mut first_error = None;
        for result in results {
            match result {
                Ok(n) => sent += n,
                Err(e) => {
                    tracing::warn!(error = %e, "a batch of refresh messages was not sent");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if sent == 0 => Err(e),
            _ => Ok(sent),
        }
    }
}

/// The queue and its dead-letter queue as `template.yaml` defines them
/// (`maxReceiveCount` 3), for local stacks and tests; deployments use the
/// template. `visibility_timeout_secs` is how long a received message stays
/// hidden (the template: six times the worker's timeout). Returns the queue's
/// and the dead-letter queue's URLs.
pub async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    visibility_timeout_secs: u32,
) -> Result<(String, String), QueueError> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let failed = |e: aws_sdk_sqs::Error| QueueError::Unavailable(Box::new(e));
    let dlq_url = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .map_err(|e| failed(e.into()))?
        .queue_url
        .unwrap_or_default();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| failed(e.into()))?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default();
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3});
    let url = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .send()
        .await
        .map_err(|e| failed(e.into()))?
        .queue_url
        .unwrap_or_default();
    Ok((url, dlq_url))
}

/// Splits `user_ids` into messages of at most `size` ids.
pub fn batches(user_ids: &[String], size: usize) -> Vec<RefreshBatch> {
    user_ids
        .chunks(size.max(1))
        .map(|chunk| RefreshBatch {
            user_ids: chunk.to_vec(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_split_into_messages_of_the_batch_size_and_none_is_lost() {
        let ids: Vec<String> = (0..123).map(|i| format!("user-{i}")).collect();
        let messages = batches(&ids, 50);
        assert_eq!(
            messages
                .iter()
                .map(|m| m.user_ids.len())
                .collect::<Vec<_>>(),
            [50, 50, 23]
        );
        let back: Vec<String> = messages.into_iter().flat_map(|m| m.user_ids).collect();
        assert_eq!(back, ids);
    }

    #[test]
    fn the_message_body_is_camel_case_json() {
        let body = serde_json::to_value(RefreshBatch {
            user_ids: vec!["u1".into()],
        })
        .unwrap();
        assert_eq!(body, serde_json::json!({"userIds": ["u1"]}));
    }
}
