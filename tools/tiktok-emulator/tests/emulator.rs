//! The emulator as a client sees it, over loopback HTTP.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use sha2::Digest;
use tiktok_emulator::{
    catalogue::SUNNY_HOME_GOODS, Emulator, EmulatorConfig, Fault, Knobs, RunningEmulator,
};

const REDIRECT: &str = "https://api.dshipit.com/auth/tiktok/callback";

async fn emulator() -> RunningEmulator {
    Emulator::spawn(EmulatorConfig {
        redirect_uris: vec![REDIRECT.into()],
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

async fn token_call(e: &RunningEmulator, form: &[(&str, &str)]) -> (u16, Value) {
    let config = e.emulator.config();
    let mut all = vec![
        ("client_key", config.client_key.as_str()),
        ("client_secret", config.client_secret.as_str()),
    ];
    all.extend_from_slice(form);
    let answer = http()
        .post(format!("{}/v2/oauth/token/", e.base_url))
        .form(&all)
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap())
}

async fn connect(e: &RunningEmulator) -> Value {
    let code = e.emulator.issue_code(REDIRECT);
    let (status, body) = token_call(
        e,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn research(
    e: &RunningEmulator,
    endpoint: &str,
    token: &str,
    fields: &str,
    body: Value,
) -> (u16, Value, String) {
    let answer = http()
        .post(format!("{}/v2/research/tts/{endpoint}/", e.base_url))
        .query(&[("fields", fields)])
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

fn authorize_url(e: &RunningEmulator, client_key: &str, redirect: &str) -> String {
    let mut url = url::Url::parse(&format!("{}/v2/auth/authorize/", e.base_url)).unwrap();
    url.query_pairs_mut()
        .append_pair("client_key", client_key)
        .append_pair("scope", "user.info.basic,research.data.basic")
        .append_pair("redirect_uri", redirect)
        .append_pair("state", "s-1")
        .append_pair("response_type", "code");
    url.into()
}

#[tokio::test]
async fn the_consent_screen_checks_the_app_and_redirects_with_a_code_or_the_denial() {
    let e = emulator().await;
    let key = e.emulator.config().client_key.clone();
    let page = http()
        .get(authorize_url(&e, &key, REDIRECT))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("id=\"approve\"") && html.contains("id=\"deny\""),
        "{html}"
    );

    for (key, redirect) in [
        ("someone-else", REDIRECT),
        (
            key.as_str(),
            "https://api.dshipit.com/auth/tiktok/callback/",
        ),
    ] {
        let refused = http()
            .get(authorize_url(&e, key, redirect))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400, "{key} {redirect}");
    }

    let decide = |decision: &'static str| {
        let e = &e;
        let key = key.clone();
        async move {
            let form = [
                ("client_key", key.as_str()),
                ("redirect_uri", REDIRECT),
                ("state", "s-1"),
                ("scope", "user.info.basic,research.data.basic"),
                ("decision", decision),
            ];
            let answer = http()
                .post(format!("{}/v2/auth/authorize/decision/", e.base_url))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 303);
            url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap()
        }
    };
    let approved = decide("approve").await;
    assert!(approved.as_str().starts_with(REDIRECT));
    let query: std::collections::HashMap<_, _> = approved.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "s-1");
    assert_eq!(query["scopes"], "user.info.basic,research.data.basic");
    let (status, _) = token_call(
        &e,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query["code"]),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200);

    let denied = decide("deny").await;
    let query: std::collections::HashMap<_, _> = denied.query_pairs().into_owned().collect();
    assert_eq!(query["error"], "access_denied");
    assert!(!query.contains_key("code"));
}

