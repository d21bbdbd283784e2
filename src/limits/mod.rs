//! Rate limits and usage credits (issue #15): what a limit is, how a request's limits are chosen,
//! and the wire protocol between an isolate and the object that owns a counter.
//!
//! Owns: the definitions as written (`routes[].limits`, a key record's `limits` and `credits`,
//! the `usage` settings), their validation (errors name the field), the plan of one request
//! (which counters it spends, at what cost, in which object) and the lease protocol's messages.
//! The two state machines live beside it: [`counter`] (inside the object: exact accounting of
//! windows, leases and credits) and [`lease`] (per isolate: spending leased capacity without a
//! call, renewing ahead of need). [`fields`] renders the `RateLimit-Policy`/`RateLimit` fields.
//! Never touches: a clock (times are arguments), storage or the network (the adapter carries the
//! messages), a credential (counters are named by public key ids, principals and addresses).
//!
//! The guarantee, argued in docs/limits.md and tested in tests/limits.rs and
//! tests/runtime/limits.test.mjs: a limit is never exceeded, in any window, across every isolate
//! and location, because every unit an isolate spends was granted to it by the one object that
//! owns the counter, for a validity measured from the moment the isolate *sent* its request (so
//! no clock needs to agree with another: a lease ends, in real time, no later than the object
//! meant it to). Leases can only make the edge admit *less*: by at most the unspent part of the
//! leases outstanding, until they end (fixed windows: the window's end; sliding: the lease's end
//! plus the period).

pub mod counter;
pub(crate) mod fields;
pub mod lease;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// What a limit counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    /// The API key or PAT (for a JWT: its client, else its principal).
    Key,
    /// The principal (issuer, subject).
    Principal,
    /// The client address (`CF-Connecting-IP`).
    Ip,
}

impl By {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            By::Key => "key",
            By::Principal => "principal",
            By::Ip => "ip",
        }
    }
}

/// How a period is counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// Periods aligned to multiples of `period_seconds` since the Unix epoch; the count starts
    /// over at each boundary.
    #[default]
    Fixed,
    /// Any interval of `period_seconds` holds at most `limit` units.
    Sliding,
}

/// What a request does when the counter's object cannot be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnUnavailable {
    /// Refuse (503 `limits_unavailable`).
    #[default]
    Deny,
    /// Count in this isolate alone, at the same rate (so, globally, up to the limit times the
    /// isolates that fall back).
    Local,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// A limit as written in `routes[].limits`, a key record and `PATCH {admin_path}/keys/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitDef {
    /// `[A-Za-z0-9_.-]{1,64}`; a key's limit replaces the route's limit of the same name.
    pub name: String,
    /// Units per period (1 to 1,000,000,000).
    pub limit: u64,
    /// 1 to 31,536,000 (a year).
    pub period_seconds: u64,
    pub by: By,
    /// What one request spends against this limit (default: the route's `cost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<u64>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub window: Window,
    /// One object call per request instead of leased capacity (for the few limits that need
    /// every request decided by the object, at the price of its round trip).
    #[serde(default, skip_serializing_if = "is_false")]
    pub strict: bool,
    #[serde(default, skip_serializing_if = "is_default")]
    pub on_unavailable: OnUnavailable,
}

/// Most limits on one route or one key.
pub const MAX_LIMITS: usize = 8;
const MAX_LIMIT: u64 = 1_000_000_000;
const MAX_PERIOD_SECONDS: u64 = 31_536_000;
const MAX_NAME_LEN: usize = 64;

