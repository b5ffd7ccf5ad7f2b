//! The TikTok Shop Affiliate Creator API, played for the local stack and the
//! tests: a creator (affiliate) connects the app, and the app researches every
//! product that sellers have opened for affiliate promotion.
//!
//! - The creator authorization page, `GET /alliance/creator/auth?app_key=&state=`
//!   (no `service_id`, no `redirect_uri`: the decision goes to the Partner
//!   app's fixed redirect with `code`, `state` and `app_key`, or
//!   `error=auth_denied`). The form lets a tester untick a scope, pick the
//!   creator's market (US or ID) or approve as a seller account instead.
//! - Tokens come from the Partner side's `/api/v2/token/get` and
//!   `/api/v2/token/refresh` (one store for both kinds of holder): a creator
//!   grant has `user_type` 1, the creator's `open_id`, the scopes ticked and an
//!   empty `seller_name`. Refresh tokens rotate; with reuse detection on, a
//!   rotated one presented again revokes its whole grant.
//! - Signed calls are checked like the seller ones (same signature, timestamp
//!   window, `x-tts-access-token`, `content-type: application/json`), then:
//!   no `shop_cipher` allowed (36009004), a seller token is refused (101000),
//!   a missing scope is 105005.
//! - Search Open Collaboration Products (202405), Get Open Collaboration
//!   Products by ids (202509) and Get Creator Profile (202508), over a
//!   generated, deterministic marketplace ([`marketplace`]): 36 shops and
//!   2,160 products in the US (USD), Indonesia (IDR, no minor units) and the
//!   UK (GBP).
//! - Fault knobs and counters under `/__emulator/creator/` (POST or PUT, JSON):
//!   `rate-limit {"next": N}` (the next N signed calls: HTTP 429, 36009002),
//!   `scope-error {"next": N}` (the next N: 105005), `no-sale-region
//!   {"enabled": bool}` (profile: 16015007), `reuse-detection {"enabled":
//!   bool}`, `expire-access-tokens` (no body; next call 105002); each answers
//!   the knobs, also `GET|PUT /__emulator/creator/knobs`. `GET
//!   /__emulator/creator/stats`, `POST /__emulator/creator/stats/reset`.
//!   Product images: `GET /__emulator/creator/images/{name}` (SVG).
//!
//! Parameter errors (page size, page token, keywords, ranges, too many ids)
//! are HTTP 400 with envelope code 36009004 and a message naming the field.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::partner::{self, envelope, refuse, AccessState, Holder, Partner};
use crate::{escape, lock, now};

/// Scope of search and by-ids.
pub const SCOPE_COLLABORATION_READ: &str = "creator.affiliate_collaboration.read";
/// Scope of the creator profile.
pub const SCOPE_AFFILIATE_INFO: &str = "creator.affiliate.info";
/// Every scope the creator page offers (each ticked by default).
pub const CREATOR_SCOPES: &[&str] = &[SCOPE_COLLABORATION_READ, SCOPE_AFFILIATE_INFO];

/// The creator side's settings.
#[derive(Debug, Clone)]
pub struct CreatorConfig {
    /// The market preselected on the authorize page, and so the creator's
    /// selection region by default (`US`; `ID` and `GB` also have products).
    pub selection_region: String,
    /// Where `main_image_url`s point (`{base}/{product id}.svg`); `spawn` sets
    /// it to the emulator's own `/__emulator/creator/images`.
    pub image_base_url: String,
    /// Refresh-token reuse detection at start (see [`Partner::set_reuse_detection`]).
    pub reuse_detection: bool,
}

impl Default for CreatorConfig {
    fn default() -> Self {
        Self {
            selection_region: "US".into(),
            image_base_url: "http://127.0.0.1/__emulator/creator/images".into(),
            reuse_detection: false,
        }
    }
}

/// The creator who connects from market `region`: `(open_id, username)`.
pub fn creator_identity(region: &str) -> (String, String) {
    match region {
        "US" => ("uCRTemuAAAAAZml0d2l0aGpvLXVz".into(), "fitwithjo".into()),
        "ID" => (
            "uCRTemuAAAAAc2VoYXQtYmVyc2FtYS1pZA".into(),
            "sehatbersama".into(),
        ),
        "GB" => (
            "uCRTemuAAAAAbG9uZG9uLWxpZnRzLWdi".into(),
            "londonlifts".into(),
        ),
        other => (
            format!("uCRTemuAAAAA{}", other.to_ascii_lowercase()),
            format!("creator_{}", other.to_ascii_lowercase()),
        ),
    }
}

/// Fault knobs of the creator side (`GET|PUT /__emulator/creator/knobs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreatorKnobs {
    /// The next N signed creator calls answer HTTP 429, code 36009002.
    pub rate_limit_next: u32,
    /// The next N signed creator calls (that pass the token checks) answer 105005.
    pub scope_error_next: u32,
    /// The profile answers 16015007 (the creator has no sale region).
    pub no_sale_region: bool,
}

/// Calls by endpoint (`GET /__emulator/creator/stats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreatorStats {
    /// Search Open Collaboration Products calls.
    pub search: u64,
    /// Get Open Collaboration Products by ids calls.
    pub by_ids: u64,
    /// Get Creator Profile calls.
    pub profile: u64,
    /// `/api/v2/token/get` calls that redeemed a creator-page code.
    pub token_get: u64,
    /// `/api/v2/token/refresh` calls presenting a creator-page grant's token.
    pub token_refresh: u64,
    /// Authorize page views.
    pub authorize: u64,
    /// 429s answered (knob).
    pub rate_limited: u64,
}

