//! SIGINT and SIGTERM, for the commands that run until stopped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::exit;
use super::log::Log;

/// A stop signal received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Interrupt,
    Terminate,
}

impl Stop {
    /// 128 + the signal's number, as shells report it.
    pub fn exit_code(self) -> u8 {
        match self {
            Stop::Interrupt => exit::INTERRUPTED,
            Stop::Terminate => exit::TERMINATED,
        }
    }
}

/// Both stop signals, watched from creation on.
pub struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    /// Starts watching; must run inside the tokio runtime.
    pub fn watch() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The next stop signal.
    pub async fn next(&mut self) -> Stop {
        tokio::select! {
            _ = self.interrupt.recv() => Stop::Interrupt,
            _ = self.terminate.recv() => Stop::Terminate,
        }
    }
}

/// SIGINT and SIGTERM while a run sends: the first cancels `cancel` (stop
/// dispatching), the second `force` (stop waiting for requests on the
/// wire). Returns the exit code of the first signal, 0 while none has
/// come; must run inside the tokio runtime.
pub fn watch_run(cancel: CancellationToken, force: CancellationToken, log: Log) -> Arc<AtomicU8> {
    let received = Arc::new(AtomicU8::new(0));
    let Ok(mut signals) = StopSignals::watch() else {
        log.warn("cosinv: cannot watch signals; Ctrl-C will stop at once");
        return received;
    };
    let first = received.clone();
    tokio::spawn(async move {
        loop {
            let code = signals.next().await.exit_code();
            if first
                .compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                log.warn(
                    "cosinv: stopping: no new requests; waiting for those in flight \
                     (signal again to stop at once)",
                );
                cancel.cancel();
            } else {
                force.cancel();
            }
        }
    });
    received
}
