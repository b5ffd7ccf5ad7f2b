//! What several benchmarks build: the TikTok emulator, the functions'
//! configuration pointed at it, moto's table and secret, the in-process states,
//! API Gateway events, and a user connected through the real OAuth flow.

use std::collections::HashMap;
use std::sync::Arc;

use lambda_http::Body;
use secrecy::SecretString;
use tiktok_emulator::{Emulator, EmulatorConfig, Knobs, RunningEmulator};
use tiktok_gateway::app_secrets::StaticSecret;
use tiktok_gateway::clock::system_clock;
use tiktok_gateway::{boot, AppState, Config, MemoryStore, Secrets};

/// A result whose error is a message for the report.
pub type Res<T> = Result<T, String>;

/// The shop the README, the emulator and the benchmarks use.
pub const SHOP_ID: &str = "7494754040961993092";

/// The redirect URI the in-process states register (nothing listens there: the
/// benchmarks carry the code back to the callback handler themselves).
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/auth/tiktok/callback";

/// The secret JSON for the emulator's app, with a fresh token key.
pub fn secret_json(emulator: &EmulatorConfig) -> String {
    test_support::secret_json(&emulator.client_key, &emulator.client_secret)
}

/// An emulator on a free port with `knobs`, its redirect URI registered.
pub async fn emulator(knobs: Knobs) -> Res<RunningEmulator> {
    Emulator::spawn(EmulatorConfig {
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        knobs,
        ..Default::default()
    })
    .await
    .map_err(|e| format!("cannot start the TikTok emulator: {e}"))
}

/// The `TIKTOK_*_URL` variables pointing at an emulator at `base`.
pub fn tiktok_urls(base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("TIKTOK_AUTHORIZE_URL", format!("{base}/v2/auth/authorize/")),
        ("TIKTOK_TOKEN_URL", format!("{base}/v2/oauth/token/")),
        ("TIKTOK_REVOKE_URL", format!("{base}/v2/oauth/revoke/")),
        ("TIKTOK_API_BASE_URL", base.to_owned()),
    ]
}

/// The functions' settings: required ones, TikTok at `tiktok_base`, then `extra`
/// (which wins). Nothing is read from this process's environment.
pub fn app_vars(
    tiktok_base: &str,
    table: &str,
    secret_id: &str,
    extra: &[(&'static str, String)],
) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("TABLE_NAME", table.to_owned()),
        ("SECRET_ID", secret_id.to_owned()),
        ("TIKTOK_REDIRECT_URI", REDIRECT_URI.to_owned()),
        (
            "DEFAULT_RETURN_URL",
            "https://app.dshipit.com/research".to_owned(),
        ),
        (
            "TIKTOK_SCOPES",
            "user.info.basic,research.data.basic".to_owned(),
        ),
        // The benchmarks measure users' own tokens (refreshes, rotations).
        ("DATA_TOKEN_MODE", "user".to_owned()),
        // One benchmark user makes thousands of calls: not held to a daily budget.
        ("USER_DAILY_UPSTREAM_CALLS", "1000000000".to_owned()),
        ("APP_DAILY_UPSTREAM_CALLS", "1000000000".to_owned()),
    ];
    vars.extend(tiktok_urls(tiktok_base));
    vars.extend(extra.iter().cloned());
    vars
}

