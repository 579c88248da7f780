//! The firmware example of README.md, compiled and run on a golden package.
//! Keep the function below identical to the README's.

use otaseal_tests::fixtures_dir;
use rustls_pki_types::CertificateDer;

// --- README.md "Firmware: linking the verifier" ---
use otaseal_verify::TrustAnchor;
use otaseal_verify::{
    PackageVerifier, Policy, Requirement, Suite, SuiteSet, TrustStore, VerifyError,
};

fn install(
    roots: &[TrustAnchor<'_>],
    tsa_roots: &[TrustAnchor<'_>],
    stored_floor: u64,
    mut read: impl FnMut(&mut [u8]) -> usize,
    mut write_slot_b: impl FnMut(usize, &[u8]),
) -> Result<u64, VerifyError> {
    let hybrid = SuiteSet::EMPTY.with(Suite::EcdsaP256).with(Suite::Sm2);
    let policy = Policy {
        require: Requirement::AnyOf(&[hybrid]),
        hw_id: Some("acme-rev-a"),
        min_security_version: Some(stored_floor),
        time: None,                // no trusted clock: ...
        require_timestamp: hybrid, // ... so certificates are checked at the TSA's genTime
        ..Policy::default()
    };
    let trust = TrustStore {
        roots,
        keys: &[],
        tsa_roots,
    };
    // Envelope + one Sig_structure; a `static` in real firmware.
    let mut buf = [0u8; otaseal_verify::buffer_size(24 * 1024)];
    let mut v = PackageVerifier::new(&mut buf, policy, trust);
    let mut chunk = [0u8; 4096];
    loop {
        let n = read(&mut chunk); // e.g. from the HTTPS stream
        if n == 0 {
            break;
        }
        v.update_with(&chunk[..n], &mut |payload, bytes| {
            write_slot_b(payload, bytes)
        })?;
    }
    let verified = v.finish()?; // the only place that says "verified"
    Ok(verified.security_version) // activate slot B, then store the new floor
}
// --- end of README example ---

fn anchors(ders: &[Vec<u8>]) -> Vec<TrustAnchor<'_>> {
    ders.iter()
        .map(|d| {
            let cert = CertificateDer::from(d.as_slice());
            webpki::anchor_from_trusted_cert(&cert)
                .expect("trust anchor")
                .to_owned()
        })
        .collect()
}

fn pem_file(rel: &str) -> Vec<Vec<u8>> {
    let pem = std::fs::read_to_string(fixtures_dir().join(rel)).expect("read PEM");
    otaseal_sign::pki::certs_from_pem(&pem).expect("PEM certificates")
}

fn run(package: &str, floor: u64) -> (Result<u64, VerifyError>, Vec<u8>) {
    let roots = pem_file("pki/roots.pem");
    let tsa_roots = pem_file("pki/tsa-roots.pem");
    let bytes = std::fs::read(fixtures_dir().join(package)).expect("read package");
    let mut pos = 0;
    let mut slot_b = Vec::new();
    let result = install(
        &anchors(&roots),
        &anchors(&tsa_roots),
        floor,
        |buf| {
            let n = buf.len().min(bytes.len() - pos);
            buf[..n].copy_from_slice(&bytes[pos..pos + n]);
            pos += n;
            n
        },
        |_, data| slot_b.extend_from_slice(data),
    );
    (result, slot_b)
}

#[test]
fn readme_firmware_example_installs_the_timestamped_golden_package() {
    let (result, slot_b) = run("golden/timestamped-p256-sm2.ota", 12);
    assert_eq!(result, Ok(12));
    let firmware = std::fs::read(fixtures_dir().join("samples/firmware.bin")).expect("sample");
    assert_eq!(slot_b, firmware, "slot B holds exactly the payload");
}

#[test]
fn readme_firmware_example_refuses_rollback_and_untimestamped_packages() {
    assert!(matches!(
        run("golden/timestamped-p256-sm2.ota", 13).0,
        Err(VerifyError::Rollback { .. })
    ));
    assert!(matches!(
        run("golden/p256-sm2.ota", 12).0,
        Err(VerifyError::TimestampMissing { .. })
    ));
}
