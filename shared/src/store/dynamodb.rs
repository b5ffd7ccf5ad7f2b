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
//! | cached product | `SHOP#<shop id>` | `PRODUCT#<product id>` |
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

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ReturnValue, WriteRequest};
use aws_sdk_dynamodb::Client;

use super::{
    due_by_user, shard_of, AppToken, AppTokens, Connection, ConnectionActivity, ConnectionStatus,
    Connections, Due, DueIndex, DueWindow, PendingAuth, PendingGrant, PendingLogin, ProductCache,
    StoreError, Tokens, UpstreamBudget, WebhookDeliveries,
};
use crate::app_secrets::Secrets;
use crate::aws::LazyClient;
use crate::crypto::{CryptoError, Keyring};
use crate::redacted::{AccessToken, CodeVerifier, RefreshToken};
use crate::tiktok::{Product, TikTokId};

/// The index of connections by access-token expiry.
pub const ACCESS_DUE_INDEX: &str = "access-due";
/// The index of connections by refresh-token expiry.
pub const REFRESH_DUE_INDEX: &str = "refresh-due";

type Item = HashMap<String, AttributeValue>;

/// Creates the table as `template.yaml` defines it (keys, the two sparse due
/// indexes, TTL), for local stacks and tests; deployments use the template.
/// An existing table is left as it is.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
    };
    let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Corrupt(e.to_string());
    let attr = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .map_err(built)
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(built)
    };
    let index = |name: &str, sort: &str| -> Result<GlobalSecondaryIndex, StoreError> {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key("due_shard", KeyType::Hash)?)
            .key_schema(key(sort, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .map_err(built)
    };
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S)?)
        .attribute_definitions(attr("sk", ScalarAttributeType::S)?)
        .attribute_definitions(attr("due_shard", ScalarAttributeType::S)?)
        .attribute_definitions(attr("access_expires_at", ScalarAttributeType::N)?)
        .attribute_definitions(attr("refresh_expires_at", ScalarAttributeType::N)?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .global_secondary_indexes(index(ACCESS_DUE_INDEX, "access_expires_at")?)
        .global_secondary_indexes(index(REFRESH_DUE_INDEX, "refresh_expires_at")?)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(())
        }
        Err(e) => return Err(unavailable(e)),
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .map_err(built)?,
        )
        .send()
        .await
        .map_err(unavailable)?;
    Ok(())
}

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
        &self, index: &str, attribute: &str, shard: u32, from: i64, before: i64,
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
        &self, user_id: &str, tokens: &Tokens, expected_version: Option<u64>,
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
                request.update_expression(format!(
                    "{set}, last_used_at = :refreshed_at, #v = if_not_exists(#v, :zero) + :one"
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
        &self, key: Item, now: i64, consistent: bool,
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
        &self, key: Item, now: i64,
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

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// DynamoDB's refusals of the request itself: retrying cannot help, the code or
/// the deployment (table, index, IAM, credentials) must be fixed.
const REFUSALS: [&str; 6] = [
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
fn unavailable<E, R>(error: SdkError<E, R>) -> StoreError
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

/// The key of the item whose partition key is `pk` and sort key `sk`.
fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

fn user_key(user_id: &str) -> Item {
    key(user_pk(user_id), "TIKTOK")
}

fn budget_key(user_id: &str, day: i64) -> Item {
    key(user_pk(user_id), format!("BUDGET#{day}"))
}

fn login_pk(state_hash: &str) -> String {
    format!("LOGIN#{state_hash}")
}

fn grant_pk(completion_hash: &str) -> String {
    format!("GRANT#{completion_hash}")
}

fn seller_shop_key(shop_id: &str) -> Item {
    key(format!("SELLERSHOP#{shop_id}"), "SELLERSHOP")
}

fn delivery_key(id: &str) -> Item {
    key(format!("WEBHOOK#{id}"), "WEBHOOK")
}

fn app_key() -> Item {
    key("APP", "TIKTOK#client_token")
}

/// A cached product (`kind` `PRODUCT`) or product detail (`DETAIL`).
fn shop_item_key(shop_id: &TikTokId, kind: &str, product_id: &TikTokId) -> Item {
    key(
        format!("SHOP#{}", shop_id.canonical()),
        format!("{kind}#{}", product_id.canonical()),
    )
}

/// `item` with `expires_at` and DynamoDB's `ttl` set to `expires_at`. The TTL
/// deletes lazily (within days), so readers check `expires_at` themselves.
fn expiring(mut item: Item, expires_at: i64) -> Item {
    item.insert("expires_at".into(), n(expires_at));
    item.insert("ttl".into(), n(expires_at));
    item
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("missing string attribute {name}")))
}

fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("missing number attribute {name}")))
}