/// One market of the marketplace.
#[derive(Debug, Clone, Copy)]
pub struct Market {
    /// ISO-2 sale region.
    pub region: &'static str,
    /// Currency.
    pub currency: &'static str,
    /// Decimal places of the currency (0 for IDR).
    pub decimals: u32,
    /// Shops selling there.
    pub shops: usize,
}

/// The markets: 16 US shops, 12 Indonesian, 8 British.
pub const MARKETS: &[Market] = &[
    Market {
        region: "US",
        currency: "USD",
        decimals: 2,
        shops: 16,
    },
    Market {
        region: "ID",
        currency: "IDR",
        decimals: 0,
        shops: 12,
    },
    Market {
        region: "GB",
        currency: "GBP",
        decimals: 2,
        shops: 8,
    },
];

/// Products per shop.
pub const PRODUCTS_PER_SHOP: usize = 60;

/// One category level: `(id, parent_id, local_name, is_leaf)`.
type Level = (&'static str, &'static str, &'static str, bool);

const SPORTS: Level = ("601450", "0", "Sports & Outdoor", false);
const FITNESS: Level = ("605220", "601450", "Fitness Equipment", false);
const YOGA_MATS: Level = ("605231", "605220", "Yoga Mats", true);
const YOGA_GEAR: Level = ("605232", "605220", "Yoga Blocks & Straps", true);
const HOME: Level = ("600001", "0", "Home Supplies", false);
const BATHROOM: Level = ("600100", "600001", "Bathroom Supplies", false);
const BATH_MATS: Level = ("600110", "600100", "Bath Mats", true);
const KITCHEN: Level = ("600200", "600001", "Kitchenware", false);
const DRINKWARE: Level = ("600210", "600200", "Drinkware", true);
const OFFICE: Level = ("601152", "0", "Computers & Office Equipment", false);
const OFFICE_SUPPLIES: Level = ("601200", "601152", "Office Supplies", true);
const BEAUTY: Level = ("602284", "0", "Beauty & Personal Care", true);

/// First-level category ids (the only ones search filters on).
pub const TOP_CATEGORIES: &[&str] = &["601450", "600001", "601152", "602284"];

const YOGA_MAT_TITLES: &[&str] = &[
    "Non-Slip Yoga Mat 6mm TPE",
    "Eco Cork Yoga Mat",
    "Extra Thick YOGA MAT 10mm",
    "Foldable Travel Yoga Mat",
    "Premium yoga mat with Carry Strap",
    "Kids Yoga Mat Rainbow",
];

/// Everything but the yoga mats: title and category chain.
const OTHER_ITEMS: &[(&str, &[Level])] = &[
    (
        "Stainless Steel Water Bottle 750ml",
        &[HOME, KITCHEN, DRINKWARE],
    ),
    ("Resistance Bands Set of 5", &[SPORTS, FITNESS]),
    ("Ceramic Coffee Mug 350ml", &[HOME, KITCHEN, DRINKWARE]),
    ("LED Desk Lamp Dimmable", &[OFFICE]),
    ("Velvet Lip Tint Matte", &[BEAUTY]),
    ("Gel Pen Pack of 12", &[OFFICE, OFFICE_SUPPLIES]),
    ("Adjustable Dumbbell 5kg", &[SPORTS, FITNESS]),
    ("Foam Roller High Density", &[SPORTS, FITNESS]),
    ("Speed Jump Rope", &[SPORTS]),
    ("Facial Cleansing Brush", &[BEAUTY]),
    ("Insulated Tumbler 20oz", &[HOME, KITCHEN, DRINKWARE]),
    ("A5 Dotted Notebook", &[OFFICE, OFFICE_SUPPLIES]),
];

const US_SHOP_WORDS: (&[&str], &[&str]) = (
    &[
        "Lotus", "Zen", "Hydro", "Summit", "Sunny", "Urban", "Coastal", "Maple",
    ],
    &["Active Store", "Home Goods"],
);
const ID_SHOP_WORDS: (&[&str], &[&str]) = (
    &["Toko", "Rumah", "Pusat", "Galeri", "Dunia", "Warung"],
    &["Sehat Jakarta", "Olahraga Bandung"],
);
const GB_SHOP_WORDS: (&[&str], &[&str]) = (
    &["Thames", "Camden", "Bristol", "Yorkshire"],
    &["Fitness Co", "Living Ltd"],
);

/// One product of the marketplace. Money is in the currency's minor units.
#[derive(Debug, Clone)]
pub struct MarketProduct {
    /// 19-digit id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Shop name.
    pub shop: String,
    /// Index into [`MARKETS`].
    pub market: usize,
    /// Category chain, top level first (1 to 3 levels).
    pub category: &'static [Level],
    /// Lowest and highest promotion price (minor units).
    pub sale: (i64, i64),
    /// Lowest and highest list price (minor units).
    pub original: (i64, i64),
    /// Commission rate, hundredths of a percent (100..=8000).
    pub rate: i64,
    /// Ads commission rate, hundredths of a percent.
    pub ads_rate: i64,
    /// Units sold, absent for every 7th product (global index ≡ 3 mod 7).
    pub units_sold: Option<u64>,
    /// In stock (false when the global index ≡ 4 mod 11).
    pub has_inventory: bool,
}

impl MarketProduct {
    /// Its market.
    pub fn market(&self) -> &'static Market {
        &MARKETS[self.market]
    }

    /// The commission per unit at the lowest sale price, in millionths of a
    /// currency unit (of the minor unit for IDR, which has none: same thing).
    fn commission_micros(&self) -> i64 {
        let scale = 10_i64.pow(6 - self.market().decimals);
        self.sale.0 * scale * self.rate / 10_000
    }
}

