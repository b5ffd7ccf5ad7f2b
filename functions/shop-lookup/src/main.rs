//! Boots `shop-lookup`; the handler is in the library.

tiktok_gateway::http_main!("shop-lookup", shop_lookup::handler);
