//! Per isolate: spending leased capacity without a call, and knowing when to call (issue #15).
//!
//! Owns: [`LeaseBook`], bounded in counters (SIEVE, `usage.max_tracked`), and the admission of
//! one request against a [`Plan`]: every counter is checked first and spent only if all pass
//! (a request refused by one limit spends nothing from the others). What it decides:
//! - a counter with leased units left is spent locally, no I/O; a renewal is sent in the
//!   background when a lease is less than half left, when what is left would last fewer than
//!   `RENEW_TRIPS` (4) round trips at the rate it is spent, or near its end (not a fixed window's
//!   lease that ends with the window: a renewal could end no later), so a steady client whose
//!   round trip spends less than a lease never waits (tests/limits_pacing.rs);
//! - a counter without units asks its object (the request waits for that one call);
//! - a strict limit asks its object for every request;
//! - an object that did not answer is not asked again for a second; meanwhile its limits count
//!   in this isolate alone (`on_unavailable: local`) or refuse (`deny`, and always for credits).
//!
//! Never touches: a clock (`now` is an argument; a lease's end is measured from when its call
//! was *sent*, so it ends no later, in real time, than the object meant), the network.
//!
//! Lease sizes start at the request's cost and double with each grant that was fully used, up
//! to `usage.max_lease` and an eighth of the limit (the object's fair share): a hot key makes
//! about one call per `max_lease` requests (docs/limits.md has the arithmetic).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::counter::CREDITS;
use super::fields::{policy_field, state_field, PolicyItem, StateItem};
use super::{
    Charge, CounterDef, Held, LeaseAsk, LeaseCall, LeaseReply, OnUnavailable, Plan, StoredCredits,
    UsageSettings,
};
use crate::bounded::SieveMap;

/// How long a refusal from the object is believed before asking again (an exhausted counter
/// costs each isolate at most one call a second, whatever its traffic).
const DENIED_CACHE_MS: u64 = 1_000;
/// How long an object that did not answer is left alone.
const UNAVAILABLE_MS: u64 = 1_000;
/// A renewal is sent when the units left would last fewer than this many round trips at the
/// rate they are being spent (as well as at half a lease left): a lease of 100 spent 60 units per
/// round trip ran out before its renewal came back (tests/limits_pacing.rs).
const RENEW_TRIPS: u64 = 4;

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    remaining: u64,
    expires_ms: u64,
}

