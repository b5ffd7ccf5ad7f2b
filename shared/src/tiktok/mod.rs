//! The TikTok upstream: the [`Upstream`] port the functions call, and
//! [`TikTokClient`], its adapter for TikTok's v2 API (Login Kit and the Research
//! API's TikTok Shop endpoints), following `TIKTOK_API.md`.
//!
//! A second provider (the TikTok Shop Partner API) becomes a second implementation
//! of [`Upstream`]; the functions do not change.

mod client;
mod error;
mod model;
mod oauth;
mod research;
pub mod shop;

pub use client::{limiter_quota, RetryPolicy, TikTokClient};
pub use error::UpstreamError;
pub use model::{
    AppCredentials, Page, Product, Review, Shop, TikTokId, TokenGrant, PRODUCT_FIELDS,
    REVIEW_FIELDS, SHOP_FIELDS,
};
pub use oauth::{split_scopes, Pkce};
pub use research::MAX_PAGE_SIZE;

use async_trait::async_trait;
use tokio::time::Instant;
use url::Url;

use crate::secret::{AccessToken, AuthCode, CodeVerifier, OAuthState, RefreshToken};

/// What the functions need from a shop-data provider. Every call takes a
/// `deadline`: retries and rate-limiter waits stop there.
#[async_trait]
pub trait Upstream: Send + Sync {
    /// The browser URL that asks the user to authorize the app.
    fn authorize_url(&self, client_key: &str, state: &OAuthState, pkce: Option<&Pkce>) -> Url;
    /// Authorization code → the user's tokens.
    async fn exchange_code(
        &self,
        app: &AppCredentials,
        code: &AuthCode,
        verifier: Option<&CodeVerifier>,
        deadline: Instant,
    ) -> Result<TokenGrant, UpstreamError>;
    /// Refresh token → new tokens (the refresh token rotates).
    async fn refresh(
        &self,
        app: &AppCredentials,
        refresh_token: &RefreshToken,
        deadline: Instant,
    ) -> Result<TokenGrant, UpstreamError>;
    /// The app's own token.
    async fn client_token(
        &self,
        app: &AppCredentials,
        deadline: Instant,
    ) -> Result<TokenGrant, UpstreamError>;
    /// Revokes a user's access token.
    async fn revoke(
        &self,
        app: &AppCredentials,
        token: &AccessToken,
        deadline: Instant,
    ) -> Result<(), UpstreamError>;
    /// Shops by name.
    async fn shops(
        &self,
        token: &AccessToken,
        shop_name: &str,
        limit: u32,
        deadline: Instant,
    ) -> Result<Vec<Shop>, UpstreamError>;
    /// A page of a shop's products.
    async fn products(
        &self,
        token: &AccessToken,
        shop_id: &TikTokId,
        page_start: u32,
        page_size: u32,
        deadline: Instant,
    ) -> Result<Page<Product>, UpstreamError>;
    /// A page of a product's reviews.
    async fn reviews(
        &self,
        token: &AccessToken,
        product_id: &TikTokId,
        page_start: u32,
        page_size: u32,
        deadline: Instant,
    ) -> Result<Page<Review>, UpstreamError>;
}

#[async_trait]
impl Upstream for TikTokClient {
    fn authorize_url(&self, client_key: &str, state: &OAuthState, pkce: Option<&Pkce>) -> Url {
        TikTokClient::authorize_url(self, client_key, state, pkce)
    }
    async fn exchange_code(
        &self,
        app: &AppCredentials,
        code: &AuthCode,
        verifier: Option<&CodeVerifier>,
        deadline: Instant,
    ) -> Result<TokenGrant, UpstreamError> {
        TikTokClient::exchange_code(self, app, code, verifier, deadline).await
    }
    async fn refresh(
        &self,
        app: &AppCredentials,
        refresh_token: &RefreshToken,
        deadline: Instant,
    ) -> Result<TokenGrant, UpstreamError> {
        TikTokClient::refresh(self, app, refresh_token, deadline).await
    }
    async fn client_token(
        &self,
        app: &AppCredentials,
        deadline: Instant,
    ) -> Result<TokenGrant, UpstreamError> {
        TikTokClient::client_token(self, app, deadline).await
    }
    async fn revoke(
        &self,
        app: &AppCredentials,
        token: &AccessToken,
        deadline: Instant,
    ) -> Result<(), UpstreamError> {
        TikTokClient::revoke(self, app, token, deadline).await
    }
    async fn shops(
        &self,
        token: &AccessToken,
        shop_name: &str,
        limit: u32,
        deadline: Instant,
    ) -> Result<Vec<Shop>, UpstreamError> {
        TikTokClient::shops(self, token, shop_name, limit, deadline).await
    }
    async fn products(
        &self,
        token: &AccessToken,
        shop_id: &TikTokId,
        page_start: u32,
        page_size: u32,
        deadline: Instant,
    ) -> Result<Page<Product>, UpstreamError> {
        TikTokClient::products(self, token, shop_id, page_start, page_size, deadline).await
    }
    async fn reviews(
        &self,
        token: &AccessToken,
        product_id: &TikTokId,
        page_start: u32,
        page_size: u32,
        deadline: Instant,
    ) -> Result<Page<Review>, UpstreamError> {
        TikTokClient::reviews(self, token, product_id, page_start, page_size, deadline).await
    }
}

/// Entry points for the fuzz targets in `fuzz/`: TikTok's answers decoded exactly
/// as the client decodes them, without the network. Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use super::client::Answer;
    use super::model::{Product, Review, Shop, TokenGrant};
    use super::UpstreamError;

    fn answer(status: u16, body: &[u8]) -> Answer {
        Answer {
            status,
            headers: reqwest::header::HeaderMap::new(),
            body: bytes::Bytes::copy_from_slice(body),
        }
    }

    /// A token endpoint answer.
    pub fn token(status: u16, body: &[u8]) -> Result<TokenGrant, UpstreamError> {
        super::oauth::decode_token(answer(status, body))
    }

    /// A shop, product and review listing answer (all three decoders).
    #[allow(clippy::type_complexity)]
    pub fn listings(
        status: u16,
        body: &[u8],
    ) -> (
        Result<(Vec<Shop>, Option<bool>), UpstreamError>,
        Result<(Vec<Product>, Option<bool>), UpstreamError>,
        Result<(Vec<Review>, Option<bool>), UpstreamError>,
    ) {
        (
            super::research::decode_list(answer(status, body), "shop_data"),
            super::research::decode_list(answer(status, body), "product_data"),
            super::research::decode_list(answer(status, body), "review_data"),
        )
    }
}
