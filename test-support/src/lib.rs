//! Test-only helpers shared by the workspace's tests: AWS clients pointed at the
//! moto server that `scripts/test` starts, and the app secret. (The table comes
//! from `tiktok_gateway::store::create_table`.) Also the check that a request to
//! a mock Partner API is signed as received. Never a dependency of deployed code.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use base64::Engine;

mod recorder;
pub use recorder::{Failure, Recorder};
mod signed;
pub use signed::signed_as_received;

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

/// The secret's JSON with a fresh random token key `k1`.
pub fn secret_json(client_key: &str, client_secret: &str) -> String {
    secret_json_with_key(client_key, client_secret, "k1")
}

/// As [`secret_json`], with one random token key named `key_id`.
pub fn secret_json_with_key(client_key: &str, client_secret: &str, key_id: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    serde_json::json!({
        "client_key": client_key,
        "client_secret": client_secret,
        "token_keys": {key_id: key},
        "active_token_key": key_id,
    })
    .to_string()
}

/// The secret's JSON for `TIKTOK_PROVIDER=shop`: the Partner API's `app_key`
/// and `app_secret` and one fresh random token key.
pub fn shop_secret_json(app_key: &str, app_secret: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    serde_json::json!({
        "app_key": app_key,
        "app_secret": app_secret,
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

/// An API Gateway HTTP API (payload 2.0) event, as API Gateway sends it: the
/// user (if any) in the JWT authorizer's claims, a `cookie` header in the
/// event's `cookies`, `productId` taken from a product path, request id
/// `req-test-1`.
pub fn api_event(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    user: Option<&str>,
    headers: &[(&str, &str)],
) -> lambda_http::Request {
    let event = event_json(method, path, query, user, headers);
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event")
}

/// As [`api_event`], without a query and with a (text) body.
pub fn api_event_with_body(
    method: &str,
    path: &str,
    user: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> lambda_http::Request {
    let mut event = event_json(method, path, &[], user, headers);
    event["body"] = body.into();
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event")
}

fn event_json(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    user: Option<&str>,
    headers: &[(&str, &str)],
) -> serde_json::Value {
    let raw_query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    let mut all_headers: Vec<(&str, &str)> =
        vec![("host", "api.dshipit.com"), ("user-agent", "test")];
    all_headers.extend_from_slice(headers);
    let product: Vec<(&str, &str)> = path
        .strip_prefix("/api/tiktok/products/")
        .map(|id| ("productId", id))
        .into_iter()
        .collect();
    apigw_event::HttpEvent {
        method,
        path,
        raw_query: &raw_query,
        headers: &all_headers,
        path_parameters: &product,
        user,
        ..apigw_event::HttpEvent::default()
    }
    .to_json()
}
