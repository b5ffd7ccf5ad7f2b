//! The TikTok HTTP client: one private execution path that waits for the rate
//! limiter, sends, retries, checks the answer and decodes it. The public calls in
//! [`super::oauth`] and [`super::research`] are thin wrappers over it.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::error::UpstreamError;
use crate::config::TikTokConfig;

/// How failed attempts are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff ceiling; it doubles after each attempt.
    pub base_delay: Duration,
    /// The largest backoff ceiling.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a uniformly random wait between zero and the exponential ceiling.
    fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max_delay);
        ceiling.mul_f64(rand::random::<f64>())
    }
}

/// A client for TikTok's v2 API. Cheap to clone; clones share the connection pool
/// and the rate limiter.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use tiktok_gateway::{Config, TikTokClient, TikTokId};
/// let config = Config::from_env()?;
/// let client = TikTokClient::new(TikTokClient::http_client(&config.tiktok)?, config.tiktok);
/// let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
/// let token = tiktok_gateway::AccessToken::new(std::env::var("TIKTOK_TOKEN")?);
/// let shop = TikTokId::parse("7494754040961993092").unwrap();
/// let page = client.products(&token, &shop, 1, 10, deadline).await?;
/// println!("{} products, more: {}", page.items.len(), page.has_more);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TikTokClient {
    pub(super) http: reqwest::Client,
    pub(super) config: Arc<TikTokConfig>,
    limiter: Arc<DefaultDirectRateLimiter>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for TikTokClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TikTokClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What an attempt brought back before decoding.
