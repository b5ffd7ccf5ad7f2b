//! The token refresher at scale: N connections due, each holding a real refresh
//! token the emulator issued, refreshed by `token_refresher::run` under the
//! upstream rate limit; then a race of two refresher runs and in-request
//! refreshes on the same connections, checked against the emulator afterwards.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use secrecy::SecretString;
use tiktok_emulator::{Emulator, Knobs, RunningEmulator};
use tiktok_gateway::app_secrets::StaticSecret;
use tiktok_gateway::boot;
use tiktok_gateway::clock::system_clock;
use tiktok_gateway::provider::research::tokens_from_grant;
use tiktok_gateway::{
    AppState, AuthCode, ConnectionStatus, MemoryStore, Secrets, TikTokClient, TokenStore,
};
use token_refresher::Summary;
use tokio::time::Instant;

use crate::report::{
    mib_from_kib, own_peak_rss_kib, reset_own_peak_rss, Section, Sink, Table, Target,
};
use crate::setup::{self, Res, REDIRECT_URI};

/// The refresher's Lambda timeout (template.yaml), the deadline of each run.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// Grants minted over HTTP at once.
const MINT_CONCURRENCY: usize = 64;

/// A state (one "container") on `store`, its own upstream client and rate limiter.
fn container(running: &RunningEmulator, store: Arc<dyn TokenStore>, rate: u32) -> Res<AppState> {
    let vars = setup::app_vars(
        &running.base_url,
        "unused",
        "unused",
        &[("UPSTREAM_RATE_PER_SEC", rate.to_string())],
    );
    let config = setup::config(&vars)?;
    let secrets = Arc::new(Secrets::new(
        Arc::new(StaticSecret(SecretString::from(setup::secret_json(
            running.emulator.config(),
        )))),
        config.secret_cache_ttl,
    ));
    boot::assemble(config, store, secrets, system_clock()).map_err(|e| e.to_string())
}

