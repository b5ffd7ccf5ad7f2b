//! The token store: one port per capability and their adapters, [`DynamoStore`]
//! (production, tokens sealed with AES-256-GCM) and [`MemoryStore`] (tests, local),
//! each implementing every port. The ports: [`Connections`], [`RefreshLease`], [`ConnectionActivity`]
//! and [`DueIndex`] (the refresh policy's part), [`PendingAuth`] (OAuth states and
//! pending grants), [`WebhookDeliveries`], [`UpstreamBudget`], [`AppTokens`] and
//! [`ProductCache`]; [`TokenStore`] is all of them, implemented for anything that
//! implements each. A function that needs one capability takes that port.
//!
//! It owns per-user TikTok connections, single-use OAuth states, pending grants
//! (a finished authorization waiting for the site to complete it), the app's
//! client-credentials token and the product cache. Every change to a connection is
//! a compare-and-set on its `version`, so two writers racing on a rotated refresh
//! token cannot both win and the loser is told ([`StoreError::Conflict`]).

mod dynamodb;
mod memory;

pub use dynamodb::{create_table, DynamoStore, TableLayout, ACCESS_DUE_INDEX, REFRESH_DUE_INDEX};
pub use memory::MemoryStore;

use async_trait::async_trait;

use crate::app_secrets::SecretsError;
use crate::redacted::{AccessToken, CodeVerifier, RefreshToken};
use crate::tiktok::{Product, TikTokId};

/// How long an OAuth state is good for.
pub const STATE_TTL_SECS: i64 = 600;

/// How long a pending grant waits for the site to complete it (at most 10 minutes).
pub const GRANT_TTL_SECS: i64 = 120;

/// Whether a connection can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// Tokens are usable or refreshable.
    Active,
    /// TikTok refused the refresh token: the user must connect again.
    ReconnectRequired,
    /// Nobody used it within the keep-alive window when its refresh token neared
    /// expiry, so it is no longer refreshed ahead of time (and is out of the due
    /// indexes). Usable while its refresh token lives (a use brings it back);
    /// after that the user connects again.
    Dormant,
}

impl ConnectionStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::ReconnectRequired => "reconnect_required",
            Self::Dormant => "dormant",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(Self::Active),
            "reconnect_required" => Some(Self::ReconnectRequired),
            "dormant" => Some(Self::Dormant),
            _ => None,
        }
    }
}

/// The tokens a grant gave, with absolute expiry times (Unix seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Tokens {
    /// TikTok's user id.
    pub open_id: String,
    /// Scopes the user granted.
    pub scopes: Vec<String>,
    /// Access token.
    pub access_token: AccessToken,
    /// Refresh token.
    pub refresh_token: RefreshToken,
    /// When the access token expires.
    pub access_expires_at: i64,
    /// When the refresh token expires.
    pub refresh_expires_at: i64,
    /// When these tokens were issued.
    pub refreshed_at: i64,
    /// The seller and the shops the grant covers (Partner API); `None` for
    /// the Research API.
    pub account: Option<SellerAccount>,
}

/// A TikTok Shop seller's authorization: who they are and the shops they
/// authorized the app for. Not secret, but a shop's `cipher` is never shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SellerAccount {
    /// The seller's name.
    #[serde(default)]
    pub seller_name: String,
    /// The seller's base region.
    #[serde(default)]
    pub region: String,
    /// The authorized shops.
    #[serde(default)]
    pub shops: Vec<SellerShop>,
    /// When the seller's authorization of the app expires, as the upcoming
    /// expiration webhook reported it (Unix seconds).
    #[serde(default)]
    pub authorization_expires_at: Option<i64>,
    /// The creator's profile, when a creator authorized the app
    /// (`TIKTOK_PROVIDER=creator`; no shops then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<CreatorProfile>,
}

/// A TikTok Shop creator as Get Creator Profile describes them. Not secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreatorProfile {
    /// Username.
    #[serde(default)]
    pub username: String,
    /// Avatar image URL.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// The market whose products the creator can promote (ISO-2).
    #[serde(default)]
    pub selection_region: String,
    /// What the creator may do (`ADD_AFFILIATE_PERMISSION`, ...).
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// One authorized shop.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SellerShop {
    /// Shop id (digits).
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Region code.
    #[serde(default)]
    pub region: String,
    /// `LOCAL` or `CROSS_BORDER`.
    #[serde(default)]
    pub seller_type: String,
    /// The `shop_cipher` for this shop's calls; never shown to the site.
    #[serde(default)]
    pub cipher: String,
}

