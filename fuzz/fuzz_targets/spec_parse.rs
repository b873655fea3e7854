//! Any bytes given as a spec: a Spec or diagnostics, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(spec) = omni_launch::spec::parse(text, "fuzz.yaml") {
            // A spec that checks must also render its schema.
            let _ = omni_launch::schema::inputs_schema(&spec);
        }
    }
});