impl Slot {
    fn live(&self, now: u64) -> u64 {
        if self.expires_ms > now {
            self.remaining
        } else {
            0
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Lease {
    seq: u64,
    /// The lease `seq`: a renewal reports its unspent units, and the object moves them.
    current: Slot,
    /// Units of a lease a concurrent grant displaced: spent first, never reported as held.
    older: Slot,
    /// `current`'s size when granted (renew when less than half is left).
    granted: u64,
    /// `current` ends with its fixed window: renewing it early could not make it last longer
    /// (units of the next window cannot be leased before it starts), and units it still has at
    /// the end say nothing of demand (its size is not halved for them).
    window_bound: bool,
    /// The new units of the last grant (what `current` held beyond the units it absorbed): a
    /// renewal paced by the spending rate is sent only with less than this left, so the isolate
    /// never holds more than two grants' worth.
    fresh: u64,
    /// When `current` was installed (this isolate's clock) and units spent since: the rate.
    installed_ms: u64,
    spent_since: u64,
    /// `current` answered a request's own call, and that request has yet to spend: its spend,
    /// at once on the install, says nothing of the rate (it would read as a unit per ms and
    /// renew every sparse lease twice), so the rate is measured from it, without it.
    rate_skip: bool,
    /// The round trip of this counter's calls: the last one's, or more while they get faster
    /// (halfway from the previous; a slower one counts at once).
    rtt_ms: u64,
    /// Units to ask for next.
    want: u64,
    /// A background call for this counter is on its way.
    flight: bool,
    denied_until_ms: u64,
    /// When a refused request may pass again (this isolate's clock; 0: credits with no refill),
    /// kept as a time so a cached refusal's `Retry-After` counts down.
    denied_retry_at_ms: u64,
    unavailable_until_ms: u64,
    /// An ended lease's unspent units, given back with the next call.
    returning: Option<Held>,
    /// Credits to give back with the next call.
    refund: u64,
    /// What the object said was left for others, and when the window resets (for the fields).
    others_remaining: u64,
    reset_at_ms: u64,
    /// `on_unavailable: local`: this isolate's own fixed-window count.
    local_window: u64,
    local_used: u64,
    used_at: u64,
    /// A request's call for units is on its way: others of this isolate that need units too
    /// wait for its answer instead of each calling (a cold isolate under a burst makes one
    /// call, not one per request).
    gate: Option<Rc<Gate>>,
    /// A call holding `current` is on its way (at most one): the object may move `current`'s
    /// unspent units into the new lease, so they are accounted here until it answers.
    holding: Option<InTransit>,
}

/// The units of `current` a holding call reported, and what has been spent of them since.
#[derive(Clone, Copy, Debug)]
struct InTransit {
    seq: u64,
    unused: u64,
    spent: u64,
}

impl InTransit {
    fn left(&self) -> u64 {
        self.unused.saturating_sub(self.spent)
    }
}

/// Opened when a call's answer is installed (or the call failed, or the request that made it
/// went away): the requests that saw it closed look again. Requests never wait on another
/// request's promise (workerd cancels a request that waits on nothing of its own as hung): they
/// pause on a timer of their own ([`crate::ports::Authority::pause`]) and look again.
#[derive(Debug, Default)]
pub struct Gate {
    open: Cell<bool>,
}

impl Gate {
    fn release(&self) {
        self.open.set(true);
    }
}

/// The gates of a request's own calls: opened when dropped, so a request that goes away
/// mid-call (or fails) never leaves others waiting.
#[derive(Debug, Default)]
pub struct Flight(Vec<Rc<Gate>>);

impl Drop for Flight {
    fn drop(&mut self) {
        for g in &self.0 {
            g.release();
        }
    }
}

impl PartialEq for Flight {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
    }
}

impl Eq for Flight {}

impl Lease {
    fn normalise(&mut self, now: u64) {
        if self.current.expires_ms <= now && self.current.remaining > 0 {
            if !self.window_bound && self.current.remaining.saturating_mul(2) > self.granted {
                self.want = (self.want / 2).max(1);
            }
            // Units in transit are returned (or moved) when the holding call is answered.
            if self.holding.is_none() {
                self.returning = Some(Held {
                    seq: self.seq,
                    unused: self.current.remaining,
                });
            }
            self.current.remaining = 0;
        }
        if self.older.expires_ms <= now {
            self.older.remaining = 0;
        }
    }

    fn available(&self, now: u64) -> u64 {
        self.current.live(now).saturating_add(self.older.live(now))
    }

    fn spend(&mut self, cost: u64, now: u64) {
        let from_older = self.older.live(now).min(cost);
        self.older.remaining -= from_older;
        let from_current = (cost - from_older).min(self.current.remaining);
        self.current.remaining -= from_current;
        if let Some(t) = self.holding.as_mut().filter(|t| t.seq == self.seq) {
            t.spent = t.spent.saturating_add(from_current);
        }
        if self.rate_skip {
            self.rate_skip = false;
            self.installed_ms = now;
        } else {
            self.spent_since = self.spent_since.saturating_add(cost);
        }
        self.used_at = now;
    }

    /// Renew now? At half `current` left; or, with less than the last grant's new units left,
    /// when those would be spent within [`RENEW_TRIPS`] round trips at the rate spent since
    /// `current` was installed; or when it nears its end, unless it ends with its window.
    fn wants_renewal(&self, now: u64, lease_ms: u64) -> bool {
        let left = self.current.remaining;
        if left.saturating_mul(2) < self.granted {
            return true;
        }
        if left < self.fresh && self.rtt_ms > 0 && self.spent_since > 0 {
            // left / (spent / elapsed) < trips × rtt, without dividing. An elapsed time of 0
            // (Workers' clock stands still while a burst is served) counts as 1 ms.
            let elapsed = u128::from(now.saturating_sub(self.installed_ms).max(1));
            let lasts = u128::from(left) * elapsed;
            let needed =
                u128::from(RENEW_TRIPS) * u128::from(self.rtt_ms) * u128::from(self.spent_since);
            if lasts < needed {
                return true;
            }
        }
        !self.window_bound && self.current.expires_ms.saturating_sub(now) < lease_ms / 4
    }

    /// Units that arrive while `current` must stay as it is: spent first, never reported.
    fn set_aside(&mut self, units: u64, expires_ms: u64, now: u64) {
        let live = self.older.live(now);
        self.older = if live > 0 {
            Slot {
                remaining: live.saturating_add(units),
                expires_ms: self.older.expires_ms.min(expires_ms),
            }
        } else {
            Slot {
                remaining: units,
                expires_ms,
            }
        };
    }

    /// The holding call for `seq` is over without its units moving: if `current` has ended
    /// meanwhile, what was left of it goes back with the next call.
    fn held_back(&mut self, transit: InTransit, now: u64) {
        if self.seq == transit.seq && self.current.expires_ms <= now && transit.left() > 0 {
            self.returning = Some(Held {
                seq: transit.seq,
                unused: transit.left(),
            });
            self.current.remaining = 0;
        }
    }
}

/// One counter a request touches, as the book sees it.
struct Item<'p> {
    key: String,
    object: &'p str,
    name: &'p str,
    def: Option<CounterDef>,
    credits: Option<&'p StoredCredits>,
    cost: u64,
    strict: bool,
    on_unavailable: OnUnavailable,
    /// For the fields: quota and window in seconds.
    quota: u64,
    period_seconds: u64,
}

fn items(plan: &Plan) -> Vec<Item<'_>> {
    let mut out: Vec<Item<'_>> = plan
        .spends
        .iter()
        .map(|s| Item {
            key: book_key(&s.object, &s.limit.name, Some(&CounterDef::of(&s.limit))),
            object: &s.object,
            name: &s.limit.name,
            def: Some(CounterDef::of(&s.limit)),
            credits: None,
            cost: s.cost,
            strict: s.limit.strict,
            on_unavailable: s.limit.on_unavailable,
            quota: s.limit.limit,
            period_seconds: s.limit.period_seconds,
        })
        .collect();
    if let Some(c) = &plan.credits {
        out.push(Item {
            key: book_key(&c.object, CREDITS, None),
            object: &c.object,
            name: CREDITS,
            def: None,
            credits: Some(&c.credits),
            cost: c.cost,
            strict: false,
            on_unavailable: OnUnavailable::Deny,
            quota: 0,
            period_seconds: 0,
        });
    }
    out
}

