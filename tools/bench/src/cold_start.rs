//! Cold start: each function's binary spawned again and again against a local
//! Lambda Runtime API, timed from `spawn` to the response it posts, with its peak
//! resident memory read just then.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::report::{mib_from_kib, ms, peak_rss_kib, Samples, Section, Sink, Table, Target};
use crate::setup::{self, Moto, Res};

/// The functions that are not invoked over HTTP, reported after the HTTP ones
/// ([`apigw_event::HTTP_FUNCTIONS`]).
const NON_HTTP_FUNCTIONS: &[&str] = &["token-refresher", "token-refresh-worker"];

/// Every function, in the order they are reported.
fn functions() -> impl Iterator<Item = &'static str> {
    apigw_event::HTTP_FUNCTIONS
        .iter()
        .chain(NON_HTTP_FUNCTIONS)
        .copied()
}

/// Ratio of a function's median cold start to `hello`'s that is the target.
const RATIO_TARGET: f64 = 2.0;
/// Peak RSS target, KiB (32 MiB: Lambda's memory sizes are MiB).
const RSS_TARGET_KIB: f64 = 32.0 * 1024.0;

/// What the runtime API saw the function post.
#[derive(Debug)]
struct Posted {
    at: Instant,
    kind: &'static str,
    body: Bytes,
}

struct Pending {
    request_id: String,
    function: String,
    event: Bytes,
    delivered_at: Option<Instant>,
    done: Option<oneshot::Sender<Posted>>,
}

#[derive(Clone, Default)]
struct RuntimeApi {
    pending: Arc<Mutex<Option<Pending>>>,
}

impl RuntimeApi {
    fn arm(&self, request_id: String, function: &str, event: Bytes) -> oneshot::Receiver<Posted> {
        let (done, posted) = oneshot::channel();
        if let Ok(mut slot) = self.pending.lock() {
            *slot = Some(Pending {
                request_id,
                function: function.to_owned(),
                event,
                delivered_at: None,
                done: Some(done),
            });
        }
        posted
    }

    fn delivered_at(&self) -> Option<Instant> {
        self.pending.lock().ok()?.as_ref()?.delivered_at
    }

    fn post(&self, request_id: Option<&str>, kind: &'static str, body: Bytes) {
        let at = Instant::now();
        if let Ok(mut slot) = self.pending.lock() {
            if let Some(pending) = slot.as_mut() {
                if request_id.is_none_or(|id| id == pending.request_id) {
                    if let Some(done) = pending.done.take() {
                        let _ = done.send(Posted { at, kind, body });
                    }
                }
            }
        }
    }
}

async fn next(State(api): State<RuntimeApi>) -> Response {
    let delivery = api.pending.lock().ok().and_then(|mut slot| {
        let pending = slot.as_mut()?;
        if pending.delivered_at.is_some() {
            return None;
        }
        pending.delivered_at = Some(Instant::now());
        Some((
            pending.request_id.clone(),
            pending.function.clone(),
            pending.event.clone(),
        ))
    });
    let Some((request_id, function, event)) = delivery else {
        // One invocation per process: the next one never comes (it is killed).
        return futures::future::pending().await;
    };
    let deadline_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        + 30_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", request_id);
    set("lambda-runtime-deadline-ms", deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-6745d0c2-5e6a67e55193d1ca4f78b9b1;Parent=53995c3f42cd8ad8;Sampled=0".to_owned(),
    );
    set("content-type", "application/json".to_owned());
    (StatusCode::OK, headers, event).into_response()
}

async fn start_runtime_api() -> Res<(RuntimeApi, String)> {
    let api = RuntimeApi::default();
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(|State(api): State<RuntimeApi>, UrlPath(id): UrlPath<String>, body: Bytes| async move {
                api.post(Some(&id), "response", body);
                StatusCode::ACCEPTED
            }),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(|State(api): State<RuntimeApi>, UrlPath(id): UrlPath<String>, body: Bytes| async move {
                api.post(Some(&id), "error", body);
                StatusCode::ACCEPTED
            }),
        )
        .route(
            "/2018-06-01/runtime/init/error",
            post(|State(api): State<RuntimeApi>, body: Bytes| async move {
                api.post(None, "init-error", body);
                StatusCode::ACCEPTED
            }),
        )
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind the runtime API: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((api, addr.to_string()))
}

