//! What every function builds once at start-up ([`AppState`]) and the token logic
//! the functions share: getting a usable TikTok token for a user, refreshing it at
//! most once per request with a compare-and-set, and retrying a call once when
//! TikTok says the token is no longer valid.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lambda_http::{Request, RequestExt};
use tokio::time::Instant;

use crate::app_secrets::{Secrets, SecretsManagerSource};
use crate::config::{Config, ConfigError, ProviderKind, TokenMode};
use crate::error::Error;
use crate::provider::{Provider, ResearchProvider, ShopProvider};
use crate::redacted::AccessToken;
use crate::store::{
    Connection, ConnectionStatus, DynamoStore, StoreError, TableLayout, TokenStore, Tokens,
};
use crate::tiktok::shop::ShopClient;
use crate::tiktok::{Product, TikTokClient, TokenGrant, UpstreamError};

/// Tokens this close to expiry are treated as expired (clock skew, request time).
pub const EXPIRY_SKEW_SECS: i64 = 60;

/// What the code assumes when a grant does not say how long its refresh token
/// lives (`refresh_expires_in` absent): TikTok's shorter documented lifetime
/// (TIKTOK_API.md: 180 days on current pages, 365 on older ones). An absent
/// lifetime is unknown, not zero. If the token dies sooner, the next refresh
/// gets `invalid_grant` and the connection is marked for a reconnect then.
/// This is the only place that assumes a lifetime.
pub const ASSUMED_REFRESH_LIFETIME_SECS: u64 = 180 * 86_400;

/// `now` plus a lifetime in seconds from TikTok, clamped: a lifetime beyond
/// `i64` is "far in the future", never a negative number.
pub fn expires_at(now: i64, lifetime_secs: u64) -> i64 {
    now.saturating_add(i64::try_from(lifetime_secs).unwrap_or(i64::MAX))
}

/// Leave this much of the Lambda's own deadline for answering.
const RESPONSE_MARGIN: Duration = Duration::from_millis(500);

/// The Lambda invocation's deadline (Unix milliseconds, from the runtime's
/// context) as an `Instant`; `None` when the context has none (0: a test, a
/// local call). The one conversion: each caller decides its own fallback.
pub fn lambda_deadline(deadline_ms: u64) -> Option<Instant> {
    if deadline_ms == 0 {
        return None;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Some(Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms)))
}

/// The current Unix time in seconds; replaceable in tests.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    })
}

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

/// Everything a function needs, built once per container and borrowed by each
/// invocation.
#[derive(Clone)]
pub struct AppState {
    /// Settings.
    pub config: Arc<Config>,
    /// Every store port at once, for wiring. A function hands its core only the
    /// ports it touches (`&C where C: Connections`, ...), so its signature says
    /// what it reads and writes, as the IAM test proves for its grants; the data
    /// routes reach theirs through [`AppState::request_connection`].
    pub store: Arc<dyn TokenStore>,
    /// TikTok's Login Kit and Research API client (what the research provider calls).
    pub upstream: Arc<TikTokClient>,
    /// The upstream the functions speak to (`TIKTOK_PROVIDER`), chosen once.
    pub provider: Arc<dyn Provider>,
    /// App credentials and token keys, cached.
    pub secrets: Arc<Secrets>,
    /// Unix seconds.
    pub clock: Clock,
    /// The app's client-credentials token as this container last saw it, so a
    /// warm request in `app` mode reads nothing but the user's connection.
    app_token_cache: Arc<std::sync::Mutex<Option<(AccessToken, i64)>>>,
}

/// How a refresh attempt ended.
#[derive(Debug)]
pub enum Refresh {
    /// We rotated the tokens and stored them.
    Refreshed(Connection),
    /// Someone else rotated them first; this is what they stored.
    LostRace(Connection),
    /// TikTok refused the refresh token and nobody had rotated it: the user must
    /// connect again (the connection is marked so).
    ReconnectRequired,
    /// The connection was deleted meanwhile.
    Gone,
}

