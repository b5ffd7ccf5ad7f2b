//! HTTP helpers for the API Gateway (HTTP API, payload 2.0) functions: who the user
//! is, the request id, query parameters, and the JSON responses, errors included,
//! in one format: `{"error": {"code", "message", "requestId"}}`.

use lambda_http::http::{header, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::error::Error;
use crate::tiktok::UpstreamError;

/// The dshipit user id: the `sub` claim the API Gateway JWT authorizer verified,
/// exactly as it is (one with surrounding whitespace or control characters is
/// refused, not trimmed). Nothing else on the request (query, body, headers) is
/// trusted for identity.
pub fn user_id(req: &Request) -> Result<String, Error> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get("sub"))
            // Taken as it is: a `sub` with surrounding whitespace is another
            // string than a user's id, and trimming it would make it that user.
            .filter(|sub| {
                !sub.is_empty()
                    && sub.trim() == sub.as_str()
                    && sub.len() <= 256
                    && !sub.chars().any(char::is_control)
            })
            .cloned()
            .ok_or(Error::Unauthorized),
        _ => Err(Error::Unauthorized),
    }
}

/// API Gateway's request id, or the Lambda invocation id, for the error body and logs.
pub fn request_id(req: &Request) -> String {
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() {
        if let Some(id) = ctx.request_id.as_deref().filter(|id| !id.is_empty()) {
            return id.to_owned();
        }
    }
    req.lambda_context_ref()
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "-".to_owned())
}

/// Runs `handler` for one invocation of `function` inside a `request` span
/// carrying the request id (the one in error bodies) and the function's name,
/// so every log line of the invocation can be found by its request id.
pub async fn traced<F, Fut>(function: &'static str, req: Request, handler: F) -> Fut::Output
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future,
{
    use tracing::Instrument;
    let span = tracing::info_span!("request", request_id = %request_id(&req), function);
    handler(req).instrument(span).await
}

/// A query parameter's first value.
pub fn query(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_owned)
}

/// A path parameter.
pub fn path_param(req: &Request, name: &str) -> Option<String> {
    req.path_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_owned)
}

/// Whether the caller asked for JSON (`Accept: application/json`).
pub fn wants_json(req: &Request) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/json"))
}

/// A JSON response; a body that cannot be serialized is an [`Error::Internal`]
/// (answered as a 500 with the standard error body), never an empty `200 {}`.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response<Body>, Error> {
    let body = serde_json::to_string(body)
        .map_err(|e| Error::Internal(format!("response body not serializable: {e}")))?;
    Ok(json_text(status, body))
}

fn json_text(status: u16, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// A `302 Found` to `location`.
pub fn redirect(location: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Empty)
        .unwrap_or_else(|_| error_response(&Error::BadRequest("invalid redirect".into()), "-"))
}

/// The JSON error response for `error`, logged once here: 5xx with the cause chain
/// (never a secret: error types do not carry them), 4xx at info level.
pub fn error_response(error: &Error, request_id: &str) -> Response<Body> {
    let status = error.status();
    if status >= 500 {
        let log_id = match error {
            Error::Upstream(e) => e.log_id(),
            _ => None,
        };
        match error {
            // The same refusal comes back on every call until an operator acts:
            // its cause once per container, then one short line per request.
            Error::Upstream(UpstreamError::Misconfigured { code, .. })
                if !first_report_of(code) =>
            {
                tracing::warn!(
                    request_id,
                    status,
                    tiktok_log_id = log_id,
                    tiktok_code = %code,
                    "request failed: TikTok Shop refuses the configuration (cause logged earlier)"
                );
            }
            _ => {
                tracing::error!(request_id, status, tiktok_log_id = log_id, error = %error, "request failed")
            }
        }
    } else {
        tracing::info!(request_id, status, error = %error, "request refused");
    }
    let body = serde_json::json!({
        "error": {
            "code": error.code(),
            "message": error.public_message(),
            "requestId": request_id,
        }
    });
    let mut response = json_text(status, body.to_string());
    if let Some(after) = error.retry_after() {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(after.as_secs().max(1)),
        );
    }
    response
}

/// Whether this container has not yet logged a configuration refusal with
/// TikTok Shop code `code` (and records that it now has).
fn first_report_of(code: &str) -> bool {
    static LOGGED: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<String>>> =
        std::sync::LazyLock::new(Default::default);
    LOGGED
        .lock()
        .map_or(true, |mut logged| logged.insert(code.to_owned()))
}

