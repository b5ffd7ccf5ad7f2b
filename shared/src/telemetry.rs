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

/// The functions' log format (JSON lines, no timestamps: CloudWatch adds them)
/// with `filter` (a `RUST_LOG` value), written to `writer`. The AWS SDK and the
/// HTTP stack are held at `info` whatever the filter says: at `debug` and
/// `trace` they log request and response bodies, which carry tokens.
pub fn log_subscriber<W>(filter: &str, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "{filter},aws_smithy_runtime=info,aws_smithy_runtime_api=info,aws_sdk_secretsmanager=info,\
         aws_sdk_dynamodb=info,aws_sdk_sqs=info,aws_config=info,hyper=info,hyper_util=info,reqwest=info,rustls=info,h2=info,\
         lambda_runtime=info,lambda_runtime_api_client=info,lambda_http=info"
    ))
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        // The invocation's `request` span (request id, function) on every line.
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .with_target(false)
        .with_writer(writer)
        .finish()
}
