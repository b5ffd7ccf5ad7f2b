//! Throughput of the whole API on one core: `local-api` (the handlers behind the
//! API Gateway stand-in) pinned to core 0, real-TikTok mode pointed at the
//! `tiktok-emulator` process on core 1 with a fixed latency, driven by K
//! concurrent clients from this process for S seconds.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::report::{ms, Samples, Section, Sink, Table};
use crate::setup::{self, Res, SHOP_ID};

const USER: &str = "bench";

/// Options.
pub struct Options {
    /// Where `local-api` and `tiktok-emulator` are.
    pub bin_dir: PathBuf,
    /// How long the load runs.
    pub seconds: u64,
    /// The emulator's added latency per call.
    pub latency_ms: u64,
    /// Concurrent clients.
    pub clients: usize,
}

fn has_taskset() -> bool {
    std::process::Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn command(bin: &Path, core: Option<u32>) -> Command {
    match core {
        Some(core) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(core.to_string()).arg(bin);
            c
        }
        None => Command::new(bin),
    }
}

fn free_port() -> Res<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Reads the child's stdout until a line containing `marker`; returns that line
/// and the ones before it.
async fn wait_for_line(child: &mut Child, marker: &str, what: &str) -> Res<Vec<String>> {
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let done = line.contains(marker);
            seen.push(line);
            if done {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    let stderr = child.stderr.take();
    if !found {
        // Why it stopped is on its standard error (a port in use, a bad setting).
        let mut why = Vec::new();
        if let Some(stderr) = stderr {
            let mut errors = BufReader::new(stderr).lines();
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Ok(Some(line)) = errors.next_line().await {
                    why.push(line);
                }
            })
            .await;
        }
        return Err(format!(
            "{what} did not start: {} | stderr: {}",
            seen.join(" | "),
            why.join(" | ")
        ));
    }
    // Keep draining so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    if let Some(stderr) = stderr {
        let mut errors = BufReader::new(stderr).lines();
        tokio::spawn(async move { while let Ok(Some(_)) = errors.next_line().await {} });
    }
    Ok(seen)
}

/// CPU seconds (user + system) `pid` has used.
fn cpu_secs(pid: u32, ticks_per_sec: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_sec)
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// `value` of each `<input type="hidden" name=.. value=..>` on the consent page.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = start + tag[start..].find('"')?;
        Some(
            tag[start..end]
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
        )
    };
    html.split("<input")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            tag.contains("type=\"hidden\"")
                .then(|| Some((attr(tag, "name")?, attr(tag, "value")?)))?
        })
        .collect()
}

/// The real flow over HTTP: login (JSON) → the emulator's consent page →
/// Approve → its redirect to the callback → back to the site with a completion
/// id → the site completes it.
async fn connect(http: &reqwest::Client, api: &str, tiktok: &str) -> Res<()> {
    let login = http
        .get(format!("{api}/auth/tiktok/login"))
        .header("authorization", format!("Bearer local:{USER}"))
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let login: serde_json::Value = login.json().await.map_err(|e| e.to_string())?;
    let authorize = login["authorizeUrl"]
        .as_str()
        .ok_or_else(|| format!("login: {login}"))?;
    let page = http
        .get(authorize)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let mut form = hidden_inputs(&page);
    if form.is_empty() {
        return Err(format!("the consent page has no form: {page}"));
    }
    form.push(("decision".into(), "approve".into()));
    let decision = http
        .post(format!("{tiktok}/v2/auth/authorize/decision/"))
        .form(&form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let callback = decision
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            format!(
                "the decision answered {} without a redirect",
                decision.status()
            )
        })?
        .to_owned();
    let back = http
        .get(&callback)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let site = back
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let completion = url::Url::parse(&site)
        .ok()
        .and_then(|u| {
            // In the fragment: `#tiktokCompletion=<id>`.
            url::form_urlencoded::parse(u.fragment()?.as_bytes())
                .find(|(k, _)| k == "tiktokCompletion")
                .map(|(_, v)| v.into_owned())
        })
        .ok_or_else(|| format!("the callback answered {} to {site:?}", back.status()))?;
    // The site completes the connection with the user's own JWT.
    let done = http
        .post(format!("{api}/auth/tiktok/complete"))
        .header("authorization", format!("Bearer local:{USER}"))
        .json(&serde_json::json!({ "completion": completion }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !done.status().is_success() {
        return Err(format!("completing answered {}", done.status()));
    }
    Ok(())
}

async fn emulator_stats(http: &reqwest::Client, tiktok: &str) -> Res<serde_json::Value> {
    http.get(format!("{tiktok}/__emulator/stats"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())
}

/// The CPUs this process may run on (`Cpus_allowed_list`), to restore later.
fn allowed_cpus() -> Option<String> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|l| l.trim().to_owned())
}