/// The id of product `i` of global shop `shop`.
pub fn market_product_id(shop: usize, i: usize) -> String {
    format!("1731{shop:03}{i:012}")
}

fn shop_name(market: &Market, k: usize) -> String {
    let (first, second) = match market.region {
        "US" => US_SHOP_WORDS,
        "ID" => ID_SHOP_WORDS,
        _ => GB_SHOP_WORDS,
    };
    format!(
        "{} {}",
        first[k % first.len()],
        second[(k / first.len()) % second.len()]
    )
}

/// The whole marketplace, in id order (built once). Product `g` (its global
/// index, shop-major) is a yoga mat when `g % 20 == 0`, a yoga block or strap
/// when `g % 20 == 10`, a bath or mouse mat when `g % 20 == 5`.
pub fn marketplace() -> &'static [MarketProduct] {
    static PRODUCTS: OnceLock<Vec<MarketProduct>> = OnceLock::new();
    PRODUCTS.get_or_init(build)
}

fn build() -> Vec<MarketProduct> {
    let mut products = Vec::new();
    let mut shop = 0;
    for (m, market) in MARKETS.iter().enumerate() {
        for k in 0..market.shops {
            let name = shop_name(market, k);
            for i in 0..PRODUCTS_PER_SHOP {
                let g = shop * PRODUCTS_PER_SHOP + i;
                products.push(product(g, m, market, &name, market_product_id(shop, i)));
            }
            shop += 1;
        }
    }
    products
}

fn product(g: usize, m: usize, market: &Market, shop: &str, id: String) -> MarketProduct {
    let (title, category): (String, &'static [Level]) = match g % 20 {
        0 => (
            format!("{} M{g}", YOGA_MAT_TITLES[(g / 20) % YOGA_MAT_TITLES.len()]),
            &[SPORTS, FITNESS, YOGA_MATS],
        ),
        10 if g % 40 == 10 => (
            format!("Yoga Block Set of 2 EVA Foam B{g}"),
            &[SPORTS, FITNESS, YOGA_GEAR],
        ),
        10 => (
            format!("Cotton Yoga Strap 8ft S{g}"),
            &[SPORTS, FITNESS, YOGA_GEAR],
        ),
        5 if g % 40 == 5 => (
            format!("Quick-Dry Bath Mat B{g}"),
            &[HOME, BATHROOM, BATH_MATS],
        ),
        5 => (format!("Large Mouse Mat P{g}"), &[OFFICE, OFFICE_SUPPLIES]),
        _ => {
            let (title, chain) = OTHER_ITEMS[(g * 7 + g / 20) % OTHER_ITEMS.len()];
            (format!("{title} #{g}"), chain)
        }
    };
    let step = g as i64;
    let (sale_min, spread) = if market.decimals == 0 {
        // Rupiah: whole amounts in steps of 2,500, e.g. 125000.
        ((20 + (step * 37) % 400) * 2_500, (step % 3) * 10_000)
    } else {
        let cents = [99, 49, 0, 95][g % 4];
        ((5 + (step * 37) % 90) * 100 + cents, (step % 3) * 500)
    };
    let list_markup = if market.decimals == 0 { 50_000 } else { 1_000 };
    MarketProduct {
        id,
        title,
        shop: shop.to_owned(),
        market: m,
        category,
        sale: (sale_min, sale_min + spread),
        original: (sale_min + list_markup, sale_min + spread + list_markup),
        rate: 100 + (step * 613) % 7_901,
        ads_rate: 100 + (step * 331) % 4_000,
        units_sold: (g % 7 != 3).then(|| ((g * 7_919) % 20_000) as u64),
        has_inventory: g % 11 != 4,
    }
}

/// `minor` units of a currency with `decimals` places, as TikTok writes money.
fn money(minor: i64, decimals: u32) -> String {
    if decimals == 0 {
        return minor.to_string();
    }
    let scale = 10_i64.pow(decimals);
    format!(
        "{}.{:0width$}",
        minor / scale,
        minor % scale,
        width = decimals as usize
    )
}

