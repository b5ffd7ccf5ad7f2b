//! The production log format at `RUST_LOG=trace`, captured in memory, for the
//! tests that search the logs for secrets. A test binary has one global
//! subscriber: call [`capture_logs_at_trace_level`] once per binary.

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Installs the production subscriber at trace level, writing into what it returns.
pub fn capture_logs_at_trace_level() -> Captured {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing::subscriber::set_global_default(tiktok_gateway::telemetry::log_subscriber(
        "trace",
        move || writer.clone(),
    ))
    .expect("the only subscriber in this test binary");
    captured
}

/// 128 random bits in hex: a value nothing but the test could have logged.
pub fn random() -> String {
    format!("{:032x}", rand::random::<u128>())
}
