//! Test-only helpers shared by the workspace's tests: AWS clients pointed at the
//! moto server that `scripts/test` starts, and the app secret. (The table comes
//! from `tiktok_gateway::store::create_table`.) Never a dependency of deployed code.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use base64::Engine;

mod recorder;
pub use recorder::{Failure, Recorder};

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
    let mut params = serde_json::Map::new();
    for (k, v) in query {
        params.insert((*k).into(), (*v).into());
    }
    let mut header_map = serde_json::Map::from_iter([
        ("host".to_owned(), "api.dshipit.com".into()),
        ("user-agent".to_owned(), "test".into()),
    ]);
    // API Gateway (payload 2.0) hands cookies over in `cookies`, not as a header.
    let mut cookies = Vec::new();
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("cookie") {
            cookies.extend(v.split(';').map(|c| serde_json::Value::from(c.trim())));
        } else {
            header_map.insert(k.to_lowercase(), (*v).into());
        }
    }
    let mut context = serde_json::json!({
        "accountId": "123456789012",
        "apiId": "api",
        "domainName": "api.dshipit.com",
        "domainPrefix": "api",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "test"},
        "requestId": "req-test-1",
        "routeKey": "$default",
        "stage": "$default",
        "time": "25/Nov/2026:03:00:00 +0000",
        "timeEpoch": 1795575600000i64,
    });
    if let Some(user) = user {
        context["authorizer"] = serde_json::json!({
            "jwt": {"claims": {"sub": user, "iss": "https://auth.dshipit.com", "aud": "dshipit"}, "scopes": null}
        });
    }
    let mut event = serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": header_map,
        "requestContext": context,
        "isBase64Encoded": false,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = params.into();
    }
    if !cookies.is_empty() {
        event["cookies"] = cookies.into();
    }
    if let Some(id) = path.strip_prefix("/api/tiktok/products/") {
        event["pathParameters"] = serde_json::json!({ "productId": id });
    }
    event
}