/// Turns a handler's result into the response (errors become JSON error responses).
pub fn respond(result: Result<Response<Body>, Error>, request_id: &str) -> Response<Body> {
    result.unwrap_or_else(|error| error_response(&error, request_id))
}

/// A function's Lambda handler around its `handle`: runs it on `req` and turns
/// an error into the standard JSON error body carrying the request id.
pub async fn serve<S: ?Sized>(
    state: &S,
    req: Request,
    handle: impl AsyncFnOnce(&S, &Request) -> Result<Response<Body>, Error>,
) -> Result<Response<Body>, lambda_http::Error> {
    let result = handle(state, &req).await;
    Ok(respond(result, &request_id(&req)))
}

/// A required TikTok id (digits only) from `value`, named `name` in the error.
pub fn id_param(value: Option<String>, name: &str) -> Result<crate::tiktok::TikTokId, Error> {
    let value = value.ok_or_else(|| Error::BadRequest(format!("{name} is required")))?;
    crate::tiktok::TikTokId::parse(value.trim())
        .ok_or_else(|| Error::BadRequest(format!("{name} must be a TikTok id (digits only)")))
}

/// A whole-number query parameter within `min..=max`, `default` when absent.
pub fn number_param(
    req: &Request,
    name: &str,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, Error> {
    match query(req, name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                Error::BadRequest(format!("{name} must be a whole number from {min} to {max}"))
            }),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_log_line_inside_a_request_carries_its_request_id_and_function() {
        let captured = Captured::default();
        let writer = captured.clone();
        let _guard =
            tracing::subscriber::set_default(crate::telemetry::log_subscriber("info", move || {
                writer.clone()
            }));
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/api/tiktok/search",
            "rawQueryString": "", "headers": {"host": "api.dshipit.com"}, "isBase64Encoded": false,
            "requestContext": {"http": {"method": "GET", "path": "/api/tiktok/search"},
                               "requestId": "req-span-7", "accountId": "1", "apiId": "a",
                               "domainName": "api.dshipit.com", "stage": "$default",
                               "routeKey": "$default", "timeEpoch": 0},
        });
        let req = lambda_http::request::from_str(&event.to_string()).unwrap();
        traced("search", req, |req| async move {
            // Deep inside the handler: the error log line of a refused request.
            respond(user_id(&req).map(|_| Response::new(Body::Empty)), "-")
        })
        .await;
        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line = logs
            .lines()
            .find(|l| l.contains("request refused"))
            .unwrap_or_else(|| panic!("no log line: {logs}"));
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(line["span"]["request_id"], "req-span-7", "{line}");
        assert_eq!(line["span"]["function"], "search", "{line}");
    }

    #[test]
    fn a_configuration_refusal_is_logged_with_its_cause_once_per_container() {
        let captured = Captured::default();
        let writer = captured.clone();
        let _guard =
            tracing::subscriber::set_default(crate::telemetry::log_subscriber("info", move || {
                writer.clone()
            }));
        let refusal = || {
            Error::Upstream(crate::tiktok::UpstreamError::Misconfigured {
                code: "36009033".into(),
                message: "IP not in allow-list cause-detail".into(),
                log_id: Some("tts-req-1".into()),
            })
        };
        let answers: Vec<_> = ["req-a", "req-b", "req-c"]
            .iter()
            .map(|id| error_response(&refusal(), id))
            .collect();
        // Every caller is answered 502 with an operator-actionable message.
        for answer in &answers {
            assert_eq!(answer.status(), 502);
            assert!(body(answer)["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("36009033") && m.contains("allow-list")));
        }
        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let with_cause = logs.matches("cause-detail").count();
        assert_eq!(with_cause, 1, "the cause is logged once: {logs}");
        for id in ["req-a", "req-b", "req-c"] {
            assert!(
                logs.contains(id),
                "every failed request still has its line: {logs}"
            );
        }
    }

    /// A value whose serialization fails (as a map with non-string keys would).
    struct Unserializable;

    impl Serialize for Unserializable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("cannot serialize"))
        }
    }

    fn body(response: &Response<Body>) -> serde_json::Value {
        match response.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap(),
            other => panic!("a text body, got {other:?}"),
        }
    }

    #[test]
    fn a_body_that_cannot_be_serialized_is_a_500_with_the_standard_error_body() {
        let response = respond(json(200, &Unserializable), "req-9");
        assert_eq!(response.status(), 500);
        let body = body(&response);
        assert_eq!(body["error"]["code"], "internal", "{body}");
        assert_eq!(body["error"]["requestId"], "req-9", "{body}");

        assert!(body["error"]["message"].is_string(), "{body}");
    }
}