fn open(ring: &Keyring, item: &Item, name: &str, context: &str) -> Result<String, StoreError> {
    ring.open(get_s(item, name)?, context)
        .map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}

/// The associated data of field `field` of the item whose `pk` is `pk`.
fn context(pk: &str, field: &str) -> String {
    format!("{pk}/{field}")
}

const APP_CONTEXT: &str = "APP/access_token";

/// The attributes that hold `tokens` on the item whose `pk` is `pk` (a
/// connection or a pending grant), both tokens sealed to `<pk>/<field>`. A
/// grant without a seller account has no `account` attribute.
fn tokens_item(ring: &Keyring, pk: &str, tokens: &Tokens) -> Result<Item, StoreError> {
    let seal = |token: &str, field: &str| s(ring.seal(token, &context(pk, field)));
    let mut item = HashMap::from([
        ("open_id".to_owned(), s(&tokens.open_id)),
        (
            "scopes".to_owned(),
            AttributeValue::L(tokens.scopes.iter().map(s).collect()),
        ),
        (
            "access_token".to_owned(),
            seal(tokens.access_token.expose(), "access_token"),
        ),
        (
            "refresh_token".to_owned(),
            seal(tokens.refresh_token.expose(), "refresh_token"),
        ),
        ("access_expires_at".to_owned(), n(tokens.access_expires_at)),
        (
            "refresh_expires_at".to_owned(),
            n(tokens.refresh_expires_at),
        ),
        ("refreshed_at".to_owned(), n(tokens.refreshed_at)),
    ]);
    if let Some(account) = &tokens.account {
        let json =
            serde_json::to_string(account).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        item.insert("account".to_owned(), s(json));
    }
    Ok(item)
}

/// Opens the two tokens of the item whose `pk` is `pk` ([`tokens_item`]).
/// `legacy_pk`: also accept the context connections were sealed with before
/// contexts named the item type (`<sub>/<field>`).
fn open_tokens(
    ring: &Keyring, item: &Item, pk: &str, legacy_pk: Option<&str>,
) -> Result<(AccessToken, RefreshToken), CryptoError> {
    let open = |field: &str| {
        let sealed = get_s(item, field).map_err(|_| CryptoError::Corrupt)?;
        match (ring.open(sealed, &context(pk, field)), legacy_pk) {
            (Err(CryptoError::Corrupt), Some(legacy)) => ring.open(sealed, &context(legacy, field)),
            (opened, _) => opened,
        }
    };
    Ok((
        AccessToken::new(open("access_token")?),
        RefreshToken::new(open("refresh_token")?),
    ))
}

/// The tokens [`tokens_item`] wrote, with their opened access and refresh token.
fn tokens_from_item(
    item: &Item, access_token: AccessToken, refresh_token: RefreshToken,
) -> Result<Tokens, StoreError> {
    let scopes = match item.get("scopes") {
        Some(AttributeValue::L(list)) => {
            list.iter().filter_map(|v| v.as_s().ok().cloned()).collect()
        }
        _ => Vec::new(),
    };
    Ok(Tokens {
        open_id: get_s(item, "open_id")?.to_owned(),
        scopes,
        access_token,
        refresh_token,
        access_expires_at: get_n(item, "access_expires_at")?,
        refresh_expires_at: get_n(item, "refresh_expires_at")?,
        refreshed_at: get_n(item, "refreshed_at")?,
        // A connection without one holds an empty string (see `token_values`).
        account: match item.get("account").and_then(|v| v.as_s().ok()) {
            Some(json) if !json.is_empty() => Some(
                serde_json::from_str(json)
                    .map_err(|e| StoreError::Corrupt(format!("account: {e}")))?,
            ),
            _ => None,
        },
    })
}

