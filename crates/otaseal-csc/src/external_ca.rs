//! Credential certificates from an external CA: a configured command gets
//! the credential's PKCS#10 request and prints the certificate chain.
//!
//! The command (an argv list, no shell) gets the CSR as PEM on stdin; an
//! argument `{csr}` is replaced by the path of a file holding the same PEM
//! (for tools that want a file). It must print the chain as PEM
//! `CERTIFICATE` blocks on stdout, leaf first, and exit 0 within the
//! timeout. The answer is checked before anything is stored: the leaf must
//! certify exactly the key of the request, be valid now (notBefore <= now <
//! notAfter) and carry the code-signing extended key usage; every
//! certificate must parse. Any failure is a typed [`ExternalCaError`]; the
//! credential keeps its current certificate (the new key is dropped, never
//! stored), and signing only ever uses a valid certificate.

use std::fmt;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use der::{Decode, Encode};
use serde::{Deserialize, Serialize};
use x509_cert::Certificate;

/// id-kp-codeSigning (RFC 5280).
const ID_KP_CODE_SIGNING: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");

/// Largest chain output read from the command.
const MAX_OUTPUT: u64 = 1 << 20;

/// `external_ca` in the configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalCa {
    /// Program and arguments; `{csr}` becomes the CSR file's path.
    pub command: Vec<String>,
    /// Seconds the command may take.
    #[serde(default = "d_timeout")]
    pub timeout_secs: u64,
    /// Credentials whose certificates come from this CA (all when empty).
    #[serde(default)]
    pub credentials: Vec<String>,
}

fn d_timeout() -> u64 {
    60
}

/// Why an external CA answer was not used.
#[derive(Debug)]
pub enum ExternalCaError {
    /// The configuration has no command.
    NoCommand,
    /// The command could not be started.
    Spawn(String, std::io::Error),
    /// It ran longer than the timeout (and was killed).
    Timeout(u64),
    /// It exited unsuccessfully.
    Failed(Option<i32>, String),
    /// Its output holds no PEM certificate or a certificate that does not
    /// parse.
    Garbage(String),
    /// The leaf certifies another key than the request's.
    WrongKey,
    /// The leaf is expired or not yet valid.
    NotValidNow {
        /// notBefore, Unix seconds.
        not_before: u64,
        /// notAfter, Unix seconds.
        not_after: u64,
        /// The service clock.
        now: u64,
    },
    /// The leaf lacks the code-signing extended key usage.
    NotCodeSigning,
    /// Writing the CSR or reading the answer failed.
    Io(std::io::Error),
}

impl fmt::Display for ExternalCaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExternalCaError::NoCommand => write!(f, "external CA: no command configured"),
            ExternalCaError::Spawn(cmd, e) => write!(f, "external CA: cannot run {cmd:?}: {e}"),
            ExternalCaError::Timeout(s) => {
                write!(f, "external CA: no answer within {s} s (command killed)")
            }
            ExternalCaError::Failed(code, stderr) => write!(
                f,
                "external CA: command failed ({}){}{}",
                code.map_or("killed by a signal".to_string(), |c| format!("exit {c}")),
                if stderr.is_empty() { "" } else { ": " },
                stderr
            ),
            ExternalCaError::Garbage(m) => {
                write!(f, "external CA: output is not a PEM certificate chain: {m}")
            }
            ExternalCaError::WrongKey => write!(
                f,
                "external CA: the certificate is for another key than the request's"
            ),
            ExternalCaError::NotValidNow {
                not_before,
                not_after,
                now,
            } => write!(
                f,
                "external CA: the certificate is not valid now (valid {not_before}..{not_after}, now {now})"
            ),
            ExternalCaError::NotCodeSigning => write!(
                f,
                "external CA: the certificate lacks the code-signing extended key usage"
            ),
            ExternalCaError::Io(e) => write!(f, "external CA: {e}"),
        }
    }
}

impl std::error::Error for ExternalCaError {}

/// A checked answer: the leaf and the rest of the chain (DER).
#[derive(Clone, Debug)]
pub struct IssuedChain {
    /// The leaf certificate.
    pub leaf: Vec<u8>,
    /// Issuer certificates, in the order the CA gave them.
    pub issuers: Vec<Vec<u8>>,
    /// Leaf notBefore, Unix seconds.
    pub not_before: u64,
    /// Leaf notAfter, Unix seconds.
    pub not_after: u64,
}

impl ExternalCa {
    /// Whether `credential` gets its certificates here.
    pub fn serves(&self, credential: &str) -> bool {
        self.credentials.is_empty() || self.credentials.iter().any(|c| c == credential)
    }

    /// Runs the command for `csr_der` and checks its answer against
    /// `spki_der` (the request's key) at `now`.
    pub fn issue(
        &self,
        csr_der: &[u8],
        spki_der: &[u8],
        now: u64,
    ) -> Result<IssuedChain, ExternalCaError> {
        let pem = pem_block("CERTIFICATE REQUEST", csr_der);
        let output = self.run(&pem)?;
        check_chain(&output, spki_der, now)
    }

