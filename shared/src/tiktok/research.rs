//! The Research API's TikTok Shop endpoints: shops by name, a shop's products, a
//! product's reviews. `POST` with a JSON body, `fields` as a query parameter, the
//! `{data, error}` envelope checked on every answer.

use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use super::client::{body_for_error, json_body, rate_limited, RawResponse, TikTokClient};
use super::error::UpstreamError;
use super::model::{
    Page, Product, Review, Shop, TikTokId, PRODUCT_FIELDS, REVIEW_FIELDS, SHOP_FIELDS,
};
use crate::redacted::AccessToken;

/// The scope every Research API call needs.
pub const RESEARCH_SCOPE: &str = "research.data.basic";

/// The most items TikTok returns per page (and shops per query).
pub const MAX_PAGE_SIZE: u32 = 10;

/// Turns a non-`ok` envelope code into an error.
pub(super) fn classify(
    status: u16,
    headers: &HeaderMap,
    code: &str,
    message: &str,
    log_id: Option<String>,
) -> UpstreamError {
    match code {
        "access_token_invalid" => UpstreamError::AccessTokenInvalid {
            message: message.to_owned(),
            log_id,
        },
        // A token without the Research API's scope (a Login Kit user token).
        "scope_not_authorized" | "scope_permission_missed" => UpstreamError::ScopeMissing {
            message: format!("{RESEARCH_SCOPE} ({code})"),
            log_id,
        },
        _ if code == "rate_limit_exceeded" || status == 429 => rate_limited(headers, log_id),
        _ => UpstreamError::Api {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
            log_id,
        },
    }
}

/// The v2 envelope's `error` object: `{"code", "message", "log_id"}`.
pub(super) struct EnvelopeError<'a> {
    /// `error.code`; `"ok"` on success.
    pub code: Option<&'a str>,
    /// `error.message`, or empty.
    pub message: &'a str,
    /// `error.log_id`.
    pub log_id: Option<String>,
}

impl<'a> EnvelopeError<'a> {
    /// The fields of `error` (all absent when there is none).
    pub fn read(error: Option<&'a serde_json::Value>) -> Self {
        let text = |key: &str| error?.get(key)?.as_str();
        Self {
            code: text("code"),
            message: text("message").unwrap_or_default(),
            log_id: text("log_id").map(str::to_owned),
        }
    }
}

impl EnvelopeError<'_> {
    /// The error `code` stands for in `answer`.
    pub fn classify(self, code: &str, answer: &RawResponse) -> UpstreamError {
        classify(
            answer.status,
            &answer.headers,
            code,
            self.message,
            self.log_id,
        )
    }
}

/// Checks the envelope and finds the list: under `data.<key>`, or `data` itself
/// when it is an array (the list key is unverified upstream).
pub(super) fn decode_list<T: DeserializeOwned>(
    answer: RawResponse,
    key: &str,
) -> Result<(Vec<T>, Option<bool>), UpstreamError> {
    let status = answer.status;
    let decode_error = |source| UpstreamError::Decode {
        status,
        body: body_for_error(&answer.body, false),
        source,
    };
    let envelope: serde_json::Value = json_body(&answer, false)?;
    let error = EnvelopeError::read(envelope.get("error"));
    if error.code != Some("ok") {
        let Some(code) = error.code else {
            return Err(if status >= 500 || status == 429 {
                classify(status, &answer.headers, "", "", None)
            } else {
                decode_error(serde::de::Error::custom("no error.code in the envelope"))
            });
        };
        return Err(error.classify(code, &answer));
    }
    let data = envelope.get("data").unwrap_or(&serde_json::Value::Null);
    let (list, has_more) = match data {
        serde_json::Value::Array(items) => (Some(items), None),
        serde_json::Value::Object(map) => (
            map.get(key).and_then(|v| v.as_array()),
            map.get("has_more").and_then(|v| v.as_bool()),
        ),
        _ => (None, None),
    };
    let items: Vec<T> = match list {
        Some(items) => items
            .iter()
            .map(|item| T::deserialize(item).map_err(decode_error))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    Ok((items, has_more))
}

/// A research endpoint: its path, the fields asked for, and its list key.
struct Endpoint {
    path: &'static str,
    fields: &'static [&'static str],
    list_key: &'static str,
}

