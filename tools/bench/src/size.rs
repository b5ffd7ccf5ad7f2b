//! Artifact size: each function's `bootstrap` as `cargo lambda build --release
//! --arm64` left it, zipped with deflate as the Lambda upload is.

use std::path::Path;

use crate::report::{Section, Sink, Table, Target};
use crate::setup::Res;

/// Zipped-size target: 6 MB (6,000,000 bytes).
const ZIPPED_TARGET: u64 = 6_000_000;

/// The size benchmark; an error when `lambda_dir` holds no `*/bootstrap`.
pub fn run(lambda_dir: &Path, sink: &Sink) -> Res<Section> {
    let mut functions: Vec<String> = std::fs::read_dir(lambda_dir)
        .map_err(|e| format!("{}: {e} (run scripts/check-template, which runs `cargo lambda build --release --arm64`)", lambda_dir.display()))?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("bootstrap").is_file())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    functions.sort();
    if functions.is_empty() {
        return Err(format!(
            "{} holds no <function>/bootstrap",
            lambda_dir.display()
        ));
    }
    let mut section = Section::new("Artifact size");
    let mut table = Table::new(&[
        "function",
        "bootstrap (unzipped)",
        "zipped (deflate)",
        "target <= 6 MB zipped",
        "built",
    ]);
    let work = std::env::temp_dir().join(format!("bench-size-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    for function in &functions {
        let bootstrap = lambda_dir.join(function).join("bootstrap");
        let metadata = std::fs::metadata(&bootstrap).map_err(|e| e.to_string())?;
        let unzipped = metadata.len();
        let age_min = metadata
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .map_or(0, |d| d.as_secs() / 60);
        let zip = work.join(format!("{function}.zip"));
        let _ = std::fs::remove_file(&zip);
        // Python's zipfile at deflate level 6, the zip tool's and cargo-lambda's default.
        let status = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, zipfile\n\
                 with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED, compresslevel=6) as z:\n    z.write(sys.argv[2], 'bootstrap')",
            ])
            .arg(&zip)
            .arg(&bootstrap)
            .status()
            .map_err(|e| format!("python3: {e}"))?;
        if !status.success() {
            return Err(format!("zipping {} failed", bootstrap.display()));
        }
        let zipped = std::fs::metadata(&zip).map_err(|e| e.to_string())?.len();
        let met = zipped <= ZIPPED_TARGET;
        table.row(vec![
            function.clone(),
            format!("{unzipped} B ({:.2} MB)", unzipped as f64 / 1e6),
            format!("{zipped} B ({:.2} MB)", zipped as f64 / 1e6),
            if met {
                "met".into()
            } else {
                "**not met**".into()
            },
            format!("{age_min} min before this run"),
        ]);
        section.targets.push(Target::new(
            format!("{function} zipped"),
            "<= 6 MB",
            format!("{:.2} MB", zipped as f64 / 1e6),
            met,
        ));
        sink.record(
            "size",
            serde_json::json!({"function": function, "unzippedBytes": unzipped, "zippedBytes": zipped, "targetBytes": ZIPPED_TARGET, "builtMinutesAgo": age_min}),
        );
    }
    let _ = std::fs::remove_dir_all(&work);
    section.push(format!(
        "`{}/<function>/bootstrap` (arm64, the workspace release profile), zipped alone with deflate (level 6). MB = 10^6 bytes.",
        lambda_dir.display()
    ));
    section.push(table.render());
    Ok(section)
}
