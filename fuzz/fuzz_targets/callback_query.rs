//! Any callback query string (code, state, error, scopes; unknown or odd
//! values) through the callback handler with a real state: never a panic,
//! never a 5xx, and nothing stored unless a pending login was consumed.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use tiktok_gateway::app_secrets::StaticSecret;
use tiktok_gateway::{AppState, Config, MemoryStore, Secrets};

fn world() -> &'static (tokio::runtime::Runtime, AppState) {
    static WORLD: OnceLock<(tokio::runtime::Runtime, AppState)> = OnceLock::new();
    WORLD.get_or_init(|| {
        let vars = [
            ("TABLE_NAME", "fuzz"),
            ("SECRET_ID", "fuzz"),
            ("TIKTOK_REDIRECT_URI", "https://api.dshipit.com/auth/tiktok/callback"),
            ("DEFAULT_RETURN_URL", "https://app.dshipit.com/research"),
            // Nothing listens here: a code exchange fails fast, as a TikTok outage would.
            ("TIKTOK_TOKEN_URL", "http://127.0.0.1:9/v2/oauth/token/"),
            ("UPSTREAM_BUDGET_MS", "50"),
        ];
        let config = Config::from_lookup(|name| {
            vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        })
        .expect("fuzz config");
        let secret = r#"{"client_key":"ck-fuzz","client_secret":"cs-fuzz","token_keys":{"k1":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},"active_token_key":"k1"}"#;
        let secrets = Arc::new(Secrets::new(
            Arc::new(StaticSecret(SecretString::from(secret))),
            Duration::from_secs(3600),
        ));
        let state = tiktok_gateway::boot::assemble(
            config,
            Arc::new(MemoryStore::new(1)),
            secrets,
            tiktok_gateway::clock::system_clock(),
        )
        .expect("state");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        (runtime, state)
    })
}

fuzz_target!(|raw: &str| {
    let (runtime, state) = world();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let params: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    // As a client can send it: the request line is URL-encoded (a raw NUL or
    // space never reaches API Gateway, and lambda_http panics on one).
    let raw_query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    let event = serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/auth/tiktok/callback",
        "rawQueryString": raw_query, "headers": {"host": "api.dshipit.com"},
        "queryStringParameters": params, "isBase64Encoded": false,
        "requestContext": {"http": {"method": "GET", "path": "/auth/tiktok/callback"}, "requestId": "fuzz"},
    });
    let Ok(request) = lambda_http::request::from_str(&event.to_string()) else {
        return;
    };
    let response = runtime
        .block_on(oauth_callback::handler(state, request))
        .expect("the handler answers");
    assert!(
        response.status().as_u16() < 500,
        "{raw:?} → {}",
        response.status()
    );
    let connected = runtime
        .block_on(state.store.get_connection("anyone"))
        .expect("memory store");
    assert!(connected.is_none(), "{raw:?} stored a connection");
});
