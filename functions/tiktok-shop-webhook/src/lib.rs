//! `POST /webhooks/tiktok-shop`: TikTok Shop's notifications (`TIKTOK_SHOP_API.md` §8).
//!
//! No JWT authorizer: the `Authorization` header is the authentication, the
//! HMAC-SHA256 of `app_key` + the raw body keyed with the app secret, compared
//! in constant time; a bad or missing one is `401` and changes nothing. Bodies
//! over 64 KiB are refused unread. The signed body's `timestamp` must be within
//! [`MAX_AGE_SECS`] past and [`MAX_AHEAD_SECS`] ahead of now (`400` otherwise,
//! nothing changed): a captured delivery cannot be replayed later. Deliveries
//! are retried by TikTok, so each `tts_notification_id` is claimed with one
//! conditional write before anything is done (a replay or a concurrent copy is
//! acknowledged and does nothing; a claim whose action failed is given back so
//! TikTok's retry is acted on). A deauthorization or expiry notice older than
//! the connection it would act on (sent before the tokens it names were
//! issued: the seller authorized again since) is ignored.
//!
//! - Type 6 (`SELLER_DEAUTHORIZATION`): the seller removed the app; the
//!   connection of every user who connected that shop ends: one conditional write
//!   removes its tokens and marks it "reconnect required" (no token is read or
//!   opened, so no token key is used).
//! - Type 7 (`UPCOMING_AUTHORIZATION_EXPIRATION`): the authorization's expiry
//!   (`data.expiration_time`) is recorded and shown in the status: that one
//!   attribute, only on an active connection, never the status or the due
//!   index (an ended or dormant connection is not revived).
//! - Any other type is acknowledged and ignored.
//!
//! Webhooks are not guaranteed: the polling side (refresh, reconnect on a
//! refused refresh token) stays correct without them.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use tiktok_gateway::tiktok::shop::verify_webhook;
use tiktok_gateway::{http, AppState, Error};
use tiktok_gateway::{Connections, WebhookDeliveries};

/// The largest body read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a handled delivery is remembered (TikTok retries for less).
pub const DEDUPE_SECS: i64 = 7 * 86_400;

/// Seller deauthorization.
pub const SELLER_DEAUTHORIZATION: i64 = 6;
/// Upcoming authorization expiration.
pub const UPCOMING_AUTHORIZATION_EXPIRATION: i64 = 7;

/// How old a delivery's `timestamp` may be.
pub const MAX_AGE_SECS: i64 = 300;

/// How far ahead of our clock a delivery's `timestamp` may be.
pub const MAX_AHEAD_SECS: i64 = 60;

/// A notification as TikTok sends it.
#[derive(Debug, Deserialize)]
pub struct Notification {
    /// The event type.
    #[serde(rename = "type")]
    pub kind: i64,
    /// TikTok's delivery id (the same on every retry).
    #[serde(deserialize_with = "text")]
    pub tts_notification_id: String,
    /// The shop it is about.
    #[serde(default, deserialize_with = "text")]
    pub shop_id: String,
    /// When TikTok sent it (Unix seconds; covered by the signature).
    #[serde(default, deserialize_with = "unix_time")]
    pub timestamp: Option<i64>,
    /// Type-specific data.
    #[serde(default)]
    pub data: serde_json::Value,
}

fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        _ => Err(serde::de::Error::custom("expected a string or a number")),
    }
}

fn unix_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Number(n) => n.as_i64(),
        _ => None,
    })
}

/// The Lambda handler.
pub async fn handler(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::serve(state, req, async |state, req| {
        handle(state, state.store.as_ref(), req).await
    })
    .await
}

