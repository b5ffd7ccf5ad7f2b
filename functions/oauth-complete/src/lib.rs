//! `POST /auth/tiktok/complete`, body `{"completion": "<id>"}`: the site, signed
//! in as the user (JWT authorizer), completes the connection the callback left
//! pending under `#tiktokCompletion=<id>` (about two minutes).
//!
//! - The pending grant is taken atomically (single use) whatever happens next.
//! - It belongs to the caller (`sub`): the connection is stored and the answer is
//!   the status object, as `GET /auth/tiktok/status` would give it.
//! - It belongs to another user (someone's login link was approved in this
//!   user's browser): `403`, the grant is gone (revoked at TikTok where the
//!   provider can) and nothing is stored for anyone.
//! - Unknown, expired or already used: `400`, nothing stored.
//!
//! Provider-neutral: it stores whatever tokens the callback's exchange produced.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use tiktok_gateway::crypto::sha256_hex;
use tiktok_gateway::http;
use tiktok_gateway::status::Status;
use tiktok_gateway::{AppState, Authorization, Error, Tokens};
use tiktok_gateway::{Connections, PendingAuth};

/// The longest completion id accepted (ours are 43 characters).
const MAX_COMPLETION_LEN: usize = 128;

/// The request body.
#[derive(Debug, Deserialize)]
struct Completion {
    completion: String,
}

/// The Lambda handler.
pub async fn handler(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::serve(state, req, async |state, req| {
        let discarded = Discarded {
            authorization: state.authorization.as_ref(),
            deadline: state.deadline(req),
        };
        complete(state.store.as_ref(), &discarded, state.now(), req).await
    })
    .await
}

fn completion_id(req: &Request) -> Result<String, Error> {
    let bad = || Error::BadRequest("the body must be {\"completion\": \"<id>\"}".into());
    let body: &[u8] = match req.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => return Err(bad()),
    };
    let Completion { completion } = serde_json::from_slice(body).map_err(|_| bad())?;
    let valid = !completion.is_empty()
        && completion.len() <= MAX_COMPLETION_LEN
        && completion
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(completion)
    } else {
        Err(Error::BadRequest(
            "unknown, expired or already used completion".into(),
        ))
    }
}

/// Where a grant that will never be completed is ended: revoked at TikTok
/// where the provider can (best effort, logged).
struct Discarded<'a> {
    authorization: &'a dyn Authorization,
    deadline: tokio::time::Instant,
}

impl Discarded<'_> {
    async fn revoke(&self, tokens: &Tokens) {
        if let Err(error) = self.authorization.revoke(tokens, self.deadline).await {
            tracing::warn!(error = %error, "could not revoke a discarded grant at TikTok");
        }
    }
}

/// Takes the pending grant and, when it is the caller's, stores it as their
/// connection: the two stores it touches are in its signature.
async fn complete<S: PendingAuth + Connections + ?Sized>(
    store: &S,
    discarded: &Discarded<'_>,
    now: i64,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let user_id = http::user_id(req)?;
    let completion = completion_id(req)?;
    let grant = store
        .take_grant(&sha256_hex(&completion), now)
        .await?
        .ok_or_else(|| Error::BadRequest("unknown, expired or already used completion".into()))?;
    if grant.user_id != user_id {
        tracing::warn!(
            user_id,
            started_by = %grant.user_id,
            "a TikTok authorization started by another user was completed here; discarded"
        );
        discarded.revoke(&grant.tokens).await;
        return Err(Error::Forbidden(
            "this TikTok authorization was started by another dshipit user; it was discarded. \
             Connect again from your own account"
                .into(),
        ));
    }
    let connection = store.put_connection(&user_id, &grant.tokens).await?;
    tracing::info!(user_id, "TikTok connected");
    http::json(200, &Status::of(Some(&connection), now))
}
