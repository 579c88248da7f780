//! `include/otaseal.h` is what cbindgen generates from the sources today.
//! Regenerate with `OTASEAL_BLESS=1 cargo test -p otaseal-ffi --test header`.

use std::path::Path;

#[test]
fn committed_header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).unwrap();
    let bindings = cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .unwrap();
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let path = dir.join("include/otaseal.h");
    if std::env::var_os("OTASEAL_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is stale: run `OTASEAL_BLESS=1 cargo test -p otaseal-ffi --test header` and commit it",
        path.display()
    );
}
