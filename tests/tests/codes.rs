//! spec/policy.md section 6 lists every rejection code; this test keeps the
//! table and the tests that drive a package to each code from drifting apart.
//!
//! `PRODUCERS` names, for every code, a test that makes the verifier (or the
//! CLI) return it and asserts it. The check runs both ways: a code in the
//! table without a producer fails, a producer of a code not in the table
//! fails, and so does a producer whose test no longer exists or no longer
//! mentions what it asserts (the code in quotes, or the error variant that
//! `code()` maps to it, checked below).

use std::collections::BTreeSet;

use otaseal_tests::repo_root;
use otaseal_verify::{ChainError, TimestampError, VerifyError};

/// (code, file, test function, what the test's body must contain; `None`
/// means the code itself in quotes).
type Producer = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);

const TAMPER: &str = "tests/tests/tamper.rs";
const TIMESTAMP: &str = "tests/tests/timestamp.rs";
const CHAIN: &str = "crates/otaseal-verify/src/chain.rs";
const TS_UNIT: &str = "crates/otaseal-verify/src/timestamp.rs";
const REDUCED: &str = "crates/otaseal-verify/tests/reduced_build.rs";

#[rustfmt::skip]
const PRODUCERS: &[Producer] = &[
    ("container-not-package", TAMPER, "plain_tar_is_not_a_package", None),
    ("container-header-mismatch", TAMPER, "extra_member_before_end_blocks", None),
    ("container-padding", TAMPER, "nonzero_padding_after_payload", None),
    ("container-truncated", TAMPER, "truncated_in_payload", None),
    ("container-trailing-data", TAMPER, "trailing_bytes", None),
    ("envelope-too-large", TAMPER, "lib_envelope_larger_than_the_format_allows", None),
    ("envelope-malformed", TAMPER, "attached_cose_payload", None),
    ("envelope-version", TAMPER, "lib_envelope_and_manifest_structure_codes", None),
    ("envelope-limit", TAMPER, "lib_envelope_and_manifest_structure_codes", None),
    ("cose-unknown-header", TAMPER, "unknown_unprotected_header_label", None),
    ("cbor-non-canonical", TAMPER, "non_canonical_cbor_in_signed_manifest", None),
    ("manifest-malformed", TAMPER, "lib_envelope_and_manifest_structure_codes", None),
    ("manifest-version", TAMPER, "manifest_format_version_2", None),
    ("manifest-limit", TAMPER, "lib_envelope_and_manifest_structure_codes", None),
    ("manifest-unknown-critical-field", TAMPER, "unknown_critical_manifest_field", None),
    ("manifest-duplicate-payload", TAMPER, "duplicate_payload_names", None),
    ("manifest-duplicate-signer", TAMPER, "lib_envelope_and_manifest_structure_codes", None),
    ("manifest-duplicate-hw-id", TAMPER, "lib_envelope_and_manifest_structure_codes", None),
    ("signature-missing", TAMPER, "removed_signature", None),
    ("signature-undeclared", TAMPER, "undeclared_signature_appended", None),
    ("signature-order", TAMPER, "signatures_reordered", None),
    ("signature-invalid", TAMPER, "manifest_byte_changed_without_resigning", None),
    ("signature-high-s", TAMPER, "lib_high_s_cose_signature", None),
    ("alg-key-mismatch", TAMPER, "alg_key_mismatch", None),
    ("kid-mismatch", TAMPER, "kid_does_not_match_leaf", None),
    ("cert-malformed", TAMPER, "lib_envelope_and_manifest_structure_codes", None),
    ("chain-untrusted", TAMPER, "wrong_root", None),
    ("cert-expired", TAMPER, "certificate_expired", None),
    ("cert-not-yet-valid", TAMPER, "certificate_not_yet_valid", None),
    ("cert-eku", TAMPER, "leaf_without_code_signing_eku", None),
    ("cert-key-usage", TAMPER, "lib_leaf_without_digital_signature_key_usage", None),
    ("chain-bad-signature", CHAIN, "ec_p256_chain_and_failures", Some("Err(ChainError::BadSignature)")),
    ("chain-unsupported-algorithm", CHAIN, "mixed_algorithm_chains", None),
    ("chain-malformed", CHAIN, "ec_p256_chain_and_failures", Some("Err(ChainError::Malformed)")),
    ("chain-invalid", CHAIN, "ec_p256_chain_and_failures", None),
    ("key-untrusted", TAMPER, "raw_key_signer_not_trusted", None),
    ("no-supported-suite", TAMPER, "lib_unknown_suite_is_unsupported_and_no_supported_suite", None),
    ("policy-unsatisfied", TAMPER, "required_suite_absent", None),
    ("hw-incompatible", TAMPER, "wrong_hardware", None),
    ("rollback", TAMPER, "rollback", None),
    ("manifest-expired", TAMPER, "manifest_expired", None),
    ("payload-digest-missing", TAMPER, "digest_family_not_in_manifest", None),
    ("digest-not-compiled", REDUCED, "sm3_digests_are_not_compiled", None),
    ("payload-digest-mismatch", TAMPER, "payload_bit_flip", None),
    ("payload-kind-mismatch", TAMPER, "lib_payload_kind_mismatch", None),
    ("buffer-too-small", TAMPER, "envelope_larger_than_max_envelope", None),
    ("timestamp-missing", TIMESTAMP, "require_timestamp_without_tokens_is_rejected", None),
    ("timestamp-malformed", TIMESTAMP, "truncated_token_is_malformed", Some("timestamp-malformed")),
    ("timestamp-imprint-mismatch", TIMESTAMP, "token_of_another_signature_is_rejected", None),
    ("timestamp-imprint-algorithm", TIMESTAMP, "imprint_algorithm_mismatch_is_rejected", None),
    ("timestamp-signature", TS_UNIT, "rust_built_structure_and_attributes", None),
    ("timestamp-signed-attributes", TS_UNIT, "rust_built_structure_and_attributes", None),
    ("timestamp-message-digest", TS_UNIT, "rust_built_structure_and_attributes", None),
    ("timestamp-cert-binding", TIMESTAMP, "cert_binding_mismatch_is_rejected", None),
    ("timestamp-tsa-eku", TIMESTAMP, "tsa_eku_not_critical_is_rejected", None),
    ("timestamp-untrusted", TIMESTAMP, "token_from_untrusted_tsa_is_rejected", None),
    ("timestamp-tsa-cert-expired", TIMESTAMP, "tsa_certificate_outside_its_validity_is_rejected", None),
    ("timestamp-tsa-cert-not-yet-valid", TIMESTAMP, "tsa_certificate_outside_its_validity_is_rejected", None),
    ("timestamp-tsa-name", TS_UNIT, "rust_built_tst_info_fields", None),
    ("timestamp-cert-missing", TS_UNIT, "rust_built_certificate_binding", Some("TimestampError::CertificateMissing")),
    ("timestamp-content-type", TS_UNIT, "rust_built_structure_and_attributes", Some("TimestampError::ContentType")),
    ("timestamp-version", TS_UNIT, "rust_built_structure_and_attributes", Some("TimestampError::UnsupportedVersion")),
    ("timestamp-signer-count", TS_UNIT, "rust_built_structure_and_attributes", None),
    ("timestamp-unsupported-algorithm", TS_UNIT, "rust_built_structure_and_attributes", Some("TimestampError::UnsupportedAlgorithm")),
    ("timestamp-policy", TS_UNIT, "openssl_p256_tokens", None),
    ("timestamp-critical-extension", TS_UNIT, "rust_built_tst_info_fields", None),
    ("timestamp-not-compiled", REDUCED, "required_token_without_timestamp_support", None),
    // The TSA's certificate path goes through the same path checker as the
    // code-signing one (`chain::check`), whose failures map one to one
    // (`TimestampError::Chain`, see `variant_evidence_names_the_code`).
    ("timestamp-tsa-key-usage", CHAIN, "ec_p256_chain_and_failures", Some("Err(ChainError::MissingKeyUsage)")),
    ("timestamp-chain-malformed", CHAIN, "ec_p256_chain_and_failures", Some("Err(ChainError::Malformed)")),
    ("timestamp-chain-bad-signature", CHAIN, "ec_p256_chain_and_failures", Some("Err(ChainError::BadSignature)")),
    ("timestamp-chain-unsupported-algorithm", CHAIN, "mixed_algorithm_chains", Some("ChainError::UnsupportedAlgorithm")),
    ("timestamp-chain-invalid", CHAIN, "ec_p256_chain_and_failures", Some("ChainError::Other")),
    ("timestamp-future", TIMESTAMP, "token_after_verification_time_is_rejected", None),
    ("timestamp-outside-cert-validity", TIMESTAMP, "gen_time_outside_signer_validity_is_rejected", None),
];

