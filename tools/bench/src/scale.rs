//! `bench scale`: token refresh at a million connections, simulated in-process
//! (no AWS, no TikTok): each connection's uses over the simulated days, and what
//! the refresher does about it under today's policy (refresh every connection
//! ahead of expiry) and under the new one (`tiktok_gateway::refresh`: ahead of
//! time only for users active within `REFRESH_ACTIVE_DAYS`, keep-alive within
//! `KEEP_ALIVE_ACTIVE_DAYS`, otherwise dormant).
//!
//! Activity (documented in BENCHMARKS.md): users' uses are Poisson processes;
//! 10 % use the product about daily (1 use/day), 20 % a few times a month
//! (1 use per 7.5 days, so 30 % are monthly active), 70 % rarely (1 use per
//! 180 days). The state at the start is each user's steady state: their last
//! use is as long ago as their rate says (exponential), and their tokens are
//! what the policy would have left them with.
//!
//! The refresher runs every 15 minutes (a "slot"); a refresh it makes in a slot
//! is counted in that slot, spread evenly over its 900 seconds (the limiter
//! does that), so a slot's calls / 900 is the rate that run needs. A user's
//! request that finds an expired access token refreshes on demand (one call).
//! Each connection is a few events (its uses, its chain of periodic refreshes
//! as one range), so a million connections take seconds.

use crate::report::{Section, Sink, Table};

const SLOT: i64 = 900;
const DAY: i64 = 86_400;

/// One provider's token lifetimes and the refresher's settings for it.
#[derive(Debug, Clone, Copy)]
pub struct Provider {
    /// Shown in the table.
    pub name: &'static str,
    /// Access-token lifetime.
    pub access_ttl: i64,
    /// Refresh-token lifetime.
    pub refresh_ttl: i64,
    /// `REFRESH_AHEAD_SECS`.
    pub ahead: i64,
}

/// Login Kit / Research API: 2-hour access tokens (the figure), year-long refresh tokens.
pub const LOGIN_KIT: Provider = Provider {
    name: "Login Kit (2 h access, 365 d refresh)",
    access_ttl: 7_200,
    refresh_ttl: 365 * DAY,
    ahead: 1_200,
};

/// Partner API: 7-day access tokens refreshed a day ahead, year-long refresh tokens.
pub const PARTNER: Provider = Provider {
    name: "Partner API (7 d access, 365 d refresh)",
    access_ttl: 7 * DAY,
    refresh_ttl: 365 * DAY,
    ahead: DAY,
};

/// The policy's settings (the template's defaults).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// `REFRESH_ACTIVE_DAYS`.
    pub active: i64,
    /// `KEEP_ALIVE_ACTIVE_DAYS`.
    pub keep_alive: i64,
    /// `REFRESH_WINDOW_DAYS`.
    pub window: i64,
    /// `REFRESH_LOOKBACK_SECS`.
    pub lookback: i64,
    /// `DUE_INDEX_SHARDS`.
    pub shards: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            active: 7 * DAY,
            keep_alive: 180 * DAY,
            window: 7 * DAY,
            lookback: 3_600,
            shards: 4,
        }
    }
}

/// (share of users, uses per day).
pub const ACTIVITY: [(f64, f64); 3] = [(0.10, 1.0), (0.20, 1.0 / 7.5), (0.70, 1.0 / 180.0)];

/// What one policy cost over the simulated days.
#[derive(Debug, Default, Clone)]
pub struct Cost {
    /// Upstream refresh calls per slot (proactive and on demand).
    pub calls: Vec<u64>,
    /// Proactive refreshes (the refresher's or workers').
    pub proactive: u64,
    /// On-demand refreshes (a user's request found the token expired).
    pub on_demand: u64,
    /// Connections marked dormant.
    pub dormant: u64,
    /// Users who came back to an expired connection and connected again.
    pub reconnects: u64,
    /// DynamoDB reads of the refresh path (index queries and item reads).
    pub reads: u64,
    /// DynamoDB writes of the refresh path (stored rotations, use records, dormant marks).
    pub writes: u64,
    /// Uses (data requests' first of the day matter for the writes).
    pub uses: u64,
}

/// xorshift64*: fast and deterministic, enough for a workload model.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Exponential with `mean`.
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

