//! Lines on stderr, for a person at a terminal, a cron log, or a log
//! shipper.
//!
//! - On a terminal: the line as it is, printed above the progress bar when
//!   one is drawn (never glued onto it).
//! - Without a terminal (cron, CI, a pod's log): each line starts with the
//!   time, RFC 3339 UTC (`2026-11-24T03:30:00Z`), so a log read the next
//!   morning says when things happened.
//! - `--log-format json`: one JSON object per line, `time` (RFC 3339 UTC,
//!   milliseconds), `level` (`info`, `warn`, `error`), `message`, and any
//!   fields of the line (counts of a progress line, the job of a failure).

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use indicatif::ProgressBar;
use parking_lot::Mutex;
use serde_json::{Map, Value};

use super::args::LogFormat;

/// How important a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Where a command's lines go. Cheap to clone; clones share the bar.
#[derive(Clone)]
pub struct Log {
    inner: Arc<Inner>,
}

struct Inner {
    format: LogFormat,
    timestamps: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Log {
    /// Lines in `format`, timestamped when stderr is not a terminal.
    pub fn new(format: LogFormat) -> Log {
        Log::with(format, !std::io::stderr().is_terminal())
    }

    /// Lines in `format`, timestamped (text) or not.
    pub fn with(format: LogFormat, timestamps: bool) -> Log {
        Log {
            inner: Arc::new(Inner {
                format,
                timestamps,
                bar: Mutex::new(None),
            }),
        }
    }

    pub fn format(&self) -> LogFormat {
        self.inner.format
    }

    /// Lines go above `bar` from now on.
    pub fn attach(&self, bar: ProgressBar) {
        *self.inner.bar.lock() = Some(bar);
    }

    /// Lines go straight to stderr again.
    pub fn detach(&self) {
        *self.inner.bar.lock() = None;
    }

    pub fn info(&self, message: &str) {
        self.line(Level::Info, message, Map::new());
    }

    pub fn warn(&self, message: &str) {
        self.line(Level::Warn, message, Map::new());
    }

    pub fn error(&self, message: &str) {
        self.line(Level::Error, message, Map::new());
    }

    /// A line with fields (shown only in JSON).
    pub fn line(&self, level: Level, message: &str, fields: Map<String, Value>) {
        let text = self.render(level, message, fields, jiff::Timestamp::now());
        match &*self.inner.bar.lock() {
            Some(bar) => bar.println(text),
            None => {
                let mut stderr = std::io::stderr().lock();
                let _ = writeln!(stderr, "{text}");
            }
        }
    }

    /// The line as written at `now`.
    fn render(
        &self,
        level: Level,
        message: &str,
        fields: Map<String, Value>,
        now: jiff::Timestamp,
    ) -> String {
        match self.inner.format {
            LogFormat::Text if self.inner.timestamps => {
                format!("{} {message}", now.strftime("%Y-%m-%dT%H:%M:%SZ"))
            }
            LogFormat::Text => message.to_string(),
            LogFormat::Json => {
                let mut object = Map::new();
                object.insert(
                    "time".into(),
                    now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().into(),
                );
                object.insert("level".into(), level.as_str().into());
                let message = message.strip_prefix("cosinv: ").unwrap_or(message);
                object.insert("message".into(), message.into());
                for (key, value) in fields {
                    object.entry(key).or_insert(value);
                }
                Value::Object(object).to_string()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> jiff::Timestamp {
        "2026-11-24T03:30:05.123Z".parse().unwrap()
    }

    #[test]
    fn text_lines_carry_the_time_without_a_terminal() {
        let cron = Log::with(LogFormat::Text, true);
        assert_eq!(
            cron.render(Level::Info, "cosinv: 5/10 jobs done", Map::new(), at()),
            "2026-11-24T03:30:05Z cosinv: 5/10 jobs done"
        );
        let terminal = Log::with(LogFormat::Text, false);
        assert_eq!(
            terminal.render(Level::Info, "cosinv: hi", Map::new(), at()),
            "cosinv: hi"
        );
    }

    #[test]
    fn json_lines_are_one_object_each_with_fields() {
        let log = Log::with(LogFormat::Json, true);
        let mut fields = Map::new();
        fields.insert("done".into(), 5.into());
        fields.insert("level".into(), "not this".into());
        let line = log.render(Level::Warn, "cosinv: 5/10\njobs", fields, at());
        assert!(!line.contains('\n'), "{line}");
        let json: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(json["time"], "2026-11-24T03:30:05.123Z");
        assert_eq!(json["level"], "warn");
        assert_eq!(json["message"], "5/10\njobs");
        assert_eq!(json["done"], 5);
    }
}
