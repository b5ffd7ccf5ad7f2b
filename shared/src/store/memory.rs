//! An in-memory [`TokenStore`]: the same contract as DynamoDB, for tests and the
//! local stack. Nothing is encrypted because nothing is persisted.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::{
    due_by_user, shard_of, AppToken, AppTokens, Budget, CacheEntry, CachedKind, Connection,
    ConnectionActivity, ConnectionStatus, Connections, Due, DueIndex, DueWindow, PendingAuth,
    PendingGrant, PendingLogin, ProductCache, ProductLookup, RefreshLease, StoreError, Tokens,
    UpstreamBudget, WebhookDeliveries,
};
use crate::redacted::AccessToken;
use crate::tiktok::{Product, TikTokId};

/// Values kept until their expiry (Unix seconds): after it, absent. Nothing
/// is swept: an expired value goes when its key is written or taken again.
struct Expiring<K, V>(HashMap<K, (V, i64)>);

impl<K, V> Default for Expiring<K, V> {
    fn default() -> Self {
        Self(HashMap::new())
    }
}

impl<K: Eq + Hash, V> Expiring<K, V> {
    fn put(&mut self, key: K, value: V, expires_at: i64) {
        self.0.insert(key, (value, expires_at));
    }

    /// The value under `key` unless it expired at `now`.
    fn get<Q: Eq + Hash + ?Sized>(&self, key: &Q, now: i64) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.0
            .get(key)
            .filter(|(_, expires_at)| *expires_at > now)
            .map(|(value, _)| value)
    }

    /// Removes the value under `key` and returns it unless it expired at `now`
    /// (single use: a second take finds nothing).
    fn take<Q: Eq + Hash + ?Sized>(&mut self, key: &Q, now: i64) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.0
            .remove(key)
            .filter(|(_, expires_at)| *expires_at > now)
            .map(|(value, _)| value)
    }
}

type ShopProduct = (TikTokId, TikTokId);

#[derive(Default)]
struct Tables {
    connections: HashMap<String, Connection>,
    /// Refresh leases: user → (version, holder, until).
    leases: HashMap<String, (u64, String, i64)>,
    logins: Expiring<String, PendingLogin>,
    grants: Expiring<String, PendingGrant>,
    shop_users: HashMap<String, std::collections::BTreeSet<String>>,
    deliveries: Expiring<String, ()>,
    /// Upstream calls counted: (user, or `None` for the app; day) → calls.
    budgets: HashMap<(Option<String>, i64), u32>,
    app_token: Option<AppToken>,
    products: Expiring<ShopProduct, Product>,
    details: Expiring<ShopProduct, String>,
    /// Refresh claims: user id → (version, until).
    refresh_claims: HashMap<String, (u64, i64)>,
}

impl Tables {
    fn budget(&mut self, budget: Budget<'_>, day: i64) -> &mut u32 {
        let whose = match budget {
            Budget::User(user_id) => Some(user_id.to_owned()),
            Budget::App => None,
        };
        self.budgets.entry((whose, day)).or_default()
    }
}

/// The in-memory adapter.
pub struct MemoryStore {
    shards: u32,
    tables: Mutex<Tables>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(4)
    }
}

impl MemoryStore {
    /// An empty store whose due index has `shards` shards.
    pub fn new(shards: u32) -> Self {
        Self {
            shards: shards.max(1),
            tables: Mutex::default(),
        }
    }
}

