//! Inside a counter object: exact accounting of one subject's limits and credits (issue #15).
//!
//! Owns: [`ObjectState`] (the object's one stored row: its counters' reservations, the credit
//! balance, the lease numbers and the last use) and [`ObjectState::lease`], the only function
//! that changes it. Never touches: storage (the shell loads and saves the row around a call, in
//! one transaction), a clock (`now` is the object's), the network.
//!
//! Every unit an isolate may spend is *reserved* here first, as an entry `{seq, units,
//! lease_until, release_at}`; a limit's available units are its `limit` minus the units of the
//! entries not yet released. Hence the guarantee:
//! - **fixed window** `[kP, (k+1)P)`: an entry made in the window is released at its end, and
//!   its lease is valid no longer than that (`valid_ms ≤ window end − now`), so every unit spent
//!   in a window was reserved in it: at most `limit` per window;
//! - **sliding window**: an entry is released `P` after the last moment any of its units can be
//!   spent (its lease's end; for a lease closed early by a renewal, the renewal's time), so any
//!   interval of length `P` spends at most `limit`.
//!
//! Units are given back early only when the isolate says they were not spent (`returning`), or
//! moved into a renewal's lease (`holding`: they stay reserved). An isolate that disappears with
//! a lease loses its unspent units until the entry's release: that is the under-admission bound.
//! Credits have no release: a lease's units are deducted at grant and come back only by a
//! return or a refund.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    CounterDef, LeaseAsk, LeaseCall, LeaseGrant, LeaseReply, Refill, StoredCredits, Window,
};

/// Name of the credit balance among an object's counters.
pub const CREDITS: &str = "credits";

/// Leases outstanding per counter at most; past it nothing more is granted until some end
/// (under-admission, never over). Thousands of isolates each holding a lease of the same key at
/// the same moment is past what one key's traffic reaches.
pub const MAX_OPEN: usize = 1024;
/// Counters per object at most (a key's own limits plus the routes' of the same `by`).
pub const MAX_COUNTERS: usize = 64;
/// Closed entries of a sliding window are merged into `period / GRANULES` buckets (each
/// released at its bucket's end: later, so never over), bounding them at `GRANULES + 1`.
const GRANULES: u64 = 64;
/// A closed credit lease stays known this long, so a late return is still credited.
const RETURN_GRACE_MS: u64 = 120_000;

/// One reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    seq: u64,
    units: u64,
    /// Until when the lease's units may be spent (closed: ≤ now).
    lease_until: u64,
    /// When the units count no more (credits: when the entry is forgotten).
    release_at: u64,
    /// Its unspent units were moved into a renewal: a later return of them is ignored (they
    /// are not here any more; giving back spent units would admit over the limit).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    absorbed: bool,
    /// Some of its units were given back: it is never moved into a renewal after that (the
    /// isolate would count the given-back units twice).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    returned: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Counter {
    def: CounterDef,
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Balance {
    set_at: u64,
    /// Units neither spent nor leased.
    remaining: u64,
    #[serde(default)]
    refill: Option<Refill>,
    /// The last refill boundary passed (Unix ms).
    refilled_at: u64,
    entries: Vec<Entry>,
}

/// The object's state: one JSON row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectState {
    #[serde(default)]
    counters: BTreeMap<String, Counter>,
    #[serde(default)]
    credits: Option<Balance>,
    #[serde(default)]
    next_seq: u64,
    #[serde(default)]
    last_used_at: u64,
}

/// How leases are cut (from `usage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseRules {
    pub lease_ms: u64,
    pub max_lease: u64,
}

/// One counter in the usage report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterUsage {
    pub name: String,
    pub limit: u64,
    pub period_seconds: u64,
    pub window: Window,
    /// Units spent or leased in the current window (leased units may yet go unspent).
    pub used: u64,
    pub remaining: u64,
    pub reset_seconds: u64,
}

/// The credit balance in the usage report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditUsage {
    /// Neither spent nor leased.
    pub remaining: u64,
    /// Leased to isolates and not yet reported spent.
    pub leased: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<Refill>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_refill_at: Option<u64>,
}

/// What an object reports for `GET {admin_path}/keys/{id}/usage`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectUsage {
    pub limits: Vec<CounterUsage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<CreditUsage>,
    /// Unix seconds of the last spend an isolate reported or the last grant (`None`: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<u64>,
}