/// A dshipit user's TikTok connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// The dshipit user (the JWT `sub`).
    pub user_id: String,
    /// The current tokens.
    pub tokens: Tokens,
    /// Usable, or needing the user to connect again.
    pub status: ConnectionStatus,
    /// Bumped by every write; the compare-and-set key.
    pub version: u64,
    /// When its user last used it (Unix seconds; recorded at most once a day,
    /// see [`ConnectionActivity::record_use`]). Connecting counts as a use.
    pub last_used_at: i64,
}

/// A pending login, keyed by the hash of its `state` value.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingLogin {
    /// The user who started the login.
    pub user_id: String,
    /// Where to send the browser afterwards (already checked against the allow-list).
    pub return_to: Option<String>,
    /// The PKCE verifier, when PKCE is used.
    pub code_verifier: Option<CodeVerifier>,
    /// The callback URL the authorization URL carried, when the login derived
    /// it (no `TIKTOK_REDIRECT_URI`): the code is exchanged with exactly this.
    /// Logins stored before it existed have none.
    pub redirect_uri: Option<String>,
    /// Unix time after which the state is refused.
    pub expires_at: i64,
}

/// What an authorization produced, waiting for the dshipit site to complete it
/// with the user's own JWT (`POST /auth/tiktok/complete`). Keyed by the hash of
/// a random completion id; the tokens are sealed like a connection's. Nothing
/// in it is provider-specific: it holds whatever the code exchange gave.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingGrant {
    /// The dshipit user who started the login.
    pub user_id: String,
    /// The tokens the code exchange gave.
    pub tokens: Tokens,
    /// Unix time after which the grant is refused.
    pub expires_at: i64,
}

/// The app's client-credentials token, shared by all containers.
#[derive(Debug, Clone, PartialEq)]
pub struct AppToken {
    /// The token.
    pub access_token: AccessToken,
    /// When it expires.
    pub expires_at: i64,
    /// The compare-and-set key.
    pub version: u64,
}

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else changed (or deleted) the item since it was read.
    #[error("the item was changed by someone else")]
    Conflict,
    /// The database could not be reached, failed, or throttled us: worth a retry.
    #[error("token store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database refused the request itself (malformed, a table or index
    /// that is not there, not allowed): this deployment's fault, not an outage.
    #[error("token store refused the request ({code}): {source}")]
    Refused {
        /// DynamoDB's error code, e.g. `ValidationException`.
        code: String,
        /// The SDK's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An item is not what this code writes (or its ciphertext does not open).
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
    /// The token keys could not be had.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// Which connections the refresher should look at (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueWindow {
    /// Access tokens that expired before this are not looked at: their users
    /// have not been back (an active user's token is kept fresh, or refreshed on
    /// their next request), so an idle connection stops being read.
    pub access_from: i64,
    /// Access tokens expiring before this are due.
    pub access_before: i64,
    /// Refresh tokens expiring before this are due (however long ago).
    pub refresh_before: i64,
}

impl DueWindow {
    /// Whether an access token expiring at `at` is due.
    pub fn access_due(&self, at: i64) -> bool {
        (self.access_from..self.access_before).contains(&at)
    }

    /// Whether a refresh token expiring at `at` is due.
    pub fn refresh_due(&self, at: i64) -> bool {
        at < self.refresh_before
    }
}

/// What [`DueIndex::find_due`] answers for the `(user, expiry)` pairs found
/// due (a user may be found by both tokens): each user once, at the earlier
/// expiry, ordered by user id.
fn due_by_user(found: impl IntoIterator<Item = (String, i64)>) -> Vec<Due> {
    let mut users = std::collections::BTreeMap::<String, i64>::new();
    for (user_id, expires_at) in found {
        let earliest = users.entry(user_id).or_insert(expires_at);
        *earliest = (*earliest).min(expires_at);
    }
    users
        .into_iter()
        .map(|(user_id, expires_at)| Due {
            user_id,
            expires_at,
        })
        .collect()
}