/// Verifies and applies one delivery: `store` is touched as the delivery log
/// and the connections, nothing else.
async fn handle<S: WebhookDeliveries + Connections + ?Sized>(
    state: &AppState,
    store: &S,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let body: &[u8] = match req.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::BadRequest(format!(
            "the body is larger than {MAX_BODY_BYTES} bytes"
        )));
    }
    let signature = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let secrets = state.secrets.get().await?;
    let Some(app) = secrets.shop_credentials.as_ref() else {
        tracing::error!("a TikTok Shop webhook arrived but the secret has no app_key/app_secret");
        return Err(Error::BadSignature);
    };
    if !verify_webhook(&app.client_key, app.client_secret.expose(), body, signature) {
        tracing::warn!(
            bytes = body.len(),
            "TikTok Shop webhook with a bad or missing signature"
        );
        return Err(Error::BadSignature);
    }
    let not_one = || Error::BadRequest("not a TikTok Shop notification".into());
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| not_one())?;
    if !value.is_object() {
        return Err(not_one());
    }
    let note = Notification::deserialize(value).map_err(|_| not_one())?;
    if note.tts_notification_id.is_empty() || note.tts_notification_id.len() > 128 {
        return Err(Error::BadRequest("tts_notification_id is missing".into()));
    }
    let now = state.now();
    let sent_at = match note.timestamp {
        Some(at) if (now - MAX_AGE_SECS..=now + MAX_AHEAD_SECS).contains(&at) => at,
        _ => {
            tracing::warn!(timestamp = note.timestamp, now, id = %note.tts_notification_id,
                "TikTok Shop webhook outside the timestamp window; refused");
            return Err(Error::BadRequest(format!(
                "the delivery's timestamp is missing or outside the accepted window \
                 ({MAX_AGE_SECS} s past, {MAX_AHEAD_SECS} s ahead)"
            )));
        }
    };
    let expiry = match note.kind {
        UPCOMING_AUTHORIZATION_EXPIRATION => match expiration(&note.data) {
            Some(at) => Some(at),
            None => {
                return Err(Error::BadRequest(
                    "data.expiration_time is not a Unix time".into(),
                ))
            }
        },
        _ => None,
    };
    let id = &note.tts_notification_id;
    if !store.claim_delivery(id, now, now + DEDUPE_SECS).await? {
        tracing::info!(%id, "webhook already handled");
        return http::json(200, &serde_json::json!({ "received": true }));
    }
    let acted = match (note.kind, expiry) {
        (SELLER_DEAUTHORIZATION, _) => deauthorize(store, &note.shop_id, sent_at).await,
        (_, Some(at)) => record_expiry(store, &note.shop_id, at, sent_at).await,
        (kind, None) => {
            tracing::info!(kind, "TikTok Shop webhook type not handled; acknowledged");
            Ok(())
        }
    };
    if let Err(error) = acted {
        // TikTok retries a failed delivery: let the retry act.
        if let Err(e) = store.release_delivery(id, now).await {
            tracing::warn!(error = %e, "could not give a webhook claim back");
        }
        return Err(error);
    }
    tracing::info!(kind = note.kind, id = %note.tts_notification_id, "webhook handled");
    http::json(200, &serde_json::json!({ "received": true }))
}

/// `data.expiration_time`: Unix seconds as a string, or a number.
fn expiration(data: &serde_json::Value) -> Option<i64> {
    match data.get("expiration_time")? {
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// Every user who connected `shop_id`, as the shop's pointers say (each
/// write below checks the connection still covers it).
async fn owners<C: Connections + ?Sized>(
    connections: &C,
    shop_id: &str,
) -> Result<Vec<String>, Error> {
    let users = connections.users_of_shop(shop_id).await?;
    if users.is_empty() {
        tracing::info!(shop_id, "webhook for a shop no user connected");
    }
    Ok(users)
}

/// Ends the connection: one conditional write removes the tokens and marks it
/// "reconnect required" (nothing is read or opened first).
async fn deauthorize<C: Connections + ?Sized>(
    connections: &C,
    shop_id: &str,
    sent_at: i64,
) -> Result<(), Error> {
    for user in owners(connections, shop_id).await? {
        if connections
            .end_seller_authorization(&user, shop_id, sent_at)
            .await?
        {
            tracing::warn!(user_id = %user, shop_id, "the seller deauthorized the app; connection ended");
        } else {
            tracing::info!(user_id = %user, shop_id, sent_at,
                "deauthorization ignored: already ended, another shop's, or older than the connection");
        }
    }
    Ok(())
}

/// Records when the seller's authorization expires: that attribute only, and
/// only on an active connection (one conditional write).
async fn record_expiry<C: Connections + ?Sized>(
    connections: &C,
    shop_id: &str,
    at: i64,
    sent_at: i64,
) -> Result<(), Error> {
    for user in owners(connections, shop_id).await? {
        if connections
            .record_authorization_expiry(&user, shop_id, at, sent_at)
            .await?
        {
            tracing::info!(user_id = %user, shop_id, expires_at = at, "seller authorization expires soon");
        } else {
            tracing::info!(user_id = %user, shop_id, sent_at,
                "expiry notice ignored: connection not active, another shop's, or newer than the notice");
        }
    }
    Ok(())
}
