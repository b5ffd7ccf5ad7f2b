//! template.yaml, openapi.yaml and the functions agree: every route the template
//! deploys is documented and vice versa, and each points at the function that
//! serves it.

use std::collections::BTreeSet;

use serde_yaml::Value;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(root().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// template.yaml, parsed.
pub fn template() -> Value {
    load("template.yaml")
}

/// (METHOD, path, function binary, authorizer) for every HttpApi event.
pub fn template_routes() -> BTreeSet<(String, String, String, bool)> {
    let template = template();
    let mut routes = BTreeSet::new();
    let resources = template["Resources"].as_mapping().expect("Resources");
    for (_, resource) in resources {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_default();
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let props = &event["Properties"];
            let authorizer = props["Auth"]["Authorizer"].as_str() != Some("NONE");
            routes.insert((
                props["Method"].as_str().expect("Method").to_uppercase(),
                props["Path"].as_str().expect("Path").to_owned(),
                binary.clone(),
                authorizer,
            ));
        }
    }
    routes
}

#[test]
fn every_deployed_route_is_documented_and_every_documented_route_deployed() {
    let deployed: BTreeSet<(String, String)> = template_routes()
        .into_iter()
        .map(|(m, p, _, _)| (m, p))
        .collect();
    let openapi = load("openapi.yaml");
    let mut documented = BTreeSet::new();
    for (path, item) in openapi["paths"].as_mapping().expect("paths") {
        for (method, _) in item.as_mapping().expect("path item") {
            let method = method.as_str().unwrap();
            if ["get", "post", "put", "patch", "delete"].contains(&method) {
                documented.insert((method.to_uppercase(), path.as_str().unwrap().to_owned()));
            }
        }
    }
    assert_eq!(deployed, documented);
    assert_eq!(deployed.len(), 9);
}

#[test]
fn each_route_runs_the_function_named_for_it_and_only_the_callback_and_webhook_are_public() {
    let expected: BTreeSet<(String, String, String, bool)> = [
        ("GET", "/auth/tiktok/login", "login-redirect", true),
        ("GET", "/auth/tiktok/callback", "oauth-callback", false),
        ("POST", "/auth/tiktok/complete", "oauth-complete", true),
        ("POST", "/auth/tiktok/disconnect", "disconnect", true),
        ("GET", "/auth/tiktok/status", "connection-status", true),
        ("GET", "/api/tiktok/search", "search", true),
        ("GET", "/api/tiktok/shops", "shop-lookup", true),
        (
            "GET",
            "/api/tiktok/products/{productId}",
            "product-lookup",
            true,
        ),
        // Authenticated by its HMAC signature, not a JWT.
        (
            "POST",
            "/webhooks/tiktok-shop",
            "tiktok-shop-webhook",
            false,
        ),
    ]
    .into_iter()
    .map(|(m, p, f, a)| (m.to_owned(), p.to_owned(), f.to_owned(), a))
    .collect();
    assert_eq!(template_routes(), expected);
}
