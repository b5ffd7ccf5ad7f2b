//! The product route's answer for a Partner API product: the record, and the
//! details Get Product gives (description, images, SKUs with their stock).

use serde::Serialize;

use crate::product::{parse_decimal, DshipitProduct};
use crate::tiktok::shop::{ListedProduct, ProductDetail};
use crate::tiktok::TikTokId;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SkuView {
    id: String,
    seller_sku: String,
    sale_price: Option<String>,
    list_price: Option<String>,
    currency: String,
    inventory: i64,
    warehouses: Vec<WarehouseView>,
    sales_attributes: Vec<AttributeView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WarehouseView {
    warehouse_id: String,
    quantity: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AttributeView {
    name: String,
    value: String,
}

/// A decimal string from TikTok, normalised exactly, or `None`.
fn exact(raw: &str) -> Option<String> {
    parse_decimal(raw.trim()).map(|d| d.to_string())
}

/// The product route's answer for a Get Product result.
pub(super) fn product_answer(detail: &ProductDetail, shop_id: &TikTokId) -> serde_json::Value {
    let listed = ListedProduct {
        id: detail.id.clone(),
        title: detail.title.clone(),
        status: detail.status.clone(),
        skus: detail.skus.clone(),
    };
    let images: Vec<&str> = detail
        .main_images
        .iter()
        .filter_map(|i| i.urls.first().map(String::as_str))
        .collect();
    let skus: Vec<SkuView> = detail
        .skus
        .iter()
        .map(|sku| SkuView {
            id: sku.id.clone(),
            seller_sku: sku.seller_sku.clone(),
            sale_price: sku.price.as_ref().and_then(|p| exact(&p.sale_price)),
            list_price: sku.list_price.as_ref().and_then(|p| exact(&p.amount)),
            currency: sku
                .price
                .as_ref()
                .map(|p| p.currency.clone())
                .unwrap_or_default(),
            inventory: sku.inventory.iter().filter_map(|i| i.quantity).sum(),
            warehouses: sku
                .inventory
                .iter()
                .map(|i| WarehouseView {
                    warehouse_id: i.warehouse_id.clone(),
                    quantity: i.quantity.unwrap_or(0),
                })
                .collect(),
            sales_attributes: sku
                .sales_attributes
                .iter()
                .map(|a| AttributeView {
                    name: a.name.clone(),
                    value: a.value_name.clone(),
                })
                .collect(),
        })
        .collect();
    serde_json::json!({
        "product": DshipitProduct::from_shop(&listed, shop_id, detail.main_image_url()),
        "details": {
            "title": detail.title,
            "description": detail.description,
            "descriptionFormat": "html",
            "status": detail.status,
            "mainImageUrl": detail.main_image_url(),
            "images": images,
            "skus": skus,
        },
        "reviews": [],
    })
}
