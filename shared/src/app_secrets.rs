//! The app's credentials and token keys, from one Secrets Manager secret (JSON):
//!
//! ```json
//! {"client_key": "...", "client_secret": "...",
//!  "token_keys": {"k1": "<base64 of 32 random bytes>"}, "active_token_key": "k1"}
//! ```
//!
//! Fetched on first use (not at start-up) and cached per container with a TTL, so
//! a rotation is picked up. When a refetch fails, the cached value is kept and the
//! failure logged: a Secrets Manager outage does not take the API down with it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::crypto::Keyring;
use crate::redacted::ClientSecret;
use crate::tiktok::AppCredentials;

/// The secret could not be had or used. Never carries the secret's value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Secrets Manager could not be reached or refused.
    #[error("secret store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The secret is not the JSON this gateway expects.
    #[error("secret is malformed: {0}")]
    Malformed(String),
}

/// The secret's contents, parsed.
#[derive(Debug, Clone)]
pub struct AppSecrets {
    /// TikTok client key and secret (Login Kit, Research API); the Partner
    /// API's pair when the secret holds only that.
    pub credentials: AppCredentials,
    /// The Partner API's `app_key` and `app_secret`, when the secret has them.
    pub shop_credentials: Option<AppCredentials>,
    /// Keys that encrypt tokens at rest.
    pub keyring: Keyring,
}

#[derive(serde::Deserialize)]
struct RawSecret {
    #[serde(default)]
    client_key: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    app_key: String,
    #[serde(default)]
    app_secret: String,
    token_keys: HashMap<String, String>,
    active_token_key: String,
}

impl AppSecrets {
    /// Parses the secret's JSON. Errors name the problem, never a value.
    pub fn parse(json: &str) -> Result<Self, SecretsError> {
        let raw: RawSecret = serde_json::from_str(json).map_err(|e| {
            // serde_json's message can quote input; keep only its position.
            SecretsError::Malformed(format!(
                "expected client_key and client_secret (or app_key and app_secret), token_keys, active_token_key (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let pair = |key: String, secret: String| {
            (!key.trim().is_empty() && !secret.trim().is_empty()).then(|| AppCredentials {
                client_key: key,
                client_secret: ClientSecret::new(secret),
            })
        };
        let shop_credentials = pair(raw.app_key, raw.app_secret);
        let credentials = pair(raw.client_key, raw.client_secret)
            .or_else(|| shop_credentials.clone())
            .ok_or_else(|| {
                SecretsError::Malformed(
                    "client_key and client_secret (or app_key and app_secret) must be set".into(),
                )
            })?;
        let keyring = Keyring::from_base64(&raw.active_token_key, raw.token_keys)
            .map_err(|e| SecretsError::Malformed(e.to_string()))?;
        Ok(Self {
            credentials,
            shop_credentials,
            keyring,
        })
    }
}

/// Where the secret's JSON comes from.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// Reads the current value.
    async fn fetch(&self) -> Result<SecretString, SecretsError>;
}

/// Secrets Manager, by secret id or ARN.
#[derive(Debug, Clone)]
pub struct SecretsManagerSource {
    client: crate::aws::LazyClient<aws_sdk_secretsmanager::Client>,
    secret_id: String,
}

impl SecretsManagerSource {
    /// A source reading `secret_id` through `client`.
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self {
            client: crate::aws::LazyClient::ready(client),
            secret_id: secret_id.into(),
        }
    }

    /// The same, its client built from `aws` on first use ([`crate::aws::LazyClient`]).
    pub fn lazy(aws: &aws_config::SdkConfig, secret_id: impl Into<String>) -> Self {
        Self {
            client: crate::aws::LazyClient::new(aws, aws_sdk_secretsmanager::Client::new),
            secret_id: secret_id.into(),
        }
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn fetch(&self) -> Result<SecretString, SecretsError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| SecretsError::Unavailable(Box::new(e.into_service_error())))?;
        output
            .secret_string
            .map(SecretString::from)
            .ok_or_else(|| SecretsError::Malformed("the secret has no string value".into()))
    }
}

/// A fixed value (tests and the local stack).
pub struct StaticSecret(pub SecretString);

#[async_trait]
impl SecretSource for StaticSecret {
    async fn fetch(&self) -> Result<SecretString, SecretsError> {
        Ok(self.0.clone())
    }
}

