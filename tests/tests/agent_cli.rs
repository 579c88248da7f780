//! The `otaseal-agent` binary on real files: provisioning, install, select
//! (file bootloader), boot --verify, confirm, status, check, and bad packages
//! that must leave the active slot untouched.

use std::path::{Path, PathBuf};
use std::process::Command;

use otaseal_tests::{
    Run, agent_bin, fixtures_dir, otaseal, pseudo_random, run_command, test_dir, write_file,
};
use serde_json::Value;

struct Dev {
    dir: PathBuf,
    config: PathBuf,
}

impl Dev {
    fn new(name: &str, extra: &str) -> Dev {
        let dir = test_dir(name);
        let pki = fixtures_dir().join("pki");
        let config = write_file(
            &dir,
            "agent.toml",
            format!(
                r#"hw_id = "acme-rev-a"
trust = ["{roots}"]
tsa_trust = ["{tsa}"]
state_dir = "state"
boot_attempts = 2
{extra}
[bootloader]
kind = "file"
path = "state/bootenv"

[slots.A]
boot = {{ raw = "a.img" }}
rootfs = {{ dir = "a-rootfs" }}
"app.zip" = {{ dir = "a-app" }}
[slots.B]
boot = {{ raw = "b.img" }}
rootfs = {{ dir = "b-rootfs" }}
"app.zip" = {{ dir = "b-app" }}
"#,
                roots = pki.join("roots.pem").display(),
                tsa = pki.join("tsa-roots.pem").display(),
            )
            .as_bytes(),
        );
        Dev { dir, config }
    }

    fn agent(&self, args: &[&str]) -> Run {
        run_command(
            Command::new(agent_bin())
                .arg("--config")
                .arg(&self.config)
                .args(args),
        )
    }

    fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut a = args.to_vec();
        a.push("--json");
        let r = self.agent(&a);
        (r.code, r.json())
    }

    fn status(&self) -> Value {
        let (code, v) = self.json(&["status"]);
        assert_eq!(code, 0, "{v}");
        v
    }

    /// init, install into A, select, boot --verify, confirm.
    fn provision(&self, pkg: &Path) {
        self.agent(&["init"]).expect_code(0);
        self.agent(&["install", "--slot", "A", pkg.to_str().unwrap()])
            .expect_code(0);
        self.agent(&["select"]).expect_code(0);
        self.agent(&["boot", "--verify"]).expect_code(0);
        self.agent(&["confirm"]).expect_code(0);
    }
}

fn golden(name: &str) -> PathBuf {
    fixtures_dir().join("golden").join(name)
}

/// Signs `payloads` (with target hints) with the fixtures' P-256 signer.
pub fn sign(
    dir: &Path,
    name: &str,
    sv: u64,
    extra: &[&str],
    payloads: &[(&Path, &str)],
) -> PathBuf {
    sign_with(
        dir,
        name,
        sv,
        extra,
        payloads,
        &fixtures_dir().join("pki/ecdsa-p256"),
    )
}

