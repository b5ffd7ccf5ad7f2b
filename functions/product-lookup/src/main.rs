//! Boots `product-lookup`; the handler is in the library.

tiktok_gateway::http_main!("product-lookup", product_lookup::handler);
