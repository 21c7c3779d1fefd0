//! A repeatable source of random numbers for tests: this crate's, and the SDK's through
//! the `test-random` feature (a dev-dependency there, never in a module).

/// Numbers below the argument, from an xorshift generator started at `seed`.
pub fn below(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}
