//! The failed-authentication budget (issue #15, item 5): failures are limited per client IP and
//! credential class *before* any KV read or signature check, so a flood of forged well-formed
//! keys, of bad JWTs or of guesses at the admin token costs the edge almost nothing.
//!
//! Owns: the per-isolate token buckets, keyed by (client address, class), IPv6 by its /64
//! ([`crate::headers::address_bucket`]) — never by a key id, so
//! nobody can lock a key's owner out by failing with that key's id — and bounded in entries
//! (SIEVE eviction, [`crate::bounded::SieveMap`]). Only failures spend; a success spends nothing,
//! and a key this isolate already holds as valid is never refused by the budget (its owner keeps
//! working even behind an address that floods). Never touches: a credential (the class is the
//! credential's kind), a clock (`now` is an argument), storage.
//!
//! Per isolate, on purpose: the budget exists to bound the work one isolate does for garbage,
//! and needs no coordination. An attacker spread over many isolates gets each one's budget; each
//! isolate still does at most `burst + per_minute` failing lookups a minute per address.

use std::cell::RefCell;

use serde::Deserialize;

use crate::bounded::SieveMap;

/// Which kind of credential failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// API keys and PATs (recognised by their prefix): each failure would be a KV read.
    Key,
    /// JWTs: each failure is a signature check (and possibly a JWKS fetch).
    Jwt,
    /// The admin token.
    Admin,
}

/// `failed_auth` in `AUTH_CONFIG`.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFailureSettings {
    /// Failures an address may make at once (default 20; 0 turns the budget off).
    #[serde(default)]
    pub burst: Option<u32>,
    /// Failures per minute it earns back (default 30).
    #[serde(default)]
    pub per_minute: Option<u32>,
    /// Addresses tracked per isolate (default 10,000).
    #[serde(default)]
    pub max_tracked: Option<usize>,
}

/// Validated budget settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureSettings {
    pub burst: u32,
    pub per_minute: u32,
    pub max_tracked: usize,
}

impl FailureSettings {
    /// Validate; the error names the field.
    pub fn from_raw(raw: RawFailureSettings) -> Result<Self, (&'static str, &'static str)> {
        let s = FailureSettings {
            burst: raw.burst.unwrap_or(20),
            per_minute: raw.per_minute.unwrap_or(30),
            max_tracked: raw.max_tracked.unwrap_or(10_000),
        };
        if s.burst > 10_000 {
            return Err((
                "failed_auth.burst",
                "must be at most 10000 (0 turns the budget off)",
            ));
        }
        if s.burst > 0 && !(1..=60_000).contains(&s.per_minute) {
            return Err(("failed_auth.per_minute", "must be between 1 and 60000"));
        }
        if !(16..=1_000_000).contains(&s.max_tracked) {
            return Err(("failed_auth.max_tracked", "must be between 16 and 1000000"));
        }
        Ok(s)
    }
}

/// One address's bucket: thousandths of a failure, as of `at` (Unix seconds).
#[derive(Clone, Copy, Debug)]
struct Bucket {
    milli: u64,
    at: u64,
}

/// The per-isolate budget. Bounded: at most `max_tracked` addresses and classes.
#[derive(Debug)]
pub struct FailureBudget {
    settings: FailureSettings,
    buckets: RefCell<SieveMap<(String, FailureClass), Bucket>>,
}

impl FailureBudget {
    #[must_use]
    pub fn new(settings: FailureSettings) -> Self {
        FailureBudget {
            settings,
            buckets: RefCell::new(SieveMap::new(settings.max_tracked)),
        }
    }

    fn full(&self) -> u64 {
        u64::from(self.settings.burst) * 1000
    }

    /// The bucket refilled to `now`.
    fn level(&self, bucket: Bucket, now: u64) -> u64 {
        let earned = now
            .saturating_sub(bucket.at)
            .saturating_mul(u64::from(self.settings.per_minute))
            .saturating_mul(1000)
            / 60;
        bucket.milli.saturating_add(earned).min(self.full())
    }