/// A [`Config`] from `vars` only.
pub fn config(vars: &[(&'static str, String)]) -> Res<Config> {
    let map: HashMap<&str, String> = vars.iter().cloned().collect();
    Config::from_lookup(|name| map.get(name).cloned()).map_err(|e| format!("config: {e}"))
}

/// An in-process state on the memory store, the secret held in memory, TikTok
/// through the production client.
pub fn memory_state(config: Config, secret_json: String) -> Res<AppState> {
    let secrets = Arc::new(Secrets::new(
        Arc::new(StaticSecret(SecretString::from(secret_json))),
        config.secret_cache_ttl,
    ));
    let store = Arc::new(MemoryStore::new(config.due_shards));
    boot::assemble(config, store, secrets, system_clock()).map_err(|e| e.to_string())
}

/// moto's endpoint, a fresh table and a fresh secret in it.
pub struct Moto {
    /// `MOTO_ENDPOINT`.
    pub endpoint: String,
    /// AWS config pointed at moto with test credentials.
    pub aws: aws_config::SdkConfig,
    /// The table's name.
    pub table: String,
    /// The secret's ARN.
    pub secret_arn: String,
}

impl Moto {
    /// `None` when `MOTO_ENDPOINT` is not set.
    pub async fn setup(secret_json: &str) -> Res<Option<Moto>> {
        let Some(endpoint) = std::env::var("MOTO_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty())
        else {
            return Ok(None);
        };
        let aws = test_support::aws_config_for(&endpoint);
        let table = test_support::unique("bench");
        tiktok_gateway::store::create_table(&aws_sdk_dynamodb::Client::new(&aws), &table)
            .await
            .map_err(|e| format!("create the table in moto at {endpoint}: {e}"))?;
        let secrets = aws_sdk_secretsmanager::Client::new(&aws);
        let name = test_support::unique("bench-tiktok");
        let secret_arn = secrets
            .create_secret()
            .name(&name)
            .secret_string(secret_json)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "create the secret in moto at {endpoint}: {}",
                    e.into_service_error()
                )
            })?
            .arn
            .ok_or("moto returned no secret ARN")?;
        Ok(Some(Moto {
            endpoint,
            aws,
            table,
            secret_arn,
        }))
    }
}

/// A response's status and body text.
pub fn status_and_body(response: lambda_http::Response<Body>) -> (u16, String) {
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match response.into_body() {
        Body::Text(text) => text,
        Body::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        _ => String::new(),
    };
    (status, location.unwrap_or(body))
}

/// Connects `user` the way a browser does, through the handlers: the login
/// handler stores a state and answers the authorize URL; the emulator's consent
/// is approved (its code, as its decision route would mint it); the callback
/// handler exchanges the code at the emulator and keeps a pending grant; the
/// site's completion stores the connection.
pub async fn connect_user(state: &AppState, emulator: &Emulator, user: &str) -> Res<()> {
    let login = test_support::api_event(
        "GET",
        "/auth/tiktok/login",
        &[],
        Some(user),
        &[("accept", "application/json")],
    );
    let response = login_redirect::handler(state, login)
        .await
        .map_err(|e| e.to_string())?;
    let (status, body) = status_and_body(response);
    if status != 200 {
        return Err(format!("login answered {status}: {body}"));
    }
    let authorize: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let authorize = url::Url::parse(authorize["authorizeUrl"].as_str().unwrap_or_default())
        .map_err(|e| e.to_string())?;
    let param = |name: &str| {
        authorize
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let oauth_state = param("state").ok_or("the authorize URL has no state")?;
    let redirect_uri = param("redirect_uri").ok_or("the authorize URL has no redirect_uri")?;
    let code = emulator.issue_code(&redirect_uri);
    let callback = test_support::api_event(
        "GET",
        "/auth/tiktok/callback",
        &[("code", &code), ("state", &oauth_state)],
        None,
        &[],
    );
    let response = oauth_callback::handler(state, callback)
        .await
        .map_err(|e| e.to_string())?;
    let (status, location) = status_and_body(response);
    // The callback puts the completion id in the fragment: `#tiktokCompletion=`.
    let completion = url::Url::parse(&location).ok().and_then(|u| {
        url::form_urlencoded::parse(u.fragment()?.as_bytes())
            .find(|(k, _)| k == "tiktokCompletion")
            .map(|(_, v)| v.into_owned())
    });
    let Some(completion) = completion.filter(|_| status == 302) else {
        return Err(format!("callback answered {status} {location}"));
    };
    let complete = test_support::api_event_with_body(
        "POST",
        "/auth/tiktok/complete",
        Some(user),
        &[("content-type", "application/json")],
        &serde_json::json!({ "completion": completion }).to_string(),
    );
    let response = oauth_complete::handler(state, complete)
        .await
        .map_err(|e| e.to_string())?;
    let (status, body) = status_and_body(response);
    if status != 200 {
        return Err(format!("complete answered {status}: {body}"));
    }
    Ok(())
}
