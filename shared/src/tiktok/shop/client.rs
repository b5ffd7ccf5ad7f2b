//! [`ShopClient`]: the Partner API over the gateway's one execution path
//! (rate limiter, retries, deadline). Token calls are unsigned GETs carrying
//! the app secret in the query string, so no URL is ever logged or kept in an
//! error; every other call is signed by [`super::sign::sign_request`] over the
//! exact bytes it sends.

use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use super::model::{
    AuthorizedShop, ProductDetail, ProductPage, RawGrant, SearchData, ShopGrant, ShopsData,
};
use super::sign::sign_request;
use crate::clock::Clock;
use crate::config::ShopConfig;
use crate::redacted::{AccessToken, AuthCode, OAuthState, RefreshToken};
use crate::tiktok::client::{body_for_error, json_body, rate_limited, RawResponse};
use crate::tiktok::{AppCredentials, TikTokClient, TikTokId, UpstreamError};

/// The most products Search Products returns per page.
pub const MAX_SEARCH_PAGE_SIZE: u32 = 100;

/// The header carrying the seller's access token.
pub const ACCESS_TOKEN_HEADER: &str = "x-tts-access-token";

/// Get Authorized Shops.
pub const SHOPS_PATH: &str = "/authorization/202309/shops";
/// Search Products.
pub const SEARCH_PATH: &str = "/product/202502/products/search";
/// Get Product, without the id.
pub const PRODUCT_PATH: &str = "/product/202309/products/";

/// A client for the TikTok Shop Partner API. Cheap to clone.
#[derive(Clone)]
pub struct ShopClient {
    exec: TikTokClient,
    config: Arc<ShopConfig>,
    clock: Clock,
}

impl std::fmt::Debug for ShopClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ShopClient {
    /// A client sending through `exec` (its HTTP client, rate limiter and
    /// retry policy) to the hosts in `config`, timestamps from the wall clock.
    pub fn new(exec: TikTokClient, config: ShopConfig) -> Self {
        Self {
            exec,
            config: Arc::new(config),
            clock: crate::clock::system_clock(),
        }
    }

    /// The same with another clock (Unix seconds) for `timestamp`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The seller authorization page: `service_id` and `state`; there is no
    /// `redirect_uri` (it is fixed in Partner Center).
    pub fn authorize_url(&self, state: &OAuthState) -> Url {
        let mut url = self.config.authorize_url.clone();
        url.query_pairs_mut()
            .append_pair("service_id", &self.config.service_id)
            .append_pair("state", state.expose());
        url
    }

    /// Exchanges a seller's authorization code (`grant_type=authorized_code`).
    pub async fn get_token(
        &self,
        app: &AppCredentials,
        code: &AuthCode,
        deadline: Instant,
    ) -> Result<ShopGrant, UpstreamError> {
        let query = [
            ("app_key", app.client_key.as_str()),
            ("app_secret", app.client_secret.expose()),
            ("auth_code", code.expose()),
            ("grant_type", "authorized_code"),
        ];
        self.token_call(&self.config.token_url, &query, deadline)
            .await
    }

    /// The creator authorization page: `app_key` and `state`; no `service_id`
    /// and no `redirect_uri` (fixed in Partner Center).
    pub fn creator_authorize_url(&self, app_key: &str, state: &OAuthState) -> Url {
        let mut url = self.config.creator_authorize_url.clone();
        url.query_pairs_mut()
            .append_pair("app_key", app_key)
            .append_pair("state", state.expose());
        url
    }

    /// Refreshes a seller's tokens; the answer's refresh token replaces the one sent.
    pub async fn refresh_token(
        &self,
        app: &AppCredentials,
        refresh_token: &RefreshToken,
        deadline: Instant,
    ) -> Result<ShopGrant, UpstreamError> {
        let query = [
            ("app_key", app.client_key.as_str()),
            ("app_secret", app.client_secret.expose()),
            ("refresh_token", refresh_token.expose()),
            ("grant_type", "refresh_token"),
        ];
        self.token_call(&self.config.refresh_url, &query, deadline)
            .await
    }

