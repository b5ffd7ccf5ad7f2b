//! One contract, two adapters: every test here runs against the in-memory store
//! and against DynamoDB (moto's server, through the real aws-sdk-dynamodb client).

use std::sync::Arc;

use secrecy::SecretString;
use tiktok_gateway::app_secrets::StaticSecret;
use tiktok_gateway::store::{
    AppTokens, Budget, CacheEntry, CachedKind, Connections, DueWindow, PendingAuth, PendingGrant,
    PendingLogin, SellerAccount, SellerShop, TableLayout,
};
use tiktok_gateway::tiktok::Product;
use tiktok_gateway::{
    AccessToken, Connection, ConnectionStatus, DynamoStore, MemoryStore, RefreshToken, Secrets,
    StoreError, TikTokId, TokenStore, Tokens,
};

const NOW: i64 = 1_800_000_000;

fn tokens(tag: &str, access_expires_at: i64, refresh_expires_at: i64) -> Tokens {
    Tokens {
        open_id: "open-1".into(),
        scopes: vec!["user.info.basic".into(), "research.data.basic".into()],
        access_token: AccessToken::new(format!("act.{tag}")),
        refresh_token: RefreshToken::new(format!("rft.{tag}")),
        access_expires_at,
        refresh_expires_at,
        refreshed_at: NOW,
        account: None,
    }
}

/// The window the refresher used before idle connections existed: everything
/// expiring before `access_before` (within a day back).
fn window(access_before: i64, refresh_before: i64) -> DueWindow {
    DueWindow {
        access_from: NOW - 86_400,
        access_before,
        refresh_before,
    }
}

async fn due_users(store: &dyn TokenStore, shard: u32, window: DueWindow) -> Vec<String> {
    store
        .find_due(shard, window)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.user_id)
        .collect()
}

async fn all_due(store: &dyn TokenStore, window: DueWindow) -> Vec<tiktok_gateway::store::Due> {
    let mut found = Vec::new();
    for shard in 0..store.due_shards() {
        found.extend(store.find_due(shard, window).await.unwrap());
    }
    found
}

fn user() -> String {
    test_support::unique("user")
}

/// A new user connected with `tokens`: the user's id and the stored connection.
async fn connect_new_user(store: &dyn TokenStore, tokens: &Tokens) -> (String, Connection) {
    let user = user();
    let connection = store.put_connection(&user, tokens).await.unwrap();
    (user, connection)
}

fn memory() -> Arc<dyn TokenStore> {
    Arc::new(MemoryStore::new(4))
}

/// A DynamoDB store over a fresh table in moto; returns the raw client and table too.
async fn dynamo_parts() -> (
    Arc<DynamoStore>,
    aws_sdk_dynamodb::Client,
    String,
    Arc<Secrets>,
) {
    let aws = test_support::moto_config();
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let table = test_support::unique("connections");
    tiktok_gateway::store::create_table(&client, &table)
        .await
        .unwrap();
    let secrets = secrets_with_key("k1");
    let store = store_over(&client, &table, secrets.clone());
    (Arc::new(store), client, table, secrets)
}

/// The app's secret (client `ck`) with one random token key named `key_id`.
fn secrets_with_key(key_id: &str) -> Arc<Secrets> {
    let json = test_support::secret_json_with_key("ck", "cs-store-test", key_id);
    Arc::new(Secrets::new(
        Arc::new(StaticSecret(SecretString::from(json))),
        std::time::Duration::from_secs(300),
    ))
}

/// A DynamoDB store over `table` (4 due shards) sealing with `secrets`.
fn store_over(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    secrets: Arc<Secrets>,
) -> DynamoStore {
    let layout = TableLayout {
        table: table.to_owned(),
        due_shards: 4,
    };
    DynamoStore::new(client.clone(), layout, secrets)
}

async fn dynamo() -> Arc<dyn TokenStore> {
    dynamo_parts().await.0
}

async fn a_connection_round_trips(store: Arc<dyn TokenStore>) {
    let user = user();
    assert!(store.get_connection(&user).await.unwrap().is_none());
    let stored = store
        .put_connection(&user, &tokens("a", NOW + 3600, NOW + 86_400))
        .await
        .unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.status, ConnectionStatus::Active);
    let read = store.get_connection(&user).await.unwrap().unwrap();
    assert_eq!(read, stored);
    assert_eq!(read.tokens, tokens("a", NOW + 3600, NOW + 86_400));
    // A reconnect replaces the grant and moves the version past the old one.
    let again = store
        .put_connection(&user, &tokens("b", NOW + 3600, NOW + 86_400))
        .await
        .unwrap();
    assert_eq!(again.version, 2);
    assert_eq!(again.tokens.refresh_token, RefreshToken::new("rft.b"));
}

async fn a_stale_writer_loses_and_changes_nothing(store: Arc<dyn TokenStore>) {
    let (user, v1) = connect_new_user(&*store, &tokens("a", NOW, NOW + 86_400)).await;
    let v2 = store
        .update_tokens(&user, v1.version, &tokens("b", NOW + 7200, NOW + 86_400))
        .await
        .unwrap();
    assert_eq!(v2.version, v1.version + 1);
    let stale = store
        .update_tokens(&user, v1.version, &tokens("c", NOW + 7200, NOW + 86_400))
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    let read = store.get_connection(&user).await.unwrap().unwrap();
    assert_eq!(read.tokens.refresh_token, RefreshToken::new("rft.b"));
    // Updating a connection that does not exist is a conflict too, and creates nothing.
    let ghost = user.clone() + "-ghost";
    assert!(matches!(
        store.update_tokens(&ghost, 1, &tokens("x", NOW, NOW)).await,
        Err(StoreError::Conflict)
    ));
    assert!(store.get_connection(&ghost).await.unwrap().is_none());
}

