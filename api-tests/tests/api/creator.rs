//! `TIKTOK_PROVIDER=creator` end to end against the emulator's Affiliate
//! Creator API: connect through the creator authorization page, the refusals
//! of a seller account and of a partial grant, the marketplace search with
//! its sort and paging, product lookup by id, and what the provider refuses.

use tiktok_emulator::RunningEmulator;
use tiktok_gateway::AppState;

use crate::harness::*;

const CALLBACK: &str = "https://api.dshipit.com/auth/tiktok/callback";

async fn stack() -> (AppState, RunningEmulator) {
    let partner = tiktok_emulator::partner::PartnerConfig {
        app_key: APP_KEY.into(),
        app_secret: APP_SECRET.into(),
        service_id: SERVICE_ID.into(),
        redirect_uri: CALLBACK.into(),
        ..Default::default()
    };
    let tiktok = tiktok_emulator::Emulator::spawn(tiktok_emulator::EmulatorConfig {
        partner,
        ..Default::default()
    })
    .await
    .unwrap();
    let authorize = format!("{}/alliance/creator/auth", tiktok.base_url);
    let state = shop_state(
        &tiktok.base_url,
        &[
            ("TIKTOK_PROVIDER", "creator"),
            ("TIKTOK_CREATOR_AUTHORIZE_URL", &authorize),
        ],
    )
    .await;
    (state, tiktok)
}

/// The creator goes through login, the emulator's page (`form` decides) and
/// the callback; a completion id is completed as `user`. The site URL the
/// browser lands on.
async fn connect(
    state: &AppState,
    tiktok: &RunningEmulator,
    user: &str,
    form: &[(&str, &str)],
) -> url::Url {
    let response = login_redirect::handler(state, get("/auth/tiktok/login", &[], Some(user)))
        .await
        .unwrap();
    let authorize = location(&response);
    assert!(
        authorize.path().ends_with("/alliance/creator/auth"),
        "{authorize}"
    );
    assert_eq!(query_of(&authorize, "app_key").as_deref(), Some(APP_KEY));
    assert!(query_of(&authorize, "service_id").is_none());
    assert!(query_of(&authorize, "redirect_uri").is_none());
    let state_value = query_of(&authorize, "state").unwrap();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser.get(authorize.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let mut decision: Vec<(&str, &str)> = vec![("app_key", APP_KEY), ("state", &state_value)];
    decision.extend_from_slice(form);
    let back = browser
        .post(format!(
            "{}/alliance/creator/auth/decision",
            tiktok.base_url
        ))
        .form(&decision)
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 303);
    let callback = url::Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
    let query: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
    let query: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let back = oauth_callback::handler(state, callback_request(&query))
        .await
        .unwrap();
    assert_eq!(back.status(), 302);
    let site = location(&back);
    if let Some(completion) = query_of(&site, "tiktokCompletion") {
        let done = oauth_complete::handler(state, complete_request(Some(user), &completion))
            .await
            .unwrap();
        assert_eq!(done.status(), 200, "{}", body_json(&done));
    }
    site
}

const APPROVE_ALL: &[(&str, &str)] = &[
    ("decision", "approve"),
    ("scope", "creator.affiliate_collaboration.read"),
    ("scope", "creator.affiliate.info"),
    ("market", "US"),
];

async fn call(
    state: &AppState,
    user: &str,
    route: &str,
    query: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let req = get(route, query, Some(user));
    let response = if route.ends_with("/search") {
        search::handler(state, req).await
    } else if route.contains("/products/") {
        product_lookup::handler(state, req).await
    } else {
        shop_lookup::handler(state, req).await
    }
    .unwrap();
    (response.status().as_u16(), body_json(&response))
}

