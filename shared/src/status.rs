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
    /// Nobody used the connection for a long time, so its tokens are no longer
    /// kept alive: it works until its refresh token expires (a use brings it
    /// back), then the user connects again (`reconnectRequired`).
    pub dormant: bool,
    /// The TikTok Shop seller and their authorized shops (Partner API only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seller: Option<Seller>,
    /// The TikTok Shop creator who connected (creator provider).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator: Option<Creator>,
}

/// A creator as the site shows them.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Creator {
    /// Username.
    pub username: String,
    /// Avatar image URL.
    pub avatar_url: Option<String>,
    /// The market whose products the creator can promote.
    pub selection_region: String,
    /// What the creator may do.
    pub permissions: Vec<String>,
}

/// A connected TikTok Shop seller, without any token or shop cipher.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Seller {
    /// The seller's name.
    pub name: String,
    /// The seller's base region.
    pub region: String,
    /// The shops the seller authorized.
    pub shops: Vec<SellerShopView>,
    /// When the seller's authorization of the app expires (RFC 3339), as
    /// TikTok's upcoming-expiration notice said.
    pub authorization_expires_at: Option<String>,
}

/// An authorized shop in the status.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SellerShopView {
    /// Id (digits).
    pub shop_id: String,
    /// Name.
    pub shop_name: String,
    /// Region code.
    pub region: String,
    /// `LOCAL` or `CROSS_BORDER`.
    pub seller_type: String,
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
                dormant: false,
                seller: None,
                creator: None,
            },
            Some(c) => {
                let reconnect_required = c.status == ConnectionStatus::ReconnectRequired
                    || c.tokens.refresh_expires_at <= now;
                let creator = c
                    .tokens
                    .account
                    .as_ref()
                    .and_then(|a| a.creator.as_ref())
                    .map(|p| Creator {
                        username: p.username.clone(),
                        avatar_url: p.avatar_url.clone(),
                        selection_region: p.selection_region.clone(),
                        permissions: p.permissions.clone(),
                    });
                let seller = c
                    .tokens
                    .account
                    .as_ref()
                    .filter(|a| a.creator.is_none())
                    .map(|a| Seller {
                        name: a.seller_name.clone(),
                        region: a.region.clone(),
                        shops: a
                            .shops
                            .iter()
                            .map(|s| SellerShopView {
                                shop_id: s.id.clone(),
                                shop_name: s.name.clone(),
                                region: s.region.clone(),
                                seller_type: s.seller_type.clone(),
                            })
                            .collect(),
                        authorization_expires_at: a.authorization_expires_at.and_then(rfc3339),
                    });
                Self {
                    connected: !reconnect_required,
                    open_id: Some(c.tokens.open_id.clone()),
                    scopes: c.tokens.scopes.clone(),
                    access_token_expires_at: rfc3339(c.tokens.access_expires_at),
                    refresh_token_expires_at: rfc3339(c.tokens.refresh_expires_at),
                    reconnect_required,
                    dormant: c.status == ConnectionStatus::Dormant,
                    seller,
                    creator,
                }
            }
        }
    }
}
