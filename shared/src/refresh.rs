//! The refresh policy the scheduled refresher and the refresh worker share:
//! which connections are refreshed ahead of time, which are kept alive and
//! which go dormant; one connection's refresh; a run's [`Summary`] and its
//! CloudWatch Embedded Metric Format line.
//!
//! The rules, the same for every provider (only token lifetimes differ):
//! - an access token due soon is refreshed ahead of time only when the user
//!   used the connection within `REFRESH_ACTIVE_DAYS`; otherwise the user's next
//!   request refreshes it (it is "idle");
//! - a refresh token due soon is refreshed (kept alive) only when the user used
//!   the connection within `KEEP_ALIVE_ACTIVE_DAYS`; otherwise the connection
//!   goes dormant: nothing refreshes it, it leaves the due indexes, and once its
//!   refresh token has expired the user connects again (status says so).

use serde::Serialize;
use tokio::time::Instant;

use crate::config::RefresherConfig;
use crate::store::{Connection, ConnectionStatus, DueWindow, StoreError};
use crate::store::{ConnectionActivity, Connections};
use crate::tokens::{Refresh, TokenService};

/// The CloudWatch namespace of the refresh metrics.
pub const METRICS_NAMESPACE: &str = "dshipit/TokenRefresh";

/// How long a refresher run or worker holds its claim on a connection's
/// refresh: longer than one refresh with its retries; a claim left by a
/// crashed run lapses long before the next scheduled run.
pub const REFRESH_CLAIM_SECS: i64 = 120;

/// The window the indexes are asked for at `now`.
pub fn due_window(config: &RefresherConfig, now: i64) -> DueWindow {
    DueWindow {
        access_from: now.saturating_sub(config.lookback.as_secs() as i64),
        access_before: now.saturating_add(config.ahead.as_secs() as i64),
        refresh_before: now.saturating_add(config.refresh_window.as_secs() as i64),
    }
}

/// What the policy says about one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Refresh it now (an active user's access token, or a refresh token kept alive).
    Refresh,
    /// Its access token is due but its user has not been back within the
    /// active window: their next request refreshes it.
    Idle,
    /// Its refresh token is due and its user has not been back within the
    /// keep-alive window: it goes dormant.
    Dormant,
    /// Nothing to do: not due (any more), or not active.
    NotDue,
}

/// The policy for `connection` at `now`.
pub fn decide(
    connection: &Connection,
    window: DueWindow,
    config: &RefresherConfig,
    now: i64,
) -> Decision {
    if connection.status != ConnectionStatus::Active {
        return Decision::NotDue;
    }
    let unused_for = now.saturating_sub(connection.last_used_at);
    let within = |d: std::time::Duration| unused_for <= d.as_secs() as i64;
    // A refresh token a refresh did not extend (the Partner API's may not
    // move) is refreshed at most once a day for its own sake, not every run.
    let recently_refreshed = connection.tokens.refreshed_at > now.saturating_sub(86_400);
    if connection.tokens.refresh_expires_at < window.refresh_before && !recently_refreshed {
        return match within(config.keep_alive_within) {
            true => Decision::Refresh,
            false => Decision::Dormant,
        };
    }
    if connection.tokens.access_expires_at < window.access_before {
        return match within(config.active_within) {
            true => Decision::Refresh,
            false => Decision::Idle,
        };
    }
    Decision::NotDue
}

/// How one connection's turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Refreshed and stored; `expiring`: its refresh token still expires within
    /// the window (a refresh did not extend it), so the user will have to
    /// connect again before then.
    Refreshed {
        /// The refresh token was not extended past the window.
        expiring: bool,
    },
    /// Nothing to do any more (someone else refreshed it, it was deleted, or it
    /// is not active).
    Skipped,
    /// Due, but its user is idle: left to their next request.
    Idle,
    /// Marked dormant.
    Dormant,
    /// The refresh or the store failed; it stays due.
    Failed,
    /// The provider refused the refresh token: the user must connect again.
    ReconnectRequired,
    /// Not started before the deadline; it stays due.
    NotStarted,
}