/// How long a refused refresh token waits for a racing sibling's write to
/// appear before the connection is marked "reconnect" (re-reads between waits).
const REFUSED_GRANT_GRACE: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(150),
    Duration::from_millis(300),
];

/// Initialises JSON logs filtered by `RUST_LOG` (default `info`). The AWS SDK,
/// the HTTP stack and the Lambda runtime are capped at `info` whatever
/// `RUST_LOG` says: at trace level they log request and response bodies and
/// the raw event (JWTs, codes, states), which carry secrets and tokens.
pub fn init_tracing() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
    let _ = tracing::subscriber::set_global_default(log_subscriber(&filter, std::io::stdout));
}

/// The functions' log format (JSON lines, no timestamps: CloudWatch adds them)
/// with `filter` (a `RUST_LOG` value), written to `writer`. The AWS SDK and the
/// HTTP stack are held at `info` whatever the filter says: at `debug` and
/// `trace` they log request and response bodies, which carry tokens.
pub fn log_subscriber<W>(filter: &str, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "{filter},aws_smithy_runtime=info,aws_smithy_runtime_api=info,aws_sdk_secretsmanager=info,\
         aws_sdk_dynamodb=info,aws_sdk_sqs=info,aws_config=info,hyper=info,hyper_util=info,reqwest=info,rustls=info,h2=info,\
         lambda_runtime=info,lambda_runtime_api_client=info,lambda_http=info"
    ))
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        // The invocation's `request` span (request id, function) on every line.
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .with_target(false)
        .with_writer(writer)
        .finish()
}

impl AppState {
    /// Wires the parts together.
    pub fn new(
        config: Config, store: Arc<dyn TokenStore>, upstream: Arc<TikTokClient>,
        secrets: Arc<Secrets>,
    ) -> Self {
        Self {
            config: Arc::new(config),
            store,
            upstream,
            provider: Arc::new(ResearchProvider),
            secrets,
            clock: system_clock(),
            app_token_cache: Arc::default(),
        }
    }

    /// The same state speaking to another provider.
    pub fn with_provider(mut self, provider: Arc<dyn Provider>) -> Self {
        self.provider = provider;
        self
    }

    /// The provider `config.provider` names, over `client` (its HTTP client,
    /// rate limiter and retries are shared).
    pub fn provider_for(config: &Config, client: &TikTokClient) -> Arc<dyn Provider> {
        match config.provider {
            ProviderKind::Research => Arc::new(ResearchProvider),
            ProviderKind::Shop => Arc::new(ShopProvider::new(ShopClient::new(
                client.clone(),
                config.shop.clone(),
            ))),
        }
    }

    /// The production wiring: config from the environment, one AWS config load,
    /// DynamoDB, Secrets Manager (fetched lazily, on first use) and TikTok.
    pub async fn from_env() -> Result<Self, BootError> {
        Ok(Self::from_env_with(|_| {}).await?.0)
    }

    /// As [`AppState::from_env`], with `adjust` applied to the configuration
    /// first; also returns the AWS config (with the functions' timeouts) for
    /// clients only some functions need.
    pub async fn from_env_with(
        adjust: impl FnOnce(&mut Config),
    ) -> Result<(Self, aws_config::SdkConfig), BootError> {
        let mut config = Config::from_env()?;
        adjust(&mut config);
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(crate::aws::http_client())
            .load()
            .await;
        let aws = with_timeouts(&aws);
        Ok((Self::from_aws(config, &aws)?, aws))
    }

    /// The production wiring over an already loaded AWS config (tests point it
    /// at moto). AWS calls get the functions' timeouts: 1 s to connect, 2 s an
    /// attempt, 4 s in all, retries included, so a DynamoDB or Secrets Manager
    /// outage is a 503 well inside the 10 s Lambda timeout.
    pub fn from_aws(config: Config, aws: &aws_config::SdkConfig) -> Result<Self, BootError> {
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
        let client = TikTokClient::new(
            TikTokClient::http_client(&config.tiktok)?,
            config.tiktok.clone(),
        );
        let provider = Self::provider_for(&config, &client);
        Ok(Self::new(config, store, Arc::new(client), secrets).with_provider(provider))
    }

