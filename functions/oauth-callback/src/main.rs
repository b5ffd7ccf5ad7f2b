//! Boots `oauth-callback`; the handler is in the library.

tiktok_gateway::http_main!("oauth-callback", oauth_callback::handler);
