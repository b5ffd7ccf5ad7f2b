//! The dshipit product record: how a TikTok Shop product is shown on the site.
//! Prices are parsed exactly (decimal, never `f64`); a price that cannot be parsed
//! leaves the price empty and logs a warning instead of failing the page. The
//! record of each provider's product is built here ([`DshipitProduct::from_tiktok`],
//! [`DshipitProduct::from_shop`]) and in [`creator`] ([`DshipitProduct::from_open`]);
//! prices are read in [`price`].

pub mod creator;
pub mod price;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

pub use price::{parse_amount, parse_decimal, parse_price, Price};

use crate::tiktok::shop::{ListedProduct, Sku};
use crate::tiktok::{Product, TikTokId};
/// The supplier name on every record.
pub const SUPPLIER: &str = "TikTok Shop";

/// A product as the dshipit site consumes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DshipitProduct {
    /// TikTok product id (digits).
    pub product_id: String,
    /// Product name.
    pub product_title: String,
    /// Main image; the Research API does not provide one, so this is empty.
    pub product_main_image_url: String,
    /// Sale price as an exact decimal string, or empty.
    pub target_sale_price: String,
    /// Original price as an exact decimal string, or empty.
    pub target_original_price: String,
    /// Percent off the original price, a whole number as a string; `"0"` when unknown.
    pub discount: String,
    /// Count-weighted average rating, 0–5 with one decimal; `"0.0"` without
    /// ratings. `None` (JSON `null`) where the provider has no ratings (the
    /// Partner API).
    pub evaluate_rate: Option<String>,
    /// Units sold; `None` where the provider does not say (the Partner API).
    pub orders_count: Option<u64>,
    /// The product's page on TikTok Shop.
    pub product_detail_url: String,
    /// Always [`SUPPLIER`].
    pub supplier: String,
    /// The shop's page on TikTok Shop.
    pub shop_url: String,
    /// The shop id.
    pub seller_id: String,
    /// ISO 4217 currency of the prices, or empty.
    pub currency: String,
    /// What an affiliate earns and the marketplace facts around it (the
    /// Affiliate Creator API only; absent from the other providers' records).
    #[serde(flatten)]
    pub affiliate: Option<AffiliateTerms>,
}

/// A marketplace product's affiliate terms and facts, in the record's own
/// snake_case: exact decimals as strings, like the prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AffiliateTerms {
    /// Commission rate in percent, exact (`"15"`, `"12.34"`); `None` when TikTok left it out.
    pub commission_rate: Option<String>,
    /// Commission per unit as TikTok states it (at the lowest price), exact.
    pub commission_amount: Option<String>,
    /// The commission's currency.
    pub commission_currency: Option<String>,
    /// The commission rate on orders from ads, in percent (product lookup only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shop_ads_commission_rate: Option<String>,
    /// Lowest and highest sale (promotion) price over the SKUs.
    pub sale_price_range: Option<PriceRange>,
    /// Lowest and highest original price over the SKUs.
    pub original_price_range: Option<PriceRange>,
    /// Whether any unit is in stock; `None` when TikTok left it out.
    pub in_stock: Option<bool>,
    /// The market the product sells in (ISO-2).
    pub sale_region: Option<String>,
    /// The category chain, top level first (at most three levels).
    pub category_chain: Vec<Category>,
}

/// A price range, exact decimals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceRange {
    /// The lowest price.
    pub min: String,
    /// The highest price.
    pub max: String,
}

/// One level of a category chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Category {
    /// TikTok's category id.
    pub id: String,
    /// Its local name.
    pub name: String,
}

/// The count-weighted average of the five rating counts, one decimal.
pub fn evaluate_rate(counts: [u64; 5]) -> String {
    let total: u128 = counts.iter().map(|&c| c as u128).sum();
    if total == 0 {
        return "0.0".to_owned();
    }
    let weighted: u128 = counts
        .iter()
        .enumerate()
        .map(|(i, &c)| (i as u128 + 1) * c as u128)
        .sum();
    let (Ok(weighted), Ok(total)) = (i64::try_from(weighted), i64::try_from(total)) else {
        return "0.0".to_owned();
    };
    let rate = (Decimal::from(weighted) / Decimal::from(total))
        .round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero);
    format!("{rate:.1}")
}

