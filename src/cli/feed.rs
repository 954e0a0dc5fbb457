//! The records of a sync on their way from the reader thread to the bulk engine: inputs go to
//! the engine, tagged with their line; what is not an input (a record that could not be read,
//! a read error) is set aside for the ledger, in input order. After a stop, what the engine
//! never took is handed back for the accounts.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

use futures_util::stream::{self, Stream};
use plain_client::UpsertCustomerInput;
use tokio::sync::{mpsc, Notify};

use super::against_plain::Named;
use super::reader::{Batch, Item, ReaderState};
use super::records::Record;

/// A record's tag on its way through the engine: its line. The engine gives the input back
/// with its outcome, for the rejects file.
pub(super) type Tag = u64;

/// What the engine and the command share.
pub(super) struct Feed {
    inner: Arc<Mutex<Inner>>,
    /// Rung when something is set aside.
    pub(super) aside: Arc<Notify>,
}

struct Inner {
    batches: mpsc::Receiver<Batch>,
    /// Items handed over by the reader and not yet taken.
    pending: VecDeque<Item>,
    /// Items that are not inputs, for the ledger. While any wait, no input is given to the
    /// engine: a record is accounted for before any later one is taken.
    aside: Vec<Item>,
    /// The engine's intake, waiting for the ledger to take what was set aside.
    waiting: Option<Waker>,
    /// The last line the reader had read whole when it handed over its last batch.
    through: u64,
    /// The identifiers the inputs named, for `--against-plain`.
    named: Option<Named>,
}

impl Feed {
    /// `named`: remember the identifiers every input names (`--against-plain`).
    pub(super) fn new(batches: mpsc::Receiver<Batch>, named: bool) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                batches,
                pending: VecDeque::new(),
                aside: Vec::new(),
                waiting: None,
                through: 0,
                named: named.then(Named::default),
            })),
            aside: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The inputs, for the engine: polled only when it can take one.
    pub(super) fn inputs(&self) -> impl Stream<Item = (Tag, UpsertCustomerInput)> + Send + 'static {
        let inner = self.inner.clone();
        let aside = self.aside.clone();
        stream::poll_fn(move |cx| {
            let mut inner = inner.lock().unwrap_or_else(PoisonError::into_inner);
            let inner = &mut *inner;
            loop {
                if !inner.aside.is_empty() {
                    inner.waiting = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                match inner.pending.pop_front() {
                    Some(Item::Record(Record {
                        line,
                        input: Ok(input),
                    })) => {
                        if let Some(named) = &mut inner.named {
                            named.add(&input);
                        }
                        return Poll::Ready(Some((line, input)));
                    }
                    Some(other) => {
                        let failed = matches!(other, Item::Failed { .. });
                        inner.aside.push(other);
                        aside.notify_one();
                        if failed {
                            return Poll::Ready(None);
                        }
                        inner.waiting = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                    None => match inner.batches.poll_recv(cx) {
                        Poll::Ready(Some(batch)) => {
                            inner.through = batch.through;
                            inner.pending.extend(batch.items);
                        }
                        Poll::Ready(None) => return Poll::Ready(None),
                        Poll::Pending => return Poll::Pending,
                    },
                }
            }
        })
    }

    /// The identifiers the inputs named, when asked for.
    pub(super) fn take_named(&self) -> Option<Named> {
        self.lock().named.take()
    }

    /// What was set aside since the last call.
    pub(super) fn take_aside(&self) -> Vec<Item> {
        let mut inner = self.lock();
        if let Some(waiting) = inner.waiting.take() {
            waiting.wake();
        }
        std::mem::take(&mut inner.aside)
    }

    /// After the engine ended: every item it did not take, to account for. The input is read
    /// to its end, unless `leave` (standard input or a pipe after Ctrl-C): then only as far as
    /// the reader has read once it waits for more (`Some(line)`: the input was left unread
    /// after that line).
    pub(super) async fn rest(&self, reader: &ReaderState, leave: bool) -> (Vec<Item>, Option<u64>) {
        let mut items: Vec<Item> = self.lock().pending.drain(..).collect();
        loop {
            if leave && reader.idle.load(Ordering::SeqCst) {
                // Waiting for input: take what it handed over, and no more.
                let mut inner = self.lock();
                while let Ok(batch) = inner.batches.try_recv() {
                    inner.through = batch.through;
                    items.extend(batch.items);
                }
                return (items, Some(inner.through));
            }
            let next = std::future::poll_fn(|cx| self.lock().batches.poll_recv(cx));
            let idle = async {
                if !leave {
                    std::future::pending::<()>().await;
                }
                reader.wake.notified().await;
            };
            tokio::select! {
                batch = next => match batch {
                    Some(batch) => {
                        self.lock().through = batch.through;
                        items.extend(batch.items);
                    }
                    // The reader has ended.
                    None => return (items, None),
                },
                () = idle => {}
            }
        }
    }
}
