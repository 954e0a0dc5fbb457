//! SplitMix64: a small, seedable generator. Enough for retry jitter, the local server's ids and
//! its fault decisions; nothing here needs to be unpredictable to an attacker.

/// The SplitMix64 step added to the state on every draw.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: spreads the bits of a state.
fn mix(state: u64) -> u64 {
    let mut z = state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A number in `[0, 1)` from 64 random bits.
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// A seeded generator.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) struct Rng(u64);

#[cfg_attr(not(feature = "testing"), allow(dead_code))]
impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// A number in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        unit(self.next_u64())
    }
}

/// A number in `[0, 1)` from a generator shared by the whole process, for spreading waits.
pub(crate) fn shared_f64() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0x853c_49e6_748f_ea9b);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    unit(mix(
        STATE.fetch_add(GOLDEN ^ u64::from(nanos), Ordering::Relaxed)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_numbers_in_range() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let drawn: Vec<f64> = (0..1000).map(|_| a.next_f64()).collect();
        assert!(drawn.iter().all(|x| (0.0..1.0).contains(x)));
        assert_eq!(drawn, (0..1000).map(|_| b.next_f64()).collect::<Vec<_>>());
        assert_ne!(Rng::new(8).next_u64(), Rng::new(7).next_u64());
        // Spread: the mean of uniform draws is near one half.
        let mean = drawn.iter().sum::<f64>() / 1000.0;
        assert!((0.45..0.55).contains(&mean), "{mean}");
        let shared: Vec<f64> = (0..100).map(|_| shared_f64()).collect();
        assert!(shared.iter().all(|x| (0.0..1.0).contains(x)));
    }
}