async fn a_refresh_claim_has_one_holder_per_version_until_it_lapses(store: Arc<dyn TokenStore>) {
    let (user, c) = connect_new_user(&*store, &tokens("a", NOW, NOW + 86_400)).await;
    let claims = (0..8).map(|_| store.claim_refresh(&user, c.version, NOW, NOW + 120));
    let results = futures::future::join_all(claims).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results
        .iter()
        .filter(|r| r.is_err())
        .all(|r| matches!(r, Err(StoreError::Conflict))));
    // Held until it lapses; a stale version cannot be claimed at all.
    assert!(matches!(
        store
            .claim_refresh(&user, c.version, NOW + 119, NOW + 240)
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store
            .claim_refresh(&user, c.version + 1, NOW, NOW + 120)
            .await,
        Err(StoreError::Conflict)
    ));
    store
        .claim_refresh(&user, c.version, NOW + 120, NOW + 240)
        .await
        .unwrap();
    // A new version (the claimer stored its refresh) is claimable at once, and
    // the claim changes neither the version nor the tokens.
    let read = store.get_connection(&user).await.unwrap().unwrap();
    assert_eq!((read.version, &read.tokens), (c.version, &c.tokens));
    let v2 = store
        .update_tokens(&user, c.version, &tokens("b", NOW + 7200, NOW + 86_400))
        .await
        .unwrap();
    store
        .claim_refresh(&user, v2.version, NOW + 121, NOW + 241)
        .await
        .unwrap();
}