/// Whole percent off `original`, `"0"` when there is no reduction.
pub fn discount(sale: Option<&Price>, original: Option<&Price>) -> String {
    match (sale, original) {
        (Some(sale), Some(original))
            if original.amount > Decimal::ZERO
                && sale.amount < original.amount
                && sale.currency == original.currency =>
        {
            let percent = (original.amount - sale.amount) / original.amount * Decimal::ONE_HUNDRED;
            percent
                .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
                .normalize()
                .to_string()
        }
        _ => "0".to_owned(),
    }
}

impl DshipitProduct {
    /// The record for `product` of shop `shop_id`.
    pub fn from_tiktok(product: &Product, shop_id: &TikTokId) -> Self {
        let mut prices: Vec<Price> = Vec::new();
        for raw in &product.product_price {
            match parse_price(raw) {
                Some(price) => prices.push(price),
                None => tracing::warn!(
                    product_id = %product.product_id,
                    price = %raw,
                    "unparseable TikTok price; leaving it empty"
                ),
            }
        }
        // Sale and original are only compared within one currency: the first
        // listed price's (TikTok lists the sale price first).
        let currency = prices.first().map(|p| p.currency.clone());
        prices.retain(|p| {
            let same = currency.as_ref() == Some(&p.currency);
            if !same {
                tracing::warn!(
                    product_id = %product.product_id,
                    currency = %p.currency,
                    "a price in a second currency; leaving it out"
                );
            }
            same
        });
        // The lower price is the sale price, the higher the original.
        let sale = prices.iter().min_by_key(|p| p.amount).cloned();
        let original = prices.iter().max_by_key(|p| p.amount).cloned();
        let counts = [
            product.product_rating_1_count,
            product.product_rating_2_count,
            product.product_rating_3_count,
            product.product_rating_4_count,
            product.product_rating_5_count,
        ]
        .map(|c| c.unwrap_or(0));
        Self {
            evaluate_rate: Some(evaluate_rate(counts)),
            orders_count: Some(product.product_sold_count.unwrap_or(0)),
            ..Self::priced(
                product.product_id.canonical(),
                &product.product_name,
                shop_id.canonical(),
                sale,
                original,
            )
        }
    }

    /// The record's common part: ids, links and prices (the sale price's
    /// currency), no image, no rating and no sales count.
    fn priced(
        id: String,
        title: &str,
        shop_id: String,
        sale: Option<Price>,
        original: Option<Price>,
    ) -> Self {
        let amount = |price: Option<&Price>| price.map(|p| p.amount.to_string());
        Self {
            product_detail_url: format!("https://www.tiktokshop.com/product/{id}"),
            product_id: id,
            product_title: title.to_owned(),
            product_main_image_url: String::new(),
            target_sale_price: amount(sale.as_ref()).unwrap_or_default(),
            target_original_price: amount(original.as_ref()).unwrap_or_default(),
            discount: discount(sale.as_ref(), original.as_ref()),
            evaluate_rate: None,
            orders_count: None,
            supplier: SUPPLIER.to_owned(),
            shop_url: format!("https://www.tiktokshop.com/shop/{shop_id}"),
            seller_id: shop_id,
            currency: sale.map(|p| p.currency).unwrap_or_default(),
            affiliate: None,
        }
    }
}

/// A SKU's sale price and, when higher, its list price (same currency).
pub fn sku_prices(sku: &Sku) -> Option<(Price, Option<Price>)> {
    let price = sku.price.as_ref()?;
    let sale = Price {
        amount: parse_decimal(price.sale_price.trim())?,
        currency: price.currency.trim().to_owned(),
    };
    let list = sku.list_price.as_ref().and_then(|list| {
        let amount = parse_decimal(list.amount.trim())?;
        let currency = if list.currency.trim().is_empty() {
            sale.currency.clone()
        } else {
            list.currency.trim().to_owned()
        };
        (currency == sale.currency && amount > sale.amount).then_some(Price { amount, currency })
    });
    Some((sale, list))
}

