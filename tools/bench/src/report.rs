//! What every benchmark hands back: a markdown section for people, JSON lines for
//! machines, and each target with the figure that decides it.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// Sorted samples, in milliseconds, with nearest-rank percentiles.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<f64>);

impl Samples {
    /// From durations.
    pub fn from_durations(durations: &[Duration]) -> Self {
        Self::from_values(durations.iter().map(|d| d.as_secs_f64() * 1e3).collect())
    }

    /// From plain values (any unit).
    pub fn from_values(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        Self(values)
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentile `p` (0–100); 0 when empty.
    pub fn pct(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    /// The median (nearest rank).
    pub fn median(&self) -> f64 {
        self.pct(50.0)
    }

    /// The smallest.
    pub fn min(&self) -> f64 {
        self.0.first().copied().unwrap_or(0.0)
    }

    /// The largest.
    pub fn max(&self) -> f64 {
        self.0.last().copied().unwrap_or(0.0)
    }
}

/// One target and whether this run met it.
#[derive(Debug, Clone)]
pub struct Target {
    /// What is measured, e.g. `search cold start / hello`.
    pub what: String,
    /// The target, e.g. `<= 2x`.
    pub target: String,
    /// The figure this run measured.
    pub measured: String,
    /// Whether it was met.
    pub met: bool,
}

impl Target {
    /// A target line.
    pub fn new(
        what: impl Into<String>,
        target: impl Into<String>,
        measured: impl Into<String>,
        met: bool,
    ) -> Self {
        Self {
            what: what.into(),
            target: target.into(),
            measured: measured.into(),
            met,
        }
    }
}

/// A benchmark's output.
#[derive(Debug, Default)]
pub struct Section {
    /// Heading.
    pub title: String,
    /// Markdown: tables and notes.
    pub body: String,
    /// Targets with their verdicts.
    pub targets: Vec<Target>,
}

impl Section {
    /// An empty section titled `title`.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            ..Default::default()
        }
    }

    /// Appends a paragraph (or a rendered table).
    pub fn push(&mut self, markdown: impl AsRef<str>) {
        self.body.push_str(markdown.as_ref().trim_end());
        self.body.push_str("\n\n");
    }

    /// The section as markdown, targets last.
    pub fn render(&self) -> String {
        let mut out = format!("## {}\n\n{}", self.title, self.body);
        if !self.targets.is_empty() {
            out.push_str(&targets_table(&self.targets));
            out.push('\n');
        }
        out
    }
}

/// Targets as a table.
pub fn targets_table(targets: &[Target]) -> String {
    let mut table = Table::new(&["target", "goal", "measured", "verdict"]);
    for t in targets {
        table.row(vec![
            t.what.clone(),
            t.target.clone(),
            t.measured.clone(),
            if t.met {
                "met".into()
            } else {
                "**not met**".into()
            },
        ]);
    }
    table.render()
}

/// A markdown table.
#[derive(Debug)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders it.
    pub fn render(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut out = line(&self.header);
        out.push_str(&line(&vec!["---".to_owned(); self.header.len()]));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// JSON lines appended to the `--out` file (and nowhere when there is none).
pub struct Sink {
    file: Mutex<Option<std::fs::File>>,
}

impl Sink {
    /// Appends to `path` (created when missing).
    pub fn open(path: Option<&Path>) -> std::io::Result<Self> {
        let file = match path {
            Some(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                Some(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?,
                )
            }
            None => None,
        };
        Ok(Self {
            file: Mutex::new(file),
        })
    }

    /// Writes one result, stamped with the bench name and the time.
    pub fn record(&self, bench: &str, mut value: serde_json::Value) {
        if let Some(map) = value.as_object_mut() {
            map.insert("bench".into(), bench.into());
            map.insert("unixTime".into(), unix_secs().into());
        }
        if let Ok(mut guard) = self.file.lock() {
            if let Some(file) = guard.as_mut() {
                if let Err(error) = writeln!(file, "{value}") {
                    eprintln!("bench: cannot write results: {error}");
                }
            }
        }
    }
}

/// Now, in Unix seconds.
pub fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Milliseconds with precision that suits the magnitude.
pub fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0} ms")
    } else if value >= 10.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.2} ms")
    }
}

/// Kibibytes as MiB.
pub fn mib_from_kib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}

/// The peak resident set (`VmHWM`) of `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    proc_status_kib(&format!("/proc/{pid}/status"), "VmHWM:")
}

/// The current process's peak resident set, in KiB.
pub fn own_peak_rss_kib() -> Option<u64> {
    proc_status_kib("/proc/self/status", "VmHWM:")
}

/// Resets this process's peak resident set to its current one (Linux
/// `clear_refs` 5), so a later [`own_peak_rss_kib`] measures one phase.
pub fn reset_own_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn proc_status_kib(path: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(path).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