async fn racing_refreshes_have_one_winner_per_version(store: Arc<dyn TokenStore>) {
    let (user, _) = connect_new_user(&*store, &tokens("gen0", NOW, NOW + 86_400)).await;
    for round in 0..5 {
        let current = store.get_connection(&user).await.unwrap().unwrap();
        let racers = (0..16).map(|i| {
            let store = store.clone();
            let user = user.clone();
            async move {
                let tag = format!("r{round}-w{i}");
                let result = store
                    .update_tokens(
                        &user,
                        current.version,
                        &tokens(&tag, NOW + 7200, NOW + 86_400),
                    )
                    .await;
                (tag, result)
            }
        });
        let results = futures::future::join_all(racers).await;
        let winners: Vec<_> = results.iter().filter(|(_, r)| r.is_ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one writer wins");
        assert!(results
            .iter()
            .filter(|(_, r)| r.is_err())
            .all(|(_, r)| matches!(r, Err(StoreError::Conflict))));
        let stored = store.get_connection(&user).await.unwrap().unwrap();
        assert_eq!(stored.version, current.version + 1);
        assert_eq!(
            stored.tokens.refresh_token,
            RefreshToken::new(format!("rft.{}", winners[0].0)),
            "the stored refresh token is the winner's"
        );
    }
}

async fn reconnect_required_is_conditional_and_leaves_the_due_index(store: Arc<dyn TokenStore>) {
    let (user, c) = connect_new_user(&*store, &tokens("a", NOW - 10, NOW + 86_400)).await;
    let shard = tiktok_gateway::store::shard_of(&user, store.due_shards());
    assert!(due_users(&*store, shard, window(NOW, NOW))
        .await
        .contains(&user));
    assert!(matches!(
        store.mark_reconnect_required(&user, c.version + 7).await,
        Err(StoreError::Conflict)
    ));
    store
        .mark_reconnect_required(&user, c.version)
        .await
        .unwrap();
    let read = store.get_connection(&user).await.unwrap().unwrap();
    assert_eq!(read.status, ConnectionStatus::ReconnectRequired);
    assert_eq!(read.version, c.version + 1);
    assert!(!due_users(&*store, shard, window(NOW, NOW))
        .await
        .contains(&user));
    // A new grant makes it active (and due-indexed) again.
    store
        .put_connection(&user, &tokens("b", NOW - 10, NOW + 86_400))
        .await
        .unwrap();
    assert!(due_users(&*store, shard, window(NOW, NOW))
        .await
        .contains(&user));
}

async fn delete_is_idempotent(store: Arc<dyn TokenStore>) {
    let (user, _) = connect_new_user(&*store, &tokens("a", NOW, NOW + 1)).await;
    assert!(store.delete_connection(&user).await.unwrap());
    assert!(!store.delete_connection(&user).await.unwrap());
    assert!(store.get_connection(&user).await.unwrap().is_none());
}

async fn only_due_connections_are_found(store: Arc<dyn TokenStore>) {
    let access_due = user();
    let refresh_due = user();
    let fresh = user();
    store
        .put_connection(&access_due, &tokens("a", NOW + 600, NOW + 100 * 86_400))
        .await
        .unwrap();
    store
        .put_connection(&refresh_due, &tokens("b", NOW + 7200, NOW + 3 * 86_400))
        .await
        .unwrap();
    store
        .put_connection(&fresh, &tokens("c", NOW + 7200, NOW + 100 * 86_400))
        .await
        .unwrap();
    let due = all_due(&*store, window(NOW + 1200, NOW + 7 * 86_400)).await;
    let expiry = |u: &str| due.iter().find(|d| d.user_id == u).map(|d| d.expires_at);
    assert_eq!(
        expiry(&access_due),
        Some(NOW + 600),
        "the due expiry comes back"
    );
    assert_eq!(expiry(&refresh_due), Some(NOW + 3 * 86_400));
    let found: Vec<String> = due.iter().map(|d| d.user_id.clone()).collect();
    assert!(found.contains(&access_due), "access token expiring soon");
    assert!(
        found.contains(&refresh_due),
        "refresh token expiring within the window"
    );
    assert!(
        !found.contains(&fresh),
        "a connection that is not due is not returned"
    );
    assert_eq!(found.iter().filter(|u| **u == access_due).count(), 1);
}

async fn a_long_expired_access_token_is_outside_the_window(store: Arc<dyn TokenStore>) {
    // An idle user's access token expired two days ago and nothing refreshed it:
    // the refresher's window (an hour back) does not read it again and again.
    let idle = user();
    let recent = user();
    store
        .put_connection(&idle, &tokens("a", NOW - 2 * 86_400, NOW + 100 * 86_400))
        .await
        .unwrap();
    store
        .put_connection(&recent, &tokens("b", NOW - 600, NOW + 100 * 86_400))
        .await
        .unwrap();
    let window = DueWindow {
        access_from: NOW - 3_600,
        access_before: NOW + 1_200,
        refresh_before: NOW + 7 * 86_400,
    };
    let found: Vec<String> = all_due(&*store, window)
        .await
        .into_iter()
        .map(|d| d.user_id)
        .collect();
    assert!(found.contains(&recent));
    assert!(!found.contains(&idle));
}

async fn a_use_is_recorded_once_a_day_without_a_new_version(store: Arc<dyn TokenStore>) {
    let (user, c) = connect_new_user(&*store, &tokens("a", NOW + 600, NOW + 86_400)).await;
    assert_eq!(c.last_used_at, NOW, "connecting counts as a use");
    let day = NOW + 86_400 - NOW.rem_euclid(86_400);
    assert!(store.record_use(&user, day + 10, day).await.unwrap());
    assert!(
        !store.record_use(&user, day + 20, day).await.unwrap(),
        "once a day"
    );
    let read = store.get_connection(&user).await.unwrap().unwrap();
    assert_eq!(read.last_used_at, day + 10);
    assert_eq!(
        read.version, c.version,
        "a refresh racing with it still stores"
    );
    assert!(!store.record_use("nobody", day, day).await.unwrap());
    assert!(store.get_connection("nobody").await.unwrap().is_none());
    // A refresh keeps it.
    let refreshed = store
        .update_tokens(&user, c.version, &tokens("b", NOW + 7200, NOW + 86_400))
        .await
        .unwrap();
    assert_eq!(refreshed.last_used_at, day + 10);
}

async fn dormant_is_conditional_leaves_the_due_index_and_a_use_brings_it_back(
    store: Arc<dyn TokenStore>,
) {
    let (user, c) = connect_new_user(&*store, &tokens("a", NOW - 10, NOW + 86_400)).await;
    let shard = tiktok_gateway::store::shard_of(&user, store.due_shards());
    assert!(matches!(
        store.mark_dormant(&user, c.version + 1, NOW + 1).await,
        Err(StoreError::Conflict)
    ));
    assert!(
        matches!(
            store.mark_dormant(&user, c.version, NOW).await,
            Err(StoreError::Conflict)
        ),
        "used at NOW, not before it"
    );
    store.mark_dormant(&user, c.version, NOW + 1).await.unwrap();
    let read = store.get_connection(&user).await.unwrap().unwrap();
    assert_eq!(read.status, ConnectionStatus::Dormant);
    assert_eq!(read.version, c.version + 1);
    assert!(!due_users(&*store, shard, window(NOW, NOW + 2 * 86_400))
        .await
        .contains(&user));
    // The user comes back (even the same day): active and due-indexed again.
    assert!(store.record_use(&user, NOW + 5, NOW).await.unwrap());
    let read = store.get_connection(&user).await.unwrap().unwrap();
    assert_eq!(read.status, ConnectionStatus::Active);
    assert!(due_users(&*store, shard, window(NOW, NOW + 2 * 86_400))
        .await
        .contains(&user));
}

fn login(user: &str, expires_at: i64) -> PendingLogin {
    PendingLogin {
        user_id: user.to_owned(),
        return_to: Some("https://app.dshipit.com/research".into()),
        code_verifier: Some(tiktok_gateway::CodeVerifier::new("verifier-123")),
        redirect_uri: None,
        expires_at,
    }
}

/// What the store keeps for a single use and a short while: a pending login
/// (under its state's hash) or a pending grant (under its completion id's hash).
#[derive(Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // a test fixture, built a handful of times
enum Pending {
    Login(PendingLogin),
    Grant(PendingGrant),
}

impl Pending {
    /// Stores it under a fresh id and returns the id.
    async fn put_new(&self, store: &dyn TokenStore) -> String {
        let id = test_support::unique("pending-hash");
        match self {
            Self::Login(login) => store.put_login(&id, login).await,
            Self::Grant(grant) => store.put_grant(&id, grant).await,
        }
        .unwrap();
        id
    }

    /// Takes what is stored under `id` as a pending item of this one's kind.
    async fn take_same_kind(
        &self,
        store: &dyn TokenStore,
        id: &str,
        now: i64,
    ) -> Result<Option<Pending>, StoreError> {
        Ok(match self {
            Self::Login(_) => store.take_login(id, now).await?.map(Self::Login),
            Self::Grant(_) => store.take_grant(id, now).await?.map(Self::Grant),
        })
    }
}

/// The single-use contract, with items from `make(tag)` that expire at NOW + 600:
/// taken once (a replay finds nothing), removed once expired, and taken by one
/// of eight racing takers. `racers` names who races, for the message.
async fn single_use_contract(store: &dyn TokenStore, make: impl Fn(&str) -> Pending, racers: &str) {
    let taken = make("taken");
    let id = taken.put_new(store).await;
    let first = taken.take_same_kind(store, &id, NOW).await.unwrap();
    assert_eq!(first, Some(taken));
    let replay = make("taken").take_same_kind(store, &id, NOW).await;
    assert_eq!(replay.unwrap(), None, "replay");

    let late = make("late");
    let expired = late.put_new(store).await;
    let after_expiry = late.take_same_kind(store, &expired, NOW + 601).await;
    assert_eq!(after_expiry.unwrap(), None);
    let before_expiry = late.take_same_kind(store, &expired, NOW).await;
    assert_eq!(before_expiry.unwrap(), None, "expired ones are removed");

    let contested = make("contested");
    let id = contested.put_new(store).await;
    let takers = (0..8).map(|_| contested.take_same_kind(store, &id, NOW));
    let won = futures::future::join_all(takers)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(Some(_))))
        .count();
    assert_eq!(won, 1, "taken once, however many {racers} race");
}

async fn a_login_state_is_single_use_and_expires(store: Arc<dyn TokenStore>) {
    // A login that derived its callback URL keeps it; one without (as stored
    // before the field existed) reads back without one.
    let logins = |user: &str| {
        let mut login = login(user, NOW + 600);
        if user == "taken" {
            login.redirect_uri = Some(
                "https://abc123.execute-api.us-east-1.amazonaws.com/auth/tiktok/callback".into(),
            );
        }
        Pending::Login(login)
    };
    single_use_contract(&*store, logins, "callbacks").await;
}

fn grant(user: &str, tag: &str, expires_at: i64) -> PendingGrant {
    PendingGrant {
        user_id: user.to_owned(),
        tokens: tokens(tag, NOW + 86_400, NOW + 180 * 86_400),
        expires_at,
    }
}

