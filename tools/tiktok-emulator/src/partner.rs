//! The TikTok Shop Partner API (`TIKTOK_SHOP_API.md`), played for the local
//! stack and the tests:
//!
//! - the seller authorization page (`/open/authorize?service_id=&state=`, no
//!   `redirect_uri`: the app's redirect is fixed, as in Partner Center) with
//!   Approve / Deny;
//! - `GET /api/v2/token/get` and `/api/v2/token/refresh` with absolute
//!   `*_expire_in` timestamps and rotating refresh tokens (a used one is
//!   refused, 36004005; with reuse detection on, it also revokes its grant,
//!   whose access tokens then answer 105001); a used or unknown code is
//!   36004004. The token store also serves the creator side
//!   ([`crate::creator`]), whose codes yield `user_type` 1 grants; a creator
//!   token on a seller path is 101000;
//! - every other call verified as the contract says: `app_key`, `timestamp`
//!   within 5 minutes past / 30 seconds ahead, `sign` over path, sorted decoded
//!   query and body (HMAC-SHA256, lowercase hex; wrong: 106001 HTTP 401),
//!   `shop_cipher` absent on `/authorization/*` (else 36009004) and present on
//!   product paths (else 106013), the `x-tts-access-token` (unknown: 36009004,
//!   expired: 105002);
//! - Get Authorized Shops, Search Products 202502 (`page_token` paging, at most
//!   10,000 results: 12052180) and Get Product 202309 (12019150) over a
//!   deterministic catalogue: SKUs in GBP, VND, IDR, JPY and USD, images, HTML
//!   descriptions, and one shop with 10,050 products;
//! - `POST /__emulator/partner/expire-access-tokens` and
//!   `POST /__emulator/partner/webhook` (`{"type", "shop_id", "url", "data"}`:
//!   delivers a webhook signed as TikTok signs them).
//!
//! The signature is implemented here on its own, from the contract, not with
//! the gateway's code: a bug in one is caught by the other.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::{escape, lock, now, random_token};

/// The Partner Center app the emulator plays, and its token lifetimes.
#[derive(Debug, Clone)]
pub struct PartnerConfig {
    /// `app_key`.
    pub app_key: String,
    /// `app_secret` (a made-up emulator value).
    pub app_secret: String,
    /// The app's public service id.
    pub service_id: String,
    /// Where the seller is sent back (fixed in Partner Center).
    pub redirect_uri: String,
    /// Access-token lifetime (TikTok's is 7 days).
    pub access_ttl_secs: u64,
    /// Refresh-token lifetime.
    pub refresh_ttl_secs: u64,
    /// Where product image URLs point (`{base}/{product}-{n}.svg`); the
    /// emulator serves them itself (`GET /__emulator/partner/images/...`) when
    /// spawned, so the demo needs no network.
    pub image_base_url: String,
}

impl Default for PartnerConfig {
    fn default() -> Self {
        Self {
            app_key: "emulator-app-key".into(),
            app_secret: "emulator-app-secret".into(),
            service_id: "7300000000000000001".into(),
            redirect_uri: String::new(),
            access_ttl_secs: 7 * 86_400,
            refresh_ttl_secs: 365 * 86_400,
            image_base_url: "http://127.0.0.1/__emulator/partner/images".into(),
        }
    }
}

/// The seller who authorizes the app on the emulator.
pub const SELLER_OPEN_ID: &str = "7010736057180325637";
/// The seller's name.
pub const SELLER_NAME: &str = "Sunny Seller Ltd";

/// A shop's `seller_type`, as Get Authorized Shops writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SellerType {
    /// `LOCAL`: the seller is based in the shop's market.
    Local,
    /// `CROSS_BORDER`: the seller sells into the market from abroad.
    CrossBorder,
}

/// One shop of the seller: id, name, region, seller type, currency, products.
pub struct PartnerShop {
    /// Id (19 digits).
    pub id: &'static str,
    /// Name.
    pub name: &'static str,
    /// Region.
    pub region: &'static str,
    /// Whether the seller sells in the shop's own market.
    pub seller_type: SellerType,
    /// Currency of its prices.
    pub currency: &'static str,
    /// How many active products it has.
    pub products: usize,
}

