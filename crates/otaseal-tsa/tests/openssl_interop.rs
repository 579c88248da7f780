//! Tokens from our server, requested by our client (and by `openssl ts
//! -query`), checked by `openssl ts -verify` and by our own decoder.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use otaseal_manifest::{DigestAlg, Suite};
use otaseal_tsa::authority::signer_digest;
use otaseal_tsa::protocol::{
    self, FailureInfo, SigningCertificateV2, TimeStampReq, TimeStampResp, oid, status,
};
use otaseal_tsa::{TimestampToken, TsaClient};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;

/// Starts a server for `tsa`, gets a token over SHA-256("hello <suite>") with
/// our client and writes `req.tsq` / `resp.tsr` for openssl.
fn token_via_client(tsa: &TestTsa) -> (TimeStampReq, TimestampToken, PathBuf, PathBuf) {
    let (server, _auth) = start(tsa.authority());
    let client = TsaClient::new(opts(&[http_url(&server)])).unwrap();
    let data = format!("hello {}", tsa.suite.name());
    let hash = protocol::hash(DigestAlg::Sha256, data.as_bytes());
    let req = client.build_request(DigestAlg::Sha256, &hash).unwrap();
    let token = client.send(&req).unwrap();
    server.shutdown();

    let req_path = tsa.path("req.tsq");
    std::fs::write(&req_path, req.to_der().unwrap()).unwrap();
    let resp = TimeStampResp {
        status: protocol::PkiStatusInfo::granted(),
        time_stamp_token: Some(cms::content_info::ContentInfo::from_der(&token.der).unwrap()),
    };
    let resp_path = tsa.path("resp.tsr");
    std::fs::write(&resp_path, resp.to_der().unwrap()).unwrap();
    (req, token, req_path, resp_path)
}

fn ts_verify(tsa: &TestTsa, req: &Path, resp: &Path) -> std::process::Output {
    openssl(&[
        "ts",
        "-verify",
        "-in",
        p(resp),
        "-queryfile",
        p(req),
        "-CAfile",
        p(&tsa.root_pem),
        "-untrusted",
        p(&tsa.cert_pem),
    ])
}

fn cms_verify(tsa: &TestTsa, token_der: &[u8]) -> std::process::Output {
    let token_path = tsa.path("token.der");
    std::fs::write(&token_path, token_der).unwrap();
    openssl(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        p(&token_path),
        "-CAfile",
        p(&tsa.root_pem),
        "-purpose",
        "timestampsign",
        "-binary",
        "-out",
        p(&tsa.path("tstinfo.der")),
    ])
}

