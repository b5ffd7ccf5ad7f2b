//! `local-api`: the whole API on localhost. See the README's "Run it locally".

use std::time::Duration;

fn usage() -> ! {
    eprintln!(
        "usage: local-api [--port N] [--page-port N] [--dynamodb-endpoint URL] [--table NAME]\n\
         \x20                [--real-tiktok SECRET_JSON_FILE] [--access-ttl SECS]\n\
         \x20                [--refresh-every SECS|off] [--token-mode user|app]\n\
         \x20                [--provider research|shop|creator]\n\
         \x20                [--sqs-endpoint URL]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    tiktok_gateway::init_tracing();
    let mut options = local_api::Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--port" => options.port = value().parse().unwrap_or_else(|_| usage()),
            "--page-port" => options.page_port = Some(value().parse().unwrap_or_else(|_| usage())),
            "--dynamodb-endpoint" => options.dynamodb_endpoint = Some(value()),
            "--table" => options.table = value(),
            "--real-tiktok" => options.real_tiktok_secret_file = Some(value()),
            "--access-ttl" => {
                options.emulator_access_ttl = value().parse().unwrap_or_else(|_| usage())
            }
            "--refresh-every" => {
                options.refresh_every = match value().as_str() {
                    "off" => None,
                    secs => Some(Duration::from_secs(
                        secs.parse().unwrap_or_else(|_| usage()),
                    )),
                }
            }
            "--token-mode" => options.token_mode = value(),
            "--provider" => options.provider = value(),
            "--sqs-endpoint" => options.sqs_endpoint = Some(value()),
            _ => usage(),
        }
    }
    let stack = local_api::start(options).await.unwrap_or_else(|e| {
        eprintln!("local-api: cannot start: {e}");
        std::process::exit(1)
    });
    println!("dshipit site (demo page) on {}/", stack.page_url);
    println!("dshipit API on {}/", stack.base_url);
    if let Some(emulator) = &stack.emulator {
        println!("TikTok emulator on {}", emulator.base_url);
    }
    let _ = tokio::signal::ctrl_c().await;
}