    async fn token_call(
        &self,
        endpoint: &Url,
        query: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<ShopGrant, UpstreamError> {
        let mut url = endpoint.clone();
        url.query_pairs_mut().extend_pairs(query);
        self.exec
            .execute(
                deadline,
                || self.exec.http.get(url.clone()),
                |answer| {
                    let raw: RawGrant = decode_envelope(answer, true)?;
                    grant(raw)
                },
            )
            .await
    }

    /// The shops the seller authorized the app for (no `shop_cipher`).
    pub async fn authorized_shops(
        &self,
        app: &AppCredentials,
        token: &AccessToken,
        deadline: Instant,
    ) -> Result<Vec<AuthorizedShop>, UpstreamError> {
        let data: ShopsData = self
            .signed(Method::GET, SHOPS_PATH, app, token, &[], None, deadline)
            .await?;
        Ok(data.shops)
    }

    /// One page of a shop's active products (`page_size` 1 to 100; `page_token`
    /// from the previous page, `None` for the first).
    pub async fn search_products(
        &self,
        app: &AppCredentials,
        token: &AccessToken,
        cipher: &str,
        page_size: u32,
        page_token: Option<&str>,
        deadline: Instant,
    ) -> Result<ProductPage, UpstreamError> {
        let page_size = page_size.clamp(1, MAX_SEARCH_PAGE_SIZE).to_string();
        let mut query = vec![("page_size", page_size.as_str()), ("shop_cipher", cipher)];
        if let Some(page_token) = page_token.filter(|t| !t.is_empty()) {
            query.push(("page_token", page_token));
        }
        // Serialized once: these bytes are signed and sent.
        let body = Bytes::from_static(br#"{"status":"ACTIVATE"}"#);
        let data: SearchData = self
            .signed(
                Method::POST,
                SEARCH_PATH,
                app,
                token,
                &query,
                Some(body),
                deadline,
            )
            .await?;
        Ok(ProductPage {
            products: data.products,
            total_count: data.total_count.and_then(|n| u64::try_from(n).ok()),
            next_page_token: data.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    /// One product of a shop.
    pub async fn get_product(
        &self,
        app: &AppCredentials,
        token: &AccessToken,
        cipher: &str,
        product_id: &TikTokId,
        deadline: Instant,
    ) -> Result<ProductDetail, UpstreamError> {
        let path = format!("{PRODUCT_PATH}{product_id}");
        self.signed(
            Method::GET,
            &path,
            app,
            token,
            &[("shop_cipher", cipher)],
            None,
            deadline,
        )
        .await
    }

    /// A signed call: `app_key`, `timestamp` (from the clock, per attempt) and
    /// `sign` added to `query`, the access token in its header, `body` sent
    /// exactly as signed, the envelope checked and `data` decoded.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn signed<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        app: &AppCredentials,
        token: &AccessToken,
        query: &[(&str, &str)],
        body: Option<Bytes>,
        deadline: Instant,
    ) -> Result<T, UpstreamError> {
        let base = endpoint_url(&self.config.api_base_url, path);
        let secret = app.client_secret.expose();
        let make = || {
            let timestamp = (self.clock)().to_string();
            let mut params: Vec<(&str, &str)> = query.to_vec();
            params.push(("app_key", app.client_key.as_str()));
            params.push(("timestamp", timestamp.as_str()));
            params.retain(|(_, v)| !v.is_empty());
            let sign = sign_request(secret, path, &params, body.as_deref());
            let mut url = base.clone();
            url.query_pairs_mut()
                .extend_pairs(&params)
                .append_pair("sign", &sign);
            let request = self
                .exec
                .http
                .request(method.clone(), url)
                .header(ACCESS_TOKEN_HEADER, token.expose())
                .header(CONTENT_TYPE, "application/json");
            match &body {
                Some(bytes) => request.body(bytes.clone()),
                None => request,
            }
        };
        self.exec
            .execute(deadline, make, |answer| decode_envelope(answer, false))
            .await
    }
}

/// Checks the `{code, message, request_id, data}` envelope (`code` 0 is
/// success whatever the HTTP status) and decodes `data`.
pub(crate) fn decode_envelope<T: DeserializeOwned>(
    answer: RawResponse,
    may_hold_secrets: bool,
) -> Result<T, UpstreamError> {
    let status = answer.status;
    let decode_error = |source| UpstreamError::Decode {
        status,
        body: body_for_error(&answer.body, may_hold_secrets),
        source,
    };
    let envelope: serde_json::Value = json_body(&answer, may_hold_secrets)?;
    let text = |key: &str| envelope.get(key).and_then(|v| v.as_str());
    let request_id = text("request_id").map(str::to_owned);
    let code = match envelope.get("code") {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    match code {
        Some(0) => {}
        Some(code) => {
            let message = text("message").unwrap_or_default();
            return Err(classify(status, &answer.headers, code, message, request_id));
        }
        None if status == 429 || status >= 500 => {
            return Err(classify(status, &answer.headers, -1, "", request_id))
        }
        None => {
            return Err(decode_error(serde::de::Error::custom(
                "no code in the envelope",
            )))
        }
    }
    let data = match envelope.get("data") {
        None | Some(serde_json::Value::Null) => serde_json::Value::Object(Default::default()),
        Some(data) => data.clone(),
    };
    T::deserialize(data).map_err(decode_error)
}

/// The error table of `TIKTOK_SHOP_API.md` §6: classified on code and message,
/// since TikTok reuses 36009004 for several causes.
pub(crate) fn classify(
    status: u16,
    headers: &HeaderMap,
    code: i64,
    message: &str,
    log_id: Option<String>,
) -> UpstreamError {
    let message = message.to_owned();
    let token_refused = message.to_ascii_lowercase().contains("access-token")
        || message.to_ascii_lowercase().contains("access token");
    match code {
        // 105001: the token was deauthorized; 101000: a token of the wrong
        // user type (a seller's on a creator path, or the reverse).
        105002 | 105001 | 101000 => UpstreamError::AccessTokenInvalid { message, log_id },
        16015007 => UpstreamError::NotEligible { message, log_id },
        36009004 if token_refused => UpstreamError::AccessTokenInvalid { message, log_id },
        36004004 | 36004005 => UpstreamError::InvalidGrant {
            description: message,
            log_id,
        },
        105005 => UpstreamError::ScopeMissing { message, log_id },
        12019150 => UpstreamError::NotFound {
            code: code.to_string(),
            message,
            log_id,
        },
        36009004 | 106001 | 106013 | 36009033 => UpstreamError::Misconfigured {
            code: code.to_string(),
            message,
            log_id,
        },
        _ if code == 36009002 || status == 429 => rate_limited(headers, log_id),
        _ => UpstreamError::Api {
            status,
            code: code.to_string(),
            message,
            log_id,
        },
    }
}

fn grant(raw: RawGrant) -> Result<ShopGrant, UpstreamError> {
    let missing = |what: &str| UpstreamError::Decode {
        status: 200,
        body: "[redacted]".into(),
        source: serde::de::Error::custom(format!("the grant has no {what}")),
    };
    Ok(ShopGrant {
        access_token: AccessToken::new(
            raw.access_token
                .filter(|t| !t.is_empty())
                .ok_or_else(|| missing("access_token"))?,
        ),
        access_expires_at: raw
            .access_token_expire_in
            .ok_or_else(|| missing("access_token_expire_in"))?,
        refresh_token: RefreshToken::new(
            raw.refresh_token
                .filter(|t| !t.is_empty())
                .ok_or_else(|| missing("refresh_token"))?,
        ),
        refresh_expires_at: raw
            .refresh_token_expire_in
            .ok_or_else(|| missing("refresh_token_expire_in"))?,
        open_id: raw.open_id,
        seller_name: raw.seller_name,
        seller_base_region: raw.seller_base_region,
        scopes: raw.granted_scopes,
        user_type: raw.user_type,
    })
}

/// `path` (absolute, as signed) under the API base, keeping any prefix the base has.
fn endpoint_url(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}{}", base.path().trim_end_matches('/'), path);
    url.set_path(&joined);
    url.set_query(None);
    url
}
