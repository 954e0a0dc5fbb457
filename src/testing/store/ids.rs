//! Plain-style ids: a prefix such as `c_`, `cg_` or `w_`, then 26 Crockford base-32
//! characters, time first, as in a ULID.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::rng::Rng;

/// Crockford's base-32 alphabet, as in ULIDs and Plain's ids.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new workspace id: `w_` and 26 characters, as [`Store`](super::Store) makes customer ids,
/// but drawn from a generator no seed repeats. Two local servers are two workspaces even when
/// given the same seed (`plain serve` always has one), so they must never share an id: the
/// generator is seeded with the time, the process id and a count of the ids made in this
/// process.
pub fn new_workspace_id(now: SystemTime) -> String {
    static MADE: AtomicU64 = AtomicU64::new(0);
    let made = MADE.fetch_add(1, Ordering::Relaxed);
    let nanos = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let seed = nanos ^ (u64::from(std::process::id()) << 32) ^ made.rotate_left(48);
    plain_id("w_", now, &mut Rng::new(seed))
}

/// An id such as `c_`, `cg_` or `w_` and 10 characters of milliseconds and 16 random ones, like
/// a ULID.
pub fn plain_id(prefix: &str, now: SystemTime, rng: &mut Rng) -> String {
    let millis = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let mut id = String::from(prefix);
    for i in (0..10).rev() {
        id.push(CROCKFORD[((millis >> (i * 5)) & 31) as usize] as char);
    }
    let random = rng.next_u64();
    let more = rng.next_u64();
    for i in 0..16 {
        let bits = if i < 12 {
            random >> (i * 5)
        } else {
            more >> ((i - 12) * 5)
        };
        id.push(CROCKFORD[(bits & 31) as usize] as char);
    }
    id
}
