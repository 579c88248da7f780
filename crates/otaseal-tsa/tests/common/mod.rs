//! Shared test helpers: a throwaway TSA PKI made with `otaseal_sign::pki`,
//! a running server on 127.0.0.1, openssl, and a tiny scripted HTTP server
//! for client failure cases. Every loop is bounded and all traffic stays on
//! 127.0.0.1.
#![allow(dead_code)]

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use der::{Decode, Encode};
use otaseal_manifest::Suite;
use otaseal_sign::keys::SigningKey;
use otaseal_sign::pki::{self, CertProfile, CertRequest};
use otaseal_tsa::protocol::oid;
use otaseal_tsa::{Authority, ClientOptions, SerialStore, Server, ServerConfig, TlsFiles};
use tempfile::TempDir;

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A TSA root and a TSA leaf (TimeStampingLeaf) of one suite, on disk.
pub struct TestTsa {
    pub dir: TempDir,
    pub suite: Suite,
    pub root_key: SigningKey,
    pub root_der: Vec<u8>,
    pub leaf_der: Vec<u8>,
    /// `tsa-root.pem`
    pub root_pem: PathBuf,
    /// `tsa-cert.pem` (leaf only)
    pub cert_pem: PathBuf,
    /// `tsa.key.pem`
    pub key_pem: PathBuf,
    /// `serials`
    pub store: PathBuf,
}

pub fn make_tsa(suite: Suite) -> TestTsa {
    let dir = tempfile::tempdir().unwrap();
    let t = now();
    let root_key = SigningKey::generate(suite).unwrap();
    let root_der = pki::issue_certificate(&CertRequest {
        subject_cn: "otaseal test TSA root",
        profile: CertProfile::Root,
        not_before: t - 300,
        not_after: t + 86_400,
        subject_key: &root_key,
        issuer: None,
        serial: None,
    })
    .unwrap();
    let key = SigningKey::generate(suite).unwrap();
    let leaf_der = pki::issue_certificate(&CertRequest {
        subject_cn: "otaseal test TSA",
        profile: CertProfile::TimeStampingLeaf,
        not_before: t - 300,
        not_after: t + 86_400,
        subject_key: &key,
        issuer: Some((&root_key, &root_der)),
        serial: None,
    })
    .unwrap();
    let root_pem = dir.path().join("tsa-root.pem");
    let cert_pem = dir.path().join("tsa-cert.pem");
    let key_pem = dir.path().join("tsa.key.pem");
    std::fs::write(
        &root_pem,
        pki::certs_to_pem(std::slice::from_ref(&root_der)),
    )
    .unwrap();
    std::fs::write(
        &cert_pem,
        pki::certs_to_pem(std::slice::from_ref(&leaf_der)),
    )
    .unwrap();
    key.write_private_pem(&key_pem).unwrap();
    let store = dir.path().join("serials");
    TestTsa {
        dir,
        suite,
        root_key,
        root_der,
        leaf_der,
        root_pem,
        cert_pem,
        key_pem,
        store,
    }
}

impl TestTsa {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An authority on this TSA's key, chain [leaf, root] and serial store.
    pub fn authority(&self) -> Authority {
        let key = SigningKey::load(&self.key_pem).unwrap();
        Authority::new(
            key,
            vec![self.leaf_der.clone(), self.root_der.clone()],
            oid::EXAMPLE_POLICY,
            SerialStore::open(&self.store).unwrap(),
        )
        .unwrap()
    }
}

pub fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

pub fn start(authority: Authority) -> (Server, Arc<Authority>) {
    start_with(authority, None, ServerConfig::default())
}

pub fn start_with(
    authority: Authority,
    tls: Option<&TlsFiles>,
    config: ServerConfig,
) -> (Server, Arc<Authority>) {
    let authority = Arc::new(authority);
    let server = Server::start(listener(), Arc::clone(&authority), tls, config).unwrap();
    (server, authority)
}

pub fn http_url(server: &Server) -> String {
    format!("http://{}/tsa", server.local_addr())
}

/// Client options for tests: short timeouts, no proxies from the
/// environment.
pub fn opts(urls: &[String]) -> ClientOptions {
    let mut o = ClientOptions::new(urls.iter().cloned());
    o.timeout = Duration::from_secs(5);
    o.retries = 0;
    o.backoff_initial = Duration::from_millis(50);
    o.use_env_proxy = false;
    o
}

/// A plain reqwest client for raw HTTP tests.
pub fn raw_client() -> reqwest::blocking::Client {
    otaseal_tsa::client::install_crypto_provider();
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// POSTs `body` with `content_type`; returns (status, content type, body).
pub fn post(url: &str, content_type: &str, body: Vec<u8>) -> (u16, String, Vec<u8>) {
    let resp = raw_client()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, resp.bytes().unwrap().to_vec())
}

pub fn openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl must be installed")
}

pub fn out_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// What the scripted server does with each connection.
#[derive(Clone)]
pub enum Script {
    /// Answer 200 `application/timestamp-reply` with this body.
    Reply(Vec<u8>),
    /// Answer with this HTTP status and an empty body.
    Status(u16),
    /// Read the request, then never answer (until the server stops).
    Hang,
}

