//! TikTok's wire protocols: [`TikTokClient`] for TikTok's v2 API (Login Kit and
//! the Research API's TikTok Shop endpoints, `TIKTOK_API.md`) and [`shop`] for
//! the TikTok Shop Partner API. The functions reach them through the
//! [`crate::provider::Catalogue`] port, one adapter per provider; there is no
//! second port in front of the client (it had one implementation and only
//! delegated).

mod client;
pub mod creator;
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

/// Entry points for the fuzz targets in `fuzz/`: TikTok's answers decoded exactly
/// as the client decodes them, without the network. Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use super::client::RawResponse;
    use super::model::{Product, Review, Shop, TokenGrant};
    use super::UpstreamError;

    fn answer(status: u16, body: &[u8]) -> RawResponse {
        RawResponse {
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