/// The seller's shops (the first is the one the README uses; the last has
/// more products than Search Products will ever return for one query).
pub const SHOPS: &[PartnerShop] = &[
    PartnerShop {
        id: "7000714532876273420",
        name: "Sunny Home UK",
        region: "GB",
        seller_type: SellerType::Local,
        currency: "GBP",
        products: 120,
    },
    PartnerShop {
        id: "7000714532876273421",
        name: "Saigon Crafts",
        region: "VN",
        seller_type: SellerType::CrossBorder,
        currency: "VND",
        products: 40,
    },
    PartnerShop {
        id: "7000714532876273422",
        name: "Jakarta Batik",
        region: "ID",
        seller_type: SellerType::CrossBorder,
        currency: "IDR",
        products: 40,
    },
    PartnerShop {
        id: "7000714532876273423",
        name: "Tokyo Stationery",
        region: "JP",
        seller_type: SellerType::CrossBorder,
        currency: "JPY",
        products: 40,
    },
    PartnerShop {
        id: "7000714532876273424",
        name: "Mega Warehouse US",
        region: "US",
        seller_type: SellerType::Local,
        currency: "USD",
        products: 10_050,
    },
];

const ITEMS: &[&str] = &[
    "Ceramic Mug",
    "Desk Lamp",
    "Linen Tea Towel",
    "Bamboo Cutting Board",
    "Glass Storage Jar",
    "Wool Throw",
    "Notebook",
    "Fountain Pen",
    "Batik Scarf",
    "Lacquer Bowl",
];

/// The cipher of shop `index` (opaque, with `+/=` like real ones).
pub fn cipher(index: usize) -> String {
    format!("GCP_emu{index}+Xf9/igAAAA=")
}

/// The id of product `i` of shop `shop`.
pub fn product_id(shop: usize, i: usize) -> String {
    format!("17293824{shop:01}{i:010}")
}

fn price(shop: &PartnerShop, i: usize, sku: usize) -> (String, String) {
    let base = 5 + (i * 7 + sku * 3) % 90;
    match shop.currency {
        // No minor units.
        "VND" => (format!("{}", base * 25_000), format!("{}", base * 30_000)),
        "IDR" => (format!("{}", base * 1_500), format!("{}", base * 1_500)),
        "JPY" => (
            format!("{}", base * 100 + 80),
            format!("{}", base * 120 + 80),
        ),
        _ => (format!("{base}.99"), format!("{}.99", base + 10)),
    }
}

fn product(shop_index: usize, i: usize, detail: bool) -> Value {
    product_with_images(shop_index, i, detail, "")
}

fn product_with_images(shop_index: usize, i: usize, detail: bool, image_base: &str) -> Value {
    let shop = &SHOPS[shop_index];
    let id = product_id(shop_index, i);
    let title = format!("{} {}", ITEMS[i % ITEMS.len()], i + 1);
    let skus: Vec<Value> = (0..2)
        .map(|s| {
            let (sale, list) = price(shop, i, s);
            let mut sku = json!({
                "id": format!("{id}{s}"),
                "seller_sku": format!("SKU-{i}-{s}"),
                "price": {"currency": shop.currency, "sale_price": sale, "tax_exclusive_price": sale},
                "list_price": {"amount": list, "currency": shop.currency},
                "inventory": [{"warehouse_id": "7068517275539719942", "quantity": (i * 13 + s) % 50}],
            });
            if detail {
                sku["price"]["unit_price"] = json!(sale);
                sku["sales_attributes"] = json!([{"id": "100000", "name": "Colour",
                    "value_id": format!("{s}"), "value_name": if s == 0 { "Black" } else { "White" }}]);
            }
            sku
        })
        .collect();
    let mut product = json!({
        "id": id, "title": title, "status": "ACTIVATE",
        "create_time": 1_700_000_000 + i as u64, "update_time": 1_700_100_000 + i as u64,
        "sales_regions": [shop.region], "skus": skus,
    });
    if detail {
        let image = |n: usize| {
            json!({"uri": format!("tos-emu/{id}-{n}"), "width": 800, "height": 800,
                "urls": [format!("{image_base}/{id}-{n}.svg")],
                "thumb_urls": [format!("{image_base}/{id}-{n}.svg?thumb=1")]})
        };
        product["description"] = json!(format!(
            "<p><b>{}</b> from {}.</p><ul><li>Handmade</li><li>Ships in 2 days</li></ul>",
            escape(&title),
            escape(shop.name)
        ));
        product["main_images"] = json!([image(1), image(2)]);
        product["brand"] = json!({"id": "7082427311584347905", "name": "Emulator"});
    }
    product
}