/// Calls per slot with O(1) range updates for chains of periodic refreshes
/// (every `period` slots from `first` to `last`).
struct Slots {
    period: usize,
    points: Vec<u64>,
    /// diff[r][k]: change of the chain count at slot k * period + r.
    diff: Vec<Vec<i64>>,
}

impl Slots {
    fn new(slots: usize, period: usize) -> Self {
        Self {
            period,
            points: vec![0; slots],
            diff: vec![vec![0; slots / period + 2]; period],
        }
    }

    fn point(&mut self, slot: i64) {
        if let Some(p) = usize::try_from(slot)
            .ok()
            .and_then(|s| self.points.get_mut(s))
        {
            *p += 1;
        }
    }

    /// Refreshes at `first`, `first + period`, ... up to `last` (inclusive),
    /// clipped to the simulation. Returns how many fall inside it.
    fn chain(&mut self, first: i64, last: i64) -> u64 {
        let end = self.points.len() as i64 - 1;
        let p = self.period as i64;
        let mut first = first;
        if first < 0 {
            first += (-first + p - 1) / p * p;
        }
        let last = last.min(end);
        if first > last {
            return 0;
        }
        let r = (first % p) as usize;
        let k0 = (first / p) as usize;
        let k1 = ((last - r as i64) / p) as usize;
        self.diff[r][k0] += 1;
        self.diff[r][k1 + 1] -= 1;
        (k1 - k0 + 1) as u64
    }

    fn into_calls(self) -> Vec<u64> {
        let mut running = vec![0i64; self.period];
        self.points
            .iter()
            .enumerate()
            .map(|(s, point)| {
                let (r, k) = (s % self.period, s / self.period);
                running[r] += self.diff[r][k];
                point + running[r].max(0) as u64
            })
            .collect()
    }
}

fn slot_of(t: i64) -> i64 {
    t.div_euclid(SLOT)
}

/// The first slot whose run finds a token expiring at `expires_at` due.
fn due_slot(expires_at: i64, ahead: i64) -> i64 {
    (expires_at - ahead).div_euclid(SLOT) + 1
}