/// A connection the due indexes found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The dshipit user.
    pub user_id: String,
    /// The earlier of its due expiries (the access token's, when that one is in
    /// the window; the refresh token's, when that one is).
    pub expires_at: i64,
}

/// When users use their connections, and parking the ones nobody uses: the
/// refresh policy's part of the store.
#[async_trait]
pub trait ConnectionActivity: Send + Sync {
    /// Records that the user used their connection at `now`, unless a use at or
    /// after `since` is already recorded, so a user costs at most one write a
    /// day. A dormant connection becomes active again (back in the due indexes).
    /// The version is not bumped: a refresh racing with this still stores.
    /// Returns whether anything was written (not when already recorded, when
    /// there is no connection, or when it needs a reconnect).
    async fn record_use(&self, user_id: &str, now: i64, since: i64) -> Result<bool, StoreError>;

    /// Marks the connection dormant (no proactive refresh; out of the due
    /// indexes), only if the stored version is still `expected_version`, it is
    /// active, and no use at or after `used_since` has been recorded meanwhile;
    /// otherwise [`StoreError::Conflict`].
    async fn mark_dormant(
        &self,
        user_id: &str,
        expected_version: u64,
        used_since: i64,
    ) -> Result<(), StoreError>;

    /// Claims the refresh of the connection's `expected_version` until `until`,
    /// so overlapping refresher runs and workers do not present the same
    /// refresh token twice: [`StoreError::Conflict`] when the stored version
    /// is another, it is not active, or another claim on this version holds
    /// after `now`. The version is not bumped; a claim ends by itself at
    /// `until` or when a new version is stored.
    async fn claim_refresh(
        &self,
        user_id: &str,
        expected_version: u64,
        now: i64,
        until: i64,
    ) -> Result<(), StoreError>;
}

/// Per-user TikTok connections: read, store a grant, replace tokens after a
/// refresh (compare-and-set on the version), mark for reconnect, delete, and
/// find the user a TikTok Shop belongs to.
#[async_trait]
pub trait Connections: Send + Sync {
    /// The user's connection, if any.
    async fn get_connection(&self, user_id: &str) -> Result<Option<Connection>, StoreError>;

    /// Stores a new grant for the user (a first connect or a reconnect), replacing
    /// whatever was there; the version moves past any earlier one so racing writers
    /// holding the old version lose.
    async fn put_connection(
        &self,
        user_id: &str,
        tokens: &Tokens,
    ) -> Result<Connection, StoreError>;

    /// Replaces the tokens after a refresh, only if the stored version is still
    /// `expected_version`; otherwise [`StoreError::Conflict`].
    async fn update_tokens(
        &self,
        user_id: &str,
        expected_version: u64,
        tokens: &Tokens,
    ) -> Result<Connection, StoreError>;

    /// Marks the connection as needing the user to connect again, only if the
    /// stored version is still `expected_version`.
    async fn mark_reconnect_required(
        &self,
        user_id: &str,
        expected_version: u64,
    ) -> Result<(), StoreError>;

    /// Records when the seller's authorization of the app expires (TikTok
    /// Shop's expiry notice, sent at `sent_at`) and nothing else: not the
    /// status, the version, the tokens or the due indexes. Only if the
    /// connection is active, covers `shop_id` and its tokens were issued at
    /// or before `sent_at` (an older notice is about an earlier grant); a
    /// deauthorized, reconnect-required or dormant one is never revived.
    /// Returns whether it was recorded. One conditional write, no read.
    async fn record_authorization_expiry(
        &self,
        user_id: &str,
        shop_id: &str,
        expires_at: i64,
        sent_at: i64,
    ) -> Result<bool, StoreError>;

    /// Ends the connection because the seller removed the app (a notice sent
    /// at `sent_at`): one conditional write removes both tokens, marks it
    /// "reconnect required" and takes it out of the due indexes (the version
    /// moves on). Only if it covers `shop_id`, still holds tokens, and its
    /// tokens were issued at or before `sent_at`. Nothing is read or opened
    /// (no token key is needed). Returns whether it was ended.
    async fn end_seller_authorization(
        &self,
        user_id: &str,
        shop_id: &str,
        sent_at: i64,
    ) -> Result<bool, StoreError>;

    /// Deletes the connection. Returns whether there was one.
    async fn delete_connection(&self, user_id: &str) -> Result<bool, StoreError>;