#[tokio::test]
async fn a_creator_connects_searches_the_marketplace_pages_on_and_opens_a_product() {
    let (state, tiktok) = stack().await;
    let site = connect(&state, &tiktok, "creator-1", APPROVE_ALL).await;
    assert!(query_of(&site, "tiktokCompletion").is_some(), "{site}");

    // The status shows the creator, never a token.
    let status =
        connection_status::handler(&state, get("/auth/tiktok/status", &[], Some("creator-1")))
            .await
            .unwrap();
    let text = match status.body() {
        lambda_http::Body::Text(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    let status: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(status["connected"], true);
    assert_eq!(status["creator"]["username"], "fitwithjo");
    assert_eq!(status["creator"]["selectionRegion"], "US");
    assert!(!text.contains("TTP_"), "{text}");

    // "yoga mat", best-selling, 20 at a time.
    let (code, first) = call(
        &state,
        "creator-1",
        "/api/tiktok/search",
        &[
            ("query", "yoga mat"),
            ("sort", "best_selling"),
            ("pageSize", "20"),
        ],
    )
    .await;
    assert_eq!(code, 200, "{first}");
    let products = first["products"].as_array().unwrap();
    assert_eq!(products.len(), 20);
    assert_eq!(first["totalCount"], 48);
    assert_eq!(first["hasMore"], true);
    let sold: Vec<u64> = products
        .iter()
        .filter_map(|p| p["orders_count"].as_u64())
        .collect();
    assert!(sold.windows(2).all(|w| w[0] >= w[1]), "{sold:?}");
    for p in products {
        let title = p["product_title"].as_str().unwrap().to_lowercase();
        assert!(title.contains("yoga") && title.contains("mat"), "{title}");
        assert_eq!(p["currency"], "USD");
        assert!(p["commission_rate"].is_string(), "{p}");
        assert!(p["product_main_image_url"]
            .as_str()
            .unwrap()
            .starts_with("http"));
        assert_ne!(p["supplier"], "TikTok Shop");
    }

    // The next page continues exactly: no product twice.
    let cursor = first["nextCursor"].as_str().unwrap();
    let (code, second) = call(
        &state,
        "creator-1",
        "/api/tiktok/search",
        &[
            ("query", "yoga mat"),
            ("sort", "best_selling"),
            ("pageSize", "20"),
            ("cursor", cursor),
        ],
    )
    .await;
    assert_eq!(code, 200, "{second}");
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["product_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (a, b) = (ids(&first), ids(&second));
    assert_eq!(b.len(), 20);
    assert!(b.iter().all(|id| !a.contains(id)));

    // A site page of 50 chains three upstream pages.
    let (code, fifty) = call(
        &state,
        "creator-1",
        "/api/tiktok/search",
        &[("query", "yoga mat"), ("pageSize", "50")],
    )
    .await;
    assert_eq!(code, 200, "{fifty}");
    assert_eq!(fifty["products"].as_array().unwrap().len(), 48);
    assert_eq!(fifty["hasMore"], false);

    // Product lookup by id alone.
    let id = &a[0];
    let (code, product) = call(
        &state,
        "creator-1",
        &format!("/api/tiktok/products/{id}"),
        &[],
    )
    .await;
    assert_eq!(code, 200, "{product}");
    assert_eq!(product["product"]["product_id"], id.as_str());
    let (code, missing) = call(
        &state,
        "creator-1",
        "/api/tiktok/products/1731999000000000001",
        &[],
    )
    .await;
    assert_eq!(code, 404, "{missing}");
}

#[tokio::test]
async fn what_the_creator_provider_refuses_is_a_clear_4xx_or_501() {
    let (state, tiktok) = stack().await;
    connect(&state, &tiktok, "creator-2", APPROVE_ALL).await;
    for (query, needle) in [
        (vec![("query", "mat"), ("shopId", "7000")], "shopId"),
        (vec![("query", "mat"), ("sort", "cheapest")], "sort"),
        (vec![("query", "mat"), ("minPrice", "abc")], "minPrice"),
        (vec![("minPrice", "30"), ("maxPrice", "10")], "minPrice"),
        (vec![("minCommissionRate", "81")], "minCommissionRate"),
        (vec![("category", "x1")], "category"),
    ] {
        let (code, body) = call(&state, "creator-2", "/api/tiktok/search", &query).await;
        assert_eq!(code, 400, "{query:?}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{body}"
        );
    }
    let words = vec!["w"; 21].join(" ");
    let (code, body) = call(
        &state,
        "creator-2",
        "/api/tiktok/search",
        &[("query", &words)],
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("20 words"));
    let (code, body) = call(
        &state,
        "creator-2",
        "/api/tiktok/shops",
        &[("name", "lotus")],
    )
    .await;
    assert_eq!(code, 501, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("creator"));
}

#[tokio::test]
async fn a_seller_account_and_a_partial_grant_are_refused_and_nothing_is_stored() {
    let (state, tiktok) = stack().await;
    let site = connect(
        &state,
        &tiktok,
        "seller-3",
        &[
            ("decision", "approve"),
            ("as_seller", "1"),
            ("market", "US"),
        ],
    )
    .await;
    assert_eq!(
        query_of(&site, "tiktokError").as_deref(),
        Some("not_a_creator")
    );
    assert!(state
        .store
        .get_connection("seller-3")
        .await
        .unwrap()
        .is_none());

    let site = connect(
        &state,
        &tiktok,
        "creator-4",
        &[
            ("decision", "approve"),
            ("scope", "creator.affiliate.info"),
            ("market", "US"),
        ],
    )
    .await;
    assert_eq!(
        query_of(&site, "tiktokError").as_deref(),
        Some("missing_scope")
    );
    assert!(state
        .store
        .get_connection("creator-4")
        .await
        .unwrap()
        .is_none());
}
