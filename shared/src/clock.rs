//! Time: the clock every part reads (replaceable in tests) and the Lambda
//! invocation's deadline as an [`Instant`].

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// The current Unix time in seconds; replaceable in tests.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    })
}

/// `now` plus a lifetime in seconds from TikTok, clamped: a lifetime beyond
/// `i64` is "far in the future", never a negative number.
pub fn expires_at(now: i64, lifetime_secs: u64) -> i64 {
    now.saturating_add(i64::try_from(lifetime_secs).unwrap_or(i64::MAX))
}

/// The Lambda invocation's deadline (Unix milliseconds, from the runtime's
/// context) as an `Instant`; `None` when the context has none (0: a test, a
/// local call). The one conversion: each caller decides its own fallback.
pub fn lambda_deadline(deadline_ms: u64) -> Option<Instant> {
    if deadline_ms == 0 {
        return None;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Some(Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms)))
}