/// Simulates `n` connections for `days` under the new policy and today's.
pub fn simulate(
    n: usize,
    days: i64,
    provider: Provider,
    policy: Policy,
    seed: u64,
) -> (Cost, Cost) {
    let slots = (days * DAY / SLOT) as usize;
    let end = days * DAY;
    let period = ((provider.access_ttl - provider.ahead) / SLOT + 1) as usize;
    let mut new = Cost::default();
    let mut old = Cost::default();
    let mut new_slots = Slots::new(slots, period);
    let mut old_slots = Slots::new(slots, period);
    let mut rng = Rng(seed | 1);
    // Runs whose index queries return a connection idling out: for this many
    // runs after its last refresh's token expires (ahead + lookback), each reads it.
    let idle_reads = ((provider.ahead + policy.lookback) / SLOT + 1) as u64;
    let mut record_days = 0u64;
    for i in 0..n {
        let pick = (i as f64 + 0.5) / n as f64;
        let mut cumulative = 0.0;
        let rate = ACTIVITY
            .iter()
            .find(|(share, _)| {
                cumulative += share;
                pick < cumulative
            })
            .map_or(ACTIVITY[2].1, |(_, rate)| *rate);
        let mean_gap = DAY as f64 / rate;
        // Today's policy: every connection refreshed every `period` slots.
        let phase = (rng.next() % period as u64) as i64;
        old.proactive += old_slots.chain(phase, i64::MAX);

        // The new policy, from this user's steady state.
        let last_use = -(rng.exp(mean_gap) as i64);
        let mut window_end = last_use + policy.active;
        let mut chain_first; // the chain's next refresh slot
        let mut last_refresh; // time of the last rotation
        let mut dormant = false;
        if window_end > 0 {
            chain_first = phase;
            last_refresh = (phase - period as i64) * SLOT;
        } else {
            // Its chain ended when the user idled out; maybe kept alive or parked since.
            last_refresh = window_end;
            let keep_alive_at = last_refresh + provider.refresh_ttl - policy.window;
            if keep_alive_at <= 0 {
                if last_use >= keep_alive_at - policy.keep_alive {
                    last_refresh = keep_alive_at;
                } else {
                    dormant = true;
                }
            }
            chain_first = i64::MAX;
        }
        let mut t = 0i64;
        let mut last_use_day = i64::MIN;
        loop {
            let next_use = t + rng.exp(mean_gap) as i64;
            // The chain runs until the user idles out (or the next use extends it).
            if chain_first != i64::MAX && next_use > window_end {
                let last_slot = slot_of(window_end);
                let done = new_slots.chain(chain_first, last_slot.min(slot_of(end) - 1));
                new.proactive += done;
                if last_slot >= chain_first {
                    let k = (last_slot - chain_first) / period as i64;
                    last_refresh = (chain_first + k * period as i64) * SLOT;
                }
                chain_first = i64::MAX;
                if last_refresh + provider.access_ttl < end {
                    new.reads += idle_reads;
                }
            }
            // The keep-alive decision when the refresh token nears its expiry.
            if chain_first == i64::MAX && !dormant {
                let at = last_refresh + provider.refresh_ttl - policy.window;
                if at > t && at < next_use.min(end) {
                    new.reads += 1;
                    if last_use >= at - policy.keep_alive {
                        new_slots.point(slot_of(at));
                        new.proactive += 1;
                        new.writes += 1;
                        last_refresh = at;
                    } else {
                        dormant = true;
                        new.dormant += 1;
                        new.writes += 1;
                    }
                }
            }
            if next_use >= end {
                break;
            }
            t = next_use;
            new.uses += 1;
            if t.div_euclid(DAY) != last_use_day {
                last_use_day = t.div_euclid(DAY);
                record_days += 1;
            }
            if chain_first == i64::MAX {
                let access_expires = last_refresh + provider.access_ttl;
                if last_refresh + provider.refresh_ttl <= t {
                    new.reconnects += 1;
                    last_refresh = t;
                } else if access_expires <= t {
                    new.on_demand += 1;
                    new.writes += 1;
                    new_slots.point(slot_of(t));
                    last_refresh = t;
                }
                dormant = false;
                chain_first = due_slot(last_refresh + provider.access_ttl, provider.ahead);
            }
            window_end = t + policy.active;
        }
        // Still active at the end: its chain runs to the end of the simulation.
        if chain_first != i64::MAX {
            let last_slot = slot_of(window_end).min(slot_of(end) - 1);
            new.proactive += new_slots.chain(chain_first, last_slot);
        }
    }
    // Every proactive refresh is an item read and a write; index queries per run.
    let runs = slots as u64;
    let queries = runs * policy.shards * 2;
    new.reads += new.proactive + queries;
    new.writes += new.proactive + record_days;
    old.reads += old.proactive + queries;
    old.writes += old.proactive;
    new.calls = new_slots.into_calls();
    old.calls = old_slots.into_calls();
    (new, old)
}

fn per_day(total: u64, days: i64) -> String {
    thousands(total as f64 / days as f64)
}

