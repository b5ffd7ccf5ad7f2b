//! The connection status the site sees (`GET /auth/tiktok/status`, and the
//! answer of `POST /auth/tiktok/complete`): connected or not, who the user is at
//! TikTok, what they granted, when the tokens expire, whether they must
//! reconnect. Never a token.

use serde::Serialize;

use crate::store::{Connection, ConnectionStatus};

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

fn rfc3339(unix: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

impl Status {
    /// The status of `connection` (none: never connected or disconnected) at `now`.
    pub fn of(connection: Option<&Connection>, now: i64) -> Self {
        match connection {
            None => Self {
                connected: false,
                open_id: None,
                scopes: Vec::new(),
                access_token_expires_at: None,
                refresh_token_expires_at: None,
                reconnect_required: false,
            },
            Some(c) => {
                let reconnect_required = c.status == ConnectionStatus::ReconnectRequired
                    || c.tokens.refresh_expires_at <= now;
                Self {
                    connected: !reconnect_required,
                    open_id: Some(c.tokens.open_id.clone()),
                    scopes: c.tokens.scopes.clone(),
                    access_token_expires_at: rfc3339(c.tokens.access_expires_at),
                    refresh_token_expires_at: rfc3339(c.tokens.refresh_expires_at),
                    reconnect_required,
                }
            }
        }
    }
}
