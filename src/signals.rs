//! SIGINT and SIGTERM: recorded by a handler, acted on by whoever is waiting
//! (the child runner kills the child's group; steps check between actions).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::error::{Interrupted, Signal};

fn flag() -> &'static Arc<AtomicUsize> {
    static FLAG: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

/// Installs the handlers. Failing to install them is not fatal: the run
/// then simply dies on the signal as any program would.
pub fn install() {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register_usize(sig, Arc::clone(flag()), sig as usize) {
            log::warn!("could not install a handler for signal {sig}: {e}");
        }
    }
}

/// The signal received so far, if any.
pub fn pending() -> Option<Signal> {
    match flag().load(Ordering::SeqCst) {
        0 => None,
        s if s == signal_hook::consts::SIGINT as usize => Some(Signal::Int),
        _ => Some(Signal::Term),
    }
}

/// Fails with [`Interrupted`] when a signal has arrived.
pub fn check() -> anyhow::Result<()> {
    match pending() {
        Some(sig) => Err(Interrupted(sig).into()),
        None => Ok(()),
    }
}