    /// `Err(retry_after_seconds)` when `ip` has no failure left for `class` at `now`.
    pub fn check(&self, ip: &str, class: FailureClass, now: u64) -> Result<(), u64> {
        if self.settings.burst == 0 {
            return Ok(());
        }
        let Ok(mut buckets) = self.buckets.try_borrow_mut() else {
            return Ok(());
        };
        // Every request with an address is checked: while nothing has failed, that costs one
        // length test, not the key's allocation.
        if buckets.is_empty() {
            return Ok(());
        }
        let Some(bucket) = buckets
            .get(&(crate::headers::address_bucket(ip), class))
            .copied()
        else {
            return Ok(());
        };
        let level = self.level(bucket, now);
        if level >= 1000 {
            return Ok(());
        }
        // Seconds until one whole failure is earned back.
        let per_minute = u64::from(self.settings.per_minute.max(1));
        let missing = 1000 - level;
        Err((missing * 60).div_ceil(per_minute * 1000).max(1))
    }

    /// Spend one failure of `ip` for `class` at `now`.
    pub fn failed(&self, ip: &str, class: FailureClass, now: u64) {
        if self.settings.burst == 0 {
            return;
        }
        let Ok(mut buckets) = self.buckets.try_borrow_mut() else {
            return;
        };
        let key = (crate::headers::address_bucket(ip), class);
        let level = match buckets.get(&key).copied() {
            Some(b) => self.level(b, now),
            None => self.full(),
        };
        buckets.insert(
            key,
            Bucket {
                milli: level.saturating_sub(1000),
                at: now,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(burst: u32, per_minute: u32) -> FailureBudget {
        FailureBudget::new(
            FailureSettings::from_raw(RawFailureSettings {
                burst: Some(burst),
                per_minute: Some(per_minute),
                max_tracked: Some(16),
            })
            .unwrap(),
        )
    }

    #[test]
    fn failures_spend_a_burst_then_earn_back_per_minute() {
        let b = budget(3, 60);
        for _ in 0..3 {
            assert_eq!(b.check("198.51.100.1", FailureClass::Key, 100), Ok(()));
            b.failed("198.51.100.1", FailureClass::Key, 100);
        }
        assert_eq!(b.check("198.51.100.1", FailureClass::Key, 100), Err(1));
        assert_eq!(
            b.check("198.51.100.1", FailureClass::Key, 101),
            Ok(()),
            "1 a second"
        );
        assert_eq!(
            b.check("198.51.100.2", FailureClass::Key, 100),
            Ok(()),
            "per address"
        );
        assert_eq!(
            b.check("198.51.100.1", FailureClass::Admin, 100),
            Ok(()),
            "per class"
        );
    }

    #[test]
    fn an_ipv6_client_spends_one_budget_for_its_whole_64() {
        let b = budget(2, 1);
        b.failed("2001:db8:1:2::a", FailureClass::Key, 0);
        b.failed("2001:db8:1:2:ffff::b", FailureClass::Key, 0);
        assert!(
            b.check("2001:db8:1:2::c", FailureClass::Key, 0).is_err(),
            "another address of the same /64"
        );
        assert_eq!(b.check("2001:db8:1:3::a", FailureClass::Key, 0), Ok(()));
    }

    #[test]
    fn retry_after_says_when_one_failure_is_earned_back() {
        let b = budget(1, 2);
        b.failed("a", FailureClass::Admin, 0);
        assert_eq!(b.check("a", FailureClass::Admin, 0), Err(30));
        // Rounded up (never too early): 34 thousandths short at 29 s.
        assert!(matches!(b.check("a", FailureClass::Admin, 29), Err(1 | 2)));
        assert_eq!(b.check("a", FailureClass::Admin, 30), Ok(()));
    }

    #[test]
    fn zero_burst_turns_it_off_and_settings_name_the_field() {
        let off = budget(0, 1);
        off.failed("a", FailureClass::Jwt, 0);
        assert_eq!(off.check("a", FailureClass::Jwt, 0), Ok(()));
        let err = FailureSettings::from_raw(RawFailureSettings {
            per_minute: Some(0),
            ..RawFailureSettings::default()
        })
        .unwrap_err();
        assert_eq!(err.0, "failed_auth.per_minute");
    }

    #[test]
    fn the_table_is_bounded() {
        let b = budget(1, 1);
        for i in 0..1000 {
            b.failed(
                &format!("10.0.{}.{}", i / 256, i % 256),
                FailureClass::Key,
                0,
            );
        }
        assert!(b.buckets.try_borrow().unwrap().len() <= 16);
    }
}