const SHOP: Endpoint = Endpoint {
    path: "v2/research/tts/shop/",
    fields: SHOP_FIELDS,
    list_key: "shop_data",
};
const PRODUCT: Endpoint = Endpoint {
    path: "v2/research/tts/product/",
    fields: PRODUCT_FIELDS,
    list_key: "product_data",
};
const REVIEW: Endpoint = Endpoint {
    path: "v2/research/tts/review/",
    fields: REVIEW_FIELDS,
    list_key: "review_data",
};

impl TikTokClient {
    async fn research<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        token: &AccessToken,
        body: serde_json::Value,
        page_size: u32,
        deadline: Instant,
    ) -> Result<Page<T>, UpstreamError> {
        let url = endpoint_url(&self.config.api_base_url, endpoint.path);
        let fields = endpoint.fields.join(",");
        let page = self
            .execute(
                deadline,
                || {
                    self.http
                        .post(url.clone())
                        .query(&[("fields", fields.as_str())])
                        .bearer_auth(token.expose())
                        .json(&body)
                },
                |answer| decode_list(answer, endpoint.list_key),
            )
            .await?;
        // Without TikTok's flag (unverified), a full page may have a successor.
        let (items, has_more) = page;
        let has_more = has_more.unwrap_or(items.len() as u32 >= page_size);
        Ok(Page { items, has_more })
    }

    /// Shops whose name matches `shop_name`, at most `limit` (capped at 10).
    pub async fn shops(
        &self,
        token: &AccessToken,
        shop_name: &str,
        limit: u32,
        deadline: Instant,
    ) -> Result<Vec<Shop>, UpstreamError> {
        let body = serde_json::json!({
            "shop_name": shop_name,
            "limit": limit.clamp(1, MAX_PAGE_SIZE),
        });
        let page = self
            .research(&SHOP, token, body, u32::MAX, deadline)
            .await?;
        Ok(page.items)
    }

    /// One page of a shop's products (`page_start` from 1, `page_size` at most 10).
    pub async fn products(
        &self,
        token: &AccessToken,
        shop_id: &TikTokId,
        page_start: u32,
        page_size: u32,
        deadline: Instant,
    ) -> Result<Page<Product>, UpstreamError> {
        let page_size = page_size.clamp(1, MAX_PAGE_SIZE);
        let body = serde_json::json!({
            "shop_id": raw_id(shop_id),
            "page_start": page_start.max(1),
            "page_size": page_size,
        });
        self.research(&PRODUCT, token, body, page_size, deadline)
            .await
    }

    /// One page of a product's reviews.
    pub async fn reviews(
        &self,
        token: &AccessToken,
        product_id: &TikTokId,
        page_start: u32,
        page_size: u32,
        deadline: Instant,
    ) -> Result<Page<Review>, UpstreamError> {
        let page_size = page_size.clamp(1, MAX_PAGE_SIZE);
        let body = serde_json::json!({
            "product_id": raw_id(product_id),
            "page_start": page_start.max(1),
            "page_size": page_size,
        });
        self.research(&REVIEW, token, body, page_size, deadline)
            .await
    }
}

/// The id as a JSON integer, exactly (serde_json keeps `u64` whole).
fn raw_id(id: &TikTokId) -> serde_json::Value {
    id.as_str()
        .parse::<u64>()
        .map(serde_json::Value::from)
        .unwrap_or_else(|_| serde_json::Value::from(id.as_str()))
}

/// Joins a relative endpoint path onto the API base, keeping any path prefix
/// the base has (a proxy or an emulator mounted under `/tiktok` stays there).
#[allow(
    clippy::expect_used,
    reason = "the base is an http(s) URL (config checks it) and the paths are constants"
)]
fn endpoint_url(base: &Url, path: &str) -> Url {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let with_slash = format!("{}/", base.path());
        base.set_path(&with_slash);
    }
    base.join(path)
        .expect("research paths are valid relative URLs")
}
