//! Any bytes given as INPUTS_JSON and RESOURCES_JSON against a spec with
//! every input type: validated values or problems, never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use omni_launch::inputs;
use omni_launch::spec::Spec;
use omni_launch::value::PathCheck;

const SPEC: &str = include_str!("../../fixtures/specs/valid/all_types.yaml");

fn spec() -> &'static Spec {
    static SPEC_CELL: OnceLock<Spec> = OnceLock::new();
    SPEC_CELL.get_or_init(|| omni_launch::spec::parse(SPEC, "all_types.yaml").expect("the fixture is valid"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let paths = PathCheck {
        must_exist: true,
        base_dir: std::path::Path::new("/"),
    };
    if let Ok(values) = inputs::validate(spec(), &doc, paths) {
        let stop = std::sync::atomic::AtomicBool::new(false);
        let _ = omni_launch::runtime::runtimeify(spec(), &values, false, &stop);
    }
    let _ = inputs::resources(spec(), &doc);
});
