//! `GET /auth/tiktok/status`: whether the user is connected, who they are at
//! TikTok, what they granted, when the tokens expire and whether they must
//! reconnect. Never a token.

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use tiktok_gateway::http;
use tiktok_gateway::{AppState, ConnectionStatus, Error};

/// The status body.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Connected and usable.
    pub connected: bool,
    /// TikTok's user id.
    pub open_id: Option<String>,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// RFC 3339.
    pub access_token_expires_at: Option<String>,
    /// RFC 3339.
    pub refresh_token_expires_at: Option<String>,
    /// The user must connect again.
    pub reconnect_required: bool,
}

/// The Lambda handler.
pub async fn handler(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    let request_id = http::request_id(&req);
    Ok(http::respond(handle(state, &req).await, &request_id))
}

fn rfc3339(unix: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

async fn handle(state: &AppState, req: &Request) -> Result<Response<Body>, Error> {
    let user_id = http::user_id(req)?;
    let status = match state.store.get_connection(&user_id).await? {
        None => Status {
            connected: false,
            open_id: None,
            scopes: Vec::new(),
            access_token_expires_at: None,
            refresh_token_expires_at: None,
            reconnect_required: false,
        },
        Some(c) => {
            let reconnect_required = c.status == ConnectionStatus::ReconnectRequired
                || c.tokens.refresh_expires_at <= state.now();
            Status {
                connected: !reconnect_required,
                open_id: Some(c.tokens.open_id),
                scopes: c.tokens.scopes,
                access_token_expires_at: rfc3339(c.tokens.access_expires_at),
                refresh_token_expires_at: rfc3339(c.tokens.refresh_expires_at),
                reconnect_required,
            }
        }
    };
    Ok(http::json(200, &status))
}
