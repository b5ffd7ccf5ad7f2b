//! Login Kit and the Research API: hosts, the redirect URI, scopes, and the
//! client's rate and timeouts.

use std::num::NonZeroU32;
use std::time::Duration;

use url::Url;

use super::env::Env;
use super::ConfigError;

/// TikTok's current (v2) authorization page.
pub const DEFAULT_AUTHORIZE_URL: &str = "https://www.tiktok.com/v2/auth/authorize/";
/// TikTok's v2 token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://open.tiktokapis.com/v2/oauth/token/";
/// TikTok's v2 revoke endpoint.
pub const DEFAULT_REVOKE_URL: &str = "https://open.tiktokapis.com/v2/oauth/revoke/";
/// The host of TikTok's v2 data API.
pub const DEFAULT_API_BASE_URL: &str = "https://open.tiktokapis.com";

/// What `redirect_uri` holds without `TIKTOK_REDIRECT_URI`: never sent
/// anywhere (shop and creator send none; research derives one per login).
pub const UNUSED_REDIRECT_URI: &str = "https://localhost/redirect-uri-unused";

/// Everything the TikTok client needs besides credentials.
#[derive(Debug, Clone)]
pub struct TikTokConfig {
    /// Browser authorization page.
    pub authorize_url: Url,
    /// Token endpoint (all grants).
    pub token_url: Url,
    /// Revoke endpoint.
    pub revoke_url: Url,
    /// Base of the data API; `/v2/research/...` paths are joined to it.
    pub api_base_url: Url,
    /// The registered redirect URI (exact match at TikTok).
    pub redirect_uri: Url,
    /// Scopes to ask the user for.
    pub scopes: Vec<String>,
    /// Upstream calls per second this process may make.
    pub rate_per_sec: NonZeroU32,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of one attempt.
    pub request_timeout: Duration,
}

impl TikTokConfig {
    /// Reads the section (`TIKTOK_*`, `UPSTREAM_*`).
    pub(super) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            authorize_url: env.tiktok_url("TIKTOK_AUTHORIZE_URL", DEFAULT_AUTHORIZE_URL)?,
            token_url: env.tiktok_url("TIKTOK_TOKEN_URL", DEFAULT_TOKEN_URL)?,
            revoke_url: env.tiktok_url("TIKTOK_REVOKE_URL", DEFAULT_REVOKE_URL)?,
            api_base_url: env.tiktok_url("TIKTOK_API_BASE_URL", DEFAULT_API_BASE_URL)?,
            // Only Login Kit sends a redirect URI; TikTok Shop's is fixed in
            // Partner Center, so shop and creator deployments may leave it empty.
            // Empty for research: each login derives it from the API's domain.
            redirect_uri: match env.get("TIKTOK_REDIRECT_URI") {
                None => Url::parse(UNUSED_REDIRECT_URI)
                    .map_err(|_| ConfigError::Missing("TIKTOK_REDIRECT_URI"))?,
                Some(_) => env.redirect_uri("TIKTOK_REDIRECT_URI")?,
            },
            scopes: env
                .list("TIKTOK_SCOPES")
                .unwrap_or_else(|| vec!["user.info.basic".to_owned()]),
            rate_per_sec: env.number("UPSTREAM_RATE_PER_SEC", 50)?,
            connect_timeout: env.millis("UPSTREAM_CONNECT_TIMEOUT_MS", 2_000)?,
            request_timeout: env.millis("UPSTREAM_REQUEST_TIMEOUT_MS", 5_000)?,
        })
    }
}
