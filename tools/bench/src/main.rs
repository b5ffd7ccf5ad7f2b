//! `bench`: benchmarks that print numbers (BENCHMARKS.md says what each one
//! measures and how to reproduce it). Each subcommand prints markdown to stdout
//! and appends JSON lines to `--out`.

mod boot_steps;
mod cold_start;
mod counting;
mod refresher;
mod report;
mod scale;
mod setup;
mod size;
mod throughput;
mod warm;

use std::path::{Path, PathBuf};

use report::{Section, Sink};

const USAGE: &str = "usage: bench <command> [--out FILE]
  cold-start --bin-dir DIR --runs N [--events DIR]
  boot-steps --bin-dir DIR --runs N
  size       --lambda-dir DIR
  warm       --iterations N
  throughput --seconds S --latency-ms L [--clients K] [--bin-dir DIR]
  refresher  --n 1000,10000,100000 --rate R [--race] [--race-n N]
  scale      [--n 1000000] [--days 30] [--rate 50]   (in-process model, no AWS)
  all        --quick|--full [--bin-dir DIR] [--lambda-dir DIR]
Needs MOTO_ENDPOINT for the DynamoDB and Secrets Manager cases (scripts/bench starts moto).";

fn usage(problem: &str) -> ! {
    eprintln!("bench: {problem}\n{USAGE}");
    std::process::exit(2)
}

/// `--flag value` pairs and bare `--flags`.
struct Args {
    pairs: Vec<(String, Option<String>)>,
}