    /// Now, in Unix seconds.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// When upstream work for `req` must stop: the configured budget, and never
    /// past the Lambda's own deadline less a margin to answer.
    pub fn deadline(&self, req: &Request) -> Instant {
        let budget = Instant::now() + self.config.upstream_budget;
        let lambda_deadline = req
            .lambda_context_ref()
            .and_then(|c| lambda_deadline(c.deadline))
            .map(|d| d.checked_sub(RESPONSE_MARGIN).unwrap_or(d));
        lambda_deadline.map_or(budget, |d| d.min(budget))
    }

    /// Tokens from a grant, with absolute expiry times; what the grant leaves out
    /// is kept from `previous`.
    pub fn tokens_from_grant(
        &self, grant: TokenGrant, previous: Option<&Tokens>,
    ) -> Result<Tokens, Error> {
        let now = self.now();
        let refresh_expires_at = match (grant.refresh_expires_in, &grant.refresh_token, previous) {
            (Some(secs), _, _) => expires_at(now, secs),
            // Not rotated: the refresh token we hold keeps its expiry.
            (None, None, Some(previous)) => previous.refresh_expires_at,
            // A new refresh token (or a first one) of unknown lifetime.
            (None, _, _) => expires_at(now, ASSUMED_REFRESH_LIFETIME_SECS),
        };
        let refresh_token = grant
            .refresh_token
            .or_else(|| previous.map(|p| p.refresh_token.clone()))
            .ok_or_else(|| {
                Error::Upstream(UpstreamError::Decode {
                    status: 200,
                    body: "[redacted]".into(),
                    source: serde::de::Error::custom("the grant has no refresh_token"),
                })
            })?;
        Ok(Tokens {
            open_id: grant
                .open_id
                .or_else(|| previous.map(|p| p.open_id.clone()))
                .unwrap_or_default(),
            scopes: if grant.scopes.is_empty() {
                previous.map(|p| p.scopes.clone()).unwrap_or_default()
            } else {
                grant.scopes
            },
            access_token: grant.access_token,
            refresh_token,
            access_expires_at: expires_at(now, grant.expires_in),
            refresh_expires_at,
            refreshed_at: now,
            account: previous.and_then(|p| p.account.clone()),
        })
    }