fn thousands(v: f64) -> String {
    let n = v.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn duration(secs: f64) -> String {
    match secs {
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7_200.0 => format!("{:.1} min", s / 60.0),
        s => format!("{:.1} h", s / 3_600.0),
    }
}

/// The benchmark: both providers, both policies, a table each.
pub fn run(n: usize, days: i64, rate: u64, sink: &Sink) -> Section {
    let started = std::time::Instant::now();
    let mut section = Section::new(format!(
        "Scale: {n} connections over {days} simulated days (in-process model)"
    ));
    section.push(
        "Activity: 10 % of users about daily (1 use/day), 20 % a few times a month (1 per 7.5 days; 30 % monthly active), \
         70 % rarely (1 per 180 days); uses are Poisson, the start is each user's steady state. \
         Policy: `REFRESH_ACTIVE_DAYS=7`, `KEEP_ALIVE_ACTIVE_DAYS=180`, `REFRESH_WINDOW_DAYS=7`, `REFRESH_LOOKBACK_SECS=3600`, \
         runs every 15 min; a run's calls are spread over its 900 s. \"Today\" refreshes every connection ahead of expiry. \
         DynamoDB counts are the refresh path's (index queries, item reads, stored rotations, once-a-day use records, dormant marks), \
         not the data requests' own read.",
    );
    let capacity = rate as f64 * (SLOT as f64 - 5.0);
    for provider in [LOGIN_KIT, PARTNER] {
        let (new, old) = simulate(n, days, provider, Policy::default(), 0x5eed);
        let mut table = Table::new(&[provider.name, "today", "new policy"]);
        let peak = |c: &Cost| c.calls.iter().copied().max().unwrap_or(0);
        let total = |c: &Cost| c.proactive + c.on_demand;
        let fan_out_runs = |c: &Cost| c.calls.iter().filter(|&&x| x as f64 > capacity).count();
        table.row(vec![
            "upstream refresh calls / day".into(),
            per_day(total(&old), days),
            format!(
                "{} ({} ahead, {} on demand)",
                per_day(total(&new), days),
                per_day(new.proactive, days),
                per_day(new.on_demand, days)
            ),
        ]);
        table.row(vec![
            "peak refresh calls / s (busiest run)".into(),
            format!("{:.1}", peak(&old) as f64 / SLOT as f64),
            format!("{:.1}", peak(&new) as f64 / SLOT as f64),
        ]);
        table.row(vec![
            format!(
                "runs needing fan-out at R = {rate}/s (of {})",
                old.calls.len()
            ),
            fan_out_runs(&old).to_string(),
            fan_out_runs(&new).to_string(),
        ]);
        table.row(vec![
            format!("time to drain the busiest run's backlog at R = {rate}/s"),
            duration(peak(&old) as f64 / rate as f64),
            duration(peak(&new) as f64 / rate as f64),
        ]);
        table.row(vec![
            format!("time to drain all {n} connections at R = {rate}/s (after an outage)"),
            duration(n as f64 / rate as f64),
            duration(n as f64 / rate as f64),
        ]);
        table.row(vec![
            "dormant marks / day; reconnects / day".into(),
            "0; 0".into(),
            format!(
                "{}; {}",
                per_day(new.dormant, days),
                per_day(new.reconnects, days)
            ),
        ]);
        table.row(vec![
            "DynamoDB reads / day (refresh path)".into(),
            per_day(old.reads, days),
            per_day(new.reads, days),
        ]);
        table.row(vec![
            "DynamoDB writes / day (refresh path)".into(),
            per_day(old.writes, days),
            per_day(new.writes, days),
        ]);
        section.push(table.render());
        sink.record(
            "scale",
            serde_json::json!({
                "provider": provider.name, "n": n, "days": days, "rate": rate,
                "calls_per_day": {"today": total(&old) as f64 / days as f64, "new": total(&new) as f64 / days as f64},
                "peak_per_sec": {"today": peak(&old) as f64 / SLOT as f64, "new": peak(&new) as f64 / SLOT as f64},
                "reads_per_day": {"today": old.reads as f64 / days as f64, "new": new.reads as f64 / days as f64},
                "writes_per_day": {"today": old.writes as f64 / days as f64, "new": new.writes as f64 / days as f64},
                "dormant_per_day": new.dormant as f64 / days as f64,
            }),
        );
    }
    section.push(format!(
        "Simulated in {:.1} s.",
        started.elapsed().as_secs_f64()
    ));
    section
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_refreshes_every_connection_every_period_and_the_new_policy_far_less() {
        let (new, old) = simulate(10_000, 14, LOGIN_KIT, Policy::default(), 7);
        // 2-hour tokens, 20 min ahead, 15-min runs: every 7 runs, 96 runs a day.
        let per_day = old.proactive as f64 / 14.0;
        let expected = 10_000.0 * 96.0 / 7.0;
        assert!((per_day - expected).abs() < expected * 0.01, "{per_day}");
        let new_total = (new.proactive + new.on_demand) as f64 / 14.0;
        assert!(new_total < per_day / 2.0, "{new_total} vs {per_day}");
        // Daily users (10 %) are always refreshed ahead: at least their share.
        assert!(new.proactive as f64 / 14.0 > 0.9 * 1_000.0 * 96.0 / 7.0);
        assert!(new.dormant > 0, "rare users' connections go dormant");
    }

    #[test]
    fn a_chain_of_periodic_refreshes_lands_in_its_slots() {
        let mut slots = Slots::new(30, 7);
        assert_eq!(slots.chain(3, 20), 3); // 3, 10, 17
        slots.point(10);
        let calls = slots.into_calls();
        let hit: Vec<usize> = (0..30).filter(|&s| calls[s] > 0).collect();
        assert_eq!(hit, [3, 10, 17]);
        assert_eq!(calls[10], 2);
    }
}