/// Millionths as a decimal string with at most 4 places, trailing zeros cut.
fn micros_text(micros: i64) -> String {
    let text = format!("{}.{:04}", micros / 1_000_000, (micros % 1_000_000) / 100);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A positive decimal string (`"19.99"`, `"125000"`) in millionths; `None`
/// when it is not one (or has more than 6 decimal places).
fn parse_micros(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 6 {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = format!("{fraction:0<6}").parse().ok()?;
    whole.checked_mul(1_000_000)?.checked_add(fraction)
}

fn product_json(p: &MarketProduct, image_base: &str, by_ids: bool) -> Value {
    let market = p.market();
    let price = |(lo, hi): (i64, i64)| {
        json!({"currency": market.currency, "minimum_amount": money(lo, market.decimals),
            "maximum_amount": money(hi, market.decimals)})
    };
    let chains: Vec<Value> = p
        .category
        .iter()
        .map(|(id, parent, name, leaf)| {
            json!({"id": id, "parent_id": parent, "local_name": name, "is_leaf": leaf})
        })
        .collect();
    let mut out = json!({
        "id": p.id, "title": p.title,
        "main_image_url": format!("{image_base}/{}.svg", p.id),
        "detail_link": format!("https://shop.tiktok.com/view/product/{}?region={}&local=en", p.id, market.region),
        "sale_region": market.region, "has_inventory": p.has_inventory,
        "shop": {"name": p.shop}, "category_chains": chains,
        "sales_price": price(p.sale), "original_price": price(p.original),
        "commission": {"rate": p.rate, "currency": market.currency,
            "amount": micros_text(p.commission_micros())},
    });
    if let Some(units) = p.units_sold {
        out["units_sold"] = json!(units);
    }
    if by_ids {
        out["shop_ads_commission"] = json!({"rate": p.ads_rate});
    }
    out
}

struct Inner {
    config: CreatorConfig,
    partner: Partner,
    knobs: Mutex<CreatorKnobs>,
    stats: Mutex<CreatorStats>,
}

/// The creator side of the emulator; cheap to clone. It shares the Partner
/// side's app (key, secret, redirect) and token store.
#[derive(Clone)]
pub struct Creator(Arc<Inner>);

/// Which endpoint a signed call is for.
#[derive(Clone, Copy)]
enum Endpoint {
    Search,
    ByIds,
    Profile,
}

impl Creator {
    /// The creator side for `config`, sharing `partner`'s app and tokens.
    pub fn new(config: CreatorConfig, partner: Partner) -> Self {
        if config.reuse_detection {
            partner.set_reuse_detection(true);
        }
        Creator(Arc::new(Inner {
            config,
            partner,
            knobs: Mutex::new(CreatorKnobs::default()),
            stats: Mutex::new(CreatorStats::default()),
        }))
    }

    /// Its configuration.
    pub fn config(&self) -> &CreatorConfig {
        &self.0.config
    }

    /// Calls so far.
    pub fn stats(&self) -> CreatorStats {
        let mut stats = lock(&self.0.stats).clone();
        (stats.token_get, stats.token_refresh) = self.0.partner.creator_token_counts();
        stats
    }

    /// Starts counting from zero.
    pub fn reset_stats(&self) {
        *lock(&self.0.stats) = CreatorStats::default();
        self.0.partner.reset_creator_token_counts();
    }

    /// The current knobs.
    pub fn knobs(&self) -> CreatorKnobs {
        lock(&self.0.knobs).clone()
    }

    /// Replaces the knobs.
    pub fn set_knobs(&self, knobs: CreatorKnobs) {
        *lock(&self.0.knobs) = knobs;
    }

    /// Every creator-page grant's access token expires now (refresh tokens stay good).
    pub fn expire_access_tokens(&self) {
        self.0.partner.expire_access_tokens_where(|h| h.via_creator);
    }

    /// A code as if a creator from `region` had approved every scope (a test
    /// shortcut past the browser).
    pub fn issue_code(&self, region: &str) -> String {
        let scopes = CREATOR_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        self.0
            .partner
            .issue_code_for(creator_holder(region, scopes))
    }

    /// The creator side's routes (merge them into the emulator's router).
    pub fn router(&self) -> Router {
        let knob = |apply: fn(&Creator, &Value)| {
            move |State(c): State<Creator>, body: Bytes| async move {
                let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                apply(&c, &value);
                Json(c.knobs_view())
            }
        };
        Router::new()
            .route("/alliance/creator/auth", get(authorize_page))
            .route("/alliance/creator/auth/decision", post(decision))
            .route(
                "/affiliate_creator/202405/open_collaborations/products/search",
                post(|s: State<Creator>, u: Uri, h: HeaderMap, b: Bytes| {
                    signed(s, u, h, b, Endpoint::Search)
                }),
            )
            .route(
                "/affiliate_creator/202509/open_collaborations/products",
                post(|s: State<Creator>, u: Uri, h: HeaderMap, b: Bytes| {
                    signed(s, u, h, b, Endpoint::ByIds)
                }),
            )
            .route(
                "/affiliate_creator/202508/profiles",
                get(|s: State<Creator>, u: Uri, h: HeaderMap, b: Bytes| {
                    signed(s, u, h, b, Endpoint::Profile)
                }),
            )
            .route(
                "/__emulator/creator/knobs",
                get(|State(c): State<Creator>| async move { Json(c.knobs_view()) }).put(
                    |State(c): State<Creator>, Json(knobs): Json<CreatorKnobs>| async move {
                        c.set_knobs(knobs);
                        Json(c.knobs_view())
                    },
                ),
            )
            .route(
                "/__emulator/creator/rate-limit",
                post(knob(|c, v| lock(&c.0.knobs).rate_limit_next = next(v)))
                    .put(knob(|c, v| lock(&c.0.knobs).rate_limit_next = next(v))),
            )
            .route(
                "/__emulator/creator/scope-error",
                post(knob(|c, v| lock(&c.0.knobs).scope_error_next = next(v)))
                    .put(knob(|c, v| lock(&c.0.knobs).scope_error_next = next(v))),
            )
            .route(
                "/__emulator/creator/no-sale-region",
                post(knob(|c, v| lock(&c.0.knobs).no_sale_region = enabled(v)))
                    .put(knob(|c, v| lock(&c.0.knobs).no_sale_region = enabled(v))),
            )
            .route(
                "/__emulator/creator/reuse-detection",
                post(knob(|c, v| c.0.partner.set_reuse_detection(enabled(v))))
                    .put(knob(|c, v| c.0.partner.set_reuse_detection(enabled(v)))),
            )
            .route(
                "/__emulator/creator/expire-access-tokens",
                post(|State(c): State<Creator>| async move {
                    c.expire_access_tokens();
                    StatusCode::NO_CONTENT
                }),
            )
            .route(
                "/__emulator/creator/stats",
                get(|State(c): State<Creator>| async move { Json(c.stats()) }),
            )
            .route(
                "/__emulator/creator/stats/reset",
                post(|State(c): State<Creator>| async move {
                    c.reset_stats();
                    StatusCode::NO_CONTENT
                }),
            )
            .route("/__emulator/creator/images/{name}", get(partner::image))
            .with_state(self.clone())
    }

    /// The knobs plus reuse detection, as the knob routes answer.
    fn knobs_view(&self) -> Value {
        let mut view = json!(self.knobs());
        view["reuse_detection"] = json!(self.0.partner.reuse_detection());
        view
    }

    fn count(&self, endpoint: Endpoint) {
        let mut stats = lock(&self.0.stats);
        match endpoint {
            Endpoint::Search => stats.search += 1,
            Endpoint::ByIds => stats.by_ids += 1,
            Endpoint::Profile => stats.profile += 1,
        }
    }

    /// Checks a signed creator call; `Ok` is the creator's holder and the
    /// decoded query, `Err` is TikTok's answer.
    #[allow(clippy::result_large_err)]
    fn verify(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        scope: &str,
    ) -> Result<(Holder, Vec<(String, String)>), Response> {
        {
            let mut knobs = lock(&self.0.knobs);
            if knobs.rate_limit_next > 0 {
                knobs.rate_limit_next -= 1;
                lock(&self.0.stats).rate_limited += 1;
                return Err(refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    36009002,
                    "Too many requests",
                ));
            }
        }
        let config = self.0.partner.config();
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
        if sign != creator_sign(&config.app_secret, uri.path(), &query, body) {
            return Err(refuse(StatusCode::UNAUTHORIZED, 106001, "Invalid sign"));
        }
        let json_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            });
        if !json_type {
            return Err(refuse(
                StatusCode::OK,
                36009004,
                "Invalid content-type: application/json is required",
            ));
        }
        let token = headers
            .get("x-tts-access-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let holder = match self.0.partner.access_state(token) {
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
            AccessState::Valid(holder) => holder,
        };
        if holder.user_type != 1 {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                101000,
                "x-tts-access-token header is invalid; detail: invalid user_type for this endpoint",
            ));
        }
        if param("shop_cipher").is_some() {
            return Err(refuse(
                StatusCode::OK,
                36009004,
                "Unexpected identifier: shop_cipher",
            ));
        }
        let forced = {
            let mut knobs = lock(&self.0.knobs);
            let forced = knobs.scope_error_next > 0;
            knobs.scope_error_next = knobs.scope_error_next.saturating_sub(1);
            forced
        };
        if forced || !holder.scopes.iter().any(|s| s == scope) {
            return Err(refuse(
                StatusCode::OK,
                105005,
                "you should apply auth pkg for this api",
            ));
        }
        Ok((holder, query))
    }
}

