//! `tiktok-emulator`: the TikTok stand-in as a process, for benchmarks and for
//! pointing a function (or `cargo lambda watch`) at by hand.

use tiktok_emulator::{Emulator, EmulatorConfig};

fn usage() -> ! {
    eprintln!(
        "usage: tiktok-emulator [--port N] [--redirect-uri URL]... [--access-ttl SECS]\n\
         \x20                     [--rate-limit N] [--latency-ms N]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut config = EmulatorConfig::default();
    let mut port = 8787;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--port" => port = value().parse().unwrap_or_else(|_| usage()),
            "--redirect-uri" => config.redirect_uris.push(value()),
            "--access-ttl" => config.access_ttl_secs = value().parse().unwrap_or_else(|_| usage()),
            "--rate-limit" => {
                config.knobs.rate_limit_per_sec = Some(value().parse().unwrap_or_else(|_| usage()))
            }
            "--latency-ms" => config.knobs.latency_ms = value().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let running = Emulator::spawn_on(config, port).await.unwrap_or_else(|e| {
        eprintln!("tiktok-emulator: cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1)
    });
    let config = running.emulator.config();
    println!("TikTok emulator listening on {}", running.base_url);
    println!(
        "client_key={} client_secret={} (emulator values)",
        config.client_key, config.client_secret
    );
    let _ = tokio::signal::ctrl_c().await;
}
