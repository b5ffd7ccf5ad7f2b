//! A [`TokenStore`] decorator that counts what the functions ask of the store,
//! split into reads and writes, and delegates every call unchanged.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tiktok_gateway::store::{
    AppToken, ConnectionActivity, Due, DueWindow, PendingGrant, PendingLogin,
};
use tiktok_gateway::store::{
    AppTokens, Connections, DueIndex, PendingAuth, ProductCache, UpstreamBudget, WebhookDeliveries,
};
use tiktok_gateway::tiktok::{Product, TikTokId};
use tiktok_gateway::{AccessToken, Connection, StoreError, TokenStore, Tokens};

/// Store calls by method, and reads versus writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreCalls {
    /// Calls that only read.
    pub reads: u64,
    /// Calls that write (take_login writes: it deletes what it returns).
    pub writes: u64,
    /// By method name.
    pub by_method: BTreeMap<&'static str, u64>,
}

impl StoreCalls {
    /// `self - earlier`.
    pub fn since(&self, earlier: &StoreCalls) -> StoreCalls {
        StoreCalls {
            reads: self.reads - earlier.reads,
            writes: self.writes - earlier.writes,
            by_method: self
                .by_method
                .iter()
                .map(|(k, v)| (*k, v - earlier.by_method.get(k).copied().unwrap_or(0)))
                .filter(|(_, v)| *v > 0)
                .collect(),
        }
    }
}

/// The decorator.
pub struct CountingStore {
    inner: Arc<dyn TokenStore>,
    reads: AtomicU64,
    writes: AtomicU64,
    by_method: Mutex<BTreeMap<&'static str, u64>>,
}

impl CountingStore {
    /// Counts calls to `inner`.
    pub fn new(inner: Arc<dyn TokenStore>) -> Self {
        Self {
            inner,
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            by_method: Mutex::default(),
        }
    }

    /// What was counted so far.
    pub fn calls(&self) -> StoreCalls {
        StoreCalls {
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            by_method: self.by_method.lock().map(|m| m.clone()).unwrap_or_default(),
        }
    }

    fn read(&self, method: &'static str) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.bump(method);
    }

    fn write(&self, method: &'static str) {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.bump(method);
    }

    fn bump(&self, method: &'static str) {
        if let Ok(mut map) = self.by_method.lock() {
            *map.entry(method).or_default() += 1;
        }
    }
}

#[async_trait]
impl ConnectionActivity for CountingStore {
    async fn record_use(&self, user_id: &str, now: i64, since: i64) -> Result<bool, StoreError> {
        self.write("record_use");
        self.inner.record_use(user_id, now, since).await
    }

    async fn mark_dormant(
        &self,
        user_id: &str,
        expected_version: u64,
        used_since: i64,
    ) -> Result<(), StoreError> {
        self.write("mark_dormant");
        self.inner
            .mark_dormant(user_id, expected_version, used_since)
            .await
    }
}

#[async_trait]
impl Connections for CountingStore {
    async fn get_connection(&self, user_id: &str) -> Result<Option<Connection>, StoreError> {
        self.read("get_connection");
        self.inner.get_connection(user_id).await
    }

    async fn put_connection(
        &self,
        user_id: &str,
        tokens: &Tokens,
    ) -> Result<Connection, StoreError> {
        self.write("put_connection");
        self.inner.put_connection(user_id, tokens).await
    }

    async fn update_tokens(
        &self,
        user_id: &str,
        expected_version: u64,
        tokens: &Tokens,
    ) -> Result<Connection, StoreError> {
        self.write("update_tokens");
        self.inner
            .update_tokens(user_id, expected_version, tokens)
            .await
    }

    async fn mark_reconnect_required(
        &self,
        user_id: &str,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        self.write("mark_reconnect_required");
        self.inner
            .mark_reconnect_required(user_id, expected_version)
            .await
    }

    async fn delete_connection(&self, user_id: &str) -> Result<bool, StoreError> {
        self.write("delete_connection");
        self.inner.delete_connection(user_id).await
    }

    async fn user_of_shop(&self, shop_id: &str) -> Result<Option<String>, StoreError> {
        self.read("user_of_shop");
        self.inner.user_of_shop(shop_id).await
    }
}

#[async_trait]
impl DueIndex for CountingStore {
    fn due_shards(&self) -> u32 {
        self.inner.due_shards()
    }

    async fn find_due(&self, shard: u32, window: DueWindow) -> Result<Vec<Due>, StoreError> {
        self.read("find_due");
        self.inner.find_due(shard, window).await
    }
}

#[async_trait]
impl PendingAuth for CountingStore {
    async fn put_login(&self, state_hash: &str, login: &PendingLogin) -> Result<(), StoreError> {
        self.write("put_login");
        self.inner.put_login(state_hash, login).await
    }

    async fn take_login(
        &self,
        state_hash: &str,
        now: i64,
    ) -> Result<Option<PendingLogin>, StoreError> {
        self.write("take_login");
        self.inner.take_login(state_hash, now).await
    }

    async fn put_grant(
        &self,
        completion_hash: &str,
        grant: &PendingGrant,
    ) -> Result<(), StoreError> {
        self.write("put_grant");
        self.inner.put_grant(completion_hash, grant).await
    }

    async fn take_grant(
        &self,
        completion_hash: &str,
        now: i64,
    ) -> Result<Option<PendingGrant>, StoreError> {
        self.write("take_grant");
        self.inner.take_grant(completion_hash, now).await
    }
}

#[async_trait]
impl WebhookDeliveries for CountingStore {
    async fn delivery_seen(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        self.read("delivery_seen");
        self.inner.delivery_seen(id, now).await
    }

    async fn record_delivery(&self, id: &str, expires_at: i64) -> Result<(), StoreError> {
        self.write("record_delivery");
        self.inner.record_delivery(id, expires_at).await
    }
}

#[async_trait]
impl UpstreamBudget for CountingStore {
    async fn spend_upstream_call(
        &self,
        user_id: &str,
        day: i64,
        limit: u32,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        self.write("spend_upstream_call");
        self.inner
            .spend_upstream_call(user_id, day, limit, expires_at)
            .await
    }
}

#[async_trait]
impl AppTokens for CountingStore {
    async fn get_app_token(&self) -> Result<Option<AppToken>, StoreError> {
        self.read("get_app_token");
        self.inner.get_app_token().await
    }

    async fn put_app_token(
        &self,
        access_token: &AccessToken,
        expires_at: i64,
        expected_version: Option<u64>,
    ) -> Result<AppToken, StoreError> {
        self.write("put_app_token");
        self.inner
            .put_app_token(access_token, expires_at, expected_version)
            .await
    }
}

#[async_trait]
impl ProductCache for CountingStore {
    async fn cache_products(
        &self,
        shop_id: &TikTokId,
        products: &[Product],
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.write("cache_products");
        self.inner
            .cache_products(shop_id, products, expires_at)
            .await
    }

    async fn cached_product(
        &self,
        shop_id: &TikTokId,
        product_id: &TikTokId,
        now: i64,
    ) -> Result<Option<Product>, StoreError> {
        self.read("cached_product");
        self.inner.cached_product(shop_id, product_id, now).await
    }

    async fn cache_detail(
        &self,
        shop_id: &TikTokId,
        product_id: &TikTokId,
        json: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.write("cache_detail");
        self.inner
            .cache_detail(shop_id, product_id, json, expires_at)
            .await
    }

    async fn cached_detail(
        &self,
        shop_id: &TikTokId,
        product_id: &TikTokId,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        self.read("cached_detail");
        self.inner.cached_detail(shop_id, product_id, now).await
    }
}
