//! Where start-up goes: the `boot-steps` binary (each step of the functions'
//! boot timed in-process) run again and again, medians per step.

use std::collections::BTreeMap;
use std::path::Path;

use crate::report::{Samples, Section, Sink, Table};
use crate::setup::{self, Res};

/// Runs `boot-steps` from `bin_dir` `runs` times.
pub async fn run(bin_dir: &Path, runs: usize, sink: &Sink) -> Res<Section> {
    let bin = bin_dir.join("boot-steps");
    if !bin.is_file() {
        return Err(format!("{} is missing: build it first", bin.display()));
    }
    let env = setup::app_vars(
        "https://open.tiktokapis.com",
        "bench-table",
        "bench-secret",
        &[],
    );
    let mut order: Vec<String> = Vec::new();
    let mut steps: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for _ in 0..runs {
        let output = tokio::process::Command::new(&bin)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .envs([
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("RUST_LOG", "warn"),
            ])
            .output()
            .await
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        if !output.status.success() {
            return Err(format!(
                "boot-steps failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Some((name, micros)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(micros) = micros.parse::<f64>() else {
                continue;
            };
            if !order.iter().any(|o| o == name) {
                order.push(name.to_owned());
            }
            steps.entry(name.to_owned()).or_default().push(micros / 1e3);
        }
    }
    let mut section = Section::new("Where start-up goes");
    let mut table = Table::new(&["step", "median", "p90"]);
    for name in &order {
        let samples = Samples::from_values(steps.get(name).cloned().unwrap_or_default());
        table.row(vec![
            name.clone(),
            format!("{:.3} ms", samples.median()),
            format!("{:.3} ms", samples.pct(90.0)),
        ]);
        sink.record(
            "boot-steps",
            serde_json::json!({"step": name, "runs": samples.len(), "medianMs": samples.median(), "p90Ms": samples.pct(90.0)}),
        );
    }
    section.push(format!(
        "`boot-steps` does what a function's `boot()` does, one step at a time, timing each in-process ({runs} runs, medians). \
         It starts after the process and the tokio runtime are up, which `hello` also pays."
    ));
    section.push(table.render());
    Ok(section)
}
