//! `otaseal csr` (PKCS#10 request from a key file or a token key) and
//! `otaseal pki issue` (a development CA issues a certificate from one).

use std::path::PathBuf;

use clap::Args;
use otaseal_sign::keys::{KeySigner, SigningKey};

use otaseal_sign::pki;
use serde_json::json;

use crate::{CliError, CliResult, read_file};

#[derive(Args)]
#[command(after_help = "\
Examples:
  otaseal csr --signer key=release.key.pem --subject 'CN=Acme release,O=Acme' --out signer.csr
  otaseal csr --signer 'key=pkcs11:token=release;object=fw-p256?pin-source=pin.txt' \\
      --pkcs11-module /usr/lib/softhsm/libsofthsm2.so --subject 'CN=Acme release,O=Acme' --out signer.csr
  openssl req -in signer.csr -noout -verify        # any CA can check and issue it
  otaseal pki issue --csr signer.csr --ca-dir pki/ecdsa-p256 --out signer.chain.pem

Writes a PEM CERTIFICATE REQUEST signed by the key (PKCS#10, the code-signing extended
key usage requested through extensionRequest). SM2 requests are signed with the
standard distinguishing id 1234567812345678.")]
pub struct CsrArgs {
    /// The key: key=KEY.pem or key=pkcs11:URI.
    #[arg(long)]
    signer: String,
    /// Subject, RFC 4514 text (e.g. "CN=Acme release,O=Acme,C=DE").
    #[arg(long)]
    subject: String,
    /// Request file to create (PEM).
    #[arg(long)]
    out: PathBuf,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn csr(a: CsrArgs) -> CliResult {
    crate::refuse_stdout_out(&a.out)?;
    if std::fs::symlink_metadata(&a.out).is_ok() {
        return Err(CliError(format!(
            "{} exists; choose another --out",
            a.out.display()
        )));
    }
    let spec = a.signer.strip_prefix("key=").unwrap_or(&a.signer);
    let key = crate::keys::load_signer(spec, None)?;
    let der = pki::build_csr(key.as_ref(), &a.subject)?;
    let pem = der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &der)
        .map_err(|e| CliError(e.to_string()))?;
    otaseal_sign::keys::write_new_file(&a.out, pem.as_bytes(), 0o644)?;
    if a.json {
        out!(
            "{}",
            json!({"csr": a.out, "suite": key.suite().name(), "key": key.describe(), "subject": a.subject})
        );
    } else {
        out!(
            "{} request for {:?} written to {} (key: {})",
            key.suite().name(),
            a.subject,
            a.out.display(),
            key.describe()
        );
    }
    Ok(0)
}

#[derive(Args)]
#[command(after_help = "\
Example:
  otaseal pki init --dir pki --suites ecdsa-p256
  otaseal pki issue --csr signer.csr --ca-dir pki/ecdsa-p256 --out signer.chain.pem
  otaseal pki issue --csr tsa.csr --ca-dir pki/ecdsa-p256 --tsa --out tsa.chain.pem
  otaseal sign ... --signer 'key=pkcs11:token=release;object=fw-p256,cert=signer.chain.pem' fw.bin

Checks the request's signature, then issues a code-signing certificate for its subject
and key with the development intermediate CA of CA_DIR (intermediate.key.pem,
intermediate.cert.pem) and writes the chain (certificate, intermediate) as PEM.
For development only: a real CA issues production certificates.")]
pub struct PkiIssueArgs {
    /// PKCS#10 request (PEM or DER).
    #[arg(long)]
    csr: PathBuf,
    /// A suite directory of `otaseal pki init` (holds the intermediate CA).
    #[arg(long)]
    ca_dir: PathBuf,
    /// Chain file to create (PEM: the new certificate, then the intermediate).
    #[arg(long)]
    out: PathBuf,
    /// Certificate lifetime in days.
    #[arg(long, default_value_t = 365)]
    days: u64,
    /// Issue a time-stamping certificate (critical id-kp-timeStamping) with the
    /// development TSA root of CA_DIR (tsa-root.key.pem); the chain is the
    /// certificate alone, as `otaseal pki init` writes tsa.chain.pem.
    #[arg(long)]
    tsa: bool,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn pki_issue(a: PkiIssueArgs) -> CliResult {
    crate::refuse_stdout_out(&a.out)?;
    if std::fs::symlink_metadata(&a.out).is_ok() {
        return Err(CliError(format!(
            "{} exists; choose another --out",
            a.out.display()
        )));
    }
    let csr = read_file(&a.csr)?;
    let (ca_name, profile) = if a.tsa {
        ("tsa-root", pki::CertProfile::TimeStampingLeaf)
    } else {
        ("intermediate", pki::CertProfile::CodeSigningLeaf)
    };
    let ca_key = SigningKey::load(&a.ca_dir.join(format!("{ca_name}.key.pem")))?;
    let ca_cert_path = a.ca_dir.join(format!("{ca_name}.cert.pem"));
    let ca_pem = String::from_utf8(read_file(&ca_cert_path)?)
        .map_err(|_| CliError(format!("{}: not a PEM file", ca_cert_path.display())))?;
    let ca_cert = pki::certs_from_pem(&ca_pem)
        .map_err(|e| CliError(format!("{}: {e}", ca_cert_path.display())))?
        .into_iter()
        .next()
        .ok_or_else(|| CliError(format!("{}: no certificate", ca_cert_path.display())))?;
    let now = otaseal_sign::package::unix_now();
    let not_before = now.saturating_sub(300);
    let not_after = now.saturating_add(a.days.saturating_mul(86_400));
    let cert = pki::issue_from_csr(&csr, profile, &ca_key, &ca_cert, not_before, not_after)
        .map_err(|e| CliError(format!("{}: {e}", a.csr.display())))?;
    let pem = if a.tsa {
        pki::certs_to_pem(&[cert])
    } else {
        pki::certs_to_pem(&[cert, ca_cert])
    };
    otaseal_sign::keys::write_new_file(&a.out, pem.as_bytes(), 0o644)?;
    if a.json {
        out!(
            "{}",
            json!({"chain": a.out, "ca": a.ca_dir, "suite": ca_key.suite().name()})
        );
    } else {
        out!(
            "certificate issued by {} written to {} (with the intermediate)",
            a.ca_dir.display(),
            a.out.display()
        );
    }
    Ok(0)
}
