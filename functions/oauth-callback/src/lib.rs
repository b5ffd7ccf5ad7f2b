//! `GET /auth/tiktok/callback`: where TikTok sends the browser back. The one route
//! without the JWT authorizer: the user who started the login is learned from
//! the state record, but the browser coming back may be someone else's (a login
//! link can be sent to anyone), so the callback never stores a connection.
//!
//! - TikTok reported an error (e.g. the user denied): back to the site with
//!   `tiktokError=<code>`.
//! - Missing, unknown, expired or replayed state: `400`, nothing stored.
//! - Otherwise the code is exchanged and what the exchange gave is kept as a
//!   pending grant (sealed, single use, [`GRANT_TTL_SECS`]) under the hash of a
//!   fresh random completion id, and the browser is sent to `returnTo` (or the
//!   default page) with `#tiktokCompletion=<id>` in the URL's fragment (sent to
//!   no server, in no `Referer`). The site then completes it at once with
//!   its own JWT (`POST /auth/tiktok/complete`), which stores the connection only
//!   for the user who started the login. A failure after the state was accepted
//!   goes back to the site with `tiktokError=<code>` too, since a browser is waiting.

use lambda_http::{Body, Request, Response};
use tiktok_gateway::crypto::{random_token, sha256_hex};
use tiktok_gateway::http;
use tiktok_gateway::store::{PendingGrant, PendingLogin, GRANT_TTL_SECS};
use tiktok_gateway::PendingAuth;
use tiktok_gateway::{AppState, AuthCode, Error};
use url::Url;

/// The longest code or state accepted.
const MAX_PARAM_LEN: usize = 2048;

/// The Lambda handler.
pub async fn handler(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::serve(state, req, async |state, req| {
        handle(state, state.store.as_ref(), req).await
    })
    .await
}

fn param(req: &Request, name: &str) -> Result<Option<String>, Error> {
    match http::query(req, name) {
        Some(v) if v.len() > MAX_PARAM_LEN => Err(Error::BadRequest(format!("{name} is too long"))),
        Some(v) if v.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// Consumes the login's state and keeps the grant; the only store it touches
/// is `pending` (the connection is stored by the completion step).
async fn handle<P: PendingAuth + ?Sized>(
    state: &AppState,
    pending: &P,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let oauth_state = param(req, "state")?;
    let tiktok_error = param(req, "error")?;
    let code = param(req, "code")?;
    let now = state.now();

    if let Some(error) = tiktok_error {
        // Consume the state so it cannot be used again, and learn where to go back.
        let login = match &oauth_state {
            Some(s) => pending.take_login(&sha256_hex(s), now).await?,
            None => None,
        };
        tracing::info!(tiktok_error = %sanitize(&error), "TikTok authorization failed");
        return Ok(back_to_site(
            state,
            login.as_ref(),
            &[("tiktokError", &sanitize(&error))],
        ));
    }

    let oauth_state = oauth_state.ok_or_else(|| Error::BadRequest("state is missing".into()))?;
    let code = code.ok_or_else(|| Error::BadRequest("code is missing".into()))?;
    let login = pending
        .take_login(&sha256_hex(&oauth_state), now)
        .await?
        .ok_or_else(|| Error::BadRequest("unknown, expired or already used state".into()))?;
    match connect(state, pending, req, &login, AuthCode::new(code)).await {
        Ok(completion) => {
            let mut back = site_url(state, Some(&login));
            // In the fragment: a browser sends it to no server and puts it in
            // no `Referer`, so an analytics beacon or a link on that page
            // cannot leak it.
            back.set_fragment(Some(&format!("tiktokCompletion={completion}")));
            Ok(http::redirect(back.as_str()))
        }
        Err(error) => {
            let log_id = match &error {
                Error::Upstream(e) => e.log_id(),
                _ => None,
            };
            tracing::error!(
                request_id = %http::request_id(req),
                status = error.status(),
                tiktok_log_id = log_id,
                error = %error,
                "connecting failed after a valid state"
            );
            Ok(back_to_site(
                state,
                Some(&login),
                &[("tiktokError", error.code())],
            ))
        }
    }
}

/// Exchanges the code and keeps the result as a pending grant; returns the
/// completion id the site completes it with.
async fn connect<P: PendingAuth + ?Sized>(
    state: &AppState,
    pending: &P,
    req: &Request,
    login: &PendingLogin,
    code: AuthCode,
) -> Result<String, Error> {
    // The exact callback URL the login sent to TikTok, when it derived one.
    let redirect_uri = match login.redirect_uri.as_deref() {
        Some(raw) => Some(Url::parse(raw).map_err(|e| {
            Error::Internal(format!("the login kept an unusable callback URL: {e}"))
        })?),
        None => None,
    };
    let tokens = state
        .authorization
        .connect_via(
            &code,
            login.code_verifier.as_ref(),
            redirect_uri.as_ref(),
            state.deadline(req),
        )
        .await?;
    let completion = random_token(32);
    let grant = PendingGrant {
        user_id: login.user_id.clone(),
        tokens,
        expires_at: state.now() + GRANT_TTL_SECS,
    };
    pending.put_grant(&sha256_hex(&completion), &grant).await?;
    tracing::info!(user_id = %login.user_id, "TikTok authorized; waiting for the site to complete");
    Ok(completion)
}

/// TikTok's error code, reduced to a safe token for a URL and a log.
fn sanitize(error: &str) -> String {
    let clean: String = error
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    if clean.is_empty() {
        "unknown_error".to_owned()
    } else {
        clean
    }
}

fn back_to_site(
    state: &AppState,
    login: Option<&PendingLogin>,
    params: &[(&str, &str)],
) -> Response<Body> {
    let mut url = site_url(state, login);
    url.query_pairs_mut().extend_pairs(params);
    http::redirect(url.as_str())
}

/// Where the browser goes back to: the login's `returnTo`, or the default page.
fn site_url(state: &AppState, login: Option<&PendingLogin>) -> Url {
    login
        .and_then(|l| l.return_to.as_deref())
        .and_then(|r| Url::parse(r).ok())
        .unwrap_or_else(|| state.config.default_return_url.clone())
}