/// The scopes the seller grants.
pub(crate) const SELLER_SCOPES: &[&str] = &["seller.authorization.info", "seller.product.basic"];

/// Who approved a code, and so who its tokens speak for. The seller page
/// issues sellers; the creator page ([`crate::creator`]) issues creators, or a
/// seller when the tester ticks "as a seller account".
#[derive(Debug, Clone)]
pub(crate) struct Holder {
    /// `user_type`: 0 seller, 1 creator.
    pub(crate) user_type: u8,
    /// `open_id`.
    pub(crate) open_id: String,
    /// `seller_name` (empty for a creator).
    pub(crate) seller_name: String,
    /// `seller_base_region` (empty for a creator: the profile says the region).
    pub(crate) seller_base_region: String,
    /// `granted_scopes`.
    pub(crate) scopes: Vec<String>,
    /// The creator's selection region (empty for a seller).
    pub(crate) market: String,
    /// Approved on the creator page (counted on the creator side).
    pub(crate) via_creator: bool,
}

impl Holder {
    /// The seller of the Partner side, with the seller scopes.
    pub(crate) fn seller(via_creator: bool) -> Self {
        Holder {
            user_type: 0,
            open_id: SELLER_OPEN_ID.into(),
            seller_name: SELLER_NAME.into(),
            seller_base_region: "GB".into(),
            scopes: SELLER_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            market: String::new(),
            via_creator,
        }
    }
}

/// A token's expiry (Unix seconds) and the grant it belongs to.
struct Token {
    expires_at: u64,
    family: u64,
}

/// What an access token is worth, as a signed call sees it.
pub(crate) enum AccessState {
    /// Never issued.
    Unknown,
    /// Issued, then revoked with its grant (refresh-token reuse).
    Revoked,
    /// Past its expiry.
    Expired,
    /// Good, for this holder.
    Valid(Holder),
}

/// What was issued, sellers and creators alike (the token endpoints are
/// shared): each code by its value with its expiry and holder, each access
/// and refresh token with its grant ("family"). A code leaves when used; a
/// refresh token leaves when used and is remembered as rotated, so that with
/// reuse detection on, presenting it again revokes its whole grant.
#[derive(Default)]
struct Grants {
    codes: HashMap<String, (u64, Holder)>,
    access: HashMap<String, Token>,
    refresh: HashMap<String, Token>,
    rotated: HashMap<String, u64>,
    revoked: HashSet<String>,
    families: HashMap<u64, Holder>,
    next_family: u64,
    reuse_detection: bool,
    creator_token_get: u64,
    creator_token_refresh: u64,
}

/// What the Partner API side counts.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PartnerStats {
    /// Requests by endpoint (`token_get`, `token_refresh`, `shops`, `search`, `product`).
    pub requests: HashMap<String, u64>,
    /// Refreshes that rotated a token.
    pub refresh_rotated: u64,
    /// Refreshes refused (36004005).
    pub refresh_refused: u64,
    /// Grants revoked because a rotated refresh token came back (reuse detection on).
    pub grants_revoked: u64,
    /// Signed calls refused for their signature (106001).
    pub bad_signatures: u64,
}

struct Inner {
    config: PartnerConfig,
    grants: Mutex<Grants>,
    stats: Mutex<PartnerStats>,
    http: reqwest::Client,
}

/// The Partner API emulator; cheap to clone.
#[derive(Clone)]
pub struct Partner(Arc<Inner>);

pub(crate) fn envelope(code: i64, message: &str, data: Option<Value>) -> Response {
    let mut body = json!({"code": code, "message": message,
        "request_id": format!("{:032X}", rand::random::<u128>())});
    if let Some(data) = data {
        body["data"] = data;
    }
    Json(body).into_response()
}

pub(crate) fn refuse(status: StatusCode, code: i64, message: &str) -> Response {
    let mut response = envelope(code, message, None);
    *response.status_mut() = status;
    response
}

