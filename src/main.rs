//! The executable's entry point: C's `main`, so that the process skips the
//! Rust runtime's start-up (`startup.rs` says why and does what of it the
//! launcher needs). Built as a test, the harness brings its own `main`.
#![cfg_attr(not(test), no_main)]

// Declaring an exported symbol is unsafe: nothing else may define `main`.
#[cfg(not(test))]
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    std::process::exit(omni_launch::app::entry())
}