/// The request signature of a creator call: the seller one, unchanged
/// (`hex(HMAC-SHA256(secret, secret + path + sorted decoded query without
/// sign, access_token and empty values + body + secret))`).
pub fn creator_sign(secret: &str, path: &str, query: &[(String, String)], body: &[u8]) -> String {
    partner::expected_sign(secret, path, query, body)
}

fn next(value: &Value) -> u32 {
    value
        .get("next")
        .or_else(|| value.get("count"))
        .and_then(Value::as_u64)
        .map_or(1, |n| n.min(u32::MAX as u64) as u32)
}

fn enabled(value: &Value) -> bool {
    value
        .get("enabled")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

fn creator_holder(region: &str, scopes: Vec<String>) -> Holder {
    let (open_id, _) = creator_identity(region);
    Holder {
        user_type: 1,
        open_id,
        seller_name: String::new(),
        seller_base_region: String::new(),
        scopes,
        market: region.to_owned(),
        via_creator: true,
    }
}

fn html_error(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Authorization error</title></head><body><h1>Authorization error</h1><p id=\"error\">{}</p></body></html>",
            escape(message)
        )),
    )
        .into_response()
}

/// The markets the authorize page offers: US, ID, and the configured one.
fn page_markets(config: &CreatorConfig) -> Vec<String> {
    let mut markets = vec!["US".to_owned(), "ID".to_owned()];
    if !markets.contains(&config.selection_region) {
        markets.push(config.selection_region.clone());
    }
    markets
}

