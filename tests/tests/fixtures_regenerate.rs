//! `firmware-fixtures/regenerate.sh` reproduces the committed fixtures.
//!
//! The script runs on a copy of `firmware-fixtures/` (with the committed
//! PKIs) and the result is compared with the committed files:
//! - samples, unsafe archives, `golden/expected.json` and every golden
//!   package the fixture README lists as byte-identical come out
//!   byte-identical, and the README's list is exactly the set that does;
//! - the other golden packages (randomized signatures, timestamps) carry
//!   exactly the committed manifest (same payload digests), so only their
//!   signatures and tokens differ.
//!
//! Needs bash and python3 (a missing tool fails the test when `CI` is set).

use std::fs;
use std::path::Path;

use otaseal_manifest::Envelope;
use otaseal_manifest::container::ENVELOPE_MEMBER;
use otaseal_tests::*;

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

fn manifest_of(package: &[u8]) -> Vec<u8> {
    let m = &tar_members(package)[0];
    assert_eq!(m.name, ENVELOPE_MEMBER);
    Envelope::decode(&package[m.data..m.data + m.size])
        .expect("envelope")
        .manifest
        .to_vec()
}

/// The golden files the README says regenerate byte-identical: the
/// backquoted names on the line starting "- Byte-identical".
fn readme_identical_list() -> Vec<String> {
    let readme = fs::read_to_string(fixtures_dir().join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("- Byte-identical"))
        .expect("README.md has a '- Byte-identical' line");
    let mut names: Vec<String> = line
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

#[test]
fn regenerate_reproduces_the_committed_fixtures() {
    if !require_tool("bash") || !require_tool("python3") {
        return;
    }
    let dir = test_dir("regenerate");
    let copy = dir.join("firmware-fixtures");
    copy_dir(&fixtures_dir(), &copy);
    let run = run_command(
        std::process::Command::new("bash")
            .arg(copy.join("regenerate.sh"))
            .env("OTASEAL", otaseal_bin()),
    );
    assert_eq!(
        run.code, 0,
        "regenerate.sh failed:\n{}{}",
        run.stdout, run.stderr
    );

    let committed = fixtures_dir();
    for sub in ["samples", "unsafe"] {
        for entry in fs::read_dir(committed.join(sub)).unwrap() {
            let name = entry.unwrap().file_name();
            assert_eq!(
                read_file(&committed.join(sub).join(&name)),
                read_file(&copy.join(sub).join(&name)),
                "{sub}/{} differs after regeneration",
                name.to_string_lossy()
            );
        }
    }

    let mut golden: Vec<String> = fs::read_dir(committed.join("golden"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    golden.sort();
    let mut regenerated: Vec<String> = fs::read_dir(copy.join("golden"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    regenerated.sort();
    assert_eq!(golden, regenerated, "the same golden files");

    let mut identical = Vec::new();
    for name in &golden {
        let old = read_file(&committed.join("golden").join(name));
        let new = read_file(&copy.join("golden").join(name));
        if old == new {
            identical.push(name.clone());
        } else {
            assert!(
                name.ends_with(".ota"),
                "golden/{name} differs after regeneration"
            );
            assert_eq!(
                manifest_of(&old),
                manifest_of(&new),
                "golden/{name}: the manifest (payload digests) differs after regeneration"
            );
        }
    }
    assert_eq!(
        identical,
        readme_identical_list(),
        "the golden files that regenerate byte-identical are not the ones \
         firmware-fixtures/README.md lists"
    );
}
