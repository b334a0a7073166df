//! What a run says, shown as the command line asked: lines on the run's
//! [`Log`] (detail with `-v`, info unless `--quiet`, warnings and the
//! summary always) and each phase's progress (a bar on a terminal, log
//! lines otherwise).

use std::sync::Arc;

use parking_lot::Mutex;

use super::args::DisplayArgs;
use super::log::Log;
use super::progress::{Counting, Progress, ProgressOptions};
use crate::executor::events::{Observer, Stats};
use crate::pace::Pacing;
use crate::run::observe::{Level, Phase, RunObserver};

/// The terminal side of a run.
pub struct Terminal {
    log: Log,
    quiet: bool,
    verbose: u8,
    options: ProgressOptions,
    /// The phase going on.
    progress: Mutex<Option<Progress>>,
}

impl Terminal {
    /// Lines on `log` as `display` asks; a progress bar when `bar`.
    pub fn new(log: &Log, display: &DisplayArgs, bar: bool) -> Terminal {
        Terminal {
            log: log.clone(),
            quiet: display.quiet,
            verbose: display.verbose,
            options: ProgressOptions::detect(display.quiet, display.verbose, bar),
            progress: Mutex::new(None),
        }
    }
}

impl RunObserver for Terminal {
    fn log(&self, level: Level, message: &str) {
        let log = &self.log;
        match level {
            Level::Detail if self.verbose > 0 && !self.quiet => log.info(message),
            Level::Info if !self.quiet => log.info(message),
            Level::Notice if !self.quiet => log.warn(message),
            Level::Warn => log.warn(message),
            Level::Error => log.error(message),
            Level::Summary => log.info(message),
            Level::Detail | Level::Info | Level::Notice => {}
        }
    }

    fn phase_started(
        &self,
        phase: Phase,
        stats: Arc<Stats>,
        total: u64,
        pacing: &Pacing,
    ) -> Option<Observer> {
        let options = match phase {
            Phase::Refresh => self.options.counting(Counting::BUCKETS),
            Phase::Apply => self.options,
            Phase::Deliveries => self.options.counting(Counting::DELIVERIES),
        };
        let progress =
            Progress::new(options, stats, total, self.log.clone()).pacing(pacing.clone());
        progress.start();
        let observer = progress.observer();
        *self.progress.lock() = Some(progress);
        observer
    }

    fn phase_finished(&self, _: Phase) {
        if let Some(progress) = self.progress.lock().take() {
            progress.finish();
        }
    }
}
