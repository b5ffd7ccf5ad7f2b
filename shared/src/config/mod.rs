//! Configuration, read once from environment variables at start-up: a reader
//! per section beside its struct ([`tiktok`], [`shop`], [`refresher`]), the
//! reading of one variable in `env`, and [`Config::from_lookup`] assembling
//! them.
//!
//! Environment variables carry names, ARNs, URLs and numbers only; secret values
//! live in Secrets Manager (see [`crate::app_secrets`]). A missing or malformed
//! setting fails start-up with an error naming it.

mod env;
pub mod refresher;
pub mod shop;
pub mod tiktok;

use std::num::NonZeroU32;
use std::time::Duration;

use url::Url;

use env::Env;
pub use refresher::RefresherConfig;
pub use shop::{
    ShopConfig, DEFAULT_CREATOR_AUTHORIZE_URL, DEFAULT_SHOP_API_BASE_URL,
    DEFAULT_SHOP_AUTHORIZE_URL, DEFAULT_SHOP_REFRESH_URL, DEFAULT_SHOP_TOKEN_URL,
};
pub use tiktok::{
    TikTokConfig, DEFAULT_API_BASE_URL, DEFAULT_AUTHORIZE_URL, DEFAULT_REVOKE_URL,
    DEFAULT_TOKEN_URL, UNUSED_REDIRECT_URI,
};

/// A setting that is missing or cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("missing required setting {0}")]
    Missing(&'static str),
    /// A variable is set but its value cannot be used.
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// The variable's name.
        name: &'static str,
        /// What is wrong with it (never the value of a secret: there are none here).
        reason: String,
    },
}

/// Whose access token the data routes send to TikTok.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenMode {
    /// The connected user's own token (Login Kit).
    User,
    /// The app's client-credentials token, which TikTok requires for the Research API.
    App,
}

/// Which TikTok API serves the data routes (`TIKTOK_PROVIDER`), chosen once at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// TikTok for Developers: Login Kit and the Research API (the default).
    Research,
    /// The TikTok Shop Partner API: sellers authorize the app for their shops.
    Shop,
    /// The TikTok Shop Affiliate Creator API: creators authorize the app and
    /// search the whole marketplace of open-collaboration products.
    Creator,
}

/// The whole configuration of a function.
#[derive(Debug, Clone)]
pub struct Config {
    /// DynamoDB table holding connections, OAuth states and the product cache.
    pub table_name: String,
    /// Secrets Manager secret id or ARN holding the app credentials and token keys.
    pub secret_id: String,
    /// How long a fetched secret is used before it is fetched again.
    pub secret_cache_ttl: Duration,
    /// TikTok endpoints and client behaviour.
    pub tiktok: TikTokConfig,
    /// Whose token the data routes use.
    pub token_mode: TokenMode,
    /// Which TikTok API the functions speak.
    pub provider: ProviderKind,
    /// The Partner API's hosts and service id (used in `shop` mode).
    pub shop: ShopConfig,
    /// Origins a `returnTo` URL may point at (`scheme://host[:port]`).
    pub allowed_return_origins: Vec<String>,
    /// Where the browser goes after the callback when no `returnTo` was given.
    pub default_return_url: Url,
    /// Total time a request may spend on upstream calls, retries included.
    pub upstream_budget: Duration,
    /// How long fetched products answer product lookups.
    pub product_cache_ttl: Duration,
    /// Listing pages one search or product lookup may read upstream.
    pub page_budget: u32,
    /// Whether the login uses PKCE (S256); optional for web apps at TikTok.
    pub use_pkce: bool,
    /// Upstream data calls one user may cause per UTC day (the app's quota is
    /// shared by everyone).
    pub user_daily_upstream_calls: u32,
    /// Upstream data calls the whole app may make per UTC day (the upstream's
    /// daily quota, shared by every user): `APP_DAILY_UPSTREAM_CALLS`, by
    /// default 1,000 for the Research API and 1,000,000 otherwise.
    pub app_daily_upstream_calls: u32,
    /// Shards of the refresh-due indexes.
    pub due_shards: u32,
    /// The refresher's settings.
    pub refresher: RefresherConfig,
}