    /// Every user whose connection covered TikTok Shop `shop_id` when it was
    /// stored ([`Connections::put_connection`] records one pointer per shop and
    /// user): two dshipit users may connect the same seller, and a
    /// deauthorization ends both. A pointer may be stale (the user connected
    /// another seller since): writes acting on it check the connection.
    async fn users_of_shop(&self, shop_id: &str) -> Result<Vec<String>, StoreError>;
}

/// At most one refresh of a grant in flight across all containers: a lease
/// on the connection, tied to its version and expiring on its own, so the
/// refresh token is presented to TikTok once (an authorization server with
/// reuse detection revokes the whole grant when a rotated one comes back).
#[async_trait]
pub trait RefreshLease: Send + Sync {
    /// Takes the lease on `user_id`'s connection for `holder` until `until`,
    /// atomically: only if the stored version is still `version` and no other
    /// lease on that version is held at `now`. `false` when the connection
    /// moved on, is gone, or someone else holds the lease.
    async fn acquire_refresh_lease(
        &self,
        user_id: &str,
        version: u64,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError>;

    /// Gives the lease back if `holder` still holds it (a no-op otherwise).
    async fn release_refresh_lease(&self, user_id: &str, holder: &str) -> Result<(), StoreError>;
}

/// The due indexes the refresher walks: connections whose tokens expire soon.
#[async_trait]
pub trait DueIndex: Send + Sync {
    /// How many shards the due index has (the refresher walks them all, or a
    /// fan-out gives each worker some).
    fn due_shards(&self) -> u32;

    /// Users in `shard` with an active connection whose access token expires
    /// within `window.access_from..window.access_before` or whose refresh token
    /// expires before `window.refresh_before`. Uses an index; never scans.
    async fn find_due(&self, shard: u32, window: DueWindow) -> Result<Vec<Due>, StoreError>;
}

/// What an authorization leaves between its steps: single-use OAuth states
/// (pending logins) and pending grants waiting for the site to complete them.
#[async_trait]
pub trait PendingAuth: Send + Sync {
    /// Saves a pending login under the hash of its state value.
    async fn put_login(&self, state_hash: &str, login: &PendingLogin) -> Result<(), StoreError>;

    /// Removes and returns the pending login atomically, so a replay finds
    /// nothing. An expired one is removed and not returned.
    async fn take_login(
        &self,
        state_hash: &str,
        now: i64,
    ) -> Result<Option<PendingLogin>, StoreError>;

    /// Saves a pending grant under the hash of its completion id.
    async fn put_grant(
        &self,
        completion_hash: &str,
        grant: &PendingGrant,
    ) -> Result<(), StoreError>;

    /// Removes and returns the pending grant atomically (single use: a replay
    /// finds nothing). An expired one is removed and not returned.
    async fn take_grant(
        &self,
        completion_hash: &str,
        now: i64,
    ) -> Result<Option<PendingGrant>, StoreError>;
}

/// Webhook deliveries already handled, so a replay changes nothing.
#[async_trait]
pub trait WebhookDeliveries: Send + Sync {
    /// Claims webhook delivery `id` until `expires_at`, atomically (one
    /// conditional write): `true` for the one caller that claimed it, `false`
    /// when it is already claimed and not expired at `now`, so two copies
    /// delivered at once are acted on once.
    async fn claim_delivery(&self, id: &str, now: i64, expires_at: i64)
        -> Result<bool, StoreError>;

    /// Gives a claim back (acting on the delivery failed, TikTok will retry):
    /// it expires at `now`.
    async fn release_delivery(&self, id: &str, now: i64) -> Result<(), StoreError>;
}

/// Whose daily count of upstream calls: one user's budget, or the whole app's
/// quota (shared by everyone, so one user cannot use it up for the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget<'a> {
    /// The user's own daily budget.
    User(&'a str),
    /// The app's daily quota.
    App,
}

/// The daily counts of upstream calls.
#[async_trait]
pub trait UpstreamBudget: Send + Sync {
    /// Counts `calls` upstream calls against `budget` for `day` (days since
    /// the Unix epoch, UTC), atomically and without a read: `false` (nothing
    /// counted) when fewer than `calls` of `limit` are left that day. The
    /// counter is forgotten after `expires_at`.
    async fn spend_upstream_calls(
        &self,
        budget: Budget<'_>,
        day: i64,
        calls: u32,
        limit: u32,
        expires_at: i64,
    ) -> Result<bool, StoreError>;