/// A lease's place in the book: its object, its counter's name and, for a limit, the definition
/// it was asked with. One name may be defined differently on two routes (or by two keys' own
/// limits of one principal): at the object that is one counter, which checks each ask against
/// its own definition, but each definition needs a lease of its own here, or a route with a
/// low limit would spend what was granted under a high one (seen: 127 requests admitted in a
/// minute against 10 beside a route allowing 1,000 of the same name).
fn book_key(object: &str, name: &str, def: Option<&CounterDef>) -> String {
    use std::fmt::Write as _;
    let mut key = String::with_capacity(object.len() + name.len() + 24);
    key.push_str(object);
    key.push('\u{1f}');
    key.push_str(name);
    if let Some(d) = def {
        let window = match d.window {
            super::Window::Fixed => 'f',
            super::Window::Sliding => 's',
        };
        let _ = write!(key, "\u{1f}{}/{}{window}", d.limit, d.period_ms);
    }
    key
}

/// Calls to make, one per object, each with the asks of that object's counters.
pub type Calls = Vec<(String, LeaseCall)>;

/// The `RateLimit-Policy` and `RateLimit` field values.
pub type Fields = Option<(String, String)>;

/// Credits spent by an admitted request, to give back if the origin fails (`charge: success`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundClaim {
    object: String,
    credits: StoredCredits,
    cost: u64,
}

/// An admitted request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ticket {
    pub fields: Fields,
    pub refund: Option<RefundClaim>,
    /// Renewals to send in the background.
    pub renewals: Calls,
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Out of credits (not over a limit).
    pub credits: bool,
    /// Seconds until a retry can pass (`None`: credits with no refill).
    pub retry_after: Option<u64>,
    pub fields: Fields,
}