fn sign_with(
    dir: &Path,
    name: &str,
    sv: u64,
    extra: &[&str],
    payloads: &[(&Path, &str)],
    pki: &Path,
) -> PathBuf {
    let out = dir.join(name);
    let mut args: Vec<String> = vec![
        "sign".into(),
        "--out".into(),
        out.display().to_string(),
        "--product".into(),
        "acme.router-x1".into(),
        "--version".into(),
        format!("{sv}.0"),
        "--security-version".into(),
        sv.to_string(),
        "--hw-compat".into(),
        "acme-rev-a".into(),
        "--signer".into(),
        format!(
            "key={},cert={}",
            pki.join("signer.key.pem").display(),
            pki.join("signer.chain.pem").display()
        ),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    for (p, t) in payloads {
        args.push("--target".into());
        args.push(format!("{}={t}", p.file_name().unwrap().to_str().unwrap()));
    }
    for (p, _) in payloads {
        args.push(p.display().to_string());
    }
    otaseal(&args).expect_code(0);
    out
}

fn firmware(dir: &Path, name: &str, seed: u64) -> PathBuf {
    let mut fw = b"ACMEFW".to_vec();
    fw.extend(pseudo_random(50_000, seed));
    write_file(dir, name, &fw)
}

#[test]
fn provision_update_confirm_and_fallback() {
    let dev = Dev::new("agent-flow", "");
    dev.provision(&golden("p256-sm2.ota"));
    let st = dev.status();
    assert_eq!(st["booted"], "A");
    assert_eq!(st["floor"], 12);
    assert_eq!(st["slots"]["A"]["status"], "good");
    // The archives were extracted, links kept inside the slot.
    let tree = dev.dir.join("a-rootfs/tree");
    assert!(tree.join("usr/bin/acme-agent").is_file());
    assert_eq!(
        std::fs::read_link(tree.join("bin")).unwrap(),
        Path::new("usr/bin")
    );
    assert!(dev.dir.join("a-app/tree/app/bin/acme-app").is_file());

    // An update that is never confirmed: tried twice, then A again.
    let fw = firmware(&dev.dir, "fw13.bin", 13);
    let v13 = sign(&dev.dir, "v13.ota", 13, &[], &[(&fw, "slot:boot")]);
    let (code, v) = dev.json(&["install", v13.to_str().unwrap()]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["slot"], "B");
    for _ in 0..2 {
        assert_eq!(dev.json(&["select"]).1["slot"], "B");
        dev.agent(&["boot", "--verify"]).expect_code(0);
    }
    assert_eq!(dev.json(&["select"]).1["slot"], "A");
    dev.agent(&["boot", "--verify"]).expect_code(0);
    let st = dev.status();
    assert_eq!(st["slots"]["B"]["status"], "invalid", "{st}");
    assert_eq!(st["floor"], 12);

    // Again, confirmed this time: floor raised, A (12) no longer bootable.
    dev.agent(&["install", v13.to_str().unwrap()])
        .expect_code(0);
    dev.agent(&["select"]).expect_code(0);
    dev.agent(&["boot", "--verify"]).expect_code(0);
    dev.agent(&["confirm"]).expect_code(0);
    let st = dev.status();
    assert_eq!(st["floor"], 13);
    assert_eq!(st["boot_order"], serde_json::json!(["B"]), "{st}");

    // Bit rot in the booted slot: boot --verify refuses it, marks it bad.
    let img = dev.dir.join("b.img");
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[1000] ^= 0x40;
    std::fs::write(&img, bytes).unwrap();
    let (code, v) = dev.json(&["boot", "--verify"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["code"], "payload-digest-mismatch");
    assert_eq!(dev.status()["slots"]["B"]["status"], "invalid");
}

/// Installs `pkg` on a device running a confirmed p256-sm2 (security 12) and
/// checks the stable code, the untouched active slot, the unbootable inactive one.
fn rejected(dev: &Dev, pkg: &Path, code: &str) {
    let before = std::fs::read(dev.dir.join("a.img")).unwrap();
    let (exit, v) = dev.json(&["install", pkg.to_str().unwrap()]);
    assert_eq!(v["code"], code, "{}: {v}", pkg.display());
    assert_eq!(exit, 1, "{v}");
    let st = dev.status();
    assert_eq!(st["booted"], "A");
    assert_eq!(st["slots"]["A"]["status"], "good");
    assert_eq!(st["boot_order"][0], "A", "{st}");
    assert_eq!(st["attempts_left"]["B"].as_u64().unwrap_or(0), 0, "{st}");
    assert_eq!(std::fs::read(dev.dir.join("a.img")).unwrap(), before);
    let b = &st["slots"]["B"]["status"];
    assert!(b.is_null() || b == "empty" || b == "invalid", "{st}");
    dev.agent(&["boot", "--verify"]).expect_code(0);
}

#[test]
fn bad_packages_change_nothing_that_boots() {
    let dev = Dev::new("agent-bad", "max_package_size = 2000000\n");
    dev.provision(&golden("p256-sm2.ota"));
    let d = &dev.dir;
    rejected(
        &dev,
        &golden("tampered-payload.ota"),
        "payload-digest-mismatch",
    );
    rejected(&dev, &golden("wrong-hw.ota"), "hw-incompatible");
    let fw = firmware(d, "fw.bin", 1);
    // Rolled back: security version 5 below the floor of 12.
    let old = sign(d, "old.ota", 5, &[], &[(&fw, "slot:boot")]);
    rejected(&dev, &old, "rollback");
    // Expired manifest.
    let exp = sign(
        d,
        "expired.ota",
        13,
        &[
            "--created",
            "2026-11-24T00:00:00Z",
            "--expires",
            "2026-11-25T00:00:00Z",
        ],
        &[(&fw, "slot:boot")],
    );
    rejected(&dev, &exp, "manifest-expired");
    // Untrusted signer (another PKI).
    let other = sign_with(
        d,
        "other.ota",
        13,
        &[],
        &[(&fw, "slot:boot")],
        &fixtures_dir().join("pki-other/ecdsa-p256"),
    );
    let (_, v) = dev.json(&["install", other.to_str().unwrap()]);
    assert!(v["code"].as_str().unwrap().starts_with("chain"), "{v}");
    rejected(&dev, &other, v["code"].as_str().unwrap());
    // Truncated.
    let good = sign(d, "good.ota", 13, &[], &[(&fw, "slot:boot")]);
    let bytes = std::fs::read(&good).unwrap();
    let cut = write_file(d, "cut.ota", &bytes[..bytes.len() - 3000]);
    rejected(&dev, &cut, "container-truncated");
    // Oversized: over max_package_size (declared sizes, before writing).
    let big = write_file(d, "big.bin", &pseudo_random(2_100_000, 3));
    let big = sign(d, "big.ota", 13, &[], &[(&big, "slot:boot")]);
    rejected(&dev, &big, "too-large");
    // A payload without a target in the slot map.
    let nt = sign(d, "notarget.ota", 13, &[], &[(&fw, "slot:nowhere")]);
    rejected(&dev, &nt, "no-target");
    // And the good one still installs afterwards.
    dev.agent(&["install", good.to_str().unwrap()])
        .expect_code(0);
}

#[test]
fn check_says_whether_newer() {
    let dev = Dev::new("agent-check", "");
    dev.provision(&golden("p256-sm2.ota"));
    let (code, v) = dev.json(&["check", golden("p256-sm2.ota").to_str().unwrap()]);
    assert_eq!((code, &v["newer"]), (1, &Value::Bool(false)), "{v}");
    let fw = firmware(&dev.dir, "fw.bin", 2);
    let v13 = sign(&dev.dir, "v13.ota", 13, &[], &[(&fw, "slot:boot")]);
    let (code, v) = dev.json(&["check", v13.to_str().unwrap()]);
    assert_eq!((code, &v["newer"]), (0, &Value::Bool(true)), "{v}");
    let (code, v) = dev.json(&["check", golden("wrong-hw.ota").to_str().unwrap()]);
    assert_eq!(
        (code, v["code"].as_str()),
        (1, Some("hw-incompatible")),
        "{v}"
    );
}
