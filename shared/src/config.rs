//! Configuration, read once from environment variables at start-up.
//!
//! Environment variables carry names, ARNs, URLs and numbers only; secret values
//! live in Secrets Manager (see [`crate::app_secrets`]). A missing or malformed
//! setting fails start-up with an error naming it.

use std::num::NonZeroU32;
use std::time::Duration;

use url::Url;

/// TikTok's current (v2) authorization page.
pub const DEFAULT_AUTHORIZE_URL: &str = "https://www.tiktok.com/v2/auth/authorize/";
/// TikTok's v2 token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://open.tiktokapis.com/v2/oauth/token/";
/// TikTok's v2 revoke endpoint.
pub const DEFAULT_REVOKE_URL: &str = "https://open.tiktokapis.com/v2/oauth/revoke/";
/// The host of TikTok's v2 data API.
pub const DEFAULT_API_BASE_URL: &str = "https://open.tiktokapis.com";

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

/// Everything the TikTok client needs besides credentials.
#[derive(Debug, Clone)]
pub struct TikTokConfig {
    /// Browser authorization page.
    pub authorize_url: Url,
    /// Token endpoint (all grants).
    pub token_url: Url,
    /// Revoke endpoint.
    pub revoke_url: Url,
    /// Base of the data API; `/v2/research/...` paths are joined to it.
    pub api_base_url: Url,
    /// The registered redirect URI (exact match at TikTok).
    pub redirect_uri: Url,
    /// Scopes to ask the user for.
    pub scopes: Vec<String>,
    /// Upstream calls per second this process may make.
    pub rate_per_sec: NonZeroU32,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of one attempt.
    pub request_timeout: Duration,
}

/// TikTok Shop's seller authorization page.
pub const DEFAULT_SHOP_AUTHORIZE_URL: &str = "https://services.tiktokshop.com/open/authorize";
/// TikTok Shop's token endpoint (authorization code).
pub const DEFAULT_SHOP_TOKEN_URL: &str = "https://auth.tiktok-shops.com/api/v2/token/get";
/// TikTok Shop's token endpoint (refresh).
pub const DEFAULT_SHOP_REFRESH_URL: &str = "https://auth.tiktok-shops.com/api/v2/token/refresh";
/// The host of the Partner API.
pub const DEFAULT_SHOP_API_BASE_URL: &str = "https://open-api.tiktokglobalshop.com";
/// What `redirect_uri` holds where nothing sends one (shop and creator
/// deployments without `TIKTOK_REDIRECT_URI`): never sent anywhere.
pub const UNUSED_REDIRECT_URI: &str = "https://localhost/redirect-uri-unused";
/// TikTok Shop's creator authorization page (the same host for every market).
pub const DEFAULT_CREATOR_AUTHORIZE_URL: &str = "https://shop.tiktok.com/alliance/creator/auth";

/// The TikTok Shop Partner API's hosts and the app's public `service_id`.
#[derive(Debug, Clone)]
pub struct ShopConfig {
    /// Seller authorization page.
    pub authorize_url: Url,
    /// Token get (`grant_type=authorized_code`).
    pub token_url: Url,
    /// Token refresh.
    pub refresh_url: Url,
    /// Base of the signed Open API; `/product/...` paths are put under it.
    pub api_base_url: Url,
    /// The app's service id (Partner Center, public; not the app key).
    pub service_id: String,
    /// Creator authorization page (`TIKTOK_PROVIDER=creator`).
    pub creator_authorize_url: Url,
}

