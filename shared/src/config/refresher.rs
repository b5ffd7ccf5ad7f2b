//! The scheduled refresher and its workers: what is due, how fast, how far ahead.

use std::num::NonZeroU32;
use std::time::Duration;

use super::env::Env;
use super::ConfigError;

/// The scheduled refresher's settings.
#[derive(Debug, Clone)]
pub struct RefresherConfig {
    /// Refresh access tokens expiring within this much time (next run plus a margin).
    pub ahead: Duration,
    /// Refresh connections whose refresh token expires within this much time.
    pub refresh_window: Duration,
    /// Refreshes in flight at once (the upstream rate limiter still applies).
    pub concurrency: usize,
    /// Stop taking new work this long before the Lambda deadline.
    pub deadline_margin: Duration,
    /// Access tokens are refreshed ahead of time only for connections used
    /// within this long (others are refreshed on their next request).
    pub active_within: Duration,
    /// A refresh token about to expire is kept alive only for connections used
    /// within this long; past it the connection goes dormant.
    pub keep_alive_within: Duration,
    /// Access tokens that expired longer ago than this are not looked at (their
    /// users have not been back): bounds the reads an idle connection costs.
    pub lookback: Duration,
    /// The fan-out queue's URL; `None`: no fan-out, a run does what it can and
    /// leaves the rest to the next run.
    pub queue_url: Option<String>,
    /// User ids per queue message.
    pub batch_size: usize,
    /// Upstream refresh calls per second for all of the refresh work together.
    pub upstream_rate: NonZeroU32,
    /// How many refresh workers may run at once (the event source's
    /// `MaximumConcurrency`).
    pub worker_concurrency: NonZeroU32,
    /// The stack name the refresh metrics also carry as a `Stack` dimension
    /// (`METRICS_STACK`; the template sets it).
    pub metrics_stack: Option<String>,
}

impl RefresherConfig {
    /// One worker's upstream rate: the upstream rate shared by the workers, so
    /// `worker_concurrency * worker_rate() <= upstream_rate`.
    pub fn worker_rate(&self) -> NonZeroU32 {
        NonZeroU32::new(self.upstream_rate.get() / self.worker_concurrency.get())
            .unwrap_or(NonZeroU32::MIN)
    }
}

impl RefresherConfig {
    /// Reads the section (`REFRESH*`, `KEEP_ALIVE_ACTIVE_DAYS`, `METRICS_STACK`).
    pub(super) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            ahead: env.secs("REFRESH_AHEAD_SECS", 1_200)?,
            refresh_window: env.secs("REFRESH_WINDOW_DAYS", 7)?.saturating_mul(86_400),
            concurrency: env.number::<NonZeroU32>("REFRESHER_CONCURRENCY", 8)?.get() as usize,
            deadline_margin: env.millis("REFRESHER_DEADLINE_MARGIN_MS", 5_000)?,
            active_within: days(env.number::<u64>("REFRESH_ACTIVE_DAYS", 7)?),
            keep_alive_within: days(env.number::<u64>("KEEP_ALIVE_ACTIVE_DAYS", 180)?),
            lookback: env.secs("REFRESH_LOOKBACK_SECS", 3_600)?,
            queue_url: env.get("REFRESH_QUEUE_URL"),
            metrics_stack: env.get("METRICS_STACK"),
            batch_size: env.number::<NonZeroU32>("REFRESH_BATCH_SIZE", 50)?.get() as usize,
            upstream_rate: env.number("REFRESH_UPSTREAM_RATE_PER_SEC", 20)?,
            worker_concurrency: env.number("REFRESH_WORKER_CONCURRENCY", 4)?,
        })
    }
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n.saturating_mul(86_400))
}