#[async_trait]
impl ConnectionActivity for MemoryStore {
    async fn record_use(&self, user_id: &str, now: i64, since: i64) -> Result<bool, StoreError> {
        let mut tables = self.tables.lock().await;
        match tables.connections.get_mut(user_id) {
            Some(c) if c.status == ConnectionStatus::Dormant => {
                c.status = ConnectionStatus::Active;
                c.last_used_at = now;
                Ok(true)
            }
            Some(c) if c.status == ConnectionStatus::Active && c.last_used_at < since => {
                c.last_used_at = now;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn mark_dormant(
        &self,
        user_id: &str,
        expected_version: u64,
        used_since: i64,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables.lock().await;
        match tables.connections.get_mut(user_id) {
            Some(c)
                if c.version == expected_version
                    && c.status == ConnectionStatus::Active
                    && c.last_used_at < used_since =>
            {
                c.status = ConnectionStatus::Dormant;
                c.version += 1;
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }

    async fn claim_refresh(
        &self,
        user_id: &str,
        expected_version: u64,
        now: i64,
        until: i64,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables.lock().await;
        let claimable = tables
            .connections
            .get(user_id)
            .is_some_and(|c| c.version == expected_version && c.status == ConnectionStatus::Active);
        let held = tables
            .refresh_claims
            .get(user_id)
            .is_some_and(|(version, held_until)| *version == expected_version && *held_until > now);
        if !claimable || held {
            return Err(StoreError::Conflict);
        }
        tables
            .refresh_claims
            .insert(user_id.to_owned(), (expected_version, until));
        Ok(())
    }
}

#[async_trait]
impl RefreshLease for MemoryStore {
    async fn acquire_refresh_lease(
        &self,
        user_id: &str,
        version: u64,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables.lock().await;
        if tables.connections.get(user_id).map(|c| c.version) != Some(version) {
            return Ok(false);
        }
        let held = tables
            .leases
            .get(user_id)
            .is_some_and(|(v, _, lease_until)| *v == version && *lease_until > now);
        if held {
            return Ok(false);
        }
        tables
            .leases
            .insert(user_id.to_owned(), (version, holder.to_owned(), until));
        Ok(true)
    }

    async fn release_refresh_lease(&self, user_id: &str, holder: &str) -> Result<(), StoreError> {
        let mut tables = self.tables.lock().await;
        if tables
            .leases
            .get(user_id)
            .is_some_and(|(_, h, _)| h == holder)
        {
            tables.leases.remove(user_id);
        }
        Ok(())
    }
}

#[async_trait]
impl Connections for MemoryStore {
    async fn get_connection(&self, user_id: &str) -> Result<Option<Connection>, StoreError> {
        Ok(self.tables.lock().await.connections.get(user_id).cloned())
    }

    async fn put_connection(
        &self,
        user_id: &str,
        tokens: &Tokens,
    ) -> Result<Connection, StoreError> {
        let mut tables = self.tables.lock().await;
        let version = tables.connections.get(user_id).map_or(1, |c| c.version + 1);
        let connection = Connection {
            user_id: user_id.to_owned(),
            tokens: tokens.clone(),
            status: ConnectionStatus::Active,
            version,
            last_used_at: tokens.refreshed_at,
        };
        tables
            .connections
            .insert(user_id.to_owned(), connection.clone());
        for shop in tokens.account.iter().flat_map(|a| &a.shops) {
            tables
                .shop_users
                .entry(shop.id.clone())
                .or_default()
                .insert(user_id.to_owned());
        }
        Ok(connection)
    }

    async fn update_tokens(
        &self,
        user_id: &str,
        expected_version: u64,
        tokens: &Tokens,
    ) -> Result<Connection, StoreError> {
        let mut tables = self.tables.lock().await;
        match tables.connections.get_mut(user_id) {
            Some(c) if c.version == expected_version => {
                c.tokens = tokens.clone();
                c.status = ConnectionStatus::Active;
                c.version += 1;
                Ok(c.clone())
            }
            _ => Err(StoreError::Conflict),
        }
    }

    async fn mark_reconnect_required(
        &self,
        user_id: &str,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables.lock().await;
        match tables.connections.get_mut(user_id) {
            Some(c) if c.version == expected_version => {
                c.status = ConnectionStatus::ReconnectRequired;
                c.version += 1;
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }

    async fn record_authorization_expiry(
        &self,
        user_id: &str,
        shop_id: &str,
        expires_at: i64,
        sent_at: i64,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables.lock().await;
        let Some(c) = tables.connections.get_mut(user_id) else {
            return Ok(false);
        };
        if c.status != ConnectionStatus::Active || c.tokens.refreshed_at > sent_at {
            return Ok(false);
        }
        match c.tokens.account.as_mut() {
            Some(account) if account.shops.iter().any(|s| s.id == shop_id) => {
                account.authorization_expires_at = Some(expires_at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn end_seller_authorization(
        &self,
        user_id: &str,
        shop_id: &str,
        sent_at: i64,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables.lock().await;
        let Some(c) = tables.connections.get_mut(user_id) else {
            return Ok(false);
        };
        let covers = c
            .tokens
            .account
            .as_ref()
            .is_some_and(|a| a.shops.iter().any(|s| s.id == shop_id));
        if !covers || c.tokens.refresh_token.expose().is_empty() || c.tokens.refreshed_at > sent_at
        {
            return Ok(false);
        }
        c.tokens.access_token = AccessToken::new(String::new());
        c.tokens.refresh_token = crate::redacted::RefreshToken::new(String::new());
        c.tokens.access_expires_at = 0;
        c.status = ConnectionStatus::ReconnectRequired;
        c.version += 1;
        Ok(true)
    }

    async fn delete_connection(&self, user_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .tables
            .lock()
            .await
            .connections
            .remove(user_id)
            .is_some())
    }

    async fn users_of_shop(&self, shop_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .tables
            .lock()
            .await
            .shop_users
            .get(shop_id)
            .map(|users| users.iter().cloned().collect())
            .unwrap_or_default())
    }
}

#[async_trait]
impl DueIndex for MemoryStore {
    fn due_shards(&self) -> u32 {
        self.shards
    }

    async fn find_due(&self, shard: u32, window: DueWindow) -> Result<Vec<Due>, StoreError> {
        let tables = self.tables.lock().await;
        let found = tables
            .connections
            .values()
            .filter(|c| c.status == ConnectionStatus::Active)
            .filter(|c| shard_of(&c.user_id, self.shards) == shard)
            .flat_map(|c| {
                let access = Some(c.tokens.access_expires_at).filter(|at| window.access_due(*at));
                let refresh =
                    Some(c.tokens.refresh_expires_at).filter(|at| window.refresh_due(*at));
                access
                    .into_iter()
                    .chain(refresh)
                    .map(|at| (c.user_id.clone(), at))
            });
        Ok(due_by_user(found))
    }
}

#[async_trait]
impl PendingAuth for MemoryStore {
    async fn put_login(&self, state_hash: &str, login: &PendingLogin) -> Result<(), StoreError> {
        let mut tables = self.tables.lock().await;
        tables
            .logins
            .put(state_hash.to_owned(), login.clone(), login.expires_at);
        Ok(())
    }

    async fn take_login(
        &self,
        state_hash: &str,
        now: i64,
    ) -> Result<Option<PendingLogin>, StoreError> {
        let mut tables = self.tables.lock().await;
        Ok(tables.logins.take(state_hash, now))
    }

    async fn put_grant(
        &self,
        completion_hash: &str,
        grant: &PendingGrant,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables.lock().await;
        tables
            .grants
            .put(completion_hash.to_owned(), grant.clone(), grant.expires_at);
        Ok(())
    }

    async fn take_grant(
        &self,
        completion_hash: &str,
        now: i64,
    ) -> Result<Option<PendingGrant>, StoreError> {
        let mut tables = self.tables.lock().await;
        Ok(tables.grants.take(completion_hash, now))
    }
}

#[async_trait]
impl WebhookDeliveries for MemoryStore {
    async fn claim_delivery(
        &self,
        id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables.lock().await;
        if tables.deliveries.get(id, now).is_some() {
            return Ok(false);
        }
        tables.deliveries.put(id.to_owned(), (), expires_at);
        Ok(true)
    }

    async fn release_delivery(&self, id: &str, now: i64) -> Result<(), StoreError> {
        self.tables
            .lock()
            .await
            .deliveries
            .put(id.to_owned(), (), now);
        Ok(())
    }
}

#[async_trait]
impl UpstreamBudget for MemoryStore {
    async fn spend_upstream_calls(
        &self,
        budget: Budget<'_>,
        day: i64,
        calls: u32,
        limit: u32,
        _expires_at: i64,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables.lock().await;
        let counted = tables.budget(budget, day);
        if counted.saturating_add(calls) > limit {
            return Ok(false);
        }
        *counted += calls;
        Ok(true)
    }

    async fn return_upstream_calls(
        &self,
        budget: Budget<'_>,
        day: i64,
        calls: u32,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables.lock().await;
        let counted = tables.budget(budget, day);
        *counted = counted.saturating_sub(calls);
        Ok(())
    }
}

#[async_trait]
impl AppTokens for MemoryStore {
    async fn get_app_token(&self) -> Result<Option<AppToken>, StoreError> {
        Ok(self.tables.lock().await.app_token.clone())
    }

    async fn put_app_token(
        &self,
        access_token: &AccessToken,
        expires_at: i64,
        expected_version: Option<u64>,
    ) -> Result<AppToken, StoreError> {
        let mut tables = self.tables.lock().await;
        let current = tables.app_token.as_ref().map(|t| t.version);
        if current != expected_version {
            return Err(StoreError::Conflict);
        }
        let token = AppToken {
            access_token: access_token.clone(),
            expires_at,
            version: current.unwrap_or(0) + 1,
        };
        tables.app_token = Some(token.clone());
        Ok(token)
    }
}

#[async_trait]
impl ProductCache for MemoryStore {
    async fn cache_products(
        &self,
        shop_id: &TikTokId,
        products: &[Product],
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables.lock().await;
        for product in products {
            let key = (shop_id.clone(), product.product_id.clone());
            tables.products.put(key, product.clone(), expires_at);
        }
        Ok(())
    }

    async fn cached_product(
        &self,
        shop_id: &TikTokId,
        product_id: &TikTokId,
        now: i64,
    ) -> Result<Option<Product>, StoreError> {
        let key = (shop_id.clone(), product_id.clone());
        Ok(self.tables.lock().await.products.get(&key, now).cloned())
    }

    async fn cache_detail(
        &self,
        shop_id: &TikTokId,
        product_id: &TikTokId,
        json: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let key = (shop_id.clone(), product_id.clone());
        let mut tables = self.tables.lock().await;
        tables.details.put(key, json.to_owned(), expires_at);
        Ok(())
    }

    async fn cached_detail(
        &self,
        shop_id: &TikTokId,
        product_id: &TikTokId,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let key = (shop_id.clone(), product_id.clone());
        Ok(self.tables.lock().await.details.get(&key, now).cloned())
    }
}

#[async_trait]
impl ProductLookup for MemoryStore {
    async fn connection_and_cached(
        &self,
        user_id: &str,
        entry: &CacheEntry,
        now: i64,
    ) -> Result<(Option<Connection>, Option<String>), StoreError> {
        let connection = self.get_connection(user_id).await?;
        let cached = match entry.kind {
            CachedKind::Product => self
                .cached_product(&entry.shop_id, &entry.product_id, now)
                .await?
                .and_then(|p| serde_json::to_string(&p).ok()),
            CachedKind::Detail => {
                self.cached_detail(&entry.shop_id, &entry.product_id, now)
                    .await?
            }
        };
        Ok((connection, cached))
    }
}
