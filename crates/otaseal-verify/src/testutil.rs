//! Test-only scaffolding shared by the unit tests of several modules: DER
//! builders, signing keys for every suite, an `openssl` scratch directory and
//! certificate authority, and the child-process stack probe.
#![allow(dead_code)] // parts are used only by feature-gated tests

extern crate std;

use std::path::PathBuf;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use otaseal_manifest::Suite;

use crate::crypto::{
    OID_EC_PUBLIC_KEY, OID_ED25519, OID_ML_DSA_44, OID_ML_DSA_65, OID_ML_DSA_87, OID_P256,
    OID_P384, OID_SM2P256V1, SM2_DEFAULT_DISTID,
};

// ----------------------------------------------------------------------
// DER builders and test keys.
// ----------------------------------------------------------------------

/// One DER TLV with a definite length.
pub(crate) fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

/// Concatenation helper.
pub(crate) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A DER SubjectPublicKeyInfo from AlgorithmIdentifier contents and key bytes.
pub(crate) fn spki(alg_id: &[u8], key: &[u8]) -> Vec<u8> {
    let mut bits = vec![0u8];
    bits.extend_from_slice(key);
    tlv(0x30, &cat(&[&tlv(0x30, alg_id), &tlv(0x03, &bits)]))
}

/// AlgorithmIdentifier contents for id-ecPublicKey with a named curve.
pub(crate) fn ec_alg(curve: &[u8]) -> Vec<u8> {
    cat(&[&tlv(0x06, OID_EC_PUBLIC_KEY), &tlv(0x06, curve)])
}

/// DER SEQUENCE { r, s } from fixed-width halves (as signers emit for X.509).
pub(crate) fn raw_sig_to_der(raw: &[u8]) -> Vec<u8> {
    let (r, s) = raw.split_at(raw.len() / 2);
    let int = |v: &[u8]| {
        let v = &v[v.iter().take_while(|b| **b == 0).count()..];
        let mut c = Vec::new();
        if v.is_empty() || v[0] & 0x80 != 0 {
            c.push(0);
        }
        c.extend_from_slice(v);
        tlv(0x02, &c)
    };
    tlv(0x30, &cat(&[&int(r), &int(s)]))
}

/// Signs a message with a test key.
type SignFn = std::boxed::Box<dyn Fn(&[u8]) -> Vec<u8>>;

pub(crate) struct TestKey {
    pub(crate) suite: Suite,
    pub(crate) spki: Vec<u8>,
    sign: SignFn,
}

impl TestKey {
    pub(crate) fn sign(&self, msg: &[u8]) -> Vec<u8> {
        (self.sign)(msg)
    }

    /// A key whose signatures come from `sign`.
    pub(crate) fn from_fn(
        suite: Suite,
        spki: Vec<u8>,
        sign: impl Fn(&[u8]) -> Vec<u8> + 'static,
    ) -> TestKey {
        TestKey {
            suite,
            spki,
            sign: std::boxed::Box::new(sign),
        }
    }
}

/// An ECDSA key from curve crate `$curve` with every scalar byte `$seed`.
macro_rules! ecdsa_key {
    ($curve:ident, $seed:expr, $len:expr, $suite:expr, $oid:expr) => {{
        use signature::Signer;
        let sk = $curve::ecdsa::SigningKey::from_slice(&[$seed; $len]).unwrap();
        let point = sk.verifying_key().to_sec1_point(false);
        TestKey {
            suite: $suite,
            spki: spki(&ec_alg($oid), point.as_bytes()),
            sign: std::boxed::Box::new(move |m| {
                let s: $curve::ecdsa::Signature = sk.sign(m);
                s.normalize_s().to_bytes().to_vec()
            }),
        }
    }};
}

pub(crate) fn p256_key(seed: u8) -> TestKey {
    ecdsa_key!(p256, seed, 32, Suite::EcdsaP256, OID_P256)
}

