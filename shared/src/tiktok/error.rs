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
    /// The Partner API refused the app's set-up: a bad signature (106001), a
    /// missing or unexpected `shop_cipher` (106013, 36009004), an invalid
    /// `app_key`, a timestamp out of window, an IP not on the allow-list
    /// (36009033). Never retried; an operator must act.
    #[error("TikTok Shop refused the app's configuration: code {code}: {message} (request_id {log_id:?})")]
    Misconfigured {
        /// TikTok's code.
        code: String,
        /// TikTok's message.
        message: String,
        /// TikTok's request id.
        log_id: Option<String>,
    },
    /// The creator's account cannot use the affiliate marketplace (16015007:
    /// it has no selection region).
    #[error("TikTok Shop creator not eligible: {message} (request_id {log_id:?})")]
    NotEligible {
        /// TikTok's message.
        message: String,
        /// TikTok's request id.
        log_id: Option<String>,
    },
    /// The seller's authorization lacks a scope the call needs (105005).
    #[error("TikTok Shop scope missing: {message} (request_id {log_id:?})")]
    ScopeMissing {
        /// TikTok's message (it names the scope).
        message: String,
        /// TikTok's request id.
        log_id: Option<String>,
    },
    /// What was asked for does not exist upstream (12019150: no such product).
    #[error("TikTok: not found, code {code}: {message} (request_id {log_id:?})")]
    NotFound {
        /// TikTok's code.
        code: String,
        /// TikTok's message.
        message: String,
        /// TikTok's request id.
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
            Self::Api { status, code, .. } => {
                *status >= 500
                    || matches!(code.as_str(), "internal_error" | "36009003" | "36009007")
            }
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
            | Self::Misconfigured { log_id, .. }
            | Self::ScopeMissing { log_id, .. }
            | Self::NotEligible { log_id, .. }
            | Self::NotFound { log_id, .. }
            | Self::RateLimited { log_id, .. } => log_id.as_deref(),
            _ => None,
        }
    }
}