/// A definition error: the field under the list (`[0].limit`) and the rule it breaks; the
/// caller puts it under the list's own place ([`ConfigError::under`]).
fn def_error(field: String, reason: &'static str) -> ConfigError {
    ConfigError::new(field, reason)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Validate a list of limits; `default_cost` is what a request spends where a limit says
/// nothing (the route's `cost`; for a key's own limits, 1, each route's cost being checked when
/// the key is used there). Field paths are relative to the list (`[1].period_seconds`).
pub fn validate_limits(list: &[LimitDef], default_cost: u64) -> Result<(), ConfigError> {
    if list.len() > MAX_LIMITS {
        return Err(def_error(String::new(), "at most 8 limits"));
    }
    for (i, def) in list.iter().enumerate() {
        let at = |f: &str| format!("[{i}].{f}");
        if !valid_name(&def.name) {
            return Err(def_error(
                at("name"),
                "must be 1-64 characters of A-Z, a-z, 0-9, `_`, `.`, `-`",
            ));
        }
        if def.name == counter::CREDITS {
            return Err(def_error(
                at("name"),
                "\"credits\" is the name of a key's credit balance in its counter object: choose another",
            ));
        }
        if list.iter().take(i).any(|d| d.name == def.name) {
            return Err(def_error(at("name"), "each limit's name must be unique"));
        }
        if !(1..=MAX_LIMIT).contains(&def.limit) {
            return Err(def_error(at("limit"), "must be between 1 and 1000000000"));
        }
        if !(1..=MAX_PERIOD_SECONDS).contains(&def.period_seconds) {
            return Err(def_error(
                at("period_seconds"),
                "must be between 1 and 31536000",
            ));
        }
        if def.cost == Some(0) {
            return Err(def_error(at("cost"), "must be at least 1"));
        }
        if def.cost.unwrap_or(default_cost) > def.limit {
            return Err(def_error(
                at("cost"),
                "a request's cost is larger than the limit: no request could ever pass",
            ));
        }
    }
    Ok(())
}

/// `credits` on a key record as the admin writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditsDef {
    /// The balance to start from (0 to 1,000,000,000,000).
    pub remaining: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<Refill>,
}

/// Every `every_seconds`, the balance is topped up to `amount` (a balance above it is kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refill {
    pub amount: u64,
    pub every_seconds: u64,
}

const MAX_CREDITS: u64 = 1_000_000_000_000;

/// Validate credits; field paths are relative (`.refill.amount`).
pub fn validate_credits(def: &CreditsDef) -> Result<(), ConfigError> {
    if def.remaining > MAX_CREDITS {
        return Err(def_error(
            ".remaining".into(),
            "must be at most 1000000000000",
        ));
    }
    if let Some(refill) = def.refill {
        if !(1..=MAX_CREDITS).contains(&refill.amount) {
            return Err(def_error(
                ".refill.amount".into(),
                "must be between 1 and 1000000000000",
            ));
        }
        if !(60..=MAX_PERIOD_SECONDS).contains(&refill.every_seconds) {
            return Err(def_error(
                ".refill.every_seconds".into(),
                "must be between 60 and 31536000",
            ));
        }
    }
    Ok(())
}

/// Credits as stored on a record: the definition and when it was set (Unix ms). The object that
/// holds the balance starts over from `remaining` when it is shown a later `set_at`, so a
/// `PATCH` needs no call to it, and an isolate still holding the older record cannot undo it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCredits {
    pub remaining: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<Refill>,
    #[serde(default)]
    pub set_at: u64,
}

impl StoredCredits {
    #[must_use]
    pub fn new(def: CreditsDef, set_at: u64) -> Self {
        StoredCredits {
            remaining: def.remaining,
            refill: def.refill,
            set_at,
        }
    }
}

/// A key record's own limits and credits (what [`plan`] adds to the route's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyQuota {
    pub limits: Vec<LimitDef>,
    pub credits: Option<StoredCredits>,
    /// The key id whose counter object the key spends (a rolled key: its chain's first key);
    /// `None`: its own.
    pub meter: Option<String>,
}

impl KeyQuota {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.credits.is_none()
    }
}

/// `usage` in `AUTH_CONFIG`: how leases are sized and when credits are charged.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUsageSettings {
    /// How long a lease may be spent (1-60 s, default 10).
    #[serde(default)]
    pub lease_seconds: Option<u64>,
    /// Most units one lease may hold (1-100,000, default 100).
    #[serde(default)]
    pub max_lease: Option<u64>,
    /// `always` (default) or `success`: credits only for requests the origin answered below 400.
    #[serde(default)]
    pub charge: Option<Charge>,
    /// Counters tracked per isolate (default 10,000).
    #[serde(default)]
    pub max_tracked: Option<usize>,
}

/// When credits are charged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Charge {
    #[default]
    Always,
    /// Spent at admission and given back when the origin answers 400 or above, or cannot be
    /// reached.
    Success,
}

/// Validated `usage` settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageSettings {
    pub lease_ms: u64,
    pub max_lease: u64,
    pub charge: Charge,
    pub max_tracked: usize,
}

impl Default for UsageSettings {
    fn default() -> Self {
        UsageSettings {
            lease_ms: 10_000,
            max_lease: 100,
            charge: Charge::Always,
            max_tracked: 10_000,
        }
    }
}

