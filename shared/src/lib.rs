//! dshipit's gateway to TikTok: everything the Lambda functions share.
//!
//! - [`tiktok`]: [`TikTokClient`], which speaks TikTok's v2
//!   wire protocol (Login Kit OAuth, Research API shop data) with retries, a
//!   deadline and a rate limiter.
//! - [`store`]: the store's per-capability ports ([`Connections`], [`PendingAuth`],
//!   [`ProductCache`], [`AppTokens`], ...; [`TokenStore`] is all of them) with
//!   DynamoDB and in-memory adapters.
//! - [`app_secrets`], [`config`], [`error`], [`http`]: credentials, settings, the one
//!   error type, and API Gateway request/response helpers.
//! - [`mod@boot`]: start-up, the one place everything is built; [`telemetry`]: the
//!   logs; [`app`]: the state each function builds once ([`AppState`]).
//! - [`tokens`]: usable tokens for a request ([`TokenService`],
//!   [`RequestConnection`]): refresh with race recovery, the app token, the budget.
//! - [`product`]: the dshipit product record.
//! - [`provider`]: the two ports the functions call, [`Authorization`] and
//!   [`Catalogue`], one implementation per upstream (Research API, TikTok Shop
//!   Partner API), siblings.
//! - [`clock`]: the clock and the Lambda deadline.
//! - [`refresh`]: the refresh policy, shared by the refresher and the refresh
//!   worker; [`queue`]: the fan-out queue between them.
#![warn(missing_docs)]
// No unwrap/expect outside tests; a justified start-up `expect` is allowed by name.
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod app_secrets;
pub mod aws;
pub mod boot;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
pub mod http;
pub mod product;
pub mod provider;
pub mod queue;
pub mod redacted;
pub mod refresh;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod tiktok;
pub mod tokens;

pub use app::AppState;
pub use app_secrets::{AppSecrets, Secrets, SecretsError};
pub use boot::{boot, boot_with, BootError};
pub use clock::Clock;
pub use config::{Config, ConfigError, ProviderKind, TokenMode};
pub use error::Error;
pub use product::DshipitProduct;
pub use provider::{Authorization, Catalogue, SearchRequest, SearchResult, Session, ShopView};
pub use redacted::{AccessToken, AuthCode, ClientSecret, CodeVerifier, OAuthState, RefreshToken};
/// The decimal type of prices and filters, for the functions.
pub use rust_decimal;
pub use store::{
    AppTokens, Budget, Connection, ConnectionActivity, ConnectionStatus, Connections, DueIndex,
    DynamoStore, MemoryStore, PendingAuth, ProductCache, ProductLookup, RefreshLease, StoreError,
    TokenStore, Tokens, UpstreamBudget, WebhookDeliveries,
};
pub use telemetry::init_tracing;
pub use tiktok::{TikTokClient, TikTokId, UpstreamError};
pub use tokens::{Refresh, RequestConnection, TokenService};