fn window_end(now: u64, period_ms: u64) -> u64 {
    let p = period_ms.max(1);
    (now / p).saturating_add(1).saturating_mul(p)
}

/// Units of leases still open (credits: what isolates may yet spend).
fn open_units(entries: &[Entry], now: u64) -> u64 {
    entries
        .iter()
        .filter(|e| e.lease_until > now)
        .fold(0u64, |sum, e| sum.saturating_add(e.units))
}

fn reserved(entries: &[Entry], now: u64) -> u64 {
    entries
        .iter()
        .filter(|e| e.release_at > now)
        .fold(0u64, |sum, e| sum.saturating_add(e.units))
}

/// Until `need` more units are free, given `available` now (sliding: as entries release).
fn wait_for(entries: &[Entry], available: u64, need: u64, now: u64) -> u64 {
    let mut releases: Vec<(u64, u64)> = entries
        .iter()
        .filter(|e| e.release_at > now)
        .map(|e| (e.release_at, e.units))
        .collect();
    releases.sort_unstable();
    let mut free = available;
    for (at, units) in releases {
        free = free.saturating_add(units);
        if free >= need {
            return at.saturating_sub(now);
        }
    }
    0
}

impl Counter {
    /// Drop released entries and merge closed ones into aggregates (seq 0), so a row stays
    /// small however many leases a window sees: a fixed window's closed entries all release at
    /// its end (one aggregate per window); a sliding window's are merged into `period / 64`
    /// buckets of at least 1 s, released at the bucket's end (later, never earlier). An entry
    /// is merged once it has been closed for `grace_ms`, so a return that comes with the
    /// isolate's next call still finds it; a later return is void (under-admission, never over).
    fn prune(&mut self, now: u64, grace_ms: u64) {
        self.entries
            .retain(|e| e.release_at > now && (e.units > 0 || e.lease_until > now));
        let granule = match self.def.window {
            Window::Sliding => (self.def.period_ms / GRANULES).max(1000),
            Window::Fixed => 1,
        };
        let mut merged: Vec<Entry> = Vec::with_capacity(self.entries.len());
        for e in self.entries.drain(..) {
            let closed_long_enough = e.lease_until <= now
                && (e.seq == 0 || e.lease_until.saturating_add(grace_ms) <= now);
            if !closed_long_enough {
                merged.push(e);
                continue;
            }
            let release = e.release_at.div_ceil(granule).saturating_mul(granule);
            match merged
                .iter_mut()
                .find(|m| m.seq == 0 && m.lease_until <= now && m.release_at == release)
            {
                Some(m) => m.units = m.units.saturating_add(e.units),
                None => merged.push(Entry {
                    seq: 0,
                    units: e.units,
                    lease_until: 0,
                    release_at: release,
                    absorbed: true,
                    returned: true,
                }),
            }
        }
        self.entries = merged;
    }

    fn release_for(&self, lease_until: u64, now: u64) -> u64 {
        match self.def.window {
            Window::Fixed => window_end(now, self.def.period_ms),
            Window::Sliding => lease_until.saturating_add(self.def.period_ms),
        }
    }

    fn reset_ms(&self, now: u64) -> u64 {
        match self.def.window {
            Window::Fixed => window_end(now, self.def.period_ms).saturating_sub(now),
            Window::Sliding => self
                .entries
                .iter()
                .filter(|e| e.release_at > now)
                .map(|e| e.release_at - now)
                .min()
                .unwrap_or(0),
        }
    }
}

/// A renewal (`ask.holding`): the held lease's unspent units, at most what the isolate reported,
/// leave it for the new lease (they stay reserved) and it closes; `None` when there is no open
/// lease of that number to move from (ended, given back to, or unknown). The units moved, and
/// the closed entry.
fn absorb<'e>(entries: &'e mut [Entry], ask: &LeaseAsk, now: u64) -> Option<(u64, &'e mut Entry)> {
    let held = ask.holding.filter(|h| h.seq != 0 && !ask.strict)?;
    let e = entries
        .iter_mut()
        .find(|e| e.seq == held.seq && e.lease_until > now && !e.returned)?;
    let moved = held.unused.min(e.units);
    e.units -= moved;
    e.lease_until = now;
    e.absorbed = true;
    Some((moved, e))
}