async fn a_pending_grant_is_single_use_and_expires(store: Arc<dyn TokenStore>) {
    // A Partner API grant carries the seller's account: it is kept too.
    let mut seller = grant("u1", "granted", NOW + 600);
    seller.tokens.account = Some(SellerAccount {
        seller_name: "Sunny".into(),
        region: "US".into(),
        shops: vec![SellerShop {
            id: "7494754040961993092".into(),
            cipher: "ROW_abc".into(),
            ..SellerShop::default()
        }],
        authorization_expires_at: None,
        creator: None,
    });
    let seller = Pending::Grant(seller);
    let id = seller.put_new(&*store).await;
    let taken = seller.take_same_kind(&*store, &id, NOW).await.unwrap();
    assert_eq!(taken, Some(seller));

    let grants = |tag: &str| Pending::Grant(grant("u1", tag, NOW + 600));
    single_use_contract(&*store, grants, "completions").await;
    assert!(
        store.get_connection("u1").await.unwrap().is_none(),
        "a pending grant is not a connection"
    );
}

async fn the_app_token_is_compare_and_set(store: Arc<dyn TokenStore>) {
    // Each test gets its own table or store, so the app token starts absent.
    assert!(store.get_app_token().await.unwrap().is_none());
    let first = store
        .put_app_token(&AccessToken::new("clt.1"), NOW + 7200, None)
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    assert!(matches!(
        store
            .put_app_token(&AccessToken::new("clt.x"), NOW, None)
            .await,
        Err(StoreError::Conflict)
    ));
    store
        .put_app_token(&AccessToken::new("clt.2"), NOW + 9000, Some(1))
        .await
        .unwrap();
    assert!(matches!(
        store
            .put_app_token(&AccessToken::new("clt.y"), NOW, Some(1))
            .await,
        Err(StoreError::Conflict)
    ));
    let read = store.get_app_token().await.unwrap().unwrap();
    assert_eq!(read.access_token, AccessToken::new("clt.2"));
    assert_eq!((read.expires_at, read.version), (NOW + 9000, 2));
}

async fn cached_products_expire(store: Arc<dyn TokenStore>) {
    let shop = TikTokId::parse("7494754040961993092").unwrap();
    let product: Product = serde_json::from_value(serde_json::json!({
        "product_id": 7494754040961993100u64,
        "product_name": "Desk lamp",
        "product_price": ["29.99USD"],
        "product_rating_5_count": 2,
    }))
    .unwrap();
    store
        .cache_products(&shop, std::slice::from_ref(&product), NOW + 60)
        .await
        .unwrap();
    let id = product.product_id.clone();
    assert_eq!(
        store.cached_product(&shop, &id, NOW).await.unwrap(),
        Some(product)
    );
    assert_eq!(
        store.cached_product(&shop, &id, NOW + 60).await.unwrap(),
        None
    );
    let other_shop = TikTokId::parse("1").unwrap();
    assert_eq!(
        store.cached_product(&other_shop, &id, NOW).await.unwrap(),
        None
    );
}

async fn a_seller_account_round_trips_and_follows_refreshes(store: Arc<dyn TokenStore>) {
    let user = user();
    let account = SellerAccount {
        seller_name: "Maomao".into(),
        region: "GB".into(),
        shops: vec![SellerShop {
            id: "0700071453287627342".into(),
            name: "Maomao beauty shop".into(),
            region: "GB".into(),
            seller_type: "CROSS_BORDER".into(),
            cipher: "GCP_XF90igAAAABh00qsWgtvOiGFNqyubMt3".into(),
        }],
        authorization_expires_at: Some(NOW + 30 * 86_400),
        creator: None,
    };
    let mut with_account = tokens("a", NOW + 3600, NOW + 86_400);
    with_account.account = Some(account.clone());
    let stored = store.put_connection(&user, &with_account).await.unwrap();
    let read = store.get_connection(&user).await.unwrap().unwrap();
    assert_eq!(read.tokens.account.as_ref(), Some(&account));
    let mut refreshed = tokens("b", NOW + 7200, NOW + 86_400);
    refreshed.account = read.tokens.account.clone();
    store
        .update_tokens(&user, stored.version, &refreshed)
        .await
        .unwrap();
    let read = store.get_connection(&user).await.unwrap().unwrap();
    assert_eq!(read.tokens.account, Some(account));
    // A research grant replacing it carries no account.
    store
        .put_connection(&user, &tokens("c", NOW + 3600, NOW + 86_400))
        .await
        .unwrap();
    let read = store.get_connection(&user).await.unwrap().unwrap();
    assert_eq!(read.tokens.account, None);
}

async fn shops_point_at_their_seller_and_deliveries_are_remembered(store: Arc<dyn TokenStore>) {
    let user = user();
    let shop = test_support::unique("shop");
    assert!(store.users_of_shop(&shop).await.unwrap().is_empty());
    let mut with_account = tokens("a", NOW + 3600, NOW + 86_400);
    with_account.account = Some(SellerAccount {
        shops: vec![SellerShop {
            id: shop.clone(),
            ..Default::default()
        }],
        ..Default::default()
    });
    store.put_connection(&user, &with_account).await.unwrap();
    assert_eq!(
        store.users_of_shop(&shop).await.unwrap(),
        vec![user.clone()]
    );
    // A second user connecting the same seller: both are found (issue 20 item 4).
    let colleague = format!("{user}-colleague");
    store
        .put_connection(&colleague, &with_account)
        .await
        .unwrap();
    store.put_connection(&user, &with_account).await.unwrap();
    let mut both = vec![user.clone(), colleague];
    both.sort();
    assert_eq!(store.users_of_shop(&shop).await.unwrap(), both);

    let id = test_support::unique("delivery");
    assert!(store.claim_delivery(&id, NOW, NOW + 60).await.unwrap());
    assert!(
        !store.claim_delivery(&id, NOW, NOW + 60).await.unwrap(),
        "claimed once"
    );
    assert!(
        store
            .claim_delivery(&id, NOW + 60, NOW + 120)
            .await
            .unwrap(),
        "expired"
    );
    store.release_delivery(&id, NOW + 61).await.unwrap();
    assert!(
        store
            .claim_delivery(&id, NOW + 61, NOW + 120)
            .await
            .unwrap(),
        "given back"
    );
    // Eight at once: one claim.
    let id = test_support::unique("delivery");
    let claims =
        futures::future::join_all((0..8).map(|_| store.claim_delivery(&id, NOW, NOW + 60))).await;
    assert_eq!(
        claims.into_iter().filter(|c| *c.as_ref().unwrap()).count(),
        1
    );
}

