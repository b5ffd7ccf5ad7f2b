//! The local stack matches what `sam deploy` creates, and works over HTTP.

use std::collections::BTreeSet;

use local_api::{Function, Options, ROUTES};

fn binary(function: Function) -> &'static str {
    match function {
        Function::LoginRedirect => "login-redirect",
        Function::OAuthCallback => "oauth-callback",
        Function::Disconnect => "disconnect",
        Function::ConnectionStatus => "connection-status",
        Function::Search => "search",
        Function::ShopLookup => "shop-lookup",
        Function::ProductLookup => "product-lookup",
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

#[tokio::test]
async fn one_command_serves_the_page_and_the_api_with_the_authorizers_rules() {
    let stack = local_api::start(Options {
        port: 0,
        refresh_every: None,
        ..Options::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let page = http
        .get(format!("{}/", stack.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("id=\"connect\""));

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
        .bearer_auth("local:alice")
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    let body: serde_json::Value = status.json().await.unwrap();
    assert_eq!(body["connected"], false);

    let unknown = http
        .get(format!("{}/nope", stack.base_url))
        .bearer_auth("local:alice")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let login = http
        .get(format!("{}/auth/tiktok/login", stack.base_url))
        .bearer_auth("local:alice")
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
