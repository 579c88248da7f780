//! Server robustness: HTTP errors, rejection statuses for bad requests,
//! concurrency, serial uniqueness across restarts, slow clients.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use der::Encode;
use der::asn1::{Any, Int, ObjectIdentifier, OctetString};
use otaseal_manifest::{DigestAlg, Suite};
use otaseal_tsa::protocol::{
    self, FailureInfo, MessageImprint, TimeStampReq, TimeStampResp, oid, status,
};
use otaseal_tsa::{AuthorityError, SerialError, ServerConfig, TsaClient};
use spki::AlgorithmIdentifierOwned;

const QUERY: &str = "application/timestamp-query";

fn good_request() -> TimeStampReq {
    TimeStampReq {
        version: 1,
        message_imprint: MessageImprint::new(DigestAlg::Sha256, &[0x5a; 32]).unwrap(),
        req_policy: None,
        nonce: Some(Int::new(&[0x12, 0x34]).unwrap()),
        cert_req: false,
        extensions: None,
    }
}

/// POSTs `body` and decodes the TimeStampResp (HTTP 200 required).
fn ask(url: &str, body: Vec<u8>) -> TimeStampResp {
    let (code, ct, body) = post(url, QUERY, body);
    assert_eq!(code, 200);
    assert_eq!(ct, "application/timestamp-reply");
    der::Decode::from_der(&body).expect("a DER TimeStampResp")
}

fn assert_rejected(resp: &TimeStampResp, fail: FailureInfo) {
    assert_eq!(resp.status.status, status::REJECTION, "{:?}", resp.status);
    assert_eq!(resp.status.failure_info(), fail, "{}", resp.status.text());
    assert!(resp.time_stamp_token.is_none());
    assert!(!resp.status.text().is_empty());
}

