//! Every way the agent can fail, each with a stable code.

use std::fmt;
use std::io;
use std::path::Path;

use otaseal_verify::VerifyError;

/// Why an agent command failed. [`AgentError::code`] is stable (JSON output,
/// the state file's `last_error`); `Display` is for people.
#[derive(Debug)]
pub enum AgentError {
    /// The package was rejected by the verifier.
    Verify(VerifyError),
    /// The configuration is unusable.
    Config(String),
    /// A file or device could not be read or written.
    Io(String),
    /// The boot environment could not be read or written, or is malformed.
    Bootloader(String),
    /// The state file is malformed.
    State(String),
    /// A payload has no target in the slot map.
    NoTarget(String),
    /// The package is larger than the configured limit.
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// An archive payload breaks the archive-safety rules.
    ArchiveUnsafe(String),
    /// The slot to act on is not in a state that allows it.
    Slot(String),
    /// A download failed (after retries); the string is the reason.
    Fetch(FetchError),
}

/// Why a download failed.
#[derive(Debug)]
pub enum FetchError {
    /// Plain `http://` without `--allow-http`, or another scheme.
    InsecureUrl(String),
    /// TLS handshake or certificate failure.
    Tls(String),
    /// Connection refused, reset, or closed early, after all retries.
    Connection(String),
    /// No data for longer than the read timeout, after all retries.
    Stalled(String),
    /// An HTTP status other than 200/206.
    Status(u16),
    /// The body's length differs from what the server declared.
    Length(String),
    /// The file changed between requests (ETag or Content-Range mismatch).
    Changed(String),
    /// The server's reply to a range request is malformed.
    Range(String),
}

impl FetchError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::InsecureUrl(_) => "fetch-insecure-url",
            FetchError::Tls(_) => "fetch-tls",
            FetchError::Connection(_) => "fetch-connection",
            FetchError::Stalled(_) => "fetch-stalled",
            FetchError::Status(_) => "fetch-status",
            FetchError::Length(_) => "fetch-length",
            FetchError::Changed(_) => "fetch-changed",
            FetchError::Range(_) => "fetch-range",
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::InsecureUrl(u) => write!(
                f,
                "{u}: only https:// URLs are fetched (use --allow-http for plain HTTP)"
            ),
            FetchError::Tls(m) => write!(f, "TLS: {m}"),
            FetchError::Connection(m) => write!(f, "connection failed: {m}"),
            FetchError::Stalled(m) => write!(f, "server stalled: {m}"),
            FetchError::Status(s) => write!(f, "server answered HTTP {s}"),
            FetchError::Length(m) => write!(f, "length mismatch: {m}"),
            FetchError::Changed(m) => write!(f, "file changed on the server: {m}"),
            FetchError::Range(m) => write!(f, "bad range reply: {m}"),
        }
    }
}

impl AgentError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, e: io::Error) -> AgentError {
        AgentError::Io(format!("{}: {e}", path.display()))
    }

    /// A stable code: the verifier's code for rejected packages, else the
    /// agent's own.
    pub fn code(&self) -> &'static str {
        match self {
            AgentError::Verify(e) => e.code(),
            AgentError::Config(_) => "config",
            AgentError::Io(_) => "io",
            AgentError::Bootloader(_) => "bootloader",
            AgentError::State(_) => "state",
            AgentError::NoTarget(_) => "no-target",
            AgentError::TooLarge { .. } => "too-large",
            AgentError::ArchiveUnsafe(_) => "archive-unsafe",
            AgentError::Slot(_) => "slot-state",
            AgentError::Fetch(e) => e.code(),
        }
    }

    /// Process exit status: 1 for a rejected package (as `otaseal verify`),
    /// 2 for configuration, environment, I/O and network problems.
    pub fn exit_code(&self) -> u8 {
        match self {
            AgentError::Verify(_)
            | AgentError::NoTarget(_)
            | AgentError::TooLarge { .. }
            | AgentError::ArchiveUnsafe(_) => 1,
            _ => 2,
        }
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Verify(e) => write!(f, "package rejected: {e}"),
            AgentError::Config(m) => write!(f, "configuration: {m}"),
            AgentError::Io(m) => write!(f, "{m}"),
            AgentError::Bootloader(m) => write!(f, "boot environment: {m}"),
            AgentError::State(m) => write!(f, "state file: {m}"),
            AgentError::NoTarget(m) => write!(f, "no slot target for payload {m}"),
            AgentError::TooLarge { limit } => {
                write!(f, "package larger than the limit of {limit} bytes")
            }
            AgentError::ArchiveUnsafe(m) => write!(f, "unsafe archive: {m}"),
            AgentError::Slot(m) => write!(f, "{m}"),
            AgentError::Fetch(e) => write!(f, "download: {e}"),
        }
    }
}

impl std::error::Error for AgentError {}

impl From<VerifyError> for AgentError {
    fn from(e: VerifyError) -> Self {
        AgentError::Verify(e)
    }
}

impl From<FetchError> for AgentError {
    fn from(e: FetchError) -> Self {
        AgentError::Fetch(e)
    }
}