/// What to do with a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    Admitted(Ticket),
    Refused(Refusal),
    /// A counter's object cannot be reached and its limit says `deny` (or it is credits).
    Unavailable,
    /// Make these calls, [`LeaseBook::install`] (or [`LeaseBook::failed`]) each, and ask again
    /// (drop the [`Flight`] after installing: it lets waiting requests go on).
    Need(Calls, Flight),
    /// Another request's call will bring units: pause a moment, then ask again.
    Wait,
}

/// What the answers to a request's own calls decided for its strict limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Installed {
    /// A strict limit refused: retry after this many ms.
    pub strict_refused: Option<u64>,
}

/// The per-isolate leases.
#[derive(Debug)]
pub struct LeaseBook {
    leases: RefCell<SieveMap<String, Lease>>,
    settings: UsageSettings,
}

fn seconds(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

impl LeaseBook {
    #[must_use]
    pub fn new(settings: UsageSettings) -> Self {
        LeaseBook {
            leases: RefCell::new(SieveMap::new(settings.max_tracked)),
            settings,
        }
    }

    /// The `RateLimit-Policy` and `RateLimit` fields of a refusal decided outside [`Self::admit`]
    /// (a strict limit's object said no, or the request gave up waiting): the contract puts
    /// both on every over-limit 429. `retry_ms`: until a retry can pass.
    #[must_use]
    pub fn refusal_fields(&self, plan: &Plan, now: u64, retry_ms: u64) -> Fields {
        let book = self.leases.try_borrow().ok()?;
        Self::fields(&book, &items(plan), now, Some(retry_ms))
    }

    /// Admit a request. `strict_asked`: this request's strict limits were already asked (the
    /// round after its calls): they passed, or [`Installed::strict_refused`] said otherwise.
    /// `may_wait`: it may wait for another request's call rather than make its own (false once
    /// it has waited long enough: a slow object must not turn waiting into refusals).
    pub fn admit(&self, plan: &Plan, now: u64, strict_asked: bool, may_wait: bool) -> Admission {
        if plan.is_empty() {
            return Admission::Admitted(Ticket::default());
        }
        let Ok(mut book) = self.leases.try_borrow_mut() else {
            return Admission::Unavailable;
        };
        let items = items(plan);
        let mut needs: Vec<(usize, LeaseAsk)> = Vec::new();
        let mut wait = false;
        let mut gates: Vec<Rc<Gate>> = Vec::new();
        let mut refused_limit: Option<u64> = None;
        let mut refused_credits: Option<Option<u64>> = None;
        let mut unavailable = false;
        for (i, item) in items.iter().enumerate() {
            if book.get(&item.key).is_none() {
                book.insert(
                    item.key.clone(),
                    Lease {
                        want: item.cost.max(1),
                        ..Lease::default()
                    },
                );
            }
            let Some(lease) = book.get_mut(&item.key) else {
                return Admission::Unavailable;
            };
            lease.normalise(now);
            if lease.unavailable_until_ms > now {
                if item.on_unavailable == OnUnavailable::Local && item.credits.is_none() {
                    let window = (item.period_seconds * 1000).max(1);
                    let start = now / window * window;
                    let used = if lease.local_window == start {
                        lease.local_used
                    } else {
                        0
                    };
                    if used.saturating_add(item.cost) > item.quota {
                        refused_limit = Some(
                            refused_limit
                                .unwrap_or(0)
                                .max(start.saturating_add(window).saturating_sub(now)),
                        );
                    }
                } else {
                    unavailable = true;
                }
                continue;
            }
            // A strict limit asks its object for every request; the grant is then spent like a
            // lease's units (valid from when the call was sent).
            if item.strict && !strict_asked {
                needs.push((i, self.ask(item, lease, true)));
                continue;
            }
            if lease.available(now) >= item.cost {
                continue;
            }
            if lease.denied_until_ms > now {
                let retry = match lease.denied_retry_at_ms {
                    0 => 0,
                    at => at.saturating_sub(now).max(1),
                };
                if item.credits.is_some() {
                    refused_credits = Some((retry > 0).then_some(retry));
                } else {
                    refused_limit = Some(refused_limit.unwrap_or(0).max(retry));
                }
                continue;
            }
            if !item.strict {
                if may_wait && lease.gate.as_ref().is_some_and(|g| !g.open.get()) {
                    wait = true;
                    // Demand seen while a call is out: the next call asks for it too.
                    lease.want = lease
                        .want
                        .saturating_add(item.cost)
                        .min(self.settings.max_lease.max(item.cost));
                    continue;
                }
                let gate = Rc::new(Gate::default());
                lease.gate = Some(Rc::clone(&gate));
                gates.push(gate);
            }
            needs.push((i, self.ask(item, lease, item.strict)));
        }
        if unavailable || refused_limit.is_some() || refused_credits.is_some() {
            // Nothing will be asked: the gates just made are opened again (dropped `Flight`).
            drop(Flight(std::mem::take(&mut gates)));
        }
        if unavailable {
            return Admission::Unavailable;
        }
        if refused_limit.is_some() || refused_credits.is_some() {
            let fields = Self::fields(&book, &items, now, refused_limit);
            return Admission::Refused(match refused_limit {
                Some(retry) => Refusal {
                    credits: false,
                    retry_after: Some(seconds(retry).max(1)),
                    fields,
                },
                None => Refusal {
                    credits: true,
                    retry_after: refused_credits.flatten().map(|r| seconds(r).max(1)),
                    fields,
                },
            });
        }
        if !needs.is_empty() {
            return Admission::Need(group(&items, needs), Flight(gates));
        }
        if wait {
            return Admission::Wait;
        }
        // Every counter passes: spend them all.
        let mut renewals: Vec<(usize, LeaseAsk)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(lease) = book.get_mut(&item.key) else {
                continue;
            };
            if lease.unavailable_until_ms > now {
                let window = (item.period_seconds * 1000).max(1);
                let start = now / window * window;
                if lease.local_window != start {
                    lease.local_window = start;
                    lease.local_used = 0;
                }
                lease.local_used = lease.local_used.saturating_add(item.cost);
                continue;
            }
            lease.spend(item.cost, now);
            if item.strict {
                continue;
            }
            if !lease.flight && lease.wants_renewal(now, self.settings.lease_ms) {
                renewals.push((i, self.ask(item, lease, false)));
                lease.flight = true;
            }
        }
        let fields = Self::fields(&book, &items, now, None);
        let refund = match (&plan.credits, self.settings.charge) {
            (Some(c), Charge::Success) => Some(RefundClaim {
                object: c.object.clone(),
                credits: c.credits.clone(),
                cost: c.cost,
            }),
            _ => None,
        };
        Admission::Admitted(Ticket {
            fields,
            refund,
            renewals: group(&items, renewals),
        })
    }

    fn ask(&self, item: &Item<'_>, lease: &mut Lease, strict: bool) -> LeaseAsk {
        // One holding call at a time: its units are in transit until it is answered.
        let holding = (!strict && lease.current.remaining > 0 && lease.holding.is_none())
            .then_some(Held {
                seq: lease.seq,
                unused: lease.current.remaining,
            });
        if let Some(h) = holding {
            lease.holding = Some(InTransit {
                seq: h.seq,
                unused: h.unused,
                spent: 0,
            });
        }
        LeaseAsk {
            name: item.name.to_string(),
            limit: item.def,
            credits: item.credits.cloned(),
            want: if strict {
                item.cost
            } else {
                lease
                    .want
                    .max(item.cost)
                    .min(self.settings.max_lease.max(item.cost))
            },
            min: item.cost,
            holding,
            returning: lease.returning.take(),
            refund: std::mem::take(&mut lease.refund),
            strict,
        }
    }

    /// The fields for the request's limits (credits have none): the quota, and as remaining the
    /// object's last count for others plus what this isolate holds. `refused`: the retry, shown
    /// as the reset of a counter with nothing left here.
    fn fields(
        book: &SieveMap<String, Lease>,
        items: &[Item<'_>],
        now: u64,
        refused: Option<u64>,
    ) -> Fields {
        let limits: Vec<(&Item<'_>, Option<&Lease>)> = items
            .iter()
            .filter(|i| i.credits.is_none())
            .map(|i| (i, book.peek(&i.key)))
            .collect();
        let policies: Vec<PolicyItem<'_>> = limits
            .iter()
            .map(|(i, _)| PolicyItem {
                name: i.name,
                quota: i.quota,
                window_seconds: i.period_seconds,
            })
            .collect();
        let states: Vec<StateItem<'_>> = limits
            .iter()
            .map(|(i, lease)| {
                let (remaining, reset_ms) = match lease {
                    Some(l) if l.unavailable_until_ms > now => {
                        let window = (i.period_seconds * 1000).max(1);
                        let start = now / window * window;
                        let used = if l.local_window == start {
                            l.local_used
                        } else {
                            0
                        };
                        (
                            i.quota.saturating_sub(used),
                            start.saturating_add(window).saturating_sub(now),
                        )
                    }
                    Some(l) => {
                        let here = l.available(now);
                        let remaining = l.others_remaining.saturating_add(here).min(i.quota);
                        let reset = l.reset_at_ms.saturating_sub(now);
                        match refused {
                            Some(retry) if here < i.cost && l.others_remaining < i.cost => {
                                (0, retry.max(reset))
                            }
                            _ => (remaining, reset),
                        }
                    }
                    None => (i.quota, 0),
                };
                StateItem {
                    name: i.name,
                    remaining,
                    reset_seconds: seconds(reset_ms),
                }
            })
            .collect();
        match (policy_field(&policies), state_field(&states)) {
            (Some(p), Some(s)) => Some((p, s)),
            _ => None,
        }
    }

    /// Take the object's answer to `call`, sent at `sent_ms` (this isolate's clock), at `now`.
    pub fn install(
        &self,
        object: &str,
        call: &LeaseCall,
        reply: &LeaseReply,
        sent_ms: u64,
        now: u64,
    ) -> Installed {
        let mut out = Installed::default();
        let Ok(mut book) = self.leases.try_borrow_mut() else {
            return out;
        };
        for (ask, grant) in call.asks.iter().zip(reply.grants.iter()) {
            if ask.strict && grant.granted < ask.min {
                out.strict_refused = Some(grant.retry_ms.max(1));
            }
            let key = book_key(object, &ask.name, ask.limit.as_ref());
            let Some(lease) = book.get_mut(&key) else {
                continue;
            };
            lease.flight = false;
            lease.unavailable_until_ms = 0;
            // A gate is made only by a request's own call (a background renewal sets `flight`).
            let own_call = lease.gate.take().map(|gate| gate.release()).is_some();
            if !ask.strict {
                let rtt = now.saturating_sub(sent_ms).max(1);
                lease.rtt_ms = rtt.max(lease.rtt_ms.saturating_add(rtt) / 2);
            }
            lease.others_remaining = grant.remaining;
            lease.reset_at_ms = sent_ms.saturating_add(grant.reset_ms);
            let expires_ms = sent_ms.saturating_add(grant.valid_ms);
            // This call's holding (if it held `current`): the units it reported.
            let transit = match (ask.holding, lease.holding) {
                (Some(h), Some(t)) if h.seq == t.seq => {
                    lease.holding = None;
                    Some(t)
                }
                _ => None,
            };
            // A report (`want: 0`: a refund or a return sent on its own) asked for no units, so
            // none granted is no refusal: the lease stays as it was. (Taken as one, it made the
            // next requests 429 `credits_exhausted` until the window's reset.)
            if ask.want == 0 && transit.is_none() {
                continue;
            }
            if grant.granted < ask.min.max(1) {
                if let Some(t) = transit {
                    lease.held_back(t, now);
                }
                lease.denied_until_ms =
                    now.saturating_add(DENIED_CACHE_MS.min(grant.retry_ms.max(1)));
                lease.denied_retry_at_ms = match grant.retry_ms {
                    0 => 0,
                    ms => now.saturating_add(ms),
                };
                continue;
            }
            lease.denied_until_ms = 0;
            match transit {
                // The object moved the reported units into this lease: what is left of them
                // (whether or not `current` has ended here meanwhile) and the new units are the
                // new `current`. The object never both moves and takes back a lease's units.
                Some(t) if grant.absorbed => {
                    lease.current.remaining = t.left().saturating_add(grant.granted);
                }
                Some(t) => {
                    lease.held_back(t, now);
                    if lease.current.live(now) > 0 {
                        lease.set_aside(grant.granted, expires_ms, now);
                        continue;
                    }
                    lease.current.remaining = grant.granted;
                }
                // Units for a request while another call holds `current`: kept aside.
                None if lease.holding.is_some() => {
                    lease.set_aside(grant.granted, expires_ms, now);
                    continue;
                }
                None => {
                    let displaced = lease.current.live(now);
                    if displaced > 0 {
                        lease.set_aside(displaced, lease.current.expires_ms, now);
                    }
                    lease.current.remaining = grant.granted;
                }
            }
            lease.current.expires_ms = expires_ms;
            lease.seq = grant.seq;
            lease.granted = lease.current.remaining;
            lease.fresh = grant.granted;
            lease.window_bound = ask.limit.is_some_and(|d| d.window == super::Window::Fixed)
                && grant.valid_ms >= grant.reset_ms;
            lease.installed_ms = now;
            lease.spent_since = 0;
            lease.rate_skip = own_call;
            if grant.granted >= ask.want {
                lease.want = ask
                    .want
                    .saturating_mul(2)
                    .min(self.settings.max_lease)
                    .max(1);
            }
        }
        out
    }

    /// `call` went unanswered at `now`: its counters' objects are left alone for a second.
    pub fn failed(&self, object: &str, call: &LeaseCall, now: u64) {
        let Ok(mut book) = self.leases.try_borrow_mut() else {
            return;
        };
        for ask in &call.asks {
            if let Some(lease) = book.get_mut(&book_key(object, &ask.name, ask.limit.as_ref())) {
                lease.flight = false;
                lease.unavailable_until_ms = now.saturating_add(UNAVAILABLE_MS);
                if let Some(t) = lease
                    .holding
                    .filter(|t| ask.holding.is_some_and(|h| h.seq == t.seq))
                {
                    lease.holding = None;
                    lease.held_back(t, now);
                }
                if let Some(gate) = lease.gate.take() {
                    gate.release();
                }
                // A refund whose call went unanswered is not sent again: the object may have
                // applied it (a lost answer), and giving it twice would admit requests the
                // credits do not cover. The key loses at most the credits of the requests that
                // call carried, which errs towards the limit, never past it.
            }
        }
    }

    /// The origin answered `status` (0: it could not be reached) to a request holding `claim`:
    /// under `charge: success`, a failure's credits go back to the object with the next call,
    /// or with one sent now (returned) when none is on its way.
    pub fn settle(&self, claim: &RefundClaim, status: u16) -> Option<(String, LeaseCall)> {
        if (1..400).contains(&status) {
            return None;
        }
        let mut book = self.leases.try_borrow_mut().ok()?;
        let lease = book.get_mut(&book_key(&claim.object, CREDITS, None))?;
        lease.refund = lease.refund.saturating_add(claim.cost);
        if lease.flight {
            return None;
        }
        lease.flight = true;
        let ask = LeaseAsk {
            name: CREDITS.into(),
            limit: None,
            credits: Some(claim.credits.clone()),
            want: 0,
            min: claim.cost,
            holding: None,
            returning: lease.returning.take(),
            refund: std::mem::take(&mut lease.refund),
            strict: false,
        };
        Some((
            claim.object.clone(),
            LeaseCall {
                asks: vec![ask],
                used_at: lease.used_at,
            },
        ))
    }

    /// Counters tracked.
    #[must_use]
    pub fn len(&self) -> usize {
        self.leases.try_borrow().map_or(0, |b| b.len())
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn group(items: &[Item<'_>], asks: Vec<(usize, LeaseAsk)>) -> Calls {
    let mut calls: Calls = Vec::new();
    for (i, ask) in asks {
        let Some(item) = items.get(i) else { continue };
        match calls.iter_mut().find(|(o, _)| o == item.object) {
            Some((_, call)) => call.asks.push(ask),
            None => calls.push((
                item.object.to_string(),
                LeaseCall {
                    asks: vec![ask],
                    used_at: 0,
                },
            )),
        }
    }
    calls
}
