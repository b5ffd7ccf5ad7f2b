//! Least privilege, proven against what the code really does: each function runs
//! its flows (success, token refresh, app-token mode) against moto through a
//! recording proxy, and the AWS actions it made must be exactly the actions
//! template.yaml grants it: nothing missing (the deploy would fail at run time),
//! nothing extra. Also: one secret per function, indexes only for the refresher,
//! and CORS without a wildcard origin.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;
use test_support::Recorder;
use tiktok_gateway::queue::RefreshQueue;

use crate::harness::*;
use crate::template::template;

const PRODUCT: u64 = 1_729_000_000_000_000_001;

fn as_strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(as_strings).collect(),
        other => vec![serde_yaml::to_string(other).unwrap().trim().to_owned()],
    }
}

/// A resource as written (`!Ref AppSecretArn`, `!GetAtt Table.Arn`, `!Sub ...`).
fn describe(resource: &Value) -> Vec<String> {
    match resource {
        Value::Sequence(items) => items.iter().flat_map(describe).collect(),
        other => vec![serde_yaml::to_string(other).unwrap().trim().to_owned()],
    }
}

/// Binary name → (action → resources) from each function's inline policies.
fn granted() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let template = template();
    let mut out = BTreeMap::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut actions: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for policy in resource["Properties"]["Policies"].as_sequence().unwrap() {
            let statements = policy["Statement"].as_sequence().unwrap_or_else(|| {
                panic!("{binary}: only inline policy documents, no managed policies or templates")
            });
            for statement in statements {
                assert_eq!(statement["Effect"], "Allow", "{binary}");
                for action in as_strings(&statement["Action"]) {
                    actions
                        .entry(action)
                        .or_default()
                        .extend(describe(&statement["Resource"]));
                }
            }
        }
        out.insert(binary, actions);
    }
    out
}

/// Runs `flow` on a fresh moto-backed state behind a recorder. The flow sets up
/// what it needs, calls `cold(&h, &recorder)` for the function's own state (a
/// new container: nothing cached, the secret not yet fetched), runs the function
/// with it, and returns `recorder.take()`: the distinct actions the function made.
async fn observe<F, Fut>(extra: &[(&str, &str)], flow: F) -> Observed
where
    F: FnOnce(Harness, Recorder) -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let recorder = Recorder::start(&test_support::moto_endpoint()).await;
    let h = Harness::moto_through(&test_support::aws_config_for(&recorder.endpoint), extra).await;
    friendly_tiktok(&h, PRODUCT).await;
    let actions = flow(h, recorder.clone()).await.into_iter().collect();
    let keys = recorder.taken_leading_keys().into_iter().collect();
    Observed { actions, keys }
}

/// What one function did: its AWS actions, and each DynamoDB action with the
/// leading key (partition key prefix, `USER#`) it touched.
#[derive(Default)]
struct Observed {
    actions: BTreeSet<String>,
    keys: BTreeSet<(String, String)>,
}

impl Observed {
    fn extend(&mut self, other: Observed) {
        self.actions.extend(other.actions);
        self.keys.extend(other.keys);
    }
}

/// A cold container's state over the same table and secret, behind `recorder`,
/// on the harness's clock; forgets the set-up's calls.
fn cold(h: &Harness, recorder: &Recorder) -> tiktok_gateway::AppState {
    let aws = test_support::aws_config_for(&recorder.endpoint);
    let state =
        tiktok_gateway::boot::from_aws_at((*h.state.config).clone(), &aws, h.state.clock().clone())
            .unwrap();
    recorder.forget();
    state
}

fn ok(response: lambda_http::Response<lambda_http::Body>, what: &str) {
    assert!(
        response.status().as_u16() < 400,
        "{what}: {}",
        response.status()
    );
}

/// Both token modes.
const MODES: [&[(&str, &str)]; 2] = [&[], &[("DATA_TOKEN_MODE", "app")]];

