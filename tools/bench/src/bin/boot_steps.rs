//! Where a function's start-up time goes: the steps of `tiktok_gateway::boot`
//! done one by one and timed, printed as `step microseconds` lines. Built with the
//! release profile like the functions; `bench boot-steps` runs it many times.

use std::time::Instant;

use tiktok_gateway::{Config, TikTokClient};

#[tokio::main]
async fn main() {
    let started = Instant::now();
    let mut last = started;
    let mut step = |name: &str| {
        let now = Instant::now();
        println!("{name} {}", (now - last).as_micros());
        last = now;
    };
    tiktok_gateway::init_tracing();
    step("tracing subscriber (JSON, RUST_LOG filter)");
    let config = Config::from_env().unwrap_or_else(|e| panic!("{e}"));
    step("config from the environment");
    drop(tiktok_gateway::aws::http_client());
    step("AWS HTTP client (its trust store built on first use)");
    let aws = tiktok_gateway::boot::load_aws().await;
    step("boot::load_aws (its HTTP client again, region and credentials from the environment)");
    let http = TikTokClient::http_client(&config.tiktok).unwrap_or_else(|e| panic!("{e}"));
    step("TikTok reqwest client (rustls, Mozilla roots)");
    drop(http);
    let state = tiktok_gateway::boot::from_aws(config, &aws).unwrap_or_else(|e| panic!("{e}"));
    step("boot::from_aws (store, secrets, TikTok client; AWS clients lazy)");
    drop(state);
    println!("total {}", started.elapsed().as_micros());
}