/// Checks the token with our own decoder: CMS structure, signed attributes,
/// ESS binding to the TSA certificate, TSTInfo fields. Returns the DER of
/// the signed attributes (what the signature covers) and the signature.
fn check_structure(
    tsa: &TestTsa,
    req: &TimeStampReq,
    token: &TimestampToken,
) -> (Vec<u8>, Vec<u8>) {
    let parsed = protocol::parse_token_der(&token.der).unwrap();
    let sd = &parsed.signed_data;
    let digest = signer_digest(tsa.suite);
    let digest_oid = protocol::digest_oid(digest);
    assert_eq!(sd.version, cms::content_info::CmsVersion::V3);
    let algs: Vec<_> = sd.digest_algorithms.iter().map(|a| a.oid).collect();
    assert_eq!(algs, [digest_oid]);
    // certReq was true: leaf and root are included.
    let certs: Vec<Vec<u8>> = sd
        .certificates
        .as_ref()
        .expect("certificates")
        .0
        .iter()
        .map(|c| c.to_der().unwrap())
        .collect();
    assert_eq!(certs.len(), 2);
    assert!(certs.contains(&tsa.leaf_der) && certs.contains(&tsa.root_der));

    let si = parsed.signer_info().expect("exactly one SignerInfo");
    let leaf = Certificate::from_der(&tsa.leaf_der).unwrap();
    match &si.sid {
        cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(isn) => {
            assert_eq!(&isn.issuer, leaf.tbs_certificate().issuer());
            assert_eq!(&isn.serial_number, leaf.tbs_certificate().serial_number());
        }
        other => panic!("sid {other:?}"),
    }
    assert_eq!(si.digest_alg.oid, digest_oid);
    assert!(si.digest_alg.parameters.is_none());
    let attrs = si.signed_attrs.as_ref().expect("signed attributes");
    let find = |o: ObjectIdentifier| {
        let a: Vec<_> = attrs.iter().filter(|a| a.oid == o).collect();
        assert_eq!(a.len(), 1, "attribute {o}");
        assert_eq!(a[0].values.len(), 1);
        a[0].values.get(0).unwrap().clone()
    };
    assert_eq!(attrs.len(), 4);
    let ct: ObjectIdentifier = find(oid::CONTENT_TYPE).decode_as().unwrap();
    assert_eq!(ct, oid::CT_TST_INFO);
    let md: OctetString = find(oid::MESSAGE_DIGEST).decode_as().unwrap();
    assert_eq!(md.as_bytes(), protocol::hash(digest, &parsed.tst_info_der));
    let st: x509_cert::time::Time = find(oid::SIGNING_TIME).decode_as().unwrap();
    assert_eq!(st.to_system_time(), token.gen_time);
    let scv2: SigningCertificateV2 = find(oid::SIGNING_CERTIFICATE_V2).decode_as().unwrap();
    assert_eq!(scv2.certs.len(), 1);
    let id = &scv2.certs[0];
    assert!(
        id.hash_algorithm.is_none(),
        "default SHA-256 must be omitted"
    );
    assert_eq!(id.hash_alg(), oid::SHA256);
    assert_eq!(
        id.cert_hash.as_bytes(),
        protocol::hash(DigestAlg::Sha256, &tsa.leaf_der)
    );
    let is = id.issuer_serial.as_ref().unwrap();
    assert_eq!(
        is.issuer,
        [GeneralName::DirectoryName(
            leaf.tbs_certificate().issuer().clone()
        )]
    );
    let key = otaseal_sign::keys::SigningKey::load(&tsa.key_pem).unwrap();
    assert_eq!(
        si.signature_algorithm.to_der().unwrap(),
        key.x509_algorithm_id()
    );

    let tst = &parsed.tst_info;
    assert_eq!(tst.version, 1);
    assert_eq!(tst.policy, oid::EXAMPLE_POLICY);
    assert_eq!(tst.message_imprint, req.message_imprint);
    assert_eq!(tst.nonce, req.nonce);
    assert_eq!(tst.serial_number.as_bytes().len(), 16);
    assert_eq!(tst.serial_number.as_bytes(), token.serial);
    assert_eq!(tst.gen_time.to_unix_duration().subsec_nanos(), 0);
    let acc = tst.accuracy.as_ref().unwrap();
    assert_eq!((acc.seconds, acc.millis, acc.micros), (Some(1), None, None));
    assert!(!tst.ordering);
    assert_eq!(
        tst.tsa,
        Some(GeneralName::DirectoryName(
            leaf.tbs_certificate().subject().clone()
        ))
    );
    assert!(tst.extensions.is_none());
    let age = std::time::SystemTime::now()
        .duration_since(token.gen_time)
        .unwrap();
    assert!(age.as_secs() < 60);
    (attrs.to_der().unwrap(), si.signature.as_bytes().to_vec())
}

#[test]
fn ecdsa_p256_token_verifies_with_openssl_ts() {
    let tsa = make_tsa(Suite::EcdsaP256);
    let (req, token, req_path, resp_path) = token_via_client(&tsa);
    check_structure(&tsa, &req, &token);
    let out = ts_verify(&tsa, &req_path, &resp_path);
    assert!(out.status.success(), "{}", out_text(&out));
    assert!(out_text(&out).contains("Verification: OK"));
    // The same token also passes openssl's CMS verifier with the
    // timestampsign purpose (critical timeStamping EKU).
    let out = cms_verify(&tsa, &token.der);
    assert!(out.status.success(), "{}", out_text(&out));
}

#[test]
fn ecdsa_p384_token_verifies_with_openssl_ts() {
    let tsa = make_tsa(Suite::EcdsaP384);
    let (req, token, req_path, resp_path) = token_via_client(&tsa);
    check_structure(&tsa, &req, &token);
    let out = ts_verify(&tsa, &req_path, &resp_path);
    assert!(out.status.success(), "{}", out_text(&out));
}

