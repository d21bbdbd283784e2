//! The verified-token cache: repeat requests with the same bearer token skip parsing and
//! signature verification. Keyed by the SHA-256 of the token (the token itself is never kept),
//! bounded in entries, and each entry lives at most 60 s and never past the token's `exp`,
//! so a revoked signing key stops being honoured within a minute.

use core::cell::RefCell;

use crate::bounded::SieveMap;

use sha2::{Digest, Sha256};

use crate::identity::Identity;
use crate::time::UnixTime;

/// Longest time a verified token is trusted without re-verification.
pub const MAX_ENTRY_SECONDS: u64 = 60;

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
}

/// A bounded map (SIEVE eviction) from token digest to verified identity.
pub struct TokenCache {
    entries: RefCell<SieveMap<TokenCacheKey, Entry>>,
}

impl TokenCache {
    /// A cache of at most `capacity` entries (0 disables caching).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        TokenCache {
            entries: RefCell::new(SieveMap::new(capacity)),
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
            entries.remove(digest);
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
        if let Ok(mut entries) = self.entries.try_borrow_mut() {
            entries.insert(
                digest,
                Entry {
                    identity,
                    until: now.plus(lifetime),
                },
            );
        }
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

    fn identity(exp: u64) -> Identity {
        Identity::for_tests(
            CredentialKind::Jwt,
            "s",
            &[],
            Some("i"),
            None,
            None,
            Some(exp),
            None,
        )
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
}
