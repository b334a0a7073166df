//! The one way commands start tokio.

use std::future::Future;

/// Runs `work` to completion on a multi-threaded runtime; the error when
/// the runtime cannot start (no threads, no file descriptors).
pub fn block_on<F: Future>(work: F) -> std::io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(work))
}
