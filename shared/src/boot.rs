//! Start-up: the one place where everything is built, from the environment
//! or from an AWS config (tests point it at moto): the configuration, the AWS
//! clients with the functions' timeouts, the store, the secrets, the TikTok
//! client and the provider `TIKTOK_PROVIDER` names, wired into an
//! [`AppState`]. Nothing below this module imports it.

use std::sync::Arc;
use std::time::Duration;

use crate::app::AppState;
use crate::app_secrets::{Secrets, SecretsManagerSource};
use crate::clock::{system_clock, Clock};
use crate::config::{Config, ConfigError, ProviderKind};
use crate::provider::creator::CreatorProvider;
use crate::provider::research::ResearchProvider;
use crate::provider::shop::ShopProvider;
use crate::provider::{Authorization, CacheSettings, Catalogue};
use crate::store::{DynamoStore, TableLayout, TokenStore};
use crate::telemetry::init_tracing;
use crate::tiktok::creator::CreatorClient;
use crate::tiktok::shop::ShopClient;
use crate::tiktok::TikTokClient;
use crate::tokens::TokenService;

/// Start-up failed; the function cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// A setting is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Start-up of every function: JSON logs, then the state. A missing or malformed
/// setting stops the function here, with a message naming it.
pub async fn boot() -> AppState {
    boot_with(|_| {}).await.0
}

/// As [`boot`], with `adjust` applied to the configuration first; also returns
/// the AWS config for clients only some functions need (the refresh queue).
pub async fn boot_with(adjust: impl FnOnce(&mut Config)) -> (AppState, aws_config::SdkConfig) {
    init_tracing();
    let (state, aws) = from_env_with(adjust)
        .await
        .unwrap_or_else(|e| panic!("cannot start: {e}"));
    for warning in state.config.warnings() {
        tracing::warn!(%warning, "this configuration cannot work as intended");
    }
    (state, aws)
}

/// The production wiring: config from the environment (with `adjust` applied),
/// one AWS config load, DynamoDB, Secrets Manager (fetched lazily, on first
/// use) and TikTok; also returns the AWS config (with the functions' timeouts).
pub async fn from_env_with(
    adjust: impl FnOnce(&mut Config),
) -> Result<(AppState, aws_config::SdkConfig), BootError> {
    let mut config = Config::from_env()?;
    adjust(&mut config);
    let aws = with_timeouts(&load_aws().await);
    Ok((from_aws(config, &aws)?, aws))
}

/// The AWS config the functions start with. Lambda puts the region and the
/// role's credentials in the environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// ...), where the SDK's default chains would find them first anyway: when
/// they are there they are taken directly, which skips building those chains
/// (profile files, SSO, web identity, ECS, IMDS) at every cold start.
/// Anywhere else (a laptop with a profile) the defaults apply.
pub async fn load_aws() -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::aws::http_client());
    let region = std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION"));
    if let (Ok(region), Some(_)) = (region, std::env::var_os("AWS_ACCESS_KEY_ID")) {
        loader = loader
            .region(aws_config::Region::new(region))
            .credentials_provider(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            );
    }
    loader.load().await
}

/// The production wiring over an already loaded AWS config, on the wall clock.
pub fn from_aws(config: Config, aws: &aws_config::SdkConfig) -> Result<AppState, BootError> {
    from_aws_at(config, aws, system_clock())
}

/// As [`from_aws`], on `clock`. AWS calls get the functions' timeouts: 1 s to
/// connect, 2 s an attempt, 4 s in all, retries included, so a DynamoDB or
/// Secrets Manager outage is a 503 well inside the 10 s Lambda timeout.
pub fn from_aws_at(
    config: Config,
    aws: &aws_config::SdkConfig,
    clock: Clock,
) -> Result<AppState, BootError> {
    let aws = &with_timeouts(aws);
    let secrets = Arc::new(Secrets::new(
        Arc::new(SecretsManagerSource::lazy(aws, config.secret_id.clone())),
        config.secret_cache_ttl,
    ));
    let store = Arc::new(DynamoStore::lazy(
        aws,
        TableLayout {
            table: config.table_name.clone(),
            due_shards: config.due_shards,
        },
        secrets.clone(),
    ));
    assemble(config, store, secrets, clock)
}

/// Wires a state over `store` and `secrets` (tests and tools pass the memory
/// store and a static secret): the TikTok client from `config`, the provider
/// it names, and the token logic over both.
pub fn assemble(
    config: Config,
    store: Arc<dyn TokenStore>,
    secrets: Arc<Secrets>,
    clock: Clock,
) -> Result<AppState, BootError> {
    let client = TikTokClient::new(
        TikTokClient::http_client(&config.tiktok)?,
        config.tiktok.clone(),
    );
    let (authorization, catalogue) = provider(&config, client, &store, &secrets, &clock);
    let tokens = TokenService::new(
        store.clone(),
        authorization.clone(),
        clock.clone(),
        config.token_mode,
        config.user_daily_upstream_calls,
        config.app_daily_upstream_calls,
    );
    Ok(AppState::new(
        Arc::new(config),
        store,
        authorization,
        catalogue,
        tokens,
        secrets,
        clock,
    ))
}

/// The provider `config.provider` names, over `client` (its HTTP client, rate
/// limiter and retries are shared): its authorization and catalogue sides.
pub fn provider(
    config: &Config,
    client: TikTokClient,
    store: &Arc<dyn TokenStore>,
    secrets: &Arc<Secrets>,
    clock: &Clock,
) -> (Arc<dyn Authorization>, Arc<dyn Catalogue>) {
    let cache = CacheSettings {
        cache: store.clone(),
        clock: clock.clone(),
        ttl: config.product_cache_ttl,
    };
    match config.provider {
        ProviderKind::Research => {
            let provider = Arc::new(ResearchProvider::new(
                Arc::new(client),
                secrets.clone(),
                cache,
                config.page_budget,
            ));
            (provider.clone(), provider)
        }
        ProviderKind::Creator => {
            let provider = Arc::new(CreatorProvider::new(
                CreatorClient::new(ShopClient::new(client, config.shop.clone())),
                secrets.clone(),
                cache,
                config.page_budget,
            ));
            (provider.clone(), provider)
        }
        ProviderKind::Shop => {
            let provider = Arc::new(ShopProvider::new(
                ShopClient::new(client, config.shop.clone()),
                secrets.clone(),
                cache,
                config.page_budget,
            ));
            (provider.clone(), provider)
        }
    }
}

/// `aws` with the functions' AWS timeouts: 1 s to connect, 2 s an attempt, 4 s
/// in all, retries included.
pub fn with_timeouts(aws: &aws_config::SdkConfig) -> aws_config::SdkConfig {
    aws.to_builder()
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(4))
                .build(),
        )
        .build()
}
