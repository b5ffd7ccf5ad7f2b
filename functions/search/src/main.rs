//! Boots `search`; the handler is in the library.

tiktok_gateway::http_main!("search", search::handler);