async fn authorize_page(
    State(c): State<Creator>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    lock(&c.0.stats).authorize += 1;
    let param = |name: &str| q.get(name).map(String::as_str).unwrap_or_default();
    if param("app_key") != c.0.partner.config().app_key {
        return html_error("This app is not available: unknown app_key.");
    }
    if param("state").is_empty() {
        return html_error("The state parameter is required for creator authorization.");
    }
    let scopes: String = CREATOR_SCOPES
        .iter()
        .map(|s| {
            format!(
                r#"<li><label><input type="checkbox" id="scope-{id}" name="scope" value="{s}" checked> {s}</label></li>"#,
                id = s.replace('.', "-")
            )
        })
        .collect();
    let markets: String = page_markets(&c.0.config)
        .iter()
        .map(|m| {
            let selected = if *m == c.0.config.selection_region {
                " selected"
            } else {
                ""
            };
            format!(
                r#"<option value="{m}"{selected}>{m}</option>"#,
                m = escape(m)
            )
        })
        .collect();
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TikTok Shop emulator — creator authorization</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.6rem 1.4rem;margin-right:.5rem;border-radius:.4rem;border:1px solid #888}}
#approve{{background:#fe2c55;color:#fff;border-color:#fe2c55}} ul{{list-style:none;padding:0}}</style></head>
<body><h1>TikTok Shop creator authorization (emulator)</h1>
<p>Authorize this app to read affiliate collaborations and your creator information?</p>
<form method="post" action="/alliance/creator/auth/decision">
<input type="hidden" name="app_key" value="{app_key}"><input type="hidden" name="state" value="{state}">
<ul id="scopes">{scopes}</ul>
<p><label for="market">Creator market</label> <select id="market" name="market">{markets}</select></p>
<p><label><input type="checkbox" id="as-seller" name="as_seller" value="1"> Approve as a seller account (not a creator)</label></p>
<button id="approve" name="decision" value="approve">Approve</button>
<button id="deny" name="decision" value="deny">Deny</button></form>
<p><small>The local TikTok Shop emulator; no real creator is involved.</small></p></body></html>"#,
        app_key = escape(param("app_key")),
        state = escape(param("state")),
    ))
    .into_response()
}

async fn decision(State(c): State<Creator>, body: Bytes) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let app_key = &c.0.partner.config().app_key;
    if field("app_key") != app_key {
        return html_error("This app is not available: unknown app_key.");
    }
    let state = field("state");
    if state.is_empty() {
        return html_error("The state parameter is required for creator authorization.");
    }
    let Ok(mut back) = url::Url::parse(&c.0.partner.config().redirect_uri) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "no redirect URI configured",
        )
            .into_response();
    };
    if field("decision") == "approve" {
        let holder = if field("as_seller").is_empty() {
            let scopes = form
                .iter()
                .filter(|(k, v)| k == "scope" && CREATOR_SCOPES.contains(&v.as_str()))
                .map(|(_, v)| v.clone())
                .collect();
            let market = match field("market") {
                "" => c.0.config.selection_region.as_str(),
                m => m,
            };
            creator_holder(market, scopes)
        } else {
            Holder::seller(true)
        };
        let code = c.0.partner.issue_code_for(holder);
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", state)
            .append_pair("app_key", app_key);
    } else {
        back.query_pairs_mut()
            .append_pair("error", "auth_denied")
            .append_pair("state", state);
    }
    Redirect::to(back.as_str()).into_response()
}

fn bad_request(message: &str) -> Response {
    refuse(StatusCode::BAD_REQUEST, 36009004, message)
}