#[tokio::test]
async fn a_code_works_once_only_with_its_redirect_uri_and_its_pkce_verifier() {
    let e = emulator().await;
    let code = e.emulator.issue_code(REDIRECT);
    let wrong = token_call(
        &e,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://x/cb"),
        ],
    )
    .await;
    assert_eq!(
        (wrong.0, wrong.1["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let burnt = token_call(
        &e,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        burnt.1["error"], "invalid_grant",
        "a code is single use, even after a failed try"
    );

    let code = e.emulator.issue_code(REDIRECT);
    let ok = token_call(
        &e,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(ok.0, 200);
    for key in [
        "open_id",
        "scope",
        "access_token",
        "refresh_token",
        "expires_in",
        "refresh_expires_in",
    ] {
        assert!(!ok.1[key].is_null(), "{key}: {}", ok.1);
    }
    let again = token_call(
        &e,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(again.1["error"], "invalid_grant");

    // PKCE, through the consent form.
    let verifier = "a-long-enough-verifier-0123456789-abcdefghijklmnop";
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier));
    let config = e.emulator.config();
    let answer = http()
        .post(format!("{}/v2/auth/authorize/decision/", e.base_url))
        .form(&[
            ("client_key", config.client_key.as_str()),
            ("redirect_uri", REDIRECT),
            ("state", "s"),
            ("scope", "user.info.basic"),
            ("code_challenge", &challenge),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let code: String = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let bad = token_call(
        &e,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", "wrong"),
        ],
    )
    .await;
    assert_eq!(bad.1["error"], "invalid_grant");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_only_one_of_sixteen_racers_wins() {
    let e = emulator().await;
    let grant = connect(&e).await;
    let first = grant["refresh_token"].as_str().unwrap().to_owned();
    let (status, rotated) = token_call(
        &e,
        &[("grant_type", "refresh_token"), ("refresh_token", &first)],
    )
    .await;
    assert_eq!(status, 200);
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert!(
        e.emulator.is_current_refresh_token(&second)
            && !e.emulator.is_current_refresh_token(&first)
    );
    let (status, reused) = token_call(
        &e,
        &[("grant_type", "refresh_token"), ("refresh_token", &first)],
    )
    .await;
    assert_eq!(
        (status, reused["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let racers = (0..16).map(|_| {
        let second = second.clone();
        let e = &e;
        async move {
            token_call(
                e,
                &[("grant_type", "refresh_token"), ("refresh_token", &second)],
            )
            .await
            .0
        }
    });
    let statuses = futures::future::join_all(racers).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    let stats = e.emulator.stats();
    assert_eq!(stats.refresh_rotated, 2);
    assert_eq!(stats.refresh_refused, 16);
}

#[tokio::test]
async fn client_credentials_have_no_refresh_token_and_revoke_ends_a_grant() {
    let e = emulator().await;
    let (status, client) = token_call(&e, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 200);
    assert!(client["refresh_token"].is_null());
    let (status, _, _) = research(
        &e,
        "shop",
        client["access_token"].as_str().unwrap(),
        "shop_id",
        serde_json::json!({"shop_name": "sunny"}),
    )
    .await;
    assert_eq!(status, 200, "the Research API takes client tokens");

    let grant = connect(&e).await;
    let access = grant["access_token"].as_str().unwrap();
    let config = e.emulator.config();
    let revoked = http()
        .post(format!("{}/v2/oauth/revoke/", e.base_url))
        .form(&[
            ("client_key", config.client_key.as_str()),
            ("client_secret", config.client_secret.as_str()),
            ("token", access),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, body, _) = research(
        &e,
        "shop",
        access,
        "shop_id",
        serde_json::json!({"shop_name": "sunny"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("access_token_invalid"))
    );
    assert!(!e
        .emulator
        .is_current_refresh_token(grant["refresh_token"].as_str().unwrap()));

    let (status, bad) = token_call(&e, &[("grant_type", "password")]).await;
    assert_eq!(
        (status, bad["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

#[tokio::test]
async fn research_honours_fields_pages_without_gaps_and_keeps_64_bit_ids() {
    let e = emulator().await;
    let token = connect(&e).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, shops, raw) = research(
        &e,
        "shop",
        &token,
        "shop_id,shop_name",
        serde_json::json!({"shop_name": "sunny"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(shops["error"]["code"], "ok");
    let shop = &shops["data"]["shop_data"][0];
    assert_eq!(shop["shop_name"], "Sunny Home Goods");
    assert_eq!(shop["shop_id"].as_u64(), Some(SUNNY_HOME_GOODS));
    assert!(
        raw.contains("7494754040961993092"),
        "the id is written exactly: {raw}"
    );
    assert_eq!(
        shop.as_object().unwrap().len(),
        2,
        "only the asked fields: {shop}"
    );

    let mut seen = std::collections::BTreeSet::new();
    let mut page = 1;
    loop {
        let body = serde_json::json!({"shop_id": SUNNY_HOME_GOODS.to_string(), "page_start": page, "page_size": 10});
        let (status, answer, _) = research(
            &e,
            "product",
            &token,
            "product_id,product_name,product_price",
            body,
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        let products = answer["data"]["product_data"].as_array().unwrap();
        for p in products {
            let id = p["product_id"].as_u64().unwrap();
            assert!(id > 1 << 53);
            assert!(seen.insert(id), "product {id} twice");
            assert!(p.get("product_sold_count").is_none());
        }
        if !answer["data"]["has_more"].as_bool().unwrap() {
            break;
        }
        page += 1;
    }
    assert!((30..=80).contains(&seen.len()), "{}", seen.len());

    let product = *seen.iter().next().unwrap();
    let (status, reviews, _) = research(
        &e,
        "review",
        &token,
        "review_text,review_rating",
        serde_json::json!({"product_id": product, "page_size": 5}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(reviews["data"]["review_data"].as_array().unwrap().len() <= 5);

    for (fields, body) in [
        ("", serde_json::json!({"shop_name": "sunny"})),
        (
            "shop_id,secret_field",
            serde_json::json!({"shop_name": "sunny"}),
        ),
    ] {
        let (status, answer, _) = research(&e, "shop", &token, fields, body).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some("invalid_params")),
            "{fields}"
        );
    }
    let (status, answer, _) = research(
        &e,
        "product",
        &token,
        "product_id",
        serde_json::json!({"shop_id": SUNNY_HOME_GOODS, "page_size": 11}),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("invalid_params"))
    );

    e.emulator.expire_access_tokens();
    let (status, answer, _) = research(
        &e,
        "shop",
        &token,
        "shop_id",
        serde_json::json!({"shop_name": "sunny"}),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (401, Some("access_token_invalid"))
    );
}

#[tokio::test]
async fn knobs_rate_limit_delay_and_break_answers() {
    let e = emulator().await;
    let token = connect(&e).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let shop = || {
        research(
            &e,
            "shop",
            &token,
            "shop_id",
            serde_json::json!({"shop_name": "sunny"}),
        )
    };

    e.emulator.set_knobs(Knobs {
        rate_limit_per_sec: Some(2),
        retry_after_secs: Some(3),
        ..Knobs::default()
    });
    let mut limited = None;
    for _ in 0..6 {
        let answer = http()
            .post(format!("{}/v2/research/tts/shop/", e.base_url))
            .query(&[("fields", "shop_id")])
            .bearer_auth(&token)
            .json(&serde_json::json!({"shop_name": "sunny"}))
            .send()
            .await
            .unwrap();
        if answer.status() == 429 {
            limited = Some(answer.headers()["retry-after"].to_str().unwrap().to_owned());
        }
    }
    assert_eq!(limited.as_deref(), Some("3"));
    assert!(e.emulator.stats().rate_limited > 0);

    e.emulator.set_knobs(Knobs {
        fault: Some(Fault::ServerError),
        fail_next: 1,
        ..Knobs::default()
    });
    assert_eq!(shop().await.0, 500);
    assert_eq!(shop().await.0, 200, "only the next one failed");

    e.emulator.set_knobs(Knobs {
        fault: Some(Fault::MalformedJson),
        fail_next: 1,
        ..Knobs::default()
    });
    let (status, body, _) = shop().await;
    assert_eq!((status, body), (200, Value::Null), "not JSON");

    e.emulator.set_knobs(Knobs {
        fault: Some(Fault::EnvelopeError),
        fail_next: 1,
        ..Knobs::default()
    });
    let (status, body, _) = shop().await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (200, Some("internal_error"))
    );

    e.emulator.set_knobs(Knobs {
        fault: Some(Fault::ConnectionReset),
        fail_next: 1,
        ..Knobs::default()
    });
    let reset = http()
        .post(format!("{}/v2/research/tts/shop/", e.base_url))
        .query(&[("fields", "shop_id")])
        .bearer_auth(&token)
        .json(&serde_json::json!({"shop_name": "sunny"}))
        .send()
        .await;
    let body = match reset {
        Ok(answer) => answer.bytes().await.map(|_| ()),
        Err(error) => Err(error),
    };
    assert!(
        body.is_err(),
        "the client sees a broken connection, not an answer"
    );

    e.emulator.set_knobs(Knobs {
        latency_ms: 200,
        ..Knobs::default()
    });
    let started = Instant::now();
    assert_eq!(shop().await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));

    let stats = e.emulator.stats();
    assert!(stats.count("shop") >= 11, "{stats:?}");
    assert_eq!(stats.count("token:authorization_code"), 1);
    assert_eq!(stats.faults, 4);
}
