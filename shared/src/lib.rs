//! dshipit's gateway to TikTok: everything the Lambda functions share.
//!
//! - [`tiktok`]: [`TikTokClient`], which speaks TikTok's v2
//!   wire protocol (Login Kit OAuth, Research API shop data) with retries, a
//!   deadline and a rate limiter.
//! - [`store`]: the store's per-capability ports ([`Connections`], [`PendingAuth`],
//!   [`ProductCache`], [`AppTokens`], ...; [`TokenStore`] is all of them) with
//!   DynamoDB and in-memory adapters.
//! - [`secrets`], [`config`], [`error`], [`http`]: credentials, settings, the one
//!   error type, and API Gateway request/response helpers.
//! - [`app`]: the state each function builds once, and the shared token logic.
//! - [`product`]: the dshipit product record.
//! - [`provider`]: the [`Provider`] port the functions call, one implementation
//!   per upstream (Research API, TikTok Shop Partner API).
//! - [`refresh`]: the refresh policy, shared by the refresher and the refresh
//!   worker; [`queue`]: the fan-out queue between them.
#![warn(missing_docs)]
// No unwrap/expect outside tests; a justified start-up `expect` is allowed by name.
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod app_secrets;
pub mod aws;
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
pub mod tiktok;

pub use app::{
    boot, boot_with, init_tracing, AppState, BootError, Clock, Refresh, RequestConnection,
};
pub use app_secrets::{AppSecrets, Secrets, SecretsError};
pub use config::{Config, ConfigError, ProviderKind, TokenMode};
pub use error::Error;
pub use product::DshipitProduct;
pub use provider::{Provider, SearchRequest, SearchResult, ShopView};
pub use redacted::{AccessToken, AuthCode, ClientSecret, CodeVerifier, OAuthState, RefreshToken};
pub use store::{
    AppTokens, Connection, ConnectionActivity, ConnectionStatus, Connections, DueIndex,
    DynamoStore, MemoryStore, PendingAuth, ProductCache, StoreError, TokenStore, Tokens,
    UpstreamBudget, WebhookDeliveries,
};
pub use tiktok::{TikTokClient, TikTokId, UpstreamError};
