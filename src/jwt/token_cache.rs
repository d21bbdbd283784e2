//! The verified-token cache: repeat requests with the same bearer token skip parsing and
//! signature verification. Keyed by the SHA-256 of the token (the token itself is never kept),
//! bounded in entries and in bytes ([`MAX_BYTES`]), and each entry lives at most 60 s and never
//! past the token's `exp`, so a revoked signing key stops being honoured within a minute.

use core::cell::{Cell, RefCell};

use crate::bounded::SieveMap;

use sha2::{Digest, Sha256};

use crate::identity::Identity;
use crate::time::UnixTime;

/// Longest time a verified token is trusted without re-verification.
pub const MAX_ENTRY_SECONDS: u64 = 60;

/// The most the cached identities may keep, in bytes ([`Identity::retained_bytes`]): an entry
/// keeps the token's payload for claims forwarding, up to about 12 KB for a 16 KiB token, so the
/// entry bound alone (up to 100,000) would allow over a gigabyte in an isolate of 128 MB. Past
/// this, SIEVE evicts until the new entry fits; one larger than the whole budget is not cached.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

/// The cache's key: the SHA-256 of a token (a bare array, not [`crate::keys::TokenDigest`]).
pub type TokenCacheKey = [u8; 32];

/// Digest under which a token is cached.
#[must_use]
pub fn digest(token: &str) -> TokenCacheKey {
    Sha256::digest(token.as_bytes()).into()
}

struct Entry {
    identity: Identity,
    until: UnixTime,
    /// `identity.retained_bytes()`, counted in [`TokenCache::bytes`] while it is cached.
    bytes: usize,
}

/// A bounded map (SIEVE eviction) from token digest to verified identity.
pub struct TokenCache {
    entries: RefCell<SieveMap<TokenCacheKey, Entry>>,
    /// What the cached entries keep, at most `budget`.
    bytes: Cell<usize>,
    budget: usize,
}

