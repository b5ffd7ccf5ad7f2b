//! TikTok Shop: the Partner API's hosts (shared by the seller and creator
//! providers), the seller's `service_id` and the creator authorization page.

use url::Url;

use super::env::Env;
use super::{ConfigError, ProviderKind};

/// TikTok Shop's seller authorization page.
pub const DEFAULT_SHOP_AUTHORIZE_URL: &str = "https://services.tiktokshop.com/open/authorize";
/// TikTok Shop's token endpoint (authorization code).
pub const DEFAULT_SHOP_TOKEN_URL: &str = "https://auth.tiktok-shops.com/api/v2/token/get";
/// TikTok Shop's token endpoint (refresh).
pub const DEFAULT_SHOP_REFRESH_URL: &str = "https://auth.tiktok-shops.com/api/v2/token/refresh";
/// The host of the Partner API.
pub const DEFAULT_SHOP_API_BASE_URL: &str = "https://open-api.tiktokglobalshop.com";
/// TikTok Shop's creator authorization page (the same host for every market).
pub const DEFAULT_CREATOR_AUTHORIZE_URL: &str = "https://shop.tiktok.com/alliance/creator/auth";

/// The TikTok Shop Partner API's hosts and the app's public `service_id`.
#[derive(Debug, Clone)]
pub struct ShopConfig {
    /// Seller authorization page.
    pub authorize_url: Url,
    /// Token get (`grant_type=authorized_code`).
    pub token_url: Url,
    /// Token refresh.
    pub refresh_url: Url,
    /// Base of the signed Open API; `/product/...` paths are put under it.
    pub api_base_url: Url,
    /// The app's service id (Partner Center, public; not the app key).
    pub service_id: String,
    /// Creator authorization page (`TIKTOK_PROVIDER=creator`).
    pub creator_authorize_url: Url,
}

impl ShopConfig {
    /// Reads the section (`TIKTOK_SHOP_*`, `TIKTOK_CREATOR_*`).
    pub(super) fn read(env: &Env<'_>, provider: ProviderKind) -> Result<Self, ConfigError> {
        Ok(Self {
            authorize_url: env
                .tiktok_url("TIKTOK_SHOP_AUTHORIZE_URL", DEFAULT_SHOP_AUTHORIZE_URL)?,
            token_url: env.tiktok_url("TIKTOK_SHOP_TOKEN_URL", DEFAULT_SHOP_TOKEN_URL)?,
            refresh_url: env.tiktok_url("TIKTOK_SHOP_REFRESH_URL", DEFAULT_SHOP_REFRESH_URL)?,
            api_base_url: env.tiktok_url("TIKTOK_SHOP_API_BASE_URL", DEFAULT_SHOP_API_BASE_URL)?,
            service_id: match provider {
                ProviderKind::Shop => env.required("TIKTOK_SHOP_SERVICE_ID")?,
                ProviderKind::Research | ProviderKind::Creator => {
                    env.get("TIKTOK_SHOP_SERVICE_ID").unwrap_or_default()
                }
            },
            creator_authorize_url: env.tiktok_url(
                "TIKTOK_CREATOR_AUTHORIZE_URL",
                DEFAULT_CREATOR_AUTHORIZE_URL,
            )?,
        })
    }
}