/// A minimal HTTP/1.1 server on 127.0.0.1 that follows a [`Script`] for
/// every connection. It stops when dropped; each connection thread lives at
/// most 30 s.
pub struct ScriptedServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    pub hits: Arc<std::sync::atomic::AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    pub fn start(script: Script) -> ScriptedServer {
        let listener = listener();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (stop2, hits2) = (Arc::clone(&stop), Arc::clone(&hits));
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut conns = Vec::new();
            while !stop2.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        hits2.fetch_add(1, Ordering::SeqCst);
                        let script = script.clone();
                        let stop3 = Arc::clone(&stop2);
                        conns.push(std::thread::spawn(move || serve_one(stream, script, stop3)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        ScriptedServer {
            addr,
            stop,
            hits,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(mut stream: TcpStream, script: Script, stop: Arc<AtomicBool>) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // Read headers, then Content-Length bytes of body.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 1 << 20 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + len {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    match script {
        Script::Reply(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
        Script::Status(code) => {
            let head = format!(
                "HTTP/1.1 {code} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes());
        }
        Script::Hang => {
            let until = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

// ---- A TLS server certificate with an IP SAN ----------------------------
//
// `otaseal_sign::pki` has no subjectAltName support, and webpki (rustls)
// matches names only against the SAN, never the CN. The HTTPS test therefore
// signs its server certificate here, with x509-cert's builder and an
// otaseal `SigningKey` as the issuer (the CA itself comes from `pki`).

use signature::{Keypair, Signer};
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SignatureBitStringEncoding, SubjectPublicKeyInfoOwned,
};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::{Certificate, TbsCertificate};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

struct IssuerSigner<'a> {
    key: &'a SigningKey,
    _err: RefCell<()>,
}

#[derive(Clone)]
struct Spki(Vec<u8>);

impl EncodePublicKey for Spki {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        Ok(der::Document::from_der(&self.0)?)
    }
}

struct RawSig(Vec<u8>);

impl SignatureBitStringEncoding for RawSig {
    fn to_bitstring(&self) -> der::Result<der::asn1::BitString> {
        der::asn1::BitString::from_bytes(&self.0)
    }
}

impl Keypair for IssuerSigner<'_> {
    type VerifyingKey = Spki;
    fn verifying_key(&self) -> Spki {
        Spki(self.key.public_spki_der())
    }
}

impl DynSignatureAlgorithmIdentifier for IssuerSigner<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(AlgorithmIdentifierOwned::from_der(
            &self.key.x509_algorithm_id(),
        )?)
    }
}

impl Signer<RawSig> for IssuerSigner<'_> {
    fn try_sign(&self, msg: &[u8]) -> Result<RawSig, signature::Error> {
        self.key
            .sign_x509(msg)
            .map(|(s, _)| RawSig(s))
            .map_err(|_| signature::Error::new())
    }
}

struct ServerProfile {
    subject: Name,
    issuer: Name,
    exts: Vec<Extension>,
}

impl BuilderProfile for ServerProfile {
    fn get_issuer(&self, _: &Name) -> Name {
        self.issuer.clone()
    }
    fn get_subject(&self) -> Name {
        self.subject.clone()
    }
    fn build_extensions(
        &self,
        _: spki::SubjectPublicKeyInfoRef<'_>,
        _: spki::SubjectPublicKeyInfoRef<'_>,
        _: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(self.exts.clone())
    }
}

pub const ID_KP_SERVER_AUTH: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");

/// A P-256 TLS server certificate for 127.0.0.1 (IP SAN, serverAuth EKU)
/// issued by `ca_key` / `ca_der`. Returns (key, certificate DER).
pub fn tls_server_cert_with_ip_san(ca_key: &SigningKey, ca_der: &[u8]) -> (SigningKey, Vec<u8>) {
    let key = SigningKey::generate(Suite::EcdsaP256).unwrap();
    let ca = Certificate::from_der(ca_der).unwrap();
    // Subject: reuse the pki-made leaf's name shape by issuing a throwaway
    // leaf and taking its subject.
    let throwaway = pki::issue_certificate(&CertRequest {
        subject_cn: "127.0.0.1",
        profile: CertProfile::LeafWithEku(vec![ID_KP_SERVER_AUTH]),
        not_before: now() - 300,
        not_after: now() + 86_400,
        subject_key: &key,
        issuer: Some((ca_key, ca_der)),
        serial: None,
    })
    .unwrap();
    let subject = Certificate::from_der(&throwaway)
        .unwrap()
        .tbs_certificate()
        .subject()
        .clone();
    let mut exts = Vec::new();
    let bc = BasicConstraints {
        ca: false,
        path_len_constraint: None,
    };
    exts.push((true, &bc).to_extension(&subject, &[]).unwrap());
    let ku = KeyUsage(KeyUsages::DigitalSignature.into());
    exts.push((true, &ku).to_extension(&subject, &[]).unwrap());
    let eku = ExtendedKeyUsage(vec![ID_KP_SERVER_AUTH]);
    exts.push((false, &eku).to_extension(&subject, &[]).unwrap());
    let san = SubjectAltName(vec![GeneralName::IpAddress(
        der::asn1::OctetString::new([127u8, 0, 0, 1]).unwrap(),
    )]);
    exts.push((false, &san).to_extension(&subject, &[]).unwrap());
    let profile = ServerProfile {
        subject,
        issuer: ca.tbs_certificate().subject().clone(),
        exts,
    };
    let spki = SubjectPublicKeyInfoOwned::from_der(&key.public_spki_der()).unwrap();
    let validity = Validity::from_now(Duration::from_secs(86_400)).unwrap();
    let serial = SerialNumber::new(&[0x42, 1, 2, 3, 4, 5, 6, 7]).unwrap();
    let builder = CertificateBuilder::new(profile, serial, validity, spki).unwrap();
    let signer = IssuerSigner {
        key: ca_key,
        _err: RefCell::new(()),
    };
    let cert = builder.build::<_, RawSig>(&signer).unwrap();
    (key, cert.to_der().unwrap())
}