    fn run(&self, csr_pem: &str) -> Result<Vec<u8>, ExternalCaError> {
        let (program, args) = self
            .command
            .split_first()
            .ok_or(ExternalCaError::NoCommand)?;
        // The CSR as a file too, for `{csr}`; removed when this returns.
        let csr_file = if args.iter().any(|a| a.contains("{csr}")) {
            let mut f = tempfile_in_tmp()?;
            f.1.write_all(csr_pem.as_bytes())
                .and_then(|()| f.1.sync_all())
                .map_err(ExternalCaError::Io)?;
            Some(f)
        } else {
            None
        };
        let args: Vec<String> = args
            .iter()
            .map(|a| match &csr_file {
                Some((path, _)) => a.replace("{csr}", &path.0.to_string_lossy()),
                None => a.clone(),
            })
            .collect();
        let mut cmd = Command::new(program);
        cmd.args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group, so a timeout kills what it started too.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .spawn()
            .map_err(|e| ExternalCaError::Spawn(program.clone(), e))?;
        let mut stdin = child.stdin.take();
        let input = csr_pem.as_bytes().to_vec();
        let writer = std::thread::spawn(move || {
            if let Some(s) = stdin.as_mut() {
                // A command that does not read stdin closes it: not an error.
                let _ = s.write_all(&input);
            }
        });
        let reader = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut out = Vec::new();
                if let Some(p) = pipe {
                    let _ = p.take(MAX_OUTPUT).read_to_end(&mut out);
                }
                out
            })
        };
        let stdout = reader(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = reader(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let deadline = Instant::now() + Duration::from_secs(self.timeout_secs.max(1));
        let status = loop {
            match child.try_wait().map_err(ExternalCaError::Io)? {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    // The whole group: a shell script's children as well.
                    let _ = Command::new("kill")
                        .args(["-KILL", "--", &format!("-{}", child.id())])
                        .stderr(Stdio::null())
                        .status();
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(ExternalCaError::Timeout(self.timeout_secs.max(1)));
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let _ = writer.join();
        let out = stdout.join().unwrap_or_default();
        let err = stderr.join().unwrap_or_default();
        drop(csr_file);
        if !status.success() {
            let first = String::from_utf8_lossy(&err)
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            return Err(ExternalCaError::Failed(status.code(), first));
        }
        Ok(out)
    }
}

/// A temporary file (0600) removed on drop.
struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tempfile_in_tmp() -> Result<(TempPath, std::fs::File), ExternalCaError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce)
        .map_err(|e| ExternalCaError::Io(std::io::Error::other(e.to_string())))?;
    let path =
        std::env::temp_dir().join(format!("otaseal-csc-{}.csr", crate::keystore::hex(&nonce)));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(ExternalCaError::Io)?;
    Ok((TempPath(path), f))
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = crate::protocol::b64_encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn unix(t: &x509_cert::time::Time) -> u64 {
    t.to_unix_duration().as_secs()
}

/// Checks a PEM chain answer (see the module documentation).
pub fn check_chain(
    output: &[u8],
    spki_der: &[u8],
    now: u64,
) -> Result<IssuedChain, ExternalCaError> {
    let text = std::str::from_utf8(output)
        .map_err(|_| ExternalCaError::Garbage("not UTF-8 text".into()))?;
    let ders = otaseal_sign::pki::certs_from_pem(text)
        .map_err(|e| ExternalCaError::Garbage(e.to_string()))?;
    let Some((leaf_der, issuers)) = ders.split_first() else {
        return Err(ExternalCaError::Garbage("no CERTIFICATE block".into()));
    };
    for d in &ders {
        Certificate::from_der(d).map_err(|e| ExternalCaError::Garbage(e.to_string()))?;
    }
    let leaf =
        Certificate::from_der(leaf_der).map_err(|e| ExternalCaError::Garbage(e.to_string()))?;
    let tbs = leaf.tbs_certificate();
    let leaf_spki = tbs
        .subject_public_key_info()
        .to_der()
        .map_err(|e| ExternalCaError::Garbage(e.to_string()))?;
    if leaf_spki != spki_der {
        return Err(ExternalCaError::WrongKey);
    }
    let not_before = unix(&tbs.validity().not_before);
    let not_after = unix(&tbs.validity().not_after);
    if now < not_before || now >= not_after {
        return Err(ExternalCaError::NotValidNow {
            not_before,
            not_after,
            now,
        });
    }
    let code_signing = tbs
        .get_extension::<x509_cert::ext::pkix::ExtendedKeyUsage>()
        .ok()
        .flatten()
        .is_some_and(|(_, eku)| eku.0.contains(&ID_KP_CODE_SIGNING));
    if !code_signing {
        return Err(ExternalCaError::NotCodeSigning);
    }
    Ok(IssuedChain {
        leaf: leaf_der.clone(),
        issuers: issuers.to_vec(),
        not_before,
        not_after,
    })
}
