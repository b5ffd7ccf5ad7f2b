//! TikTok's wire types, decoded tolerantly where the contract is unverified.

use serde::{Deserialize, Deserializer};

use crate::redacted::{AccessToken, RefreshToken};

/// A TikTok id (shop, product). They are 64-bit integers above 2^53, so they are
/// kept as their decimal string and never go through `f64`. Accepts a JSON number
/// or a string of digits.
///
/// Leading zeros: an id is its number. `0123` and `123` are the same id
/// everywhere (equality, hashing, order, cache keys: [`TikTokId::canonical`]),
/// so `?productId=0123` finds the product TikTok lists as `123`. The id is
/// still written as it was given ([`TikTokId::as_str`], `Display`,
/// serialization): the Partner API treats ids as strings and gets them back
/// exactly as it sent them.
#[derive(Debug, Clone)]
pub struct TikTokId {
    written: String,
    number: u64,
}

impl TikTokId {
    /// Parses a string of ASCII digits whose number fits in a `u64`.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        raw.parse::<u64>().ok().map(|number| Self {
            written: raw.to_owned(),
            number,
        })
    }

    /// The id as it was written.
    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// The id without leading zeros: what it is compared and stored by.
    pub fn canonical(&self) -> String {
        self.number.to_string()
    }
}

impl PartialEq for TikTokId {
    fn eq(&self, other: &Self) -> bool {
        self.number == other.number
    }
}

impl Eq for TikTokId {}

impl std::hash::Hash for TikTokId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.number.hash(state);
    }
}

impl PartialOrd for TikTokId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TikTokId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.number.cmp(&other.number)
    }
}

impl serde::Serialize for TikTokId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.written)
    }
}

impl std::fmt::Display for TikTokId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.written)
    }
}

impl<'de> Deserialize<'de> for TikTokId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = TikTokId;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a 64-bit id as a JSON integer or a string of digits")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<TikTokId, E> {
                Ok(TikTokId {
                    written: v.to_string(),
                    number: v,
                })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<TikTokId, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("negative id"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<TikTokId, E> {
                Err(E::custom("an id as a float has lost precision"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TikTokId, E> {
                TikTokId::parse(v.trim()).ok_or_else(|| E::custom("id is not a string of digits"))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A count that may arrive as a number or a numeric string; anything else is `None`.
fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Number(n)) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        }),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A rating that may arrive as a number or a numeric string.
fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A value shown as text whatever JSON type it arrives as.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    })
}

/// Prices are documented as a list of strings; accept a lone string too.
fn price_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Array(items)) => items
            .into_iter()
            .filter_map(|v| match v {
                serde_json::Value::String(s) => Some(s),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(serde_json::Value::String(s)) => vec![s],
        _ => Vec::new(),
    })
}

/// A shop from `/v2/research/tts/shop/`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Shop {
    /// Shop id.
    pub shop_id: TikTokId,
    /// Shop name.
    #[serde(default)]
    pub shop_name: String,
    /// Rating, 0 to 5.
    #[serde(default, deserialize_with = "lenient_f64")]
    pub shop_rating: Option<f64>,
    /// Number of reviews.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub shop_review_count: Option<u64>,
    /// Items sold.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub item_sold_count: Option<u64>,
    /// TikTok's performance indicator, shown as text.
    #[serde(default, deserialize_with = "lenient_string")]
    pub shop_performance_value: Option<String>,
}

/// A product from `/v2/research/tts/product/`, as TikTok sends it.
#[derive(Debug, Clone, Deserialize, PartialEq, serde::Serialize)]
pub struct Product {
    /// Product id.
    pub product_id: TikTokId,
    /// Name.
    #[serde(default)]
    pub product_name: String,
    /// Description.
    #[serde(default)]
    pub product_description: String,
    /// Prices such as `"29.99USD"`: the sale price first, then the original if any.
    #[serde(default, deserialize_with = "price_list")]
    pub product_price: Vec<String>,
    /// Units sold.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub product_sold_count: Option<u64>,
    /// Reviews written.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub product_review_count: Option<u64>,
    /// Average rating as TikTok computes it.
    #[serde(default, deserialize_with = "lenient_f64")]
    pub product_rating: Option<f64>,
    /// Number of one-star ratings.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub product_rating_1_count: Option<u64>,
    /// Number of two-star ratings.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub product_rating_2_count: Option<u64>,
    /// Number of three-star ratings.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub product_rating_3_count: Option<u64>,
    /// Number of four-star ratings.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub product_rating_4_count: Option<u64>,
    /// Number of five-star ratings.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub product_rating_5_count: Option<u64>,
}

