//! The per-isolate lookup cache of API keys and PATs ([`KeyCache`]): a hot key costs no KV read
//! within the cache TTL, a key revoked through this isolate is dropped at once, and misses are
//! bounded apart from hits. Owns the cache's entries and its last-use throttle; never touches KV
//! (the [`super::authenticator`] reads and fills it) or a clock (`now` is an argument).

use std::cell::RefCell;

use super::digest::TokenDigest;
use super::record::KeyRecord;
use super::settings::KeySettings;
use crate::bounded::SieveMap;
use crate::time::UnixTime;

/// What a lookup found.
#[derive(Clone, Debug, PartialEq, Eq)]
// A short-lived answer (one per lookup, moved out at once): boxing the record would add an
// allocation to every cache hit for no saving.
#[allow(clippy::large_enum_variant)]
pub(super) enum Cached {
    Found(KeyRecord),
    /// No record: negative caching, so a flood of well-formed unknown keys costs one read each
    /// per TTL, not one per request.
    Missing,
}

/// A found record and when it was read.
#[derive(Clone, Debug)]
struct Entry {
    record: KeyRecord,
    stored_at: UnixTime,
    /// Read from the authority in this second (state tier, the reading request's `now`): the
    /// record reflects every change published in an earlier second; one in the same second may
    /// have followed the read. `None`: read from KV, which may lag a change.
    confirmed: Option<u64>,
}

/// The fewest negative entries a cache keeps (when `max_entries` allows), so that small caches
/// still absorb a client that repeats an unknown key.
const MIN_NEGATIVE_ENTRIES: usize = 64;

/// Bound of the negative map for a cache of `max_entries` found records: a quarter of it, but at
/// least `min(max_entries, 64)`.
#[must_use]
fn negative_capacity(max_entries: usize) -> usize {
    (max_entries / 4).max(max_entries.min(MIN_NEGATIVE_ENTRIES))
}

/// Per-isolate lookup cache, bounded in entries: at most `max_entries` found records, and
/// separately at most a quarter of that (at least `min(max_entries, 64)`) not-found entries, so
/// misses (forged but well-formed keys, whose checksum is public) never evict hits. Both maps
/// evict by SIEVE in O(1) amortised: keys hit since the hand last passed stay, so a working set
/// somewhat larger than the bound still gets hits. Each entry is trusted for `ttl` seconds.
#[derive(Debug)]
pub struct KeyCache {
    found: RefCell<SieveMap<TokenDigest, Entry>>,
    /// Digest → when the store last answered "no such key".
    missing: RefCell<SieveMap<TokenDigest, UnixTime>>,
    /// Key id → when this isolate last recorded a use (the found bound).
    touched: RefCell<SieveMap<String, UnixTime>>,
    ttl: u64,
    record_last_used: bool,
}

/// Record a use at most this often per key and isolate (KV allows one write per second per key).
const TOUCH_INTERVAL_SECONDS: u64 = 60;

impl KeyCache {
    #[must_use]
    pub fn new(settings: &KeySettings) -> Self {
        let max = settings.cache_max_entries;
        KeyCache {
            found: RefCell::new(SieveMap::new(max)),
            missing: RefCell::new(SieveMap::new(negative_capacity(max))),
            touched: RefCell::new(SieveMap::new(max)),
            ttl: settings.cache_ttl_seconds,
            record_last_used: settings.record_last_used,
        }
    }

    /// A live cached answer; a hit marks the entry visited. A busy cell is a miss (the caller
    /// reads KV), never a panic.
    pub(super) fn get(&self, digest: &TokenDigest, now: UnixTime) -> Option<Cached> {
        if let Ok(mut found) = self.found.try_borrow_mut() {
            let live = found
                .peek(digest)
                .is_some_and(|e| now.since(e.stored_at) < self.ttl);
            if live {
                return found.get(digest).map(|e| Cached::Found(e.record.clone()));
            }
        }
        let mut missing = self.missing.try_borrow_mut().ok()?;
        let live = missing
            .peek(digest)
            .is_some_and(|t| now.since(*t) < self.ttl);
        if live {
            missing.get(digest).map(|_| Cached::Missing)
        } else {
            None
        }
    }

