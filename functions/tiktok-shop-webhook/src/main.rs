//! Boots `tiktok-shop-webhook`; the handler is in the library.

tiktok_gateway::http_main!("tiktok-shop-webhook", tiktok_shop_webhook::handler);
