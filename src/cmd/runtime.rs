//! The one way commands start tokio.

use std::future::Future;

/// Runs `work` to completion on a multi-threaded runtime; the error when
/// the runtime cannot start (no threads, no file descriptors).
///
/// Once `work` is done the runtime is dropped without waiting for blocking
/// threads: everything a command needs is awaited inside `work`, and one
/// that cannot be awaited (a terminal question's `read_line`, abandoned
/// when Ctrl-C answers it) would otherwise keep the process alive until
/// someone presses Enter.
pub fn block_on<F: Future>(work: F) -> std::io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let output = runtime.block_on(work);
    runtime.shutdown_background();
    Ok(output)
}