pub(crate) fn p384_key(seed: u8) -> TestKey {
    ecdsa_key!(p384, seed, 48, Suite::EcdsaP384, OID_P384)
}

pub(crate) fn ed25519_key(seed: u8) -> TestKey {
    use signature::Signer;
    let sk = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    TestKey {
        suite: Suite::Ed25519,
        spki: spki(&tlv(0x06, OID_ED25519), sk.verifying_key().as_bytes()),
        sign: std::boxed::Box::new(move |m| sk.sign(m).to_bytes().to_vec()),
    }
}

pub(crate) fn sm2_key(seed: u8) -> TestKey {
    sm2_key_with_distid(seed, SM2_DEFAULT_DISTID)
}

/// An SM2 key that signs with another distinguishing id.
pub(crate) fn sm2_key_with_distid(seed: u8, distid: &str) -> TestKey {
    use signature::Signer;
    use sm2::elliptic_curve::sec1::ToSec1Point;
    let sk = sm2::dsa::SigningKey::from_slice(distid, &[seed; 32]).unwrap();
    let point = sk.verifying_key().to_sec1_point(false);
    TestKey {
        suite: Suite::Sm2,
        spki: spki(&ec_alg(OID_SM2P256V1), point.as_bytes()),
        sign: std::boxed::Box::new(move |m| {
            let s: sm2::dsa::Signature = sk.sign(m);
            s.to_bytes().to_vec()
        }),
    }
}

fn ml_dsa_key_generic<P: ml_dsa::MlDsaParams + 'static>(
    seed: u8,
    suite: Suite,
    oid: &[u8],
) -> TestKey {
    use ml_dsa::{KeyExport, Keypair, Signer};
    let sk = ml_dsa::SigningKey::<P>::from_seed(&[seed; 32].into());
    let vk = sk.verifying_key().to_bytes();
    TestKey {
        suite,
        spki: spki(&tlv(0x06, oid), &vk),
        sign: std::boxed::Box::new(move |m| sk.sign(m).encode().to_vec()),
    }
}

pub(crate) fn ml_dsa_key(seed: u8, suite: Suite) -> TestKey {
    match suite {
        Suite::MlDsa44 => ml_dsa_key_generic::<ml_dsa::MlDsa44>(seed, suite, OID_ML_DSA_44),
        Suite::MlDsa65 => ml_dsa_key_generic::<ml_dsa::MlDsa65>(seed, suite, OID_ML_DSA_65),
        _ => ml_dsa_key_generic::<ml_dsa::MlDsa87>(seed, suite, OID_ML_DSA_87),
    }
}