/// A review from `/v2/research/tts/review/`.
#[derive(Debug, Clone, Deserialize, PartialEq, serde::Serialize)]
#[serde(rename_all(serialize = "camelCase"))]
pub struct Review {
    /// The product's name.
    #[serde(default)]
    pub product_name: String,
    /// What the reviewer wrote.
    #[serde(default)]
    pub review_text: String,
    /// The reviewer's display name.
    #[serde(default)]
    pub display_name: String,
    /// Likes on the review.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub review_like_count: Option<u64>,
    /// Unix time of the review.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub create_time: Option<u64>,
    /// Stars, 1 to 5.
    #[serde(default, deserialize_with = "lenient_f64")]
    pub review_rating: Option<f64>,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Whether TikTok says there is more. When TikTok sends no flag, a full page is
    /// taken to mean there may be more.
    pub has_more: bool,
}

/// What a token endpoint grants.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// The TikTok user (absent for client-credentials tokens).
    pub open_id: Option<String>,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// The access token.
    pub access_token: AccessToken,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The new refresh token (absent for client-credentials tokens).
    pub refresh_token: Option<RefreshToken>,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: Option<u64>,
}

/// The app's credentials at TikTok (from Secrets Manager).
#[derive(Debug, Clone)]
pub struct AppCredentials {
    /// `client_key`, public.
    pub client_key: String,
    /// `client_secret`.
    pub client_secret: crate::redacted::ClientSecret,
}

/// Fields asked for on the shop endpoint.
pub const SHOP_FIELDS: &[&str] = &[
    "shop_id",
    "shop_name",
    "shop_rating",
    "shop_review_count",
    "item_sold_count",
    "shop_performance_value",
];

/// Fields asked for on the product endpoint.
pub const PRODUCT_FIELDS: &[&str] = &[
    "product_id",
    "product_name",
    "product_description",
    "product_price",
    "product_sold_count",
    "product_review_count",
    "product_rating",
    "product_rating_1_count",
    "product_rating_2_count",
    "product_rating_3_count",
    "product_rating_4_count",
    "product_rating_5_count",
];

/// Fields asked for on the review endpoint.
pub const REVIEW_FIELDS: &[&str] = &[
    "product_name",
    "review_text",
    "display_name",
    "review_like_count",
    "create_time",
    "review_rating",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_above_2_pow_53_survive_as_numbers_and_strings() {
        let id: TikTokId = serde_json::from_str("7494754040961993093").unwrap();
        assert_eq!(id.as_str(), "7494754040961993093");
        let id: TikTokId = serde_json::from_str("\"7494754040961993093\"").unwrap();
        assert_eq!(id.as_str(), "7494754040961993093");
        assert!(serde_json::from_str::<TikTokId>("7.494754040961993e18").is_err());
        assert!(serde_json::from_str::<TikTokId>("\"12a\"").is_err());
        assert!(serde_json::from_str::<TikTokId>("-5").is_err());
    }

    #[test]
    fn id_parse_rejects_what_is_not_a_u64() {
        assert!(TikTokId::parse("18446744073709551615").is_some());
        assert!(TikTokId::parse("18446744073709551616").is_none());
        assert!(TikTokId::parse("").is_none());
        assert!(TikTokId::parse("+1").is_none());
        assert!(TikTokId::parse("１２").is_none());
    }

    #[test]
    fn ids_with_leading_zeros_are_the_same_id_everywhere() {
        let canonical = TikTokId::parse("123").unwrap();
        assert_eq!(TikTokId::parse("0123"), Some(canonical.clone()));
        assert_eq!(
            TikTokId::parse("000000000000000000123"),
            Some(canonical.clone())
        );
        assert_eq!(TikTokId::parse("000").unwrap().canonical(), "0");
        let decoded: TikTokId = serde_json::from_str("\"0123\"").unwrap();
        assert_eq!(decoded, canonical);
        assert_eq!(decoded.canonical(), "123");
        // Written as given: the Partner API gets its string ids back unchanged.
        assert_eq!(decoded.as_str(), "0123");
        assert_eq!(serde_json::to_string(&decoded).unwrap(), "\"0123\"");
        let set: std::collections::HashSet<TikTokId> = [canonical, decoded].into();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn product_fields_are_decoded_leniently() {
        let p: Product = serde_json::from_value(serde_json::json!({
            "product_id": 7494754040961993100u64,
            "product_name": "Lamp",
            "product_price": "19.99USD",
            "product_sold_count": "12",
            "product_rating_5_count": 3,
            "product_rating": null,
        }))
        .unwrap();
        assert_eq!(p.product_id.as_str(), "7494754040961993100");
        assert_eq!(p.product_price, ["19.99USD"]);
        assert_eq!(p.product_sold_count, Some(12));
        assert_eq!(p.product_rating_5_count, Some(3));
        assert_eq!(p.product_rating, None);
    }
}