impl TokenCache {
    /// A cache of at most `capacity` entries and [`MAX_BYTES`] (0 disables caching).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self::with_budget(capacity, MAX_BYTES)
    }

    /// A cache of at most `capacity` entries keeping at most `budget` bytes.
    #[must_use]
    pub fn with_budget(capacity: usize, budget: usize) -> Self {
        TokenCache {
            entries: RefCell::new(SieveMap::new(capacity)),
            bytes: Cell::new(0),
            budget,
        }
    }

    fn forget(&self, entry: Option<Entry>) {
        if let Some(e) = entry {
            self.bytes.set(self.bytes.get().saturating_sub(e.bytes));
        }
    }

    /// The identity cached for `digest`, if its entry is still live at `now`; a hit still checks
    /// the credential's own expiry.
    #[must_use]
    pub fn get(&self, digest: &TokenCacheKey, now: UnixTime) -> Option<Identity> {
        // A cache that cannot be borrowed is a miss (the token is verified in full), not a panic.
        let mut entries = self.entries.try_borrow_mut().ok()?;
        let live = entries.get(digest).is_some_and(|e| {
            now < e.until && e.identity.expires_at().is_none_or(|exp| now.0 < exp)
        });
        if live {
            entries.get(digest).map(|e| e.identity.clone())
        } else {
            self.forget(entries.remove(digest));
            None
        }
    }

    /// Caches `identity` for at most [`MAX_ENTRY_SECONDS`] and never past its expiry. When full,
    /// one entry is evicted by SIEVE (tokens hit since the hand last passed stay; without hits,
    /// the oldest insertion goes).
    pub fn insert(&self, digest: TokenCacheKey, identity: Identity, now: UnixTime) {
        let lifetime = identity
            .expires_at()
            .map_or(MAX_ENTRY_SECONDS, |exp| exp.saturating_sub(now.0))
            .min(MAX_ENTRY_SECONDS);
        if lifetime == 0 {
            return;
        }
        let bytes = identity.retained_bytes();
        if bytes > self.budget {
            return;
        }
        if let Ok(mut entries) = self.entries.try_borrow_mut() {
            if entries.capacity() == 0 {
                return;
            }
            // What the new entry replaces, or (the map being full) what SIEVE would evict for
            // it, is taken out here, so every byte counted is a byte cached.
            self.forget(entries.remove(&digest));
            if entries.len() >= entries.capacity() {
                self.forget(entries.evict_one());
            }
            while self.bytes.get().saturating_add(bytes) > self.budget {
                let Some(evicted) = entries.evict_one() else {
                    break;
                };
                self.forget(Some(evicted));
            }
            entries.insert(
                digest,
                Entry {
                    identity,
                    until: now.plus(lifetime),
                    bytes,
                },
            );
            if entries.peek(&digest).is_some() {
                self.bytes.set(self.bytes.get().saturating_add(bytes));
            }
        }
    }

    /// Bytes the cached identities keep.
    #[cfg(test)]
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes.get()
    }

    #[cfg(test)]
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.try_borrow().map_or(0, |e| e.len())
    }

    #[cfg(test)]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::CredentialKind;

    fn jwt_identity(exp: u64, claims: Option<&str>) -> Identity {
        Identity::for_tests(
            CredentialKind::Jwt,
            "s",
            &[],
            Some("i"),
            None,
            None,
            Some(exp),
            claims,
        )
    }

    fn identity(exp: u64) -> Identity {
        jwt_identity(exp, None)
    }

    #[test]
    fn entries_live_at_most_a_minute_and_never_past_exp() {
        let c = TokenCache::new(8);
        let t = UnixTime(1_000);
        c.insert(digest("a"), identity(10_000), t);
        c.insert(digest("b"), identity(1_010), t);
        assert!(c.get(&digest("a"), t.plus(59)).is_some());
        assert!(c.get(&digest("a"), t.plus(60)).is_none());
        assert!(c.get(&digest("b"), t.plus(9)).is_some());
        assert!(c.get(&digest("b"), t.plus(10)).is_none());
        c.insert(digest("c"), identity(1_000), t);
        assert!(
            c.get(&digest("c"), t).is_none(),
            "already expired tokens are not cached"
        );
    }

    #[test]
    fn bounded_with_oldest_first_eviction() {
        let c = TokenCache::new(3);
        let t = UnixTime(1_000);
        c.insert(digest("first"), identity(9_999), t);
        c.insert(digest("x"), identity(9_999), t);
        c.insert(digest("y"), identity(9_999), t);
        c.insert(digest("z"), identity(9_999), t.plus(1));
        assert_eq!(c.len(), 3);
        assert!(
            c.get(&digest("first"), t.plus(1)).is_none(),
            "the oldest insertion is evicted"
        );
        assert!(c.get(&digest("z"), t.plus(1)).is_some());
        let off = TokenCache::new(0);
        off.insert(digest("a"), identity(9_999), t);
        assert!(off.is_empty());
    }

    fn with_claims(claims: &str) -> Identity {
        jwt_identity(9_999, Some(claims))
    }

    #[test]
    fn bounded_in_bytes_whatever_the_entry_count_allows() {
        let big = "x".repeat(10_000);
        let one = with_claims(&big).retained_bytes();
        // Room for three such entries by bytes, a thousand by count.
        let c = TokenCache::with_budget(1_000, 3 * one + one / 2);
        let t = UnixTime(1_000);
        for i in 0..50 {
            c.insert(digest(&format!("t{i}")), with_claims(&big), t);
            assert!(
                c.bytes() <= 3 * one + one / 2,
                "{} bytes after {i}",
                c.bytes()
            );
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.bytes(), 3 * one, "every counted byte is a cached entry's");
        assert!(c.get(&digest("t49"), t).is_some(), "the newest stays");
        // Replacing an entry counts it once; an expired one removed on a miss is uncounted.
        c.insert(digest("t49"), with_claims(&big), t);
        assert_eq!(c.bytes(), 3 * one);
        assert!(c.get(&digest("t49"), t.plus(60)).is_none());
        assert_eq!(c.bytes(), 2 * one);
        // An identity larger than the whole budget is not cached (and evicts nothing).
        c.insert(digest("huge"), with_claims(&"y".repeat(40_000)), t);
        assert!(c.get(&digest("huge"), t).is_none());
        assert_eq!(c.len(), 2);
        // By count, as before: a full map evicts one for one.
        let small = TokenCache::with_budget(2, MAX_BYTES);
        for i in 0..5 {
            small.insert(digest(&format!("s{i}")), identity(9_999), t);
        }
        assert_eq!(small.len(), 2);
        assert_eq!(small.bytes(), 2 * identity(9_999).retained_bytes());
    }
}
