//! Boots `oauth-complete`; the handler is in the library.

tiktok_gateway::http_main!("oauth-complete", oauth_complete::handler);