/// `openssl ts -verify` (3.0) checks the signature with its PKCS7 code,
/// which does PKCS#1 v1.5 for any RSA key, so an RSASSA-PSS token fails
/// there ("RSA_padding_check_PKCS1_type_1: invalid padding ...
/// PKCS7_signatureVerify: signature failure"). `openssl cms -verify`
/// understands PSS and accepts the same token, chain and purpose included.
#[test]
fn rsa_pss_token_verifies_with_openssl_cms() {
    let tsa = make_tsa(Suite::RsaPss3072);
    let (req, token, req_path, resp_path) = token_via_client(&tsa);
    check_structure(&tsa, &req, &token);
    let out = cms_verify(&tsa, &token.der);
    assert!(out.status.success(), "{}", out_text(&out));
    let ts = ts_verify(&tsa, &req_path, &resp_path);
    eprintln!(
        "openssl ts -verify, RSA-PSS (expected to fail on 3.0): {}",
        out_text(&ts)
    );
}

/// Verifies the SignerInfo signature over the DER signed attributes with
/// `openssl pkeyutl` and the public key taken from the TSA certificate by
/// openssl, and the certificate chain with `openssl verify`.
fn openssl_check_signer(tsa: &TestTsa, signed: &[u8], sig: &[u8], extra: &[&str]) {
    let (attrs, sigf, pubf) = (
        tsa.path("attrs.der"),
        tsa.path("sig.bin"),
        tsa.path("pub.pem"),
    );
    std::fs::write(&attrs, signed).unwrap();
    std::fs::write(&sigf, sig).unwrap();
    let out = openssl(&[
        "x509",
        "-in",
        p(&tsa.cert_pem),
        "-pubkey",
        "-noout",
        "-out",
        p(&pubf),
    ]);
    assert!(out.status.success(), "{}", out_text(&out));
    let mut args = vec![
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        p(&pubf),
        "-rawin",
        "-in",
        p(&attrs),
        "-sigfile",
        p(&sigf),
    ];
    args.extend_from_slice(extra);
    let out = openssl(&args);
    assert!(out.status.success(), "{}", out_text(&out));
    assert!(out_text(&out).contains("Signature Verified Successfully"));
    // A flipped bit in the signed attributes must fail.
    let mut bad = signed.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    std::fs::write(&attrs, &bad).unwrap();
    assert!(!openssl(&args).status.success());

    let mut args = vec![
        "verify",
        "-CAfile",
        p(&tsa.root_pem),
        "-purpose",
        "timestampsign",
    ];
    if tsa.suite == Suite::Sm2 {
        args.extend(["-vfyopt", "distid:1234567812345678"]);
    }
    args.push(p(&tsa.cert_pem));
    let out = openssl(&args);
    assert!(out.status.success(), "{}", out_text(&out));
}

/// OpenSSL 3.0 has no Ed25519 in CMS at all: `openssl cms -sign` with an
/// Ed25519 key fails too ("eddsa_digest_signverify_init: invalid digest"),
/// and so do `cms -verify` and `ts -verify` on our token. The token is
/// checked with our decoder, its signature with `openssl pkeyutl`.
#[test]
fn ed25519_token_signature_verified_by_openssl_pkeyutl() {
    let tsa = make_tsa(Suite::Ed25519);
    let (req, token, _, _) = token_via_client(&tsa);
    let (signed, sig) = check_structure(&tsa, &req, &token);
    openssl_check_signer(&tsa, &signed, &sig, &[]);
}

/// OpenSSL 3.0 cannot verify an SM2 token: `ts -verify` and `cms -verify`
/// have no way to set the SM2 distinguishing id, so the TSA certificate's
/// SM2-with-SM3 signature already fails ("ts_verify_cert: certificate
/// verify error ... certificate signature failure"); with `cms -verify
/// -noverify` the SignerInfo check fails too ("CMS_SignerInfo_verify:
/// verification failure"), because OpenSSL's CMS computes Z without the
/// GM/T default id "1234567812345678". With the id given explicitly,
/// `openssl verify -vfyopt distid:...` accepts the chain and `openssl
/// pkeyutl -digest sm3 -pkeyopt distid:...` the token signature.
#[test]
fn sm2_token_signature_verified_by_openssl_pkeyutl() {
    let tsa = make_tsa(Suite::Sm2);
    let (req, token, _, _) = token_via_client(&tsa);
    let (signed, sig) = check_structure(&tsa, &req, &token);
    openssl_check_signer(
        &tsa,
        &signed,
        &sig,
        &["-digest", "sm3", "-pkeyopt", "distid:1234567812345678"],
    );
}

