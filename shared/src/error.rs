//! The error every HTTP function answers with, and the one place that maps it to
//! an HTTP status and a public message.

use std::time::Duration;

use crate::app_secrets::SecretsError;
use crate::store::StoreError;
use crate::tiktok::UpstreamError;

/// Why a request did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; the message says how (shown to the caller).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No authenticated dshipit user on the request.
    #[error("no authenticated user")]
    Unauthorized,
    /// A webhook whose signature is missing or does not match.
    #[error("bad webhook signature")]
    BadSignature,
    /// The caller may not do this (the message is shown to the caller).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The thing asked for does not exist (the message is shown to the caller).
    #[error("not found: {0}")]
    NotFound(String),
    /// The user has not connected a TikTok account.
    #[error("no TikTok connection")]
    NotConnected,
    /// TikTok refused the user's refresh token: they must connect again.
    #[error("TikTok connection needs to be renewed")]
    ReconnectRequired,
    /// The user has spent their daily budget of upstream calls.
    #[error("the user's daily budget of {limit} upstream calls is spent")]
    DailyBudgetSpent {
        /// The budget.
        limit: u32,
        /// Until the budget is back (the next UTC day).
        retry_after: Duration,
    },
    /// The whole app has spent the upstream's daily quota (shared by every user).
    #[error("the app's daily quota of {limit} upstream calls is spent")]
    AppQuotaSpent {
        /// The quota.
        limit: u32,
        /// Until the quota is back (the next UTC day).
        retry_after: Duration,
    },
    /// Another container is refreshing the user's tokens right now and its
    /// rotation did not land within the wait (503 with `Retry-After`).
    #[error("a refresh of this connection is in progress elsewhere")]
    RefreshInProgress {
        /// When to try again.
        retry_after: Duration,
    },
    /// A TikTok call failed.
    #[error("upstream: {0}")]
    Upstream(#[from] UpstreamError),
    /// The token store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The app secret could not be had.
    #[error("secrets: {0}")]
    Secrets(#[from] SecretsError),
    /// The account that authorized the app is not the kind this deployment
    /// serves (a seller's account where a creator's is needed).
    #[error("wrong kind of TikTok account: {0}")]
    WrongAccount(String),
    /// This deployment's provider cannot answer this route.
    #[error("not supported by this provider: {0}")]
    Unsupported(String),
    /// A bug on our side (e.g. a response that cannot be serialized); the
    /// detail goes to the log only.
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthorized | Self::BadSignature => 401,
            Self::Forbidden(_) | Self::WrongAccount(_) => 403,
            Self::Unsupported(_) => 501,
            Self::NotFound(_) => 404,
            Self::NotConnected | Self::ReconnectRequired => 409,
            Self::DailyBudgetSpent { .. } | Self::AppQuotaSpent { .. } => 429,
            Self::RefreshInProgress { .. } => 503,
            Self::Upstream(e) => match e {
                UpstreamError::RateLimited { .. } => 429,
                UpstreamError::Timeout | UpstreamError::DeadlineExceeded => 504,
                UpstreamError::InvalidGrant { .. } => 409,
                UpstreamError::ScopeMissing { .. } | UpstreamError::NotEligible { .. } => 403,
                UpstreamError::NotFound { .. } => 404,
                UpstreamError::Api {
                    status: 400, code, ..
                } if code == "invalid_params" => 400,
                _ => 502,
            },
            Self::Store(StoreError::Unavailable(_)) => 503,
            Self::Store(StoreError::Secrets(SecretsError::Unavailable(_))) => 503,
            Self::Secrets(SecretsError::Unavailable(_)) => 503,
            Self::Store(_) | Self::Secrets(_) | Self::Internal(_) => 500,
        }
    }

    /// The stable machine-readable code in the error body.
    pub fn code(&self) -> &'static str {
        match self.status() {
            400 => "bad_request",
            401 => "unauthorized",
            403 if matches!(self, Self::Forbidden(_)) => "forbidden",
            403 if matches!(self, Self::WrongAccount(_)) => "not_a_creator",
            403 if matches!(self, Self::Upstream(UpstreamError::NotEligible { .. })) => {
                "no_sale_region"
            }
            403 => "missing_scope",
            404 => "not_found",
            409 if matches!(self, Self::NotConnected) => "not_connected",
            409 => "reconnect_required",
            429 => "rate_limited",
            502 => "upstream_error",
            503 => "unavailable",
            501 => "not_supported",
            504 => "upstream_timeout",
            _ => "internal",
        }
    }

    /// What the caller is told. 5xx messages are generic: details go to the log.
    pub fn public_message(&self) -> String {
        match self {
            Self::BadRequest(m) | Self::Forbidden(m) | Self::WrongAccount(m) | Self::Unsupported(m) => {
                m.clone()
            }
            Self::NotFound(m) => format!("{m} not found"),
            Self::Unauthorized => "sign in to dshipit first".into(),
            Self::BadSignature => "the webhook signature is missing or does not match".into(),
            Self::NotConnected => "connect your TikTok account first".into(),
            Self::ReconnectRequired => "your TikTok connection has expired; connect again".into(),
            Self::DailyBudgetSpent { limit, .. } => format!(
                "you have used today's {limit} TikTok requests; they are available again from 00:00 UTC"
            ),
            Self::AppQuotaSpent { limit, .. } => format!(
                "this app has used today's {limit} TikTok requests for all its users; they are available again from 00:00 UTC"
            ),
            Self::RefreshInProgress { .. } => {
                "your TikTok connection is being renewed; try again in a moment".into()
            }
            Self::Upstream(UpstreamError::ScopeMissing { message, .. }) => format!(
                "TikTok refused this call: the authorization lacks the scope it needs ({}); authorize the app again with that scope ticked",
                message.chars().filter(|c| !c.is_control()).take(200).collect::<String>()
            ),
            Self::Upstream(UpstreamError::NotFound { .. }) => "product not found".into(),
            Self::Upstream(UpstreamError::NotEligible { .. }) => "your TikTok Shop creator account has no selection region yet, so TikTok Shop shows it no products to promote; finish setting up your creator account in TikTok Shop (a market where affiliate selling is open), then connect again".into(),
            Self::Upstream(UpstreamError::Misconfigured { code, .. }) => format!(
                "TikTok Shop refused this gateway's configuration (code {code}); an operator must check the app key and secret in the secret, the server clock and the app's IP allow-list"
            ),
            _ => match self.status() {
                400 => "TikTok rejected the request parameters".into(),
                409 => "your TikTok connection has expired; connect again".into(),
                429 => "TikTok's rate limit was reached; try again later".into(),
                502 => "TikTok returned an error".into(),
                503 => "a service this API depends on is unavailable; try again".into(),
                504 => "TikTok did not answer in time".into(),
                _ => "internal error".into(),
            },
        }
    }

    /// How long the caller should wait before retrying (429 only).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Upstream(UpstreamError::RateLimited { retry_after, .. }) => {
                Some(retry_after.unwrap_or(Duration::from_secs(1)))
            }
            Self::DailyBudgetSpent { retry_after, .. }
            | Self::AppQuotaSpent { retry_after, .. }
            | Self::RefreshInProgress { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_api_contract() {
        let cases: Vec<(Error, u16, &str)> = vec![
            (Error::BadRequest("x".into()), 400, "bad_request"),
            (Error::Unauthorized, 401, "unauthorized"),
            (Error::Forbidden("x".into()), 403, "forbidden"),
            (Error::NotFound("shop".into()), 404, "not_found"),
            (Error::NotConnected, 409, "not_connected"),
            (Error::ReconnectRequired, 409, "reconnect_required"),
            (
                UpstreamError::RateLimited {
                    retry_after: None,
                    log_id: None,
                }
                .into(),
                429,
                "rate_limited",
            ),
            (UpstreamError::Timeout.into(), 504, "upstream_timeout"),
            (
                UpstreamError::DeadlineExceeded.into(),
                504,
                "upstream_timeout",
            ),
            (
                UpstreamError::Status {
                    status: 500,
                    body: String::new(),
                }
                .into(),
                502,
                "upstream_error",
            ),
            (
                StoreError::Unavailable("down".into()).into(),
                503,
                "unavailable",
            ),
            (StoreError::Corrupt("x".into()).into(), 500, "internal"),
        ];
        for (error, status, code) in cases {
            assert_eq!((error.status(), error.code()), (status, code), "{error:?}");
        }
    }

    #[test]
    fn server_errors_never_show_details() {
        let error: Error = UpstreamError::Status {
            status: 500,
            body: "stack trace with secrets".into(),
        }
        .into();
        assert!(!error.public_message().contains("secrets"));
    }
}