async fn signed(
    State(c): State<Creator>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    endpoint: Endpoint,
) -> Response {
    c.count(endpoint);
    let scope = match endpoint {
        Endpoint::Profile => SCOPE_AFFILIATE_INFO,
        _ => SCOPE_COLLABORATION_READ,
    };
    let (holder, query) = match c.verify(&uri, &headers, &body, scope) {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    match endpoint {
        Endpoint::Search => search(&c, &holder, &query, &body),
        Endpoint::ByIds => by_ids(&c, &query, &body),
        Endpoint::Profile => profile(&c, &holder),
    }
}

/// `sort_field`.
#[derive(Clone, Copy, PartialEq)]
enum SortField {
    Id,
    CommissionRate,
    SalesPrice,
    Commission,
    UnitsSold,
}

/// Standard base64 of this, then the offset, gives a token with `+`, `/` and `=`.
const TOKEN_MAGIC: &[u8] = &[0xfb, 0xff, 0xbf];

fn page_token(offset: usize, fingerprint: &str) -> String {
    let mut raw = TOKEN_MAGIC.to_vec();
    raw.extend_from_slice(format!("{offset}:{fingerprint}").as_bytes());
    if raw.len() % 3 == 0 {
        raw.push(b'.');
    }
    base64::engine::general_purpose::STANDARD.encode(raw)
}

fn parse_page_token(token: &str, fingerprint: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()?;
    let rest = raw.strip_prefix(TOKEN_MAGIC)?;
    let text = std::str::from_utf8(rest).ok()?.trim_end_matches('.');
    let (offset, print) = text.split_once(':')?;
    (print == fingerprint).then_some(())?;
    offset.parse().ok()
}

fn search(c: &Creator, holder: &Holder, query: &[(String, String)], body: &[u8]) -> Response {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(size) = param("page_size")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|s| (1..=20).contains(s))
    else {
        return bad_request("invalid page_size: must be 1 to 20");
    };
    let field = match param("sort_field") {
        None | Some("") => SortField::Id,
        Some("commission_rate") => SortField::CommissionRate,
        Some("product_sales_price") => SortField::SalesPrice,
        Some("commission") => SortField::Commission,
        Some("units_sold") => SortField::UnitsSold,
        Some(_) => return bad_request("invalid sort_field"),
    };
    let descending = match param("sort_order") {
        None | Some("") | Some("ASC") => false,
        Some("DESC") => true,
        Some(_) => return bad_request("invalid sort_order: ASC or DESC"),
    };
    let filter: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return bad_request("invalid request body: a JSON object is required"),
        }
    };
    let mut keywords = Vec::new();
    if let Some(list) = filter.get("title_keywords") {
        let Some(list) = list.as_array() else {
            return bad_request("invalid title_keywords: an array of strings is required");
        };
        if list.len() > 20 {
            return bad_request("invalid title_keywords: at most 20 keywords");
        }
        for k in list {
            let Some(k) = k.as_str() else {
                return bad_request("invalid title_keywords: an array of strings is required");
            };
            if k.chars().count() > 255 {
                return bad_request("invalid title_keywords: each at most 255 characters");
            }
            if !k.trim().is_empty() {
                keywords.push(k.trim().to_lowercase());
            }
        }
    }
    let category = filter
        .pointer("/category/id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    if let Some(id) = category {
        let lower_level = marketplace()
            .iter()
            .flat_map(|p| p.category.iter())
            .any(|(cid, parent, _, _)| *cid == id && *parent != "0");
        if lower_level {
            return bad_request("invalid category.id: only first-level categories are supported");
        }
    }
    const RATE_ERROR: &str = "invalid commission_rate_range: integers required";
    const PRICE_ERROR: &str = "invalid sales_price_range: positive decimal strings required";
    let int = |pointer: &str| match filter.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or(RATE_ERROR),
    };
    let amount = |pointer: &str| match filter.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => parse_micros(s)
            .filter(|v| *v > 0)
            .map(Some)
            .ok_or(PRICE_ERROR),
        Some(_) => Err(PRICE_ERROR),
    };
    let ranges = (|| {
        Ok::<_, &str>((
            int("/commission_rate_range/rate_ge")?,
            int("/commission_rate_range/rate_lt")?,
            amount("/sales_price_range/amount_ge")?,
            amount("/sales_price_range/amount_lt")?,
        ))
    })();
    let (rate_ge, rate_lt, amount_ge, amount_lt) = match ranges {
        Ok(ranges) => ranges,
        Err(message) => return bad_request(message),
    };
    let region = holder.market.as_str();
    let price_micros = |p: &MarketProduct| p.sale.0 * 10_i64.pow(6 - p.market().decimals);
    let mut hits: Vec<&MarketProduct> = marketplace()
        .iter()
        .filter(|p| p.market().region == region)
        .filter(|p| {
            let title = p.title.to_lowercase();
            keywords.iter().all(|k| title.contains(k.as_str()))
        })
        .filter(|p| category.is_none_or(|id| p.category.first().is_some_and(|l| l.0 == id)))
        .filter(|p| rate_ge.is_none_or(|r| p.rate >= r) && rate_lt.is_none_or(|r| p.rate < r))
        .filter(|p| {
            amount_ge.is_none_or(|a| price_micros(p) >= a)
                && amount_lt.is_none_or(|a| price_micros(p) < a)
        })
        .collect();
    let key = |p: &MarketProduct| -> Option<i64> {
        match field {
            SortField::Id => Some(0),
            SortField::CommissionRate => Some(p.rate),
            SortField::SalesPrice => Some(p.sale.0),
            SortField::Commission => Some(p.commission_micros()),
            SortField::UnitsSold => p.units_sold.map(|u| u as i64),
        }
    };
    hits.sort_by(|a, b| {
        let by_key = match (key(a), key(b)) {
            (Some(x), Some(y)) if descending => y.cmp(&x),
            (Some(x), Some(y)) => x.cmp(&y),
            // Absent units_sold: last, whatever the order.
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        let by_id = if field == SortField::Id && descending {
            b.id.cmp(&a.id)
        } else {
            a.id.cmp(&b.id)
        };
        by_key.then(by_id)
    });
    let fingerprint = {
        let digest = Sha256::digest(
            format!(
                "{}|{}|{}|{}",
                region,
                param("sort_field").unwrap_or_default(),
                param("sort_order").unwrap_or_default(),
                filter
            )
            .as_bytes(),
        );
        digest
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let start = match param("page_token").filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => match parse_page_token(token, &fingerprint) {
            Some(start) => start,
            None => return bad_request("invalid page_token"),
        },
    };
    let total = hits.len();
    let end = (start + size).min(total);
    let products: Vec<Value> = hits
        .get(start.min(total)..end)
        .unwrap_or_default()
        .iter()
        .map(|p| product_json(p, &c.0.config.image_base_url, false))
        .collect();
    let next = if end < total {
        page_token(end, &fingerprint)
    } else {
        String::new()
    };
    envelope(
        0,
        "Success",
        Some(json!({"products": products, "next_page_token": next, "total_count": total})),
    )
}

fn by_ids(c: &Creator, query: &[(String, String)], body: &[u8]) -> Response {
    if !body.is_empty() && !matches!(serde_json::from_slice::<Value>(body), Ok(Value::Object(_))) {
        return bad_request("invalid request body: a JSON object or no body is required");
    }
    let ids: Vec<&str> = query
        .iter()
        .find(|(k, _)| k == "product_ids")
        .map(|(_, v)| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return bad_request("invalid product_ids: at least one id is required");
    }
    if ids.len() > 20 {
        return bad_request("invalid product_ids: at most 20 ids");
    }
    let products: Vec<Value> = ids
        .iter()
        .filter_map(|id| find_product(id))
        .map(|p| product_json(p, &c.0.config.image_base_url, true))
        .collect();
    envelope(0, "Success", Some(json!({ "products": products })))
}

