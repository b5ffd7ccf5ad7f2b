//! The Affiliate Creator side as a client sees it, over loopback HTTP, with a
//! signer written here from the signing rules (not the emulator's).

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tiktok_emulator::creator::creator_identity;
use tiktok_emulator::partner::PartnerConfig;
use tiktok_emulator::{Emulator, EmulatorConfig, RunningEmulator};

const REDIRECT: &str = "https://api.example.test/auth/tiktok-shop/callback";
const SEARCH: &str = "/affiliate_creator/202405/open_collaborations/products/search";
const BY_IDS: &str = "/affiliate_creator/202509/open_collaborations/products";
const PROFILE: &str = "/affiliate_creator/202508/profiles";

async fn emulator() -> RunningEmulator {
    Emulator::spawn(EmulatorConfig {
        partner: PartnerConfig {
            redirect_uri: REDIRECT.into(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The signing rules: drop sign/access_token/empty, sort by key, `key value`
/// pairs after the path, then the body, wrapped in the secret; HMAC-SHA256 hex.
fn sign(secret: &str, path: &str, query: &[(String, String)], body: &[u8]) -> String {
    let mut pairs: Vec<_> = query
        .iter()
        .filter(|(k, v)| k != "sign" && k != "access_token" && !v.is_empty())
        .collect();
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut text = secret.to_owned() + path;
    for (k, v) in pairs {
        text.push_str(k);
        text.push_str(v);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    mac.update(body);
    mac.update(secret.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Api<'a> {
    e: &'a RunningEmulator,
    token: String,
}

impl Api<'_> {
    /// A signed call; `tamper` breaks the signature.
    async fn raw(
        &self,
        get: bool,
        path: &str,
        extra: &[(&str, &str)],
        body: Option<&str>,
        tamper: bool,
    ) -> (u16, Value) {
        let config = self.e.emulator.partner().config();
        let mut query: Vec<(String, String)> = vec![
            ("app_key".into(), config.app_key.clone()),
            ("timestamp".into(), now().to_string()),
        ];
        query.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        let body = body.unwrap_or_default();
        let mut signature = sign(&config.app_secret, path, &query, body.as_bytes());
        if tamper {
            signature = signature.replace('a', "b").replace('0', "1");
        }
        query.push(("sign".into(), signature));
        let mut url = url::Url::parse(&format!("{}{path}", self.e.base_url)).unwrap();
        url.query_pairs_mut().extend_pairs(&query);
        let request = if get {
            http().get(url)
        } else {
            http().post(url).body(body.to_owned())
        };
        let answer = request
            .header("x-tts-access-token", &self.token)
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.json().await.unwrap())
    }

    async fn search(&self, extra: &[(&str, &str)], body: &Value) -> (u16, Value) {
        self.raw(false, SEARCH, extra, Some(&body.to_string()), false)
            .await
    }

    async fn by_ids(&self, ids: &str, body: Option<&str>) -> (u16, Value) {
        self.raw(false, BY_IDS, &[("product_ids", ids)], body, false)
            .await
    }

    async fn profile(&self) -> (u16, Value) {
        self.raw(true, PROFILE, &[], None, false).await
    }
}

/// Submits the creator page's form; answers the redirect's query.
async fn decide(e: &RunningEmulator, form: &[(&str, &str)]) -> url::Url {
    let app_key = e.emulator.partner().config().app_key.clone();
    let mut all = vec![("app_key", app_key.as_str()), ("state", "st-42")];
    all.extend_from_slice(form);
    let answer = http()
        .post(format!("{}/alliance/creator/auth/decision", e.base_url))
        .form(&all)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_redirection(), "{}", answer.status());
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    url::Url::parse(&location).unwrap()
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn token_get(e: &RunningEmulator, code: &str) -> Value {
    let config = e.emulator.partner().config();
    http()
        .get(format!("{}/api/v2/token/get", e.base_url))
        .query(&[
            ("app_key", config.app_key.as_str()),
            ("app_secret", config.app_secret.as_str()),
            ("auth_code", code),
            ("grant_type", "authorized_code"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn token_refresh(e: &RunningEmulator, refresh: &str) -> Value {
    let config = e.emulator.partner().config();
    http()
        .get(format!("{}/api/v2/token/refresh", e.base_url))
        .query(&[
            ("app_key", config.app_key.as_str()),
            ("app_secret", config.app_secret.as_str()),
            ("refresh_token", refresh),
            ("grant_type", "refresh_token"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

const ALL_SCOPES: &[(&str, &str)] = &[
    ("scope", "creator.affiliate_collaboration.read"),
    ("scope", "creator.affiliate.info"),
];

/// Approves on the page with `form` (plus decision=approve) and redeems the code.
async fn connect(e: &RunningEmulator, form: &[(&str, &str)]) -> Value {
    let mut all = vec![("decision", "approve")];
    all.extend_from_slice(form);
    let back = decide(e, &all).await;
    let code = param(&back, "code").unwrap();
    let answer = token_get(e, &code).await;
    assert_eq!(answer["code"], 0, "{answer}");
    answer["data"].clone()
}

async fn creator(e: &RunningEmulator) -> Api<'_> {
    let data = connect(e, ALL_SCOPES).await;
    Api {
        e,
        token: data["access_token"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test]
async fn the_creator_page_approves_with_a_creator_token_or_denies() {
    let e = emulator().await;
    let app_key = e.emulator.partner().config().app_key.clone();
    let page = |query: Vec<(&'static str, String)>| {
        let url = format!("{}/alliance/creator/auth", e.base_url);
        async move { http().get(url).query(&query).send().await.unwrap() }
    };
    let ok = page(vec![("app_key", app_key.clone()), ("state", "s1".into())]).await;
    assert_eq!(ok.status(), 200);
    let html = ok.text().await.unwrap();
    for id in [
        "approve",
        "deny",
        "as-seller",
        "market",
        "scope-creator-affiliate_collaboration-read",
        "scope-creator-affiliate-info",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    let wrong = page(vec![("app_key", "nope".into()), ("state", "s1".into())]).await;
    assert_eq!(wrong.status(), 400);
    assert!(wrong.text().await.unwrap().contains("<html"));
    let stateless = page(vec![("app_key", app_key.clone())]).await;
    assert_eq!(stateless.status(), 400);

    let back = decide(&e, &[("decision", "approve")]).await;
    assert_eq!(param(&back, "state").as_deref(), Some("st-42"));
    assert_eq!(param(&back, "app_key"), Some(app_key));
    let data = token_get(&e, &param(&back, "code").unwrap()).await["data"].clone();
    assert_eq!(data["user_type"], 1);
    assert_eq!(data["open_id"], creator_identity("US").0);
    assert_eq!(data["seller_name"], "");
    assert!(data["access_token_expire_in"].as_u64().unwrap() > now());
    assert!(data["refresh_token_expire_in"].as_u64().unwrap() > now());

    let data = connect(&e, ALL_SCOPES).await;
    assert_eq!(
        data["granted_scopes"],
        json!([
            "creator.affiliate_collaboration.read",
            "creator.affiliate.info"
        ])
    );

    let denied = decide(&e, &[("decision", "deny")]).await;
    assert_eq!(param(&denied, "error").as_deref(), Some("auth_denied"));
    assert_eq!(param(&denied, "state").as_deref(), Some("st-42"));
    assert_eq!(param(&denied, "code"), None);

    let stats: Value = http()
        .get(format!("{}/__emulator/creator/stats", e.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["token_get"], 2);
}

#[tokio::test]
async fn a_seller_account_gets_a_seller_token_that_creator_paths_refuse() {
    let e = emulator().await;
    let mut form = ALL_SCOPES.to_vec();
    form.push(("as_seller", "1"));
    let data = connect(&e, &form).await;
    assert_eq!(data["user_type"], 0);
    assert!(data["granted_scopes"][0]
        .as_str()
        .unwrap()
        .starts_with("seller."));
    let api = Api {
        e: &e,
        token: data["access_token"].as_str().unwrap().to_owned(),
    };
    let (status, body) = api.search(&[("page_size", "20")], &json!({})).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(101000)));
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("invalid user_type"));
}

#[tokio::test]
async fn a_creator_token_is_refused_on_a_seller_path() {
    let e = emulator().await;
    let api = creator(&e).await;
    let (status, body) = api
        .raw(true, "/authorization/202309/shops", &[], None, false)
        .await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(101000)));
}

#[tokio::test]
async fn an_unticked_scope_is_105005_and_the_other_scope_still_works() {
    let e = emulator().await;
    let data = connect(&e, &[("scope", "creator.affiliate.info")]).await;
    assert_eq!(data["granted_scopes"], json!(["creator.affiliate.info"]));
    let api = Api {
        e: &e,
        token: data["access_token"].as_str().unwrap().to_owned(),
    };
    let (_, body) = api.search(&[("page_size", "20")], &json!({})).await;
    assert_eq!(body["code"], 105005);
    assert_eq!(body["message"], "you should apply auth pkg for this api");
    assert_eq!(api.profile().await.1["code"], 0);
}

#[tokio::test]
async fn bad_signatures_ciphers_and_page_sizes_are_refused() {
    let e = emulator().await;
    let api = creator(&e).await;
    let (status, body) = api
        .raw(false, SEARCH, &[("page_size", "20")], Some("{}"), true)
        .await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(106001)));
    let (_, body) = api
        .search(
            &[("page_size", "20"), ("shop_cipher", "GCP_x+y/z=")],
            &json!({}),
        )
        .await;
    assert_eq!(body["code"], 36009004);
    assert!(body["message"].as_str().unwrap().contains("Unexpected"));
    for size in ["21", "0", ""] {
        let (status, body) = api.search(&[("page_size", size)], &json!({})).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (400, Some(36009004)),
            "{size}"
        );
    }
    let too_many: Vec<String> = (0..21).map(|i| format!("k{i}")).collect();
    let (status, _) = api
        .search(&[("page_size", "20")], &json!({"title_keywords": too_many}))
        .await;
    assert_eq!(status, 400);
    let unknown = Api {
        e: &e,
        token: "TTP_never_issued".into(),
    };
    let (status, body) = unknown.profile().await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(36009004)));
}

#[tokio::test]
async fn yoga_mats_by_units_sold_page_exactly_with_opaque_tokens() {
    let e = emulator().await;
    let api = creator(&e).await;
    let filter = json!({"title_keywords": ["yoga", "mat"]});
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    let mut escaped = false;
    loop {
        let mut query = vec![
            ("page_size", "20"),
            ("sort_field", "units_sold"),
            ("sort_order", "DESC"),
        ];
        if !token.is_empty() {
            query.push(("page_token", token.as_str()));
        }
        let (status, body) = api.search(&query, &filter).await;
        assert_eq!((status, body["code"].as_i64()), (200, Some(0)), "{body}");
        let data = &body["data"];
        assert_eq!(data["total_count"], 48);
        let products = data["products"].as_array().unwrap();
        pages += 1;
        seen.extend(products.iter().cloned());
        token = data["next_page_token"].as_str().unwrap().to_owned();
        escaped |= token.contains('+') || token.contains('/') || token.contains('=');
        if token.is_empty() {
            break;
        }
        assert_eq!(products.len(), 20);
    }
    assert!(escaped, "page tokens need percent-encoding");
    assert_eq!((pages, seen.len()), (3, 48));
    let ids: HashSet<&str> = seen.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 48);
    for p in &seen {
        let title = p["title"].as_str().unwrap().to_lowercase();
        assert!(title.contains("yoga") && title.contains("mat"), "{title}");
        assert_eq!(p["sale_region"], "US");
        assert_eq!(p["sales_price"]["currency"], "USD");
    }
    // Present units_sold never increase; absent ones come last.
    let units: Vec<Option<u64>> = seen.iter().map(|p| p["units_sold"].as_u64()).collect();
    let present = units.iter().take_while(|u| u.is_some()).count();
    assert!(present < 48, "some yoga mats lack units_sold");
    assert!(units[present..].iter().all(Option::is_none));
    assert!(units[..present].windows(2).all(|w| w[0] >= w[1]));

    // One keyword with a space, any case, finds the same products.
    let (_, body) = api
        .search(
            &[("page_size", "20")],
            &json!({"title_keywords": ["YOGA MAT"]}),
        )
        .await;
    assert_eq!(body["data"]["total_count"], 48);
    // A page token from another query is refused.
    let (status, _) = api
        .search(
            &[("page_size", "20"), ("page_token", "+/+/MjA6eHl6")],
            &filter,
        )
        .await;
    assert_eq!(status, 400);
}

fn cents(amount: &str) -> i64 {
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    whole.parse::<i64>().unwrap() * 100 + format!("{fraction:0<2}")[..2].parse::<i64>().unwrap()
}

#[tokio::test]
async fn price_commission_and_category_filters_narrow_the_search() {
    let e = emulator().await;
    let api = creator(&e).await;
    let all = api.search(&[("page_size", "20")], &json!({})).await.1["data"]["total_count"]
        .as_u64()
        .unwrap();
    assert_eq!(all, 960);

    let (_, body) = api
        .search(
            &[("page_size", "20"), ("sort_field", "commission_rate")],
            &json!({"commission_rate_range": {"rate_ge": 1000, "rate_lt": 3000}}),
        )
        .await;
    let data = &body["data"];
    let total = data["total_count"].as_u64().unwrap();
    assert!(total > 0 && total < all);
    let rates: Vec<i64> = data["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["commission"]["rate"].as_i64().unwrap())
        .collect();
    assert!(rates.iter().all(|r| (1000..3000).contains(r)));
    assert!(rates.windows(2).all(|w| w[0] <= w[1]));

    let (_, body) = api
        .search(
            &[
                ("page_size", "20"),
                ("sort_field", "product_sales_price"),
                ("sort_order", "DESC"),
            ],
            &json!({"sales_price_range": {"amount_ge": "10", "amount_lt": "20.49"}}),
        )
        .await;
    let products = body["data"]["products"].as_array().unwrap();
    assert!(!products.is_empty());
    let prices: Vec<i64> = products
        .iter()
        .map(|p| cents(p["sales_price"]["minimum_amount"].as_str().unwrap()))
        .collect();
    assert!(
        prices.iter().all(|c| (1000..2049).contains(c)),
        "{prices:?}"
    );
    assert!(prices.windows(2).all(|w| w[0] >= w[1]));

    let (_, body) = api
        .search(
            &[("page_size", "20")],
            &json!({"category": {"id": "601450"}}),
        )
        .await;
    assert!(body["data"]["products"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["category_chains"][0]["id"] == "601450"
            && p["category_chains"][0]["parent_id"] == "0"));
    let (status, _) = api
        .search(
            &[("page_size", "20")],
            &json!({"category": {"id": "605220"}}),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn by_ids_returns_what_exists_and_units_sold_can_be_absent() {
    let e = emulator().await;
    let api = creator(&e).await;
    // US product 3 lacks units_sold; 1731016000000000000 is Indonesian.
    let ids = "1731000000000000003,1731016000000000000,1729432087292775344";
    for body in [None, Some("{}")] {
        let (status, answer) = api.by_ids(ids, body).await;
        assert_eq!(
            (status, answer["code"].as_i64()),
            (200, Some(0)),
            "{answer}"
        );
        let products = answer["data"]["products"].as_array().unwrap();
        assert_eq!(products.len(), 2);
        assert!(products[0].get("units_sold").is_none());
        assert!(products[0]["shop_ads_commission"]["rate"]
            .as_i64()
            .is_some());
        assert_eq!(products[1]["sales_price"]["currency"], "IDR");
        assert!(!products[1]["sales_price"]["minimum_amount"]
            .as_str()
            .unwrap()
            .contains('.'));
        assert!(products[0]["main_image_url"]
            .as_str()
            .unwrap()
            .starts_with(&e.base_url));
    }
    let (_, answer) = api.by_ids("1729432087292775344", None).await;
    assert_eq!(answer["data"]["products"], json!([]));
    let many: Vec<String> = (0..21)
        .map(|i| format!("17310000000000000{i:02}"))
        .collect();
    let (status, _) = api.by_ids(&many.join(","), None).await;
    assert_eq!(status, 400);
    // The image is served.
    let (_, answer) = api.by_ids("1731000000000000001", None).await;
    let image = answer["data"]["products"][0]["main_image_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let served = http().get(image).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/svg+xml");
}

#[tokio::test]
async fn the_profile_and_the_no_sale_region_knob() {
    let e = emulator().await;
    let api = creator(&e).await;
    let (_, body) = api.profile().await;
    let data = &body["data"];
    let (open_id, username) = creator_identity("US");
    assert_eq!(data["creator_user_open_id"], open_id);
    assert_eq!(data["username"], username);
    assert_eq!(data["selection_region"], "US");
    assert_eq!(data["user_type"], "TIKTOK_SHOP_CREATOR");
    assert!(data["avatar"]["url"].as_str().is_some());
    http()
        .post(format!("{}/__emulator/creator/no-sale-region", e.base_url))
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    let (_, body) = api.profile().await;
    assert_eq!(body["code"], 16015007);
}

#[tokio::test]
async fn an_indonesian_creator_searches_in_rupiah() {
    let e = emulator().await;
    let mut form = ALL_SCOPES.to_vec();
    form.push(("market", "ID"));
    let data = connect(&e, &form).await;
    assert_eq!(data["open_id"], creator_identity("ID").0);
    let api = Api {
        e: &e,
        token: data["access_token"].as_str().unwrap().to_owned(),
    };
    let (_, body) = api
        .search(
            &[("page_size", "20")],
            &json!({"title_keywords": ["yoga", "mat"]}),
        )
        .await;
    assert_eq!(body["data"]["total_count"], 36);
    for p in body["data"]["products"].as_array().unwrap() {
        assert_eq!(p["sale_region"], "ID");
        assert_eq!(p["sales_price"]["currency"], "IDR");
        assert!(!p["sales_price"]["minimum_amount"]
            .as_str()
            .unwrap()
            .contains('.'));
    }
    assert_eq!(api.profile().await.1["data"]["selection_region"], "ID");
}

#[tokio::test]
async fn knobs_force_429_and_105005_and_stats_count() {
    let e = emulator().await;
    let api = creator(&e).await;
    let knob = |path: &str, body: Value| {
        let url = format!("{}/__emulator/creator/{path}", e.base_url);
        async move { http().post(url).json(&body).send().await.unwrap() }
    };
    assert!(knob("stats/reset", json!({})).await.status().is_success());
    knob("rate-limit", json!({"next": 2})).await;
    for _ in 0..2 {
        let (status, body) = api.profile().await;
        assert_eq!((status, body["code"].as_i64()), (429, Some(36009002)));
    }
    assert_eq!(api.profile().await.1["code"], 0);
    knob("scope-error", json!({"next": 1})).await;
    assert_eq!(
        api.search(&[("page_size", "5")], &json!({})).await.1["code"],
        105005
    );
    assert_eq!(
        api.search(&[("page_size", "5")], &json!({})).await.1["code"],
        0
    );
    api.by_ids("1731000000000000001", None).await;
    let stats: Value = http()
        .get(format!("{}/__emulator/creator/stats", e.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["profile"], 3);
    assert_eq!(stats["search"], 2);
    assert_eq!(stats["by_ids"], 1);
    assert_eq!(stats["rate_limited"], 2);
}

#[tokio::test]
async fn refresh_rotates_expiry_is_105002_and_reuse_revokes_the_grant() {
    let e = emulator().await;
    let data = connect(&e, ALL_SCOPES).await;
    let first_refresh = data["refresh_token"].as_str().unwrap().to_owned();
    let mut api = Api {
        e: &e,
        token: data["access_token"].as_str().unwrap().to_owned(),
    };
    http()
        .post(format!(
            "{}/__emulator/creator/expire-access-tokens",
            e.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(api.profile().await.1["code"], 105002);

    let rotated = token_refresh(&e, &first_refresh).await;
    assert_eq!(rotated["code"], 0, "{rotated}");
    assert_eq!(rotated["data"]["user_type"], 1);
    let second_refresh = rotated["data"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second_refresh, first_refresh);
    api.token = rotated["data"]["access_token"].as_str().unwrap().to_owned();
    assert_eq!(api.profile().await.1["code"], 0);
    // Reuse without detection: refused, the grant lives on.
    assert_eq!(token_refresh(&e, &first_refresh).await["code"], 36004005);
    assert_eq!(api.profile().await.1["code"], 0);

    let answer = http()
        .post(format!("{}/__emulator/creator/reuse-detection", e.base_url))
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(answer["reuse_detection"], true);
    assert_eq!(token_refresh(&e, &first_refresh).await["code"], 36004005);
    let (status, body) = api.profile().await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(105001)));
    assert_eq!(token_refresh(&e, &second_refresh).await["code"], 36004005);
    let stats: Value = http()
        .get(format!("{}/__emulator/creator/stats", e.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["token_refresh"], 4);
}
