//! template.yaml gives the token refresher and the refresh workers the same
//! refresh settings: both read `Config::from_env`, and a setting that differs
//! between them (the worker once had `REFRESH_AHEAD_SECS: "1200"` written out
//! while the refresher took the `RefreshAheadSecs` parameter) makes the worker
//! refresh on other terms than the refresher that handed it the work. Also the
//! operations wiring issue 19 added: an optional redirect URI and reserved
//! concurrency, and every alarm notifying the stack's topic.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use crate::template::template;

/// Variables only one of the two sets, on purpose.
const ONE_SIDED: &[(&str, &str)] = &[
    // The refresher sends to the queue; the worker is fed by its event source mapping.
    (
        "REFRESH_QUEUE_URL",
        "only the refresher sends to the refresh queue",
    ),
    // The refresher refreshes inline at the whole refresh rate; the worker's main
    // replaces this with its share (REFRESH_UPSTREAM_RATE_PER_SEC / REFRESH_WORKER_CONCURRENCY).
    ("UPSTREAM_RATE_PER_SEC", "the worker derives its own rate"),
];

/// Prefixes of the refresh settings `Config::from_env` reads.
const REFRESH_PREFIXES: &[&str] = &["REFRESH_", "KEEP_ALIVE_", "DUE_INDEX_"];

/// The provider and token settings a refresh depends on.
const PROVIDER_SETTINGS: &[&str] = &[
    "TABLE_NAME",
    "SECRET_ID",
    "TIKTOK_PROVIDER",
    "DATA_TOKEN_MODE",
    "TIKTOK_TOKEN_URL",
    "TIKTOK_SHOP_TOKEN_URL",
    "TIKTOK_SHOP_REFRESH_URL",
    "TIKTOK_SHOP_SERVICE_ID",
    "METRICS_STACK",
];

fn resources(t: &Value) -> &serde_yaml::Mapping {
    t["Resources"].as_mapping().expect("Resources")
}

/// The function whose binary is `binary`.
fn function<'a>(t: &'a Value, binary: &str) -> &'a Value {
    resources(t)
        .values()
        .find(|r| {
            r["Type"] == "AWS::Serverless::Function"
                && r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary)
        })
        .unwrap_or_else(|| panic!("no function {binary}"))
}

/// The environment a function runs with: Globals, then its own variables over them
/// (SAM merges the two maps, the function's value winning).
fn environment(t: &Value, binary: &str) -> BTreeMap<String, Value> {
    let mut env = BTreeMap::new();
    let layers = [
        &t["Globals"]["Function"]["Environment"]["Variables"],
        &function(t, binary)["Properties"]["Environment"]["Variables"],
    ];
    for layer in layers {
        if let Some(vars) = layer.as_mapping() {
            for (name, value) in vars {
                env.insert(
                    name.as_str().expect("variable name").to_owned(),
                    value.clone(),
                );
            }
        }
    }
    env
}

/// `Some(name)` when `value` is `!Ref name`.
fn reference(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
        _ => None,
    }
}

fn is_refresh_setting(name: &str) -> bool {
    REFRESH_PREFIXES.iter().any(|p| name.starts_with(p))
}

#[test]
fn the_refresher_and_the_workers_take_every_refresh_setting_from_the_same_place() {
    let t = template();
    let refresher = environment(&t, "token-refresher");
    let worker = environment(&t, "token-refresh-worker");
    let one_sided: BTreeSet<&str> = ONE_SIDED.iter().map(|(name, _)| *name).collect();

    let names: BTreeSet<&String> = refresher.keys().chain(worker.keys()).collect();
    let compared: Vec<&String> = names
        .into_iter()
        .filter(|n| is_refresh_setting(n) || PROVIDER_SETTINGS.contains(&n.as_str()))
        .filter(|n| !one_sided.contains(n.as_str()))
        .collect();
    for required in [
        "REFRESH_AHEAD_SECS",
        "REFRESH_WINDOW_DAYS",
        "REFRESH_ACTIVE_DAYS",
        "KEEP_ALIVE_ACTIVE_DAYS",
        "REFRESH_UPSTREAM_RATE_PER_SEC",
        "REFRESH_WORKER_CONCURRENCY",
        "TIKTOK_PROVIDER",
        "SECRET_ID",
        "TABLE_NAME",
    ] {
        assert!(
            compared.iter().any(|n| n.as_str() == required),
            "{required} is not set for the refresher and the worker"
        );
    }

    let mut problems = Vec::new();
    for name in compared {
        let (r, w) = (refresher.get(name), worker.get(name));
        if r != w {
            problems.push(format!("{name}: refresher {r:?}, worker {w:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every refresh setting is a parameter (one value a deployment chooses), never a
/// number written into one function's environment.
#[test]
fn every_refresh_setting_is_a_parameter() {
    let t = template();
    let parameters = t["Parameters"].as_mapping().expect("Parameters");
    for binary in ["token-refresher", "token-refresh-worker"] {
        for (name, value) in environment(&t, binary) {
            if !is_refresh_setting(&name) || name == "REFRESH_QUEUE_URL" {
                continue;
            }
            let target = reference(&value)
                .unwrap_or_else(|| panic!("{binary}: {name} is {value:?}, not a !Ref"));
            assert!(
                parameters.contains_key(target),
                "{binary}: {name} refers to {target}, not a parameter"
            );
        }
    }
}

/// The redirect URI and the refresher's reserved concurrency are optional: a
/// first deploy needs neither.
#[test]
fn a_first_deploy_needs_no_redirect_uri_and_reserves_no_concurrency() {
    let t = template();
    assert_eq!(
        t["Parameters"]["TikTokRedirectUri"]["Default"].as_str(),
        Some("")
    );
    assert_eq!(
        t["Parameters"]["RefresherReservedConcurrency"]["Default"].as_str(),
        Some("")
    );
    let reserved = &function(&t, "token-refresher")["Properties"]["ReservedConcurrentExecutions"];
    let text = serde_yaml::to_string(reserved).unwrap();
    assert!(
        text.contains("HasRefresherReservedConcurrency") && text.contains("AWS::NoValue"),
        "{text}"
    );
    let provider =
        serde_yaml::to_string(&t["Parameters"]["TikTokProvider"]["AllowedValues"]).unwrap();
    for value in ["research", "shop", "creator"] {
        assert!(provider.contains(value), "{provider}");
    }
}

/// Every alarm notifies the stack's own topic, so none is silent.
#[test]
fn every_alarm_notifies_the_stacks_topic() {
    let t = template();
    let mut alarms = 0;
    for (id, resource) in resources(&t) {
        if resource["Type"] != "AWS::CloudWatch::Alarm" {
            continue;
        }
        alarms += 1;
        for actions in ["AlarmActions", "OKActions"] {
            let text = serde_yaml::to_string(&resource["Properties"][actions]).unwrap();
            assert!(
                text.lines()
                    .any(|line| line.trim_start_matches(['-', ' ']) == "!Ref AlarmTopic"),
                "{id:?}: {actions} {text}"
            );
        }
    }
    // Errors and Throttles for each of the eleven functions, and the stack's others.
    assert!(alarms >= 22 + 8, "{alarms} alarms");
}
