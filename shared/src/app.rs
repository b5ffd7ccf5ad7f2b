//! The state every function builds once at start-up ([`AppState`]): the
//! settings, the store, the provider's two sides, the token logic, the
//! secrets, and the clock and deadline every request reads. It holds data;
//! the logic lives in the modules it names ([`crate::tokens`],
//! [`crate::provider`]); the wiring lives in [`mod@crate::boot`].

use std::sync::Arc;
use std::time::Duration;

use lambda_http::{Request, RequestExt};
use tokio::time::Instant;

use crate::app_secrets::Secrets;
use crate::clock::{lambda_deadline, Clock};
use crate::config::Config;
use crate::provider::{Authorization, Catalogue};
use crate::store::TokenStore;
use crate::tokens::TokenService;

/// Leave this much of the Lambda's own deadline for answering.
const RESPONSE_MARGIN: Duration = Duration::from_millis(500);

/// Everything a function needs, built once per container (by
/// [`mod@crate::boot`]) and borrowed by each invocation.
#[derive(Clone)]
pub struct AppState {
    /// Settings.
    pub config: Arc<Config>,
    /// Every store port at once, for wiring. A function hands its core only the
    /// ports it touches (`&C where C: Connections`, ...), so its signature says
    /// what it reads and writes, as the IAM test proves for its grants; the data
    /// routes reach theirs through [`TokenService::request_connection`].
    pub store: Arc<dyn TokenStore>,
    /// How users connect to the upstream (`TIKTOK_PROVIDER`), and how their
    /// grants are refreshed and ended.
    pub authorization: Arc<dyn Authorization>,
    /// What the data routes read from the upstream.
    pub catalogue: Arc<dyn Catalogue>,
    /// Usable tokens for data requests and the refresher.
    pub tokens: TokenService,
    /// App credentials and token keys, cached.
    pub secrets: Arc<Secrets>,
    /// Unix seconds; the one every part of this state was built with.
    clock: Clock,
}

impl AppState {
    /// The parts, wired (see [`crate::boot::assemble`]).
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn TokenStore>,
        authorization: Arc<dyn Authorization>,
        catalogue: Arc<dyn Catalogue>,
        tokens: TokenService,
        secrets: Arc<Secrets>,
        clock: Clock,
    ) -> Self {
        Self {
            config,
            store,
            authorization,
            catalogue,
            tokens,
            secrets,
            clock,
        }
    }

    /// Now, in Unix seconds.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// The clock this state was built with.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// When upstream work for `req` must stop: the configured budget, and never
    /// past the Lambda's own deadline less a margin to answer.
    pub fn deadline(&self, req: &Request) -> Instant {
        let budget = Instant::now() + self.config.upstream_budget;
        let lambda_deadline = req
            .lambda_context_ref()
            .and_then(|c| lambda_deadline(c.deadline))
            .map(|d| d.checked_sub(RESPONSE_MARGIN).unwrap_or(d));
        lambda_deadline.map_or(budget, |d| d.min(budget))
    }
}
