//! A map bounded in entries that evicts in insertion order, in O(1) amortised per insert. The
//! per-isolate caches use it: a full cache must not cost a scan of every entry per request.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// At most `capacity` entries; when full, the oldest insertion goes first.
#[derive(Debug)]
pub struct FifoMap<K, V> {
    map: HashMap<K, V>,
    /// Insertion order. May hold keys already removed; compacted when it grows past twice the
    /// capacity, so it stays bounded too.
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> FifoMap<K, V> {
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        FifoMap {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    #[must_use]
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Insert or replace. A replaced entry keeps its place in the eviction order.
    pub fn insert(&mut self, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        if let Some(slot) = self.map.get_mut(&key) {
            *slot = value;
            return;
        }
        while self.map.len() >= self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.map.remove(&oldest);
                }
                None => break,
            }
        }
        self.map.insert(key.clone(), value);
        self.order.push_back(key);
        if self.order.len() > self.capacity.saturating_mul(2) {
            let map = &self.map;
            self.order.retain(|k| map.contains_key(k));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest_first_and_stays_bounded() {
        let mut m = FifoMap::new(3);
        for i in 0..10 {
            m.insert(i, i * 10);
            assert!(m.len() <= 3);
        }
        assert_eq!(
            (m.get(&7), m.get(&9), m.get(&6)),
            (Some(&70), Some(&90), None)
        );
        m.insert(9, 99);
        assert_eq!(m.get(&9), Some(&99));
    }

    #[test]
    fn removals_do_not_let_the_order_queue_grow_without_bound() {
        let mut m = FifoMap::new(4);
        for i in 0..10_000 {
            m.insert(i, ());
            m.remove(&i);
            assert!(m.order.len() <= 8);
        }
        assert!(m.is_empty());
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let mut m = FifoMap::new(0);
        m.insert(1, 1);
        assert!(m.is_empty());
    }
}