async fn cached_details_expire(store: Arc<dyn TokenStore>) {
    let shop = TikTokId::parse("7494754040961993092").unwrap();
    let id = TikTokId::parse("1729382476852921560").unwrap();
    let json = r#"{"title":"Desk Lamp","description":"<p>x</p>"}"#;
    store
        .cache_detail(&shop, &id, json, NOW + 60)
        .await
        .unwrap();
    assert_eq!(
        store
            .cached_detail(&shop, &id, NOW)
            .await
            .unwrap()
            .as_deref(),
        Some(json)
    );
    assert_eq!(
        store.cached_detail(&shop, &id, NOW + 60).await.unwrap(),
        None
    );
    // Not the research cache's item.
    assert_eq!(store.cached_product(&shop, &id, NOW).await.unwrap(), None);
}

/// A search that read several pages can meet the same product twice (the
/// listing shifted between pages): the cache takes the later copy, whichever
/// batch the two land in, and every other product of the call is cached too.
async fn a_product_listed_twice_is_cached_once(store: Arc<dyn TokenStore>) {
    let shop = TikTokId::parse("7494754040961993092").unwrap();
    let product = |id: u64, name: &str| -> Product {
        serde_json::from_value(serde_json::json!({
            "product_id": id, "product_name": name, "product_price": ["1.00USD"],
        }))
        .unwrap()
    };
    let mut products: Vec<Product> = (0..30).map(|i| product(100 + i, "first")).collect();
    // The same product again in the same batch of 25 (DynamoDB refuses a
    // batch naming a key twice; so does the tests' moto, scripts/moto-server),
    // and again in a later batch. The later copy is what is cached.
    products[3] = product(100, "second");
    products.push(product(101, "second"));
    store
        .cache_products(&shop, &products, NOW + 60)
        .await
        .expect("a listing with a repeated product is cached");
    for (id, name) in [(100, "second"), (101, "second"), (129, "first")] {
        let id = TikTokId::parse(&id.to_string()).unwrap();
        let cached = store.cached_product(&shop, &id, NOW).await.unwrap();
        assert_eq!(
            cached.map(|p| p.product_name),
            Some(name.to_owned()),
            "{id}"
        );
    }
}