/// A fixed 3072-bit RSA test key (generated once with `openssl genpkey`;
/// embedded because RSA key generation in a debug build takes minutes).
pub(crate) const RSA3072_PKCS8_PEM: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIIG/QIBADANBgkqhkiG9w0BAQEFAASCBucwggbjAgEAAoIBgQC62nMSog0YOkR6\n\
zrEOAZC5c9w2jsBed62CftS9dFgo0LJQMz+cwZb/6dzbhCSssUn5VtURpXt4cEa/\n\
7qHe2rQ9a9UmJAN5i0rYTEfmU+fNGU0Avs90HosffGEIXpBWYE4WHi7Co/CJPecL\n\
IOILLD2Lshr3cq99EppwND0eOFOfU+0UxybkFUmMeA72oG92GaAMY04SBax2wsml\n\
c9IdNS42GLMezBFk82kPYDOnAxqTQ068JC+rytEZCfhWZ1+6yz02ks6OhPPK7dUl\n\
vL9IZGFww6EmLdhl7zCPHhStmmb10maSj4zph/E6umNsFtiZpiZf33VH4F4As/Ix\n\
FvQdoUygxgZK66wGp+arNdevHmp2WeYECDvS+0F4DDtyxlv4uKP7maUdq7EjpBpT\n\
+bdV2sUVPDAsMh+vqmby5f+wgw5OJ9jlLBuizpU1wNV5aacoIR8KegHSRM1fJlGZ\n\
8txTOxK4+ET9rlRHYEqYOiuonGgPW+6o/o66Ng0wsgBv2KqnQWUCAwEAAQKCAYAC\n\
41+F+TVEm5n1X/6CnemTxEOyIDC/BRCMhNNa/lJihx9KeBBSpvdji0Tbq8Y5WSAw\n\
l3QBqtImwW2Gh/S+khjZHjKUPVhEZ6/Heh5eZAugMvTqvwhL3jD+UpjZXUTT4Pc0\n\
BlFotsoABRHuLRrxW0S0RRN/oakuwLvcYiJTtkEspEp02MM0IVQatLxeeYpfg/Pi\n\
XSKWyrmouEgPo6Oqyeil82nJXxQhwFVuZGlH+pdNkWvFIrYN7LugrHPHOh/TrlKE\n\
Ib01pLKal3p6GxD+inTDgJWwrjoCNYx9hpoSsgjqD5CMeDkc3RE5ZE5ffvFeNWPB\n\
DUpUMRq1OvDR6KkH+3/Jjy/1lprC4lW0HjxZq8m36AdhDJytjM4W/ZCB4Ee8cjp1\n\
BhDHDsbkOI6i/9Um/FTp9LktEi1ymiSM1AZ/htib56YqUjqHckdDxmXbDrnP/3A2\n\
I4tlIJo8XBfypmcyA0VtKlpL2/sq5hrsHBdPnUtpBDbQ026OQnUtJxaZof5IwV0C\n\
gcEA5Ovdi1WEG2LU+yryApjWEOdhbLYG9x7i5xr1w9Kie/tlK5xKAT8I4nbC/6CA\n\
JGI1CUfr3mWImMp1wzNH9iA9aiepH2ap++Tyh7JCMasCClWOkIBqiTOGpLQFni10\n\
NjFKiGHO7mQBW2bILGGV2k0o1v5Fi+fduLRymdjJ6RJ7rgqn4cCoFvCmTV9Rbc2x\n\
0qIdWSkBD5JkwFHnhclpjwYB7FbQgRSAbBvb63P06I/Gl1SzPdg+3j4IlkozKHbz\n\
g6WjAoHBAND0sPqdz2Q2k5qjNsEBjGVU/3fIgzvgjZMDeZAKE83fcZlMUo3EdoHT\n\
/HY9A4H2XmY/v5+0OaYrLd99VpMGzb7WlpfKqzzGV9i5zJr7xoJR2lZ4eItdLNoA\n\
pSqS8CspXS1WNnAWa4y8+lJv6SxUxl+xHv1z0xQgX0Dl9PHPDcKrtG65U0fvcYw5\n\
riI04jKO3++LwCYDsOgIpgl1jfRbnrbz+d3TcJHpP1zpvYWE6q1yLD7crO+tW2H7\n\
s9M8VaedVwKBwB7lSnA8qWi8zPvdDu6UzAdaAwcWBhiiHYONWvAD5JQRGNVq8X37\n\
kOpnlufDNKg0bO4Eu+u3Dll4sa4XpLWuIjvKgIPRak2p16XCxDZJ2yuj4mrUOgys\n\
XJasCToQ7mdF/cYsVS5NZvV8CLYcsYnV8hYaGS7Jq137VKA45v9C1Fhn7cKFKup1\n\
riwxGh9UrJQ99vIKm68LVfey1ilzRoDcEbRg/yD8sFxm4iaD7uDYTrgr4UkOf2Wl\n\
P6lw+DiU3Ua+OwKBwFNejY4wkKKHM/Uq0ZnIKF/1vcfo9JNbUKErbcEOhEBLumNT\n\
lEyD6lR6Y+w5A8FCrv9Ux/vMSIQIDlFxDK20tTpDG+qMLi4dZMdPulbLxbQRPG/r\n\
uQzBrDd+smd+INzXsBl6oFWwXFDWxXlGtV2+pTdgz+CH6dvJ3rdiCIzB89eL8n2K\n\
67Nz0XYFPXjgaK+LWcWVmKCSMG8jpDt5751jQLv2M+dRiURuL52+lKNFGO0C9KxQ\n\
F5+5JxC9AE5zcClkGQKBwQC8KpiZ2kAgxxotV8t4T8JswyuwHiTeXPjcGCoDegLd\n\
Rv4EAXCCK1emMRlHf2pbzGXOIDab5sOAGX6MA4z8jdW2FICh+IYO/teOZWuuz/69\n\
aDwQvcziZ/tHycMph/vbFXQxNo836ZFbXyBirhVsCDL7thzzkp832YhghgMqCgs/\n\
f/hMS9CQZ7rpLETpcQ+TLA+FcSzb32rIQrl6EHcuXQn01yb0Be+lV4ufkPIR/6yD\n\
sEzjjfoqb4svfMOVJzgSUbA=\n\
-----END PRIVATE KEY-----\n\
";

