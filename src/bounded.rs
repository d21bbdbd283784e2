//! A map bounded in entries that evicts with SIEVE (Zhang et al., NSDI '24), in O(1) amortised
//! per operation. It owns its entries, their eviction order and nothing else: no clocks, no TTLs
//! (callers keep those in their values). The per-isolate caches use it: a full cache must not
//! cost a scan of every entry per request, and a key that is being hit must survive a stream of
//! one-off insertions.

use std::collections::HashMap;
use std::hash::Hash;

/// One entry, linked into the queue (tail = oldest, head = newest).
#[derive(Debug)]
struct Node<K, V> {
    key: K,
    value: V,
    visited: bool,
    /// Toward the tail.
    older: Option<usize>,
    /// Toward the head.
    newer: Option<usize>,
}

/// A map of at most `capacity` entries (`capacity` 0 holds nothing). When full, an insertion
/// evicts with SIEVE: the entries form a FIFO queue, a hit ([`SieveMap::get`]) sets the entry's
/// "visited" bit, and a hand walks from the oldest entry toward the newest, clearing visited
/// bits, and evicts the first entry it finds unvisited; the hand stays where it stopped for the
/// next eviction. Entries that are hit again between two passes of the hand stay; one-off
/// insertions (a flood of unknown keys) go first. Removals unlink their entry at once, so a
/// removed and re-inserted key is the newest entry, with nothing stale left in the queue.
///
/// Storage is a slab of at most `capacity` nodes plus one index; no operation panics.
#[derive(Debug)]
pub struct SieveMap<K, V> {
    index: HashMap<K, usize>,
    slots: Vec<Option<Node<K, V>>>,
    /// Empty slots to reuse; `slots.len()` never exceeds `capacity`.
    free: Vec<usize>,
    head: Option<usize>,
    tail: Option<usize>,
    /// Where the next eviction starts looking (`None`: at the tail).
    hand: Option<usize>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> SieveMap<K, V> {
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        SieveMap {
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            head: None,
            tail: None,
            hand: None,
            capacity,
        }
    }

    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn node(&self, i: usize) -> Option<&Node<K, V>> {
        self.slots.get(i).and_then(Option::as_ref)
    }

    fn node_mut(&mut self, i: usize) -> Option<&mut Node<K, V>> {
        self.slots.get_mut(i).and_then(Option::as_mut)
    }

    /// The value for `key`, marking it visited (a hit: it survives the hand's next pass).
    pub fn get(&mut self, key: &K) -> Option<&V> {
        let i = *self.index.get(key)?;
        let node = self.node_mut(i)?;
        node.visited = true;
        Some(&node.value)
    }

