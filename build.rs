//! Links the binary as a position-dependent executable where that is the
//! platform's way (Linux): its thousands of pointer relocations are then
//! resolved when it is linked instead of every time it starts, so start-up
//! neither processes them nor copies the pages they are in.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
