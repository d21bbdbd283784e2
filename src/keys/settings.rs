//! The `keys` section of `AUTH_CONFIG`: [`RawKeySettings`] as written, [`KeySettings`] once
//! validated (key format, lookup cache bounds, PAT rules, last-use recording). Pure: never
//! touches KV, the cache or a clock.

use serde::Deserialize;

use super::format::{KeyFormat, KeyKind};
use crate::config::ConfigError;

/// KV refuses a `cacheTtl` under its minimum (30 or 60 s depending on the platform's vintage):
/// 60 s is the floor.
pub const KV_MIN_CACHE_TTL_SECONDS: u64 = 60;

/// `keys` in `AUTH_CONFIG`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeySettings {
    #[serde(default)]
    pub api_key_prefix: Option<String>,
    #[serde(default)]
    pub pat_prefix: Option<String>,
    /// Per-isolate lookup cache TTL (default 30 s; part of the revocation latency).
    #[serde(default)]
    pub cache_ttl_seconds: Option<u64>,
    /// Found records in the per-isolate cache (default 10,000); not-found entries are bounded
    /// apart, at a quarter of this (at least `min(this, 64)`).
    #[serde(default)]
    pub cache_max_entries: Option<usize>,
    /// Longest PAT lifetime (default 90 days).
    #[serde(default)]
    pub pat_max_lifetime_seconds: Option<u64>,
    /// Most active PATs one principal may hold (default 50).
    #[serde(default)]
    pub pat_max_active: Option<usize>,
    /// Most PATs one principal may create in any hour, revoked ones included (default 20).
    #[serde(default)]
    pub pat_max_created_per_hour: Option<usize>,
    /// Record `last_used_at` (default true). Each recording is a KV write (billed), at most once
    /// a minute per key and isolate.
    #[serde(default)]
    pub record_last_used: Option<bool>,
}

/// Validated key settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySettings {
    pub format: KeyFormat,
    pub cache_ttl_seconds: u64,
    pub cache_max_entries: usize,
    pub pat_max_lifetime_seconds: u64,
    pub pat_max_active: usize,
    /// Bounds how many feed entries one principal can make by creating and revoking PATs: each
    /// pair is two entries kept 10 minutes, and an overflowing feed refuses every request
    /// (docs/state.md), so one account must not be able to fill it.
    pub pat_max_created_per_hour: usize,
    pub record_last_used: bool,
}

impl KeySettings {
    pub fn from_raw(raw: RawKeySettings) -> Result<Self, ConfigError> {
        let err = |field: &str, reason: &str| ConfigError::new(field, reason).under("keys");
        let default = KeyFormat::default();
        let api = raw
            .api_key_prefix
            .unwrap_or_else(|| default.prefix(KeyKind::ApiKey).to_string());
        let pat = raw
            .pat_prefix
            .unwrap_or_else(|| default.prefix(KeyKind::Pat).to_string());
        let format = KeyFormat::new(&api, &pat).map_err(|r| err("api_key_prefix", r))?;
        let cache_ttl_seconds = raw.cache_ttl_seconds.unwrap_or(30);
        if cache_ttl_seconds > 300 {
            return Err(err(
                "cache_ttl_seconds",
                "must be at most 300 (it bounds revocation latency)",
            ));
        }
        let cache_max_entries = raw.cache_max_entries.unwrap_or(10_000);
        if !(1..=100_000).contains(&cache_max_entries) {
            return Err(err("cache_max_entries", "must be between 1 and 100000"));
        }
        let pat_max_lifetime_seconds = raw.pat_max_lifetime_seconds.unwrap_or(90 * 86_400);
        if !(60..=5 * 365 * 86_400).contains(&pat_max_lifetime_seconds) {
            return Err(err(
                "pat_max_lifetime_seconds",
                "must be between 60 seconds and 5 years",
            ));
        }
        let pat_max_active = raw.pat_max_active.unwrap_or(50);
        if !(1..=10_000).contains(&pat_max_active) {
            return Err(err("pat_max_active", "must be between 1 and 10000"));
        }
        let pat_max_created_per_hour = raw.pat_max_created_per_hour.unwrap_or(20);
        if !(1..=1_000).contains(&pat_max_created_per_hour) {
            return Err(err(
                "pat_max_created_per_hour",
                "must be between 1 and 1000",
            ));
        }
        Ok(KeySettings {
            format,
            cache_ttl_seconds,
            cache_max_entries,
            pat_max_lifetime_seconds,
            pat_max_active,
            pat_max_created_per_hour,
            record_last_used: raw.record_last_used.unwrap_or(true),
        })
    }

    /// KV `cacheTtl` for hot-path reads: the lookup cache's TTL raised to
    /// [`KV_MIN_CACHE_TTL_SECONDS`] (the one place the floor is applied; the adapter passes this
    /// value to KV as it is).
    #[must_use]
    pub fn kv_cache_ttl_seconds(&self) -> u64 {
        self.cache_ttl_seconds.max(KV_MIN_CACHE_TTL_SECONDS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_cache_ttl_is_the_lookup_ttl_raised_to_kvs_minimum() {
        let ttl = |seconds: Option<u64>| {
            KeySettings::from_raw(RawKeySettings {
                cache_ttl_seconds: seconds,
                ..RawKeySettings::default()
            })
            .unwrap()
            .kv_cache_ttl_seconds()
        };
        assert_eq!(ttl(Some(5)), KV_MIN_CACHE_TTL_SECONDS);
        assert_eq!(ttl(None), KV_MIN_CACHE_TTL_SECONDS);
        assert_eq!(ttl(Some(300)), 300);
    }
}
