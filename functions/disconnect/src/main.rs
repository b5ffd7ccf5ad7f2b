//! Boots `disconnect`; the handler is in the library.

tiktok_gateway::http_main!("disconnect", disconnect::handler);
