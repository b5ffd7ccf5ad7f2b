//! The DynamoDB adapter of [`TokenStore`]: one table, tokens sealed with the
//! application's AES-256-GCM keys, compare-and-set on `version`, two sparse
//! indexes for the refresher.
//!
//! | item | `pk` | `sk` |
//! |---|---|---|
//! | connection | `USER#<sub>` | `TIKTOK` |
//! | pending login | `LOGIN#<sha256(state)>` | `LOGIN` |
//! | pending grant | `GRANT#<sha256(completion id)>` | `GRANT` |
//! | app token | `APP` | `TIKTOK#client_token` |
//! | a user's upstream calls of one UTC day | `USER#<sub>` | `BUDGET#<day>` |
//! | the whole app's upstream calls of one UTC day | `APP` | `BUDGET#<day>` |
//! | cached product | `SHOP#<shop id>` | `PRODUCT#<product id>` |
//! | a user who connected a TikTok Shop | `SELLERSHOP#<shop id>` | `USER#<sub>` |
//! | a handled webhook delivery | `WEBHOOK#<id>` | `WEBHOOK` |
//!
//! Active connections carry `due_shard`, which puts them in the `access-due`
//! (sort key `access_expires_at`) and `refresh-due` (sort key `refresh_expires_at`)
//! indexes; a connection that needs a reconnect or is dormant drops out of both.
//! `last_used_at` is when its user last used it (absent on items written before
//! it existed: their first refresh sets it).
//!
//! Every ciphertext is bound (AES-GCM associated data) to its item's key and
//! field, `<pk>/<field>` (e.g. `USER#<sub>/access_token`, `APP/access_token`),
//! so no value can be moved to another item, whatever a user id looks like.
//! A ciphertext sealed under a key that is no longer in the secret makes the
//! connection `reconnect_required` (the user connects again) instead of an error.

mod app_token;
mod budget;
mod codec;
mod connections;
mod pending;
mod product_cache;
mod schema;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ReturnValue, WriteRequest};
use aws_sdk_dynamodb::Client;

use super::{
    due_by_user, shard_of, AppToken, AppTokens, Budget, CacheEntry, CachedKind, Connection,
    ConnectionActivity, ConnectionStatus, Connections, Due, DueIndex, DueWindow, PendingAuth,
    PendingGrant, PendingLogin, ProductCache, ProductLookup, RefreshLease, StoreError, Tokens,
    UpstreamBudget, WebhookDeliveries,
};
use crate::app_secrets::Secrets;
use crate::aws::LazyClient;
use crate::crypto::{CryptoError, Keyring};
use crate::redacted::{AccessToken, CodeVerifier, RefreshToken};
use crate::tiktok::{Product, TikTokId};

use codec::*;
use schema::*;
pub use schema::{create_table, ACCESS_DUE_INDEX, REFRESH_DUE_INDEX};

/// Where the store lives.
#[derive(Debug, Clone)]
pub struct TableLayout {
    /// Table name.
    pub table: String,
    /// Shards of the due indexes.
    pub due_shards: u32,
}

/// The DynamoDB adapter.
pub struct DynamoStore {
    client: LazyClient<Client>,
    layout: TableLayout,
    secrets: Arc<Secrets>,
}

impl DynamoStore {
    /// A store over `layout.table`; token keys come from `secrets`.
    pub fn new(client: Client, layout: TableLayout, secrets: Arc<Secrets>) -> Self {
        Self {
            client: LazyClient::ready(client),
            layout,
            secrets,
        }
    }

    /// The same, its client built from `aws` on first use ([`LazyClient`]).
    pub fn lazy(aws: &aws_config::SdkConfig, layout: TableLayout, secrets: Arc<Secrets>) -> Self {
        Self {
            client: LazyClient::new(aws, Client::new),
            layout,
            secrets,
        }
    }

    async fn keyring(&self) -> Result<Keyring, StoreError> {
        Ok(self.secrets.get().await?.keyring.clone())
    }