fn connection_from(ring: &Keyring, item: &Item) -> Result<Connection, StoreError> {
    let user_id = get_s(item, "user_id")?.to_owned();
    let mut status = ConnectionStatus::parse(get_s(item, "status")?)
        .ok_or_else(|| StoreError::Corrupt("unknown status".into()))?;
    // Connections sealed before contexts named the item type open under
    // `<sub>/<field>`, except for the one user id whose old context was the app
    // token's (`app`). Every refresh rewrites a connection in the new form.
    let legacy_pk = (user_id != "app").then_some(user_id.as_str());
    let (access, refresh) = match open_tokens(ring, item, &user_pk(&user_id), legacy_pk) {
        Ok(pair) => pair,
        // Sealed under a key that has since been removed from the secret: the
        // tokens are gone for good, the user must connect again.
        Err(CryptoError::UnknownKey(key_id)) => {
            tracing::warn!(
                user_id,
                key_id,
                "connection sealed under a removed token key"
            );
            status = ConnectionStatus::ReconnectRequired;
            (
                AccessToken::new(String::new()),
                RefreshToken::new(String::new()),
            )
        }
        Err(e) => return Err(StoreError::Corrupt(format!("connection tokens: {e}"))),
    };
    Ok(Connection {
        tokens: tokens_from_item(item, access, refresh)?,
        status,
        version: get_n(item, "version")?,
        last_used_at: match item.get("last_used_at") {
            Some(_) => get_n(item, "last_used_at")?,
            None => get_n(item, "refreshed_at")?,
        },
        user_id,
    })
}

/// `SET` clauses and values shared by a new grant and a refresh: every
/// attribute of [`tokens_item`] as `<name> = :<name>`, the user, the status
/// (active) and the due shard, and `:one`.
fn token_values(
    ring: &Keyring, user_id: &str, tokens: &Tokens, shard: AttributeValue,
) -> Result<(String, Item), StoreError> {
    let mut attributes = tokens_item(ring, &user_pk(user_id), tokens)?;
    // Written even without an account, so a reconnect clears an earlier one.
    attributes
        .entry("account".to_owned())
        .or_insert_with(|| s(""));
    attributes.insert("user_id".to_owned(), s(user_id));
    attributes.insert("due_shard".to_owned(), shard);
    let mut names: Vec<&String> = attributes.keys().collect();
    names.sort();
    let assignments: Vec<String> = names
        .iter()
        .map(|name| format!("{name} = :{name}"))
        .collect();
    let set = format!("SET {}, #status = :active", assignments.join(", "));
    let mut values: Item = attributes
        .into_iter()
        .map(|(name, value)| (format!(":{name}"), value))
        .collect();
    values.insert(":active".to_owned(), s(ConnectionStatus::Active.as_str()));
    values.insert(":one".to_owned(), n(1));
    Ok((set, values))
}

fn conflict_or_unavailable<E, R>(e: SdkError<E, R>) -> StoreError
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
fn applied<T>(written: Result<T, StoreError>) -> Result<bool, StoreError> {
    match written {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict) => Ok(false),
        Err(e) => Err(e),
    }
}

#[async_trait]
impl ConnectionActivity for DynamoStore {
    async fn record_use(&self, user_id: &str, now: i64, since: i64) -> Result<bool, StoreError> {
        // One conditional write, no read: the request already read the item.
        let written = self
            .client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(user_key(user_id)))
            .update_expression("SET last_used_at = :now, #status = :active, due_shard = :shard")
            .condition_expression(
                "#status = :dormant OR (#status = :active AND \
                 (attribute_not_exists(last_used_at) OR last_used_at < :since))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":since", n(since))
            .expression_attribute_values(":active", s(ConnectionStatus::Active.as_str()))
            .expression_attribute_values(":dormant", s(ConnectionStatus::Dormant.as_str()))
            .expression_attribute_values(":shard", self.shard_value(user_id))
            .send()
            .await
            .map_err(conflict_or_unavailable);
        applied(written)
    }

