//! Test-only helpers shared by the workspace's tests: AWS clients pointed at the
//! moto server that `scripts/test` starts, and the table and secret exactly as
//! `template.yaml` defines them. Never a dependency of deployed code.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use base64::Engine;

/// The moto endpoint from `MOTO_ENDPOINT`. Panics, loudly, when it is not set:
/// a test that needs moto never silently skips.
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "MOTO_ENDPOINT is not set: this test needs the moto server. \
             Run the tests with `scripts/test` (it starts and stops moto), \
             or start `moto_server -H 127.0.0.1 -p 5000` and export MOTO_ENDPOINT=http://127.0.0.1:5000"
        )
    })
}

/// An AWS config for `endpoint` with fixed test credentials.
pub fn aws_config_for(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::from_keys(
                "testing", "testing", None,
            )),
        )
        .build()
}

/// An AWS config pointed at moto.
pub fn moto_config() -> SdkConfig {
    aws_config_for(&moto_endpoint())
}

/// A name no other test uses (tests share one moto server).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

/// Creates the gateway's table as `template.yaml` defines it.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    let attr = |name: &str, kind| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .unwrap()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let index = |name: &str, sort: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key("due_shard", KeyType::Hash))
            .key_schema(key(sort, KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .attribute_definitions(attr("sk", ScalarAttributeType::S))
        .attribute_definitions(attr("due_shard", ScalarAttributeType::S))
        .attribute_definitions(attr("access_expires_at", ScalarAttributeType::N))
        .attribute_definitions(attr("refresh_expires_at", ScalarAttributeType::N))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(index("access-due", "access_expires_at"))
        .global_secondary_indexes(index("refresh-due", "refresh_expires_at"))
        .send()
        .await
        .expect("create table in moto");
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("enable TTL in moto");
}

/// The secret's JSON with a fresh random token key `k1`.
pub fn secret_json(client_key: &str, client_secret: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    serde_json::json!({
        "client_key": client_key,
        "client_secret": client_secret,
        "token_keys": {"k1": key},
        "active_token_key": "k1",
    })
    .to_string()
}

/// Creates a secret holding `json`; returns its ARN.
pub async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    json: &str,
) -> String {
    client
        .create_secret()
        .name(name)
        .secret_string(json)
        .send()
        .await
        .expect("create secret in moto")
        .arn
        .expect("moto returns an ARN")
}
