//! Boots `connection-status`; the handler is in the library.

tiktok_gateway::http_main!("connection-status", connection_status::handler);
