//! What can go wrong talking to TikTok, kept with everything TikTok said about it.

use std::time::Duration;

/// A failed upstream call. TikTok's `code`, `message` and `log_id` are kept (TikTok
/// support asks for the `log_id`), and so is the raw body when it could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The access token is expired, revoked or unknown (`access_token_invalid`):
    /// refresh once and retry.
    #[error("TikTok rejected the access token: {message} (log_id {log_id:?})")]
    AccessTokenInvalid {
        /// TikTok's message.
        message: String,
        /// TikTok's log id.
        log_id: Option<String>,
    },
    /// The code or refresh token was refused (`invalid_grant`): used, expired or rotated.
    #[error("TikTok refused the grant (invalid_grant): {description} (log_id {log_id:?})")]
    InvalidGrant {
        /// TikTok's `error_description`.
        description: String,
        /// TikTok's log id.
        log_id: Option<String>,
    },
    /// Any other OAuth error body (`invalid_client`, `invalid_request`, ...).
    #[error("TikTok OAuth error {error} (HTTP {status}): {description} (log_id {log_id:?})")]
    OAuth {
        /// HTTP status of the answer.
        status: u16,
        /// TikTok's `error`.
        error: String,
        /// TikTok's `error_description`.
        description: String,
        /// TikTok's log id.
        log_id: Option<String>,
    },
    /// A v2 envelope whose `error.code` is not `ok`.
    #[error("TikTok API error {code} (HTTP {status}): {message} (log_id {log_id:?})")]
    Api {
        /// HTTP status of the answer.
        status: u16,
        /// TikTok's `error.code`.
        code: String,
        /// TikTok's `error.message`.
        message: String,
        /// TikTok's `error.log_id`.
        log_id: Option<String>,
    },
    /// HTTP 429 or `rate_limit_exceeded`.
    #[error("TikTok rate limit exceeded (retry after {retry_after:?}, log_id {log_id:?})")]
    RateLimited {
        /// The `Retry-After` TikTok gave, if any.
        retry_after: Option<Duration>,
        /// TikTok's log id.
        log_id: Option<String>,
    },
    /// An HTTP error status without a body TikTok's contract describes.
    #[error("TikTok answered HTTP {status}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The raw body (redacted on token endpoints).
        body: String,
    },
    /// A body that is not what the contract says.
    #[error("could not decode TikTok's answer (HTTP {status}): {source}")]
    Decode {
        /// HTTP status.
        status: u16,
        /// The raw body (redacted on token endpoints, which may carry tokens).
        body: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// One attempt took longer than the request timeout.
    #[error("TikTok did not answer in time")]
    Timeout,
    /// The caller's total time budget ran out (waiting for the rate limiter, retries included).
    #[error("the time budget for TikTok ran out")]
    DeadlineExceeded,
    /// TikTok could not be reached (connect error, reset).
    #[error("could not reach TikTok: {0}")]
    Transport(#[source] reqwest::Error),
}

impl UpstreamError {
    /// Whether another attempt may succeed: 429, 5xx (an OAuth `server_error` or
    /// `temporarily_unavailable` included), timeouts and connection failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Timeout => true,
            Self::Status { status, .. } => *status >= 500,
            Self::Api { status, code, .. } => *status >= 500 || code == "internal_error",
            Self::OAuth { status, error, .. } => {
                *status >= 500 || error == "server_error" || error == "temporarily_unavailable"
            }
            Self::Transport(e) => !e.is_builder(),
            _ => false,
        }
    }

    /// TikTok's log id, when it gave one.
    pub fn log_id(&self) -> Option<&str> {
        match self {
            Self::AccessTokenInvalid { log_id, .. }
            | Self::InvalidGrant { log_id, .. }
            | Self::OAuth { log_id, .. }
            | Self::Api { log_id, .. }
            | Self::RateLimited { log_id, .. } => log_id.as_deref(),
            _ => None,
        }
    }
}
