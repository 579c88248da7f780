//! The U-Boot backend against the real u-boot-tools: `fw_setenv -s` and
//! `fw_printenv` on a file-backed environment made by `mkenvimage`.

use std::process::Command;

use otaseal_agent::bootenv::{BootEnv, Bootloader, UBoot};
use otaseal_agent::storage::RealFs;
use otaseal_tests::{test_dir, write_file};

#[test]
fn uboot_environment_round_trip() {
    if Command::new("fw_printenv").arg("-v").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "u-boot-tools missing (CI installs it)"
        );
        eprintln!("skipped: u-boot-tools not installed");
        return;
    }
    let dir = test_dir("agent-uboot");
    write_file(&dir, "env.txt", b"bootdelay=1\n");
    let ok = Command::new("mkenvimage")
        .args(["-s", "0x4000", "-o"])
        .arg(dir.join("env.bin"))
        .arg(dir.join("env.txt"))
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkenvimage");
    let cfg = write_file(
        &dir,
        "fw_env.config",
        format!("{} 0x0000 0x4000\n", dir.join("env.bin").display()).as_bytes(),
    );
    let cmdline = write_file(
        &dir,
        "cmdline",
        b"console=ttyS0 root=/dev/mmcblk0p3 rauc.slot=B\n",
    );
    let ub = UBoot {
        slots: vec!["A".into(), "B".into()],
        config: Some(cfg.clone()),
        cmdline,
    };
    let mut fs = RealFs::new();
    // Unset variables read as an empty environment.
    assert_eq!(ub.load(&mut fs).unwrap(), BootEnv::default());
    let mut env = BootEnv::default();
    env.activate("A", 3);
    env.activate("B", 2);
    ub.store(&mut fs, &env).unwrap();
    assert_eq!(ub.load(&mut fs).unwrap(), env);
    // What U-Boot itself would read.
    let out = Command::new("fw_printenv")
        .args(["-c", cfg.to_str().unwrap(), "BOOT_ORDER", "BOOT_B_LEFT"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "BOOT_ORDER=B A\nBOOT_B_LEFT=2\n"
    );
    assert_eq!(ub.booted(&mut fs).unwrap().as_deref(), Some("B"));
    // Another variable survives (one environment, not ours alone).
    let all = Command::new("fw_printenv")
        .args(["-c", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&all.stdout).contains("bootdelay=1"));
}