/// Pins every thread of this process to `cpus` (a `taskset -c` list).
fn pin_self(cpus: &str) {
    let _ = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The throughput benchmark.
pub async fn run(options: &Options, sink: &Sink) -> Res<Section> {
    let emulator_bin = options.bin_dir.join("tiktok-emulator");
    let api_bin = options.bin_dir.join("local-api");
    for bin in [&emulator_bin, &api_bin] {
        if !bin.is_file() {
            return Err(format!(
                "{} is missing: build it first (scripts/bench does)",
                bin.display()
            ));
        }
    }
    let pinned = has_taskset();
    let api_port = free_port()?;
    let api = format!("http://127.0.0.1:{api_port}");
    let redirect_uri = format!("{api}/auth/tiktok/callback");

    let mut emulator = command(&emulator_bin, pinned.then_some(1))
        .args([
            "--port",
            "0",
            "--redirect-uri",
            &redirect_uri,
            "--latency-ms",
            &options.latency_ms.to_string(),
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", emulator_bin.display()))?;
    let lines = wait_for_line(&mut emulator, "client_key=", "tiktok-emulator").await?;
    let tiktok = lines
        .iter()
        .find_map(|l| l.split("listening on ").nth(1))
        .map(|u| u.trim().trim_end_matches('/').to_owned())
        .ok_or_else(|| format!("tiktok-emulator printed no address: {lines:?}"))?;
    let credential = |name: &str| {
        lines.iter().find_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")).map(str::to_owned))
        })
    };
    let client_key = credential("client_key").ok_or("tiktok-emulator printed no client_key")?;
    let client_secret =
        credential("client_secret").ok_or("tiktok-emulator printed no client_secret")?;
    let secret_file = std::env::temp_dir().join(format!(
        "bench-throughput-secret-{}.json",
        std::process::id()
    ));
    std::fs::write(
        &secret_file,
        test_support::secret_json(&client_key, &client_secret),
    )
    .map_err(|e| e.to_string())?;

    let mut local_api = command(&api_bin, pinned.then_some(0));
    local_api
        .args([
            "--port",
            &api_port.to_string(),
            // Not the API's port + 1 (local-api's default), which something
            // else may hold: a free one.
            "--page-port",
            "0",
            "--refresh-every",
            "off",
            "--real-tiktok",
        ])
        .arg(&secret_file)
        .envs(setup::tiktok_urls(&tiktok))
        // The per-container upstream ceiling (50/s by default) would cap the
        // load at 50/3 searches a second; raised so the gateway is what is measured.
        .env("UPSTREAM_RATE_PER_SEC", "1000000")
        // One user makes every request: not held to the per-user daily budget.
        .env("USER_DAILY_UPSTREAM_CALLS", "1000000000")
        .env("APP_DAILY_UPSTREAM_CALLS", "1000000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut local_api = local_api
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", api_bin.display()))?;
    let result = drive(
        options,
        &api,
        &tiktok,
        &mut local_api,
        emulator.id(),
        pinned,
        sink,
    )
    .await;
    let _ = std::fs::remove_file(&secret_file);
    let _ = local_api.start_kill();
    let _ = emulator.start_kill();
    let _ = local_api.wait().await;
    let _ = emulator.wait().await;
    result
}

async fn drive(
    options: &Options,
    api: &str,
    tiktok: &str,
    local_api: &mut Child,
    emulator_pid: Option<u32>,
    pinned: bool,
    sink: &Sink,
) -> Res<Section> {
    wait_for_line(local_api, "dshipit API on", "local-api").await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    connect(&http, api, tiktok).await?;
    let url = format!("{api}/api/tiktok/search?shopId={SHOP_ID}&query=mug");
    let auth = format!("Bearer local:{USER}");
    let probe = http
        .get(&url)
        .header("authorization", &auth)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if probe.status() != 200 {
        return Err(format!(
            "search answered {}: {}",
            probe.status(),
            probe.text().await.unwrap_or_default()
        ));
    }

    let own_cpus = allowed_cpus();
    if pinned {
        // The load generator shares core 1 with the emulator; local-api has core 0.
        pin_self("1");
    }
    let ticks = clock_ticks();
    let api_pid = local_api.id().unwrap_or(0);
    let emu_pid = emulator_pid.unwrap_or(0);
    let stats_before = emulator_stats(&http, tiktok).await?;
    let own_pid = std::process::id();
    let cpu_before = (
        cpu_secs(api_pid, ticks),
        cpu_secs(emu_pid, ticks),
        cpu_secs(own_pid, ticks),
    );
    let started = Instant::now();
    let until = started + Duration::from_secs(options.seconds);
    let tasks: Vec<_> = (0..options.clients)
        .map(|_| {
            let http = http.clone();
            let url = url.clone();
            let auth = auth.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors: Vec<String> = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    let outcome = match http.get(&url).header("authorization", &auth).send().await {
                        Ok(response) => {
                            let status = response.status();
                            match response.bytes().await {
                                Ok(_) if status == 200 => None,
                                Ok(_) => Some(status.as_u16().to_string()),
                                Err(e) => Some(format!("body: {e}")),
                            }
                        }
                        Err(e) => Some(format!("transport: {e}")),
                    };
                    latencies.push(t.elapsed());
                    if let Some(error) = outcome {
                        errors.push(error);
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        let (l, e) = task.await.map_err(|e| e.to_string())?;
        latencies.extend(l);
        errors.extend(e);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = (
        cpu_secs(api_pid, ticks),
        cpu_secs(emu_pid, ticks),
        cpu_secs(own_pid, ticks),
    );
    if let (true, Some(cpus)) = (pinned, &own_cpus) {
        pin_self(cpus);
    }
    let stats_after = emulator_stats(&http, tiktok).await?;

    let samples = Samples::from_durations(&latencies);
    let requests = latencies.len();
    let rps = requests as f64 / elapsed;
    let upstream = |name: &str| {
        stats_after["requests"][name].as_u64().unwrap_or(0)
            - stats_before["requests"][name].as_u64().unwrap_or(0)
    };
    let upstream_per_request = upstream("product") as f64 / requests.max(1) as f64;
    let cpu = |before: Option<f64>, after: Option<f64>| match (before, after) {
        (Some(b), Some(a)) => format!("{:.0}%", (a - b) / elapsed * 100.0),
        _ => "n/a".into(),
    };
    let api_cpu = cpu(cpu_before.0, cpu_after.0);
    let emu_cpu = cpu(cpu_before.1, cpu_after.1);
    let bench_cpu = cpu(cpu_before.2, cpu_after.2);
    let api_cpu_per_request_ms = match (cpu_before.0, cpu_after.0) {
        (Some(b), Some(a)) if requests > 0 => Some((a - b) / requests as f64 * 1e3),
        _ => None,
    };
    let mut error_kinds: Vec<(String, usize)> = Vec::new();
    for e in &errors {
        match error_kinds.iter_mut().find(|(k, _)| k == e) {
            Some((_, n)) => *n += 1,
            None => error_kinds.push((e.clone(), 1)),
        }
    }

    let mut section = Section::new("Throughput (local-api on one core)");
    let mut table = Table::new(&[
        "clients",
        "seconds",
        "emulator latency",
        "requests",
        "requests/s",
        "p50",
        "p99",
        "errors",
        "upstream calls / request",
        "local-api CPU",
        "local-api CPU / request",
        "emulator CPU",
        "load generator CPU",
    ]);
    table.row(vec![
        options.clients.to_string(),
        format!("{elapsed:.1}"),
        format!("{} ms", options.latency_ms),
        requests.to_string(),
        format!("{rps:.0}"),
        ms(samples.median()),
        ms(samples.pct(99.0)),
        errors.len().to_string(),
        format!("{upstream_per_request:.2}"),
        api_cpu.clone(),
        api_cpu_per_request_ms.map_or_else(|| "n/a".into(), ms),
        emu_cpu.clone(),
        bench_cpu.clone(),
    ]);
    section.push(format!(
        "`GET /api/tiktok/search?shopId={SHOP_ID}&query=mug` (each reads listing pages until 10 matches: see upstream calls) as `local:{USER}`, \
         connected through the real flow over HTTP (login → the emulator's consent page → Approve → callback → complete). `local-api --real-tiktok` \
         {}, the `tiktok-emulator` process {} with `--latency-ms {}`, {} clients in this process{}; `UPSTREAM_RATE_PER_SEC=1000000` \
         so the per-container ceiling does not cap the load. CPU is user+system time over the run (100% = one core); the load generator is this process (it shares core 1 with the emulator), and local-api CPU / request bounds what one core can serve whatever the client side.",
        if pinned { "pinned to core 0 (`taskset -c 0`)" } else { "unpinned (no taskset)" },
        if pinned { "on core 1" } else { "unpinned" },
        options.latency_ms,
        options.clients,
        if pinned { " (also on core 1)" } else { "" },
    ));
    section.push(table.render());
    if !error_kinds.is_empty() {
        section.push(format!(
            "Errors: {}",
            error_kinds
                .iter()
                .map(|(k, n)| format!("{k} x{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    sink.record(
        "throughput",
        serde_json::json!({
            "clients": options.clients, "seconds": elapsed, "latencyMs": options.latency_ms, "requests": requests,
            "requestsPerSec": rps, "p50Ms": samples.median(), "p99Ms": samples.pct(99.0), "maxMs": samples.max(),
            "errors": errors.len(), "errorKinds": error_kinds, "upstreamCallsPerRequest": upstream_per_request,
            "localApiCpu": api_cpu, "localApiCpuMsPerRequest": api_cpu_per_request_ms, "emulatorCpu": emu_cpu, "loadGeneratorCpu": bench_cpu, "pinned": pinned,
        }),
    );
    Ok(section)
}