/// `lowercase hex(HMAC-SHA256(key, message))`.
fn hmac_hex(key: &str, parts: &[&[u8]]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The request signature, from the contract (§4).
pub fn expected_sign(secret: &str, path: &str, query: &[(String, String)], body: &[u8]) -> String {
    let mut params: Vec<&(String, String)> = query
        .iter()
        .filter(|(k, v)| k != "sign" && k != "access_token" && !v.is_empty())
        .collect();
    params.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut message = String::from(path);
    for (k, v) in params {
        message.push_str(k);
        message.push_str(v);
    }
    hmac_hex(
        secret,
        &[
            secret.as_bytes(),
            message.as_bytes(),
            body,
            secret.as_bytes(),
        ],
    )
}

/// The webhook signature (§8): HMAC-SHA256 over `app_key` + body, keyed with the secret.
pub fn webhook_sign(app_key: &str, secret: &str, body: &[u8]) -> String {
    hmac_hex(secret, &[app_key.as_bytes(), body])
}

impl Partner {
    /// A Partner API emulator for `config`.
    pub fn new(config: PartnerConfig) -> Self {
        Partner(Arc::new(Inner {
            config,
            grants: Mutex::new(Grants::default()),
            stats: Mutex::new(PartnerStats::default()),
            http: reqwest::Client::new(),
        }))
    }

    /// Its configuration.
    pub fn config(&self) -> &PartnerConfig {
        &self.0.config
    }

    /// Counts so far.
    pub fn stats(&self) -> PartnerStats {
        lock(&self.0.stats).clone()
    }

    /// Every access token issued so far expires now.
    pub fn expire_access_tokens(&self) {
        self.expire_access_tokens_where(|_| true);
    }

    /// The access tokens whose holder matches expire now.
    pub(crate) fn expire_access_tokens_where(&self, matches: impl Fn(&Holder) -> bool) {
        let now = now();
        let mut grants = lock(&self.0.grants);
        let Grants {
            access, families, ..
        } = &mut *grants;
        for token in access.values_mut() {
            if families.get(&token.family).is_some_and(&matches) {
                token.expires_at = token.expires_at.min(now.saturating_sub(1));
            }
        }
    }

    /// A code as if the seller had approved (a test shortcut past the browser).
    pub fn issue_code(&self) -> String {
        self.issue_code_for(Holder::seller(false))
    }

    /// A code for `holder`, good for 30 minutes.
    pub(crate) fn issue_code_for(&self, holder: Holder) -> String {
        let code = random_token("ROW_code_");
        lock(&self.0.grants)
            .codes
            .insert(code.clone(), (now() + 1_800, holder));
        code
    }

    /// Whether `refresh_token` is a current one (not rotated, not revoked).
    pub fn is_current_refresh_token(&self, refresh_token: &str) -> bool {
        lock(&self.0.grants).refresh.contains_key(refresh_token)
    }

    /// Turns refresh-token reuse detection on or off (RFC 9700 §4.14.2): when
    /// on, a refresh token that was already rotated revokes its grant, whose
    /// current access and refresh tokens stop working. Sellers and creators alike.
    pub fn set_reuse_detection(&self, enabled: bool) {
        lock(&self.0.grants).reuse_detection = enabled;
    }

    /// Whether reuse detection is on.
    pub fn reuse_detection(&self) -> bool {
        lock(&self.0.grants).reuse_detection
    }

    /// What `token` is worth now.
    pub(crate) fn access_state(&self, token: &str) -> AccessState {
        let grants = lock(&self.0.grants);
        match grants.access.get(token) {
            None if grants.revoked.contains(token) => AccessState::Revoked,
            None => AccessState::Unknown,
            Some(t) if t.expires_at <= now() => AccessState::Expired,
            Some(t) => match grants.families.get(&t.family) {
                Some(holder) => AccessState::Valid(holder.clone()),
                None => AccessState::Unknown,
            },
        }
    }

    /// Token calls that redeemed a creator-page code, and refreshes of such grants.
    pub(crate) fn creator_token_counts(&self) -> (u64, u64) {
        let grants = lock(&self.0.grants);
        (grants.creator_token_get, grants.creator_token_refresh)
    }

    /// Starts the creator token counts from zero.
    pub(crate) fn reset_creator_token_counts(&self) {
        let mut grants = lock(&self.0.grants);
        grants.creator_token_get = 0;
        grants.creator_token_refresh = 0;
    }

    fn count(&self, name: &str) {
        *lock(&self.0.stats)
            .requests
            .entry(name.to_owned())
            .or_default() += 1;
    }

    /// The Partner API's routes (merge them into the emulator's router).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/open/authorize", get(authorize_page))
            .route("/open/authorize/decision", post(decision))
            .route("/api/v2/token/get", get(token_get))
            .route("/api/v2/token/refresh", get(token_refresh))
            .route("/authorization/202309/shops", get(shops))
            .route("/product/202502/products/search", post(search))
            .route("/product/202309/products/{id}", get(get_product))
            .route(
                "/__emulator/partner/expire-access-tokens",
                post(|State(p): State<Partner>| async move {
                    p.expire_access_tokens();
                    StatusCode::NO_CONTENT
                }),
            )
            .route(
                "/__emulator/partner/stats",
                get(|State(p): State<Partner>| async move { Json(p.stats()) }),
            )
            .route("/__emulator/partner/webhook", post(send_webhook))
            .route("/__emulator/partner/images/{name}", get(image))
            .with_state(self.clone())
    }

    /// Issues an access and a refresh token for grant `family` (a new one
    /// when `None`, for `holder`), and the token answer's `data`.
    fn grant(&self, grants: &mut Grants, family: Option<u64>, holder: Holder) -> Value {
        let now = now();
        let access = random_token("TTP_emu_at_");
        let refresh = random_token("TTP_emu_rt_");
        let config = &self.0.config;
        let family = family.unwrap_or_else(|| {
            grants.next_family += 1;
            grants.next_family
        });
        grants.families.insert(family, holder.clone());
        let access_expires = now + config.access_ttl_secs;
        let refresh_expires = now + config.refresh_ttl_secs;
        grants.access.insert(
            access.clone(),
            Token {
                expires_at: access_expires,
                family,
            },
        );
        grants.refresh.insert(
            refresh.clone(),
            Token {
                expires_at: refresh_expires,
                family,
            },
        );
        json!({
            "access_token": access, "access_token_expire_in": access_expires,
            "refresh_token": refresh, "refresh_token_expire_in": refresh_expires,
            "open_id": holder.open_id, "seller_name": holder.seller_name,
            "seller_base_region": holder.seller_base_region,
            "user_type": holder.user_type, "granted_scopes": holder.scopes,
        })
    }

    /// Checks a signed call; `Err` is TikTok's answer.
    #[allow(clippy::result_large_err)]
    fn verify(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        needs_cipher: bool,
    ) -> Result<Option<usize>, Response> {
        let config = &self.0.config;
        let query: Vec<(String, String)> =
            url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if param("app_key") != Some(config.app_key.as_str()) {
            return Err(refuse(StatusCode::OK, 36009004, "Invalid app_key"));
        }
        let now = now() as i64;
        match param("timestamp").and_then(|t| t.parse::<i64>().ok()) {
            Some(t) if t >= now - 300 && t <= now + 30 => {}
            _ => {
                return Err(refuse(
                    StatusCode::OK,
                    36009004,
                    "Invalid timestamp: out of the allowed window",
                ))
            }
        }
        let Some(sign) = param("sign") else {
            return Err(refuse(StatusCode::OK, 36009004, "Missing signature"));
        };
        if sign != expected_sign(&config.app_secret, uri.path(), &query, body) {
            lock(&self.0.stats).bad_signatures += 1;
            return Err(refuse(StatusCode::UNAUTHORIZED, 106001, "Invalid sign"));
        }
        let token = headers
            .get("x-tts-access-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        match self.access_state(token) {
            AccessState::Unknown => {
                return Err(refuse(
                    StatusCode::UNAUTHORIZED,
                    36009004,
                    "x-tts-access-token header is invalid",
                ))
            }
            AccessState::Revoked => {
                return Err(refuse(
                    StatusCode::UNAUTHORIZED,
                    105001,
                    "access token is invalid; detail:your token has been deauthorized",
                ))
            }
            AccessState::Expired => {
                return Err(refuse(
                    StatusCode::OK,
                    105002,
                    "Access token is expired, please refresh it",
                ))
            }
            AccessState::Valid(holder) if holder.user_type != 0 => return Err(refuse(
                StatusCode::UNAUTHORIZED,
                101000,
                "x-tts-access-token header is invalid; detail: invalid user_type for this endpoint",
            )),
            AccessState::Valid(_) => {}
        }
        match (param("shop_cipher"), needs_cipher) {
            (Some(_), false) => Err(refuse(
                StatusCode::OK,
                36009004,
                "Unexpected identifier: shop_cipher",
            )),
            (None, true) => Err(refuse(
                StatusCode::OK,
                106013,
                "Missing identifier: shop_cipher",
            )),
            (None, false) => Ok(None),
            (Some(c), true) => (0..SHOPS.len())
                .find(|i| cipher(*i) == c)
                .map(Some)
                .ok_or_else(|| refuse(StatusCode::OK, 36009004, "Invalid shop_cipher")),
        }
    }
}

