//! The token logic every data request and the refresher share: getting a
//! usable TikTok token for a user, refreshing it at most once per request
//! with a compare-and-set (and recovering when a sibling container rotated it
//! first), the app's client-credentials token, the per-user daily budget and
//! the record of use that keeps a connection refreshed ahead of time.
//!
//! [`TokenService`] is built once per container with the store and the
//! provider's [`Authorization`] side; [`RequestConnection`] is one request's
//! view of a connection, the [`Session`] the provider's catalogue reads through.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::clock::{expires_at, Clock};
use crate::config::TokenMode;
use crate::error::Error;
use crate::provider::{Authorization, Session, SessionOpener};
use crate::redacted::AccessToken;
use crate::store::{
    Budget, CacheEntry, Connection, ConnectionStatus, StoreError, TokenStore, Tokens,
};
use crate::tiktok::UpstreamError;

/// Tokens this close to expiry are treated as expired (clock skew, request time).
pub const EXPIRY_SKEW_SECS: i64 = 60;

/// How long a refused refresh token waits for a racing sibling's write to
/// appear before the connection is marked "reconnect" (re-reads between waits).
const REFUSED_GRANT_GRACE: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(150),
    Duration::from_millis(300),
];

/// How long a refresh lease is held at most (Unix seconds): a container that
/// dies mid-refresh blocks its siblings no longer than this.
pub const REFRESH_LEASE_SECS: i64 = 10;

/// How long a request waits for a sibling's refresh before answering 503.
const REFRESH_LEASE_WAIT: Duration = Duration::from_secs(5);

/// How often a waiting request re-reads the connection.
const REFRESH_LEASE_POLL: Duration = Duration::from_millis(100);

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

/// The app's client-credentials token as this container last saw it (with its
/// expiry), so a warm request in `app` mode reads nothing but the user's
/// connection.
#[derive(Default)]
pub struct AppTokenCache(Mutex<Option<(AccessToken, i64)>>);

impl AppTokenCache {
    fn get(&self) -> Option<(AccessToken, i64)> {
        self.0.lock().ok()?.clone()
    }

    fn remember(&self, token: &AccessToken, expires_at: i64) {
        if let Ok(mut cache) = self.0.lock() {
            *cache = Some((token.clone(), expires_at));
        }
    }
}

/// The token logic, built once per container.
#[derive(Clone)]
pub struct TokenService {
    store: Arc<dyn TokenStore>,
    authorization: Arc<dyn Authorization>,
    clock: Clock,
    token_mode: TokenMode,
    user_daily_upstream_calls: u32,
    app_daily_upstream_calls: u32,
    app_tokens: Arc<AppTokenCache>,
}