    /// The value for `key`, mutably, marking it visited.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = *self.index.get(key)?;
        let node = self.node_mut(i)?;
        node.visited = true;
        Some(&mut node.value)
    }

    /// The value for `key` without marking it visited.
    #[must_use]
    pub fn peek(&self, key: &K) -> Option<&V> {
        self.node(*self.index.get(key)?).map(|n| &n.value)
    }

    #[must_use]
    #[cfg(test)]
    pub fn contains_key(&self, key: &K) -> bool {
        self.index.contains_key(key)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.index.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Takes node `i` out of the queue (and moves the hand off it) and frees its slot.
    fn unlink(&mut self, i: usize) -> Option<Node<K, V>> {
        let node = self.slots.get_mut(i)?.take()?;
        match node.older {
            Some(o) => {
                if let Some(n) = self.node_mut(o) {
                    n.newer = node.newer;
                }
            }
            None => self.tail = node.newer,
        }
        match node.newer {
            Some(n) => {
                if let Some(n) = self.node_mut(n) {
                    n.older = node.older;
                }
            }
            None => self.head = node.older,
        }
        if self.hand == Some(i) {
            self.hand = node.newer;
        }
        self.free.push(i);
        Some(node)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.index.remove(key)?;
        self.unlink(i).map(|n| n.value)
    }

    /// Evicts one entry by SIEVE, as a full map's insertion does, and hands back its value (for
    /// a caller that bounds something else too, such as bytes). `None` when empty.
    pub fn evict_one(&mut self) -> Option<V> {
        self.evict()
    }

    /// Evicts one entry by SIEVE. Terminates within one full pass of the hand (every visited bit
    /// it passes is cleared); the step bound only guards against a broken link.
    fn evict(&mut self) -> Option<V> {
        let mut cur = self.hand.or(self.tail);
        for _ in 0..=self.index.len() {
            let Some(i) = cur else { break };
            let tail = self.tail;
            let Some(node) = self.node_mut(i) else { break };
            if node.visited {
                node.visited = false;
                cur = node.newer.or(tail);
            } else {
                // Unlinking moves the hand on to the next newer entry (or back to the tail).
                self.hand = Some(i);
                let node = self.unlink(i)?;
                self.index.remove(&node.key);
                return Some(node.value);
            }
        }
        // Not reached while the links are consistent; stay bounded regardless.
        let node = self.unlink(self.tail?)?;
        self.index.remove(&node.key);
        Some(node.value)
    }

    /// Insert or replace. A replaced entry keeps its place in the queue and its visited bit; a
    /// new one is the newest and unvisited, after one eviction if the map is full.
    pub fn insert(&mut self, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        if let Some(&i) = self.index.get(&key) {
            if let Some(node) = self.node_mut(i) {
                node.value = value;
                return;
            }
            // A dangling index entry: drop it and insert afresh.
            self.index.remove(&key);
        }
        while self.index.len() >= self.capacity {
            let before = self.index.len();
            self.evict();
            if self.index.len() >= before {
                return; // Nothing could be evicted: refuse the entry rather than grow.
            }
        }
        let node = Node {
            key: key.clone(),
            value,
            visited: false,
            older: self.head,
            newer: None,
        };
        let i = match self.free.pop() {
            Some(i) => match self.slots.get_mut(i) {
                Some(slot) => {
                    *slot = Some(node);
                    i
                }
                None => return,
            },
            None => {
                if self.slots.len() >= self.capacity {
                    return;
                }
                self.slots.push(Some(node));
                self.slots.len() - 1
            }
        };
        match self.head.and_then(|h| self.node_mut(h)) {
            Some(h) => h.newer = Some(i),
            None => self.tail = Some(i),
        }
        self.head = Some(i);
        self.index.insert(key, i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Keys from the tail (oldest) to the head (newest), following the links.
    fn order<V>(m: &SieveMap<u32, V>) -> Vec<u32> {
        let mut out = Vec::new();
        let mut cur = m.tail;
        while let Some(i) = cur {
            let n = m.node(i).unwrap();
            out.push(n.key);
            cur = n.newer;
        }
        out
    }

    #[test]
    fn without_hits_the_oldest_goes_first_and_it_stays_bounded() {
        let mut m = SieveMap::new(3);
        for i in 0..10 {
            m.insert(i, i * 10);
            assert!(m.len() <= 3);
        }
        assert_eq!(
            (m.peek(&7), m.peek(&9), m.peek(&6)),
            (Some(&70), Some(&90), None)
        );
        m.insert(9, 99);
        assert_eq!(m.get(&9), Some(&99));
        assert_eq!(order(&m), vec![7, 8, 9], "a replaced entry keeps its place");
    }

    #[test]
    fn eviction_keeps_visited_entries() {
        let mut m = SieveMap::new(3);
        m.insert(1, ());
        m.insert(2, ());
        m.insert(3, ());
        assert!(m.get(&1).is_some());
        m.insert(4, ());
        assert!(m.contains_key(&1), "visited: its bit is cleared instead");
        assert!(
            !m.contains_key(&2),
            "the first unvisited entry from the tail goes"
        );
        // A hot key hit between insertions survives any number of one-off keys.
        for k in 100..1_000 {
            assert!(m.get(&1).is_some());
            m.insert(k, ());
            assert!(m.len() <= 3);
        }
        assert!(m.contains_key(&1));
    }

    #[test]
    fn the_hand_stays_where_it_stopped() {
        let mut m = SieveMap::new(3);
        for k in 1..=3 {
            m.insert(k, ());
        }
        m.get(&1);
        m.get(&3);
        m.insert(4, ()); // clears 1, evicts 2; the hand rests on 3
        m.get(&1);
        m.insert(5, ()); // clears 3, evicts 4 (1 is visited again but behind the hand)
        assert_eq!(order(&m), vec![1, 3, 5]);
    }

    #[test]
    fn a_removed_and_reinserted_key_is_the_newest() {
        let mut m = SieveMap::new(3);
        for k in 1..=3 {
            m.insert(k, ());
        }
        assert_eq!(m.remove(&1), Some(()));
        m.insert(1, ());
        assert_eq!(order(&m), vec![2, 3, 1]);
        m.insert(4, ());
        assert!(
            m.contains_key(&1),
            "the re-inserted key is not evicted before older ones"
        );
        assert!(!m.contains_key(&2));
    }

    #[test]
    fn removals_leave_nothing_behind() {
        let mut m = SieveMap::new(4);
        for i in 0..10_000 {
            m.insert(i, ());
            m.remove(&i);
            assert!(m.slots.len() <= 4);
        }
        assert!(m.is_empty());
        assert_eq!((m.head, m.tail, m.hand), (None, None, None));
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let mut m = SieveMap::new(0);
        m.insert(1, 1);
        assert!(m.is_empty());
        assert_eq!(m.get(&1), None);
    }

    /// The reference: a plain vector, oldest first, with the hand as a position in it.
    #[derive(Default)]
    struct Model {
        items: Vec<(u8, u32, bool)>,
        hand: Option<usize>,
        capacity: usize,
    }

    impl Model {
        fn pos(&self, k: u8) -> Option<usize> {
            self.items.iter().position(|e| e.0 == k)
        }
        fn take(&mut self, p: usize) -> u32 {
            match self.hand {
                Some(h) if h == p => self.hand = (p + 1 < self.items.len()).then_some(p),
                Some(h) if h > p => self.hand = Some(h - 1),
                _ => {}
            }
            self.items.remove(p).1
        }
        fn get(&mut self, k: u8) -> Option<u32> {
            let p = self.pos(k)?;
            self.items[p].2 = true;
            Some(self.items[p].1)
        }
        fn remove(&mut self, k: u8) -> Option<u32> {
            let p = self.pos(k)?;
            Some(self.take(p))
        }
        fn insert(&mut self, k: u8, v: u32) {
            if self.capacity == 0 {
                return;
            }
            if let Some(p) = self.pos(k) {
                self.items[p].1 = v;
                return;
            }
            if self.items.len() >= self.capacity {
                let mut i = self.hand.unwrap_or(0);
                while self.items[i].2 {
                    self.items[i].2 = false;
                    i = if i + 1 < self.items.len() { i + 1 } else { 0 };
                }
                self.hand = Some(i);
                self.take(i);
            }
            self.items.push((k, v, false));
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Get(u8),
        Insert(u8, u32),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..24).prop_map(Op::Get),
            3 => (0u8..24, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            1 => (0u8..24).prop_map(Op::Remove),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_the_model_and_never_exceeds_its_capacity(
            capacity in 0usize..10,
            ops in proptest::collection::vec(op(), 0..300),
        ) {
            let mut m = SieveMap::new(capacity);
            let mut model = Model { capacity, ..Model::default() };
            for op in ops {
                match op {
                    Op::Get(k) => prop_assert_eq!(m.get(&u32::from(k)).copied(), model.get(k)),
                    Op::Remove(k) => prop_assert_eq!(m.remove(&u32::from(k)), model.remove(k)),
                    Op::Insert(k, v) => {
                        m.insert(u32::from(k), v);
                        model.insert(k, v);
                    }
                }
                prop_assert!(m.len() <= capacity);
                prop_assert!(m.slots.len() <= capacity);
                let keys: Vec<u32> = model.items.iter().map(|e| u32::from(e.0)).collect();
                prop_assert_eq!(order(&m), keys);
                for (k, v, visited) in &model.items {
                    let i = m.index[&u32::from(*k)];
                    let n = m.node(i).unwrap();
                    prop_assert_eq!((n.value, n.visited), (*v, *visited));
                }
                let hand = m.hand.map(|i| m.node(i).unwrap().key);
                let model_hand = model.hand.map(|p| u32::from(model.items[p].0));
                prop_assert_eq!(hand, model_hand);
            }
        }
    }
}