impl Config {
    /// What in this configuration cannot work (logged as warnings at start-up).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.provider == ProviderKind::Research && self.token_mode == TokenMode::User {
            warnings.push(
                "DATA_TOKEN_MODE=user: TikTok's Research API answers user tokens \
                 `scope_not_authorized` unless they carry `research.data.basic`, which \
                 Login Kit users cannot grant; data routes will answer 403 missing_scope. \
                 Use DATA_TOKEN_MODE=app (the app's client-credentials token) for research data"
                    .to_owned(),
            );
        }
        warnings
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (tests and the local stack pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let provider = match env.get("TIKTOK_PROVIDER").as_deref() {
            None | Some("research") => ProviderKind::Research,
            Some("shop") => ProviderKind::Shop,
            Some("creator") => ProviderKind::Creator,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "TIKTOK_PROVIDER",
                    reason: format!("expected `research`, `shop` or `creator`, got `{other}`"),
                })
            }
        };
        let tiktok = TikTokConfig::read(&env)?;
        // Each provider's documented token by default: the Research API is
        // called with the app's client-credentials token, the Partner API with
        // the seller's.
        let token_mode = match env.get("DATA_TOKEN_MODE").as_deref() {
            Some("user") => TokenMode::User,
            Some("app") => TokenMode::App,
            None => match provider {
                ProviderKind::Research => TokenMode::App,
                ProviderKind::Shop | ProviderKind::Creator => TokenMode::User,
            },
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "DATA_TOKEN_MODE",
                    reason: format!("expected `user` or `app`, got `{other}`"),
                })
            }
        };
        let shop = ShopConfig::read(&env, provider)?;
        if provider != ProviderKind::Research && token_mode == TokenMode::App {
            return Err(ConfigError::Invalid {
                name: "DATA_TOKEN_MODE",
                reason:
                    "TikTok Shop has no app token: use `user` with TIKTOK_PROVIDER=shop or creator"
                        .into(),
            });
        }
        let allowed_return_origins = env
            .list("ALLOWED_RETURN_ORIGINS")
            .unwrap_or_default()
            .into_iter()
            .map(|origin| {
                Url::parse(&origin)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
                    .map(|u| u.origin().ascii_serialization())
                    .ok_or(ConfigError::Invalid {
                        name: "ALLOWED_RETURN_ORIGINS",
                        reason: format!("`{origin}` is not an http(s) origin"),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            table_name: env.required("TABLE_NAME")?,
            secret_id: env.required("SECRET_ID")?,
            secret_cache_ttl: env.secs("SECRET_CACHE_TTL_SECS", 300)?,
            tiktok,
            token_mode,
            provider,
            shop,
            allowed_return_origins,
            default_return_url: env.url("DEFAULT_RETURN_URL", None)?,
            upstream_budget: env.millis("UPSTREAM_BUDGET_MS", 8_000)?,
            product_cache_ttl: env.secs("PRODUCT_CACHE_TTL_SECS", 3_600)?,
            page_budget: env.number::<NonZeroU32>("UPSTREAM_PAGE_BUDGET", 5)?.get(),
            use_pkce: env.flag("TIKTOK_PKCE")?,
            user_daily_upstream_calls: env
                .number::<NonZeroU32>("USER_DAILY_UPSTREAM_CALLS", 200)?
                .get(),
            app_daily_upstream_calls: env
                .number::<NonZeroU32>(
                    "APP_DAILY_UPSTREAM_CALLS",
                    match provider {
                        ProviderKind::Research => 1_000,
                        ProviderKind::Shop | ProviderKind::Creator => 1_000_000,
                    },
                )?
                .get(),
            due_shards: env.number::<NonZeroU32>("DUE_INDEX_SHARDS", 4)?.get(),
            refresher: RefresherConfig::read(&env)?,
        })
        .and_then(Self::checked)
    }

    fn checked(self) -> Result<Self, ConfigError> {
        let r = &self.refresher;
        if r.keep_alive_within < r.active_within {
            return Err(ConfigError::Invalid {
                name: "KEEP_ALIVE_ACTIVE_DAYS",
                reason: "must be at least REFRESH_ACTIVE_DAYS".into(),
            });
        }
        if r.upstream_rate < r.worker_concurrency {
            return Err(ConfigError::Invalid {
                name: "REFRESH_UPSTREAM_RATE_PER_SEC",
                reason: "must be at least REFRESH_WORKER_CONCURRENCY (each worker makes at least \
                         one call a second)"
                    .into(),
            });
        }
        if r.batch_size > 500 {
            return Err(ConfigError::Invalid {
                name: "REFRESH_BATCH_SIZE",
                reason: "at most 500 user ids fit a queue message".into(),
            });
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn minimal() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("TABLE_NAME", "connections"),
            (
                "SECRET_ID",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:tiktok",
            ),
            (
                "TIKTOK_REDIRECT_URI",
                "https://api.dshipit.com/auth/tiktok/callback",
            ),
            ("DEFAULT_RETURN_URL", "https://app.dshipit.com/research"),
        ])
    }

    fn load(vars: &HashMap<&'static str, &'static str>) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.get(name).map(|v| v.to_string()))
    }

    #[test]
    fn research_data_defaults_to_the_apps_token() {
        assert_eq!(load(&minimal()).unwrap().token_mode, TokenMode::App);
        let mut vars = minimal();
        vars.insert("DATA_TOKEN_MODE", "user");
        assert_eq!(load(&vars).unwrap().token_mode, TokenMode::User);
    }

    #[test]
    fn user_tokens_for_research_data_are_warned_about_at_start_up() {
        assert!(load(&minimal()).unwrap().warnings().is_empty());
        let mut vars = minimal();
        vars.insert("DATA_TOKEN_MODE", "user");
        let warnings = load(&vars).unwrap().warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("research.data.basic"), "{warnings:?}");
        assert!(warnings[0].contains("DATA_TOKEN_MODE"), "{warnings:?}");
    }

    #[test]
    fn cleartext_tiktok_urls_are_refused_outside_loopback() {
        for name in [
            "TIKTOK_AUTHORIZE_URL",
            "TIKTOK_TOKEN_URL",
            "TIKTOK_REVOKE_URL",
            "TIKTOK_API_BASE_URL",
        ] {
            let mut vars = minimal();
            vars.insert(name, "http://open.tiktokapis.com/v2/oauth/token/");
            match load(&vars) {
                Err(ConfigError::Invalid { name: n, reason }) => {
                    assert_eq!(n, name);
                    assert!(reason.contains("https"), "{reason}");
                }
                other => panic!("{name}: {other:?}"),
            }
            // The local stack and the tests talk to an emulator on loopback.
            for local in [
                "http://127.0.0.1:4010/x/",
                "http://localhost:4010/x/",
                "http://[::1]:4010/x/",
            ] {
                vars.insert(name, local);
                assert!(load(&vars).is_ok(), "{name} {local}");
            }
        }
    }

    #[test]
    fn defaults_point_at_tiktok_v2_not_the_deprecated_host() {
        let config = load(&minimal()).unwrap();
        for url in [
            &config.tiktok.authorize_url,
            &config.tiktok.token_url,
            &config.tiktok.revoke_url,
            &config.tiktok.api_base_url,
        ] {
            assert!(!url.as_str().contains("open-api.tiktok.com"), "{url}");
        }
        assert_eq!(config.tiktok.rate_per_sec.get(), 50);
        assert_eq!(config.token_mode, TokenMode::App);
        assert_eq!(
            config.refresher.refresh_window,
            Duration::from_secs(7 * 86_400)
        );
    }

    #[test]
    fn the_provider_is_research_unless_shop_is_asked_for() {
        assert_eq!(load(&minimal()).unwrap().provider, ProviderKind::Research);
        let mut vars = minimal();
        vars.insert("TIKTOK_PROVIDER", "shop");
        assert_eq!(
            load(&vars).unwrap_err(),
            ConfigError::Missing("TIKTOK_SHOP_SERVICE_ID")
        );
        vars.insert("TIKTOK_SHOP_SERVICE_ID", "7123456789");
        let config = load(&vars).unwrap();
        assert_eq!(config.provider, ProviderKind::Shop);
        assert_eq!(config.shop.service_id, "7123456789");
        assert_eq!(
            config.shop.token_url.as_str(),
            "https://auth.tiktok-shops.com/api/v2/token/get"
        );
        vars.insert("DATA_TOKEN_MODE", "app");
        assert!(matches!(
            load(&vars),
            Err(ConfigError::Invalid {
                name: "DATA_TOKEN_MODE",
                ..
            })
        ));
        vars.insert("TIKTOK_PROVIDER", "partner");
        assert!(matches!(
            load(&vars),
            Err(ConfigError::Invalid {
                name: "TIKTOK_PROVIDER",
                ..
            })
        ));
    }

    #[test]
    fn workers_together_never_exceed_the_upstream_refresh_rate() {
        for (rate, workers) in [("20", "4"), ("7", "2"), ("1000", "3"), ("5", "5")] {
            let mut vars = minimal();
            vars.insert("REFRESH_UPSTREAM_RATE_PER_SEC", rate);
            vars.insert("REFRESH_WORKER_CONCURRENCY", workers);
            let r = load(&vars).unwrap().refresher;
            assert!(
                r.worker_concurrency.get() * r.worker_rate().get() <= r.upstream_rate.get(),
                "{rate}/{workers}"
            );
            assert_eq!(
                r.worker_rate().get(),
                r.upstream_rate.get() / r.worker_concurrency.get()
            );
        }
        let mut vars = minimal();
        vars.insert("REFRESH_UPSTREAM_RATE_PER_SEC", "3");
        vars.insert("REFRESH_WORKER_CONCURRENCY", "4");
        assert!(matches!(
            load(&vars),
            Err(ConfigError::Invalid {
                name: "REFRESH_UPSTREAM_RATE_PER_SEC",
                ..
            })
        ));
        let mut vars = minimal();
        vars.insert("REFRESH_ACTIVE_DAYS", "30");
        vars.insert("KEEP_ALIVE_ACTIVE_DAYS", "7");
        assert!(matches!(
            load(&vars),
            Err(ConfigError::Invalid {
                name: "KEEP_ALIVE_ACTIVE_DAYS",
                ..
            })
        ));
    }

    #[test]
    fn a_missing_setting_is_named() {
        for name in ["TABLE_NAME", "SECRET_ID", "DEFAULT_RETURN_URL"] {
            let mut vars = minimal();
            vars.remove(name);
            assert_eq!(load(&vars).unwrap_err(), ConfigError::Missing(name));
        }
    }

    #[test]
    fn a_malformed_setting_is_named() {
        let cases = [
            ("UPSTREAM_RATE_PER_SEC", "0"),
            ("UPSTREAM_RATE_PER_SEC", "fast"),
            ("TIKTOK_TOKEN_URL", "not a url"),
            ("TIKTOK_REDIRECT_URI", "https://api.dshipit.com/cb?x=1"),
            ("DATA_TOKEN_MODE", "both"),
            ("ALLOWED_RETURN_ORIGINS", "javascript:alert(1)"),
        ];
        for (name, value) in cases {
            let mut vars = minimal();
            vars.insert(name, value);
            match load(&vars) {
                Err(ConfigError::Invalid { name: named, .. }) => assert_eq!(named, name),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn return_origins_are_normalised() {
        let mut vars = minimal();
        vars.insert(
            "ALLOWED_RETURN_ORIGINS",
            "https://app.dshipit.com/, http://localhost:3000",
        );
        let config = load(&vars).unwrap();
        assert_eq!(
            config.allowed_return_origins,
            ["https://app.dshipit.com", "http://localhost:3000"]
        );
    }
}