/// Every action a function makes across its flows.
async fn observed(binary: &str) -> Observed {
    let mut actions = Observed::default();
    match binary {
        "login-redirect" => {
            actions.extend(
                observe(&[], |h, r| async move {
                    let c = cold(&h, &r);
                    let login =
                        login_redirect::handler(&c, get("/auth/tiktok/login", &[], Some("u1")));
                    ok(login.await.unwrap(), "login");
                    r.take()
                })
                .await,
            );
        }
        "oauth-callback" => {
            for outcome in [("code", "c1"), ("error", "access_denied")] {
                actions.extend(
                    observe(&[], |h, r| async move {
                        let login = login_redirect::handler(
                            &h.state,
                            get("/auth/tiktok/login", &[], Some("u1")),
                        );
                        let login = login.await.unwrap();
                        let state = query_of(&location(&login), "state").unwrap();
                        let c = cold(&h, &r);
                        let query = [outcome, ("state", state.as_str())];
                        let answer = oauth_callback::handler(&c, callback_request(&query));
                        ok(answer.await.unwrap(), "callback");
                        r.take()
                    })
                    .await,
                );
            }
        }
        "oauth-complete" => {
            actions.extend(
                observe(&[], |h, r| async move {
                    let login = login_redirect::handler(
                        &h.state,
                        get("/auth/tiktok/login", &[], Some("u1")),
                    );
                    let state = query_of(&location(&login.await.unwrap()), "state").unwrap();
                    let query = [("code", "c1"), ("state", state.as_str())];
                    let back = oauth_callback::handler(&h.state, callback_request(&query));
                    let completion = completion_of(&back.await.unwrap());
                    let c = cold(&h, &r);
                    let answer =
                        oauth_complete::handler(&c, complete_request(Some("u1"), &completion));
                    ok(answer.await.unwrap(), "complete");
                    r.take()
                })
                .await,
            );
            // A seller's grant: its shops point back at the user.
            actions.extend(
                observe(&[], |h, r| async move {
                    let mut tokens = tokens("seller", h.now(), 3600);
                    tokens.account = Some(tiktok_gateway::store::SellerAccount {
                        shops: vec![tiktok_gateway::store::SellerShop {
                            id: SHOP.into(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    });
                    let completion = tiktok_gateway::crypto::random_token(32);
                    let grant = tiktok_gateway::store::PendingGrant {
                        user_id: "u1".into(),
                        tokens,
                        expires_at: h.now() + 600,
                    };
                    h.state
                        .store
                        .put_grant(&tiktok_gateway::crypto::sha256_hex(&completion), &grant)
                        .await
                        .unwrap();
                    let c = cold(&h, &r);
                    let answer =
                        oauth_complete::handler(&c, complete_request(Some("u1"), &completion));
                    ok(answer.await.unwrap(), "complete a seller's grant");
                    r.take()
                })
                .await,
            );
        }
        "disconnect" => {
            actions.extend(
                observe(&[], |h, r| async move {
                    h.connect("u1", "old", 3600).await;
                    let c = cold(&h, &r);
                    let request = disconnect_request(Some("u1"));
                    ok(
                        disconnect::handler(&c, request).await.unwrap(),
                        "disconnect",
                    );
                    r.take()
                })
                .await,
            );
        }
        "connection-status" => {
            actions.extend(
                observe(&[], |h, r| async move {
                    h.connect("u1", "old", 3600).await;
                    let c = cold(&h, &r);
                    let request = get("/auth/tiktok/status", &[], Some("u1"));
                    ok(
                        connection_status::handler(&c, request).await.unwrap(),
                        "status",
                    );
                    r.take()
                })
                .await,
            );
        }
        "search" | "shop-lookup" | "product-lookup" => {
            for extra in MODES {
                let binary = binary.to_owned();
                actions.extend(
                    observe(extra, |h, r| async move {
                        h.connect("u1", "old", 10).await; // expired: the call refreshes first
                        let c = cold(&h, &r);
                        let user = Some("u1");
                        let path = format!("/api/tiktok/products/{PRODUCT}");
                        let calls = match binary.as_str() {
                            "search" => 1,
                            "shop-lookup" => 1,
                            _ => 2, // from the listing, then from the cache
                        };
                        for _ in 0..calls {
                            let response = match binary.as_str() {
                                "search" => {
                                    let q = [("shopId", SHOP), ("query", "lipstick")];
                                    search::handler(&c, get("/api/tiktok/search", &q, user)).await
                                }
                                "shop-lookup" => {
                                    let q = [("name", "beauty")];
                                    shop_lookup::handler(&c, get("/api/tiktok/shops", &q, user))
                                        .await
                                }
                                _ => {
                                    product_lookup::handler(
                                        &c,
                                        get(&path, &[("shopId", SHOP)], user),
                                    )
                                    .await
                                }
                            };
                            ok(response.unwrap(), &binary);
                        }
                        r.take()
                    })
                    .await,
                );
            }
        }
        "token-refresher" => {
            for extra in MODES {
                actions.extend(
                    observe(extra, |h, r| async move {
                        h.connect("due", "old", 60).await;
                        // In app mode the shared client token is due too.
                        let token = tiktok_gateway::AccessToken::new("clt.old");
                        h.state
                            .store
                            .put_app_token(&token, h.now() + 60, None)
                            .await
                            .unwrap();
                        let c = cold(&h, &r);
                        let summary = token_refresher::run(&c, deadline_in(20)).await.unwrap();
                        assert_eq!(summary.refreshed, 1, "{summary:?}");
                        if c.config.token_mode == tiktok_gateway::TokenMode::App {
                            assert!(summary.app_token_refreshed, "{summary:?}");
                        }
                        r.take()
                    })
                    .await,
                );
            }
            // More due than the run can do: it hands the work to the queue.
            actions.extend(
                observe(&[], |h, r| async move {
                    h.connect("due", "old", 60).await;
                    let url = fresh_queue("iam-fan-out").await;
                    let c = cold(&h, &r);
                    let queue = tiktok_gateway::queue::SqsQueue::lazy(
                        &test_support::aws_config_for(&r.endpoint),
                        url,
                    );
                    let no_time = tokio::time::Instant::now();
                    let summary = token_refresher::run_with(&c, Some(&queue), no_time)
                        .await
                        .unwrap();
                    assert_eq!(summary.enqueued, 1, "{summary:?}");
                    r.take()
                })
                .await,
            );
        }
        "token-refresh-worker" => {
            actions.extend(
                observe(&[], |h, r| async move {
                    h.connect("due", "old", 60).await;
                    let url = fresh_queue("iam-refresh").await;
                    tiktok_gateway::queue::SqsQueue::lazy(
                        &test_support::moto_config(),
                        url.clone(),
                    )
                    .send(&tiktok_gateway::queue::batches(&["due".to_owned()], 50))
                    .await
                    .unwrap();
                    let c = cold(&h, &r);
                    // The event source polls with the worker's role: played here
                    // through the recorder too.
                    let polled = token_refresh_worker::event_source::EventSource::new(
                        aws_sdk_sqs::Client::new(&test_support::aws_config_for(&r.endpoint)),
                        url,
                        10,
                    );
                    let polled = polled.poll_once(&c, 0, deadline_in(20)).await.unwrap();
                    assert_eq!((polled.received, polled.retried), (1, 0));
                    let mut made = r.take();
                    // Lambda's SQS event source also reads the queue's attributes
                    // (to validate it) with this role; the stand-in does not.
                    made.push("sqs:GetQueueAttributes".to_owned());
                    made
                })
                .await,
            );
        }
        "tiktok-shop-webhook" => {
            // A deauthorization (the connection wiped and marked), then its replay.
            actions.extend(
                observe(&[], |h, r| async move {
                    let mut tokens = tokens("seller", h.now(), 3600);
                    tokens.account = Some(tiktok_gateway::store::SellerAccount {
                        shops: vec![tiktok_gateway::store::SellerShop {
                            id: SHOP.into(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    });
                    h.state.store.put_connection("u1", &tokens).await.unwrap();
                    let c = cold(&h, &r);
                    let body = serde_json::json!({"type": 6, "tts_notification_id": "1",
                        "shop_id": SHOP, "timestamp": h.now(), "data": {}})
                    .to_string();
                    let signature = tiktok_gateway::tiktok::shop::webhook_signature(
                        APP_KEY,
                        APP_SECRET,
                        body.as_bytes(),
                    );
                    for _ in 0..2 {
                        let request = test_support::api_event_with_body(
                            "POST",
                            "/webhooks/tiktok-shop",
                            None,
                            &[("authorization", &signature)],
                            &body,
                        );
                        ok(
                            tiktok_shop_webhook::handler(&c, request).await.unwrap(),
                            "webhook",
                        );
                    }
                    r.take()
                })
                .await,
            );
        }
        other => panic!("no flows for {other}"),
    }
    actions
}

#[tokio::test]
async fn each_function_is_granted_exactly_the_aws_actions_it_makes() {
    let granted = granted();
    assert_eq!(granted.len(), 11, "{:?}", granted.keys());
    let mut problems = Vec::new();
    for (binary, actions) in &granted {
        let made = observed(binary).await.actions;
        let grants: BTreeSet<String> = actions.keys().cloned().collect();
        let missing: Vec<_> = made.difference(&grants).collect();
        let unused: Vec<_> = grants.difference(&made).collect();
        if !missing.is_empty() || !unused.is_empty() {
            problems.push(format!(
                "{binary}: makes but not granted {missing:?}; granted but never made {unused:?}"
            ));
        }
        for (action, resources) in actions {
            let allowed: &[&str] = match action.split(':').next().unwrap() {
                "secretsmanager" => &["AppSecretArn"],
                "sqs" => &["RefreshQueue.Arn"],
                _ => &["Table.Arn"],
            };
            for resource in resources {
                assert!(
                    allowed.iter().any(|a| resource.contains(a)) && !resource.contains('*')
                        || resource.ends_with("/index/*"),
                    "{binary}: {action} on {resource}"
                );
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// One DynamoDB statement of a function's policy.
struct TableGrant {
    actions: Vec<String>,
    on_index: bool,
    /// `dynamodb:LeadingKeys` patterns (`USER#*`, `APP`), if conditioned.
    leading_keys: Option<Vec<String>>,
}

/// Binary name → its DynamoDB statements.
fn table_grants() -> BTreeMap<String, Vec<TableGrant>> {
    let template = template();
    let mut out = BTreeMap::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut grants = Vec::new();
        for policy in resource["Properties"]["Policies"].as_sequence().unwrap() {
            for statement in policy["Statement"].as_sequence().unwrap() {
                let actions = as_strings(&statement["Action"]);
                if !actions.iter().any(|a| a.starts_with("dynamodb:")) {
                    continue;
                }
                let condition =
                    &statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
                grants.push(TableGrant {
                    actions,
                    on_index: describe(&statement["Resource"])
                        .iter()
                        .all(|r| r.ends_with("/index/*")),
                    leading_keys: (!condition.is_null()).then(|| as_strings(condition)),
                });
            }
        }
        out.insert(binary, grants);
    }
    out
}

/// Whether `dynamodb:LeadingKeys` pattern `pattern` (`USER#*`, `APP`) allows
/// the partition keys the recorder summarised as `key` (`USER#`, `APP`).
fn allows(pattern: &str, key: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix) && key.ends_with('#'),
        None => pattern == key,
    }
}

/// Issue 20 item 7: each function's table statements carry a
/// `dynamodb:LeadingKeys` condition naming exactly the key prefixes its flows
/// touch (recorded from the requests it really made): the public callback
/// cannot write any item, the public webhook cannot read or update any item.
/// Index queries (the refresher's, on a keys-only index of connections) are
/// the one unconditioned statement.
#[tokio::test]
async fn each_functions_table_access_is_limited_to_the_key_prefixes_it_touches() {
    let mut problems = Vec::new();
    for (binary, grants) in table_grants() {
        if grants.is_empty() {
            continue;
        }
        for grant in &grants {
            if !grant.on_index && grant.leading_keys.is_none() {
                problems.push(format!(
                    "{binary}: {:?} has no LeadingKeys condition",
                    grant.actions
                ));
            }
        }
        let made = observed(&binary).await.keys;
        println!("{binary}: {made:?}");
        for (action, key) in &made {
            let allowed = grants.iter().any(|g| {
                g.actions.contains(action)
                    && match key.strip_prefix("index:") {
                        Some(_) => g.on_index,
                        None => g
                            .leading_keys
                            .iter()
                            .flatten()
                            .any(|pattern| allows(pattern, key)),
                    }
            });
            if !allowed {
                problems.push(format!("{binary}: {action} on `{key}…` is not granted"));
            }
        }
        for grant in &grants {
            for pattern in grant.leading_keys.iter().flatten() {
                let used = made
                    .iter()
                    .any(|(action, key)| grant.actions.contains(action) && allows(pattern, key));
                if !used {
                    problems.push(format!(
                        "{binary}: {pattern} granted for {:?} but never touched",
                        grant.actions
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn only_the_refresher_may_query_an_index_and_every_function_reads_one_secret() {
    for (binary, actions) in granted() {
        let secrets: BTreeSet<_> = actions
            .iter()
            .filter(|(a, _)| a.starts_with("secretsmanager:"))
            .flat_map(|(_, r)| r.clone())
            .collect();
        assert_eq!(secrets.len(), 1, "{binary}: {secrets:?}");
        assert!(
            secrets.iter().all(|s| s.contains("AppSecretArn")),
            "{binary}: {secrets:?}"
        );
        let indexes = actions.values().flatten().any(|r| r.contains("/index/"));
        assert_eq!(indexes, binary == "token-refresher", "{binary}");
    }
}

#[test]
fn cors_allows_only_the_site_origins_with_credentials() {
    let template = template();
    let api = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .find(|r| r["Type"] == "AWS::Serverless::HttpApi")
        .expect("an HttpApi");
    let cors = &api["Properties"]["DefinitionBody"]["x-amazon-apigateway-cors"];
    assert_eq!(cors["allowCredentials"], true);
    let origins = serde_yaml::to_string(&cors["allowOrigins"]).unwrap();
    assert!(
        origins.contains("SiteOrigins") && !origins.contains('*'),
        "{origins}"
    );
    assert!(
        api["Properties"]["CorsConfiguration"].is_null(),
        "CORS is configured in one place"
    );
}

/// A new SQS queue (and its dead-letter queue) in moto, named after `name`: its URL.
async fn fresh_queue(name: &str) -> String {
    let sqs = aws_sdk_sqs::Client::new(&test_support::moto_config());
    let (url, _) = tiktok_gateway::queue::create_queue(&sqs, &test_support::unique(name), 30)
        .await
        .unwrap();
    url
}