impl Args {
    fn parse(raw: impl Iterator<Item = String>) -> Self {
        let raw: Vec<String> = raw.collect();
        let mut pairs = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            let flag = raw[i].clone();
            if !flag.starts_with("--") {
                usage(&format!("unexpected argument {flag}"));
            }
            match raw.get(i + 1).filter(|v| !v.starts_with("--")) {
                Some(value) => {
                    pairs.push((flag, Some(value.clone())));
                    i += 2;
                }
                None => {
                    pairs.push((flag, None));
                    i += 1;
                }
            }
        }
        Self { pairs }
    }

    fn value(&self, flag: &str) -> Option<String> {
        self.pairs
            .iter()
            .find(|(f, _)| f == flag)
            .and_then(|(_, v)| v.clone())
    }

    fn has(&self, flag: &str) -> bool {
        self.pairs.iter().any(|(f, _)| f == flag)
    }

    fn number<T: std::str::FromStr>(&self, flag: &str, default: Option<T>) -> T {
        match self.value(flag) {
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| usage(&format!("{flag} wants a number, got {v}"))),
            None => default.unwrap_or_else(|| usage(&format!("{flag} is required"))),
        }
    }

    fn path(&self, flag: &str, default: Option<PathBuf>) -> PathBuf {
        self.value(flag)
            .map(PathBuf::from)
            .or(default)
            .unwrap_or_else(|| usage(&format!("{flag} is required")))
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn main() {
    let mut raw = std::env::args().skip(1);
    let command = raw.next().unwrap_or_else(|| usage("no command"));
    let args = Args::parse(raw);
    let sink = Sink::open(args.value("--out").as_deref().map(Path::new))
        .unwrap_or_else(|e| usage(&format!("--out: {e}")));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| usage(&format!("tokio: {e}")));
    let ok = runtime.block_on(async {
        match command.as_str() {
            "all" => all(&args, &sink).await,
            other => {
                let result = one(other, &args, &sink).await;
                match result {
                    Ok(section) => {
                        println!("{}", section.render());
                        true
                    }
                    Err(error) => {
                        eprintln!("bench {other}: {error}");
                        false
                    }
                }
            }
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    std::process::exit(if ok { 0 } else { 1 });
}

async fn one(command: &str, args: &Args, sink: &Sink) -> Result<Section, String> {
    match command {
        "cold-start" => {
            let bin_dir = args.path("--bin-dir", None);
            let events = args.path("--events", Some(cold_start::default_events_dir()));
            cold_start::run(&bin_dir, &events, args.number("--runs", None), sink).await
        }
        "boot-steps" => {
            boot_steps::run(
                &args.path("--bin-dir", None),
                args.number("--runs", None),
                sink,
            )
            .await
        }
        "size" => size::run(&args.path("--lambda-dir", None), sink),
        "warm" => warm::run(args.number("--iterations", None), sink).await,
        "throughput" => {
            let options = throughput::Options {
                bin_dir: args.path("--bin-dir", Some(workspace().join("target/release"))),
                seconds: args.number("--seconds", None),
                latency_ms: args.number("--latency-ms", None),
                clients: args.number("--clients", Some(64)),
            };
            throughput::run(&options, sink).await
        }
        "refresher" => {
            let ns: Vec<usize> = args
                .value("--n")
                .unwrap_or_else(|| usage("--n is required"))
                .split(',')
                .map(|n| {
                    n.trim()
                        .replace('_', "")
                        .parse()
                        .unwrap_or_else(|_| usage("--n wants numbers: 1000,10000"))
                })
                .collect();
            let race_n = args
                .has("--race")
                .then(|| args.number("--race-n", Some(1000)));
            refresher::run(&ns, args.number("--rate", None), race_n, sink).await
        }
        "scale" => Ok(scale::run(
            args.number("--n", Some(1_000_000)),
            args.number("--days", Some(30)),
            args.number("--rate", Some(50)),
            sink,
        )),
        other => usage(&format!("unknown command {other}")),
    }
}

/// Everything, as BENCHMARKS-style markdown.
async fn all(args: &Args, sink: &Sink) -> bool {
    let quick = match (args.has("--quick"), args.has("--full")) {
        (true, false) => true,
        (false, true) => false,
        _ => usage("all wants exactly one of --quick and --full"),
    };
    let profile = if quick { "debug" } else { "release" };
    let bin_dir = args.path("--bin-dir", Some(workspace().join("target").join(profile)));
    let lambda_dir = args.path("--lambda-dir", Some(workspace().join("target/lambda")));
    let events = cold_start::default_events_dir();
    let (runs, iterations, seconds, ns, rate) = if quick {
        (3, 200, 3, vec![1_000], 500)
    } else {
        (20, 5_000, 15, vec![1_000, 10_000, 100_000], 1_000)
    };
    // Before anything pins this process to a core.
    let machine = machine(&bin_dir, profile);
    let latency_ms = 20;
    let clients = 64;
    let race_n = 1_000;

    let mut sections: Vec<(String, Result<Section, String>)> = Vec::new();
    let step = |name: &str| eprintln!("bench all: {name}...");
    step("cold start");
    sections.push((
        format!(
            "bench cold-start --bin-dir {} --runs {runs}",
            bin_dir.display()
        ),
        cold_start::run(&bin_dir, &events, runs, sink).await,
    ));
    step("boot steps");
    sections.push((
        format!(
            "bench boot-steps --bin-dir {} --runs {runs}",
            bin_dir.display()
        ),
        boot_steps::run(&bin_dir, runs, sink).await,
    ));
    step("size");
    let size = if quick && !lambda_dir.is_dir() {
        let mut skipped = Section::new("Artifact size");
        skipped.push(format!(
            "Skipped in quick mode: {} is missing (`scripts/check-template` builds it with `cargo lambda build --release --arm64`).",
            lambda_dir.display()
        ));
        Ok(skipped)
    } else {
        size::run(&lambda_dir, sink)
    };
    sections.push((
        format!("bench size --lambda-dir {}", lambda_dir.display()),
        size,
    ));
    step("warm");
    sections.push((
        format!("bench warm --iterations {iterations}"),
        warm::run(iterations, sink).await,
    ));
    step("throughput");
    let options = throughput::Options {
        bin_dir: bin_dir.clone(),
        seconds,
        latency_ms,
        clients,
    };
    sections.push((
        format!("bench throughput --seconds {seconds} --latency-ms {latency_ms} --clients {clients} --bin-dir {}", bin_dir.display()),
        throughput::run(&options, sink).await,
    ));
    step("refresher");
    let list = ns
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    sections.push((
        format!("bench refresher --n {list} --rate {rate} --race --race-n {race_n}"),
        refresher::run(&ns, rate, Some(race_n), sink).await,
    ));

    step("scale");
    let scale_days = if quick { 14 } else { 30 };
    sections.push((
        format!("bench scale --n 1000000 --days {scale_days} --rate 50"),
        Ok(scale::run(1_000_000, scale_days, 50, sink)),
    ));

    let mut ok = true;
    let mut targets = Vec::new();
    let mut body = String::new();
    for (command, result) in &sections {
        match result {
            Ok(section) => {
                targets.extend(section.targets.iter().cloned());
                body.push_str(&section.render());
                body.push_str(&format!("Reproduce alone: `{command}`\n\n"));
            }
            Err(error) => {
                ok = false;
                body.push_str(&format!("## `{command}` failed\n\n{error}\n\n"));
            }
        }
    }
    let met = targets.iter().filter(|t| t.met).count();
    println!(
        "# Benchmark results ({} mode)\n",
        if quick { "quick" } else { "full" }
    );
    println!("{machine}\n");
    println!(
        "## Targets: {met} of {} met\n\n{}",
        targets.len(),
        report::targets_table(&targets)
    );
    print!("{body}");
    ok
}

fn machine(bin_dir: &Path, profile: &str) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or_else(
            || "?".into(),
            |kib| format!("{:.0} GiB", kib / 1024.0 / 1024.0),
        );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "Machine: {} cores {} ({model}), {mem_gib} RAM, Linux {}. Binaries: {} profile from `{}`. \
         Lambda runs these functions on arm64 (Graviton) with 128 MB, so absolute numbers there differ; ratios and counts carry over. \
         Run at Unix time {}.",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH,
        kernel.trim(),
        profile,
        bin_dir.display(),
        report::unix_secs(),
    )
}