async fn authorize_page(
    State(p): State<Partner>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    p.count("authorize");
    let param = |name: &str| q.get(name).map(String::as_str).unwrap_or_default();
    if param("service_id") != p.0.config.service_id {
        return (
            StatusCode::BAD_REQUEST,
            Html("<p>Unknown service_id</p>".to_owned()),
        )
            .into_response();
    }
    if param("state").is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Html("<p>state is required</p>".to_owned()),
        )
            .into_response();
    }
    let shops: String = SHOPS
        .iter()
        .map(|s| format!("<li>{} ({})</li>", escape(s.name), escape(s.region)))
        .collect();
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TikTok Shop emulator — authorize</title>
<style>body{{font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.6rem 1.4rem;margin-right:.5rem;border-radius:.4rem;border:1px solid #888}}
#approve{{background:#fe2c55;color:#fff;border-color:#fe2c55}}</style></head>
<body><h1>TikTok Shop Seller Center (emulator)</h1>
<p><strong>{seller}</strong>: authorize this app to read your shops' products?</p><ul id="shops">{shops}</ul>
<form method="post" action="/open/authorize/decision"><input type="hidden" name="state" value="{state}">
<button id="approve" name="decision" value="approve">Approve</button>
<button id="deny" name="decision" value="deny">Deny</button></form>
<p><small>The local TikTok Shop emulator; no real seller is involved.</small></p></body></html>"#,
        seller = escape(SELLER_NAME),
        state = escape(param("state")),
    ))
    .into_response()
}