pub(crate) fn rsa_key() -> TestKey {
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
    use signature::{SignatureEncoding, Signer};
    let sk = rsa::PrivateKey::from_pkcs8_pem(RSA3072_PKCS8_PEM).unwrap();
    let spki = sk.to_public_key().to_public_key_der().unwrap().into_vec();
    let sk = rsa::pss::SigningKey::<sha2::Sha256>::new_with_salt_len(sk, 32);
    TestKey {
        suite: Suite::RsaPss3072,
        spki,
        sign: std::boxed::Box::new(move |m| sk.sign(m).to_vec()),
    }
}

pub(crate) fn all_keys() -> Vec<TestKey> {
    vec![
        p256_key(1),
        p384_key(2),
        ed25519_key(3),
        rsa_key(),
        sm2_key(4),
        ml_dsa_key(5, Suite::MlDsa44),
        ml_dsa_key(6, Suite::MlDsa65),
        ml_dsa_key(7, Suite::MlDsa87),
    ]
}

/// A Name with a single commonName (UTF8String) RDN.
pub(crate) fn name(cn: &str) -> Vec<u8> {
    let atv = tlv(
        0x30,
        &cat(&[&tlv(0x06, &[0x55, 0x04, 0x03]), &tlv(0x0c, cn.as_bytes())]),
    );
    tlv(0x30, &tlv(0x31, &atv))
}

/// One certificate Extension.
pub(crate) fn ext(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let crit: &[u8] = if critical { &[0x01, 0x01, 0xff] } else { &[] };
    tlv(0x30, &cat(&[&tlv(0x06, oid), crit, &tlv(0x04, value)]))
}

// ----------------------------------------------------------------------
// OpenSSL.
// ----------------------------------------------------------------------