impl UsageSettings {
    pub fn from_raw(raw: RawUsageSettings) -> Result<Self, (&'static str, &'static str)> {
        let lease_seconds = raw.lease_seconds.unwrap_or(10);
        if !(1..=60).contains(&lease_seconds) {
            return Err(("usage.lease_seconds", "must be between 1 and 60"));
        }
        let max_lease = raw.max_lease.unwrap_or(100);
        if !(1..=100_000).contains(&max_lease) {
            return Err(("usage.max_lease", "must be between 1 and 100000"));
        }
        let max_tracked = raw.max_tracked.unwrap_or(10_000);
        if !(16..=1_000_000).contains(&max_tracked) {
            return Err(("usage.max_tracked", "must be between 16 and 1000000"));
        }
        Ok(UsageSettings {
            lease_ms: lease_seconds * 1000,
            max_lease,
            charge: raw.charge.unwrap_or_default(),
            max_tracked,
        })
    }
}

/// Who is asking, as the plan needs it.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub key_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub issuer: Option<&'a str>,
    /// `None` for anonymous and public requests.
    pub subject: Option<&'a str>,
    pub ip: Option<&'a str>,
}

/// One counter a request spends from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spend {
    /// The object that owns the counter (`AUTH_STATE.idFromName("limits/" + object)`).
    pub object: String,
    pub limit: LimitDef,
    pub cost: u64,
}

/// Credits a request spends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditSpend {
    /// The key's object (`key:<id>`).
    pub object: String,
    pub credits: StoredCredits,
    pub cost: u64,
}

/// Everything one request spends; empty for most routes (no limits, no credits: zero cost).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub spends: Vec<Spend>,
    pub credits: Option<CreditSpend>,
}

impl Plan {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.spends.is_empty() && self.credits.is_none()
    }
}

/// The object that owns a counter `by` for `who`. Names are built from public values only (key
/// ids, issuer tags, hex subjects, addresses), never a credential.
#[must_use]
pub fn object_name(by: By, who: &Subject<'_>) -> String {
    let principal = |issuer: Option<&str>, subject: &str| {
        format!(
            "principal:{}:{}",
            crate::keys::repository::issuer_tag(issuer),
            hex::encode(subject.as_bytes())
        )
    };
    // IPv6 by its /64 (`headers::address_bucket`): one client holds a whole /64.
    let ip = || match who.ip {
        Some(ip) => format!("ip:{}", crate::headers::address_bucket(ip)),
        None => "ip:unknown".to_string(),
    };
    match (by, who.subject) {
        (By::Ip, _) | (_, None) => ip(),
        (By::Key, Some(subject)) => match (who.key_id, who.client_id) {
            (Some(id), _) => format!("key:{id}"),
            (None, Some(client)) => format!(
                "client:{}:{}",
                crate::keys::repository::issuer_tag(who.issuer),
                hex::encode(client.as_bytes())
            ),
            (None, None) => principal(who.issuer, subject),
        },
        (By::Principal, Some(subject)) => principal(who.issuer, subject),
    }
}

/// The limits a request spends: the route's, each replaced by the key's limit of the same name,
/// plus the key's other limits; and the key's credits. `route_cost` is the route's `cost`.
#[must_use]
pub fn plan(
    route_limits: &[LimitDef],
    route_cost: u64,
    quota: Option<&KeyQuota>,
    who: &Subject<'_>,
) -> Plan {
    let own: &[LimitDef] = quota.map_or(&[], |q| q.limits.as_slice());
    if route_limits.is_empty() && quota.is_none_or(KeyQuota::is_empty) {
        return Plan::default();
    }
    let chosen = route_limits
        .iter()
        .map(|r| own.iter().find(|k| k.name == r.name).unwrap_or(r))
        .chain(
            own.iter()
                .filter(|k| !route_limits.iter().any(|r| r.name == k.name)),
        );
    let spends = chosen
        .map(|limit| Spend {
            object: object_name(limit.by, who),
            cost: limit.cost.unwrap_or(route_cost),
            limit: limit.clone(),
        })
        .collect();
    let credits = match (quota.and_then(|q| q.credits.as_ref()), who.key_id) {
        (Some(credits), Some(id)) => Some(CreditSpend {
            object: format!("key:{id}"),
            credits: credits.clone(),
            cost: route_cost,
        }),
        _ => None,
    };
    Plan { spends, credits }
}

