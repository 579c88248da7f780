//! Power cuts at every mutating storage operation of an A/B install, boot,
//! confirm and rollback (`spec/install.md` section 6): after each cut the
//! device must boot a slot that verifies against its stored envelope, never a
//! half-written one, never below its security floor, and must still install,
//! boot and confirm the next update.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use otaseal_agent::bootenv::FileBootloader;
use otaseal_agent::device::{Device, Layout, Target, TargetKind};
use otaseal_agent::pkg::Trust;
use otaseal_agent::state::{State, Status};
use otaseal_agent::storage::{CutMode, FaultFs, Storage};
use otaseal_tests::{fixtures_dir, otaseal, pseudo_random, test_dir, write_file};
use otaseal_verify::SuiteSet;

struct Rig {
    layout: Layout,
    boot: FileBootloader,
    trust: Trust,
    pkgs: Vec<Vec<u8>>,
}

/// Signs a package with the fixtures' ECDSA P-256 signer.
fn sign(dir: &Path, name: &str, sv: u64, payloads: &[(&Path, &str)]) -> Vec<u8> {
    let pki = fixtures_dir().join("pki/ecdsa-p256");
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
        "--chunk-log2".into(),
        "12".into(),
        "--signer".into(),
        format!(
            "key={},cert={}",
            pki.join("signer.key.pem").display(),
            pki.join("signer.chain.pem").display()
        ),
    ];
    for (p, target) in payloads {
        let name = p.file_name().unwrap().to_str().unwrap();
        args.push("--target".into());
        args.push(format!("{name}={target}"));
    }
    for (p, _) in payloads {
        args.push(p.display().to_string());
    }
    otaseal(&args).expect_code(0);
    std::fs::read(out).unwrap()
}

fn rig() -> Rig {
    let dir = test_dir("agent-powercut");
    let samples = fixtures_dir().join("samples");
    let mut fw2 = b"ACMEFW".to_vec();
    fw2.extend(pseudo_random(20_000, 7));
    let fw2 = write_file(&dir, "fw2.bin", &fw2);
    let mut fw3 = b"ACMEFW".to_vec();
    fw3.extend(pseudo_random(9_000, 8));
    let fw3 = write_file(&dir, "fw3.bin", &fw3);
    let v1 = sign(
        &dir,
        "v1.ota",
        5,
        &[
            (&samples.join("firmware.bin"), "slot:boot"),
            (&samples.join("rootfs.tar.gz"), "slot:rootfs"),
        ],
    );
    let v2 = sign(
        &dir,
        "v2.ota",
        6,
        &[
            (&fw2, "slot:boot"),
            (&samples.join("app.zip"), "slot:rootfs"),
        ],
    );
    let v3 = sign(
        &dir,
        "v3.ota",
        7,
        &[
            (&fw3, "slot:boot"),
            (&samples.join("rootfs.tar.gz"), "slot:rootfs"),
        ],
    );
    let mut slots = BTreeMap::new();
    for s in ["A", "B"] {
        let l = s.to_lowercase();
        let mut m = BTreeMap::new();
        m.insert(
            "boot".to_owned(),
            Target {
                path: PathBuf::from(format!("/slots/{l}.img")),
                kind: TargetKind::Raw,
            },
        );
        m.insert(
            "rootfs".to_owned(),
            Target {
                path: PathBuf::from(format!("/slots/{l}-rootfs")),
                kind: TargetKind::Dir,
            },
        );
        slots.insert(s.to_owned(), m);
    }
    let roots = otaseal_agent::config::pem_certs(&fixtures_dir().join("pki/roots.pem")).unwrap();
    Rig {
        layout: Layout {
            state_dir: PathBuf::from("/data/state"),
            slots,
            attempts: 3,
            max_package: 1 << 30,
        },
        boot: FileBootloader {
            path: PathBuf::from("/data/bootenv"),
            slots: vec!["A".into(), "B".into()],
        },
        trust: Trust {
            roots,
            tsa_roots: Vec::new(),
            hw_id: "acme-rev-a".into(),
            require: vec![SuiteSet::parse("ecdsa-p256").unwrap()],
            require_timestamp: SuiteSet::EMPTY,
            time: None,
            max_envelope: 64 * 1024,
        },
        pkgs: vec![v1, v2, v3],
    }
}

