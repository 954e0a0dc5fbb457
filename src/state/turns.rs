//! Turn-taking: inputs that may name the same customer go one at a time, in the order they
//! were admitted.
//!
//! Each input takes a ticket and joins the queue of every key it may name the customer by.
//! It may go when it is first in all of its queues; when it is over, it leaves them, and
//! whoever is now first everywhere is woken.

use std::collections::{HashMap, VecDeque};

use tokio::sync::oneshot;

use super::storage::Key;

/// The queues of the inputs in flight or waiting.
#[derive(Default)]
pub(super) struct Turns {
    next: u64,
    queues: HashMap<Key, VecDeque<u64>>,
    /// Inputs waiting for their turn: their keys and how to wake them.
    waiting: HashMap<u64, (Vec<Key>, oneshot::Sender<()>)>,
}

impl Turns {
    /// Joins the queues of `keys`: the ticket, and whether it may go at once.
    pub fn enter(&mut self, keys: &[Key]) -> (u64, bool) {
        let ticket = self.next;
        self.next += 1;
        let mut first = true;
        for key in keys {
            let queue = self.queues.entry(key.clone()).or_default();
            first &= queue.is_empty();
            queue.push_back(ticket);
        }
        (ticket, first)
    }

    /// Waits for `ticket`'s turn: the receiver hears when it comes.
    pub fn wait(&mut self, ticket: u64, keys: Vec<Key>) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        if self.first_everywhere(ticket, &keys) {
            let _ = sender.send(());
        } else {
            self.waiting.insert(ticket, (keys, sender));
        }
        receiver
    }

    fn first_everywhere(&self, ticket: u64, keys: &[Key]) -> bool {
        keys.iter().all(|key| {
            self.queues
                .get(key)
                .is_none_or(|queue| queue.front() == Some(&ticket))
        })
    }

    /// `ticket` is over (done, or given up while waiting): it leaves its queues, and those
    /// now first in all of theirs are woken.
    pub fn leave(&mut self, ticket: u64, keys: &[Key]) {
        self.waiting.remove(&ticket);
        let mut fronts = Vec::new();
        for key in keys {
            let Some(queue) = self.queues.get_mut(key) else {
                continue;
            };
            if let Some(at) = queue.iter().position(|t| *t == ticket) {
                queue.remove(at);
            }
            match queue.front() {
                Some(front) => fronts.push(*front),
                None => {
                    self.queues.remove(key);
                }
            }
        }
        for front in fronts {
            let ready = self
                .waiting
                .get(&front)
                .is_some_and(|(keys, _)| self.first_everywhere(front, keys));
            if ready {
                if let Some((_, sender)) = self.waiting.remove(&front) {
                    // A waiter that is gone leaves on its own drop.
                    let _ = sender.send(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> Key {
        Key::Email(s.to_owned())
    }

    #[test]
    fn an_input_waits_for_every_earlier_one_that_shares_a_key() {
        let mut turns = Turns::default();
        let a = [email("a")];
        let b = [Key::External("x".to_owned())];
        let both = [email("a"), Key::External("x".to_owned())];
        let (first, go) = turns.enter(&a);
        assert!(go);
        let (second, go) = turns.enter(&b);
        assert!(go, "no key in common");
        let (third, go) = turns.enter(&both);
        assert!(!go);
        let mut waiting = turns.wait(third, both.to_vec());
        turns.leave(first, &a);
        assert!(waiting.try_recv().is_err(), "still behind the second");
        turns.leave(second, &b);
        assert!(waiting.try_recv().is_ok());
        turns.leave(third, &both);
        assert!(turns.queues.is_empty() && turns.waiting.is_empty());
    }

    #[test]
    fn a_waiter_given_up_passes_the_turn_on() {
        let mut turns = Turns::default();
        let a = [email("a")];
        let (first, _) = turns.enter(&a);
        let (second, _) = turns.enter(&a);
        let (third, _) = turns.enter(&a);
        let second_waits = turns.wait(second, a.to_vec());
        let mut third_waits = turns.wait(third, a.to_vec());
        drop(second_waits);
        turns.leave(second, &a);
        assert!(
            third_waits.try_recv().is_err(),
            "the first is still in flight"
        );
        turns.leave(first, &a);
        assert!(third_waits.try_recv().is_ok());
    }
}