/// Sends `head` then `body` (write errors ignored: the server may answer
/// and close early) and reads the answer until EOF or 5 s.
fn raw_exchange(addr: std::net::SocketAddr, head: &[u8], body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(head);
    let _ = s.write_all(body);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[test]
fn http_method_type_and_size() {
    let tsa = make_tsa(Suite::EcdsaP256);
    let (server, _auth) = start(tsa.authority());
    let url = http_url(&server);
    let c = raw_client();

    let r = c.get(&url).send().unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    let r = c
        .put(&url)
        .header("content-type", QUERY)
        .body(good_request().to_der().unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);

    let der = good_request().to_der().unwrap();
    assert_eq!(post(&url, "text/plain", der.clone()).0, 415);
    assert_eq!(
        post(&url, "application/timestamp-reply", der.clone()).0,
        415
    );
    let r = c.post(&url).body(der.clone()).send().unwrap();
    assert_eq!(r.status().as_u16(), 415, "no content type");
    // Media type parameters and case are tolerated.
    let resp = ask(&url, der.clone());
    assert_eq!(resp.status.status, status::GRANTED);
    let (code, _, _) = post(&url, "Application/TimeStamp-Query; charset=binary", der);
    assert_eq!(code, 200);

    // Declared too large: 413 at once, without waiting for the body (none
    // is sent here).
    let t0 = Instant::now();
    let head = format!(
        "POST /tsa HTTP/1.1\r\nHost: x\r\nContent-Type: {QUERY}\r\nContent-Length: {}\r\n\r\n",
        64 * 1024 + 1
    );
    let answer = raw_exchange(server.local_addr(), head.as_bytes(), &[]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(t0.elapsed() < Duration::from_secs(2));
    // Chunked (no Content-Length) and too large: 413 once 64 KiB are read.
    // (Raw TCP: reqwest aborts the send when the server answers early.)
    let head = format!(
        "POST /tsa HTTP/1.1\r\nHost: x\r\nContent-Type: {QUERY}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let mut chunks = Vec::new();
    for _ in 0..12 {
        chunks.extend_from_slice(b"2000\r\n");
        chunks.extend_from_slice(&[0x30u8; 0x2000]);
        chunks.extend_from_slice(b"\r\n");
    }
    chunks.extend_from_slice(b"0\r\n\r\n");
    let answer = raw_exchange(server.local_addr(), head.as_bytes(), &chunks);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Exactly 64 KiB of junk is read and rejected as a bad request body.
    assert_rejected(
        &ask(&url, vec![0xffu8; 64 * 1024]),
        FailureInfo::BAD_DATA_FORMAT,
    );
    server.shutdown();
}

#[test]
fn bad_requests_get_rejection_statuses() {
    let tsa = make_tsa(Suite::EcdsaP256);
    let (server, _auth) = start(tsa.authority());
    let url = http_url(&server);
    let imprint = |oid: &str, len: usize, params: Option<Any>| MessageImprint {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap(oid),
            parameters: params,
        },
        hashed_message: OctetString::new(vec![1u8; len]).unwrap(),
    };
    let with = |f: &dyn Fn(&mut TimeStampReq)| {
        let mut r = good_request();
        f(&mut r);
        r.to_der().unwrap()
    };

    for body in [
        Vec::new(),
        b"garbage".to_vec(),
        vec![0x30, 0x80, 0x00, 0x00], // BER indefinite length
        {
            let mut d = good_request().to_der().unwrap();
            d.push(0); // trailing byte
            d
        },
        with(&|r| r.version = 2),
        with(&|r| r.message_imprint.hashed_message = OctetString::new(vec![1u8; 31]).unwrap()),
        with(&|r| r.message_imprint = imprint("2.16.840.1.101.3.4.2.3", 32, None)),
        with(&|r| r.message_imprint = imprint("1.2.156.10197.1.401", 64, None)),
    ] {
        assert_rejected(&ask(&url, body), FailureInfo::BAD_DATA_FORMAT);
    }
    for body in [
        with(&|r| r.message_imprint = imprint("1.3.14.3.2.26", 20, None)), // SHA-1
        with(&|r| r.message_imprint = imprint("1.2.840.113549.2.5", 16, None)), // MD5
        // SHA-256 with parameters other than absent or NULL.
        with(&|r| {
            let params = Some(Any::encode_from(&oid::SHA256).unwrap());
            r.message_imprint = imprint("2.16.840.1.101.3.4.2.1", 32, params);
        }),
    ] {
        assert_rejected(&ask(&url, body), FailureInfo::BAD_ALG);
    }
    // NULL parameters (as openssl sends) are accepted.
    let body = with(&|r| {
        r.message_imprint.hash_algorithm.parameters =
            Some(Any::encode_from(&der::asn1::Null).unwrap())
    });
    assert_eq!(ask(&url, body).status.status, status::GRANTED);

    let body = with(&|r| r.req_policy = Some(ObjectIdentifier::new_unwrap("1.2.3.4.5.6")));
    assert_rejected(&ask(&url, body), FailureInfo::UNACCEPTED_POLICY);
    let body = with(&|r| r.req_policy = Some(oid::EXAMPLE_POLICY));
    assert_eq!(ask(&url, body).status.status, status::GRANTED);

    let body = with(&|r| {
        let ext = x509_cert::ext::Extension {
            extn_id: ObjectIdentifier::new_unwrap("1.2.3.4.7"),
            critical: false,
            extn_value: OctetString::new(vec![5]).unwrap(),
        };
        r.extensions = Some(vec![ext]);
    });
    assert_rejected(&ask(&url, body), FailureInfo::UNACCEPTED_EXTENSION);

    // The server is still fine afterwards.
    let token = otaseal_tsa::request_token(
        &opts(&[url]),
        DigestAlg::Sha256,
        &protocol::hash(DigestAlg::Sha256, b"after"),
    );
    assert!(token.is_ok());
    server.shutdown();
}

#[test]
fn concurrent_requests_get_distinct_serials_across_restart() {
    let tsa = make_tsa(Suite::EcdsaP256);
    let (server, auth) = start(tsa.authority());
    let client = Arc::new(TsaClient::new(opts(&[http_url(&server)])).unwrap());
    let serials: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50u8)
            .map(|i| {
                let client = Arc::clone(&client);
                s.spawn(move || {
                    let hash = protocol::hash(DigestAlg::Sha256, &[i]);
                    client.request(DigestAlg::Sha256, &hash).unwrap().serial
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut seen: HashSet<Vec<u8>> = serials.iter().cloned().collect();
    assert_eq!(seen.len(), 50, "serials must be distinct");

    // The store is locked while the authority lives.
    assert!(matches!(
        otaseal_tsa::SerialStore::open(&tsa.store),
        Err(SerialError::Locked(_))
    ));
    server.shutdown();
    drop(auth);
    drop(client);

    // Restart on the same store: new serials, none reused, same prefix.
    let (server, _auth) = start(tsa.authority());
    let client = TsaClient::new(opts(&[http_url(&server)])).unwrap();
    for i in 0..5u8 {
        let hash = protocol::hash(DigestAlg::Sha256, &[100 + i]);
        let serial = client.request(DigestAlg::Sha256, &hash).unwrap().serial;
        assert_eq!(serial[..8], serials[0][..8]);
        assert!(seen.insert(serial), "serial reused after restart");
    }
    server.shutdown();
}

#[test]
fn authority_refuses_unsuitable_certificates() {
    let tsa = make_tsa(Suite::EcdsaP256);
    let key = || otaseal_sign::keys::SigningKey::load(&tsa.key_pem).unwrap();
    let store = || otaseal_tsa::SerialStore::open(&tsa.path("s2")).unwrap();
    // The root (no timeStamping EKU) as the TSA certificate.
    let err = otaseal_tsa::Authority::new(
        key(),
        vec![tsa.root_der.clone()],
        oid::EXAMPLE_POLICY,
        store(),
    )
    .unwrap_err();
    assert!(matches!(err, AuthorityError::Certificate(_)), "{err}");
    // Another key than the certificate's.
    let other = otaseal_sign::keys::SigningKey::generate(Suite::EcdsaP256).unwrap();
    let err = otaseal_tsa::Authority::new(
        other,
        vec![tsa.leaf_der.clone()],
        oid::EXAMPLE_POLICY,
        store(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("public key"), "{err}");
    // From files works.
    otaseal_tsa::Authority::from_files(
        &tsa.key_pem,
        &tsa.cert_pem,
        oid::EXAMPLE_POLICY,
        &tsa.path("s3"),
    )
    .unwrap();
}

/// Slow clients: connections that send a partial header (slowloris) or a
/// partial body do not keep others from being served, and are cut off
/// after the header / body timeouts.
#[test]
fn slow_clients_do_not_block_others() {
    let tsa = make_tsa(Suite::EcdsaP256);
    let config = ServerConfig {
        header_timeout: Duration::from_secs(3),
        body_timeout: Duration::from_secs(3),
        ..ServerConfig::default()
    };
    let (server, _auth) = start_with(tsa.authority(), None, config);
    let addr = server.local_addr();

    let mut slow_headers: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: applic")
                .unwrap();
            s
        })
        .collect();
    let mut slow_body = TcpStream::connect(addr).unwrap();
    slow_body
        .write_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/timestamp-query\r\nContent-Length: 100\r\n\r\n0123456789",
        )
        .unwrap();

    // Meanwhile a normal client is served at once.
    let t0 = Instant::now();
    let client = TsaClient::new(opts(&[http_url(&server)])).unwrap();
    for i in 0..3u8 {
        client
            .request(DigestAlg::Sha256, &protocol::hash(DigestAlg::Sha256, &[i]))
            .unwrap();
    }
    assert!(
        t0.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t0.elapsed()
    );

    // Trickling one byte every 300 ms does not extend the header deadline.
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(300));
        for s in &mut slow_headers {
            let _ = s.write_all(b"a");
        }
    }
    // Every slow connection is answered (408) or closed by the server soon
    // after its timeout: read until EOF, bounded by a client-side timeout.
    let read_all = |s: &mut TcpStream| -> (Duration, Vec<u8>) {
        s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
        let mut buf = Vec::new();
        let r = s.read_to_end(&mut buf);
        assert!(
            r.is_ok() || r.as_ref().unwrap_err().kind() == std::io::ErrorKind::ConnectionReset,
            "server did not close the slow connection: {r:?}"
        );
        (t0.elapsed(), buf)
    };
    let (when, buf) = read_all(&mut slow_body);
    assert!(when < Duration::from_secs(7), "{when:?}");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    for s in &mut slow_headers {
        let (when, _) = read_all(s);
        assert!(when < Duration::from_secs(7), "{when:?}");
    }
    server.shutdown();
}
