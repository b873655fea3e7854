//! Any template and any value rendered as a shell command: a command, a
//! refusal, or a template error, never a panic; and the static check of
//! the same template never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (template, value) = text.split_once('\u{0}').unwrap_or((text, "value"));
    let _ = omni_launch::template::check_shell(template);
    let ctx = minijinja::Value::from(minijinja::value::Serde(
        serde_json::json!({ "s": value, "xs": [value, value] }),
    ));
    let _ = omni_launch::template::shell(template, &ctx);
});