/// The per-container cache in front of a [`SecretSource`].
pub struct Secrets {
    source: Arc<dyn SecretSource>,
    ttl: Duration,
    /// The value and when it was fetched; locked only to read or swap it.
    cached: std::sync::Mutex<Option<(Instant, Arc<AppSecrets>)>>,
    /// Held by the one caller fetching from the source.
    fetching: Mutex<()>,
    fetches: AtomicU64,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("ttl", &self.ttl)
            .field("fetches", &self.fetch_count())
            .finish_non_exhaustive()
    }
}

impl Secrets {
    /// A cache that refetches after `ttl`.
    pub fn new(source: Arc<dyn SecretSource>, ttl: Duration) -> Self {
        Self {
            source,
            ttl,
            cached: std::sync::Mutex::new(None),
            fetching: Mutex::new(()),
            fetches: AtomicU64::new(0),
        }
    }

    /// The secrets, fetched at most once per TTL. One caller fetches; while it
    /// does, the others are served the cached value, or, when there is none
    /// yet, wait for that one fetch instead of starting their own.
    pub async fn get(&self) -> Result<Arc<AppSecrets>, SecretsError> {
        let cached = match self.cached() {
            Some((value, true)) => return Ok(value),
            other => other.map(|(value, _)| value),
        };
        let _fetching = match &cached {
            Some(value) => match self.fetching.try_lock() {
                Ok(guard) => guard,
                // Someone is already refreshing it: do not queue behind them.
                Err(_) => return Ok(value.clone()),
            },
            None => self.fetching.lock().await,
        };
        // The fetch we waited for may have filled the cache.
        if let Some((value, true)) = self.cached() {
            return Ok(value);
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let fresh = match self.source.fetch().await {
            Ok(json) => AppSecrets::parse(json.expose_secret()),
            Err(e) => Err(e),
        };
        match (fresh, cached) {
            (Ok(value), _) => {
                let value = Arc::new(value);
                self.store(Instant::now(), value.clone());
                Ok(value)
            }
            (Err(error), Some(stale)) => {
                tracing::warn!(%error, "could not refresh the app secret; keeping the cached one");
                // Try again after a short pause rather than on every request.
                let retry_in = Duration::from_secs(10).min(self.ttl);
                let as_if_fetched = Instant::now()
                    .checked_sub(self.ttl - retry_in)
                    .unwrap_or_else(Instant::now);
                self.store(as_if_fetched, stale.clone());
                Ok(stale)
            }
            (Err(error), None) => Err(error),
        }
    }

    /// The cached value and whether it is still fresh.
    fn cached(&self) -> Option<(Arc<AppSecrets>, bool)> {
        let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        cached
            .as_ref()
            .map(|(fetched_at, value)| (value.clone(), fetched_at.elapsed() < self.ttl))
    }

    fn store(&self, fetched_at: Instant, value: Arc<AppSecrets>) {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some((fetched_at, value));
    }

    /// How many times the source was asked (benchmarks check warm requests ask 0 times).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use std::sync::atomic::AtomicBool;

    pub(crate) fn secret_json(client_secret: &str) -> String {
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        serde_json::json!({
            "client_key": "ck-test",
            "client_secret": client_secret,
            "token_keys": {"k1": key},
            "active_token_key": "k1",
        })
        .to_string()
    }

    struct Flaky {
        up: AtomicBool,
        value: String,
    }

    #[async_trait]
    impl SecretSource for Flaky {
        async fn fetch(&self) -> Result<SecretString, SecretsError> {
            if self.up.load(Ordering::SeqCst) {
                Ok(SecretString::from(self.value.clone()))
            } else {
                Err(SecretsError::Unavailable("down".into()))
            }
        }
    }

    #[test]
    fn debug_of_parsed_secrets_is_redacted() {
        let secrets = AppSecrets::parse(&secret_json("cs-super-secret-value")).unwrap();
        let shown = format!("{secrets:?}");
        assert!(!shown.contains("cs-super-secret-value"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(!shown.contains(&key), "{shown}");
    }

    #[test]
    fn malformed_secrets_are_named_without_the_value() {
        for bad in [
            "not json with cs-leak".to_owned(),
            r#"{"client_key":"ck","client_secret":"cs-leak"}"#.to_owned(),
            secret_json(""),
        ] {
            let err = AppSecrets::parse(&bad).unwrap_err().to_string();
            assert!(!err.contains("cs-leak"), "{err}");
        }
    }

    #[test]
    fn a_shop_secret_carries_app_key_and_app_secret() {
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let json = serde_json::json!({
            "app_key": "6abc1def", "app_secret": "as-very-secret",
            "token_keys": {"k1": key}, "active_token_key": "k1",
        })
        .to_string();
        let secrets = AppSecrets::parse(&json).unwrap();
        let shop = secrets.shop_credentials.as_ref().unwrap();
        assert_eq!(shop.client_key, "6abc1def");
        assert_eq!(shop.client_secret.expose(), "as-very-secret");
        assert!(!format!("{secrets:?}").contains("as-very-secret"));
        // The research pair is absent from a plain research secret's shop side.
        let research = AppSecrets::parse(&secret_json("cs-1")).unwrap();
        assert!(research.shop_credentials.is_none());
    }

    /// A source whose fetches wait until the test lets them through.
    struct Gated {
        open: tokio::sync::Semaphore,
        value: String,
        started: AtomicU64,
    }

    #[async_trait]
    impl SecretSource for Gated {
        async fn fetch(&self) -> Result<SecretString, SecretsError> {
            self.started.fetch_add(1, Ordering::SeqCst);
            self.open.acquire().await.expect("gate").forget();
            Ok(SecretString::from(self.value.clone()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_refetch_does_not_hold_up_requests_that_have_a_cached_value() {
        let source = Arc::new(Gated {
            open: tokio::sync::Semaphore::new(1),
            value: secret_json("cs-1"),
            started: AtomicU64::new(0),
        });
        let secrets = Arc::new(Secrets::new(source.clone(), Duration::from_secs(300)));
        secrets.get().await.unwrap();
        tokio::time::advance(Duration::from_secs(301)).await;

        // One request starts the refetch; Secrets Manager is slow to answer.
        let refreshing = tokio::spawn({
            let secrets = secrets.clone();
            async move {
                secrets
                    .get()
                    .await
                    .map(|s| s.credentials.client_key.clone())
            }
        });
        while source.started.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        // Meanwhile other requests are served the cached value at once, and do
        // not start fetches of their own.
        for _ in 0..3 {
            let cached = tokio::time::timeout(Duration::from_millis(50), secrets.get())
                .await
                .expect("served from the cache while the refetch is in flight")
                .unwrap();
            assert_eq!(cached.credentials.client_key, "ck-test");
        }
        assert_eq!(source.started.load(Ordering::SeqCst), 2);
        source.open.add_permits(1);
        assert_eq!(refreshing.await.unwrap().unwrap(), "ck-test");
        assert_eq!(secrets.fetch_count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_cached_value_concurrent_requests_share_one_fetch() {
        let source = Arc::new(Gated {
            open: tokio::sync::Semaphore::new(0),
            value: secret_json("cs-1"),
            started: AtomicU64::new(0),
        });
        let secrets = Arc::new(Secrets::new(source.clone(), Duration::from_secs(300)));
        let waiting: Vec<_> = (0..4)
            .map(|_| {
                let secrets = secrets.clone();
                tokio::spawn(async move { secrets.get().await.is_ok() })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        source.open.add_permits(1);
        for task in waiting {
            assert!(task.await.unwrap());
        }
        assert_eq!(source.started.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn cached_within_ttl_refetched_after_and_stale_kept_when_down() {
        let source = Arc::new(Flaky {
            up: AtomicBool::new(false),
            value: secret_json("cs-1"),
        });
        let secrets = Secrets::new(source.clone(), Duration::from_secs(300));
        // Down before the first fetch: an error, not a panic.
        assert!(secrets.get().await.is_err());
        source.up.store(true, Ordering::SeqCst);
        secrets.get().await.unwrap();
        secrets.get().await.unwrap();
        assert_eq!(secrets.fetch_count(), 2);
        tokio::time::advance(Duration::from_secs(301)).await;
        source.up.store(false, Ordering::SeqCst);
        let stale = secrets.get().await.unwrap();
        assert_eq!(stale.credentials.client_key, "ck-test");
        assert_eq!(secrets.fetch_count(), 3);
        // Not hammered on every request while down.
        secrets.get().await.unwrap();
        assert_eq!(secrets.fetch_count(), 3);
    }
}
