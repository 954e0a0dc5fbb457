//! Remembering which events were handled, so that a retried delivery is done once.

use std::collections::{HashSet, VecDeque};

/// The ids of the last `capacity` events seen, in memory: [`Deduplicator::first_time`] is
/// true once per event id, as long as the id is among the last `capacity` seen.
///
/// Memory is bounded by `capacity` ids; the oldest is forgotten first. Plain retries over days,
/// so a receiver that must survive restarts keeps the ids in a file: with the `state` feature,
/// `SqliteDeduplicator`.
#[derive(Debug, Clone)]
pub struct Deduplicator {
    capacity: usize,
    seen: HashSet<String>,
    order: VecDeque<String>,
}

impl Deduplicator {
    /// Remembers up to `capacity` event ids (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// True the first time `event_id` is seen, false for a repeat; remembers it.
    pub fn first_time(&mut self, event_id: &str) -> bool {
        if self.seen.contains(event_id) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        self.seen.insert(event_id.to_owned());
        self.order.push_back(event_id.to_owned());
        true
    }

    /// Forgets `event_id`, so that a delivery whose work failed can be done again on retry.
    pub fn forget(&mut self, event_id: &str) {
        if self.seen.remove(event_id) {
            self.order.retain(|id| id != event_id);
        }
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_id_within_the_bound() {
        let mut seen = Deduplicator::new(2);
        assert!(seen.first_time("a"));
        assert!(!seen.first_time("a"));
        assert!(seen.first_time("b"));
        assert!(seen.first_time("c"), "a new id pushes the oldest out");
        assert_eq!(seen.len(), 2);
        assert!(seen.first_time("a"), "a was forgotten: the bound holds");
        assert!(!seen.first_time("c"));
        seen.forget("c");
        assert!(seen.first_time("c"));
    }
}