    /// Gives back `calls` that [`UpstreamBudget::spend_upstream_calls`]
    /// counted for `day` and that were not made (a request reserves its page
    /// budget and settles). Nothing happens when the day's counter is gone.
    async fn return_upstream_calls(
        &self,
        budget: Budget<'_>,
        day: i64,
        calls: u32,
    ) -> Result<(), StoreError>;
}

/// The app's client-credentials token, shared by all containers.
#[async_trait]
pub trait AppTokens: Send + Sync {
    /// The app's client-credentials token, if one is stored.
    async fn get_app_token(&self) -> Result<Option<AppToken>, StoreError>;

    /// Stores the app token if the stored version is `expected_version` (`None`:
    /// only if none is stored).
    async fn put_app_token(
        &self,
        access_token: &AccessToken,
        expires_at: i64,
        expected_version: Option<u64>,
    ) -> Result<AppToken, StoreError>;
}

/// What kind of entry of the product cache a product lookup reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachedKind {
    /// A listed product ([`ProductCache::cache_products`]).
    Product,
    /// A product's detail as a provider's JSON ([`ProductCache::cache_detail`]).
    Detail,
}

/// One entry of the product cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// Its kind.
    pub kind: CachedKind,
    /// The shop it is filed under.
    pub shop_id: TikTokId,
    /// The product.
    pub product_id: TikTokId,
}

/// What a product lookup reads before it may answer: the user's connection
/// and the product's cache entry, in one round trip.
#[async_trait]
pub trait ProductLookup: Send + Sync {
    /// The user's connection (read strongly, as [`Connections::get_connection`])
    /// and `entry` as JSON unless it has expired at `now`. An unreadable cache
    /// entry is a miss, not an error: the caller asks TikTok.
    async fn connection_and_cached(
        &self,
        user_id: &str,
        entry: &CacheEntry,
        now: i64,
    ) -> Result<(Option<Connection>, Option<String>), StoreError>;
}

/// Products and product details cached per shop, to spare TikTok calls.
#[async_trait]
pub trait ProductCache: Send + Sync {
    /// Caches products of a shop until `expires_at` (best effort for the caller).
    async fn cache_products(
        &self,
        shop_id: &TikTokId,
        products: &[Product],
        expires_at: i64,
    ) -> Result<(), StoreError>;

    /// A cached product that has not expired.
    async fn cached_product(
        &self,
        shop_id: &TikTokId,
        product_id: &TikTokId,
        now: i64,
    ) -> Result<Option<Product>, StoreError>;

    /// Caches one product's detail (a provider's JSON) until `expires_at`.
    async fn cache_detail(
        &self,
        shop_id: &TikTokId,
        product_id: &TikTokId,
        json: &str,
        expires_at: i64,
    ) -> Result<(), StoreError>;

    /// A cached product detail that has not expired.
    async fn cached_detail(
        &self,
        shop_id: &TikTokId,
        product_id: &TikTokId,
        now: i64,
    ) -> Result<Option<String>, StoreError>;
}

/// Every capability of the store, for the one adapter per technology
/// ([`DynamoStore`], [`MemoryStore`]) and for state that is built once and hands
/// out narrower views. A function that needs one capability takes that trait
/// (`&dyn Connections`, `&dyn ProductCache`, ...), so its signature shows what
/// it touches; which AWS actions each function makes is proven by the IAM test.
pub trait TokenStore:
    Connections
    + RefreshLease
    + ConnectionActivity
    + DueIndex
    + PendingAuth
    + WebhookDeliveries
    + UpstreamBudget
    + AppTokens
    + ProductCache
    + ProductLookup
{
}

impl<T> TokenStore for T where
    T: Connections
        + RefreshLease
        + ConnectionActivity
        + DueIndex
        + PendingAuth
        + WebhookDeliveries
        + UpstreamBudget
        + AppTokens
        + ProductCache
        + ProductLookup
        + ?Sized
{
}

/// The due-index shard a user's connection lives in (stable across processes).
pub fn shard_of(user_id: &str, shards: u32) -> u32 {
    // FNV-1a: stable, unlike std's randomly seeded hasher.
    let hash = user_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % shards.max(1) as u64) as u32
}