/// What a refresher run or a worker invocation did; also its metrics.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Connections found due (by the indexes, or in the worker's messages).
    pub due: usize,
    /// Refreshed and stored.
    pub refreshed: usize,
    /// Refreshed, but the refresh token still expires within the window (a
    /// refresh did not extend it): the user will have to connect again before
    /// then. Each is logged with its user id and expiry.
    pub refresh_token_expiring: usize,
    /// No longer needing it (someone else did it, deleted, not active).
    pub skipped: usize,
    /// Due but idle: left to the user's next request.
    pub idle: usize,
    /// Marked dormant by this run.
    pub dormant: usize,
    /// Refresh failed (upstream or store); they stay due.
    pub failed: usize,
    /// The provider refused the refresh token: the user must connect again.
    pub reconnect_required: usize,
    /// Not started before the deadline; left for the next run.
    pub left_for_next_run: usize,
    /// Handed to the refresh workers through the queue.
    pub enqueued: usize,
    /// How long ago the most overdue token the policy said to refresh
    /// expired (0: none had). Idle and dormant connections do not count.
    pub oldest_due_age_secs: i64,
    /// Whether the app's client-credentials token was renewed (app mode).
    pub app_token_refreshed: bool,
    /// Due-index shards whose query failed: their connections were not looked
    /// at and wait for the next run (the other shards' work was done).
    pub failed_shards: usize,
}

impl Summary {
    /// Counts one outcome.
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Refreshed { expiring } => {
                self.refreshed += 1;
                self.refresh_token_expiring += usize::from(expiring);
            }
            Outcome::Skipped => self.skipped += 1,
            Outcome::Idle => self.idle += 1,
            Outcome::Dormant => self.dormant += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::ReconnectRequired => self.reconnect_required += 1,
            Outcome::NotStarted => self.left_for_next_run += 1,
        }
    }

    /// Notes a due token that expires (or expired) at `expires_at`.
    pub fn note_due(&mut self, expires_at: i64, now: i64) {
        self.oldest_due_age_secs = self
            .oldest_due_age_secs
            .max(now.saturating_sub(expires_at).max(0));
    }

    /// The Embedded Metric Format line for this summary, from `function`
    /// (the `Function` dimension) at `timestamp_ms`.
    pub fn emf_line(&self, function: &str, timestamp_ms: u64) -> String {
        self.emf_line_in(function, None, timestamp_ms)
    }

    /// As [`Summary::emf_line`], also under `Stack` = `stack` when given
    /// (`METRICS_STACK`), so two stacks in one account keep their alarms apart.
    pub fn emf_line_in(&self, function: &str, stack: Option<&str>, timestamp_ms: u64) -> String {
        let counts = [
            ("Due", self.due),
            ("Refreshed", self.refreshed),
            ("RefreshTokenExpiring", self.refresh_token_expiring),
            ("Failed", self.failed),
            ("ReconnectRequired", self.reconnect_required),
            ("Dormant", self.dormant),
            ("Idle", self.idle),
            ("Enqueued", self.enqueued),
            ("LeftForNextRun", self.left_for_next_run),
            ("FailedShards", self.failed_shards),
        ];
        let mut metrics: Vec<serde_json::Value> = counts
            .iter()
            .map(|(name, _)| serde_json::json!({"Name": name, "Unit": "Count"}))
            .collect();
        metrics.push(serde_json::json!({"Name": "OldestDueAgeSeconds", "Unit": "Seconds"}));
        let mut line = serde_json::json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": match stack {
                        Some(_) => serde_json::json!([["Function"], ["Stack", "Function"]]),
                        None => serde_json::json!([["Function"]]),
                    },
                    "Metrics": metrics,
                }],
            },
            "Function": function,
            "OldestDueAgeSeconds": self.oldest_due_age_secs,
        });
        for (name, value) in counts {
            line[name] = serde_json::json!(value);
        }
        if let Some(stack) = stack {
            line["Stack"] = serde_json::json!(stack);
        }
        line.to_string()
    }

    /// Writes the metrics line to stdout (CloudWatch Logs turns it into metrics).
    pub fn emit(&self, function: &str, stack: Option<&str>) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        println!("{}", self.emf_line_in(function, stack, now_ms));
    }
}

