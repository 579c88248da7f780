//! Makes one key pair and signature per level with RustCrypto `ml-dsa` on the
//! host and hands them to the image as files in OUT_DIR.

use std::{
    env, fs,
    path::{Path, PathBuf},
};

use ml_dsa::{MlDsaParams, SigningKey};

pub const MSG: &[u8] = b"otaseal firmware measurement message: a stand-in for a COSE Sig_structure";
pub const CTX: &[u8] = b"otaseal";

fn write<P: MlDsaParams>(out: &Path, name: &str, seed: u8) {
    let sk = SigningKey::<P>::from_seed(&[seed; 32].into());
    let esk = sk.expanded_key();
    let pk = esk.verifying_key().encode();
    let sig = esk.sign_deterministic(MSG, CTX).expect("sign").encode();
    fs::write(out.join(format!("{name}.pk")), pk.as_slice()).expect("write");
    fs::write(out.join(format!("{name}.sig")), sig.as_slice()).expect("write");
}

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    write::<ml_dsa::MlDsa44>(&out, "44", 44);
    write::<ml_dsa::MlDsa65>(&out, "65", 65);
    write::<ml_dsa::MlDsa87>(&out, "87", 87);
    fs::write(out.join("msg"), MSG).expect("write");
    fs::write(out.join("ctx"), CTX).expect("write");
    // cortex-m-rt's link.x includes memory.x from the linker search path.
    fs::copy("memory.x", out.join("memory.x")).expect("memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
}