    /// Refreshes `connection` at TikTok and stores the rotated tokens with a
    /// compare-and-set on its version. On `invalid_grant` it re-reads first (a
    /// sibling may have rotated the token) and only then marks the connection as
    /// needing a reconnect.
    pub async fn refresh_connection(
        &self, connection: &Connection, deadline: Instant,
    ) -> Result<Refresh, Error> {
        let user_id = &connection.user_id;
        let result = self
            .provider
            .refresh(self, &connection.tokens, deadline)
            .await;
        match result {
            Ok(tokens) => {
                match self
                    .store
                    .update_tokens(user_id, connection.version, &tokens)
                    .await
                {
                    Ok(stored) => Ok(Refresh::Refreshed(stored)),
                    Err(StoreError::Conflict) => self.after_lost_write(connection, &tokens).await,
                    // The dangerous case: TikTok rotated the token and our write did
                    // not land. Nothing half-written is stored; the old refresh token
                    // is now dead at TikTok, so the next refresh of this connection
                    // gets invalid_grant and the user is asked to reconnect.
                    Err(e) => {
                        tracing::error!(user_id, error = %e, "rotated tokens could not be stored");
                        Err(e.into())
                    }
                }
            }
            Err(Error::Upstream(UpstreamError::InvalidGrant { log_id, .. })) => {
                tracing::warn!(
                    user_id,
                    tiktok_log_id = log_id.as_deref(),
                    "refresh token refused"
                );
                // A sibling may have rotated this very token a moment ago and
                // not stored the new one yet: give its write a short grace
                // before concluding the token is dead.
                let mut current = self.store.get_connection(user_id).await?;
                for wait in REFUSED_GRANT_GRACE {
                    let unchanged = current
                        .as_ref()
                        .is_some_and(|c| c.version == connection.version);
                    if !unchanged || Instant::now() + wait >= deadline {
                        break;
                    }
                    tokio::time::sleep(wait).await;
                    current = self.store.get_connection(user_id).await?;
                }
                match current {
                    None => Ok(Refresh::Gone),
                    Some(current) if current.version != connection.version => {
                        Ok(match current.status {
                            ConnectionStatus::Active => Refresh::LostRace(current),
                            // Marked meanwhile; the refused token is not usable
                            // either way (a dormant one is marked on its next try).
                            ConnectionStatus::ReconnectRequired | ConnectionStatus::Dormant => {
                                Refresh::ReconnectRequired
                            }
                        })
                    }
                    Some(current) => {
                        match self
                            .store
                            .mark_reconnect_required(user_id, current.version)
                            .await
                        {
                            Ok(()) => Ok(Refresh::ReconnectRequired),
                            Err(StoreError::Conflict) => self.reread(user_id).await,
                            Err(e) => Err(e.into()),
                        }
                    }
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Our rotation could not be stored because the connection changed. If a
    /// sibling marked it "reconnect" because TikTok refused the refresh token we
    /// had just rotated (it raced us with the same token), our tokens are the
    /// newest: store them over the mark. Otherwise the sibling's write wins.
    async fn after_lost_write(
        &self, connection: &Connection, ours: &Tokens,
    ) -> Result<Refresh, Error> {
        let user_id = &connection.user_id;
        match self.store.get_connection(user_id).await? {
            None => Ok(Refresh::Gone),
            Some(current)
                if current.status == ConnectionStatus::ReconnectRequired
                    && current.tokens.refresh_token == connection.tokens.refresh_token =>
            {
                match self
                    .store
                    .update_tokens(user_id, current.version, ours)
                    .await
                {
                    Ok(stored) => {
                        tracing::info!(
                            user_id,
                            "stored a rotation over a sibling's reconnect mark"
                        );
                        Ok(Refresh::Refreshed(stored))
                    }
                    Err(StoreError::Conflict) => self.reread(user_id).await,
                    Err(e) => Err(e.into()),
                }
            }
            Some(current) if current.status == ConnectionStatus::Active => {
                Ok(Refresh::LostRace(current))
            }
            Some(_) => Ok(Refresh::ReconnectRequired),
        }
    }

    async fn reread(&self, user_id: &str) -> Result<Refresh, Error> {
        Ok(match self.store.get_connection(user_id).await? {
            None => Refresh::Gone,
            Some(c) if c.status == ConnectionStatus::Active => Refresh::LostRace(c),
            Some(_) => Refresh::ReconnectRequired,
        })
    }

    /// The user's connection, usable: 409 when there is none or it needs a reconnect.
    pub async fn active_connection(&self, user_id: &str) -> Result<Connection, Error> {
        match self.store.get_connection(user_id).await? {
            None => Err(Error::NotConnected),
            Some(c) if c.status == ConnectionStatus::ReconnectRequired => {
                Err(Error::ReconnectRequired)
            }
            Some(c) if c.tokens.refresh_expires_at <= self.now() => Err(Error::ReconnectRequired),
            Some(c) => Ok(c),
        }
    }

    async fn refreshed_user_token(
        &self, connection: &Connection, deadline: Instant,
    ) -> Result<Connection, Error> {
        match self.refresh_connection(connection, deadline).await? {
            Refresh::Refreshed(c) | Refresh::LostRace(c) => Ok(c),
            Refresh::ReconnectRequired => Err(Error::ReconnectRequired),
            Refresh::Gone => Err(Error::NotConnected),
        }
    }

    /// The app's client-credentials token: stored once for all containers (and
    /// remembered by this one until it nears expiry), fetched from TikTok when
    /// missing, expiring, or `refused` (TikTok said it is no longer valid).
    pub async fn app_token(
        &self, deadline: Instant, refused: Option<&AccessToken>,
    ) -> Result<AccessToken, Error> {
        let usable = |token: &AccessToken, expires_at: i64| {
            refused.is_none_or(|r| r != token) && expires_at > self.now() + EXPIRY_SKEW_SECS
        };
        if let Some((token, expires_at)) = self.cached_app_token() {
            if usable(&token, expires_at) {
                return Ok(token);
            }
        }
        let stored = self.store.get_app_token().await?;
        if let Some(token) = &stored {
            if usable(&token.access_token, token.expires_at) {
                self.remember_app_token(&token.access_token, token.expires_at);
                return Ok(token.access_token.clone());
            }
        }
        let secrets = self.secrets.get().await?;
        let grant = self
            .upstream
            .client_token(&secrets.credentials, deadline)
            .await?;
        let expires_at = expires_at(self.now(), grant.expires_in);
        match self
            .store
            .put_app_token(&grant.access_token, expires_at, stored.map(|t| t.version))
            .await
        {
            // Another container stored one first; both are valid, use ours.
            Ok(_) | Err(StoreError::Conflict) => {
                self.remember_app_token(&grant.access_token, expires_at);
                Ok(grant.access_token)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn cached_app_token(&self) -> Option<(AccessToken, i64)> {
        self.app_token_cache.lock().ok()?.clone()
    }

    fn remember_app_token(&self, token: &AccessToken, expires_at: i64) {
        if let Ok(mut cache) = self.app_token_cache.lock() {
            *cache = Some((token.clone(), expires_at));
        }
    }

    /// Starts a data request for `user_id`: reads their connection once (409 when
    /// there is none or it needs a reconnect). Every upstream call of the request
    /// then goes through [`RequestConnection::with_token`].
    /// The first request of a (UTC) day also records the use (one conditional
    /// write, best effort), which keeps the connection refreshed ahead of time
    /// (see [`crate::refresh`]) and brings a dormant one back.
    pub async fn request_connection(&self, user_id: &str) -> Result<RequestConnection<'_>, Error> {
        let mut connection = self.active_connection(user_id).await?;
        self.record_use(&mut connection).await;
        Ok(RequestConnection {
            state: self,
            connection,
            refreshed: false,
        })
    }

    /// Counts one upstream call against the user's daily budget (one atomic
    /// update, no read); 429 with `Retry-After` until the next UTC day once it
    /// is spent, so one user cannot use up the app's daily quota.
    pub async fn spend_upstream_call(&self, user_id: &str) -> Result<(), Error> {
        let now = self.now();
        let day = now.div_euclid(86_400);
        let next_day = (day + 1) * 86_400;
        let limit = self.config.user_daily_upstream_calls;
        if self
            .store
            .spend_upstream_call(user_id, day, limit, next_day + 86_400)
            .await?
        {
            Ok(())
        } else {
            Err(Error::DailyBudgetSpent {
                limit,
                retry_after: Duration::from_secs((next_day - now).max(1) as u64),
            })
        }
    }

    async fn record_use(&self, connection: &mut Connection) {
        let now = self.now();
        let today = now - now.rem_euclid(86_400);
        if connection.last_used_at >= today && connection.status == ConnectionStatus::Active {
            return;
        }
        match self.store.record_use(&connection.user_id, now, today).await {
            Ok(_) => {
                connection.last_used_at = now;
                connection.status = ConnectionStatus::Active;
            }
            // Not fatal: the request goes on; the next one tries again.
            Err(error) => tracing::warn!(error = %error, "could not record the use"),
        }
    }

    /// Caches `products` of `shop_id` for product lookups; a failure is logged,
    /// not fatal (the cache only spares TikTok calls).
    pub async fn cache_products(&self, shop_id: &crate::tiktok::TikTokId, products: &[Product]) {
        if products.is_empty() {
            return;
        }
        let expires_at = self.now() + self.config.product_cache_ttl.as_secs() as i64;
        if let Err(error) = self
            .store
            .cache_products(shop_id, products, expires_at)
            .await
        {
            tracing::warn!(error = %error, "could not cache products");
        }
    }
}

/// One data request's view of a user's connection: read once when the request
/// starts, refreshed at most once however many upstream calls the request makes.
pub struct RequestConnection<'a> {
    state: &'a AppState,
    connection: Connection,
    refreshed: bool,
}

impl<'a> RequestConnection<'a> {
    /// The state the request runs in.
    pub fn state(&self) -> &'a AppState {
        self.state
    }

    /// The user's connection as this request knows it.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Runs `call` with a usable token (the user's, or the app's in `app` mode).
    /// An expired user token is refreshed first; if TikTok answers
    /// `access_token_invalid`, the token is refreshed and `call` retried, once
    /// per request.
    pub async fn with_token<T, F, Fut>(&mut self, deadline: Instant, call: F) -> Result<T, Error>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let state = self.state;
        let user_id = self.connection.user_id.clone();
        match state.config.token_mode {
            TokenMode::App => {
                let token = state.app_token(deadline, None).await?;
                // Counted just before the call, once a usable token is in hand.
                state.spend_upstream_call(&user_id).await?;
                match call(token.clone()).await {
                    Err(UpstreamError::AccessTokenInvalid { .. }) if !self.refreshed => {
                        self.refreshed = true;
                        let token = state.app_token(deadline, Some(&token)).await?;
                        Ok(call(token).await?)
                    }
                    other => Ok(other?),
                }
            }
            TokenMode::User => {
                if self.connection.tokens.access_expires_at <= state.now() + EXPIRY_SKEW_SECS
                    && !self.refreshed
                {
                    self.refresh(deadline).await?;
                }
                state.spend_upstream_call(&user_id).await?;
                let mut result = call(self.connection.tokens.access_token.clone()).await;
                if matches!(result, Err(UpstreamError::AccessTokenInvalid { .. }))
                    && !self.refreshed
                {
                    self.refresh(deadline).await?;
                    result = call(self.connection.tokens.access_token.clone()).await;
                }
                match result {
                    // A token TikTok minted during this request is refused too: the
                    // authorization itself is gone (revoked, or the seller removed
                    // the app). Refresh once, then reconnect.
                    Err(UpstreamError::AccessTokenInvalid { log_id, .. }) => {
                        tracing::warn!(
                            user_id,
                            tiktok_log_id = log_id.as_deref(),
                            "a freshly refreshed token was refused; reconnect required"
                        );
                        match state
                            .store
                            .mark_reconnect_required(&user_id, self.connection.version)
                            .await
                        {
                            // Conflict: a sibling wrote meanwhile; its write stands.
                            Ok(()) | Err(StoreError::Conflict) => Err(Error::ReconnectRequired),
                            Err(e) => Err(e.into()),
                        }
                    }
                    other => Ok(other?),
                }
            }
        }
    }

    async fn refresh(&mut self, deadline: Instant) -> Result<(), Error> {
        self.refreshed = true;
        self.connection = self
            .state
            .refreshed_user_token(&self.connection, deadline)
            .await?;
        Ok(())
    }

    /// One page of a shop's listing.
    pub async fn list_products(
        &mut self, shop_id: &crate::tiktok::TikTokId, page_start: u32, page_size: u32,
        deadline: Instant,
    ) -> Result<crate::tiktok::Page<Product>, Error> {
        let upstream = self.state.upstream.clone();
        self.with_token(deadline, |token| {
            let upstream = upstream.clone();
            let shop_id = shop_id.clone();
            async move {
                upstream
                    .products(&token, &shop_id, page_start, page_size, deadline)
                    .await
            }
        })
        .await
    }
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
    let (state, aws) = AppState::from_env_with(adjust)
        .await
        .unwrap_or_else(|e| panic!("cannot start: {e}"));
    for warning in state.config.warnings() {
        tracing::warn!(%warning, "this configuration cannot work as intended");
    }
    (state, aws)
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
