//! Shared output helpers: times, hex, progress bars.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use otaseal_sign::package::Progress;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::CliError;

/// Parses an RFC 3339 time into Unix seconds.
pub fn parse_time(text: &str) -> Result<u64, CliError> {
    let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        CliError(format!(
            "invalid time {text:?}: {e} (expected RFC 3339, e.g. 2027-01-31T12:00:00Z)"
        ))
    })?;
    u64::try_from(t.unix_timestamp()).map_err(|_| CliError(format!("time {text:?} is before 1970")))
}

/// Formats Unix seconds as RFC 3339 UTC.
pub fn format_time(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{secs}"))
}

/// Escapes a string from a package (or any untrusted source) for a
/// terminal: control characters, bidirectional overrides and other
/// non-printable characters become `\u{..}` escapes, a backslash becomes
/// `\\`, so nothing printed can move the cursor, recolour or rewrite a line.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' | '\'' => out.push(c),
            // Format characters (Cf) that escape_debug leaves alone but that
            // reorder or hide text.
            '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{061c}' => out.push_str(&c.escape_unicode().to_string()),
            _ => out.extend(c.escape_debug()),
        }
    }
    out
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Human byte counts.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub struct Bar {
    bar: Option<ProgressBar>,
    enabled: bool,
}

impl Bar {
    /// A bar that draws when stderr is a terminal and `quiet` is false.
    pub fn new(quiet: bool) -> Bar {
        Bar {
            bar: None,
            enabled: !quiet && std::io::stderr().is_terminal(),
        }
    }
}

impl Progress for Bar {
    fn start(&mut self, phase: &str, total: u64) {
        if !self.enabled || total < (16 << 20) {
            return;
        }
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:>24} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(phase.to_string());
        self.bar = Some(bar);
    }

    fn advance(&mut self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