/// The scheduled refresher's settings.
#[derive(Debug, Clone)]
pub struct RefresherConfig {
    /// Refresh access tokens expiring within this much time (next run plus a margin).
    pub ahead: Duration,
    /// Refresh connections whose refresh token expires within this much time.
    pub refresh_window: Duration,
    /// Refreshes in flight at once (the upstream rate limiter still applies).
    pub concurrency: usize,
    /// Stop taking new work this long before the Lambda deadline.
    pub deadline_margin: Duration,
    /// Access tokens are refreshed ahead of time only for connections used
    /// within this long (others are refreshed on their next request).
    pub active_within: Duration,
    /// A refresh token about to expire is kept alive only for connections used
    /// within this long; past it the connection goes dormant.
    pub keep_alive_within: Duration,
    /// Access tokens that expired longer ago than this are not looked at (their
    /// users have not been back): bounds the reads an idle connection costs.
    pub lookback: Duration,
    /// The fan-out queue's URL; `None`: no fan-out, a run does what it can and
    /// leaves the rest to the next run.
    pub queue_url: Option<String>,
    /// User ids per queue message.
    pub batch_size: usize,
    /// Upstream refresh calls per second for all of the refresh work together.
    pub upstream_rate: NonZeroU32,
    /// How many refresh workers may run at once (the event source's
    /// `MaximumConcurrency`).
    pub worker_concurrency: NonZeroU32,
    /// The stack name the refresh metrics also carry as a `Stack` dimension
    /// (`METRICS_STACK`; the template sets it).
    pub metrics_stack: Option<String>,
}

impl RefresherConfig {
    /// One worker's upstream rate: the upstream rate shared by the workers, so
    /// `worker_concurrency * worker_rate() <= upstream_rate`.
    pub fn worker_rate(&self) -> NonZeroU32 {
        NonZeroU32::new(self.upstream_rate.get() / self.worker_concurrency.get())
            .unwrap_or(NonZeroU32::MIN)
    }
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
        let tiktok = TikTokConfig {
            authorize_url: env.tiktok_url("TIKTOK_AUTHORIZE_URL", DEFAULT_AUTHORIZE_URL)?,
            token_url: env.tiktok_url("TIKTOK_TOKEN_URL", DEFAULT_TOKEN_URL)?,
            revoke_url: env.tiktok_url("TIKTOK_REVOKE_URL", DEFAULT_REVOKE_URL)?,
            api_base_url: env.tiktok_url("TIKTOK_API_BASE_URL", DEFAULT_API_BASE_URL)?,
            // Only Login Kit sends a redirect URI; TikTok Shop's is fixed in
            // Partner Center, so shop and creator deployments may leave it empty.
            redirect_uri: match (provider, env.get("TIKTOK_REDIRECT_URI")) {
                (ProviderKind::Shop | ProviderKind::Creator, None) => {
                    Url::parse(UNUSED_REDIRECT_URI)
                        .map_err(|_| ConfigError::Missing("TIKTOK_REDIRECT_URI"))?
                }
                _ => env.redirect_uri("TIKTOK_REDIRECT_URI")?,
            },
            scopes: env
                .list("TIKTOK_SCOPES")
                .unwrap_or_else(|| vec!["user.info.basic".to_owned()]),
            rate_per_sec: env.number("UPSTREAM_RATE_PER_SEC", 50)?,
            connect_timeout: env.millis("UPSTREAM_CONNECT_TIMEOUT_MS", 2_000)?,
            request_timeout: env.millis("UPSTREAM_REQUEST_TIMEOUT_MS", 5_000)?,
        };
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
        let shop = ShopConfig {
            authorize_url: env
                .tiktok_url("TIKTOK_SHOP_AUTHORIZE_URL", DEFAULT_SHOP_AUTHORIZE_URL)?,
            token_url: env.tiktok_url("TIKTOK_SHOP_TOKEN_URL", DEFAULT_SHOP_TOKEN_URL)?,
            refresh_url: env.tiktok_url("TIKTOK_SHOP_REFRESH_URL", DEFAULT_SHOP_REFRESH_URL)?,
            api_base_url: env.tiktok_url("TIKTOK_SHOP_API_BASE_URL", DEFAULT_SHOP_API_BASE_URL)?,
            service_id: match provider {
                ProviderKind::Shop => env.required("TIKTOK_SHOP_SERVICE_ID")?,
                ProviderKind::Research | ProviderKind::Creator => {
                    env.get("TIKTOK_SHOP_SERVICE_ID").unwrap_or_default()
                }
            },
            creator_authorize_url: env.tiktok_url(
                "TIKTOK_CREATOR_AUTHORIZE_URL",
                DEFAULT_CREATOR_AUTHORIZE_URL,
            )?,
        };
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
            refresher: RefresherConfig {
                ahead: env.secs("REFRESH_AHEAD_SECS", 1_200)?,
                refresh_window: env.secs("REFRESH_WINDOW_DAYS", 7)?.saturating_mul(86_400),
                concurrency: env.number::<NonZeroU32>("REFRESHER_CONCURRENCY", 8)?.get() as usize,
                deadline_margin: env.millis("REFRESHER_DEADLINE_MARGIN_MS", 5_000)?,
                active_within: days(env.number::<u64>("REFRESH_ACTIVE_DAYS", 7)?),
                keep_alive_within: days(env.number::<u64>("KEEP_ALIVE_ACTIVE_DAYS", 180)?),
                lookback: env.secs("REFRESH_LOOKBACK_SECS", 3_600)?,
                queue_url: env.get("REFRESH_QUEUE_URL"),
                metrics_stack: env.get("METRICS_STACK"),
                batch_size: env.number::<NonZeroU32>("REFRESH_BATCH_SIZE", 50)?.get() as usize,
                upstream_rate: env.number("REFRESH_UPSTREAM_RATE_PER_SEC", 20)?,
                worker_concurrency: env.number("REFRESH_WORKER_CONCURRENCY", 4)?,
            },
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

fn days(n: u64) -> Duration {
    Duration::from_secs(n.saturating_mul(86_400))
}

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    fn list(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }

    fn url(&self, name: &'static str, default: Option<&str>) -> Result<Url, ConfigError> {
        let raw = match (self.get(name), default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.to_owned(),
            (None, None) => return Err(ConfigError::Missing(name)),
        };
        let url = Url::parse(&raw).map_err(|e| ConfigError::Invalid {
            name,
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(ConfigError::Invalid {
                name,
                reason: "must be an http(s) URL".into(),
            });
        }
        Ok(url)
    }

    /// A TikTok endpoint: https, except on a loopback host (the local stack's
    /// emulator, tests), so the client secret and tokens never cross a network
    /// in the clear.
    fn tiktok_url(&self, name: &'static str, default: &str) -> Result<Url, ConfigError> {
        let url = self.url(name, Some(default))?;
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if url.scheme() != "https" && !loopback {
            return Err(ConfigError::Invalid {
                name,
                reason: "must be an https URL (http only to a loopback address)".into(),
            });
        }
        Ok(url)
    }

    /// TikTok requires the redirect URI to carry no query string and no fragment.
    fn redirect_uri(&self, name: &'static str) -> Result<Url, ConfigError> {
        let url = self.url(name, None)?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::Invalid {
                name,
                reason: "must have no query string and no fragment".into(),
            });
        }
        Ok(url)
    }

    fn number<T: std::str::FromStr + TryFrom<u32>>(
        &self,
        name: &'static str,
        default: u32,
    ) -> Result<T, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid { name, reason };
        match self.get(name) {
            Some(v) => v
                .parse::<T>()
                .map_err(|_| invalid(format!("`{v}` is not a positive whole number"))),
            None => T::try_from(default).map_err(|_| invalid("bad default".into())),
        }
    }

    fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        self.flag_or(name, false)
    }

    fn flag_or(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None => Ok(default),
            Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(ConfigError::Invalid {
                name,
                reason: format!("expected true or false, got `{other}`"),
            }),
        }
    }

    fn millis(&self, name: &'static str, default: u32) -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(self.number::<u64>(name, default)?))
    }

    fn secs(&self, name: &'static str, default: u32) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.number::<u64>(name, default)?))
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
        for name in [
            "TABLE_NAME",
            "SECRET_ID",
            "TIKTOK_REDIRECT_URI",
            "DEFAULT_RETURN_URL",
        ] {
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