    /// The users in `shard` of `index` whose `attribute` is in `from..before`,
    /// with that attribute (a keys-only index still projects its own keys), every page.
    async fn query_due(
        &self,
        index: &str,
        attribute: &str,
        shard: u32,
        from: i64,
        before: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let mut users = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.layout.table)
                .index_name(index)
                .key_condition_expression("due_shard = :shard AND #t BETWEEN :from AND :last")
                .expression_attribute_names("#t", attribute)
                .expression_attribute_values(":shard", s(format!("SHARD#{shard}")))
                .expression_attribute_values(":from", n(from))
                .expression_attribute_values(":last", n(before.saturating_sub(1)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in output.items.unwrap_or_default() {
                if let Some(user) = get_s(&item, "pk")?.strip_prefix("USER#") {
                    users.push((user.to_owned(), get_n(&item, attribute)?));
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(users),
            }
        }
    }

    fn shard_value(&self, user_id: &str) -> AttributeValue {
        s(format!(
            "SHARD#{}",
            shard_of(user_id, self.layout.due_shards)
        ))
    }

    /// Stores `tokens` as the user's active connection (in the due indexes)
    /// and returns it: a new grant when `expected_version` is `None` (it counts
    /// as a use; the version moves past any earlier one), otherwise a refresh
    /// of that version only ([`StoreError::Conflict`] if it moved on).
    async fn write_connection(
        &self,
        user_id: &str,
        tokens: &Tokens,
        expected_version: Option<u64>,
    ) -> Result<Connection, StoreError> {
        let ring = self.keyring().await?;
        let (set, mut values) = token_values(&ring, user_id, tokens, self.shard_value(user_id))?;
        let request = self
            .client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(user_key(user_id)))
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#status", "status")
            .return_values(ReturnValue::AllNew);
        let request = match expected_version {
            None => {
                values.insert(":zero".to_owned(), n(0));
                // A new grant: the last grant's expiry notice is not about it.
                request.update_expression(format!(
                    "{set}, last_used_at = :refreshed_at, #v = if_not_exists(#v, :zero) + :one \
                     REMOVE authorization_expires_at"
                ))
            }
            // A refresh keeps the last use (an item from before uses were
            // recorded gets the refresh time).
            Some(expected) => {
                values.insert(":expected".to_owned(), n(expected));
                request
                    .update_expression(format!(
                        "{set}, last_used_at = if_not_exists(last_used_at, :refreshed_at), \
                         #v = #v + :one"
                    ))
                    .condition_expression("#v = :expected")
            }
        };
        let output = request
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(conflict_or_unavailable)?;
        connection_from(&ring, &output.attributes.unwrap_or_default())
    }

    /// Writes `item`, replacing any item with its key.
    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.layout.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The item under `key`, read strongly consistent or not.
    async fn get(&self, key: Item, consistent: bool) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.layout.table)
            .set_key(Some(key))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item)
    }

    /// The item under `key` unless its `expires_at` ([`expiring`]) is past at `now`.
    async fn get_unexpired(
        &self,
        key: Item,
        now: i64,
        consistent: bool,
    ) -> Result<Option<Item>, StoreError> {
        match self.get(key, consistent).await? {
            Some(item) if get_n::<i64>(&item, "expires_at")? > now => Ok(Some(item)),
            _ => Ok(None),
        }
    }

    /// Deletes the single-use item under `key` and returns it with its
    /// `expires_at`, atomically, so a replay finds nothing: `None` when there
    /// was none or it had expired at `now` (removed all the same).
    async fn take_single_use(
        &self,
        key: Item,
        now: i64,
    ) -> Result<Option<(Item, i64)>, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.layout.table)
            .set_key(Some(key))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = output.attributes.filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        let expires_at: i64 = get_n(&item, "expires_at")?;
        Ok((expires_at > now).then_some((item, expires_at)))
    }
}

/// DynamoDB's refusals of the request itself: retrying cannot help, the code or
/// the deployment (table, index, IAM, credentials) must be fixed.
pub(super) const REFUSALS: [&str; 6] = [
    "ValidationException",
    "SerializationException",
    "ResourceNotFoundException",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "MissingAuthenticationTokenException",
];

/// A failed DynamoDB call: [`StoreError::Refused`] when DynamoDB refused the
/// request itself, otherwise [`StoreError::Unavailable`] (unreachable, failing,
/// throttling, timing out).
pub(super) fn unavailable<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match error.as_service_error().and_then(|e| e.code()) {
        Some(code) if REFUSALS.contains(&code) => StoreError::Refused {
            code: code.to_owned(),
            source: Box::new(error),
        },
        _ => StoreError::Unavailable(Box::new(error)),
    }
}

pub(super) fn conflict_or_unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match e.as_service_error().and_then(|se| se.code()) {
        Some("ConditionalCheckFailedException") => StoreError::Conflict,
        _ => unavailable(e),
    }
}

/// Whether a conditional write that may be declined was applied: its
/// condition failing ([`conflict_or_unavailable`]) is `false`, not an error.
pub(super) fn applied<T>(written: Result<T, StoreError>) -> Result<bool, StoreError> {
    match written {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict) => Ok(false),
        Err(e) => Err(e),
    }
}