pub(super) struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl TikTokClient {
    /// A client over `http` (build it with [`TikTokClient::http_client`]).
    pub fn new(http: reqwest::Client, config: TikTokConfig) -> Self {
        Self::with_retry(http, config, RetryPolicy::default())
    }

    /// A client with a custom retry policy.
    pub fn with_retry(http: reqwest::Client, config: TikTokConfig, retry: RetryPolicy) -> Self {
        let quota = limiter_quota(config.rate_per_sec);
        Self {
            http,
            config: Arc::new(config),
            limiter: Arc::new(RateLimiter::direct(quota)),
            retry,
        }
    }

    /// The reqwest client the gateway uses: connect and request timeouts set,
    /// redirects never followed, rustls trusting Mozilla's root certificates.
    pub fn http_client(config: &TikTokConfig) -> reqwest::Result<reqwest::Client> {
        let builder = match tls_config() {
            Ok(tls) => reqwest::Client::builder().tls_backend_preconfigured(tls),
            // Not reached with aws-lc-rs; reqwest's own TLS set-up then.
            Err(_) => reqwest::Client::builder(),
        };
        builder
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "dshipit-tiktok-gateway/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
    }

    /// Sends the request `make` builds, retrying what can be retried until
    /// `deadline`, and decodes the answer with `decode`.
    pub(super) async fn execute<T>(
        &self,
        deadline: Instant,
        make: impl Fn() -> reqwest::RequestBuilder,
        decode: impl Fn(RawResponse) -> Result<T, UpstreamError>,
    ) -> Result<T, UpstreamError> {
        let mut attempt = 1;
        loop {
            let error = match self.attempt(deadline, &make).await.and_then(&decode) {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if !error.is_retryable() || attempt >= self.retry.max_attempts {
                return Err(error);
            }
            let wait = match &error {
                UpstreamError::RateLimited {
                    retry_after: Some(after),
                    ..
                } => *after,
                _ => self.retry.backoff(attempt - 1),
            };
            if Instant::now() + wait >= deadline {
                tracing::warn!(error = %error, "upstream retry would pass the deadline; giving up");
                return Err(error);
            }
            tracing::info!(error = %error, attempt, wait_ms = wait.as_millis() as u64, "retrying upstream call");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        deadline: Instant,
        make: &impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<RawResponse, UpstreamError> {
        tokio::time::timeout_at(deadline, self.limiter.until_ready())
            .await
            .map_err(|_| UpstreamError::DeadlineExceeded)?;
        let now = Instant::now();
        let remaining = deadline.saturating_duration_since(now);
        let budget_cut = remaining < self.config.request_timeout;
        let send = async {
            let response = make()
                .timeout(remaining.min(self.config.request_timeout))
                .send()
                .await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>(RawResponse {
                status,
                headers,
                body,
            })
        };
        send.await.map_err(|e| match () {
            _ if e.is_timeout() && budget_cut => UpstreamError::DeadlineExceeded,
            _ if e.is_timeout() => UpstreamError::Timeout,
            _ => UpstreamError::Transport(e.without_url()),
        })
    }
}

/// TikTok's rate limit, with its `Retry-After`.
pub(super) fn rate_limited(headers: &HeaderMap, log_id: Option<String>) -> UpstreamError {
    UpstreamError::RateLimited {
        retry_after: retry_after(headers),
        log_id,
    }
}

/// `Retry-After` in seconds (the HTTP-date form falls back to our own backoff).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The body decoded as JSON. A body that is not JSON is TikTok's rate limit on a
/// 429, a server error on a 5xx (gateways answer those in HTML), and otherwise a
/// decode error keeping the body (or, where it may hold secrets, its size).
pub(super) fn json_body<B: DeserializeOwned>(
    answer: &RawResponse,
    may_hold_secrets: bool,
) -> Result<B, UpstreamError> {
    serde_json::from_slice(&answer.body).map_err(|source| match answer.status {
        429 => rate_limited(&answer.headers, None),
        status if status >= 500 => UpstreamError::Status {
            status,
            body: body_for_error(&answer.body, may_hold_secrets),
        },
        status => UpstreamError::Decode {
            status,
            body: body_for_error(&answer.body, may_hold_secrets),
            source,
        },
    })
}

/// The body as text for an error, or a note of its size where it may hold tokens.
pub(super) fn body_for_error(body: &[u8], may_hold_secrets: bool) -> String {
    if may_hold_secrets {
        format!("[redacted: {} bytes]", body.len())
    } else {
        String::from_utf8_lossy(&body[..body.len().min(4096)]).into_owned()
    }
}

/// TLS 1.2 and 1.3 over aws-lc-rs, trusting Mozilla's root certificates as
/// compiled into the binary (already parsed): reading and parsing the image's
/// certificate files instead cost about 3 ms of every cold start (BENCHMARKS.md).
fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tls)
}

/// The limiter for `rate` calls a second. GCRA with sustained rate `r` and burst
/// `b` admits at most `b + r - 1` calls in any window shorter than a second, so
/// `r = rate - b` keeps every one-second window one call under `rate` (slack for
/// network jitter between us and TikTok's counter). A burst of 1 at the full
/// rate never catches up on a wake-up the timer delivers late (about 1 ms with
/// tokio), which at hundreds of calls a second loses 5 % or more of the rate for
/// good; a small burst (rate/50, at least 2) absorbs that lateness. Under 50 calls
/// a second the spacing dwarfs the lateness: burst 1 at the full rate.
pub fn limiter_quota(rate: NonZeroU32) -> Quota {
    if rate.get() < 50 {
        return Quota::per_second(rate).allow_burst(NonZeroU32::MIN);
    }
    let burst = (rate.get() / 50).max(2);
    let sustained = NonZeroU32::new(rate.get() - burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(sustained).allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;

    use super::*;

    /// Admission times over `seconds` when every `tick` the waiting callers take
    /// all the limiter allows (a timer that wakes them `tick` apart).
    fn admitted(rate: u32, tick: Duration, seconds: u64) -> Vec<Duration> {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::direct_with_clock(
            limiter_quota(NonZeroU32::new(rate).unwrap()),
            clock.clone(),
        );
        let mut now = Duration::ZERO;
        let mut times = Vec::new();
        while now < Duration::from_secs(seconds) {
            while limiter.check().is_ok() {
                times.push(now);
            }
            clock.advance(tick);
            now += tick;
        }
        times
    }

    fn most_in_one_second(times: &[Duration]) -> usize {
        let mut first = 0;
        let mut most = 0;
        for last in 0..times.len() {
            while times[last] - times[first] >= Duration::from_secs(1) {
                first += 1;
            }
            most = most.max(last - first + 1);
        }
        most
    }

    #[test]
    fn tiktok_is_reached_over_tls_trusting_mozillas_roots() {
        let tls = tls_config().expect("aws-lc-rs offers TLS 1.2 and 1.3");
        assert_eq!(tls.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        assert!(tls.enable_sni);
    }

    #[test]
    fn late_wake_ups_still_reach_95_percent_and_no_second_exceeds_the_rate() {
        // Ticks that never line up with the spacing: every wake-up is late, by up
        // to a tick. tokio's timer resolution is 1 ms; from 50 calls a second the
        // limiter also absorbs wake-ups later than that.
        for rate in [5, 20, 49, 50, 100, 500, 1000, 5000] {
            let ticks: &[u64] = if rate < 50 {
                &[1_000]
            } else {
                &[1_000, 1_300, 1_700]
            };
            for &tick_us in ticks {
                let times = admitted(rate, Duration::from_micros(tick_us), 10);
                let per_sec = times.len() as f64 / 10.0;
                assert!(
                    most_in_one_second(&times) <= rate as usize,
                    "rate {rate}, tick {tick_us} us: {} in one second",
                    most_in_one_second(&times)
                );
                assert!(
                    per_sec >= 0.95 * rate as f64,
                    "rate {rate}, tick {tick_us} us: {per_sec}/s"
                );
            }
        }
    }
}