async fn decision(State(p): State<Partner>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let state = form.get("state").cloned().unwrap_or_default();
    let Ok(mut back) = url::Url::parse(&p.0.config.redirect_uri) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "no redirect URI configured",
        )
            .into_response();
    };
    if form.get("decision").map(String::as_str) == Some("approve") {
        let code = p.issue_code();
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &state)
            .append_pair("locale", "en")
            .append_pair("shop_region", "GB");
    } else {
        back.query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("error_description", "The seller did not authorize the app")
            .append_pair("state", &state);
    }
    Redirect::to(back.as_str()).into_response()
}

fn app_ok(p: &Partner, q: &HashMap<String, String>) -> bool {
    q.get("app_key") == Some(&p.0.config.app_key)
        && q.get("app_secret") == Some(&p.0.config.app_secret)
}

async fn token_get(State(p): State<Partner>, Query(q): Query<HashMap<String, String>>) -> Response {
    p.count("token_get");
    if !app_ok(&p, &q) {
        return envelope(36009004, "Invalid app_key or app_secret", None);
    }
    if q.get("grant_type").map(String::as_str) != Some("authorized_code") {
        return envelope(36009004, "Invalid grant_type", None);
    }
    let code = q.get("auth_code").cloned().unwrap_or_default();
    let mut grants = lock(&p.0.grants);
    let holder = match grants.codes.remove(&code) {
        Some((expires_at, holder)) if expires_at > now() => holder,
        _ => return envelope(36004004, "Invalid auth code.", None),
    };
    if holder.via_creator {
        grants.creator_token_get += 1;
    }
    let data = p.grant(&mut grants, None, holder);
    envelope(0, "success", Some(data))
}

