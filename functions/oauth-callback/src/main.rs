//! Boots `oauth-callback`; the handler is in the library.
// No unwrap/expect outside tests; a justified start-up `expect` is allowed by name.
#![deny(clippy::unwrap_used, clippy::expect_used)]

tiktok_gateway::http_main!("oauth-callback", oauth_callback::handler);