/// One case: a binary and the event it is invoked with.
struct Case {
    /// Row label.
    label: String,
    /// Binary name.
    binary: &'static str,
    /// Event file (or an inline event for `hello`).
    event_name: String,
    event: Bytes,
    /// Whether the ratio target applies (the eight functions' first cases).
    ratio_target: bool,
    /// Needs moto.
    needs_aws: bool,
    totals: Vec<Duration>,
    inits: Vec<Duration>,
    rss_kib: Vec<f64>,
    answers: Vec<String>,
    failures: Vec<String>,
    aws_calls: Option<Vec<String>>,
}

struct Run {
    total: Duration,
    init: Option<Duration>,
    rss_kib: Option<u64>,
    answer: String,
}

/// Spawns `binary` once and waits for the invocation's answer.
async fn run_once(
    api: &RuntimeApi,
    bin: &Path,
    function: &str,
    event: Bytes,
    env: &[(String, String)],
    log: &Path,
    n: usize,
) -> Res<Run> {
    let request_id = format!("bench-{function}-{n}-{:08x}", rand::random::<u32>());
    let mut posted = api.arm(request_id, function, event);
    let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let log_err = log_file.try_clone().map_err(|e| e.to_string())?;
    let mut command = tokio::process::Command::new(bin);
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        )
        .stdin(std::process::Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
    let pid = child.id().unwrap_or(0);
    let outcome = tokio::select! {
        posted = &mut posted => posted.map_err(|_| "the runtime API dropped the invocation".to_owned()),
        status = child.wait() => Err(format!("exited before answering ({})", status.map_or_else(|e| e.to_string(), |s| s.to_string()))),
        _ = tokio::time::sleep(Duration::from_secs(30)) => Err("no answer within 30 s".to_owned()),
    };
    // Read the peak before the process goes away.
    let rss_kib = peak_rss_kib(pid);
    let init = api.delivered_at().map(|at| at - started);
    let _ = child.start_kill();
    let _ = child.wait().await;
    let posted = match outcome {
        Ok(posted) => posted,
        Err(error) => {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: String = tail
                .chars()
                .rev()
                .take(600)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(format!("{error}; log tail: {}", tail.trim()));
        }
    };
    let answer = match posted.kind {
        "response" => {
            let body: serde_json::Value = serde_json::from_slice(&posted.body).unwrap_or_default();
            match body.get("statusCode") {
                Some(status) => status.to_string(),
                None => "ok".to_owned(),
            }
        }
        kind => format!("{kind}: {}", String::from_utf8_lossy(&posted.body)),
    };
    Ok(Run {
        total: posted.at - started,
        init,
        rss_kib,
        answer,
    })
}

