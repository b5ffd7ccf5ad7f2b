//! Boots `login-redirect`; the handler is in the library.

tiktok_gateway::http_main!("login-redirect", login_redirect::handler);