/// A scratch directory for `openssl`, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    /// `None` when `openssl` is not installed (tests then skip).
    pub(crate) fn new(tag: &str) -> Option<TempDir> {
        let ok = std::process::Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            // CI installs openssl: there a missing one fails the test
            // instead of skipping it.
            assert!(
                std::env::var_os("CI").is_none(),
                "`openssl` is required on CI (the CI environment variable is set)"
            );
            return None;
        }
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "otaseal-verify-{tag}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).ok()?;
        Some(TempDir(dir))
    }

    /// Runs openssl in the directory and collects its output.
    pub(crate) fn run(&self, args: &[&str]) -> std::io::Result<std::process::Output> {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(&self.0)
            .output()
    }

    /// Runs openssl in the directory; panics with its stderr on failure.
    pub(crate) fn openssl(&self, args: &[&str]) -> Option<()> {
        let out = self.run(args).ok()?;
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(())
    }

    /// Runs openssl in the directory; `Err(stderr)` when it fails.
    pub(crate) fn try_openssl(&self, args: &[&str]) -> Result<(), String> {
        let out = self.run(args).unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    pub(crate) fn write(&self, name: &str, data: &[u8]) {
        std::fs::write(self.0.join(name), data).unwrap();
    }

    pub(crate) fn read(&self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.0.join(name)).ok()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `[ca]` section of every `OpensslCa`'s `ext.cnf`.
const CA_EXTENSIONS: &str = "\
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
";

/// The `openssl ca` configuration of `OpensslCa::issue_dated`, without the
/// extension section.
const CA_CONF: &str = "\
[ca]
default_ca = ca_default
[ca_default]
database = index.txt
new_certs_dir = .
serial = ca-serial
default_md = sha256
policy = policy_any
unique_subject = no
[policy_any]
commonName = supplied
organizationName = optional
";

/// How an `OpensslCa` writes its certificates.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CertFiles {
    /// `name.der` directly (`-outform DER`; issuers read with `-CAform DER`).
    Der,
    /// `name.pem`, converted to `name.der` after.
    Pem,
}

/// Builds certificates with the openssl command line in a scratch
/// directory whose `ext.cnf` holds the `[ca]` section and the caller's.
pub(crate) struct OpensslCa {
    pub(crate) dir: TempDir,
    serial: std::cell::Cell<u32>,
    files: CertFiles,
}

impl OpensslCa {
    /// `None` when `openssl` is not installed.
    pub(crate) fn new(tag: &str, extensions: &str, files: CertFiles) -> Option<OpensslCa> {
        let dir = TempDir::new(tag)?;
        dir.write("ext.cnf", format!("{CA_EXTENSIONS}{extensions}").as_bytes());
        Some(OpensslCa {
            dir,
            serial: std::cell::Cell::new(1),
            files,
        })
    }

    /// Runs openssl; `Err(stderr)` when it fails.
    pub(crate) fn try_ossl(&self, args: &[&str]) -> Result<(), String> {
        self.dir.try_openssl(args)
    }

    /// Runs openssl; panics with its stderr when it fails.
    pub(crate) fn ossl(&self, args: &[&str]) {
        if let Err(e) = self.try_ossl(args) {
            panic!("openssl {args:?} failed: {e}");
        }
    }

    /// `algo` is `ec:P-256`, `ec:P-384`, `ec:P-521`, `sm2`, `ed25519`, `rsa:2048`.
    pub(crate) fn key(&self, name: &str, algo: &str) {
        let out = format!("{name}.key");
        let mut args = vec!["genpkey", "-out", &out];
        let (alg, opt) = match algo.split_once(':') {
            Some(("ec", curve)) => ("EC", Some(format!("ec_paramgen_curve:{curve}"))),
            Some(("rsa", bits)) => ("RSA", Some(format!("rsa_keygen_bits:{bits}"))),
            _ => (algo, None),
        };
        args.extend(["-algorithm", alg]);
        if let Some(opt) = &opt {
            args.extend(["-pkeyopt", opt.as_str()]);
        }
        self.ossl(&args);
    }

