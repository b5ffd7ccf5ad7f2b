//! API Gateway HTTP API (payload 2.0) events, written the way API Gateway
//! writes them, for everything that calls a handler without API Gateway: the
//! tests (`test_support::api_event`), the bench, and the local stack. One
//! builder, so what a test sends and what the local stack sends cannot drift:
//! cookies travel in `cookies` (not a header), repeated query parameters are
//! joined with commas, header names are lower case, the JWT authorizer's claims
//! are strings, and a body that is not UTF-8 is base64 with `isBase64Encoded`.
//! It also names the functions those events go to ([`HTTP_FUNCTIONS`]).

use base64::Engine;
use serde_json::{json, Map, Value};

/// The functions API Gateway invokes (package name = binary name), in the
/// order a user meets them. The scheduled `token-refresher` and the queue's
/// `token-refresh-worker` get no HTTP events and are not here.
pub const HTTP_FUNCTIONS: &[&str] = &[
    "login-redirect",
    "oauth-callback",
    "oauth-complete",
    "disconnect",
    "connection-status",
    "search",
    "shop-lookup",
    "product-lookup",
    "tiktok-shop-webhook",
];

/// The parts of one HTTP request, as API Gateway receives it.
#[derive(Debug, Clone)]
pub struct HttpEvent<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The raw query string (without `?`).
    pub raw_query: &'a str,
    /// The route key: `$default`, or `GET /auth/tiktok/status`.
    pub route_key: &'a str,
    /// Request headers (a `cookie` header becomes the event's `cookies`).
    pub headers: &'a [(&'a str, &'a str)],
    /// Path parameters the route captured.
    pub path_parameters: &'a [(&'a str, &'a str)],
    /// The JWT authorizer's verified subject, if the route has the authorizer.
    pub user: Option<&'a str>,
    /// The authorizer's `iss` and `aud` claims.
    pub issuer: &'a str,
    /// The authorizer's `aud` claim.
    pub audience: &'a str,
    /// API Gateway's request id.
    pub request_id: &'a str,
    /// The API's domain name.
    pub domain: &'a str,
    /// The caller's address.
    pub source_ip: &'a str,
    /// When the request arrived, Unix milliseconds.
    pub time_epoch_ms: i64,
    /// The body, if any.
    pub body: Option<&'a [u8]>,
}

impl Default for HttpEvent<'_> {
    fn default() -> Self {
        Self {
            method: "GET",
            path: "/",
            raw_query: "",
            route_key: "$default",
            headers: &[],
            path_parameters: &[],
            user: None,
            issuer: "https://auth.dshipit.com",
            audience: "dshipit",
            request_id: "req-test-1",
            domain: "api.dshipit.com",
            source_ip: "203.0.113.9",
            time_epoch_ms: 1_795_575_600_000,
            body: None,
        }
    }
}

/// Percent-decoding of a query component (`+` is a space).
fn decode(raw: &str) -> String {
    let bytes = raw.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl HttpEvent<'_> {
    /// The event's JSON.
    pub fn to_json(&self) -> Value {
        let mut query: Map<String, Value> = Map::new();
        for pair in self.raw_query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (decode(k), decode(v));
            // API Gateway joins repeated parameters with commas.
            match query.get_mut(&k) {
                Some(Value::String(existing)) => {
                    existing.push(',');
                    existing.push_str(&v);
                }
                _ => {
                    query.insert(k, v.into());
                }
            }
        }
        let mut headers = Map::new();
        let mut cookies = Vec::new();
        for (name, value) in self.headers {
            if name.eq_ignore_ascii_case("cookie") {
                cookies.extend(value.split(';').map(|c| Value::from(c.trim())));
            } else {
                headers.insert(name.to_lowercase(), (*value).into());
            }
        }
        let user_agent = headers.get("user-agent").cloned().unwrap_or_default();
        let mut context = json!({
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": self.domain,
            "domainPrefix": self.domain.split('.').next().unwrap_or(self.domain),
            "http": {"method": self.method, "path": self.path, "protocol": "HTTP/1.1",
                     "sourceIp": self.source_ip, "userAgent": user_agent},
            "requestId": self.request_id,
            "routeKey": self.route_key,
            "stage": "$default",
            "timeEpoch": self.time_epoch_ms,
        });
        if let Some(user) = self.user {
            context["authorizer"] = json!({
                "jwt": {"claims": {"sub": user, "iss": self.issuer, "aud": self.audience}, "scopes": null}
            });
        }
        let mut event = json!({
            "version": "2.0",
            "routeKey": self.route_key,
            "rawPath": self.path,
            "rawQueryString": self.raw_query,
            "headers": headers,
            "requestContext": context,
            "isBase64Encoded": false,
        });
        if !query.is_empty() {
            event["queryStringParameters"] = query.into();
        }
        if !cookies.is_empty() {
            event["cookies"] = cookies.into();
        }
        if !self.path_parameters.is_empty() {
            let params: Map<String, Value> = self
                .path_parameters
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).into()))
                .collect();
            event["pathParameters"] = params.into();
        }
        match self.body.filter(|b| !b.is_empty()) {
            None => {}
            Some(body) => match std::str::from_utf8(body) {
                Ok(text) => event["body"] = text.into(),
                Err(_) => {
                    event["body"] = base64::engine::general_purpose::STANDARD
                        .encode(body)
                        .into();
                    event["isBase64Encoded"] = true.into();
                }
            },
        }
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_as_api_gateway_writes_it() {
        let event = HttpEvent {
            method: "GET",
            path: "/api/tiktok/search",
            raw_query: "shopId=1&query=a+b&query=c%26d",
            headers: &[("Cookie", "a=1; b=2"), ("User-Agent", "ua")],
            user: Some("u1"),
            body: Some(&[0xff, 0x00]),
            ..HttpEvent::default()
        }
        .to_json();
        assert_eq!(event["queryStringParameters"]["query"], "a b,c&d");
        assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(event["headers"]["user-agent"], "ua");
        assert!(event["headers"].get("cookie").is_none());
        assert_eq!(
            event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"],
            "u1"
        );
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "/wA=");
    }
}
