//! The reader thread of a sync: records read in batches, so that a slow disk or pipe never
//! holds up the requests, and memory stays bounded however far the reader is ahead.

use std::io::{BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

use super::records::{Reader, Record};

/// What the reader thread hands over, in input order.
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every item is a record: boxing them would cost an allocation each"
)]
pub(super) enum Item {
    Record(Record),
    /// The input could not be read past this line: it ends here.
    Failed {
        after_line: u64,
        error: String,
    },
}

/// Records read together, and the last line read whole when they were handed over.
pub(super) struct Batch {
    pub(super) items: Vec<Item>,
    pub(super) through: u64,
}

/// What the run and the reader thread share.
#[derive(Default)]
pub(super) struct ReaderState {
    /// Set by the run: read no further (standard input after Ctrl-C).
    pub(super) stop: AtomicBool,
    /// Set by the reader while it holds no record and its next read may wait for input.
    pub(super) idle: AtomicBool,
    /// Rung when the reader becomes idle.
    pub(super) wake: Notify,
}

/// A batch is handed over at this many records, or bytes, or whenever the next read may wait.
const BATCH_RECORDS: usize = 256;
const BATCH_BYTES: usize = 1 << 20;
/// Batches waiting for the run: memory stays bounded however far the reader is ahead.
pub(super) const BATCHES_QUEUED: usize = 4;

pub(super) type InputReader = Reader<BufReader<Box<dyn Read + Send>>>;

/// The reader thread: records in batches until the end of the input, a read error, or a stop.
pub(super) fn read_records(
    mut reader: InputReader,
    sender: mpsc::Sender<Batch>,
    state: Arc<ReaderState>,
) {
    let mut items = Vec::new();
    let mut bytes = 0;
    let send = |items: &mut Vec<Item>, reader: &InputReader| {
        let batch = Batch {
            items: std::mem::take(items),
            through: reader.done_through(),
        };
        sender.blocking_send(batch).is_ok()
    };
    loop {
        if state.stop.load(Ordering::SeqCst) {
            send(&mut items, &reader);
            return;
        }
        if reader.inner().buffer().is_empty() {
            // The next read may wait (an idle pipe, say): hand over what was read first.
            if !items.is_empty() {
                bytes = 0;
                if !send(&mut items, &reader) {
                    return;
                }
            }
            state.idle.store(true, Ordering::SeqCst);
            state.wake.notify_one();
        }
        let next = reader.next_record();
        state.idle.store(false, Ordering::SeqCst);
        match next {
            Ok(Some(record)) => {
                bytes += reader.last_size();
                items.push(Item::Record(record));
                if items.len() >= BATCH_RECORDS || bytes >= BATCH_BYTES {
                    bytes = 0;
                    if !send(&mut items, &reader) {
                        return;
                    }
                }
            }
            Ok(None) => {
                send(&mut items, &reader);
                return;
            }
            Err(e) => {
                items.push(Item::Failed {
                    after_line: reader.done_through(),
                    error: e.to_string(),
                });
                send(&mut items, &reader);
                return;
            }
        }
    }
}