impl TokenService {
    /// Token logic over `store`, refreshing through `authorization`; data
    /// calls use the user's token or the app's (`token_mode`), each counted
    /// against a daily budget of `user_daily_upstream_calls` per user and
    /// `app_daily_upstream_calls` for the whole app.
    pub fn new(
        store: Arc<dyn TokenStore>,
        authorization: Arc<dyn Authorization>,
        clock: Clock,
        token_mode: TokenMode,
        user_daily_upstream_calls: u32,
        app_daily_upstream_calls: u32,
    ) -> Self {
        Self {
            store,
            authorization,
            clock,
            token_mode,
            user_daily_upstream_calls,
            app_daily_upstream_calls,
            app_tokens: Arc::default(),
        }
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Refreshes `connection` at TikTok and stores the rotated tokens with a
    /// compare-and-set on its version. On `invalid_grant` it re-reads first (a
    /// sibling may have rotated the token) and only then marks the connection as
    /// needing a reconnect.
    ///
    /// Across containers at most one refresh of a grant is in flight: the
    /// caller first takes the connection's refresh lease ([`crate::store::RefreshLease`]);
    /// one that cannot waits for the holder's rotation (re-reading the
    /// connection, taking the lease over if it is given back or expires) and
    /// answers 503 with `Retry-After` if none lands in time. The refresh token
    /// is never presented by two containers at once.
    pub async fn refresh_connection(
        &self,
        connection: &Connection,
        deadline: Instant,
    ) -> Result<Refresh, Error> {
        let holder = crate::crypto::random_token(12);
        let waited_until = (Instant::now() + REFRESH_LEASE_WAIT).min(deadline);
        loop {
            let now = self.now();
            if self
                .store
                .acquire_refresh_lease(
                    &connection.user_id,
                    connection.version,
                    &holder,
                    now,
                    now + REFRESH_LEASE_SECS,
                )
                .await?
            {
                break;
            }
            // Someone else is refreshing (or the connection moved on).
            match self.store.get_connection(&connection.user_id).await? {
                None => return Ok(Refresh::Gone),
                Some(current) if current.version != connection.version => {
                    return Ok(match current.status {
                        ConnectionStatus::Active => Refresh::LostRace(current),
                        ConnectionStatus::ReconnectRequired | ConnectionStatus::Dormant => {
                            Refresh::ReconnectRequired
                        }
                    })
                }
                Some(_) => {}
            }
            if Instant::now() + REFRESH_LEASE_POLL >= waited_until {
                tracing::warn!(
                    user_id = %connection.user_id,
                    "another container's refresh did not land in time"
                );
                return Err(Error::RefreshInProgress {
                    retry_after: Duration::from_secs(1),
                });
            }
            tokio::time::sleep(REFRESH_LEASE_POLL).await;
        }
        let result = self.refresh_leased(connection, deadline).await;
        // A stored rotation bumped the version, which ends the lease; anything
        // else gives it back so a sibling need not wait for its expiry.
        if !matches!(result, Ok(Refresh::Refreshed(_))) {
            if let Err(error) = self
                .store
                .release_refresh_lease(&connection.user_id, &holder)
                .await
            {
                tracing::warn!(error = %error, "could not give the refresh lease back");
            }
        }
        result
    }

    /// [`TokenService::refresh_connection`] once the lease is held.
    async fn refresh_leased(
        &self,
        connection: &Connection,
        deadline: Instant,
    ) -> Result<Refresh, Error> {
        let user_id = &connection.user_id;
        let result = self
            .authorization
            .refresh(&connection.tokens, deadline)
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
                self.after_refused_grant(connection, deadline).await
            }
            Err(e) => Err(e),
        }
    }

    /// TikTok refused the refresh token of `connection`. A sibling may have
    /// rotated this very token a moment ago and not stored the new one yet:
    /// give its write a short grace before concluding the token is dead.
    async fn after_refused_grant(
        &self,
        connection: &Connection,
        deadline: Instant,
    ) -> Result<Refresh, Error> {
        let user_id = &connection.user_id;
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
            Some(current) if current.version != connection.version => Ok(match current.status {
                ConnectionStatus::Active => Refresh::LostRace(current),
                // Marked meanwhile; the refused token is not usable
                // either way (a dormant one is marked on its next try).
                ConnectionStatus::ReconnectRequired | ConnectionStatus::Dormant => {
                    Refresh::ReconnectRequired
                }
            }),
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

    /// Our rotation could not be stored because the connection changed. If a
    /// sibling marked it "reconnect" because TikTok refused the refresh token we
    /// had just rotated (it raced us with the same token), our tokens are the
    /// newest: store them over the mark. Otherwise the sibling's write wins.
    async fn after_lost_write(
        &self,
        connection: &Connection,
        ours: &Tokens,
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
        self.usable(self.store.get_connection(user_id).await?)
    }

    /// `connection` if it is usable: 409 when there is none or it needs a reconnect.
    fn usable(&self, connection: Option<Connection>) -> Result<Connection, Error> {
        match connection {
            None => Err(Error::NotConnected),
            Some(c) if c.status == ConnectionStatus::ReconnectRequired => {
                Err(Error::ReconnectRequired)
            }
            Some(c) if c.tokens.refresh_expires_at <= self.now() => Err(Error::ReconnectRequired),
            Some(c) => Ok(c),
        }
    }

    async fn refreshed_user_token(
        &self,
        connection: &Connection,
        deadline: Instant,
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
        &self,
        deadline: Instant,
        refused: Option<&AccessToken>,
    ) -> Result<AccessToken, Error> {
        let usable = |token: &AccessToken, expires_at: i64| {
            refused.is_none_or(|r| r != token) && expires_at > self.now() + EXPIRY_SKEW_SECS
        };
        if let Some((token, expires_at)) = self.app_tokens.get() {
            if usable(&token, expires_at) {
                return Ok(token);
            }
        }
        let stored = self.store.get_app_token().await?;
        if let Some(token) = &stored {
            if usable(&token.access_token, token.expires_at) {
                self.app_tokens
                    .remember(&token.access_token, token.expires_at);
                return Ok(token.access_token.clone());
            }
        }
        let (access_token, lifetime) = self.authorization.client_token(deadline).await?;
        let expires_at = expires_at(self.now(), lifetime);
        match self
            .store
            .put_app_token(&access_token, expires_at, stored.map(|t| t.version))
            .await
        {
            // Another container stored one first; both are valid, use ours.
            Ok(_) | Err(StoreError::Conflict) => {
                self.app_tokens.remember(&access_token, expires_at);
                Ok(access_token)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Starts a data request for `user_id`: reads their connection once (409 when
    /// there is none or it needs a reconnect) and, at the same time, reserves
    /// the `planned` upstream calls the request may make against the daily
    /// budgets (one write each for the user and the app, in parallel with the
    /// read; one call when fewer are left). Every upstream call of the request
    /// then goes through the returned [`Session`], and
    /// [`RequestConnection::settle`] gives back what it did not use.
    /// The first request of a (UTC) day also records the use (one conditional
    /// write, best effort), which keeps the connection refreshed ahead of time
    /// (see [`crate::refresh`]) and brings a dormant one back.
    pub async fn request_connection(
        &self,
        user_id: &str,
        planned: u32,
    ) -> Result<RequestConnection<'_>, Error> {
        let (connection, prepaid) = tokio::join!(
            self.active_connection(user_id),
            self.reserve(user_id, planned)
        );
        let mut connection = match connection {
            Ok(connection) => connection,
            Err(error) => {
                if let Ok(prepaid) = prepaid {
                    self.give_back(user_id, prepaid).await;
                }
                return Err(error);
            }
        };
        let prepaid = prepaid?;
        self.record_use(&mut connection).await;
        Ok(RequestConnection {
            tokens: self,
            connection,
            refreshed: false,
            prepaid,
        })
    }

    /// A product lookup's session for `user_id`, opened by the catalogue
    /// together with its cache read (one round trip, see [`SessionOpener`]).
    pub fn opener<'a>(&'a self, user_id: &'a str) -> ProductLookupOpener<'a> {
        ProductLookupOpener {
            tokens: self,
            user_id,
        }
    }

    /// Counts `calls` upstream calls against the user's daily budget and the
    /// whole app's daily quota at once (one atomic update each, in parallel, no
    /// read); 429 with `Retry-After` until the next UTC day once either has no
    /// room, and the one that did count gives its share back. One user cannot
    /// use up the app's quota, and the app stops before the upstream's quota
    /// is exceeded for everyone. Returns the day they were counted on.
    async fn spend_upstream_calls(&self, user_id: &str, calls: u32) -> Result<i64, Error> {
        let now = self.now();
        let day = now.div_euclid(86_400);
        let next_day = (day + 1) * 86_400;
        let retry_after = Duration::from_secs((next_day - now).max(1) as u64);
        let (user, app) = (Budget::User(user_id), Budget::App);
        let (user_limit, app_limit) = (
            self.user_daily_upstream_calls,
            self.app_daily_upstream_calls,
        );
        let expires_at = next_day + 86_400;
        let (by_user, by_app) = tokio::join!(
            self.store
                .spend_upstream_calls(user, day, calls, user_limit, expires_at),
            self.store
                .spend_upstream_calls(app, day, calls, app_limit, expires_at),
        );
        match (&by_user, &by_app) {
            (Ok(true), Ok(true)) => return Ok(day),
            (Ok(true), _) => self.return_calls(user, day, calls).await,
            (_, Ok(true)) => self.return_calls(app, day, calls).await,
            _ => {}
        }
        if !by_user? {
            return Err(Error::DailyBudgetSpent {
                limit: user_limit,
                retry_after,
            });
        }
        by_app?;
        tracing::warn!(limit = app_limit, "the app's daily upstream quota is spent");
        Err(Error::AppQuotaSpent {
            limit: app_limit,
            retry_after,
        })
    }

    /// Reserves a request's `planned` upstream calls: all of them when both
    /// budgets have room, else the first one (the others are counted one by
    /// one as they are made, so what is left is still used exactly).
    async fn reserve(&self, user_id: &str, planned: u32) -> Result<Prepaid, Error> {
        if planned == 0 {
            return Ok(Prepaid::default());
        }
        if planned > 1 {
            match self.spend_upstream_calls(user_id, planned).await {
                Ok(day) => {
                    return Ok(Prepaid {
                        day,
                        calls: planned,
                    })
                }
                Err(Error::DailyBudgetSpent { .. } | Error::AppQuotaSpent { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        let day = self.spend_upstream_calls(user_id, 1).await?;
        Ok(Prepaid { day, calls: 1 })
    }

    /// Gives back reserved calls that were not made, to the user's budget and
    /// the app's quota at once (best effort: a failure is logged, and costs
    /// the user at most those calls that day).
    async fn give_back(&self, user_id: &str, prepaid: Prepaid) {
        if prepaid.calls == 0 {
            return;
        }
        let (day, calls) = (prepaid.day, prepaid.calls);
        tokio::join!(
            self.return_calls(Budget::User(user_id), day, calls),
            self.return_calls(Budget::App, day, calls),
        );
    }

    async fn return_calls(&self, budget: Budget<'_>, day: i64, calls: u32) {
        if let Err(error) = self.store.return_upstream_calls(budget, day, calls).await {
            tracing::warn!(error = %error, "could not give back unused upstream calls");
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
}

/// Opens a product lookup's session: the connection and the catalogue's
/// cache entry in one store round trip.
pub struct ProductLookupOpener<'a> {
    tokens: &'a TokenService,
    user_id: &'a str,
}

#[async_trait]
impl SessionOpener for ProductLookupOpener<'_> {
    async fn open_with(
        &self,
        entry: &CacheEntry,
    ) -> Result<(Box<dyn Session + '_>, Option<String>), Error> {
        let tokens = self.tokens;
        let (connection, cached) = tokens
            .store
            .connection_and_cached(self.user_id, entry, tokens.now())
            .await?;
        let mut connection = tokens.usable(connection)?;
        tokens.record_use(&mut connection).await;
        // Nothing reserved: a cached product needs no upstream call.
        let session: Box<dyn Session + '_> = Box::new(RequestConnection {
            tokens,
            connection,
            refreshed: false,
            prepaid: Prepaid::default(),
        });
        Ok((session, cached))
    }
}

/// One data request's view of a user's connection: read once when the request
/// starts, refreshed at most once however many upstream calls the request makes.
pub struct RequestConnection<'a> {
    tokens: &'a TokenService,
    connection: Connection,
    refreshed: bool,
    prepaid: Prepaid,
}

/// Upstream calls counted for a request before it made them.
#[derive(Debug, Clone, Copy, Default)]
struct Prepaid {
    /// The UTC day (since the epoch) they were counted on.
    day: i64,
    calls: u32,
}

impl RequestConnection<'_> {
    /// Ends the request: gives back the reserved calls it did not make.
    /// Call it whatever the request's outcome.
    pub async fn settle(self) {
        let user_id = &self.connection.user_id;
        self.tokens.give_back(user_id, self.prepaid).await;
    }

    /// Counts the call about to be made: from the reservation while it
    /// lasts, else against both budgets.
    async fn count_call(&mut self) -> Result<(), Error> {
        if self.prepaid.calls > 0 {
            self.prepaid.calls -= 1;
            return Ok(());
        }
        let user_id = &self.connection.user_id;
        self.tokens.spend_upstream_calls(user_id, 1).await.map(drop)
    }

    async fn refresh(&mut self, deadline: Instant) -> Result<(), Error> {
        self.refreshed = true;
        self.connection = self
            .tokens
            .refreshed_user_token(&self.connection, deadline)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Session for RequestConnection<'_> {
    fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The user's token (refreshed first when it is about to expire), or the
    /// app's in `app` mode; counted just before the call, once a usable token
    /// is in hand.
    async fn token(&mut self, deadline: Instant) -> Result<AccessToken, Error> {
        let tokens = self.tokens;
        let token = match tokens.token_mode {
            TokenMode::App => tokens.app_token(deadline, None).await?,
            TokenMode::User => {
                if self.connection.tokens.access_expires_at <= tokens.now() + EXPIRY_SKEW_SECS
                    && !self.refreshed
                {
                    self.refresh(deadline).await?;
                }
                self.connection.tokens.access_token.clone()
            }
        };
        self.count_call().await?;
        Ok(token)
    }

    /// The first refusal in a request gets a new token (the user's refreshed,
    /// or a new app token). A token TikTok minted during this request refused
    /// too means the authorization itself is gone (revoked, or the seller
    /// removed the app): the connection is marked for a reconnect.
    async fn refused(
        &mut self,
        token: &AccessToken,
        refusal: &UpstreamError,
        deadline: Instant,
    ) -> Result<Option<AccessToken>, Error> {
        let tokens = self.tokens;
        match tokens.token_mode {
            // The retry is an upstream call too: counted like the first.
            TokenMode::App if !self.refreshed => {
                self.refreshed = true;
                let token = tokens.app_token(deadline, Some(token)).await?;
                self.count_call().await?;
                Ok(Some(token))
            }
            TokenMode::App => Ok(None),
            TokenMode::User if !self.refreshed => {
                self.refresh(deadline).await?;
                self.count_call().await?;
                Ok(Some(self.connection.tokens.access_token.clone()))
            }
            TokenMode::User => {
                let log_id = match refusal {
                    UpstreamError::AccessTokenInvalid { log_id, .. } => log_id.as_deref(),
                    _ => None,
                };
                let user_id = &self.connection.user_id;
                tracing::warn!(
                    user_id,
                    tiktok_log_id = log_id,
                    "a freshly refreshed token was refused; reconnect required"
                );
                match tokens
                    .store
                    .mark_reconnect_required(user_id, self.connection.version)
                    .await
                {
                    // Conflict: a sibling wrote meanwhile; its write stands.
                    Ok(()) | Err(StoreError::Conflict) => Err(Error::ReconnectRequired),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }
}