impl DshipitProduct {
    /// The record for a Partner API product of shop `shop_id`: the lowest SKU
    /// sale price with its currency, the original price from that SKU's list
    /// price when higher, the discount between them. SKUs priced in another
    /// currency than the first priced SKU are left out of the comparison. No
    /// rating and no sales count: the Partner API has neither.
    pub fn from_shop(product: &ListedProduct, shop_id: &TikTokId, main_image_url: &str) -> Self {
        let mut priced: Vec<(Price, Option<Price>)> = Vec::new();
        for sku in &product.skus {
            match sku_prices(sku) {
                Some(prices) => priced.push(prices),
                None if sku.price.is_some() => tracing::warn!(
                    product_id = %product.id,
                    sku_id = %sku.id,
                    "unparseable TikTok Shop price; leaving it out"
                ),
                None => {}
            }
        }
        let currency = priced.first().map(|(sale, _)| sale.currency.clone());
        let lowest = priced
            .into_iter()
            .filter(|(sale, _)| Some(&sale.currency) == currency.as_ref())
            .min_by_key(|(sale, _)| sale.amount);
        let (sale, original) = match lowest {
            Some((sale, list)) => {
                let original = list.unwrap_or_else(|| sale.clone());
                (Some(sale), Some(original))
            }
            None => (None, None),
        };
        Self {
            product_main_image_url: main_image_url.to_owned(),
            ..Self::priced(
                product.id.to_string(),
                &product.title,
                shop_id.to_string(),
                sale,
                original,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(raw: &str) -> Option<(String, String)> {
        parse_price(raw).map(|p| (p.amount.to_string(), p.currency))
    }

    #[test]
    fn prices_parse_exactly_in_every_documented_shape() {
        let cases = [
            ("29.99USD", "29.99", "USD"),
            ("1,299.00 EUR", "1299.00", "EUR"),
            ("¥88", "88", "JPY"),
            ("15.50GBP", "15.50", "GBP"),
            ("USD 5", "5", "USD"),
            ("€15,50", "15.50", "EUR"),
            ("1.299,00 EUR", "1299.00", "EUR"),
            ("$0.10", "0.10", "USD"),
            ("12345678901234567.89USD", "12345678901234567.89", "USD"),
        ];
        for (raw, amount, currency) in cases {
            assert_eq!(price(raw), Some((amount.into(), currency.into())), "{raw}");
        }
    }

    #[test]
    fn nonsense_prices_are_none() {
        for raw in [
            "",
            "USD",
            "free",
            "12.3.4USD",
            "-5USD",
            "1e5USD",
            "29.99usd",
            "¥",
            "٣USD",
        ] {
            assert_eq!(price(raw), None, "{raw}");
        }
    }

    #[test]
    fn evaluate_rate_is_weighted_and_never_divides_by_zero() {
        assert_eq!(evaluate_rate([0, 0, 0, 0, 0]), "0.0");
        assert_eq!(evaluate_rate([0, 0, 0, 0, 7]), "5.0");
        assert_eq!(evaluate_rate([1, 0, 0, 0, 1]), "3.0");
        // (1*1 + 4*2 + 5*3) / 6 = 24/6 = 4.0; (4*1+5*2)/3 = 4.666.. -> 4.7
        assert_eq!(evaluate_rate([1, 0, 0, 2, 3]), "4.0");
        assert_eq!(evaluate_rate([0, 0, 0, 1, 2]), "4.7");
        assert_eq!(evaluate_rate([0, 0, 0, 1, 1]), "4.5");
    }

    #[test]
    fn a_product_becomes_a_dshipit_record() {
        let product: Product = serde_json::from_value(serde_json::json!({
            "product_id": 7494754040961993100u64,
            "product_name": "Desk Lamp",
            "product_price": ["29.99USD", "39.99USD"],
            "product_sold_count": 120,
            "product_rating_4_count": 1,
            "product_rating_5_count": 3,
        }))
        .unwrap();
        let shop = TikTokId::parse("7494754040961993092").unwrap();
        let record = DshipitProduct::from_tiktok(&product, &shop);
        assert_eq!(record.product_id, "7494754040961993100");
        assert_eq!(record.target_sale_price, "29.99");
        assert_eq!(record.target_original_price, "39.99");
        assert_eq!(record.discount, "25");
        assert_eq!(record.evaluate_rate.as_deref(), Some("4.8"));
        assert_eq!(record.orders_count, Some(120));
        assert_eq!(record.currency, "USD");
        assert_eq!(record.supplier, "TikTok Shop");
        assert_eq!(record.seller_id, "7494754040961993092");
        assert_eq!(
            record.product_detail_url,
            "https://www.tiktokshop.com/product/7494754040961993100"
        );
    }

    #[test]
    fn dot_and_comma_thousands_separators_give_the_real_amount() {
        let cases = [
            ("100.000₫", "100000", "VND"),
            ("1.234.567₫", "1234567", "VND"),
            ("₫100.000", "100000", "VND"),
            ("Rp15.000", "15000", "IDR"),
            ("Rp 1.500.000", "1500000", "IDR"),
            ("Rp15.000,50", "15000.50", "IDR"),
            ("¥1,500", "1500", "JPY"),
            ("¥1.500", "1500", "JPY"),
            ("₩12.000", "12000", "KRW"),
            ("12,000KRW", "12000", "KRW"),
            ("1.299 €", "1299", "EUR"),
            ("1.299,99 €", "1299.99", "EUR"),
            ("1 299,99 €", "1299.99", "EUR"),
            ("€15,50", "15.50", "EUR"),
            ("15.50EUR", "15.50", "EUR"),
            ("1,299.99USD", "1299.99", "USD"),
        ];
        for (raw, amount, currency) in cases {
            assert_eq!(price(raw), Some((amount.into(), currency.into())), "{raw}");
        }
        // Groups that are not three digits are not thousands: refused, not guessed.
        for raw in [
            "1.23.456₫",
            "1,2,3USD",
            "1.2345,00 €",
            "1 23,00 €",
            "0.125USD",
        ] {
            assert_eq!(price(raw), None, "{raw}");
        }
    }

    #[test]
    fn sale_and_original_prices_never_mix_currencies() {
        let product: Product = serde_json::from_value(serde_json::json!({
            "product_id": "1", "product_price": ["10.00USD", "250.000₫"],
        }))
        .unwrap();
        let record = DshipitProduct::from_tiktok(&product, &TikTokId::parse("2").unwrap());
        assert_eq!(record.currency, "USD");
        assert_eq!(record.target_sale_price, "10.00");
        assert_eq!(record.target_original_price, "10.00", "{record:?}");
        assert_eq!(record.discount, "0");

        // The listed currency wins even when another currency's amount is smaller.
        let product: Product = serde_json::from_value(serde_json::json!({
            "product_id": "1", "product_price": ["250.000₫", "5.00USD", "300.000₫"],
        }))
        .unwrap();
        let record = DshipitProduct::from_tiktok(&product, &TikTokId::parse("2").unwrap());
        assert_eq!(
            (
                record.currency.as_str(),
                record.target_sale_price.as_str(),
                record.target_original_price.as_str()
            ),
            ("VND", "250000", "300000")
        );
    }

    mod formatted {
        use super::*;
        use proptest::prelude::*;

        /// How a shop may write an amount: grouping and decimal separators.
        const STYLES: &[(&str, &str)] = &[
            (",", "."),
            (".", ","),
            (" ", ","),
            ("\u{a0}", ","),
            ("", "."),
        ];

        fn group(whole: u64, separator: &str) -> String {
            let digits = whole.to_string();
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    out.push_str(separator);
                }
                out.push(c);
            }
            out
        }

        /// A currency, its decimals, and how it is marked.
        fn currency() -> impl Strategy<Value = (&'static str, u32, &'static str)> {
            proptest::sample::select(vec![
                ("VND", 0, "₫"),
                ("IDR", 0, "Rp"),
                ("JPY", 0, "¥"),
                ("KRW", 0, "₩"),
                ("EUR", 2, "€"),
                ("USD", 2, "$"),
                ("GBP", 2, "£"),
                ("THB", 2, "฿"),
                ("MYR", 2, "RM"),
            ])
        }

        proptest! {
            #[test]
            fn every_formatted_amount_parses_to_itself(
                (code, decimals, symbol) in currency(),
                whole in 0u64..10_000_000_000,
                cents in 0u64..100,
                show_cents in any::<bool>(),
                style in proptest::sample::select(STYLES),
                marker in 0u8..4,
            ) {
                let (grouping, point) = style;
                let mut number = group(whole, grouping);
                let mut expected = whole.to_string();
                if decimals == 2 && show_cents {
                    number.push_str(&format!("{point}{cents:02}"));
                    expected.push_str(&format!(".{cents:02}"));
                }
                let raw = match marker {
                    0 => format!("{number}{code}"),
                    1 => format!("{code} {number}"),
                    2 => format!("{symbol}{number}"),
                    _ => format!("{number} {symbol}"),
                };
                let parsed = parse_price(&raw);
                prop_assert_eq!(
                    parsed.map(|p| (p.amount.to_string(), p.currency)),
                    Some((expected, code.to_owned())),
                    "{}", raw
                );
            }
        }
    }

    #[test]
    fn one_bad_price_does_not_fail_the_record() {
        let product: Product = serde_json::from_value(serde_json::json!({
            "product_id": "1", "product_price": ["call us"],
        }))
        .unwrap();
        let record = DshipitProduct::from_tiktok(&product, &TikTokId::parse("2").unwrap());
        assert_eq!(record.target_sale_price, "");
        assert_eq!(record.discount, "0");
        assert_eq!(record.evaluate_rate.as_deref(), Some("0.0"));
    }

    fn listed(skus: serde_json::Value) -> ListedProduct {
        serde_json::from_value(serde_json::json!({
            "id": "1729382476852921560", "title": "Desk Lamp", "skus": skus,
        }))
        .unwrap()
    }

    #[test]
    fn a_shop_product_takes_the_lowest_sku_price_and_its_list_price() {
        let product = listed(serde_json::json!([
            {"id": "1", "price": {"currency": "USD", "sale_price": "39.90"}, "list_price": {"amount": "49.90", "currency": "USD"}},
            {"id": "2", "price": {"currency": "USD", "sale_price": "29.99"}, "list_price": {"amount": "39.99", "currency": "USD"}},
            {"id": "3", "price": {"currency": "USD", "sale_price": "not a price"}},
        ]));
        let shop = TikTokId::parse("7000714532876273420").unwrap();
        let record = DshipitProduct::from_shop(&product, &shop, "https://img/1.jpg");
        assert_eq!(record.target_sale_price, "29.99");
        assert_eq!(record.target_original_price, "39.99");
        assert_eq!(record.discount, "25");
        assert_eq!(record.currency, "USD");
        assert_eq!(record.product_main_image_url, "https://img/1.jpg");
        assert_eq!(record.evaluate_rate, None);
        assert_eq!(record.orders_count, None);
        let json = serde_json::to_value(&record).unwrap();
        assert!(json["evaluate_rate"].is_null() && json["orders_count"].is_null());
    }

    #[test]
    fn shop_prices_are_exact_in_currencies_without_minor_units() {
        let shop = TikTokId::parse("1").unwrap();
        for (sale, list, currency, original, off) in [
            ("1250000", "1500000", "VND", "1500000", "17"),
            ("149000", "149000", "IDR", "149000", "0"),
            ("1980", "", "JPY", "1980", "0"),
            ("0.10", "0.30", "GBP", "0.30", "67"),
        ] {
            let product = listed(serde_json::json!([
                {"id": "1", "price": {"currency": currency, "sale_price": sale}, "list_price": {"amount": list, "currency": currency}},
            ]));
            let record = DshipitProduct::from_shop(&product, &shop, "");
            assert_eq!(record.target_sale_price, sale, "{currency}");
            assert_eq!(record.target_original_price, original, "{currency}");
            assert_eq!(record.discount, off, "{currency}");
            assert_eq!(record.currency, currency);
        }
        // A list price below the sale price is not an original price.
        let product = listed(serde_json::json!([
            {"id": "1", "price": {"currency": "USD", "sale_price": "20.00"}, "list_price": {"amount": "10.00", "currency": "USD"}},
        ]));
        let record = DshipitProduct::from_shop(&product, &shop, "");
        assert_eq!(record.target_original_price, "20.00");
        assert_eq!(record.discount, "0");
        // No priced SKU: empty prices, no invented values.
        let record = DshipitProduct::from_shop(&listed(serde_json::json!([])), &shop, "");
        assert_eq!(record.target_sale_price, "");
        assert_eq!(record.currency, "");
    }
}
