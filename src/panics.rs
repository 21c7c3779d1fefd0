//! Keeping a panic (a bug in Firehose) inside the work it broke: a worker thread that
//! panics on one batch reports that batch as failed, with the panic's message, instead
//! of dying silently while the threads waiting for its result stall.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f`; a panic becomes `Err` with its message (the panic hook has printed it too).
///
/// `f` is treated as unwind-safe: callers must not use what it was changing after a
/// panic as if it were whole (they report the work failed and stop using its state).
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_a_value_passes_through() {
        assert_eq!(catch(|| 7), Ok(7));
        assert_eq!(catch(|| -> u8 { panic!("static text") }), Err("static text".to_string()));
        let at = 3;
        assert_eq!(catch(|| -> u8 { panic!("formatted {at}") }), Err("formatted 3".to_string()));
        let events: Vec<u8> = Vec::new();
        let message = catch(|| events[at]).unwrap_err();
        assert!(message.contains("index out of bounds"), "{message}");
        assert_eq!(catch(|| std::panic::panic_any(42)), Err("a panic without a message".to_string()));
    }
}
