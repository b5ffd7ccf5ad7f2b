//! A recording proxy in front of moto: every AWS call the code under test makes
//! goes through it and is recorded as its IAM action (`dynamodb:GetItem`), so a
//! test can compare what a function really does with what the template grants.
//! It can also fail chosen actions, as a throttled or failing AWS would.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// The proxy; dropped with the test's runtime.
#[derive(Clone)]
pub struct Recorder {
    /// Point the AWS SDK here (`aws_config_for(&recorder.endpoint)`).
    pub endpoint: String,
    calls: Arc<Mutex<Vec<String>>>,
    keys: Arc<Mutex<Keys>>,
    failing: Arc<Mutex<Vec<Rule>>>,
}

/// The DynamoDB leading keys seen: since the last `take`, and those taken.
#[derive(Default)]
struct Keys {
    pending: Vec<(String, String)>,
    taken: Vec<(String, String)>,
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
    keys: Arc<Mutex<Keys>>,
    failing: Arc<Mutex<Vec<Rule>>>,
}

impl Recorder {
    /// Starts a proxy on 127.0.0.1 forwarding to `upstream` (moto).
    pub async fn start(upstream: &str) -> Recorder {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let keys = Arc::new(Mutex::new(Keys::default()));
        let failing = Arc::new(Mutex::new(Vec::new()));
        let forward = Forward {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            calls: calls.clone(),
            keys: keys.clone(),
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
            keys,
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

    /// The IAM actions recorded since the last `take`, in order. The
    /// DynamoDB leading keys recorded with them are kept for
    /// [`Recorder::taken_leading_keys`].
    pub fn take(&self) -> Vec<String> {
        let mut keys = self.keys.lock().expect("recorder lock");
        let pending = std::mem::take(&mut keys.pending);
        keys.taken.extend(pending);
        std::mem::take(&mut *self.calls.lock().expect("recorder lock"))
    }

    /// Forgets everything recorded so far (a test's set-up).
    pub fn forget(&self) {
        self.calls.lock().expect("recorder lock").clear();
        *self.keys.lock().expect("recorder lock") = Keys::default();
    }

    /// `(action, leading key)` of every DynamoDB item or partition touched by
    /// the calls `take` returned since the last `forget`: the leading key is
    /// the partition key value's prefix through its `#` (`USER#`, `APP` when
    /// it has none), as `dynamodb:LeadingKeys` conditions name them with a
    /// `*`; `index:<name>` for a query of an index.
    pub fn taken_leading_keys(&self) -> Vec<(String, String)> {
        self.keys.lock().expect("recorder lock").taken.clone()
    }
}

/// The leading-key prefix of partition key value `pk` (`USER#abc` → `USER#`).
fn key_prefix(pk: &str) -> String {
    match pk.find('#') {
        Some(at) => pk[..=at].to_owned(),
        None => pk.to_owned(),
    }
}

/// The partition keys a DynamoDB request touches (see [`Recorder::taken_leading_keys`]).
fn leading_keys(action: &str, body: &[u8]) -> Vec<String> {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let pk = |item: &serde_json::Value| item["pk"]["S"].as_str().map(key_prefix);
    match action {
        "dynamodb:GetItem" | "dynamodb:UpdateItem" | "dynamodb:DeleteItem" => {
            pk(&body["Key"]).into_iter().collect()
        }
        "dynamodb:PutItem" => pk(&body["Item"]).into_iter().collect(),
        "dynamodb:Query" => {
            if let Some(index) = body["IndexName"].as_str() {
                return vec![format!("index:{index}")];
            }
            // `pk = :v ...`: the value of :v.
            let condition = body["KeyConditionExpression"].as_str().unwrap_or_default();
            let placeholder = condition
                .split_whitespace()
                .skip_while(|t| *t != "=")
                .nth(1)
                .unwrap_or_default();
            body["ExpressionAttributeValues"][placeholder]["S"]
                .as_str()
                .map(key_prefix)
                .into_iter()
                .collect()
        }
        "dynamodb:BatchWriteItem" | "dynamodb:BatchGetItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flat_map(|tables| tables.values())
            .flat_map(|requests| match requests {
                serde_json::Value::Array(list) => list.clone(),
                other => other["Keys"].as_array().cloned().unwrap_or_default(),
            })
            .filter_map(|request| {
                pk(&request["PutRequest"]["Item"])
                    .or_else(|| pk(&request["DeleteRequest"]["Key"]))
                    .or_else(|| pk(&request))
            })
            .collect(),
        _ => Vec::new(),
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
    let keys = leading_keys(&action, &body);
    forward
        .keys
        .lock()
        .expect("recorder lock")
        .pending
        .extend(keys.into_iter().map(|k| (action.clone(), k)));
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