/// Reads `user_id`'s connection (strongly: the index is eventually consistent)
/// and does what `policy` says at `now`, refreshing through `tokens`. Returns
/// the outcome and, when the policy said to refresh it, the expiry that made
/// it due: what `OldestDueAgeSeconds` is made of. Idle and dormant connections
/// give none (an idle user's token may have expired up to the lookback ago,
/// and that is by design, not a refresh falling behind).
pub async fn refresh_one<S>(
    store: &S,
    tokens: &TokenService,
    policy: &RefresherConfig,
    now: i64,
    user_id: &str,
    deadline: Instant,
) -> (Outcome, Option<i64>)
where
    S: Connections + ConnectionActivity + ?Sized,
{
    let connection = match store.get_connection(user_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return (Outcome::Skipped, None),
        Err(error) => {
            tracing::warn!(user_id, error = %error, "could not read a due connection");
            return (Outcome::Failed, None);
        }
    };
    let window = due_window(policy, now);
    let decision = decide(&connection, window, policy, now);
    let due_expiry = (decision == Decision::Refresh).then(|| {
        connection
            .tokens
            .access_expires_at
            .min(connection.tokens.refresh_expires_at)
    });
    let outcome = match decision {
        Decision::NotDue => Outcome::Skipped,
        Decision::Idle => Outcome::Idle,
        Decision::Dormant => {
            let used_since = now.saturating_sub(policy.keep_alive_within.as_secs() as i64);
            match store
                .mark_dormant(user_id, connection.version, used_since)
                .await
            {
                Ok(()) => Outcome::Dormant,
                // Used or changed meanwhile: the next run looks again.
                Err(StoreError::Conflict) => Outcome::Skipped,
                Err(error) => {
                    tracing::warn!(user_id, error = %error, "could not mark a connection dormant");
                    Outcome::Failed
                }
            }
        }
        Decision::Refresh => match claim(store, user_id, connection.version, now).await {
            Err(outcome) => outcome,
            Ok(()) => refresh_claimed(tokens, &connection, window, deadline).await,
        },
    };
    (outcome, due_expiry)
}

/// Claims the refresh of `version` of `user_id`'s connection: overlapping runs
/// (two scheduled runs without reserved concurrency, a run and the workers)
/// each find it due, and only the claimer presents its refresh token, which
/// TikTok rotates. `Err` holds the outcome when it was not claimed.
async fn claim<S>(store: &S, user_id: &str, version: u64, now: i64) -> Result<(), Outcome>
where
    S: ConnectionActivity + ?Sized,
{
    match store
        .claim_refresh(
            user_id,
            version,
            now,
            now.saturating_add(REFRESH_CLAIM_SECS),
        )
        .await
    {
        Ok(()) => Ok(()),
        // Another run is refreshing it, or it changed since it was read.
        Err(StoreError::Conflict) => Err(Outcome::Skipped),
        Err(error) => {
            tracing::warn!(user_id, error = %error, "could not claim a due connection's refresh");
            Err(Outcome::Failed)
        }
    }
}