/// The marketplace product with `id`.
pub fn find_product(id: &str) -> Option<&'static MarketProduct> {
    let all = marketplace();
    all.binary_search_by(|p| p.id.as_str().cmp(id))
        .ok()
        .and_then(|i| all.get(i))
}

fn profile(c: &Creator, holder: &Holder) -> Response {
    if c.knobs().no_sale_region {
        return envelope(
            16015007,
            "no sale region error; detail: creator has no sale region.",
            None,
        );
    }
    let (open_id, username) = creator_identity(&holder.market);
    let base = &c.0.config.image_base_url;
    envelope(
        0,
        "Success",
        Some(json!({
            "avatar": {"url": format!("{base}/avatar-{username}.svg"), "width": 100, "height": 100},
            "username": username,
            "selection_region": holder.market, "register_region": holder.market,
            "seller_type": "LOCAL",
            "permissions": ["ADD_AFFILIATE_PERMISSION"],
            "user_type": "TIKTOK_SHOP_CREATOR",
            "creator_user_open_id": open_id,
        })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn the_creator_signature_matches_the_contracts_vectors() {
        let base = [("app_key", "29a39d"), ("timestamp", "1623812664")];
        assert_eq!(
            creator_sign(
                "e59af819cc",
                "/affiliate_creator/202508/profiles",
                &q(&base),
                b""
            ),
            "e74b20075de1187d22a3906c08527284c9a2ba29c49b330e6fda1e8a808fbc18"
        );
        let mut search = base.to_vec();
        search.extend([
            ("page_size", "20"),
            ("sort_field", "units_sold"),
            ("sort_order", "DESC"),
        ]);
        assert_eq!(
            creator_sign(
                "e59af819cc",
                "/affiliate_creator/202405/open_collaborations/products/search",
                &q(&search),
                br#"{"title_keywords":["yoga","mat"],"commission_rate_range":{"rate_ge":1000}}"#
            ),
            "b29e07fe01326bd3202891be9bf7fe4426cdf6b65e7a50658fa209e222a290f8"
        );
        let mut ids = base.to_vec();
        ids.push(("product_ids", "1729432087292775344,1729432087292775345"));
        assert_eq!(
            creator_sign(
                "e59af819cc",
                "/affiliate_creator/202509/open_collaborations/products",
                &q(&ids),
                b""
            ),
            "5bbb273e077791a7eb59e655c18a7f8196bb684e90fa8e3e838bcea55626985a"
        );
    }

    #[test]
    fn the_marketplace_has_the_documented_shape() {
        let all = marketplace();
        assert_eq!(all.len(), 2_160);
        let shops: std::collections::HashSet<&str> = all.iter().map(|p| p.shop.as_str()).collect();
        assert_eq!(shops.len(), 36);
        let yoga_mats = |region: &str| {
            all.iter()
                .filter(|p| p.market().region == region)
                .filter(|p| {
                    let t = p.title.to_lowercase();
                    t.contains("yoga") && t.contains("mat")
                })
                .count()
        };
        assert_eq!(
            (yoga_mats("US"), yoga_mats("ID"), yoga_mats("GB")),
            (48, 36, 24)
        );
        assert!(all.windows(2).all(|w| w[0].id < w[1].id));
        assert!(all.iter().all(|p| p.id.len() == 19));
        assert!(all.iter().all(|p| (100..=8000).contains(&p.rate)));
        assert_eq!(all.iter().filter(|p| p.units_sold.is_none()).count(), 309);
        assert!(all.iter().any(|p| !p.has_inventory));
        assert_eq!(
            find_product("1731000000000000003").unwrap().units_sold,
            None
        );
        let idr = find_product(&market_product_id(16, 0)).unwrap();
        assert_eq!(idr.market().currency, "IDR");
        let json = product_json(idr, "", true);
        assert!(!json["sales_price"]["minimum_amount"]
            .as_str()
            .unwrap()
            .contains('.'));
    }

    #[test]
    fn the_us_yoga_mats_a_gateway_test_can_count_on() {
        let mats: Vec<&MarketProduct> = marketplace()
            .iter()
            .filter(|p| p.market().region == "US" && p.title.to_lowercase().contains("yoga mat"))
            .collect();
        assert_eq!(mats.len(), 48);
        let without: Vec<&str> = mats
            .iter()
            .filter(|p| p.units_sold.is_none())
            .map(|p| p.id.as_str())
            .collect();
        assert_eq!(without.len(), 7);
        assert_eq!(without[0], "1731001000000000020");
        assert_eq!(mats.iter().filter(|p| p.rate >= 1000).count(), 42);
    }

    #[test]
    fn money_is_exact() {
        assert_eq!(money(1999, 2), "19.99");
        assert_eq!(money(500, 2), "5.00");
        assert_eq!(money(125_000, 0), "125000");
        assert_eq!(parse_micros("19.99"), Some(19_990_000));
        assert_eq!(parse_micros("125000"), Some(125_000_000_000));
        assert_eq!(parse_micros("1.2.3"), None);
        assert_eq!(parse_micros("-1"), None);
        assert_eq!(micros_text(431_900), "0.4319");
        assert_eq!(micros_text(2_000_000), "2");
    }

    #[test]
    fn page_tokens_need_percent_encoding_and_round_trip() {
        let token = page_token(20, "abc123");
        assert!(token.contains('+') && token.contains('/') && token.ends_with('='));
        assert_eq!(parse_page_token(&token, "abc123"), Some(20));
        assert_eq!(parse_page_token(&token, "other"), None);
    }
}
