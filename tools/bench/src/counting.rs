//! A [`TokenStore`] decorator that counts what the functions ask of the store,
//! split into reads and writes, and delegates every call unchanged.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tiktok_gateway::store::{AppToken, CacheEntry, Due, DueWindow, PendingGrant, PendingLogin};
use tiktok_gateway::tiktok::Product;
use tiktok_gateway::{AccessToken, Connection, StoreError, TokenStore, Tokens};
use tiktok_gateway::{
    AppTokens, Budget, Connections, DueIndex, PendingAuth, ProductCache, ProductLookup,
    UpstreamBudget, WebhookDeliveries,
};
use tiktok_gateway::{ConnectionActivity, RefreshLease, TikTokId};

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

/// Implements a store port for [`CountingStore`]: each listed method counts
/// one `read` or `write` under its own name, then delegates unchanged. A
/// method missing from the list does not compile (the port requires it), and
/// one listed with the wrong signature does not either.
macro_rules! count_and_delegate {
    ($port:ident { $($kind:ident $method:ident($($arg:ident: $ty:ty),*) -> $out:ty;)* }) => {
        #[async_trait]
        impl $port for CountingStore {
            $(
                async fn $method(&self, $($arg: $ty),*) -> Result<$out, StoreError> {
                    self.$kind(stringify!($method));
                    self.inner.$method($($arg),*).await
                }
            )*
        }
    };
}

count_and_delegate!(ConnectionActivity {
    write record_use(user_id: &str, now: i64, since: i64) -> bool;
    write mark_dormant(user_id: &str, expected_version: u64, used_since: i64) -> ();
    write claim_refresh(user_id: &str, expected_version: u64, now: i64, until: i64) -> ();
});

count_and_delegate!(Connections {
    read get_connection(user_id: &str) -> Option<Connection>;
    write put_connection(user_id: &str, tokens: &Tokens) -> Connection;
    write update_tokens(user_id: &str, expected_version: u64, tokens: &Tokens) -> Connection;
    write mark_reconnect_required(user_id: &str, expected_version: u64) -> ();
    write record_authorization_expiry(user_id: &str, shop_id: &str, expires_at: i64, sent_at: i64) -> bool;
    write end_seller_authorization(user_id: &str, shop_id: &str, sent_at: i64) -> bool;
    write delete_connection(user_id: &str) -> bool;
    read users_of_shop(shop_id: &str) -> Vec<String>;
});

count_and_delegate!(RefreshLease {
    write acquire_refresh_lease(user_id: &str, version: u64, holder: &str, now: i64, until: i64) -> bool;
    write release_refresh_lease(user_id: &str, holder: &str) -> ();
});

// Not through the macro: `due_shards` is neither a read nor a write.
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

// Taking a pending login or grant writes: it deletes what it returns.
count_and_delegate!(PendingAuth {
    write put_login(state_hash: &str, login: &PendingLogin) -> ();
    write take_login(state_hash: &str, now: i64) -> Option<PendingLogin>;
    write put_grant(completion_hash: &str, grant: &PendingGrant) -> ();
    write take_grant(completion_hash: &str, now: i64) -> Option<PendingGrant>;
});

count_and_delegate!(WebhookDeliveries {
    write claim_delivery(id: &str, now: i64, expires_at: i64) -> bool;
    write release_delivery(id: &str, now: i64) -> ();
});

count_and_delegate!(UpstreamBudget {
    write spend_upstream_calls(budget: Budget<'_>, day: i64, calls: u32, limit: u32, expires_at: i64) -> bool;
    write return_upstream_calls(budget: Budget<'_>, day: i64, calls: u32) -> ();
});

count_and_delegate!(AppTokens {
    read get_app_token() -> Option<AppToken>;
    write put_app_token(token: &AccessToken, expires_at: i64, expected: Option<u64>) -> AppToken;
});

count_and_delegate!(ProductCache {
    write cache_products(shop_id: &TikTokId, products: &[Product], expires_at: i64) -> ();
    read cached_product(shop_id: &TikTokId, product_id: &TikTokId, now: i64) -> Option<Product>;
    write cache_detail(shop: &TikTokId, product: &TikTokId, json: &str, expires_at: i64) -> ();
    read cached_detail(shop_id: &TikTokId, product_id: &TikTokId, now: i64) -> Option<String>;
});

count_and_delegate!(ProductLookup {
    read connection_and_cached(user_id: &str, entry: &CacheEntry, now: i64) -> (Option<Connection>, Option<String>);
});