/// Refreshes a connection this run claimed.
async fn refresh_claimed(
    tokens: &TokenService,
    connection: &Connection,
    window: DueWindow,
    deadline: Instant,
) -> Outcome {
    let user_id = connection.user_id.as_str();
    match tokens.refresh_connection(connection, deadline).await {
        Ok(Refresh::Refreshed(refreshed)) => {
            let expiring = refreshed.tokens.refresh_expires_at < window.refresh_before;
            if expiring {
                tracing::warn!(
                    user_id,
                    refresh_expires_at = refreshed.tokens.refresh_expires_at,
                    "refresh token nears its expiry; the user must connect again before then"
                );
            }
            Outcome::Refreshed { expiring }
        }
        Ok(Refresh::LostRace(_) | Refresh::Gone) => Outcome::Skipped,
        Ok(Refresh::ReconnectRequired) => Outcome::ReconnectRequired,
        // A request is refreshing it; the next run looks again.
        Err(crate::error::Error::RefreshInProgress { .. }) => Outcome::Skipped,
        Err(error) => {
            tracing::warn!(user_id, error = %error, "refresh failed; it stays due");
            Outcome::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redacted::{AccessToken, RefreshToken};
    use crate::store::Tokens;
    use std::time::Duration;

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    fn policy() -> RefresherConfig {
        RefresherConfig {
            ahead: Duration::from_secs(1_200),
            refresh_window: Duration::from_secs(7 * DAY as u64),
            concurrency: 8,
            deadline_margin: Duration::from_secs(5),
            active_within: Duration::from_secs(7 * DAY as u64),
            keep_alive_within: Duration::from_secs(90 * DAY as u64),
            lookback: Duration::from_secs(3_600),
            queue_url: None,
            metrics_stack: None,
            batch_size: 50,
            upstream_rate: std::num::NonZeroU32::new(20).unwrap(),
            worker_concurrency: std::num::NonZeroU32::new(4).unwrap(),
        }
    }

    fn connection(access_in: i64, refresh_in: i64, unused_days: i64) -> Connection {
        Connection {
            user_id: "u".into(),
            tokens: Tokens {
                open_id: "o".into(),
                scopes: vec![],
                access_token: AccessToken::new("a"),
                refresh_token: RefreshToken::new("r"),
                access_expires_at: NOW + access_in,
                refresh_expires_at: NOW + refresh_in,
                refreshed_at: NOW - 2 * DAY,
                account: None,
            },
            status: ConnectionStatus::Active,
            version: 1,
            last_used_at: NOW - unused_days * DAY,
        }
    }

    #[test]
    fn the_same_rules_for_two_hour_and_seven_day_access_tokens() {
        let p = policy();
        let w = due_window(&p, NOW);
        // Login Kit: 2-hour access, year-long refresh; Partner API: 7-day access.
        for (access_ttl, refresh_ttl) in [(7_200, 365 * DAY), (7 * DAY, 365 * DAY)] {
            let due_access = 600;
            assert_eq!(
                decide(&connection(due_access, refresh_ttl, 1), w, &p, NOW),
                Decision::Refresh
            );
            assert_eq!(
                decide(&connection(due_access, refresh_ttl, 8), w, &p, NOW),
                Decision::Idle
            );
            assert_eq!(
                decide(&connection(due_access, 3 * DAY, 30), w, &p, NOW),
                Decision::Refresh,
                "kept alive within the keep-alive window"
            );
            assert_eq!(
                decide(&connection(due_access, 3 * DAY, 91), w, &p, NOW),
                Decision::Dormant
            );
            assert_eq!(
                decide(&connection(access_ttl, refresh_ttl, 0), w, &p, NOW),
                Decision::NotDue
            );
        }
        // A refresh token the last refresh (within a day) did not extend is not
        // refreshed again for its own sake every run.
        let mut not_extended = connection(7 * DAY, 3 * DAY, 1);
        not_extended.tokens.refreshed_at = NOW - 3_600;
        assert_eq!(decide(&not_extended, w, &p, NOW), Decision::NotDue);
        let mut gone = connection(600, 3 * DAY, 200);
        gone.status = ConnectionStatus::Dormant;
        assert_eq!(decide(&gone, w, &p, NOW), Decision::NotDue);
    }

    #[test]
    fn the_metrics_line_is_embedded_metric_format() {
        let summary = Summary {
            due: 5,
            refreshed: 2,
            failed: 1,
            reconnect_required: 1,
            dormant: 1,
            oldest_due_age_secs: 90,
            ..Summary::default()
        };
        let line: serde_json::Value =
            serde_json::from_str(&summary.emf_line("token-refresher", 1_700_000_000_000)).unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], METRICS_NAMESPACE);
        assert_eq!(directive["Dimensions"], serde_json::json!([["Function"]]));
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000u64);
        // Every declared metric has a numeric value at the top level.
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_number(), "{name} has no value");
        }
        assert_eq!(line["Function"], "token-refresher");
        assert_eq!(
            (
                &line["Due"],
                &line["Refreshed"],
                &line["Failed"],
                &line["ReconnectRequired"],
                &line["Dormant"],
                &line["OldestDueAgeSeconds"]
            ),
            (
                &serde_json::json!(5),
                &serde_json::json!(2),
                &serde_json::json!(1),
                &serde_json::json!(1),
                &serde_json::json!(1),
                &serde_json::json!(90)
            )
        );
    }
}