    async fn mark_dormant(
        &self, user_id: &str, expected_version: u64, used_since: i64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(user_key(user_id)))
            .update_expression("SET #status = :dormant, #v = #v + :one REMOVE due_shard")
            .condition_expression(
                "#v = :expected AND #status = :active AND \
                 (attribute_not_exists(last_used_at) OR last_used_at < :since)",
            )
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":dormant", s(ConnectionStatus::Dormant.as_str()))
            .expression_attribute_values(":active", s(ConnectionStatus::Active.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expected", n(expected_version))
            .expression_attribute_values(":since", n(used_since))
            .send()
            .await
            .map_err(conflict_or_unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl Connections for DynamoStore {
    async fn get_connection(&self, user_id: &str) -> Result<Option<Connection>, StoreError> {
        match self.get(user_key(user_id), true).await? {
            Some(item) => Ok(Some(connection_from(&self.keyring().await?, &item)?)),
            None => Ok(None),
        }
    }

    async fn put_connection(
        &self, user_id: &str, tokens: &Tokens,
    ) -> Result<Connection, StoreError> {
        let connection = self.write_connection(user_id, tokens, None).await?;
        // A seller's shops point back at the user, for TikTok Shop's webhooks
        // (which name a shop, not a seller). After the connection: a missing
        // pointer only means a webhook for that shop finds nobody.
        for shop in tokens.account.iter().flat_map(|a| &a.shops) {
            self.client
                .update_item()
                .table_name(&self.layout.table)
                .set_key(Some(seller_shop_key(&shop.id)))
                .update_expression("SET user_id = :user")
                .expression_attribute_values(":user", s(user_id))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(connection)
    }

    async fn update_tokens(
        &self, user_id: &str, expected_version: u64, tokens: &Tokens,
    ) -> Result<Connection, StoreError> {
        self.write_connection(user_id, tokens, Some(expected_version))
            .await
    }

    async fn mark_reconnect_required(
        &self, user_id: &str, expected_version: u64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(user_key(user_id)))
            .update_expression("SET #status = :status, #v = #v + :one REMOVE due_shard")
            .condition_expression("#v = :expected")
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(ConnectionStatus::ReconnectRequired.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expected", n(expected_version))
            .send()
            .await
            .map_err(conflict_or_unavailable)?;
        Ok(())
    }

    async fn delete_connection(&self, user_id: &str) -> Result<bool, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.layout.table)
            .set_key(Some(user_key(user_id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn user_of_shop(&self, shop_id: &str) -> Result<Option<String>, StoreError> {
        match self.get(seller_shop_key(shop_id), true).await? {
            Some(item) => Ok(Some(get_s(&item, "user_id")?.to_owned())),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl DueIndex for DynamoStore {
    fn due_shards(&self) -> u32 {
        self.layout.due_shards.max(1)
    }

    async fn find_due(&self, shard: u32, window: DueWindow) -> Result<Vec<Due>, StoreError> {
        // Both indexes at once: a cold refresher waits for one round trip, not two.
        let (access, refresh) = futures::future::try_join(
            self.query_due(
                ACCESS_DUE_INDEX,
                "access_expires_at",
                shard,
                window.access_from,
                window.access_before,
            ),
            self.query_due(
                REFRESH_DUE_INDEX,
                "refresh_expires_at",
                shard,
                i64::MIN,
                window.refresh_before,
            ),
        )
        .await?;
        Ok(due_by_user(access.into_iter().chain(refresh)))
    }
}

#[async_trait]
impl PendingAuth for DynamoStore {
    async fn put_login(&self, state_hash: &str, login: &PendingLogin) -> Result<(), StoreError> {
        let pk = login_pk(state_hash);
        let mut item = key(&pk, "LOGIN");
        item.insert("user_id".into(), s(&login.user_id));
        if let Some(return_to) = &login.return_to {
            item.insert("return_to".into(), s(return_to));
        }
        if let Some(verifier) = &login.code_verifier {
            let ring = self.keyring().await?;
            let sealed = ring.seal(verifier.expose(), &context(&pk, "code_verifier"));
            item.insert("code_verifier".into(), s(sealed));
        }
        self.put(expiring(item, login.expires_at)).await
    }

    async fn take_login(
        &self, state_hash: &str, now: i64,
    ) -> Result<Option<PendingLogin>, StoreError> {
        let pk = login_pk(state_hash);
        let Some((item, expires_at)) = self.take_single_use(key(&pk, "LOGIN"), now).await? else {
            return Ok(None);
        };
        let code_verifier = match item.contains_key("code_verifier") {
            true => Some(CodeVerifier::new(open(
                &self.keyring().await?,
                &item,
                "code_verifier",
                &context(&pk, "code_verifier"),
            )?)),
            false => None,
        };
        Ok(Some(PendingLogin {
            user_id: get_s(&item, "user_id")?.to_owned(),
            return_to: item.get("return_to").and_then(|v| v.as_s().ok()).cloned(),
            code_verifier,
            expires_at,
        }))
    }

    async fn put_grant(
        &self, completion_hash: &str, grant: &PendingGrant,
    ) -> Result<(), StoreError> {
        let pk = grant_pk(completion_hash);
        let mut item = tokens_item(&self.keyring().await?, &pk, &grant.tokens)?;
        item.extend(key(&pk, "GRANT"));
        item.insert("user_id".into(), s(&grant.user_id));
        self.put(expiring(item, grant.expires_at)).await
    }

    async fn take_grant(
        &self, completion_hash: &str, now: i64,
    ) -> Result<Option<PendingGrant>, StoreError> {
        // The keys before the delete: if they cannot be had, the grant stays.
        let ring = self.keyring().await?;
        let pk = grant_pk(completion_hash);
        let Some((item, expires_at)) = self.take_single_use(key(&pk, "GRANT"), now).await? else {
            return Ok(None);
        };
        let (access, refresh) = open_tokens(&ring, &item, &pk, None)
            .map_err(|e| StoreError::Corrupt(format!("grant tokens: {e}")))?;
        Ok(Some(PendingGrant {
            user_id: get_s(&item, "user_id")?.to_owned(),
            tokens: tokens_from_item(&item, access, refresh)?,
            expires_at,
        }))
    }
}

#[async_trait]
impl WebhookDeliveries for DynamoStore {
    async fn delivery_seen(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        Ok(self
            .get_unexpired(delivery_key(id), now, true)
            .await?
            .is_some())
    }

    async fn record_delivery(&self, id: &str, expires_at: i64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(delivery_key(id)))
            .update_expression("SET expires_at = :e, #ttl = :e")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":e", n(expires_at))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl UpstreamBudget for DynamoStore {
    async fn spend_upstream_call(
        &self, user_id: &str, day: i64, limit: u32, expires_at: i64,
    ) -> Result<bool, StoreError> {
        let counted = self
            .client
            .update_item()
            .table_name(&self.layout.table)
            .set_key(Some(budget_key(user_id, day)))
            .update_expression("ADD calls :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(calls) OR calls < :limit")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(expires_at))
            .expression_attribute_values(":limit", n(limit))
            .send()
            .await
            .map_err(conflict_or_unavailable);
        applied(counted)
    }
}

#[async_trait]
impl AppTokens for DynamoStore {
    async fn get_app_token(&self) -> Result<Option<AppToken>, StoreError> {
        let Some(item) = self.get(app_key(), true).await? else {
            return Ok(None);
        };
        let ring = self.keyring().await?;
        let version = get_n(&item, "version")?;
        match open(&ring, &item, "access_token", APP_CONTEXT) {
            Ok(token) => Ok(Some(AppToken {
                access_token: AccessToken::new(token),
                expires_at: get_n(&item, "expires_at")?,
                version,
            })),
            // Sealed under a removed key, an older context, or not the app's:
            // unusable, so it is replaced (compare-and-set on its version) like
            // an expired one.
            Err(error) => {
                tracing::warn!(%error, "the stored app token does not open; fetching a new one");
                Ok(Some(AppToken {
                    access_token: AccessToken::new(String::new()),
                    expires_at: 0,
                    version,
                }))
            }
        }
    }

    async fn put_app_token(
        &self, access_token: &AccessToken, expires_at: i64, expected_version: Option<u64>,
    ) -> Result<AppToken, StoreError> {
        let ring = self.keyring().await?;
        let version = expected_version.unwrap_or(0) + 1;
        let mut item = app_key();
        item.insert(
            "access_token".into(),
            s(ring.seal(access_token.expose(), APP_CONTEXT)),
        );
        item.insert("expires_at".into(), n(expires_at));
        item.insert("version".into(), n(version));
        let request = self
            .client
            .put_item()
            .table_name(&self.layout.table)
            .set_item(Some(item))
            .expression_attribute_names("#v", "version");
        let request = match expected_version {
            Some(expected) => request
                .condition_expression("#v = :expected")
                .expression_attribute_values(":expected", n(expected)),
            None => request.condition_expression("attribute_not_exists(#v)"),
        };
        request.send().await.map_err(conflict_or_unavailable)?;
        Ok(AppToken {
            access_token: access_token.clone(),
            expires_at,
            version,
        })
    }
}

#[async_trait]
impl ProductCache for DynamoStore {
    async fn cache_products(
        &self, shop_id: &TikTokId, products: &[Product], expires_at: i64,
    ) -> Result<(), StoreError> {
        // DynamoDB refuses a batch that holds one key twice, and a listing read
        // over several pages can repeat a product: keep each product's last
        // copy, as one write per product would.
        let last_copy: HashMap<&TikTokId, usize> = products
            .iter()
            .enumerate()
            .map(|(i, p)| (&p.product_id, i))
            .collect();
        let unique: Vec<&Product> = products
            .iter()
            .enumerate()
            .filter(|(i, p)| last_copy.get(&p.product_id) == Some(i))
            .map(|(_, p)| p)
            .collect();
        for chunk in unique.chunks(25) {
            let mut writes = Vec::with_capacity(chunk.len());
            for product in chunk {
                let mut item = shop_item_key(shop_id, "PRODUCT", &product.product_id);
                let json = serde_json::to_string(product)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                item.insert("product".into(), s(json));
                let put = PutRequest::builder()
                    .set_item(Some(expiring(item, expires_at)))
                    .build()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                writes.push(WriteRequest::builder().put_request(put).build());
            }
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.layout.table, writes)
                .send()
                .await
                .map_err(unavailable)?;
            let left = output
                .unprocessed_items
                .map_or(0, |u| u.values().map(Vec::len).sum::<usize>());
            if left > 0 {
                tracing::warn!(left, "product cache: some writes were not processed");
            }
        }
        Ok(())
    }

    async fn cached_product(
        &self, shop_id: &TikTokId, product_id: &TikTokId, now: i64,
    ) -> Result<Option<Product>, StoreError> {
        let key = shop_item_key(shop_id, "PRODUCT", product_id);
        let Some(item) = self.get_unexpired(key, now, false).await? else {
            return Ok(None);
        };
        serde_json::from_str(get_s(&item, "product")?)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("cached product: {e}")))
    }

    async fn cache_detail(
        &self, shop_id: &TikTokId, product_id: &TikTokId, json: &str, expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut item = shop_item_key(shop_id, "DETAIL", product_id);
        item.insert("product".into(), s(json));
        self.put(expiring(item, expires_at)).await
    }

    async fn cached_detail(
        &self, shop_id: &TikTokId, product_id: &TikTokId, now: i64,
    ) -> Result<Option<String>, StoreError> {
        let key = shop_item_key(shop_id, "DETAIL", product_id);
        let Some(item) = self.get_unexpired(key, now, false).await? else {
            return Ok(None);
        };
        Ok(Some(get_s(&item, "product")?.to_owned()))
    }
}