async fn a_product_lookup_reads_the_connection_and_the_entry_at_once(store: Arc<dyn TokenStore>) {
    let user = user();
    let shop = TikTokId::parse("7494754040961993092").unwrap();
    let product = TikTokId::parse("7494754040961993100").unwrap();
    let entry = |kind| CacheEntry {
        kind,
        shop_id: shop.clone(),
        product_id: product.clone(),
    };
    // Nothing stored: neither.
    let (connection, cached) = store
        .connection_and_cached(&user, &entry(CachedKind::Detail), NOW)
        .await
        .unwrap();
    assert!(connection.is_none() && cached.is_none());

    let stored = store
        .put_connection(&user, &tokens("lookup", NOW + 3600, NOW + 86_400))
        .await
        .unwrap();
    store
        .cache_detail(&shop, &product, r#"{"id":"7494754040961993100"}"#, NOW + 60)
        .await
        .unwrap();
    let listed: Product = serde_json::from_value(serde_json::json!({
        "product_id": 7494754040961993100u64, "product_name": "Desk lamp",
    }))
    .unwrap();
    store
        .cache_products(&shop, std::slice::from_ref(&listed), NOW + 60)
        .await
        .unwrap();

    let (connection, cached) = store
        .connection_and_cached(&user, &entry(CachedKind::Detail), NOW)
        .await
        .unwrap();
    assert_eq!(connection, Some(stored.clone()));
    assert_eq!(cached.as_deref(), Some(r#"{"id":"7494754040961993100"}"#));
    let (_, cached) = store
        .connection_and_cached(&user, &entry(CachedKind::Product), NOW)
        .await
        .unwrap();
    let cached: Product = serde_json::from_str(&cached.unwrap()).unwrap();
    assert_eq!(cached, listed);
    // An expired entry is a miss; the connection is still read.
    let (connection, cached) = store
        .connection_and_cached(&user, &entry(CachedKind::Detail), NOW + 60)
        .await
        .unwrap();
    assert_eq!(connection, Some(stored));
    assert_eq!(cached, None);
}

/// Issue 20 item 1: one refresh lease per connection version; a second
/// holder is refused until it is given back, expires, or the version moves on.
async fn a_refresh_lease_has_one_holder_per_version(store: Arc<dyn TokenStore>) {
    let (u, c) = connect_new_user(store.as_ref(), &tokens("a", NOW + 60, NOW + 86_400)).await;
    let v = c.version;
    assert!(store
        .acquire_refresh_lease(&u, v, "h1", NOW, NOW + 10)
        .await
        .unwrap());
    assert!(!store
        .acquire_refresh_lease(&u, v, "h2", NOW, NOW + 10)
        .await
        .unwrap());
    // Not for a version that is not stored, nor for a user with no connection.
    assert!(!store
        .acquire_refresh_lease(&u, v + 1, "h3", NOW, NOW + 10)
        .await
        .unwrap());
    assert!(!store
        .acquire_refresh_lease(&user(), 1, "h3", NOW, NOW + 10)
        .await
        .unwrap());
    // Only its holder gives it back.
    store.release_refresh_lease(&u, "h2").await.unwrap();
    assert!(!store
        .acquire_refresh_lease(&u, v, "h2", NOW, NOW + 10)
        .await
        .unwrap());
    store.release_refresh_lease(&u, "h1").await.unwrap();
    assert!(store
        .acquire_refresh_lease(&u, v, "h2", NOW, NOW + 10)
        .await
        .unwrap());
    // It expires by itself.
    assert!(store
        .acquire_refresh_lease(&u, v, "h3", NOW + 10, NOW + 20)
        .await
        .unwrap());
    // A stored rotation ends it: the next version has its own.
    let rotated = store
        .update_tokens(&u, v, &tokens("b", NOW + 3_600, NOW + 86_400))
        .await
        .unwrap();
    assert!(store
        .acquire_refresh_lease(&u, rotated.version, "h4", NOW + 11, NOW + 21)
        .await
        .unwrap());
    // Nothing about the lease shows in the connection.
    let stored = store.get_connection(&u).await.unwrap().unwrap();
    assert_eq!(stored.version, rotated.version);
    assert_eq!(stored.tokens, rotated.tokens);
    assert_eq!(stored.status, ConnectionStatus::Active);
}

/// Issue 20 items 3 and 5: the webhook's two writes, conditional and narrow.
async fn seller_notices_write_only_what_they_name(store: Arc<dyn TokenStore>) {
    let shop = test_support::unique("shop");
    let mut seller = tokens("s", NOW + 3600, NOW + 86_400);
    seller.account = Some(SellerAccount {
        shops: vec![SellerShop {
            id: shop.clone(),
            ..Default::default()
        }],
        ..Default::default()
    });
    let (u, c) = connect_new_user(store.as_ref(), &seller).await;
    // Expiry: another shop's, or an older notice, is not recorded.
    assert!(!store
        .record_authorization_expiry(&u, "999", NOW + 50, NOW)
        .await
        .unwrap());
    assert!(!store
        .record_authorization_expiry(&u, &shop, NOW + 50, NOW - 1)
        .await
        .unwrap());
    assert!(store
        .record_authorization_expiry(&u, &shop, NOW + 50, NOW)
        .await
        .unwrap());
    let read = store.get_connection(&u).await.unwrap().unwrap();
    assert_eq!(
        read.tokens
            .account
            .as_ref()
            .unwrap()
            .authorization_expires_at,
        Some(NOW + 50)
    );
    assert_eq!(
        (read.version, read.status),
        (c.version, ConnectionStatus::Active)
    );
    assert_eq!(read.tokens.refresh_token, c.tokens.refresh_token);
    // Deauthorization: one write; then the expiry is not recorded on it.
    assert!(!store
        .end_seller_authorization(&u, &shop, NOW - 1)
        .await
        .unwrap());
    assert!(store
        .end_seller_authorization(&u, &shop, NOW)
        .await
        .unwrap());
    assert!(
        !store
            .end_seller_authorization(&u, &shop, NOW)
            .await
            .unwrap(),
        "once"
    );
    let ended = store.get_connection(&u).await.unwrap().unwrap();
    assert_eq!(ended.status, ConnectionStatus::ReconnectRequired);
    assert_eq!(ended.tokens.access_token.expose(), "");
    assert_eq!(ended.tokens.refresh_token.expose(), "");
    assert_eq!(ended.version, c.version + 1);
    assert!(!store
        .record_authorization_expiry(&u, &shop, NOW + 60, NOW)
        .await
        .unwrap());
    assert!(all_due(store.as_ref(), window(i64::MAX, i64::MAX))
        .await
        .iter()
        .all(|d| d.user_id != u));
    // A new grant starts without the old expiry.
    let again = store.put_connection(&u, &seller).await.unwrap();
    assert_eq!(again.tokens.account.unwrap().authorization_expires_at, None);
    let read = store.get_connection(&u).await.unwrap().unwrap();
    assert_eq!(read.tokens.account.unwrap().authorization_expires_at, None);
}

/// Calls are counted several at once, never past the limit, per user and for
/// the app separately, and given back; a given-back day never goes below zero
/// nor comes back once gone.
async fn upstream_calls_are_reserved_and_given_back(store: Arc<dyn TokenStore>) {
    let day = NOW / 86_400;
    let until = NOW + 2 * 86_400;
    let (user, other) = (Budget::User("user-1"), Budget::User("user-2"));
    assert!(store
        .spend_upstream_calls(user, day, 5, 6, until)
        .await
        .unwrap());
    assert!(
        !store
            .spend_upstream_calls(user, day, 2, 6, until)
            .await
            .unwrap(),
        "7 > 6"
    );
    assert!(store
        .spend_upstream_calls(user, day, 1, 6, until)
        .await
        .unwrap());
    assert!(
        !store
            .spend_upstream_calls(user, day, 1, 6, until)
            .await
            .unwrap(),
        "spent"
    );
    assert!(
        !store
            .spend_upstream_calls(other, day, 7, 6, until)
            .await
            .unwrap(),
        "more than the limit"
    );
    assert!(
        store
            .spend_upstream_calls(other, day, 6, 6, until)
            .await
            .unwrap(),
        "another user's own"
    );
    assert!(
        store
            .spend_upstream_calls(Budget::App, day, 6, 6, until)
            .await
            .unwrap(),
        "the app's own"
    );
    store.return_upstream_calls(user, day, 4).await.unwrap();
    assert!(
        store
            .spend_upstream_calls(user, day, 4, 6, until)
            .await
            .unwrap(),
        "4 given back"
    );
    assert!(!store
        .spend_upstream_calls(user, day, 1, 6, until)
        .await
        .unwrap());
    assert!(!store
        .spend_upstream_calls(Budget::App, day, 1, 6, until)
        .await
        .unwrap());
    store
        .return_upstream_calls(Budget::App, day, 1)
        .await
        .unwrap();
    assert!(store
        .spend_upstream_calls(Budget::App, day, 1, 6, until)
        .await
        .unwrap());
    // Giving back on a day nothing was counted leaves nothing to spend twice.
    store.return_upstream_calls(user, day + 1, 3).await.unwrap();
    assert!(store
        .spend_upstream_calls(user, day + 1, 6, 6, until)
        .await
        .unwrap());
    assert!(!store
        .spend_upstream_calls(user, day + 1, 1, 6, until)
        .await
        .unwrap());
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $( #[tokio::test] async fn $name() { super::$name(super::memory()).await } )*
        }
        mod dynamodb_store {
            $( #[tokio::test] async fn $name() { super::$name(super::dynamo().await).await } )*
        }
    };
}

contract!(
    upstream_calls_are_reserved_and_given_back,
    a_refresh_lease_has_one_holder_per_version,
    seller_notices_write_only_what_they_name,
    a_connection_round_trips,
    a_stale_writer_loses_and_changes_nothing,
    a_refresh_claim_has_one_holder_per_version_until_it_lapses,
    racing_refreshes_have_one_winner_per_version,
    reconnect_required_is_conditional_and_leaves_the_due_index,
    delete_is_idempotent,
    only_due_connections_are_found,
    a_long_expired_access_token_is_outside_the_window,
    a_use_is_recorded_once_a_day_without_a_new_version,
    dormant_is_conditional_leaves_the_due_index_and_a_use_brings_it_back,
    a_login_state_is_single_use_and_expires,
    a_pending_grant_is_single_use_and_expires,
    the_app_token_is_compare_and_set,
    cached_products_expire,
    a_seller_account_round_trips_and_follows_refreshes,
    cached_details_expire,
    shops_point_at_their_seller_and_deliveries_are_remembered,
    a_product_listed_twice_is_cached_once,
    a_product_lookup_reads_the_connection_and_the_entry_at_once,
);

/// Racing stores as separate containers would have them: separate clients.
#[tokio::test]
async fn dynamodb_racers_on_separate_clients_have_one_winner() {
    let (first, _, table, secret) = dynamo_parts().await;
    let (user, _) = connect_new_user(&*first, &tokens("gen0", NOW, NOW + 86_400)).await;
    let stores: Vec<Arc<dyn TokenStore>> = (0..8)
        .map(|_| {
            let client = aws_sdk_dynamodb::Client::new(&test_support::moto_config());
            Arc::new(store_over(&client, &table, secret.clone())) as Arc<dyn TokenStore>
        })
        .collect();
    let current = first.get_connection(&user).await.unwrap().unwrap();
    let racers = stores.iter().enumerate().map(|(i, store)| {
        let user = user.clone();
        async move {
            store
                .update_tokens(
                    &user,
                    current.version,
                    &tokens(&format!("w{i}"), NOW, NOW + 86_400),
                )
                .await
                .map(|_| i)
        }
    });
    let winners: Vec<usize> = futures::future::join_all(racers)
        .await
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(winners.len(), 1);
    let stored = first.get_connection(&user).await.unwrap().unwrap();
    assert_eq!(
        stored.tokens.refresh_token,
        RefreshToken::new(format!("rft.w{}", winners[0]))
    );
}

/// A raw read of the table (what an operator or a leaked backup sees) shows no
/// usable token and no state value.
#[tokio::test]
async fn a_raw_read_of_the_table_shows_no_usable_token() {
    let (store, client, table, _) = dynamo_parts().await;
    let (user, _) = connect_new_user(&*store, &tokens("raw-read-secret", NOW, NOW + 86_400)).await;
    let state_hash = tiktok_gateway::crypto::sha256_hex("state-raw-read-secret");
    store
        .put_login(&state_hash, &login(&user, NOW + 600))
        .await
        .unwrap();
    store
        .put_app_token(&AccessToken::new("clt.raw-read-secret"), NOW + 60, None)
        .await
        .unwrap();
    store
        .put_grant(
            &tiktok_gateway::crypto::sha256_hex("completion-raw-read"),
            &grant(&user, "raw-read-secret-grant", NOW + 600),
        )
        .await
        .unwrap();
    let items = client.scan().table_name(&table).send().await.unwrap();
    let raw = format!("{:?}", items.items());
    assert!(raw.contains(&user), "the scan did read the items");
    for secret in ["raw-read-secret", "verifier-123", "state-raw-read-secret"] {
        assert!(!raw.contains(secret), "{secret} is readable in the table");
    }
    // The stored ciphertext names its key id, for rotation.
    let item = client
        .get_item()
        .table_name(&table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{user}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("TIKTOK".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(item["access_token"].as_s().unwrap().starts_with("k1."));
}

/// A DynamoDB store over `table` whose secret holds only the key `key_id`.
fn store_with_key(client: &aws_sdk_dynamodb::Client, table: &str, key_id: &str) -> DynamoStore {
    store_over(client, table, secrets_with_key(key_id))
}

/// Key rotation done too early: the key a connection was sealed under is no
/// longer in the secret. The connection reads as needing a reconnect (the
/// tokens are unusable, not an error), and a new connect replaces it.
#[tokio::test]
async fn a_connection_under_a_removed_key_reads_as_reconnect_required() {
    let (_, client, table, _) = dynamo_parts().await;
    let user = user();
    let before = store_with_key(&client, &table, "k1");
    before
        .put_connection(&user, &tokens("under-k1", NOW + 3600, NOW + 86_400))
        .await
        .unwrap();
    let after = store_with_key(&client, &table, "k2");
    let read = after.get_connection(&user).await.unwrap().unwrap();
    assert_eq!(read.status, ConnectionStatus::ReconnectRequired);
    assert!(!read.tokens.access_token.expose().contains("under-k1"));
    after
        .put_connection(&user, &tokens("under-k2", NOW + 3600, NOW + 86_400))
        .await
        .unwrap();
    let again = after.get_connection(&user).await.unwrap().unwrap();
    assert_eq!(again.status, ConnectionStatus::Active);
    assert_eq!(again.tokens.access_token.expose(), "act.under-k2");
}

async fn copy_attribute(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    from: (&str, &str),
    to: (&str, &str),
    attribute: &str,
) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let key = |(pk, sk): (&str, &str)| {
        std::collections::HashMap::from([
            ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
            ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    };
    let item = client
        .get_item()
        .table_name(table)
        .set_key(Some(key(from)))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    client
        .update_item()
        .table_name(table)
        .set_key(Some(key(to)))
        .update_expression("SET #a = :v")
        .expression_attribute_names("#a", attribute)
        .expression_attribute_values(":v", item[attribute].clone())
        .send()
        .await
        .unwrap();
}

/// The associated data names the item type, so no user id (not even `app`)
/// shares the app token's context: a ciphertext moved between a user's item
/// and the app token's item does not open.
#[tokio::test]
async fn no_user_id_shares_the_app_tokens_encryption_context() {
    let (store, client, table, _) = dynamo_parts().await;
    store
        .put_connection("app", &tokens("users-own", NOW + 3600, NOW + 86_400))
        .await
        .unwrap();
    store
        .put_app_token(&AccessToken::new("clt.the-apps"), NOW + 7200, None)
        .await
        .unwrap();
    // The user's access token moved into the app token's item...
    copy_attribute(
        &client,
        &table,
        ("USER#app", "TIKTOK"),
        ("APP", "TIKTOK#client_token"),
        "access_token",
    )
    .await;
    let app = store.get_app_token().await.unwrap().unwrap();
    assert_ne!(
        app.access_token.expose(),
        "act.users-own",
        "a user's token served as the app's"
    );
    // ...and the app token moved into the user's item.
    store
        .put_app_token(
            &AccessToken::new("clt.the-apps-2"),
            NOW + 7200,
            Some(app.version),
        )
        .await
        .unwrap();
    copy_attribute(
        &client,
        &table,
        ("APP", "TIKTOK#client_token"),
        ("USER#app", "TIKTOK"),
        "access_token",
    )
    .await;
    let user = store.get_connection("app").await;
    assert!(
        !matches!(&user, Ok(Some(c)) if c.tokens.access_token.expose() == "clt.the-apps-2"),
        "the app's token served as a user's"
    );
}

/// Issue 20 item 10: the fallback for connections sealed before contexts
/// named the item type (`<sub>/<field>`) must not let a user id that looks
/// like another item's key (`APP`, `USER#x`, `GRANT#h`) open that item's
/// ciphertext.
#[tokio::test]
async fn the_legacy_context_fallback_refuses_subs_shaped_like_item_keys() {
    let (store, client, table, _) = dynamo_parts().await;
    let served = |c: &Result<Option<Connection>, StoreError>, token: &str| matches!(c, Ok(Some(c)) if c.tokens.access_token.expose() == token);
    // `APP`: the app token's context is `APP/access_token`.
    store
        .put_app_token(&AccessToken::new("clt.the-apps"), NOW + 7200, None)
        .await
        .unwrap();
    store
        .put_connection("APP", &tokens("attacker", NOW + 3600, NOW + 86_400))
        .await
        .unwrap();
    copy_attribute(
        &client,
        &table,
        ("APP", "TIKTOK#client_token"),
        ("USER#APP", "TIKTOK"),
        "access_token",
    )
    .await;
    let c = store.get_connection("APP").await;
    assert!(
        !served(&c, "clt.the-apps"),
        "the app's token served to user APP"
    );

    // `USER#victim`: the victim's own context is `USER#victim/access_token`.
    let victim = user();
    let attacker = format!("USER#{victim}");
    store
        .put_connection(&victim, &tokens("victims", NOW + 3600, NOW + 86_400))
        .await
        .unwrap();
    store
        .put_connection(&attacker, &tokens("attacker", NOW + 3600, NOW + 86_400))
        .await
        .unwrap();
    let (from, to) = (format!("USER#{victim}"), format!("USER#{attacker}"));
    copy_attribute(
        &client,
        &table,
        (from.as_str(), "TIKTOK"),
        (to.as_str(), "TIKTOK"),
        "access_token",
    )
    .await;
    let c = store.get_connection(&attacker).await;
    assert!(
        !served(&c, "act.victims"),
        "another user's token served to {attacker}"
    );

    // `GRANT#h`: a pending grant's context is `GRANT#h/access_token`.
    let hash = "0f".repeat(32);
    store
        .put_grant(
            &hash,
            &PendingGrant {
                user_id: victim.clone(),
                tokens: tokens("granted", NOW + 3600, NOW + 86_400),
                expires_at: NOW + 600,
            },
        )
        .await
        .unwrap();
    let attacker = format!("GRANT#{hash}");
    store
        .put_connection(&attacker, &tokens("attacker", NOW + 3600, NOW + 86_400))
        .await
        .unwrap();
    let to = format!("USER#{attacker}");
    copy_attribute(
        &client,
        &table,
        (attacker.as_str(), "GRANT"),
        (to.as_str(), "TIKTOK"),
        "access_token",
    )
    .await;
    let c = store.get_connection(&attacker).await;
    assert!(
        !served(&c, "act.granted"),
        "a pending grant's token served to {attacker}"
    );
}

/// The Secrets Manager adapter reads the secret over moto's real protocol.
#[tokio::test]
async fn secrets_manager_source_reads_the_app_secret() {
    let aws = test_support::moto_config();
    let client = aws_sdk_secretsmanager::Client::new(&aws);
    let name = test_support::unique("tiktok-app");
    let arn = test_support::create_secret(
        &client,
        &name,
        &test_support::secret_json("ck-moto", "cs-moto"),
    )
    .await;
    let secrets = Secrets::new(
        Arc::new(tiktok_gateway::app_secrets::SecretsManagerSource::new(
            client.clone(),
            arn,
        )),
        std::time::Duration::from_secs(300),
    );
    let app = secrets.get().await.unwrap();
    assert_eq!(app.credentials.client_key, "ck-moto");
    assert_eq!(app.credentials.client_secret.expose(), "cs-moto");
    secrets.get().await.unwrap();
    assert_eq!(secrets.fetch_count(), 1, "cached");
    let missing = Secrets::new(
        Arc::new(tiktok_gateway::app_secrets::SecretsManagerSource::new(
            client,
            "no-such-secret",
        )),
        std::time::Duration::from_secs(300),
    );
    assert!(matches!(
        missing.get().await,
        Err(tiktok_gateway::SecretsError::Unavailable(_))
    ));
}

/// A request DynamoDB refuses as malformed or aimed at a table that is not
/// there is this deployment's fault, not an outage: a 500 the operator must
/// fix, not a 503 the site should retry.
#[tokio::test]
async fn a_request_dynamodb_refuses_is_an_internal_error_not_an_outage() {
    let aws = test_support::moto_config();
    let client = aws_sdk_dynamodb::Client::new(&aws);
    // A table with another key schema: every request is a ValidationException.
    let wrong_keys = test_support::unique("wrong-keys");
    client
        .create_table()
        .table_name(&wrong_keys)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let missing = test_support::unique("never-created");
    for table in [wrong_keys, missing] {
        let store = store_over(&client, &table, secrets_with_key("k1"));
        let error = store.get_connection(&user()).await.unwrap_err();
        let error = tiktok_gateway::Error::from(error);
        assert_eq!(error.status(), 500, "{table}: {error}");
        assert_eq!(error.code(), "internal", "{table}");
    }
}