/// The cold-start benchmark.
pub async fn run(bin_dir: &Path, events_dir: &Path, runs: usize, sink: &Sink) -> Res<Section> {
    let mut section = Section::new("Cold start");
    let emulator = setup::emulator(Default::default()).await?;
    let secret_json = setup::secret_json(emulator.emulator.config());
    let moto = Moto::setup(&secret_json).await?;
    let (api, api_addr) = start_runtime_api().await?;
    let (table, secret_id) = match &moto {
        Some(m) => (m.table.clone(), m.secret_arn.clone()),
        None => ("bench-cold-start".to_owned(), "bench-cold-start".to_owned()),
    };
    let mut env: Vec<(String, String)> =
        setup::app_vars(&emulator.base_url, &table, &secret_id, &[])
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
    for (k, v) in [
        ("AWS_LAMBDA_RUNTIME_API", api_addr.as_str()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2025/11/25/[$LATEST]bench"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("TZ", ":UTC"),
        ("RUST_LOG", "warn"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    if let Some(m) = &moto {
        env.push(("AWS_ENDPOINT_URL".to_owned(), m.endpoint.clone()));
    }

    let event_file = |name: &str| -> Res<Bytes> {
        let path = events_dir.join(name);
        std::fs::read(&path)
            .map(Bytes::from)
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let mut cases = vec![Case::new(
        "hello",
        "hello",
        "inline {\"hello\":\"world\"}",
        Bytes::from_static(b"{\"hello\":\"world\"}"),
        false,
        false,
    )];
    for function in functions() {
        let (name, needs_aws) = match function {
            "oauth-callback" => ("oauth-callback-missing-state.json".to_owned(), false),
            "token-refresher" => ("token-refresher-scheduled.json".to_owned(), true),
            "tiktok-shop-webhook" => ("tiktok-shop-webhook-unsigned.json".to_owned(), true),
            "token-refresh-worker" => ("token-refresh-worker-batch.json".to_owned(), true),
            f => (format!("{f}-no-identity.json"), false),
        };
        let label = if function == "token-refresh-worker" {
            format!("{function} (init + a sample batch against moto)")
        } else if needs_aws {
            format!("{function} (init + empty run against moto)")
        } else {
            function.to_owned()
        };
        cases.push(Case::new(
            &label,
            function,
            &name,
            event_file(&name)?,
            true,
            needs_aws,
        ));
    }
    cases.push(Case::new(
        "connection-status, first real request (moto, not connected)",
        "connection-status",
        "connection-status-ok.json",
        event_file("connection-status-ok.json")?,
        false,
        true,
    ));
    for case in &cases {
        let bin = bin_dir.join(case.binary);
        if !bin.is_file() {
            return Err(format!(
                "{} is missing: build the binaries first (scripts/bench does)",
                bin.display()
            ));
        }
    }

    let log_dir = std::env::temp_dir().join("bench-cold-start");
    std::fs::create_dir_all(&log_dir).map_err(|e| e.to_string())?;
    // Round-robin, so drift on the machine touches every case alike.
    for n in 0..runs {
        for case in cases.iter_mut() {
            if case.needs_aws && moto.is_none() {
                continue;
            }
            let log = log_dir.join(format!("{}.log", case.binary));
            match run_once(
                &api,
                &bin_dir.join(case.binary),
                case.binary,
                case.event.clone(),
                &env,
                &log,
                n,
            )
            .await
            {
                Ok(run) => {
                    case.totals.push(run.total);
                    if let Some(init) = run.init {
                        case.inits.push(init);
                    }
                    if let Some(kib) = run.rss_kib {
                        case.rss_kib.push(kib as f64);
                    }
                    if !case.answers.contains(&run.answer) {
                        case.answers.push(run.answer);
                    }
                }
                Err(error) => case.failures.push(error),
            }
        }
    }
    // What each AWS-touching case calls, recorded once through a proxy in front of moto.
    if let Some(m) = &moto {
        let recorder = test_support::Recorder::start(&m.endpoint).await;
        let mut recorded_env = env.clone();
        recorded_env.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
        recorded_env.push(("AWS_ENDPOINT_URL".to_owned(), recorder.endpoint.clone()));
        for case in cases.iter_mut().filter(|c| c.needs_aws || c.ratio_target) {
            recorder.take();
            let log = log_dir.join(format!("{}.log", case.binary));
            if run_once(
                &api,
                &bin_dir.join(case.binary),
                case.binary,
                case.event.clone(),
                &recorded_env,
                &log,
                runs,
            )
            .await
            .is_ok()
            {
                case.aws_calls = Some(recorder.take());
            }
        }
    }

    let hello_median = Samples::from_durations(&cases[0].totals).median();
    let mut table = Table::new(&[
        "binary (event)",
        "answer",
        "runs",
        "median",
        "p90",
        "min",
        "init median",
        "median / hello",
        "peak RSS median",
        "AWS calls in the invocation",
    ]);
    for case in &cases {
        if case.needs_aws && moto.is_none() {
            table.row(vec![
                format!("{} (`{}`)", case.label, case.event_name),
                "skipped: MOTO_ENDPOINT not set".into(),
                "0".into(),
                "".into(),
                "".into(),
                "".into(),
                "".into(),
                "".into(),
                "".into(),
                "".into(),
            ]);
            continue;
        }
        let totals = Samples::from_durations(&case.totals);
        let inits = Samples::from_durations(&case.inits);
        let rss = Samples::from_values(case.rss_kib.clone());
        let ratio = if hello_median > 0.0 {
            totals.median() / hello_median
        } else {
            0.0
        };
        let calls = match &case.aws_calls {
            None if case.needs_aws || case.ratio_target => "not recorded".to_owned(),
            None => "n/a".to_owned(),
            Some(calls) if calls.is_empty() => "none".to_owned(),
            Some(calls) => summarize_calls(calls),
        };
        table.row(vec![
            format!("{} (`{}`)", case.label, case.event_name),
            case.answers.join(", "),
            format!(
                "{}{}",
                totals.len(),
                if case.failures.is_empty() {
                    String::new()
                } else {
                    format!(" ({} failed)", case.failures.len())
                }
            ),
            ms(totals.median()),
            ms(totals.pct(90.0)),
            ms(totals.min()),
            ms(inits.median()),
            format!("{ratio:.2}x"),
            mib_from_kib(rss.median()),
            calls.clone(),
        ]);
        sink.record(
            "cold-start",
            serde_json::json!({
                "case": case.label, "binary": case.binary, "event": case.event_name, "answers": case.answers,
                "runs": totals.len(), "failures": case.failures,
                "medianMs": totals.median(), "p90Ms": totals.pct(90.0), "minMs": totals.min(), "maxMs": totals.max(),
                "initMedianMs": inits.median(), "ratioToHello": ratio, "peakRssMedianKib": rss.median(),
                "peakRssMaxKib": rss.max(), "awsCalls": case.aws_calls,
            }),
        );
        if case.label != "hello" && totals.len() > 0 {
            if case.ratio_target {
                section.targets.push(Target::new(
                    format!("{} cold start / hello", case.binary),
                    format!("<= {RATIO_TARGET}x"),
                    format!(
                        "{ratio:.2}x ({} vs {})",
                        ms(totals.median()),
                        ms(hello_median)
                    ),
                    ratio <= RATIO_TARGET,
                ));
            }
            section.targets.push(Target::new(
                format!("{} peak RSS (median)", case.label),
                "<= 32 MiB",
                mib_from_kib(rss.median()),
                rss.median() <= RSS_TARGET_KIB,
            ));
        }
    }
    section.push(format!(
        "{runs} runs per case, round-robin; time from `spawn` to the invocation's response POST at a local Runtime API; \
         `init` is spawn to the first `GET /next` (what the function does before it can take an event). \
         Peak RSS is `VmHWM` read right after the response was posted. Binaries: `{}`. \
         AWS calls were recorded once per case through a proxy in front of moto.",
        bin_dir.display()
    ));
    section.push(table.render());
    for case in cases.iter().filter(|c| !c.failures.is_empty()) {
        section.push(format!(
            "Failures of {}: {}",
            case.label,
            case.failures.join("; ")
        ));
    }
    Ok(section)
}

/// `dynamodb:Query x4, secretsmanager:GetSecretValue`.
pub fn summarize_calls(calls: &[String]) -> String {
    let mut counted: Vec<(String, usize)> = Vec::new();
    for call in calls {
        match counted.iter_mut().find(|(c, _)| c == call) {
            Some((_, n)) => *n += 1,
            None => counted.push((call.clone(), 1)),
        }
    }
    counted
        .into_iter()
        .map(|(c, n)| if n > 1 { format!("{c} x{n}") } else { c })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Case {
    fn new(
        label: &str,
        binary: &'static str,
        event_name: &str,
        event: Bytes,
        ratio_target: bool,
        needs_aws: bool,
    ) -> Self {
        Self {
            label: label.to_owned(),
            binary,
            event_name: event_name.to_owned(),
            event,
            ratio_target,
            needs_aws,
            totals: Vec::new(),
            inits: Vec::new(),
            rss_kib: Vec::new(),
            answers: Vec::new(),
            failures: Vec::new(),
            aws_calls: None,
        }
    }
}

/// Where the events live by default: the workspace's `events/`.
pub fn default_events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}
