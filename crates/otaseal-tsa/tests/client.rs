//! Client behaviour against misbehaving servers (scripted on 127.0.0.1) and
//! against our server over HTTPS.

mod common;

use std::time::{Duration, Instant};

use common::*;
use otaseal_manifest::{DigestAlg, Suite};
use otaseal_tsa::protocol::{self, FailureInfo, oid};
use otaseal_tsa::server::ServerConfig;
use otaseal_tsa::{ClientError, TlsFiles, TsaClient, request_token};

fn sha256(data: &[u8]) -> Vec<u8> {
    protocol::hash(DigestAlg::Sha256, data)
}

#[test]
fn token_round_trip_and_policy() {
    let tsa = make_tsa(Suite::EcdsaP256);
    let (server, _auth) = start(tsa.authority());
    let url = http_url(&server);
    let token = request_token(
        &opts(std::slice::from_ref(&url)),
        DigestAlg::Sha256,
        &sha256(b"x"),
    )
    .unwrap();
    assert_eq!(token.tsa_url, url);
    assert_eq!(token.policy, oid::EXAMPLE_POLICY);
    assert_eq!(token.serial.len(), 16);

    // Asking for our policy works; another policy is rejected.
    let mut o = opts(std::slice::from_ref(&url));
    o.policy = Some(oid::EXAMPLE_POLICY);
    request_token(
        &o,
        DigestAlg::Sha384,
        &protocol::hash(DigestAlg::Sha384, b"x"),
    )
    .unwrap();
    o.policy = Some(der::asn1::ObjectIdentifier::new_unwrap("1.2.3.4.2"));
    match request_token(&o, DigestAlg::Sha256, &sha256(b"x")) {
        Err(ClientError::Rejected {
            url: u,
            status: 2,
            fail_info,
            text,
        }) => {
            assert_eq!(u, url);
            assert_eq!(fail_info, FailureInfo::UNACCEPTED_POLICY);
            assert!(text.contains("1.2.3.4.2"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    // SM3 imprints are accepted.
    request_token(
        &opts(std::slice::from_ref(&url)),
        DigestAlg::Sm3,
        &protocol::hash(DigestAlg::Sm3, b"x"),
    )
    .unwrap();
    // A hash of the wrong length never leaves the client.
    assert!(matches!(
        request_token(&opts(&[url]), DigestAlg::Sha512, &sha256(b"x")),
        Err(ClientError::Config(_))
    ));
    server.shutdown();
}

/// A server that replays an earlier (valid, signed) response: the nonce
/// differs from the new request's, so the client refuses the token; with
/// the imprint of another request it is an imprint mismatch.
#[test]
fn replayed_response_is_a_nonce_mismatch() {
    let tsa = make_tsa(Suite::EcdsaP256);
    let (server, auth) = start(tsa.authority());
    let client = TsaClient::new(opts(&[http_url(&server)])).unwrap();
    let hash = sha256(b"replayed");
    let req = client.build_request(DigestAlg::Sha256, &hash).unwrap();
    let old_response = auth.respond(&der::Encode::to_der(&req).unwrap());
    server.shutdown();

    let replay = ScriptedServer::start(Script::Reply(old_response.clone()));
    let err = request_token(&opts(&[replay.url()]), DigestAlg::Sha256, &hash).unwrap_err();
    assert_eq!(err, ClientError::NonceMismatch { url: replay.url() });
    let err =
        request_token(&opts(&[replay.url()]), DigestAlg::Sha256, &sha256(b"other")).unwrap_err();
    assert_eq!(err, ClientError::ImprintMismatch { url: replay.url() });
    // The original request (same nonce) accepts it: the check is the nonce.
    let c = TsaClient::new(opts(&[replay.url()])).unwrap();
    c.send(&req).unwrap();
}

#[test]
fn garbage_answer() {
    let junk = ScriptedServer::start(Script::Reply(b"<html>hello</html>".to_vec()));
    match request_token(&opts(&[junk.url()]), DigestAlg::Sha256, &sha256(b"g")) {
        Err(ClientError::Garbage { url, .. }) => assert_eq!(url, junk.url()),
        other => panic!("{other:?}"),
    }
    // Not retried: garbage is final for the URL.
    let mut o = opts(&[junk.url()]);
    o.retries = 3;
    let before = junk.hits();
    assert!(request_token(&o, DigestAlg::Sha256, &sha256(b"g")).is_err());
    assert_eq!(junk.hits() - before, 1);
}

/// A server that accepts the connection and never answers: each attempt
/// ends at the timeout, the URL is retried with backoff, then the client
/// fails over to the second, good URL.
#[test]
fn hanging_server_times_out_then_fails_over() {
    let tsa = make_tsa(Suite::EcdsaP256);
    let (server, _auth) = start(tsa.authority());
    let hang = ScriptedServer::start(Script::Hang);
    let mut o = opts(&[hang.url(), http_url(&server)]);
    o.timeout = Duration::from_secs(1);
    o.retries = 1;
    o.backoff_initial = Duration::from_millis(100);
    let t0 = Instant::now();
    let token = request_token(&o, DigestAlg::Sha256, &sha256(b"h")).unwrap();
    let took = t0.elapsed();
    assert_eq!(token.tsa_url, http_url(&server));
    assert_eq!(hang.hits(), 2, "one attempt and one retry");
    // 2 x 1 s timeouts + 0.1 s backoff, and not much more.
    assert!(took >= Duration::from_millis(2100), "{took:?}");
    assert!(took < Duration::from_secs(6), "{took:?}");

    // Alone, the hanging URL is a Timeout naming it.
    let mut o = opts(&[hang.url()]);
    o.timeout = Duration::from_millis(500);
    let t0 = Instant::now();
    let err = request_token(&o, DigestAlg::Sha256, &sha256(b"h")).unwrap_err();
    assert_eq!(err, ClientError::Timeout { url: hang.url() });
    assert!(t0.elapsed() < Duration::from_secs(3));
    server.shutdown();
}

#[test]
fn http_errors_retry_and_fail_over() {
    let e503 = ScriptedServer::start(Script::Status(503));
    let e404 = ScriptedServer::start(Script::Status(404));
    // A closed port: connection refused.
    let closed = {
        let l = listener();
        format!("http://{}/", l.local_addr().unwrap())
    };
    let mut o = opts(&[e503.url(), e404.url(), closed.clone()]);
    o.retries = 2;
    o.backoff_initial = Duration::from_millis(20);
    match request_token(&o, DigestAlg::Sha256, &sha256(b"e")).unwrap_err() {
        ClientError::AllFailed(errs) => {
            assert_eq!(errs.len(), 3);
            assert_eq!(
                errs[0],
                ClientError::Http {
                    url: e503.url(),
                    status: 503
                }
            );
            assert_eq!(
                errs[1],
                ClientError::Http {
                    url: e404.url(),
                    status: 404
                }
            );
            assert!(
                matches!(&errs[2], ClientError::Connect { url, .. } if *url == closed),
                "{:?}",
                errs[2]
            );
            let text = ClientError::AllFailed(errs).to_string();
            assert!(text.contains(&e503.url()) && text.contains("503"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e503.hits(), 3, "5xx is retried");
    assert_eq!(e404.hits(), 1, "4xx is final for the URL");
}

/// HTTPS to our server with a test CA. The server certificate carries an IP
/// subjectAltName 127.0.0.1 (signed by a `pki` root, see common/mod.rs),
/// since webpki never matches the CN. The certificate `pki` can make
/// (`LeafWithEku(serverAuth)`, CN=127.0.0.1, no SAN) is refused.
#[test]
fn https_with_extra_root() {
    let tsa = make_tsa(Suite::EcdsaP256);
    let tls_ca = make_tsa(Suite::EcdsaP256); // its root signs the TLS certificate
    let (tls_key, tls_cert) = tls_server_cert_with_ip_san(&tls_ca.root_key, &tls_ca.root_der);
    let cert_pem = tsa.path("tls.cert.pem");
    let key_pem = tsa.path("tls.key.pem");
    std::fs::write(&cert_pem, otaseal_sign::pki::certs_to_pem(&[tls_cert])).unwrap();
    tls_key.write_private_pem(&key_pem).unwrap();
    let files = TlsFiles {
        cert_chain_pem: cert_pem,
        key_pem,
    };
    let (server, _auth) = start_with(tsa.authority(), Some(&files), ServerConfig::default());
    let url = format!("https://{}/", server.local_addr());

    let mut o = opts(std::slice::from_ref(&url));
    o.extra_roots_pem = Some(tls_ca.root_pem.clone());
    let token = request_token(&o, DigestAlg::Sha256, &sha256(b"tls")).unwrap();
    assert_eq!(token.tsa_url, url);

    // Without the extra root the platform verifier refuses the server.
    let err = request_token(
        &opts(std::slice::from_ref(&url)),
        DigestAlg::Sha256,
        &sha256(b"tls"),
    )
    .unwrap_err();
    match &err {
        ClientError::Connect { reason, .. } => {
            eprintln!("no extra root: {reason}");
            assert!(reason.to_lowercase().contains("certificate"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // Plain HTTP to the HTTPS port fails cleanly too.
    let plain = format!("http://{}/", server.local_addr());
    assert!(request_token(&opts(&[plain]), DigestAlg::Sha256, &sha256(b"tls")).is_err());
    server.shutdown();

    // A SAN-less certificate from otaseal_sign::pki is not valid for 127.0.0.1.
    let key = otaseal_sign::keys::SigningKey::generate(Suite::EcdsaP256).unwrap();
    let cert = otaseal_sign::pki::issue_certificate(&otaseal_sign::pki::CertRequest {
        subject_cn: "127.0.0.1",
        profile: otaseal_sign::pki::CertProfile::LeafWithEku(vec![ID_KP_SERVER_AUTH]),
        not_before: now() - 300,
        not_after: now() + 3600,
        subject_key: &key,
        issuer: Some((&tls_ca.root_key, &tls_ca.root_der)),
        serial: None,
    })
    .unwrap();
    let files = TlsFiles {
        cert_chain_pem: tsa.path("nosan.cert.pem"),
        key_pem: tsa.path("nosan.key.pem"),
    };
    std::fs::write(
        &files.cert_chain_pem,
        otaseal_sign::pki::certs_to_pem(&[cert]),
    )
    .unwrap();
    key.write_private_pem(&files.key_pem).unwrap();
    let tsa2 = make_tsa(Suite::EcdsaP256);
    let (server, _auth) = start_with(tsa2.authority(), Some(&files), ServerConfig::default());
    let url = format!("https://{}/", server.local_addr());
    let mut o = opts(std::slice::from_ref(&url));
    o.extra_roots_pem = Some(tls_ca.root_pem.clone());
    match request_token(&o, DigestAlg::Sha256, &sha256(b"tls")).unwrap_err() {
        ClientError::Connect { reason, .. } => {
            eprintln!("no SAN: {reason}");
            assert!(reason.to_lowercase().contains("certificate"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    server.shutdown();
}
