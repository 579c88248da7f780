//! Sets `otaseal_p256_cm4` when the `p256-cm4` feature is on and the target
//! is ARMv7E-M (thumbv7em: Cortex-M4/M7), the only targets p256-cm4's
//! assembly is built for (Cargo.toml lists it for those triples only).
//! rustc does not report `target_feature = "dsp"` for these targets, so the
//! triple is what tells them apart from thumbv6m/thumbv7m.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(otaseal_p256_cm4)");
    println!("cargo::rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let armv7em = target.starts_with("thumbv7em-");
    if armv7em && std::env::var_os("CARGO_FEATURE_P256_CM4").is_some() {
        println!("cargo::rustc-cfg=otaseal_p256_cm4");
    }
}