/// The body of `GET {admin_path}/keys/{id}/usage`: the key's metadata (as the admin API answers
/// it) with what its own object and its principal's object report. `None` when the metadata is
/// not a key's.
#[must_use]
pub fn usage_report(
    metadata: &serde_json::Value,
    key: &counter::ObjectUsage,
    principal: &counter::ObjectUsage,
) -> Option<serde_json::Value> {
    let id = metadata.get("id")?.as_str()?;
    // The key's own definitions as they are now (a PATCH reaches a counter with its next call;
    // until then the counter knows the limit it was last shown). Read from the JSON as is: a
    // typed parse would instantiate the definitions' deserializer once more (~4 KiB of wasm).
    let own: &[serde_json::Value] = metadata
        .get("limits")
        .and_then(serde_json::Value::as_array)
        .map_or(&[], Vec::as_slice);
    let limits: Vec<serde_json::Value> = [(By::Key, key), (By::Principal, principal)]
        .iter()
        .flat_map(|(by, usage)| {
            usage.limits.iter().map(move |c| {
                let current = own.iter().find(|d| {
                    d.get("name").and_then(serde_json::Value::as_str) == Some(c.name.as_str())
                        && d.get("by").and_then(serde_json::Value::as_str) == Some(by.as_str())
                });
                let number = |field: &str, counted: u64| {
                    current
                        .and_then(|d| d.get(field))
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(counted)
                };
                let limit = number("limit", c.limit);
                let window = match current
                    .and_then(|d| d.get("window"))
                    .and_then(serde_json::Value::as_str)
                {
                    Some("sliding") => Window::Sliding,
                    Some(_) => Window::Fixed,
                    None if current.is_some() => Window::Fixed,
                    None => c.window,
                };
                serde_json::json!({
                    "name": c.name,
                    "by": by.as_str(),
                    "limit": limit,
                    "period_seconds": number("period_seconds", c.period_seconds),
                    "window": window,
                    "used": c.used,
                    "remaining": limit.saturating_sub(c.used),
                    "reset_seconds": c.reset_seconds,
                })
            })
        })
        .collect();
    let recorded = metadata
        .get("last_used_at")
        .and_then(serde_json::Value::as_u64);
    let last_used_at = match (key.last_used_at, recorded) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    Some(serde_json::json!({
        "id": id,
        "limits": limits,
        "credits": key.credits,
        "last_used_at": last_used_at,
    }))
}

// ---------------------------------------------------------------------------------------------
// The lease protocol: one JSON call from an isolate to one counter object, answered at once.

/// One counter in a call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseAsk {
    /// The limit's name (`credits` for the credit balance, which has no limit fields).
    pub name: String,
    /// The limit as the isolate knows it; the object counts by the latest it was shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<CounterDef>,
    /// The key's credits (for `credits`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<StoredCredits>,
    /// Units wanted (0: only report / return).
    pub want: u64,
    /// The smallest grant worth having (a request's cost): less is granted as 0.
    pub min: u64,
    /// The lease this isolate holds, with at most `unused` units left that it may still spend:
    /// a renewal absorbs them into the new lease (they stay reserved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holding: Option<Held>,
    /// An ended lease's unspent units, given back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returning: Option<Held>,
    /// Credits to give back (requests the origin failed, under `usage.charge: success`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refund: u64,
    /// The whole call is to be spent by one request at once (a strict limit): no lease.
    #[serde(default, skip_serializing_if = "is_false")]
    pub strict: bool,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// The counter fields of a limit, as the object needs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterDef {
    pub limit: u64,
    pub period_ms: u64,
    pub window: Window,
}

impl CounterDef {
    #[must_use]
    pub fn of(def: &LimitDef) -> Self {
        CounterDef {
            limit: def.limit,
            period_ms: def.period_seconds.saturating_mul(1000),
            window: def.window,
        }
    }
}

/// A lease the isolate holds or held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub seq: u64,
    pub unused: u64,
}

/// A call: the counters of one object a request (or a background renewal) needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseCall {
    pub asks: Vec<LeaseAsk>,
    /// When this isolate last spent from any of them (Unix ms), for `last_used_at`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub used_at: u64,
}