    /// Caches what the store answered, replacing any answer of the other kind for the digest.
    pub(super) fn insert(&self, digest: TokenDigest, value: Cached, now: UnixTime) {
        if self.ttl == 0 {
            return;
        }
        match value {
            Cached::Found(record) => self.insert_found(digest, record, None, now),
            Cached::Missing => {
                // Only cache the miss once no found record for it is left to contradict it.
                let Ok(mut found) = self.found.try_borrow_mut() else {
                    return;
                };
                found.remove(&digest);
                drop(found);
                if let Ok(mut missing) = self.missing.try_borrow_mut() {
                    missing.insert(digest, now);
                }
            }
        }
    }

    /// Forget a key (after a revocation or roll through this isolate).
    pub fn invalidate(&self, digest: &TokenDigest) {
        if let Ok(mut found) = self.found.try_borrow_mut() {
            found.remove(digest);
        }
        if let Ok(mut missing) = self.missing.try_borrow_mut() {
            missing.remove(digest);
        }
    }

    /// When a cached found record was read from the authority (see `Entry::confirmed`).
    pub(super) fn confirmed(&self, digest: &TokenDigest) -> Option<u64> {
        self.found
            .try_borrow()
            .ok()
            .and_then(|f| f.peek(digest).and_then(|e| e.confirmed))
    }

    /// Cache a record the authority answered (after a change) to a read it made at `read_at`
    /// (its clock), stored at `now` (this isolate's clock, for the cache's own lifetime).
    pub(super) fn insert_confirmed(
        &self,
        digest: TokenDigest,
        record: KeyRecord,
        read_at: UnixTime,
        now: UnixTime,
    ) {
        if self.ttl > 0 {
            self.insert_found(digest, record, Some(read_at.0), now);
        }
    }

    /// A found record replaces any "not found" for its digest.
    fn insert_found(
        &self,
        digest: TokenDigest,
        record: KeyRecord,
        confirmed: Option<u64>,
        now: UnixTime,
    ) {
        if let Ok(mut missing) = self.missing.try_borrow_mut() {
            missing.remove(&digest);
        }
        if let Ok(mut found) = self.found.try_borrow_mut() {
            found.insert(
                digest,
                Entry {
                    record,
                    stored_at: now,
                    confirmed,
                },
            );
        }
    }

    /// True when this isolate holds `token`'s record as found and fresh: the failed-auth budget
    /// never refuses such a key (its owner keeps working behind an address that floods).
    #[must_use]
    pub fn holds_found(&self, token: &str, now: UnixTime) -> bool {
        matches!(
            self.get(&TokenDigest::of(token), now),
            Some(Cached::Found(_))
        )
    }

    /// Forget every cached answer (a new authority epoch: whatever was cached may rest on a
    /// state that no longer exists).
    pub fn clear(&self) {
        if let Ok(mut found) = self.found.try_borrow_mut() {
            let capacity = found.capacity();
            *found = SieveMap::new(capacity);
        }
        if let Ok(mut missing) = self.missing.try_borrow_mut() {
            let capacity = missing.capacity();
            *missing = SieveMap::new(capacity);
        }
    }

    /// Cached answers, found and not found.
    #[must_use]
    pub fn len(&self) -> usize {
        self.found.try_borrow().map_or(0, |e| e.len())
            + self.missing.try_borrow().map_or(0, |e| e.len())
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when a use of `id` should be recorded now (and marks it).
    pub(super) fn should_touch(&self, id: &str, now: UnixTime) -> bool {
        if !self.record_last_used {
            return false;
        }
        let Ok(mut touched) = self.touched.try_borrow_mut() else {
            return false;
        };
        let key = id.to_string();
        if touched
            .get(&key)
            .is_some_and(|t| now.since(*t) < TOUCH_INTERVAL_SECONDS)
        {
            return false;
        }
        touched.insert(key, now);
        true
    }
}
