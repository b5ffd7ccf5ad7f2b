//! The local stack matches what `sam deploy` creates, and works over HTTP.

use std::collections::BTreeSet;

use local_api::{Function, LocalStack, Options, ROUTES};

fn binary(function: Function) -> &'static str {
    match function {
        Function::LoginRedirect => "login-redirect",
        Function::OAuthCallback => "oauth-callback",
        Function::OAuthComplete => "oauth-complete",
        Function::Disconnect => "disconnect",
        Function::ConnectionStatus => "connection-status",
        Function::Search => "search",
        Function::ShopLookup => "shop-lookup",
        Function::ProductLookup => "product-lookup",
        Function::TikTokShopWebhook => "tiktok-shop-webhook",
    }
}

#[test]
fn the_local_routes_are_the_templates_routes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let template: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(root.join("template.yaml")).unwrap())
            .unwrap();
    let mut deployed = BTreeSet::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        let bin = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for (_, event) in events.iter().filter(|(_, e)| e["Type"] == "HttpApi") {
            let props = &event["Properties"];
            deployed.insert((
                props["Method"].as_str().unwrap().to_uppercase(),
                props["Path"].as_str().unwrap().to_owned(),
                bin.clone(),
                props["Auth"]["Authorizer"].as_str() != Some("NONE"),
            ));
        }
    }
    let local: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                binary(r.function).to_owned(),
                r.authorizer,
            )
        })
        .collect();
    assert_eq!(local, deployed);
}

/// The list the bench and the event tests go through names exactly the
/// functions the routes invoke.
#[test]
fn the_http_functions_are_the_ones_the_routes_invoke() {
    let routed: BTreeSet<_> = ROUTES.iter().map(|r| binary(r.function)).collect();
    let listed: BTreeSet<_> = apigw_event::HTTP_FUNCTIONS.iter().copied().collect();
    assert_eq!(routed, listed);
    assert_eq!(
        listed.len(),
        apigw_event::HTTP_FUNCTIONS.len(),
        "listed once each"
    );
}

/// The local authorizer's bearer token for the user `alice`.
const ALICE: &str = "local:alice";

/// The stack on free ports, without its background refresher.
async fn start() -> LocalStack {
    local_api::start(Options {
        port: 0,
        refresh_every: None,
        ..Options::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn one_command_serves_the_page_and_the_api_with_the_authorizers_rules() {
    let stack = start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // The page lives on another site than the API, and knows where the API is.
    assert!(
        stack.page_url.starts_with("http://localhost:"),
        "{}",
        stack.page_url
    );
    assert!(
        stack.base_url.starts_with("http://127.0.0.1:"),
        "{}",
        stack.base_url
    );
    let page = http
        .get(format!("{}/", stack.page_url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"connect\""));
    assert!(
        html.contains(&stack.base_url),
        "the page calls the API cross-site"
    );
    let to_page = http
        .get(format!("{}/", stack.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        to_page.headers()["location"].to_str().unwrap(),
        format!("{}/", stack.page_url)
    );

    let anonymous = http
        .get(format!("{}/auth/tiktok/status", stack.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        401,
        "no identity, as API Gateway's authorizer would refuse"
    );

    let status = http
        .get(format!("{}/auth/tiktok/status", stack.base_url))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    let body: serde_json::Value = status.json().await.unwrap();
    assert_eq!(body["connected"], false);

    let unknown = http
        .get(format!("{}/nope", stack.base_url))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let login = http
        .get(format!("{}/auth/tiktok/login", stack.base_url))
        .bearer_auth(ALICE)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let authorize: serde_json::Value = login.json().await.unwrap();
    let emulator = stack.emulator.as_ref().unwrap();
    assert!(authorize["authorizeUrl"]
        .as_str()
        .unwrap()
        .starts_with(&emulator.base_url));
}

/// DNS rebinding: a page on `evil.example` whose name now resolves to 127.0.0.1
/// reaches the local stack with `Host: evil.example:<port>`; it is refused
/// before any route runs (the API and the page alike).
#[tokio::test]
async fn a_foreign_host_header_is_refused() {
    let stack = start().await;
    let http = reqwest::Client::new();
    for (url, path) in [
        (&stack.base_url, "/auth/tiktok/status"),
        (&stack.base_url, "/__local/refresher/run"),
        (&stack.page_url, "/"),
    ] {
        let port = url.rsplit(':').next().unwrap();
        let address = format!("http://127.0.0.1:{port}{path}");
        for host in [format!("evil.example:{port}"), "evil.example".to_owned()] {
            let refused = http
                .get(&address)
                .header("host", &host)
                .bearer_auth(ALICE)
                .send()
                .await
                .unwrap();
            assert_eq!(refused.status(), 421, "{host} {path}");
        }
        let own = http.get(&address).bearer_auth(ALICE).send().await.unwrap();
        assert_ne!(own.status(), 421, "{path}");
    }
}

/// CORS as the template configures it: the site's origin with credentials, no
/// other origin; preflights answered before the authorizer.
#[tokio::test]
async fn cors_allows_the_demo_sites_origin_only() {
    let stack = start().await;
    let http = reqwest::Client::new();
    let status = format!("{}/auth/tiktok/status", stack.base_url);
    let preflight = http
        .request(reqwest::Method::OPTIONS, &status)
        .header("origin", &stack.page_url)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        stack.page_url.as_str()
    );
    assert!(preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("authorization"));
    let foreign = http
        .get(&status)
        .header("origin", "https://evil.example")
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

/// Issue 20 item 11: a page on any site can send a "simple" cross-site POST
/// (no preflight) to the local stack; the control routes need a header such a
/// request cannot carry (`X-Local-Control: 1`).
#[tokio::test]
async fn a_cross_site_simple_post_to_a_control_route_is_refused() {
    let stack = start().await;
    let http = reqwest::Client::new();
    let run = format!("{}/__local/refresher/run", stack.base_url);
    let simple = http
        .post(&run)
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(simple.status(), 403);
    let ours = http
        .post(&run)
        .header("x-local-control", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(ours.status(), 200);
}