/// The object's answer to one ask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseGrant {
    /// The new lease (0: none).
    pub seq: u64,
    /// New units granted (0 when fewer than `min` were available).
    pub granted: u64,
    /// True when the held lease's unused units were absorbed into this one.
    pub absorbed: bool,
    /// How long, from when the isolate sent the call, the lease may be spent.
    pub valid_ms: u64,
    /// Units left for others after this grant (the `RateLimit` field's estimate).
    pub remaining: u64,
    /// Until the window starts over (fixed) or the oldest unit is released (sliding).
    pub reset_ms: u64,
    /// When `granted` is 0: until `min` units will be free (the 429's `Retry-After`).
    pub retry_ms: u64,
}

/// The object's answer to a call, one grant per ask, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseReply {
    pub grants: Vec<LeaseGrant>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(name: &str, n: u64, by: By) -> LimitDef {
        LimitDef {
            name: name.into(),
            limit: n,
            period_seconds: 60,
            by,
            cost: None,
            window: Window::Fixed,
            strict: false,
            on_unavailable: OnUnavailable::Deny,
        }
    }

    #[test]
    fn validation_names_the_field() {
        let mut bad = limit("a b", 10, By::Key);
        assert_eq!(
            validate_limits(&[bad.clone()], 1).unwrap_err().field,
            "[0].name"
        );
        bad.name = "ok".into();
        bad.limit = 0;
        assert_eq!(
            validate_limits(&[bad.clone()], 1).unwrap_err().field,
            "[0].limit"
        );
        bad.limit = 5;
        assert_eq!(
            validate_limits(&[bad.clone()], 6).unwrap_err().field,
            "[0].cost"
        );
        bad.cost = Some(5);
        assert!(validate_limits(&[bad.clone()], 6).is_ok());
        let dup = [limit("x", 1, By::Key), limit("x", 2, By::Ip)];
        assert_eq!(validate_limits(&dup, 1).unwrap_err().field, "[1].name");
        let refill = CreditsDef {
            remaining: 1,
            refill: Some(Refill {
                amount: 1,
                every_seconds: 1,
            }),
        };
        assert_eq!(
            validate_credits(&refill).unwrap_err().field,
            ".refill.every_seconds"
        );
    }

    #[test]
    fn a_keys_limit_replaces_the_routes_of_the_same_name() {
        let route = [limit("minute", 100, By::Key), limit("burst", 10, By::Ip)];
        let quota = KeyQuota {
            limits: vec![
                limit("minute", 5, By::Key),
                limit("day", 1000, By::Principal),
            ],
            credits: None,
            meter: None,
        };
        let who = Subject {
            key_id: Some("k1"),
            client_id: None,
            issuer: None,
            subject: Some("svc"),
            ip: Some("192.0.2.1"),
        };
        let plan = plan(&route, 2, Some(&quota), &who);
        let got: Vec<(&str, u64, &str, u64)> = plan
            .spends
            .iter()
            .map(|s| {
                (
                    s.limit.name.as_str(),
                    s.limit.limit,
                    s.object.as_str(),
                    s.cost,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("minute", 5, "key:k1", 2),
                ("burst", 10, "ip:192.0.2.1", 2),
                ("day", 1000, "principal:0:737663", 2),
            ]
        );
        assert!(plan.credits.is_none());
    }

    #[test]
    fn anonymous_requests_count_by_address_and_jwts_by_client() {
        let route = [limit("m", 10, By::Key)];
        let anonymous = Subject {
            key_id: None,
            client_id: None,
            issuer: None,
            subject: None,
            ip: None,
        };
        assert_eq!(
            plan(&route, 1, None, &anonymous).spends[0].object,
            "ip:unknown"
        );
        let jwt = Subject {
            key_id: None,
            client_id: Some("c"),
            issuer: Some("https://idp"),
            subject: Some("s"),
            ip: None,
        };
        assert!(plan(&route, 1, None, &jwt).spends[0]
            .object
            .starts_with("client:i"));
        assert!(plan(&[], 1, None, &jwt).is_empty());
        // An IPv6 client counts by its /64: another address of it is the same counter.
        let v6 = |ip| Subject {
            key_id: None,
            client_id: None,
            issuer: None,
            subject: None,
            ip: Some(ip),
        };
        assert_eq!(
            plan(&route, 1, None, &v6("2001:db8:1:2::1")).spends[0].object,
            "ip:2001:db8:1:2::/64"
        );
        assert_eq!(
            plan(&route, 1, None, &v6("2001:db8:1:2:9::9")).spends[0].object,
            "ip:2001:db8:1:2::/64"
        );
    }
}