impl Rig {
    fn dev<'a>(&'a self, fs: &'a mut FaultFs) -> Device<'a> {
        Device {
            st: fs,
            boot: &self.boot,
            layout: &self.layout,
            trust: &self.trust,
        }
    }

    fn state(&self, fs: &mut FaultFs) -> State {
        State::load(fs, &self.layout.state_path()).unwrap()
    }

    fn install(&self, fs: &mut FaultFs, pkg: usize) -> Result<(), String> {
        let mut dev = self.dev(fs);
        let slot = dev.install_slot(None).map_err(|e| e.to_string())?;
        dev.install(&slot, &mut self.pkgs[pkg].as_slice())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The bootloader, then `boot --verify`.
    fn power_on_boot(&self, fs: &mut FaultFs) -> Result<String, String> {
        let slot = self.boot.select(fs).map_err(|e| e.to_string())?;
        if slot.is_none() {
            return Err("nothing bootable".into());
        }
        self.dev(fs).boot(true).map_err(|e| e.to_string())
    }

    /// A fresh device with v1 in slot A, confirmed, everything synced.
    fn provisioned(&self) -> FaultFs {
        let mut fs = FaultFs::new();
        for d in ["/data", "/slots"] {
            fs.mkdir(Path::new(d)).unwrap();
        }
        let mut dev = self.dev(&mut fs);
        dev.init().unwrap();
        let mut dev = self.dev(&mut fs);
        dev.install("A", &mut self.pkgs[0].as_slice()).unwrap();
        assert_eq!(self.power_on_boot(&mut fs).unwrap(), "A");
        self.dev(&mut fs).confirm().unwrap();
        fs.sync_all();
        fs
    }

    /// After a power cut: boot as the bootloader and agent would (falling
    /// back as often as needed) and check the invariants; then prove the
    /// device can still take, boot and confirm the next update.
    /// `strict`: the first slot the bootloader picks must verify (no
    /// fallback needed); only a slot corrupted on purpose may need one.
    fn check_after_cut(
        &self,
        mut fs: FaultFs,
        floor_before: u64,
        what: &str,
        strict: bool,
        live: bool,
    ) {
        let floor = self.state(&mut fs).floor;
        assert!(floor >= floor_before, "{what}: floor dropped");
        let mut booted = None;
        for _ in 0..8 {
            match self.power_on_boot(&mut fs) {
                Ok(s) => {
                    booted = Some(s);
                    break;
                }
                Err(e) if e == "nothing bootable" => panic!("{what}: bricked"),
                Err(e) if strict => panic!("{what}: the bootloader chose a slot that fails: {e}"),
                Err(_) => continue, // fallback to the next slot
            }
        }
        let slot = booted.unwrap_or_else(|| panic!("{what}: no slot boots"));
        let out = self
            .dev(&mut fs)
            .verify_slot(&slot)
            .unwrap_or_else(|e| panic!("{what}: booted slot {slot} does not verify: {e}"));
        let state = self.state(&mut fs);
        assert!(
            out.security_version >= state.floor,
            "{what}: booted below the floor"
        );
        assert!(
            matches!(state.slot(&slot).status, Status::Pending | Status::Good),
            "{what}: booted slot {slot} is {:?}",
            state.slot(&slot).status
        );
        if !live {
            return;
        }
        // Liveness: confirm, install v3 into the other slot, boot it, confirm.
        self.dev(&mut fs)
            .confirm()
            .unwrap_or_else(|e| panic!("{what}: confirm after recovery: {e}"));
        self.install(&mut fs, 2)
            .unwrap_or_else(|e| panic!("{what}: next install: {e}"));
        let next = self
            .power_on_boot(&mut fs)
            .unwrap_or_else(|e| panic!("{what}: next boot: {e}"));
        assert_ne!(next, slot, "{what}: the next update did not boot");
        self.dev(&mut fs).confirm().unwrap();
        assert_eq!(self.state(&mut fs).floor, 7, "{what}");
    }

    /// Runs `step` on copies of `base` with the power cut before each of its
    /// operations, in both modes; returns the number of cut points.
    fn enumerate(
        &self,
        name: &str,
        strict: bool,
        base: &FaultFs,
        step: &dyn Fn(&Rig, &mut FaultFs) -> Result<(), String>,
    ) -> u64 {
        let mut probe = base.clone();
        let start = probe.ops();
        let _ = step(self, &mut probe);
        let total = probe.ops() - start;
        let floor_before = self.state(&mut base.clone()).floor;
        let mut cuts = 0;
        for mode in [CutMode::Lose, CutMode::Keep] {
            for k in 0..=total {
                let mut fs = base.clone();
                fs.cut_after(k);
                let r = step(self, &mut fs);
                if k < total {
                    assert!(fs.is_cut(), "{name}: cut {k} did not happen ({r:?})");
                }
                fs.power_on(mode);
                // The liveness check (a whole further update) runs in the
                // losing mode only, to keep the test's time reasonable.
                let what = format!("{name} {mode:?} cut {k}/{total}");
                self.check_after_cut(fs, floor_before, &what, strict, mode == CutMode::Lose);
                cuts += 1;
            }
        }
        eprintln!("{name}: {total} operations, {cuts} cut points survived");
        cuts
    }
}

#[test]
fn every_power_cut_leaves_a_verifying_slot() {
    let rig = rig();
    let s0 = rig.provisioned();
    let mut total = 0;

    // Install v2 into B while A runs.
    total += rig.enumerate("install", true, &s0, &|r, fs| r.install(fs, 1));

    // Boot of the new slot (bootloader decrement + re-verification).
    let mut s1 = s0.clone();
    rig.install(&mut s1, 1).unwrap();
    s1.sync_all();
    total += rig.enumerate("boot", true, &s1, &|r, fs| r.power_on_boot(fs).map(|_| ()));

    // Confirm of B (floor raised, A below it disabled).
    let mut s2 = s1.clone();
    assert_eq!(rig.power_on_boot(&mut s2).unwrap(), "B");
    s2.sync_all();
    total += rig.enumerate("confirm", true, &s2, &|r, fs| {
        r.dev(fs).confirm().map(|_| ()).map_err(|e| e.to_string())
    });

    // Rollback: B's image rotted; boot --verify refuses it, A boots again.
    let mut s3 = s1.clone();
    let img = Path::new("/slots/b.img");
    let mut bytes = s3.contents(img).unwrap();
    bytes[100] ^= 1;
    s3.put(img, &bytes);
    total += rig.enumerate("rollback-verify", false, &s3, &|r, fs| {
        r.power_on_boot(fs).map(|_| ())
    });

    // Rollback: B never confirmed; its attempts run out, A boots again.
    let mut s4 = s2.clone();
    for _ in 0..2 {
        assert_eq!(rig.power_on_boot(&mut s4).unwrap(), "B");
    }
    s4.sync_all();
    total += rig.enumerate("rollback-attempts", true, &s4, &|r, fs| {
        r.power_on_boot(fs).map(|_| ())
    });
    let mut after = s4.clone();
    assert_eq!(rig.power_on_boot(&mut after).unwrap(), "A");
    assert_eq!(rig.state(&mut after).slot("B").status, Status::Invalid);

    eprintln!("power cuts enumerated and survived: {total}");
    assert!(total > 100);
}