async fn token_refresh(
    State(p): State<Partner>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    p.count("token_refresh");
    if !app_ok(&p, &q) {
        return envelope(36009004, "Invalid app_key or app_secret", None);
    }
    if q.get("grant_type").map(String::as_str) != Some("refresh_token") {
        return envelope(36009004, "Invalid grant_type", None);
    }
    let token = q.get("refresh_token").cloned().unwrap_or_default();
    let mut grants = lock(&p.0.grants);
    let presented = grants.refresh.remove(&token);
    let family = presented
        .as_ref()
        .map(|t| t.family)
        .or_else(|| grants.rotated.get(&token).copied());
    if family
        .and_then(|f| grants.families.get(&f))
        .is_some_and(|h| h.via_creator)
    {
        grants.creator_token_refresh += 1;
    }
    let current = match presented {
        Some(t) if t.expires_at > now() => Some(t.family),
        _ => None,
    };
    let Some(family) = current else {
        if let (Some(family), true) = (family, grants.reuse_detection) {
            revoke(&mut grants, family);
            lock(&p.0.stats).grants_revoked += 1;
        }
        lock(&p.0.stats).refresh_refused += 1;
        return envelope(36004005, "can not find related auth record", None);
    };
    grants.rotated.insert(token, family);
    let Some(holder) = grants.families.get(&family).cloned() else {
        return envelope(36004005, "can not find related auth record", None);
    };
    lock(&p.0.stats).refresh_rotated += 1;
    let data = p.grant(&mut grants, Some(family), holder);
    envelope(0, "success", Some(data))
}

/// Kills every access and refresh token of grant `family`; its access tokens
/// are remembered as revoked (105001 rather than "unknown").
fn revoke(grants: &mut Grants, family: u64) {
    let dead: Vec<String> = grants
        .access
        .iter()
        .filter(|(_, t)| t.family == family)
        .map(|(k, _)| k.clone())
        .collect();
    for token in dead {
        grants.access.remove(&token);
        grants.revoked.insert(token);
    }
    let dead: Vec<String> = grants
        .refresh
        .iter()
        .filter(|(_, t)| t.family == family)
        .map(|(k, _)| k.clone())
        .collect();
    for token in dead {
        grants.refresh.remove(&token);
        grants.rotated.insert(token, family);
    }
}

async fn shops(State(p): State<Partner>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    p.count("shops");
    if let Err(answer) = p.verify(&uri, &headers, &body, false) {
        return answer;
    }
    let shops: Vec<Value> = SHOPS
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({"id": s.id, "name": s.name, "region": s.region,
            "seller_type": s.seller_type, "cipher": cipher(i), "code": format!("EMU{i}")})
        })
        .collect();
    envelope(0, "Success", Some(json!({ "shops": shops })))
}

/// Search Products' result cap per query.
pub const RESULT_CAP: usize = 10_000;

async fn search(State(p): State<Partner>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    p.count("search");
    let shop = match p.verify(&uri, &headers, &body, true) {
        Ok(Some(shop)) => shop,
        Ok(None) => return refuse(StatusCode::OK, 106013, "Missing identifier: shop_cipher"),
        Err(answer) => return answer,
    };
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let Some(size) = query
        .get("page_size")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|s| (1..=100).contains(s))
    else {
        return envelope(12052001, "page_size must be 1 to 100", None);
    };
    let filter: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let status = filter
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("ALL");
    let total = if matches!(status, "ACTIVATE" | "ALL") {
        SHOPS[shop].products
    } else {
        0
    };
    let start = match query.get("page_token") {
        None => 0,
        Some(token) => match token
            .strip_prefix("emu+")
            .and_then(|t| t.trim_end_matches('=').parse::<usize>().ok())
        {
            Some(start) => start,
            None => return envelope(12052002, "Invalid page_token", None),
        },
    };
    if start >= RESULT_CAP {
        return envelope(
            12052180,
            "The number of results exceeds the limit of 10,000",
            None,
        );
    }
    let end = (start + size).min(total);
    let products: Vec<Value> = (start..end).map(|i| product(shop, i, false)).collect();
    let next = if end < total {
        format!("emu+{end}==")
    } else {
        String::new()
    };
    envelope(
        0,
        "Success",
        Some(json!({
            "total_count": total, "next_page_token": next, "products": products,
        })),
    )
}

async fn get_product(
    State(p): State<Partner>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    p.count("product");
    let shop = match p.verify(&uri, &headers, &body, true) {
        Ok(Some(shop)) => shop,
        Ok(None) => return refuse(StatusCode::OK, 106013, "Missing identifier: shop_cipher"),
        Err(answer) => return answer,
    };
    let index = id
        .strip_prefix(&format!("17293824{shop:01}"))
        .and_then(|i| i.parse::<usize>().ok())
        .filter(|i| *i < SHOPS[shop].products && product_id(shop, *i) == id);
    match index {
        Some(i) => envelope(
            0,
            "Success",
            Some(product_with_images(
                shop,
                i,
                true,
                &p.0.config.image_base_url,
            )),
        ),
        None => envelope(12019150, "The product ID does not exist.", None),
    }
}

