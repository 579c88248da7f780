//! The C example, built with the system `cc` against this crate's x86_64
//! staticlib, verifies every golden package of `firmware-fixtures/` with the
//! verdict and code `golden/expected.json` gives for it.

use std::path::{Path, PathBuf};
use std::process::Command;

use otaseal_verify::{DigestAlg, Suite, SuiteSet};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The staticlib cargo built with the rlib this test links: for an
/// integration test cargo leaves it in `deps/` as `libotaseal_ffi-HASH.a`.
/// Builds with other feature sets (a `--workspace` build unifies features)
/// leave other hashes, all of the same source: take the newest.
fn staticlib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let newest = std::fs::read_dir(deps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("libotaseal_ffi-") && name.ends_with(".a")
        })
        .max_by_key(|p| p.metadata().unwrap().modified().unwrap());
    newest.unwrap_or_else(|| panic!("no libotaseal_ffi-*.a in {}", deps.display()))
}

/// Compiles examples/c/verify_package.c once per test binary.
fn c_example() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("verify_package");
            let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
                .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-I"])
                .arg(crate_dir.join("include"))
                .arg(crate_dir.join("examples/c/verify_package.c"))
                .arg(staticlib())
                // std's native dependencies (`rustc --print native-static-libs`).
                .args([
                    "-lgcc_s",
                    "-lutil",
                    "-lrt",
                    "-lpthread",
                    "-lm",
                    "-ldl",
                    "-lc",
                ])
                .arg("-o")
                .arg(&out)
                .status()
                .expect("run cc");
            assert!(status.success(), "cc failed");
            out
        })
        .clone()
}

/// The DER documents of a PEM file, in order.
fn pem_ders(path: &Path) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start..];
        let end_marker = after.find("-----END ").expect("PEM END");
        let line_end = after[end_marker..]
            .find('\n')
            .map_or(after.len(), |i| end_marker + i + 1);
        let (_, der) = pem_rfc7468::decode_vec(&after.as_bytes()[..line_end]).unwrap();
        out.push(der);
        rest = &after[line_end..];
    }
    assert!(!out.is_empty(), "{}: no PEM", path.display());
    out
}

/// Writes each DER document of a PEM file to its own file and returns
/// `flag PATH` arguments for them.
fn der_args(flag: &str, pem: &Path, tmp: &Path, n: &mut usize) -> Vec<String> {
    let mut args = Vec::new();
    for der in pem_ders(pem) {
        *n += 1;
        let path = tmp.join(format!("anchor-{n}.der"));
        std::fs::write(&path, der).unwrap();
        args.push(flag.to_string());
        args.push(path.display().to_string());
    }
    args
}

fn suite_bits(list: &str) -> u16 {
    if list == "all" {
        return Suite::ALL.iter().fold(SuiteSet::EMPTY, |s, x| s.with(*x)).0;
    }
    SuiteSet::parse(&list.replace(',', "+")).unwrap().0
}

/// The C example's arguments for a case's CLI arguments.
fn translate(args: &[String], fixtures: &Path, tmp: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut n = 0;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap().clone();
        match a.as_str() {
            "--trust" => out.extend(der_args("--root", &fixtures.join(value()), tmp, &mut n)),
            "--tsa-trust" => {
                out.extend(der_args("--tsa-root", &fixtures.join(value()), tmp, &mut n))
            }
            "--trust-key" => out.extend(der_args("--key", &fixtures.join(value()), tmp, &mut n)),
            "--hw-id" | "--min-security-version" => {
                out.push(a.clone());
                out.push(value());
            }
            "--at" => {
                let t = time::OffsetDateTime::parse(
                    &value(),
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap();
                out.push("--time".into());
                out.push(t.unix_timestamp().to_string());
            }
            "--require" => {
                out.push("--require".into());
                out.push(suite_bits(&value()).to_string());
            }
            "--digest" => match value().as_str() {
                "all" => out.push("--digest-all".into()),
                list => {
                    let bits = list
                        .split(',')
                        .map(|d| DigestAlg::from_name(d.trim()).unwrap().bit())
                        .fold(0u8, |a, b| a | b);
                    out.push("--digest-families".into());
                    out.push(bits.to_string());
                }
            },
            other => {
                let suites = match other.strip_prefix("--require-timestamp") {
                    Some("") => "all",
                    Some(rest) => rest.strip_prefix('=').unwrap(),
                    None => panic!("argument {other} not translated"),
                };
                out.push("--require-timestamp".into());
                out.push(suite_bits(suites).to_string());
            }
        }
    }
    out
}

fn run(args: &[String]) -> (i32, String) {
    let out = Command::new(c_example()).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "stderr: {stderr}");
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn golden_packages_through_the_c_api() {
    let fixtures = repo().join("firmware-fixtures");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("golden/expected.json")).unwrap())
            .unwrap();
    let cases = expected["cases"].as_array().unwrap();
    assert!(cases.len() >= 16);
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("c-{name}"));
        std::fs::create_dir_all(&tmp).unwrap();
        let cli_args: Vec<String> = case["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        let mut args = vec![
            fixtures
                .join(case["file"].as_str().unwrap())
                .display()
                .to_string(),
        ];
        args.extend(translate(&cli_args, &fixtures, &tmp));
        let (status, stdout) = run(&args);
        let want = case["exit"].as_i64().unwrap() as i32;
        let code = case["code"].as_str().unwrap();
        let verdict_ok = if want == 0 {
            stdout.starts_with("accepted ")
        } else {
            stdout.trim() == format!("rejected {code}")
        };
        if status != want || !verdict_ok {
            failures.push(format!(
                "{name}: exit {status}, printed {:?}; want exit {want}, code {code}",
                stdout.trim()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn chunk_sizes_do_not_change_the_verdict() {
    let fixtures = repo().join("firmware-fixtures");
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c-chunks");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut n = 0;
    let roots = der_args("--root", &fixtures.join("pki/roots.pem"), &tmp, &mut n);
    for (file, chunk, want) in [
        ("golden/p256-sm2.ota", "1", "accepted security_version=12"),
        (
            "golden/p256-sm2.ota",
            "4097",
            "accepted security_version=12",
        ),
        (
            "golden/tampered-payload.ota",
            "511",
            "rejected payload-digest-mismatch",
        ),
    ] {
        let mut args = vec![fixtures.join(file).display().to_string()];
        args.extend(roots.iter().cloned());
        args.extend(["--time", "1811808000", "--chunk", chunk].map(String::from));
        let (_, stdout) = run(&args);
        assert!(stdout.starts_with(want), "{file} chunk {chunk}: {stdout}");
    }
}