/// Stores `n` connections `user-<i>`, each from a real authorization-code
/// exchange at the emulator, with access tokens expiring in 30 s (due).
async fn populate(
    running: &RunningEmulator,
    store: Arc<dyn TokenStore>,
    n: usize,
) -> Res<Duration> {
    let minter = container(running, store.clone(), 1_000_000)?;
    let app = minter.secrets.get().await.map_err(|e| e.to_string())?;
    let client = TikTokClient::new(
        TikTokClient::http_client(&minter.config.tiktok).map_err(|e| e.to_string())?,
        minter.config.tiktok.clone(),
    );
    let started = Instant::now();
    let results: Vec<Res<()>> = futures::stream::iter(0..n)
        .map(|i| {
            let minter = &minter;
            let client = &client;
            let app = &app;
            let emulator = &running.emulator;
            async move {
                let code = AuthCode::new(emulator.issue_code(REDIRECT_URI));
                let deadline = Instant::now() + Duration::from_secs(30);
                let grant = client
                    .exchange_code(
                        &app.credentials,
                        &code,
                        None,
                        &minter.config.tiktok.redirect_uri,
                        deadline,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                let mut tokens =
                    tokens_from_grant(minter.now(), grant, None).map_err(|e| e.to_string())?;
                tokens.access_expires_at = minter.now() + 30;
                minter
                    .store
                    .put_connection(&format!("user-{i}"), &tokens)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(())
            }
        })
        .buffer_unordered(MINT_CONCURRENCY)
        .collect()
        .await;
    if let Some(Err(error)) = results.into_iter().find(|r| r.is_err()) {
        return Err(format!("minting grants: {error}"));
    }
    Ok(started.elapsed())
}

fn add(total: &mut Summary, run: &Summary) {
    total.due += run.due;
    total.refreshed += run.refreshed;
    total.skipped += run.skipped;
    total.failed += run.failed;
    total.reconnect_required += run.reconnect_required;
    total.left_for_next_run += run.left_for_next_run;
}

/// What the store and the emulator say about every connection at the end.
struct Audit {
    active: usize,
    reconnect_required: usize,
    missing: usize,
    /// The stored refresh token is no longer current at the emulator.
    lost_rotations: usize,
    still_due: usize,
}

async fn audit(
    store: &dyn TokenStore,
    emulator: &Emulator,
    n: usize,
    due_before: i64,
) -> Res<Audit> {
    let mut audit = Audit {
        active: 0,
        reconnect_required: 0,
        missing: 0,
        lost_rotations: 0,
        still_due: 0,
    };
    for i in 0..n {
        match store
            .get_connection(&format!("user-{i}"))
            .await
            .map_err(|e| e.to_string())?
        {
            None => audit.missing += 1,
            Some(c) => {
                match c.status {
                    ConnectionStatus::Active => audit.active += 1,
                    // Dormant never happens here (every connection was just
                    // made); either way the connection is not usable ahead.
                    ConnectionStatus::ReconnectRequired | ConnectionStatus::Dormant => {
                        audit.reconnect_required += 1
                    }
                }
                if !emulator.is_current_refresh_token(c.tokens.refresh_token.expose()) {
                    audit.lost_rotations += 1;
                }
                if c.status == ConnectionStatus::Active && c.tokens.access_expires_at < due_before {
                    audit.still_due += 1;
                }
            }
        }
    }
    Ok(audit)
}

/// The refresher benchmark: each `n` at `rate`, then (with `race_n`) the race.
pub async fn run(ns: &[usize], rate: u32, race_n: Option<usize>, sink: &Sink) -> Res<Section> {
    let mut section = Section::new(format!("Token refresher (rate limit R = {rate}/s)"));
    let running = setup::emulator(Knobs::default()).await?;
    let emulator = running.emulator.clone();
    let mut table = Table::new(&[
        "connections",
        "runs",
        "refreshed",
        "time",
        "ideal N/R",
        "achieved rate",
        "of R",
        "max in one second",
        "over R",
        "429s",
        "failed (retried next run)",
        "mint time",
        "bench peak RSS",
    ]);
    for &n in ns {
        emulator.set_knobs(Knobs::default());
        let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new(4));
        let state = container(&running, store.clone(), rate)?;
        reset_own_peak_rss();
        let mint = populate(&running, store.clone(), n).await?;
        emulator.reset_stats();
        emulator.set_knobs(Knobs {
            rate_limit_per_sec: Some(rate),
            ..Knobs::default()
        });
        let started = Instant::now();
        let mut total = Summary::default();
        let mut runs = 0;
        loop {
            runs += 1;
            let summary = token_refresher::run(&state, Instant::now() + RUN_TIMEOUT)
                .await
                .map_err(|e| format!("refresher run: {e}"))?;
            add(&mut total, &summary);
            if summary.due == 0 || runs >= 50 {
                break;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        emulator.set_knobs(Knobs::default());
        let stats = emulator.stats();
        let rss = own_peak_rss_kib().unwrap_or(0) as f64;
        let achieved = total.refreshed as f64 / elapsed;
        let fraction = achieved / rate as f64;
        let over = stats.max_per_second.saturating_sub(u64::from(rate));
        let ideal = n as f64 / rate as f64;
        let audit = audit(
            store.as_ref(),
            &emulator,
            n,
            state.now() + state.config.refresher.ahead.as_secs() as i64,
        )
        .await?;
        table.row(vec![
            n.to_string(),
            runs.to_string(),
            total.refreshed.to_string(),
            format!("{elapsed:.1} s"),
            format!("{ideal:.1} s"),
            format!("{achieved:.0}/s"),
            format!("{:.1}%", fraction * 100.0),
            stats.max_per_second.to_string(),
            over.to_string(),
            stats.rate_limited.to_string(),
            total.failed.to_string(),
            format!("{:.1} s", mint.as_secs_f64()),
            mib_from_kib(rss),
        ]);
        sink.record(
            "refresher",
            serde_json::json!({
                "connections": n, "rate": rate, "runs": runs, "refreshed": total.refreshed, "failed": total.failed,
                "skipped": total.skipped, "reconnectRequired": total.reconnect_required, "leftForNextRun": total.left_for_next_run,
                "seconds": elapsed, "idealSeconds": ideal, "achievedPerSec": achieved, "fractionOfRate": fraction,
                "maxPerSecond": stats.max_per_second, "overRate": over, "rateLimited": stats.rate_limited,
                "tokenRequests": stats.count("token"), "refreshRotated": stats.refresh_rotated, "refreshRefused": stats.refresh_refused,
                "mintSeconds": mint.as_secs_f64(), "peakRssKib": rss,
                "endActive": audit.active, "endStillDue": audit.still_due, "endLostRotations": audit.lost_rotations,
            }),
        );
        section.targets.push(Target::new(
            format!("{n} connections: achieved rate"),
            format!(">= 95% of R ({rate}/s)"),
            format!("{:.1}% ({achieved:.0}/s)", fraction * 100.0),
            fraction >= 0.95,
        ));
        section.targets.push(Target::new(
            format!("{n} connections: requests over R in any second"),
            "0",
            format!(
                "{over} (max {} in one second, {} 429s)",
                stats.max_per_second, stats.rate_limited
            ),
            over == 0,
        ));
        if audit.still_due > 0 || audit.lost_rotations > 0 || audit.reconnect_required > 0 {
            section.push(format!(
                "After the {n}-connection runs: {} still due, {} stored refresh tokens no longer current at the emulator, {} reconnect_required.",
                audit.still_due, audit.lost_rotations, audit.reconnect_required
            ));
        }
        drop(state);
        drop(store);
    }
    section.push(format!(
        "The emulator runs in-process (same tokio runtime) with `rate_limit_per_sec = {rate}`; the state is the memory store with \
         `UPSTREAM_RATE_PER_SEC={rate}` and the other settings at their defaults (`REFRESHER_CONCURRENCY=8`). Each connection holds a \
         real grant: the emulator's `issue_code` then an authorization-code exchange over HTTP ({MINT_CONCURRENCY} at once, \
         not rate-limited, not timed in the run); its access token is stored as expiring in 30 s. Then `token_refresher::run(&state, now + 300 s)` \
         (the template's timeout) is called until a run finds nothing due. Time runs from the first run's start to the end of the run that \
         found nothing due; achieved rate = refreshed / time. \"Max in one second\" is the emulator's count of token and research requests \
         within one wall-clock second (429s included); over R = that − R. Bench peak RSS is this process's `VmHWM` since the phase began \
         (reset through `/proc/self/clear_refs`): emulator, grants and store included."
    ));
    section.push(table.render());
    let probe = limiter_section(rate, sink).await;
    section.push(format!("**{}.** {}", probe.title, probe.body));

    if let Some(n) = race_n {
        race(&mut section, &running, rate, n, sink).await?;
    }
    Ok(section)
}

/// Two refresher runs at once (two containers) on the same store, and a third
/// container serving searches for the same due connections.
async fn race(
    section: &mut Section,
    running: &RunningEmulator,
    rate: u32,
    n: usize,
    sink: &Sink,
) -> Res<()> {
    let emulator = &running.emulator;
    emulator.set_knobs(Knobs::default());
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new(4));
    populate(running, store.clone(), n).await?;
    // Access tokens already expired: a search must refresh before it calls TikTok.
    for i in 0..n {
        let user = format!("user-{i}");
        if let Some(c) = store
            .get_connection(&user)
            .await
            .map_err(|e| e.to_string())?
        {
            let mut tokens = c.tokens.clone();
            tokens.access_expires_at = tokens.refreshed_at - 1;
            store
                .update_tokens(&user, c.version, &tokens)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    emulator.reset_stats();
    let a = container(running, store.clone(), rate)?;
    let b = container(running, store.clone(), rate)?;
    let c = container(running, store.clone(), rate)?;
    let started = Instant::now();
    let searches = async {
        futures::stream::iter(0..n)
            .map(|i| {
                let c = &c;
                async move {
                    let user = format!("user-{i}");
                    let req = test_support::api_event(
                        "GET",
                        "/api/tiktok/search",
                        &[("shopId", setup::SHOP_ID), ("pageSize", "1")],
                        Some(&user),
                        &[],
                    );
                    let response = search::handler(c, req).await.map_err(|e| e.to_string())?;
                    Ok::<u16, String>(response.status().as_u16())
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await
    };
    let (run_a, run_b, statuses) = tokio::join!(
        token_refresher::run(&a, Instant::now() + RUN_TIMEOUT),
        token_refresher::run(&b, Instant::now() + RUN_TIMEOUT),
        searches
    );
    let elapsed = started.elapsed().as_secs_f64();
    let run_a = run_a.map_err(|e| format!("refresher A: {e}"))?;
    let run_b = run_b.map_err(|e| format!("refresher B: {e}"))?;
    let mut by_status: Vec<(String, usize)> = Vec::new();
    for status in statuses {
        let key = match status {
            Ok(s) => s.to_string(),
            Err(e) => format!("error {e}"),
        };
        match by_status.iter_mut().find(|(k, _)| *k == key) {
            Some((_, count)) => *count += 1,
            None => by_status.push((key, 1)),
        }
    }
    let stats = emulator.stats();
    let audit = audit(
        store.as_ref(),
        emulator,
        n,
        a.now() + a.config.refresher.ahead.as_secs() as i64,
    )
    .await?;
    let summary = |s: &Summary| {
        format!(
            "{} refreshed, {} skipped, {} failed, {} reconnect",
            s.refreshed, s.skipped, s.failed, s.reconnect_required
        )
    };
    let statuses = by_status
        .iter()
        .map(|(k, v)| format!("{k} x{v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut table = Table::new(&[
        "connections",
        "time",
        "refresher A",
        "refresher B",
        "searches (status x count)",
        "rotations at TikTok",
        "refused refreshes",
        "lost rotations",
        "reconnect_required",
        "still due",
    ]);
    table.row(vec![
        n.to_string(),
        format!("{elapsed:.1} s"),
        summary(&run_a),
        summary(&run_b),
        statuses.clone(),
        stats.refresh_rotated.to_string(),
        stats.refresh_refused.to_string(),
        audit.lost_rotations.to_string(),
        audit.reconnect_required.to_string(),
        audit.still_due.to_string(),
    ]);
    section.push(format!(
        "**Race.** {n} connections whose access tokens have expired; three containers (three states with their own TikTok client and \
         rate limiter, `UPSTREAM_RATE_PER_SEC={rate}` each) share one store: two run `token_refresher::run` at the same time, the third \
         serves a search (`pageSize=1`) for every one of those users, 8 at a time, through `search::handler`, which must refresh first. \
         The emulator's rate limit is off here (the race is about correctness). Afterwards every stored refresh token is checked with \
         the emulator's `is_current_refresh_token`: a lost rotation is a connection whose stored token is no longer the current one \
         at TikTok (TikTok rotated it and the new one was not kept)."
    ));
    section.push(table.render());
    section.targets.push(Target::new(
        "race: lost rotations",
        "0",
        audit.lost_rotations.to_string(),
        audit.lost_rotations == 0,
    ));
    section.targets.push(Target::new(
        "race: connections ending reconnect_required",
        "0",
        audit.reconnect_required.to_string(),
        audit.reconnect_required == 0,
    ));
    sink.record(
        "refresher-race",
        serde_json::json!({
            "connections": n, "rate": rate, "seconds": elapsed,
            "refresherA": {"refreshed": run_a.refreshed, "skipped": run_a.skipped, "failed": run_a.failed, "reconnectRequired": run_a.reconnect_required},
            "refresherB": {"refreshed": run_b.refreshed, "skipped": run_b.skipped, "failed": run_b.failed, "reconnectRequired": run_b.reconnect_required},
            "searchStatuses": by_status, "refreshRotated": stats.refresh_rotated, "refreshRefused": stats.refresh_refused,
            "lostRotations": audit.lost_rotations, "reconnectRequired": audit.reconnect_required, "stillDue": audit.still_due,
            "active": audit.active, "missing": audit.missing,
        }),
    );
    Ok(())
}

/// How a rate limiter spaces calls: what it admits in `seconds` with
/// `waiters` tasks always waiting, and the most it admits in any 1 s window.
struct LimiterProbe {
    achieved: f64,
    max_sliding_second: usize,
}

async fn probe_limiter(quota: governor::Quota, waiters: usize, seconds: f64) -> LimiterProbe {
    let limiter = Arc::new(governor::RateLimiter::direct(quota));
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..waiters)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                let mut admitted = Vec::new();
                loop {
                    limiter.until_ready().await;
                    let now = Instant::now();
                    if now >= until {
                        return admitted;
                    }
                    admitted.push(now);
                }
            })
        })
        .collect();
    let mut admitted = Vec::new();
    for task in tasks {
        admitted.extend(task.await.unwrap_or_default());
    }
    admitted.sort();
    let mut max_sliding_second = 0;
    let mut first = 0;
    for last in 0..admitted.len() {
        while admitted[last] - admitted[first] >= Duration::from_secs(1) {
            first += 1;
        }
        max_sliding_second = max_sliding_second.max(last - first + 1);
    }
    LimiterProbe {
        achieved: admitted.len() as f64 / seconds,
        max_sliding_second,
    }
}

/// The shared client's limiter alone (no HTTP, no store), as `TikTokClient`
/// builds it, next to the burst-of-1 quota it replaced.
pub async fn limiter_section(rate: u32, sink: &Sink) -> Section {
    use std::num::NonZeroU32;
    let mut section = Section::new(format!("The upstream rate limiter alone (R = {rate}/s)"));
    let r = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
    let variants = [
        (
            "before: `Quota::per_second(R).allow_burst(1)`".to_owned(),
            governor::Quota::per_second(r).allow_burst(NonZeroU32::MIN),
        ),
        (
            "as shipped: `tiktok::limiter_quota(R)` (burst b = max(2, R/50), sustained R - b)"
                .to_owned(),
            tiktok_gateway::tiktok::limiter_quota(r),
        ),
    ];
    let mut table = Table::new(&["limiter", "admitted / s", "of R", "most in any 1 s window"]);
    for (name, quota) in variants {
        let probe = probe_limiter(quota, 8, 5.0).await;
        table.row(vec![
            name.clone(),
            format!("{:.0}", probe.achieved),
            format!("{:.1}%", probe.achieved / rate as f64 * 100.0),
            probe.max_sliding_second.to_string(),
        ]);
        sink.record(
            "limiter",
            serde_json::json!({"limiter": name, "rate": rate, "achievedPerSec": probe.achieved, "maxInAnySecond": probe.max_sliding_second}),
        );
    }
    section.push(
        "8 tasks call `until_ready()` in a loop for 5 s on one `governor` limiter, nothing else: what the limiter itself lets through. \
         With a burst of 1, GCRA never catches up: each wake-up that tokio's 1 ms timer delivers late is capacity lost for good. \
         The shipped quota keeps a small burst as slack and lowers the sustained rate so no one-second window exceeds R - 1.",
    );
    section.push(table.render());
    section
}
