//! The table's shape: the two due indexes, `create_table` (as `template.yaml`
//! defines the table) and each item's key.

use super::*;

/// The index of connections by access-token expiry.
pub const ACCESS_DUE_INDEX: &str = "access-due";
/// The index of connections by refresh-token expiry.
pub const REFRESH_DUE_INDEX: &str = "refresh-due";

pub(super) type Item = HashMap<String, AttributeValue>;

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

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The key of the item whose partition key is `pk` and sort key `sk`.
pub(super) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

pub(super) fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

pub(super) fn user_key(user_id: &str) -> Item {
    key(user_pk(user_id), "TIKTOK")
}

pub(super) fn budget_key(user_id: &str, day: i64) -> Item {
    key(user_pk(user_id), format!("BUDGET#{day}"))
}

/// The whole app's upstream calls of one UTC day.
pub(super) fn app_budget_key(day: i64) -> Item {
    key("APP", format!("BUDGET#{day}"))
}

pub(super) fn login_pk(state_hash: &str) -> String {
    format!("LOGIN#{state_hash}")
}

pub(super) fn grant_pk(completion_hash: &str) -> String {
    format!("GRANT#{completion_hash}")
}

pub(super) fn seller_shop_pk(shop_id: &str) -> String {
    format!("SELLERSHOP#{shop_id}")
}

/// The pointer from a shop to one user who connected it (items written before
/// there was one per user have the sort key `SELLERSHOP`; both are read).
pub(super) fn seller_shop_key(shop_id: &str, user_id: &str) -> Item {
    key(seller_shop_pk(shop_id), user_pk(user_id))
}

pub(super) fn delivery_key(id: &str) -> Item {
    key(format!("WEBHOOK#{id}"), "WEBHOOK")
}

pub(super) fn app_key() -> Item {
    key("APP", "TIKTOK#client_token")
}

/// A cached product (`kind` `PRODUCT`) or product detail (`DETAIL`).
pub(super) fn shop_item_key(shop_id: &TikTokId, kind: &str, product_id: &TikTokId) -> Item {
    key(
        format!("SHOP#{}", shop_id.canonical()),
        format!("{kind}#{}", product_id.canonical()),
    )
}

/// `item` with `expires_at` and DynamoDB's `ttl` set to `expires_at`. The TTL
/// deletes lazily (within days), so readers check `expires_at` themselves.
pub(super) fn expiring(mut item: Item, expires_at: i64) -> Item {
    item.insert("expires_at".into(), n(expires_at));
    item.insert("ttl".into(), n(expires_at));
    item
}
