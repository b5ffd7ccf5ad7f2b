//! The TikTok Shop Partner API: seller authorization,
//! token get/refresh, the request and webhook signatures, and the shop and
//! product endpoints. The sibling of the research module.

mod client;
pub(crate) mod model;
pub mod sign;

pub use client::{
    ShopClient, ACCESS_TOKEN_HEADER, MAX_SEARCH_PAGE_SIZE, PRODUCT_PATH, SEARCH_PATH, SHOPS_PATH,
};
pub use model::{
    AuthorizedShop, Image, Inventory, ListPrice, ListedProduct, ProductDetail, ProductPage,
    SalesAttribute, ShopGrant, Sku, SkuPrice,
};
pub use sign::{sign_request, verify_webhook, webhook_signature};
