//! The raw event never reaches the logs, even at `RUST_LOG=trace`: an API
//! Gateway event carrying a JWT, an OAuth code and a state is driven through
//! the real Lambda runtime (`lambda_http::run`, polling a Runtime API played by
//! wiremock, as Lambda's own would serve it) into a function, with the
//! production log format; then the captured logs are searched for those values.
//! `lambda_runtime` logs every raw event at trace level, so it is capped like
//! the AWS SDK.

#[path = "common/capture.rs"]
mod capture;
#[path = "api/harness.rs"]
#[allow(dead_code, unused_imports, unused_macros)]
mod harness;

use std::time::Duration;

use capture::{capture_logs_at_trace_level, random};
use harness::*;
use lambda_http::{run, service_fn};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn the_runtime_does_not_log_the_raw_event_at_trace_level() {
    let captured = capture_logs_at_trace_level();

    let (jwt, code, state) = (
        format!("eyJhbGciOiJSUzI1NiJ9.{}.sig", random()),
        format!("code-{}", random()),
        random(),
    );
    let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(events.join("oauth-callback-ok.json")).unwrap(),
    )
    .unwrap();
    event["headers"]["authorization"] = format!("Bearer {jwt}").into();
    event["queryStringParameters"]["code"] = code.clone().into();
    event["queryStringParameters"]["state"] = state.clone().into();
    event["rawQueryString"] = format!("code={code}&state={state}").into();

    // Lambda's Runtime API: one invocation, then nothing more.
    let runtime_api = MockServer::start().await;
    let deadline_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 10_000;
    Mock::given(method("GET"))
        .and(path("/2018-06-01/runtime/invocation/next"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("lambda-runtime-aws-request-id", "req-runtime-1")
                .insert_header(
                    "lambda-runtime-deadline-ms",
                    deadline_ms.to_string().as_str(),
                )
                .insert_header(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:oauth-callback",
                )
                .insert_header(
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000",
                )
                .set_body_json(&event),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&runtime_api)
        .await;
    Mock::given(method("GET"))
        .and(path("/2018-06-01/runtime/invocation/next"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3600)))
        .with_priority(2)
        .mount(&runtime_api)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(
            "^/2018-06-01/runtime/invocation/.+/(response|error)$",
        ))
        .respond_with(ResponseTemplate::new(202))
        .mount(&runtime_api)
        .await;
    for (name, value) in [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.uri()),
        ("AWS_LAMBDA_FUNCTION_NAME", "oauth-callback".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
    ] {
        std::env::set_var(name, value);
    }

    let h = Harness::memory(&[]).await;
    let state_ref = &h.state;
    let runtime = run(service_fn(|req| oauth_callback::handler(state_ref, req)));
    let answered = async {
        loop {
            let requests = runtime_api.received_requests().await.unwrap_or_default();
            if let Some(answer) = requests.iter().find(|r| r.method.as_str() == "POST") {
                return (
                    answer.url.path().to_owned(),
                    String::from_utf8_lossy(&answer.body).into_owned(),
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (answer_path, answer) = tokio::select! {
        result = runtime => panic!("the runtime stopped: {result:?}"),
        answer = tokio::time::timeout(Duration::from_secs(20), answered) => answer.expect("the function answered"),
    };
    assert!(
        answer_path.ends_with("/req-runtime-1/response"),
        "{answer_path}"
    );
    assert!(
        answer.contains("400"),
        "an unknown state is refused: {answer}"
    );

    let logs = captured.text();
    assert!(
        logs.contains("req-runtime-1") || logs.lines().count() > 0,
        "the invocation logged"
    );
    for secret in [&jwt, &code, &state] {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret ({} chars) is in the logs:\n{logs}",
            secret.len()
        );
    }
}