    /// Digest and signature options for signing with a key made with
    /// `algo` (`rsa-pss`: an RSA key signing with PSS).
    fn sign_opts(algo: &str) -> &'static [&'static str] {
        match algo {
            "sm2" => &["-sm3", "-sigopt", "distid:1234567812345678"],
            "ed25519" => &[],
            "rsa-pss" => &[
                "-sha256",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:digest",
            ],
            "ec:P-384" => &["-sha384"],
            "ec:P-521" => &["-sha512"],
            _ => &["-sha256"],
        }
    }

    /// A new `algo` key `name` and a certificate request for it.
    fn csr(&self, name: &str, algo: &str) -> String {
        self.key(name, algo);
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let subj = format!("/O=otaseal test/CN={name}");
        self.ossl(&["req", "-new", "-key", &key, "-subj", &subj, "-out", &csr]);
        csr
    }

    /// `name.pem` as `name.der`, read back.
    pub(crate) fn der(&self, name: &str) -> Vec<u8> {
        let (pem, der) = (format!("{name}.pem"), format!("{name}.der"));
        self.ossl(&["x509", "-in", &pem, "-outform", "DER", "-out", &der]);
        self.dir.read(&der).unwrap()
    }

    /// Runs `args` with the output options for certificate `name` and the
    /// signing options of `sign_algo`; the certificate as DER.
    fn write_cert(&self, name: &str, args: &[&str], sign_algo: &str) -> Vec<u8> {
        let (pem, der) = (format!("{name}.pem"), format!("{name}.der"));
        let mut args = args.to_vec();
        match self.files {
            CertFiles::Der => args.extend(["-outform", "DER", "-out", &der]),
            CertFiles::Pem => args.extend(["-out", &pem]),
        }
        args.extend(Self::sign_opts(sign_algo));
        self.ossl(&args);
        match self.files {
            CertFiles::Der => self.dir.read(&der).unwrap(),
            CertFiles::Pem => self.der(name),
        }
    }

    /// A self-signed root `name` with key algorithm `algo`.
    pub(crate) fn root(&self, name: &str, algo: &str) -> Vec<u8> {
        self.key(name, algo);
        let key = format!("{name}.key");
        let subj = format!("/O=otaseal test/CN={name}");
        let sign_algo = if algo.starts_with("rsa") { "rsa" } else { algo };
        let args = [
            "req",
            "-x509",
            "-new",
            "-key",
            &key,
            "-subj",
            &subj,
            "-days",
            "3650",
            "-config",
            "ext.cnf",
            "-extensions",
            "ca",
        ];
        self.write_cert(name, &args, sign_algo)
    }

    /// A certificate for a new key `name` (algorithm `algo`), issued by
    /// `issuer` (whose key was made with `issuer_algo`; `rsa-pss` signs
    /// with PSS), with extension section `ext`.
    pub(crate) fn issue(
        &self,
        name: &str,
        algo: &str,
        issuer: &str,
        issuer_algo: &str,
        ext: &str,
    ) -> Vec<u8> {
        let csr = self.csr(name, algo);
        let ca_key = format!("{issuer}.key");
        let serial = self.serial.get() + 1;
        self.serial.set(serial);
        let serial = serial.to_string();
        let (ca, ca_form): (String, &[&str]) = match self.files {
            CertFiles::Der => (format!("{issuer}.der"), &["-CAform", "DER"]),
            CertFiles::Pem => (format!("{issuer}.pem"), &[]),
        };
        let mut args = vec!["x509", "-req", "-in", &csr, "-CA", &ca];
        args.extend(ca_form);
        args.extend([
            "-CAkey",
            &ca_key,
            "-set_serial",
            &serial,
            "-days",
            "365",
            "-extfile",
            "ext.cnf",
            "-extensions",
            ext,
        ]);
        self.write_cert(name, &args, issuer_algo)
    }

    /// Like `issue` (P-256 key) but with explicit validity dates
    /// (`YYYYMMDDHHMMSSZ`), through `openssl ca` (OpenSSL 3.0's `x509 -req`
    /// only has `-days`), with extension section `[ext]` holding `ext_body`.
    pub(crate) fn issue_dated(
        &self,
        name: &str,
        issuer: &str,
        start: &str,
        end: &str,
        ext: &str,
        ext_body: &str,
    ) -> Vec<u8> {
        let csr = self.csr(name, "ec:P-256");
        let ca_pem = format!("{issuer}.pem");
        if self.files == CertFiles::Der {
            let ca_der = format!("{issuer}.der");
            self.ossl(&["x509", "-inform", "DER", "-in", &ca_der, "-out", &ca_pem]);
        }
        self.dir.write("index.txt", b"");
        self.dir.write("ca-serial", b"1000\n");
        let conf = format!("{CA_CONF}[{ext}]\n{ext_body}");
        self.dir.write("ca.cnf", conf.as_bytes());
        let pem = format!("{name}.pem");
        let ca_key = format!("{issuer}.key");
        self.ossl(&[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            &ca_pem,
            "-keyfile",
            &ca_key,
            "-in",
            &csr,
            "-out",
            &pem,
            "-startdate",
            start,
            "-enddate",
            end,
            "-extensions",
            ext,
            "-notext",
        ]);
        self.der(name)
    }
}