/// The codes of the first column of spec/policy.md's table in section 6.
fn table_codes() -> Vec<String> {
    let policy = std::fs::read_to_string(repo_root().join("spec/policy.md")).unwrap();
    let section = policy
        .split("\n## 6. Rejection codes")
        .nth(1)
        .expect("policy.md has section 6");
    let section = section.split("\n## ").next().unwrap();
    let mut codes = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap();
        codes.extend(
            first
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .filter(|c| !c.is_empty()),
        );
    }
    codes
}

/// The body of `fn name(` in `file`: up to the closing brace at the
/// function's own indentation.
fn fn_body(file: &str, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(repo_root().join(file)).ok()?;
    let at = text.find(&format!("fn {name}("))?;
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..at];
    let indent: String = indent.chars().take_while(|c| *c == ' ').collect();
    let close = format!("\n{indent}}}\n");
    let end = text[at..].find(&close)? + at;
    Some(text[at..end].to_string())
}

#[test]
fn every_code_in_the_policy_table_has_a_producing_test_and_back() {
    let table = table_codes();
    assert!(table.len() > 60, "parsed only {} codes", table.len());
    let table_set: BTreeSet<&str> = table.iter().map(String::as_str).collect();
    assert_eq!(table_set.len(), table.len(), "a code is listed twice");
    let produced: BTreeSet<&str> = PRODUCERS.iter().map(|p| p.0).collect();
    let no_producer: Vec<_> = table_set.difference(&produced).collect();
    let not_in_table: Vec<_> = produced.difference(&table_set).collect();
    assert!(no_producer.is_empty(), "no test produces: {no_producer:?}");
    assert!(
        not_in_table.is_empty(),
        "not in policy.md: {not_in_table:?}"
    );

    let mut broken = Vec::new();
    for (code, file, test, evidence) in PRODUCERS {
        let quoted = format!("\"{code}\"");
        let evidence = evidence.unwrap_or(&quoted);
        match fn_body(file, test) {
            None => broken.push(format!("{code}: no fn {test} in {file}")),
            Some(body) if !body.contains(evidence) => broken.push(format!(
                "{code}: {file}::{test} does not contain {evidence}"
            )),
            // `rejected(..)` (tamper.rs, timestamp.rs) asserts the code.
            Some(body) if !body.contains("assert") && !body.contains("rejected(") => {
                broken.push(format!("{code}: {file}::{test} asserts nothing"))
            }
            Some(_) => {}
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

/// The variant names used as evidence above map to their codes.
#[test]
fn variant_evidence_names_the_code() {
    let chain = |reason| VerifyError::Chain { index: 0, reason }.code();
    let ts = |reason| VerifyError::Timestamp { index: 0, reason }.code();
    let pairs = [
        (chain(ChainError::BadSignature), "chain-bad-signature"),
        (chain(ChainError::Malformed), "chain-malformed"),
        (
            ts(TimestampError::Chain(ChainError::MissingKeyUsage)),
            "timestamp-tsa-key-usage",
        ),
        (
            ts(TimestampError::Chain(ChainError::Malformed)),
            "timestamp-chain-malformed",
        ),
        (
            ts(TimestampError::Chain(ChainError::BadSignature)),
            "timestamp-chain-bad-signature",
        ),
        (
            ts(TimestampError::Chain(ChainError::UnsupportedAlgorithm)),
            "timestamp-chain-unsupported-algorithm",
        ),
        (
            ts(TimestampError::Chain(ChainError::Other)),
            "timestamp-chain-invalid",
        ),
        (
            ts(TimestampError::CertificateMissing),
            "timestamp-cert-missing",
        ),
        (ts(TimestampError::ContentType), "timestamp-content-type"),
        (ts(TimestampError::UnsupportedVersion), "timestamp-version"),
        (
            ts(TimestampError::UnsupportedAlgorithm),
            "timestamp-unsupported-algorithm",
        ),
    ];
    for (got, want) in pairs {
        assert_eq!(got, want);
    }
}
