//! Time as a value. The core never reads a clock: the adapter passes `now` in.

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// `self + seconds`, saturating instead of overflowing.
    #[must_use]
    pub fn plus(self, seconds: u64) -> Self {
        UnixTime(self.0.saturating_add(seconds))
    }

    /// Seconds from `earlier` to `self`, or 0 when `earlier` is later.
    #[must_use]
    pub fn since(self, earlier: UnixTime) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}
