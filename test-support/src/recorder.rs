//! A recording proxy in front of moto: every AWS call the code under test makes
//! goes through it and is recorded as its IAM action (`dynamodb:GetItem`), so a
//! test can compare what a function really does with what the template grants.
//! It can also fail chosen actions, as a throttled or failing AWS would.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// The proxy; dropped with the test's runtime.
pub struct Recorder {
    /// Point the AWS SDK here (`aws_config_for(&recorder.endpoint)`).
    pub endpoint: String,
    calls: Arc<Mutex<Vec<String>>>,
    failing: Arc<Mutex<Vec<Rule>>>,
}

/// How a failed action is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// HTTP 400 `ThrottlingException` (the SDK retries it, then gives up).
    Throttled,
    /// HTTP 500 `InternalServerError`.
    ServerError,
}

/// Which calls to fail, and how: an action prefix and, optionally, a string
/// the request body must contain.
#[derive(Debug, Clone)]
struct Rule {
    prefix: String,
    body_contains: Option<String>,
    failure: Failure,
}

#[derive(Clone)]
struct Forward {
    upstream: String,
    http: reqwest::Client,
    calls: Arc<Mutex<Vec<String>>>,
    failing: Arc<Mutex<Vec<Rule>>>,
}

impl Recorder {
    /// Starts a proxy on 127.0.0.1 forwarding to `upstream` (moto).
    pub async fn start(upstream: &str) -> Recorder {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let failing = Arc::new(Mutex::new(Vec::new()));
        let forward = Forward {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            calls: calls.clone(),
            failing: failing.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the recording proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("local address"));
        let app = axum::Router::new().fallback(proxy).with_state(forward);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Recorder {
            endpoint,
            calls,
            failing,
        }
    }

    /// From now on, answer actions starting with `prefix` (`dynamodb:`,
    /// `dynamodb:UpdateItem`) with `failure` instead of forwarding them.
    pub fn fail(&self, prefix: &str, failure: Failure) {
        self.push_rule(prefix, None, failure);
    }

    /// As [`Recorder::fail`], only for calls whose request body contains
    /// `needle` (e.g. one shard's key in a `dynamodb:Query`).
    pub fn fail_when_body_contains(&self, prefix: &str, needle: &str, failure: Failure) {
        self.push_rule(prefix, Some(needle.to_owned()), failure);
    }

    fn push_rule(&self, prefix: &str, body_contains: Option<String>, failure: Failure) {
        self.failing.lock().expect("recorder lock").push(Rule {
            prefix: prefix.to_owned(),
            body_contains,
            failure,
        });
    }

    /// Forward everything again.
    pub fn heal(&self) {
        self.failing.lock().expect("recorder lock").clear();
    }

    /// The IAM actions recorded since the last `take`, in order.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().expect("recorder lock"))
    }
}

/// `X-Amz-Target: DynamoDB_20120810.GetItem` → `dynamodb:GetItem`.
fn action(headers: &HeaderMap) -> String {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown.unknown");
    let (service, operation) = target.split_once('.').unwrap_or(("unknown", target));
    let service = match service {
        s if s.starts_with("DynamoDB") => "dynamodb",
        "secretsmanager" => "secretsmanager",
        "AmazonSQS" => "sqs",
        other => other,
    };
    // IAM has no batch actions for SQS: a batch call needs the single one.
    let operation = match (service, operation) {
        ("sqs", "SendMessageBatch") => "SendMessage",
        ("sqs", "DeleteMessageBatch") => "DeleteMessage",
        ("sqs", "ChangeMessageVisibilityBatch") => "ChangeMessageVisibility",
        (_, operation) => operation,
    };
    format!("{service}:{operation}")
}

async fn proxy(
    axum::extract::State(forward): axum::extract::State<Forward>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let action = action(&headers);
    forward
        .calls
        .lock()
        .expect("recorder lock")
        .push(action.clone());
    let failure = forward
        .failing
        .lock()
        .expect("recorder lock")
        .iter()
        .find(|rule| {
            action.starts_with(rule.prefix.as_str())
                && rule
                    .body_contains
                    .as_deref()
                    .is_none_or(|needle| String::from_utf8_lossy(&body).contains(needle))
        })
        .map(|rule| rule.failure);
    if let Some(failure) = failure {
        let (status, kind) = match failure {
            Failure::Throttled => (StatusCode::BAD_REQUEST, "ThrottlingException"),
            Failure::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
        };
        let body = format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{kind}","message":"injected by the test"}}"#
        );
        let headers = [
            ("x-amzn-errortype", kind),
            ("content-type", "application/x-amz-json-1.1"),
        ];
        return (status, headers, body).into_response();
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = forward
        .http
        .request(method, format!("{}{path}", forward.upstream));
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    match request.body(body).send().await {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            let body = answer.bytes().await.unwrap_or_default();
            let mut response = (status, body).into_response();
            for (name, value) in &headers {
                if name != "content-length" && name != "transfer-encoding" {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            response
        }
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    }
}
