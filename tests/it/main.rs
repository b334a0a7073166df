//! cosinv's integration tests, compiled into one binary so the suite builds
//! once. Every test that needs a server starts the emulator on 127.0.0.1:0.

mod accounts;
mod apply;
mod architecture;
mod bad_input;
mod cli;
mod credentials;
mod deliveries;
mod discover;
mod docs;
mod emulator;
mod fixtures;
mod hostile;
mod manifest;
mod operations;
mod outputs;
mod reconcile;
mod run;
mod run_now;
mod saved_plan;
mod sign_vectors;
mod support;
mod terminal;
mod throttling;

/// The emulator with `config`, on a free port of 127.0.0.1.
async fn local_emulator(config: cosinv::emulator::EmulatorConfig) -> cosinv::emulator::Emulator {
    cosinv::emulator::Emulator::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap()
}

/// This machine's clock, Unix seconds: what cosinv signs with.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
