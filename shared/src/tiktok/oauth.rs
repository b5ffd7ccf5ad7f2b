//! Login Kit: the authorization URL, PKCE, and the form-encoded token calls
//! (authorization code, refresh, client credentials, revoke).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use url::Url;

use super::client::{body_for_error, json_body, rate_limited, RawResponse, TikTokClient};
use super::error::UpstreamError;
use super::model::{AppCredentials, TokenGrant};
use super::research::EnvelopeError;
use crate::redacted::{AccessToken, AuthCode, CodeVerifier, OAuthState, RefreshToken};

/// A PKCE pair: the verifier stays with us (sealed in the state record), the
/// challenge goes to TikTok in the authorization URL.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// The secret verifier, sent with the code exchange.
    pub verifier: CodeVerifier,
    /// `base64url(sha256(verifier))`, sent with `code_challenge_method=S256`.
    pub challenge: String,
}

impl Pkce {
    /// A new random verifier (43 URL-safe characters) and its S256 challenge.
    pub fn generate() -> Self {
        Self::from_verifier(CodeVerifier::new(crate::crypto::random_token(32)))
    }

    /// The challenge for a known verifier.
    pub fn from_verifier(verifier: CodeVerifier) -> Self {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose().as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// A token endpoint answer: success fields, or TikTok's OAuth error fields.
#[derive(Deserialize)]
struct RawToken {
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    log_id: Option<String>,
    #[serde(default)]
    open_id: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    refresh_expires_in: Option<serde_json::Value>,
}

fn seconds(value: Option<&serde_json::Value>) -> Option<u64> {
    match value? {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Splits TikTok's comma-separated scope list.
pub fn split_scopes(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Decodes a token endpoint answer. An `error` field is a failure whatever the
/// HTTP status (TikTok's status for these is unverified).
pub(super) fn decode_token(answer: RawResponse) -> Result<TokenGrant, UpstreamError> {
    let status = answer.status;
    let raw: RawToken = json_body(&answer, true)?;
    match raw.error {
        // The v2 envelope shape, `{"error": {"code": ...}}`, on a token endpoint.
        Some(ref error @ serde_json::Value::Object(_)) => {
            let error = EnvelopeError::read(Some(error));
            if let Some(code) = error.code.filter(|c| *c != "ok" && !c.is_empty()) {
                return Err(error.classify(code, &answer));
            }
        }
        Some(serde_json::Value::String(error)) if !error.is_empty() => {
            let description = raw.error_description.unwrap_or_default();
            return Err(match error.as_str() {
                "invalid_grant" => UpstreamError::InvalidGrant {
                    description,
                    log_id: raw.log_id,
                },
                "rate_limit_exceeded" => rate_limited(&answer.headers, raw.log_id),
                _ => UpstreamError::OAuth {
                    status,
                    error,
                    description,
                    log_id: raw.log_id,
                },
            });
        }
        _ => {}
    }
    if status == 429 {
        return Err(rate_limited(&answer.headers, raw.log_id));
    }
    if status >= 400 {
        return Err(UpstreamError::Status {
            status,
            body: body_for_error(&answer.body, true),
        });
    }
    let (Some(access_token), Some(expires_in)) =
        (raw.access_token, seconds(raw.expires_in.as_ref()))
    else {
        return Err(UpstreamError::Decode {
            status,
            body: body_for_error(&answer.body, true),
            source: serde::de::Error::custom("missing access_token or expires_in"),
        });
    };
    Ok(TokenGrant {
        open_id: raw.open_id,
        scopes: raw.scope.as_deref().map(split_scopes).unwrap_or_default(),
        access_token: AccessToken::new(access_token),
        expires_in,
        refresh_token: raw.refresh_token.map(RefreshToken::new),
        refresh_expires_in: seconds(raw.refresh_expires_in.as_ref()),
    })
}

impl TikTokClient {
    /// `TIKTOK_REDIRECT_URI`, when it is set; `None` when it is empty (each
    /// login then derives the callback URL from the API's own domain and
    /// passes it to [`TikTokClient::authorize_url`] and
    /// [`TikTokClient::exchange_code`]).
    pub fn configured_redirect_uri(&self) -> Option<&Url> {
        Some(&self.config.redirect_uri)
            .filter(|uri| uri.as_str() != crate::config::UNUSED_REDIRECT_URI)
    }

    /// The URL to send the user's browser to: `client_key`, comma-separated
    /// `scope`, `redirect_uri` (registered at TikTok, exact match), `state`,
    /// `response_type=code`, and the PKCE challenge when given.
    pub fn authorize_url(
        &self,
        client_key: &str,
        state: &OAuthState,
        pkce: Option<&Pkce>,
        redirect_uri: &Url,
    ) -> Url {
        let mut url = self.config.authorize_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("client_key", client_key)
                .append_pair("scope", &self.config.scopes.join(","))
                .append_pair("redirect_uri", redirect_uri.as_str())
                .append_pair("state", state.expose())
                .append_pair("response_type", "code");
            if let Some(pkce) = pkce {
                query
                    .append_pair("code_challenge", &pkce.challenge)
                    .append_pair("code_challenge_method", "S256");
            }
        }
        url
    }

    async fn token_call(
        &self,
        form: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<TokenGrant, UpstreamError> {
        self.execute(
            deadline,
            || self.http.post(self.config.token_url.clone()).form(form),
            decode_token,
        )
        .await
    }

    /// Exchanges an authorization code for the user's tokens; `redirect_uri`
    /// must be the one the authorization URL carried (TikTok wants an exact match).
    pub async fn exchange_code(
        &self,
        app: &AppCredentials,
        code: &AuthCode,
        verifier: Option<&CodeVerifier>,
        redirect_uri: &Url,
        deadline: Instant,
    ) -> Result<TokenGrant, UpstreamError> {
        let mut form = vec![
            ("client_key", app.client_key.as_str()),
            ("client_secret", app.client_secret.expose()),
            ("code", code.expose()),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect_uri.as_str()),
        ];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier.expose()));
        }
        self.token_call(&form, deadline).await
    }

    /// Refreshes a user's tokens. The answer's refresh token replaces the one sent,
    /// which stops working at TikTok.
    pub async fn refresh(
        &self,
        app: &AppCredentials,
        refresh_token: &RefreshToken,
        deadline: Instant,
    ) -> Result<TokenGrant, UpstreamError> {
        let form = [
            ("client_key", app.client_key.as_str()),
            ("client_secret", app.client_secret.expose()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        self.token_call(&form, deadline).await
    }

    /// Gets the app's own client-credentials token.
    pub async fn client_token(
        &self,
        app: &AppCredentials,
        deadline: Instant,
    ) -> Result<TokenGrant, UpstreamError> {
        let form = [
            ("client_key", app.client_key.as_str()),
            ("client_secret", app.client_secret.expose()),
            ("grant_type", "client_credentials"),
        ];
        self.token_call(&form, deadline).await
    }

    /// Revokes a user's access token (and with it the authorization).
    pub async fn revoke(
        &self,
        app: &AppCredentials,
        token: &AccessToken,
        deadline: Instant,
    ) -> Result<(), UpstreamError> {
        let form = [
            ("client_key", app.client_key.as_str()),
            ("client_secret", app.client_secret.expose()),
            ("token", token.expose()),
        ];
        self.execute(
            deadline,
            || self.http.post(self.config.revoke_url.clone()).form(&form),
            |answer| {
                let body: serde_json::Value =
                    serde_json::from_slice(&answer.body).unwrap_or(serde_json::Value::Null);
                let error = body.get("error");
                let failed = match error {
                    Some(serde_json::Value::String(e)) => !e.is_empty(),
                    Some(serde_json::Value::Object(o)) => o
                        .get("code")
                        .and_then(|c| c.as_str())
                        .is_some_and(|c| c != "ok"),
                    _ => false,
                };
                if failed || answer.status >= 400 {
                    // Reuse the token decoder's classification of errors.
                    return decode_token(answer).map(|_| ());
                }
                Ok(())
            },
        )
        .await
    }
}