fn ml_dsa_token<P>(suite: Suite)
where
    P: ml_dsa::MlDsaParams + spki::AssociatedAlgorithmIdentifier<Params = der::AnyRef<'static>>,
{
    use ml_dsa::signature::Verifier;
    let tsa = make_tsa(suite);
    let (req, token, _, _) = token_via_client(&tsa);
    let (signed, sig) = check_structure(&tsa, &req, &token);
    // OpenSSL 3.0 has no ML-DSA: verify the signature over the signed
    // attributes with the ml-dsa crate and the TSA certificate's key.
    let leaf = Certificate::from_der(&tsa.leaf_der).unwrap();
    let spki = leaf
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    let vk = ml_dsa::VerifyingKey::<P>::try_from(
        spki::SubjectPublicKeyInfoRef::from_der(&spki).unwrap(),
    )
    .unwrap();
    let sig = ml_dsa::Signature::<P>::try_from(sig.as_slice()).unwrap();
    vk.verify(&signed, &sig).unwrap();
    let mut tampered = signed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(vk.verify(&tampered, &sig).is_err());
}

#[test]
fn ml_dsa_44_token_structure_and_signature() {
    ml_dsa_token::<ml_dsa::MlDsa44>(Suite::MlDsa44);
}

#[test]
fn ml_dsa_65_token_structure_and_signature() {
    ml_dsa_token::<ml_dsa::MlDsa65>(Suite::MlDsa65);
}

#[test]
fn ml_dsa_87_token_structure_and_signature() {
    ml_dsa_token::<ml_dsa::MlDsa87>(Suite::MlDsa87);
}

/// A query made by `openssl ts -query` answered by our server, the exact
/// response bytes verified by `openssl ts -verify`.
#[test]
fn openssl_query_answered_and_verified() {
    let tsa = make_tsa(Suite::EcdsaP256);
    let (server, _auth) = start(tsa.authority());
    let data = tsa.path("data.bin");
    std::fs::write(&data, b"firmware image bytes").unwrap();
    for (hash_flag, alg) in [
        ("-sha256", DigestAlg::Sha256),
        ("-sha512", DigestAlg::Sha512),
    ] {
        let query = tsa.path("q.tsq");
        let out = openssl(&[
            "ts",
            "-query",
            "-data",
            p(&data),
            hash_flag,
            "-cert",
            "-out",
            p(&query),
        ]);
        assert!(out.status.success(), "{}", out_text(&out));
        let q = std::fs::read(&query).unwrap();
        let parsed = TimeStampReq::from_der(&q).unwrap();
        assert_eq!(parsed.message_imprint.digest_alg(), Some(alg));
        let (code, ct, body) = post(&http_url(&server), "application/timestamp-query", q);
        assert_eq!(code, 200);
        assert_eq!(ct, "application/timestamp-reply");
        let resp = TimeStampResp::from_der(&body).unwrap();
        assert_eq!(resp.status.status, status::GRANTED, "{:?}", resp.status);
        let resp_path = tsa.path("r.tsr");
        std::fs::write(&resp_path, &body).unwrap();
        let out = ts_verify(&tsa, &query, &resp_path);
        assert!(out.status.success(), "{}", out_text(&out));
        // And against the data itself (openssl recomputes the imprint).
        let out = openssl(&[
            "ts",
            "-verify",
            "-in",
            p(&resp_path),
            "-data",
            p(&data),
            "-CAfile",
            p(&tsa.root_pem),
        ]);
        assert!(out.status.success(), "{}", out_text(&out));
    }
    // A query for a policy we do not offer is rejected; openssl prints it.
    let query = tsa.path("p.tsq");
    let out = openssl(&[
        "ts",
        "-query",
        "-data",
        p(&data),
        "-sha256",
        "-tspolicy",
        "1.2.3.4.99",
        "-out",
        p(&query),
    ]);
    assert!(out.status.success(), "{}", out_text(&out));
    let (code, _, body) = post(
        &http_url(&server),
        "application/timestamp-query",
        std::fs::read(&query).unwrap(),
    );
    assert_eq!(code, 200);
    let resp = TimeStampResp::from_der(&body).unwrap();
    assert_eq!(resp.status.status, status::REJECTION);
    assert_eq!(resp.status.failure_info(), FailureInfo::UNACCEPTED_POLICY);
    let resp_path = tsa.path("p.tsr");
    std::fs::write(&resp_path, &body).unwrap();
    let out = openssl(&["ts", "-reply", "-in", p(&resp_path), "-text"]);
    assert!(out.status.success(), "{}", out_text(&out));
    let text = out_text(&out);
    assert!(text.contains("Status: Rejected"), "{text}");
    assert!(text.contains("policy is not supported"), "{text}");
    server.shutdown();
}
