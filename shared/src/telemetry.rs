//! Logging: the functions' JSON log format and the caps that keep secrets out
//! of it. Installed once at start-up ([`init_tracing`]); tests install the
//! same subscriber over their own writer ([`log_subscriber`]).

/// Initialises JSON logs filtered by `RUST_LOG` (default `info`). The AWS SDK,
/// the HTTP stack and the Lambda runtime are capped at `info` whatever
/// `RUST_LOG` says: at trace level they log request and response bodies and
/// the raw event (JWTs, codes, states), which carry secrets and tokens.
pub fn init_tracing() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
    let _ = tracing::subscriber::set_global_default(log_subscriber(&filter, std::io::stdout));
}

/// The crates held at `info` whatever the filter says: at `debug` and `trace`
/// they log request and response bodies and the raw event, which carry tokens.
const CAPPED: [&str; 15] = [
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_sdk_secretsmanager",
    "aws_sdk_dynamodb",
    "aws_sdk_sqs",
    "aws_config",
    "hyper",
    "hyper_util",
    "reqwest",
    "rustls",
    "h2",
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "tower",
];

/// The functions' log format (JSON lines, no timestamps: CloudWatch adds them)
/// with `filter` (a `RUST_LOG` value), written to `writer`. The `CAPPED`
/// crates are held at `info` whatever the filter says, span-scoped directives
/// (`[request]=trace`, `[{requestId}]=trace`) included: the caps are a filter
/// of their own that every event must also pass, not directives of the same
/// filter that a more specific directive could override.
pub fn log_subscriber<W>(filter: &str, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    let caps = CAPPED.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |caps, target| caps.with_target(*target, LevelFilter::INFO),
    );
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let format = tracing_subscriber::fmt::layer()
        .json()
        // The invocation's `request` span (request id, function) on every line.
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .with_target(false)
        .with_writer(writer);
    tracing_subscriber::registry()
        .with(caps)
        .with(filter)
        .with(format)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut buf) = self.0.lock() {
                buf.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Issue 20 item 9: span-scoped directives (`[request]=trace`,
    /// `[{requestId}]=trace`) must not re-enable the capped crates' trace
    /// output (the Lambda runtime logs the raw event there).
    #[test]
    fn the_caps_hold_whatever_rust_log_says() {
        for filter in [
            "trace",
            "[request]=trace",
            "[{requestId}]=trace",
            "[request{requestId}]=trace",
            "info,[{requestId}]=trace",
            "info,lambda_runtime=trace,aws_smithy_runtime=trace",
        ] {
            let captured = Captured::default();
            let writer = captured.clone();
            let subscriber = super::log_subscriber(filter, move || writer.clone());
            tracing::subscriber::with_default(subscriber, || {
                let span = tracing::info_span!("request", requestId = "req-1");
                let _entered = span.enter();
                tracing::trace!(target: "lambda_runtime", "RAW-EVENT-lambda");
                tracing::debug!(target: "lambda_runtime::layers::api_client", "RAW-EVENT-layers");
                tracing::trace!(target: "aws_smithy_runtime::client", "RAW-BODY-smithy");
                tracing::trace!(target: "hyper_util::client", "RAW-BODY-hyper");
                tracing::info!(target: "tiktok_gateway", "ours-is-kept");
            });
            let text = String::from_utf8(captured.0.lock().map(|b| b.clone()).unwrap_or_default())
                .unwrap_or_default();
            assert!(!text.contains("RAW-"), "{filter}: {text}");
            assert!(text.contains("ours-is-kept"), "{filter}: {text}");
        }
    }
}
