//! The record of a marketplace product of the Affiliate Creator API, with its
//! affiliate terms.

use rust_decimal::Decimal;

use super::price::parse_decimal;
use super::{AffiliateTerms, Category, DshipitProduct, Price, PriceRange};
use crate::tiktok::creator::{OpenProduct, WireCommission, WirePriceRange};

impl DshipitProduct {
    /// The record for a marketplace product of the Affiliate Creator API: the
    /// lowest sale and original prices (their ranges kept too), the discount
    /// between the two minima, units sold as `orders_count` (null when TikTok
    /// leaves it out, never 0), the shop's name as the supplier, and the
    /// commission.
    pub fn from_open(product: &OpenProduct) -> Self {
        let min_price = |range: &Option<WirePriceRange>| {
            let range = range.as_ref()?;
            Some(Price {
                amount: parse_decimal(range.minimum_amount.trim())?,
                currency: range.currency.trim().to_owned(),
            })
        };
        let sale = min_price(&product.sales_price);
        let original = min_price(&product.original_price);
        let id = product.id.canonical();
        let mut record = Self::priced(id, &product.title, String::new(), sale, original);
        record.product_main_image_url = product.main_image_url.clone();
        if !product.detail_link.is_empty() {
            record.product_detail_url = product.detail_link.clone();
        }
        record.shop_url = String::new();
        record.orders_count = product.units_sold.and_then(|n| u64::try_from(n).ok());
        if let Some(shop) = product.shop.as_ref().filter(|s| !s.name.is_empty()) {
            record.supplier = shop.name.clone();
        }
        if record.currency.is_empty() {
            if let Some(range) = &product.sales_price {
                record.currency = range.currency.clone();
            }
        }
        let commission = product.commission.clone().unwrap_or_default();
        record.affiliate = Some(AffiliateTerms {
            commission_rate: percent(&product.commission),
            commission_amount: exact_text(&commission.amount),
            commission_currency: Some(commission.currency.clone()).filter(|c| !c.is_empty()),
            shop_ads_commission_rate: percent(&product.shop_ads_commission),
            sale_price_range: range(&product.sales_price),
            original_price_range: range(&product.original_price),
            in_stock: product.has_inventory,
            sale_region: Some(product.sale_region.clone()).filter(|r| !r.is_empty()),
            category_chain: category_chain(product),
        });
        record
    }
}

/// A rate in hundredths of a percent as an exact percent (`1234` → `"12.34"`).
fn percent(commission: &Option<WireCommission>) -> Option<String> {
    let rate = commission.as_ref()?.rate?;
    Some(Decimal::new(rate, 2).normalize().to_string())
}

/// A decimal string, exactly, or `None`.
fn exact_text(raw: &str) -> Option<String> {
    parse_decimal(raw.trim()).map(|d| d.to_string())
}

fn range(range: &Option<WirePriceRange>) -> Option<PriceRange> {
    let range = range.as_ref()?;
    Some(PriceRange {
        min: exact_text(&range.minimum_amount)?,
        max: exact_text(&range.maximum_amount).or_else(|| exact_text(&range.minimum_amount))?,
    })
}

/// The chain top level first: from the entry whose parent is `"0"` down its
/// children; entries that do not link up follow in TikTok's order.
fn category_chain(product: &OpenProduct) -> Vec<Category> {
    let levels = &product.category_chains;
    let mut ordered: Vec<&crate::tiktok::creator::CategoryLevel> = Vec::new();
    let mut parent = "0".to_owned();
    while let Some(next) = levels
        .iter()
        .find(|l| l.parent_id == parent && !ordered.iter().any(|o| o.id == l.id))
    {
        parent = next.id.clone();
        ordered.push(next);
    }
    for level in levels {
        if !ordered.iter().any(|o| o.id == level.id) {
            ordered.push(level);
        }
    }
    ordered
        .into_iter()
        .map(|l| Category {
            id: l.id.clone(),
            name: l.local_name.clone(),
        })
        .collect()
}