// ----------------------------------------------------------------------
// Stack probes.
// ----------------------------------------------------------------------

/// The stack a verification must fit in, in debug builds: they keep many
/// more temporaries than release builds, so there the probes only check
/// that 1 MiB suffices and print what they measure. Release builds assert
/// the host budgets below instead (`cargo test --release -p otaseal-verify
/// --lib -- stack`, run by `.ci/run`).
pub(crate) const STACK_BUDGET: usize = 1024 * 1024;

/// Host (x86-64 / aarch64 Linux, release) stack budgets, asserted by the
/// probes in release builds. They are the device budgets of the README's
/// "Firmware" section (ML-DSA: 8 KB for levels 44 and 65, 10 KB for 87,
/// measured on the Cortex-M4 by `crates/otaseal-mldsa/firmware/run.sh`; a
/// whole `all`-profile verification: 20,224 bytes) carried to a 64-bit host,
/// rounded up to what a probe thread can be given: Linux threads get at
/// least the C library's minimum (glibc: 16 KiB plus thread-local storage)
/// whatever smaller size is asked, and in release builds every probe fits
/// in that minimum (measured 2026-12-03, x86-64: all print the search's
/// 5 KiB floor; debug builds need up to 58 KiB for a P-256 token). So the
/// assertion catches a regression by more than about 12 KiB, such as
/// whole-matrix ML-DSA (100-270 KB) or a token check copying a certificate
/// chain to the stack, not a few hundred bytes (that is
/// `firmware-example/measure.sh`'s job, on the device).
pub(crate) mod host_budget {
    /// One ML-DSA verification, any level, on its own thread.
    pub(crate) const ML_DSA: usize = 32 * 1024;
    /// One RFC 3161 token verification (webpki path, CMS, signature), on
    /// its own thread: ECDSA P-256, SM2, ML-DSA-87 TSAs.
    pub(crate) const TOKEN: usize = 32 * 1024;
}

/// In a release build, asserts that `fits` accepts `budget`; in a debug
/// build only notes it (debug frames are several times larger).
pub(crate) fn assert_release_budget(what: &str, budget: usize, fits: impl Fn(usize) -> bool) {
    if cfg!(debug_assertions) {
        std::eprintln!("{what}: host budget {budget} bytes asserted in release builds only");
        return;
    }
    assert!(
        fits(budget),
        "{what} overflowed its {budget}-byte host stack budget (release)"
    );
}

/// Runs `f` on a thread with exactly `stack` bytes of stack: a stack
/// overflow aborts the process, so the budget is enforced in a child
/// process (this test binary re-run with a filter, `envs` added to its
/// environment).
pub(crate) fn fits_in_stack(test_name: &str, stack: usize, envs: &[(&str, &str)]) -> bool {
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new(exe)
        .args([
            test_name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OTASEAL_STACK_PROBE", stack.to_string())
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    status.success()
}

/// Binary search (in 1 KiB steps, up to `budget`) for the least stack
/// `fits` accepts, for the record. A result of 5 KiB (the floor) means
/// "fits in the smallest thread the platform creates" (see `host_budget`).
pub(crate) fn stack_needed(budget: usize, fits: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (4 * 1024, budget);
    while hi - lo > 1024 {
        let mid = (lo + hi) / 2 / 1024 * 1024;
        if fits(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}
