//! Exit codes a cron job can act on.

/// Every job done.
pub const SUCCESS: u8 = 0;
/// Some jobs failed; the report says which.
pub const JOBS_FAILED: u8 = 1;
/// Invalid manifest, usage error, or a command that could not start.
pub const USAGE: u8 = 2;
/// The run stopped early: credentials rejected, expired or unusable, a
/// server certificate refused, COS down past the deadline, or a bug. The
/// report has a row for every job.
pub const STOPPED: u8 = 3;
/// The report could not be written mid-run (a full disk): it is whole up
/// to its last row, nothing more was sent, and the stop says how many
/// jobs already on their way were answered after that row.
pub const REPORT_FAILED: u8 = 4;
/// Stopped by SIGINT (128 + 2).
pub const INTERRUPTED: u8 = 130;
/// Stopped by SIGTERM (128 + 15).
pub const TERMINATED: u8 = 143;