/// A product picture: an SVG naming the product.
pub(crate) async fn image(Path(name): Path<String>) -> Response {
    let label: String = name
        .trim_end_matches(".svg")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect();
    let hue = label
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
        % 360;
    let svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" viewBox="0 0 400 400"><rect width="400" height="400" fill="hsl({hue},60%,80%)"/><text x="200" y="210" font-family="sans-serif" font-size="18" text-anchor="middle">{label}</text></svg>"#
    );
    ([(axum::http::header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
}

/// `POST /__emulator/partner/webhook`: `{"type", "shop_id", "url", "data"}` →
/// delivers `{type, tts_notification_id, shop_id, timestamp, data}` to `url`,
/// signed; answers what the receiver answered.
async fn send_webhook(State(p): State<Partner>, Json(request): Json<Value>) -> Response {
    let Some(url) = request.get("url").and_then(Value::as_str) else {
        return (StatusCode::BAD_REQUEST, "url is required").into_response();
    };
    let kind = request.get("type").and_then(Value::as_i64).unwrap_or(6);
    let id = request
        .get("tts_notification_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{}", rand::random::<u64>() >> 1));
    let data = request.get("data").cloned().unwrap_or_else(|| match kind {
        6 => json!({"message": "The seller deauthorized the app"}),
        7 => json!({"message": "Authorization expires soon",
            "expiration_time": (now() + 20 * 86_400).to_string()}),
        _ => json!({}),
    });
    let body = json!({
        "type": kind, "tts_notification_id": id,
        "shop_id": request.get("shop_id").and_then(Value::as_str).unwrap_or(SHOPS[0].id),
        "timestamp": now(), "data": data,
    })
    .to_string();
    let config = &p.0.config;
    let signature = match request.get("signature").and_then(Value::as_str) {
        Some(forged) => forged.to_owned(),
        None => webhook_sign(&config.app_key, &config.app_secret, body.as_bytes()),
    };
    match p
        .0
        .http
        .post(url)
        .header("authorization", signature)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
    {
        Ok(answer) => Json(json!({
            "status": answer.status().as_u16(), "tts_notification_id": id, "body": body,
        }))
        .into_response(),
        Err(error) => {
            (StatusCode::BAD_GATEWAY, format!("delivery failed: {error}")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seller_types_are_written_as_get_authorized_shops_writes_them() {
        assert_eq!(json!(SellerType::Local), "LOCAL");
        assert_eq!(json!(SellerType::CrossBorder), "CROSS_BORDER");
    }

    #[test]
    fn the_emulators_own_signature_matches_the_contracts_vectors() {
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect()
        };
        assert_eq!(
            expected_sign(
                "e59af819cc",
                "/authorization/202309/shops",
                &q(&[("app_key", "29a39d"), ("timestamp", "1623812664")]),
                b""
            ),
            "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"
        );
        assert_eq!(
            expected_sign(
                "e59af819cc",
                "/event/202309/webhooks",
                &q(&[
                    ("app_key", "68xu9ks5p4i8"),
                    ("shop_cipher", "ROW_xkMbgAAAeVAQra0eZWebFQq5aIK"),
                    ("timestamp", "1696909648")
                ]),
                br#"{"event_type":"PACKAGE_UPDATE","address":"https://partner.tiktokshop.com"}"#
            ),
            "701dd6deb2389fe4c469b89bd37fc56f96a6da6afeb4d01c9077a65169752fa7"
        );
        assert_eq!(
            webhook_sign("abcdef", "123", br#"{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507","timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178","order_status":"UNPAID","update_time":1718305585}}"#),
            "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"
        );
    }

    #[test]
    fn the_catalogue_has_every_currency_and_a_shop_past_the_result_cap() {
        for currency in ["GBP", "VND", "IDR", "JPY", "USD"] {
            assert!(SHOPS.iter().any(|s| s.currency == currency), "{currency}");
        }
        assert!(SHOPS.iter().any(|s| s.products > RESULT_CAP));
        let p = product(1, 3, true);
        assert_eq!(p["skus"][0]["price"]["currency"], "VND");
        assert!(p["description"].as_str().unwrap().starts_with("<p>"));
        assert_eq!(product_id(4, 10_049).len(), 19);
    }
}
