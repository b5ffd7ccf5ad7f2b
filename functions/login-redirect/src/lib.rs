//! `GET /auth/tiktok/login`: starts a TikTok connection for the signed-in user.
//!
//! Stores a single-use state (hashed, bound to the user, 10 minutes) and answers
//! `302` to TikTok's authorization page, or `{"authorizeUrl": ...}` to a caller
//! that sends `Accept: application/json`. An optional `returnTo` must have an
//! origin on the allow-list.
//!
//! Without `TIKTOK_REDIRECT_URI` (Login Kit), the callback URL is derived from
//! API Gateway's own `requestContext.domainName` (never the client's `Host`
//! header) as `https://<domain>/auth/tiktok/callback`, sent to TikTok and kept
//! with the state, so the callback exchanges the code with exactly that URI.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use tiktok_gateway::crypto::{random_token, sha256_hex};
use tiktok_gateway::http;
use tiktok_gateway::store::{PendingLogin, STATE_TTL_SECS};
use tiktok_gateway::tiktok::Pkce;
use tiktok_gateway::PendingAuth;
use tiktok_gateway::{AppState, Error, OAuthState};
use url::Url;

/// The Lambda handler.
pub async fn handler(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::serve(state, req, async |state, req| {
        handle(state, state.store.as_ref(), req).await
    })
    .await
}

/// Stores the login's state in `pending`, the only store it touches.
async fn handle<P: PendingAuth + ?Sized>(
    state: &AppState,
    pending: &P,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let user_id = http::user_id(req)?;
    let return_to = match http::query(req, "returnTo") {
        Some(raw) => Some(allowed_return_to(
            &raw,
            &state.config.allowed_return_origins,
        )?),
        None => None,
    };
    let secrets = state.secrets.get().await?;
    let oauth_state = OAuthState::new(random_token(32));
    let pkce = (state.config.use_pkce && state.authorization.supports_pkce()).then(Pkce::generate);
    let redirect_uri = match state.authorization.derives_redirect_uri() {
        true => Some(callback_url(req)?),
        false => None,
    };
    let login = PendingLogin {
        user_id,
        return_to,
        code_verifier: pkce.as_ref().map(|p| p.verifier.clone()),
        redirect_uri: redirect_uri.as_ref().map(|u| u.to_string()),
        expires_at: state.now() + STATE_TTL_SECS,
    };
    pending
        .put_login(&sha256_hex(oauth_state.expose()), &login)
        .await?;
    let url = state.authorization.authorize_url_via(
        &secrets,
        &oauth_state,
        pkce.as_ref(),
        redirect_uri.as_ref(),
    )?;
    if http::wants_json(req) {
        http::json(200, &serde_json::json!({ "authorizeUrl": url.as_str() }))
    } else {
        Ok(http::redirect(url.as_str()))
    }
}

/// The callback route, under the API's domain.
pub const CALLBACK_PATH: &str = "/auth/tiktok/callback";

/// `https://<requestContext.domainName>/auth/tiktok/callback`: the domain API
/// Gateway says it answered on (the default execute-api host or a custom
/// domain), not the client's `Host` header, which the caller chooses.
pub fn callback_url(req: &Request) -> Result<Url, Error> {
    let domain = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.domain_name.as_deref(),
        _ => None,
    }
    .filter(|d| {
        (1..=253).contains(&d.len())
            && d.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    })
    .ok_or_else(|| {
        Error::Internal(
            "TIKTOK_REDIRECT_URI is empty and the request has no usable \
             requestContext.domainName to derive the callback URL from"
                .into(),
        )
    })?;
    Url::parse(&format!("https://{domain}{CALLBACK_PATH}"))
        .map_err(|e| Error::Internal(format!("callback URL from the API's domain: {e}")))
}

/// `raw` if it is an absolute http(s) URL whose origin is allowed; no userinfo,
/// no open redirect.
pub fn allowed_return_to(raw: &str, allowed_origins: &[String]) -> Result<String, Error> {
    let refuse = || Error::BadRequest("returnTo must be a URL on the dshipit site".into());
    if raw.len() > 2048 || raw.chars().any(|c| c.is_control() || c == '\\') {
        return Err(refuse());
    }
    let url = Url::parse(raw).map_err(|_| refuse())?;
    let ok = matches!(url.scheme(), "https" | "http")
        && url.username().is_empty()
        && url.password().is_none()
        && url.host().is_some()
        && allowed_origins
            .iter()
            .any(|origin| *origin == url.origin().ascii_serialization());
    if ok {
        Ok(url.to_string())
    } else {
        Err(refuse())
    }
}

#[cfg(test)]
mod tests {
    use super::allowed_return_to;

    #[test]
    fn only_allowed_origins_pass() {
        let allowed = vec!["https://app.dshipit.com".to_owned()];
        assert_eq!(
            allowed_return_to("https://app.dshipit.com/research?q=1", &allowed).unwrap(),
            "https://app.dshipit.com/research?q=1"
        );
        for bad in [
            "https://evil.example.com/",
            "//evil.example.com",
            "/research",
            "javascript:alert(1)",
            "https://app.dshipit.com.evil.example.com/",
            "https://app.dshipit.com@evil.example.com/",
            "https://user@app.dshipit.com/",
            "http://app.dshipit.com/",
            "https://app.dshipit.com:8443/",
            "https:\\\\evil.example.com",
            "https://app.dshipit.com/\r\nSet-Cookie:x",
            "%68ttps://evil.example.com",
        ] {
            assert!(allowed_return_to(bad, &allowed).is_err(), "{bad}");
        }
    }
}
