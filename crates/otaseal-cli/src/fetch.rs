//! `otaseal verify URL`: a package read straight from an HTTPS server into
//! the streaming verifier, nothing stored. HTTPS only unless the caller
//! passes `--allow-http` (the signatures still protect integrity; TLS protects
//! only who you are talking to). The server's certificate must chain to the
//! system's roots or to an extra `--ca` file. reqwest on rustls with the ring
//! provider, as the agent and the TSA client.

use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Duration;

use crate::{CliError, read_file};

/// Whether the package argument names a URL rather than a file.
pub fn is_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// How to fetch.
pub struct FetchOptions<'a> {
    /// Extra CA certificates (PEM files) the server may chain to.
    pub ca: &'a [PathBuf],
    /// Accept `http://` URLs (and redirects to them).
    pub allow_http: bool,
    /// Seconds without progress (connect or read) before giving up.
    pub timeout: Duration,
}

/// A successful `GET`: the body as a byte stream and its length if declared.
pub struct Download {
    /// The response body.
    pub body: Box<dyn Read>,
    /// `Content-Length`, if the server sent one.
    pub total: Option<u64>,
}

/// Starts the download of `url` (status checked; the body is read lazily).
pub fn open(url: &str, o: &FetchOptions<'_>) -> Result<Download, CliError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| CliError(format!("URL {url:?}: {e}")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if o.allow_http => {}
        "http" => {
            return Err(CliError(format!(
                "{url}: plain http:// refused (use https://, or --allow-http: the signatures \
                 still protect the package, nothing protects which server you talk to)"
            )));
        }
        s => return Err(CliError(format!("{url}: unsupported scheme {s:?}"))),
    }
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let mut certs = Vec::new();
    for p in o.ca {
        let pem = read_file(p)?;
        let found = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| CliError(format!("--ca {}: {e}", p.display())))?;
        if found.is_empty() {
            return Err(CliError(format!(
                "--ca {}: no CERTIFICATE in the file",
                p.display()
            )));
        }
        certs.extend(found);
    }
    let allow_http = o.allow_http;
    // Redirects are followed (a few), never from https:// down to http://
    // unless plain HTTP was allowed.
    let redirects = reqwest::redirect::Policy::custom(move |a| {
        if a.previous().len() >= 5 {
            a.error("more than 5 redirects")
        } else if a.url().scheme() != "https" && !allow_http {
            a.error("redirect to a non-https URL refused")
        } else {
            a.follow()
        }
    });
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(o.timeout)
        .timeout(o.timeout)
        .redirect(redirects)
        .user_agent(concat!("otaseal/", env!("CARGO_PKG_VERSION")))
        .tls_certs_merge(certs)
        .build()
        .map_err(|e| CliError(format!("HTTP client: {}", chain(&e))))?;
    let resp = client
        .get(parsed)
        .send()
        .map_err(|e| CliError(format!("{url}: {}", chain(&e))))?;
    if !resp.status().is_success() {
        return Err(CliError(format!(
            "{url}: the server answered HTTP {}",
            resp.status()
        )));
    }
    let total = resp.content_length();
    Ok(Download {
        body: Box::new(Body(resp)),
        total,
    })
}

/// The response body; read errors carry the whole cause chain (a reset, a
/// timeout, a body shorter than its `Content-Length`).
struct Body(reqwest::blocking::Response);

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            io::Error::new(e.kind(), format!("download failed: {msg}"))
        })
    }
}

/// An error with its causes, which is where reqwest says what went wrong
/// ("invalid peer certificate: UnknownIssuer").
fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !msg.contains(&t) {
            msg.push_str(": ");
            msg.push_str(&t);
        }
        src = s.source();
    }
    if msg.contains("certificate") || msg.contains("UnknownIssuer") {
        msg.push_str(" (TLS: the server's certificate is not trusted; add its CA with --ca FILE)");
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_files() {
        assert!(is_url("https://h/fw.ota"));
        assert!(is_url("HTTP://h/fw.ota"));
        assert!(!is_url("fw.ota"));
        assert!(!is_url("./https:/x"));
        assert!(!is_url("-"));
    }

    #[test]
    fn plain_http_and_other_schemes_are_refused() {
        let o = FetchOptions {
            ca: &[],
            allow_http: false,
            timeout: Duration::from_secs(1),
        };
        let e = open("http://127.0.0.1:1/x", &o).err().unwrap();
        assert!(e.0.contains("--allow-http"), "{e}");
        let e = open("ftp://127.0.0.1/x", &o).err().unwrap();
        assert!(e.0.contains("unsupported scheme"), "{e}");
    }
}