/// Units to grant: what is wanted, within the lease cap and a fair share of what is left (an
/// eighth, so one isolate cannot hold a whole limit while others starve), never less than `min`
/// when `min` is available, else nothing.
fn size(ask: &LeaseAsk, available: u64, fair_base: u64, rules: LeaseRules) -> u64 {
    let min = ask.min.max(1);
    if ask.want == 0 || available < min {
        return 0;
    }
    if ask.strict {
        return min;
    }
    let fair = (fair_base / 8).max(min);
    ask.want
        .min(rules.max_lease)
        .min(fair)
        .min(available)
        .max(min)
}

impl ObjectState {
    /// Parse the stored row (`None`: a new object).
    pub fn load(text: Option<&str>) -> Result<Self, serde_json::Error> {
        match text {
            None => Ok(ObjectState::default()),
            Some(t) => serde_json::from_str(t),
        }
    }

    pub fn save(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// Answer one call at the object's `now` (Unix ms).
    pub fn lease(&mut self, call: &LeaseCall, now: u64, rules: LeaseRules) -> LeaseReply {
        self.last_used_at = self.last_used_at.max(call.used_at);
        let grants = call
            .asks
            .iter()
            .map(|ask| {
                if ask.name == CREDITS {
                    self.lease_credits(ask, now, rules)
                } else {
                    self.lease_counter(ask, now, rules)
                }
            })
            .collect();
        LeaseReply { grants }
    }

    fn lease_counter(&mut self, ask: &LeaseAsk, now: u64, rules: LeaseRules) -> LeaseGrant {
        let Some(def) = ask.limit else {
            return LeaseGrant::default();
        };
        if !self.counters.contains_key(&ask.name) && self.counters.len() >= MAX_COUNTERS {
            return LeaseGrant {
                retry_ms: rules.lease_ms,
                ..LeaseGrant::default()
            };
        }
        let mut seq_source = self.next_seq;
        let counter = self
            .counters
            .entry(ask.name.clone())
            .or_insert_with(|| Counter {
                def,
                entries: Vec::new(),
            });
        counter.def = def;
        counter.prune(now, rules.lease_ms);
        if let Some(back) = ask.returning {
            if let Some(e) = counter
                .entries
                .iter_mut()
                .find(|e| e.seq == back.seq && back.seq != 0 && !e.absorbed)
            {
                e.units -= back.unused.min(e.units);
                e.returned = true;
            }
        }
        let available = def.limit.saturating_sub(reserved(&counter.entries, now));
        let open = counter
            .entries
            .iter()
            .filter(|e| e.lease_until > now)
            .count();
        let granted = if open >= MAX_OPEN {
            0
        } else {
            size(ask, available, def.limit, rules)
        };
        let mut grant = LeaseGrant {
            remaining: available - granted,
            ..LeaseGrant::default()
        };
        if granted == 0 {
            grant.retry_ms = match def.window {
                Window::Fixed => counter.reset_ms(now),
                Window::Sliding => wait_for(&counter.entries, available, ask.min.max(1), now),
            }
            .max(1);
            grant.reset_ms = counter.reset_ms(now);
            return grant;
        }
        // A renewal: the held lease's unspent units move into the new one (still reserved);
        // what it spent was spent before the call was sent, so it is released P from now.
        let mut moved = 0;
        if let Some((units, e)) = absorb(&mut counter.entries, ask, now) {
            moved = units;
            if def.window == Window::Sliding {
                e.release_at = e.release_at.min(now.saturating_add(def.period_ms));
            }
            grant.absorbed = true;
        }
        // A strict grant is spent by the request that asked, when the answer reaches it: it is
        // valid as a lease is, since that moment comes later than now.
        let valid_ms = match def.window {
            Window::Fixed => rules
                .lease_ms
                .min(window_end(now, def.period_ms).saturating_sub(now)),
            Window::Sliding => rules.lease_ms,
        };
        let lease_until = now.saturating_add(valid_ms);
        let release_at = counter.release_for(lease_until, now);
        if ask.strict {
            // Spent by the one request that asked, when the answer reaches it: never held,
            // renewed or returned, so it is an aggregate at once (not an open lease: a strict
            // limit at hundreds of requests a second must not fill MAX_OPEN or the row).
            counter.entries.push(Entry {
                seq: 0,
                units: granted,
                lease_until: now,
                release_at,
                absorbed: true,
                returned: true,
            });
        } else {
            seq_source = seq_source.saturating_add(1);
            counter.entries.push(Entry {
                seq: seq_source,
                units: moved.saturating_add(granted),
                lease_until,
                release_at,
                absorbed: false,
                returned: false,
            });
            self.next_seq = seq_source;
            grant.seq = seq_source;
        }
        grant.reset_ms = counter.reset_ms(now);
        self.last_used_at = self.last_used_at.max(now);
        grant.granted = granted;
        grant.valid_ms = valid_ms;
        grant
    }

    fn lease_credits(&mut self, ask: &LeaseAsk, now: u64, rules: LeaseRules) -> LeaseGrant {
        // A later definition (a PATCH or a new key) starts the balance over; the units still
        // leased out count against it.
        if let Some(def) = &ask.credits {
            let newer = self.credits.as_ref().is_none_or(|b| def.set_at > b.set_at);
            if newer {
                let entries = self.credits.take().map(|b| b.entries).unwrap_or_default();
                let leased = open_units(&entries, now);
                self.credits = Some(Balance {
                    set_at: def.set_at,
                    remaining: def.remaining.saturating_sub(leased),
                    refill: def.refill,
                    refilled_at: def.set_at,
                    entries,
                });
            }
        }
        let seq = self.next_seq.saturating_add(1);
        let Some(balance) = self.credits.as_mut() else {
            return LeaseGrant::default();
        };
        balance.entries.retain(|e| e.release_at > now);
        if let Some(refill) = balance.refill {
            let every = refill.every_seconds.saturating_mul(1000).max(1);
            let periods = now.saturating_sub(balance.refilled_at) / every;
            if periods > 0 {
                let leased = open_units(&balance.entries, now);
                balance.remaining = balance.remaining.max(refill.amount.saturating_sub(leased));
                balance.refilled_at = balance
                    .refilled_at
                    .saturating_add(periods.saturating_mul(every));
            }
        }
        balance.remaining = balance.remaining.saturating_add(ask.refund);
        if let Some(back) = ask.returning {
            if let Some(i) = balance
                .entries
                .iter()
                .position(|e| e.seq == back.seq && back.seq != 0 && !e.absorbed)
            {
                let e = balance.entries.swap_remove(i);
                balance.remaining = balance.remaining.saturating_add(back.unused.min(e.units));
            }
        }
        let next_refill = balance.refill.map(|r| {
            balance
                .refilled_at
                .saturating_add(r.every_seconds.saturating_mul(1000))
        });
        let open = balance
            .entries
            .iter()
            .filter(|e| e.lease_until > now)
            .count();
        let granted = if open >= MAX_OPEN {
            0
        } else {
            size(ask, balance.remaining, balance.remaining, rules)
        };
        let mut grant = LeaseGrant {
            reset_ms: next_refill.map_or(0, |t| t.saturating_sub(now)),
            ..LeaseGrant::default()
        };
        if granted == 0 {
            grant.remaining = balance.remaining;
            grant.retry_ms = grant.reset_ms;
            return grant;
        }
        let mut moved = 0;
        if let Some((units, _)) = absorb(&mut balance.entries, ask, now) {
            moved = units;
            grant.absorbed = true;
        }
        balance.remaining -= granted;
        let valid_ms = if ask.strict { 0 } else { rules.lease_ms };
        let lease_until = now.saturating_add(valid_ms);
        balance.entries.push(Entry {
            seq,
            units: moved.saturating_add(granted),
            lease_until,
            release_at: lease_until.saturating_add(RETURN_GRACE_MS),
            absorbed: false,
            returned: false,
        });
        grant.remaining = balance.remaining;
        self.next_seq = seq;
        self.last_used_at = self.last_used_at.max(now);
        grant.seq = seq;
        grant.granted = granted;
        grant.valid_ms = valid_ms;
        grant
    }

    /// Apply `credits` now if it is newer than what the object holds (a `PATCH` through this
    /// object's owner, so the change holds at once rather than at the next isolate's call).
    pub fn set_credits(&mut self, credits: &StoredCredits, now: u64, rules: LeaseRules) {
        let ask = LeaseAsk {
            name: CREDITS.into(),
            limit: None,
            credits: Some(credits.clone()),
            want: 0,
            min: 1,
            holding: None,
            returning: None,
            refund: 0,
            strict: false,
        };
        self.lease_credits(&ask, now, rules);
    }

    /// The usage report at `now`.
    #[must_use]
    pub fn usage(&self, now: u64) -> ObjectUsage {
        let limits = self
            .counters
            .iter()
            .map(|(name, c)| {
                let used = reserved(&c.entries, now);
                CounterUsage {
                    name: name.clone(),
                    limit: c.def.limit,
                    period_seconds: c.def.period_ms / 1000,
                    window: c.def.window,
                    used,
                    remaining: c.def.limit.saturating_sub(used),
                    reset_seconds: c.reset_ms(now).div_ceil(1000),
                }
            })
            .collect();
        let credits = self.credits.as_ref().map(|b| CreditUsage {
            remaining: b.remaining,
            leased: open_units(&b.entries, now),
            refill: b.refill,
            next_refill_at: b.refill.map(|r| {
                b.refilled_at
                    .saturating_add(r.every_seconds.saturating_mul(1000))
                    / 1000
            }),
        });
        ObjectUsage {
            limits,
            credits,
            last_used_at: (self.last_used_at > 0).then_some(self.last_used_at / 1000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Held;

    const RULES: LeaseRules = LeaseRules {
        lease_ms: 10_000,
        max_lease: 100,
    };

    fn ask(limit: u64, period_s: u64, window: Window, want: u64) -> LeaseAsk {
        LeaseAsk {
            name: "m".into(),
            limit: Some(CounterDef {
                limit,
                period_ms: period_s * 1000,
                window,
            }),
            credits: None,
            want,
            min: 1,
            holding: None,
            returning: None,
            refund: 0,
            strict: false,
        }
    }

    fn one(state: &mut ObjectState, a: LeaseAsk, now: u64) -> LeaseGrant {
        state
            .lease(
                &LeaseCall {
                    asks: vec![a],
                    used_at: 0,
                },
                now,
                RULES,
            )
            .grants[0]
    }

    #[test]
    fn fixed_window_grants_at_most_the_limit_and_starts_over_at_the_boundary() {
        let mut s = ObjectState::default();
        let mut total = 0;
        for i in 0..100 {
            total += one(&mut s, ask(100, 60, Window::Fixed, 50), 60_000 + i).granted;
        }
        assert_eq!(total, 100);
        let refused = one(&mut s, ask(100, 60, Window::Fixed, 1), 60_500);
        assert_eq!(refused.granted, 0);
        assert_eq!(refused.retry_ms, 59_500);
        // A lease never outlives its window.
        let g = one(&mut s, ask(100, 60, Window::Fixed, 5), 119_000);
        assert_eq!(g.granted, 0);
        let g = one(&mut s, ask(100, 60, Window::Fixed, 5), 119_990 + 20);
        assert_eq!(g.granted, 5);
        let late = one(&mut s, ask(100, 60, Window::Fixed, 5), 179_995);
        assert_eq!(late.valid_ms, 5);
    }

    #[test]
    fn a_fair_share_is_an_eighth_of_the_limit() {
        let mut s = ObjectState::default();
        assert_eq!(
            one(&mut s, ask(100, 60, Window::Fixed, 1000), 0).granted,
            12
        );
    }

    #[test]
    fn sliding_window_releases_a_period_after_the_lease_ends() {
        let mut s = ObjectState::default();
        let g = one(&mut s, ask(10, 60, Window::Sliding, 10), 0);
        assert_eq!(g.granted, 1, "an eighth of 10, at least one");
        let mut total = g.granted;
        while total < 10 {
            total += one(&mut s, ask(10, 60, Window::Sliding, 10), 1).granted;
        }
        let refused = one(&mut s, ask(10, 60, Window::Sliding, 1), 5_000);
        assert_eq!(refused.granted, 0);
        // Released at lease end (10 s) + 60 s, merged into 1 s granules.
        assert_eq!(refused.retry_ms, 70_000 - 5_000 + 1_000 - 1_000);
        assert_eq!(
            one(&mut s, ask(10, 60, Window::Sliding, 1), 69_999).granted,
            0
        );
        assert_eq!(
            one(&mut s, ask(10, 60, Window::Sliding, 1), 71_001).granted,
            1
        );
    }

    #[test]
    fn a_renewal_absorbs_the_unspent_units() {
        let mut s = ObjectState::default();
        let g1 = one(&mut s, ask(100, 60, Window::Fixed, 10), 0);
        let mut renew = ask(100, 60, Window::Fixed, 10);
        renew.holding = Some(Held {
            seq: g1.seq,
            unused: 4,
        });
        let g2 = one(&mut s, renew, 1_000);
        assert!(g2.absorbed);
        assert_eq!(g2.granted, 10);
        // 6 spent + (4 moved + 10 new) reserved: 80 left.
        assert_eq!(g2.remaining, 80);
        let mut back = ask(100, 60, Window::Fixed, 0);
        back.returning = Some(Held {
            seq: g2.seq,
            unused: 14,
        });
        let g3 = one(&mut s, back, 2_000);
        assert_eq!(g3.remaining, 94);
    }

    #[test]
    fn strict_spends_exactly_the_cost_with_no_lease() {
        let mut s = ObjectState::default();
        let mut a = ask(3, 60, Window::Fixed, 1);
        a.strict = true;
        a.min = 2;
        let g = one(&mut s, a.clone(), 0);
        assert_eq!((g.granted, g.valid_ms), (2, 10_000));
        assert_eq!(one(&mut s, a, 1).granted, 0);
    }

    #[test]
    fn a_busy_counter_keeps_a_small_row_and_strict_never_fills_the_open_leases() {
        let mut s = ObjectState::default();
        let mut strict = ask(1_000_000, 3600, Window::Fixed, 1);
        strict.strict = true;
        // 5,000 strict requests within 5 s: every one granted, none left as an open lease.
        for t in 0..5_000 {
            assert_eq!(
                one(&mut s, strict.clone(), 3_600_000 + t).granted,
                1,
                "at {t}"
            );
        }
        // 2,000 leases over 100 s of one window: merged once closed for a lease's time.
        for t in 0..2_000 {
            one(
                &mut s,
                ask(1_000_000, 3600, Window::Fixed, 10),
                3_700_000 + t * 50,
            );
        }
        // Open leases (the last 10 s: 200) and those closed within a lease's time (200) stay
        // separate; everything older is one aggregate.
        let entries = s.counters.get("m").map_or(0, |c| c.entries.len());
        assert!(
            entries <= 2 * (10_000 / 50) + 2,
            "{entries} entries in the row"
        );
        assert_eq!(s.usage(3_800_000).limits[0].used, 5_000 + 2_000 * 10);
    }

    fn credits_ask(remaining: u64, set_at: u64, want: u64) -> LeaseAsk {
        LeaseAsk {
            name: CREDITS.into(),
            limit: None,
            credits: Some(StoredCredits {
                remaining,
                refill: Some(Refill {
                    amount: 5,
                    every_seconds: 60,
                }),
                set_at,
            }),
            want,
            min: 1,
            holding: None,
            returning: None,
            refund: 0,
            strict: false,
        }
    }

    #[test]
    fn credits_never_go_below_zero_and_refill_tops_up() {
        let mut s = ObjectState::default();
        let mut total = 0;
        for t in 0..20 {
            total += one(&mut s, credits_ask(7, 1, 3), t).granted;
        }
        assert_eq!(total, 7);
        let refused = one(&mut s, credits_ask(7, 1, 1), 100);
        assert_eq!(refused.granted, 0);
        assert_eq!(refused.retry_ms, 60_001 - 100);
        // After the refill boundary, topped up to 5.
        let mut after = 0;
        for t in 0..10 {
            after += one(&mut s, credits_ask(7, 1, 5), 60_001 + t).granted;
        }
        assert_eq!(after, 5);
        // A refund comes back; a newer definition starts over, less what is leased out.
        let mut refund = credits_ask(7, 1, 0);
        refund.refund = 2;
        assert_eq!(one(&mut s, refund, 60_100).remaining, 2);
        let reset = one(&mut s, credits_ask(100, 2, 1), 60_200);
        assert_eq!(reset.granted, 1);
        assert_eq!(reset.remaining, 100 - 5 - 1);
    }

    #[test]
    fn state_round_trips_and_usage_reports() {
        let mut s = ObjectState::default();
        one(&mut s, ask(100, 60, Window::Fixed, 10), 1_000);
        one(&mut s, credits_ask(50, 1, 10), 1_000);
        let back = ObjectState::load(Some(&s.save().unwrap())).unwrap();
        assert_eq!(back, s);
        let u = s.usage(2_000);
        assert_eq!(u.limits[0].used, 10);
        assert_eq!(u.limits[0].remaining, 90);
        assert_eq!(u.limits[0].reset_seconds, 58);
        let c = u.credits.unwrap();
        assert_eq!((c.remaining, c.leased), (44, 6));
        assert_eq!(u.last_used_at, Some(1));
    }
}
