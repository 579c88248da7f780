//! Wycheproof ML-DSA verification vectors (`mldsa_{44,65,87}_verify_test.json`):
//! every valid and invalid case must match. The files are vendored under
//! `firmware-fixtures/wycheproof/` (Apache-2.0, see its LICENSE), so a clean
//! clone has them; the shared vectors directory is a fallback.

mod common;

use std::path::PathBuf;

use common::hex;
use otaseal_mldsa::{Level, MuBuilder, verify, verify_mu};

fn vectors_dir() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    [
        root.join("firmware-fixtures/wycheproof"),
        root.join("../shared/vectors/wycheproof"),
    ]
    .into_iter()
    .find(|d| d.is_dir())
}

fn run(level: Level, file: &str) {
    let Some(path) = vectors_dir().map(|d| d.join(file)).filter(|p| p.is_file()) else {
        // Missing vectors fail CI; elsewhere they only skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "Wycheproof file {file} not found (CI is set)"
        );
        eprintln!("skipping: Wycheproof file {file} not found");
        return;
    };
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in json["testGroups"].as_array().unwrap() {
        let pk = hex(group["publicKey"].as_str().unwrap());
        for t in group["tests"].as_array().unwrap() {
            let id = &t["tcId"];
            let msg = hex(t["msg"].as_str().unwrap());
            let ctx = t
                .get("ctx")
                .map_or_else(Vec::new, |c| hex(c.as_str().unwrap()));
            let sig = hex(t["sig"].as_str().unwrap());
            let got = verify(level, &pk, &msg, &ctx, &sig);
            match t["result"].as_str().unwrap() {
                "valid" => {
                    assert_eq!(got, Ok(()), "{file} tcId {id} ({})", t["comment"]);
                    let mut mb = MuBuilder::new(&pk, &ctx).unwrap();
                    for piece in msg.chunks(7) {
                        mb.update(piece);
                    }
                    assert_eq!(
                        verify_mu(level, &pk, &mb.finalize(), &sig),
                        Ok(()),
                        "{file} tcId {id} (mu)"
                    );
                    valid += 1;
                }
                "invalid" => {
                    assert!(got.is_err(), "{file} tcId {id} ({}) accepted", t["comment"]);
                    invalid += 1;
                }
                other => panic!("{file} tcId {id}: unexpected result {other}"),
            }
        }
    }
    assert!(valid > 0 && invalid > 0);
    eprintln!("{file}: {valid} valid, {invalid} invalid cases match");
}

#[test]
fn wycheproof_ml_dsa_44() {
    run(Level::MlDsa44, "mldsa_44_verify_test.json");
}

#[test]
fn wycheproof_ml_dsa_65() {
    run(Level::MlDsa65, "mldsa_65_verify_test.json");
}

#[test]
fn wycheproof_ml_dsa_87() {
    run(Level::MlDsa87, "mldsa_87_verify_test.json");
}
