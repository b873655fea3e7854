//! Property tests of the invariants: whatever the value, rendering then
//! running gives it back byte for byte; no text makes the parsers panic.

use std::process::Command as Process;

use omni_launch::template;
use omni_launch::value::PathCheck;
use proptest::prelude::*;

fn ctx(s: &str) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(
        serde_json::json!({ "s": s, "xs": [s, s] }),
    ))
}

/// Strings built from the characters that matter to a shell, plus any
/// unicode (NUL excluded: it is refused before rendering).
fn hostile() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("$(".to_string()),
        Just("`".to_string()),
        Just("\n".to_string()),
        Just("*".to_string()),
        Just("-".to_string()),
        Just("$HOME".to_string()),
        Just("$(touch pwned)".to_string()),
        Just("`touch pwned`".to_string()),
        Just("EOF".to_string()),
        Just("\t".to_string()),
        Just(" ".to_string()),
        "[^\u{0}]{0,4}",
    ];
    prop::collection::vec(pieces, 0..8).prop_map(|v| v.concat())
}

fn sh_output(script: &str) -> Vec<u8> {
    Process::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .env_clear()
        .output()
        .unwrap()
        .stdout
}

/// Runs a rendered script in a fresh directory; returns its stdout and
/// whether anything (`pwned`) was created there.
fn sh_in_dir(script: &str) -> (Vec<u8>, bool) {
    let dir = crate::util::workdir();
    let out = Process::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir.path())
        .env_clear()
        .output()
        .unwrap()
        .stdout;
    (out, dir.path().join("pwned").exists())
}

/// Every place a value may go in a shell command, and what the command
/// prints for a value `s`: quoting for each place must give it back
/// exactly and run nothing.
type Place = (&'static str, fn(&str) -> String);

const PLACES: &[Place] = &[
    ("printf '%s' {{ s }}", |s| s.to_string()),
    ("printf '%s' x{{ s }}y", |s| format!("x{s}y")),
    ("printf '%s' \"{{ s }}\"", |s| s.to_string()),
    ("printf '%s' \"<{{ s }}|$HOME>\"", |s| format!("<{s}|>")),
    ("printf '%s' \"$(printf '%s' {{ s }})\"", |s| {
        s.trim_end_matches('\n').to_string()
    }),
    ("printf '%s' $(printf '%s' \"{{ s }}\" | wc -c)", |s| {
        s.len().to_string()
    }),
    ("sh -c 'printf \"%s\" \"$1\"' sh {{ s }}", |s| s.to_string()),
    ("X={{ s }}; printf '%s' \"$X\"", |s| s.to_string()),
    ("cat <<EOF\n{{ s }}\nEOF", |s| format!("{s}\n")),
    ("cat <<'EOF'\n{{ s }}\nEOF", |s| format!("{s}\n")),
    ("cat <<-E\n\t[{{ s }}]\n\tE", |s| format!("[{s}]\n")),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn shell_mode_gives_values_back(s in hostile()) {
        let script = template::shell("printf '%s' {{ s }}", &ctx(&s)).unwrap();
        prop_assert_eq!(sh_output(&script), s.as_bytes());
    }

    #[test]
    fn shell_mode_concatenation_stays_one_word(s in hostile()) {
        let script = template::shell("printf '<%s>' {{ s }}/{{ s }} {{ xs }}", &ctx(&s)).unwrap();
        prop_assert_eq!(sh_output(&script), format!("<{s}/{s}><{s}><{s}>").into_bytes());
    }

    #[test]
    fn every_accepted_place_gives_values_back(s in hostile()) {
        for (template, expected) in PLACES {
            let Ok(script) = template::shell(template, &ctx(&s)) else {
                // Refused: only a value that would end a here-document early.
                prop_assert!(template.contains("<<"), "{template} refused {s:?}");
                continue;
            };
            let (out, created) = sh_in_dir(&script);
            prop_assert!(!created, "{template} with {s:?} ran something: {script}");
            let expected = expected(&s);
            // `cat <<-` strips leading tabs of every line, ours included.
            if !template.contains("<<-") || !s.contains('\n') {
                prop_assert_eq!(String::from_utf8_lossy(&out), expected, "{} → {}", template, script);
            }
        }
    }

    #[test]
    fn argv_mode_gives_values_back(s in hostile()) {
        let args = template::argv(
            &["printf".into(), "%s".into(), "{{ s }}".into()],
            &ctx(&s),
        ).unwrap();
        let out = Process::new(&args[0]).args(&args[1..]).output().unwrap().stdout;
        prop_assert_eq!(out, s.as_bytes());
    }

    #[test]
    fn any_text_is_a_spec_or_a_diagnostic(text in "\\PC{0,200}") {
        let _ = omni_launch::spec::parse(&text, "prop.yaml");
    }

    #[test]
    fn any_json_is_inputs_or_problems(doc in arb_json()) {
        let spec = omni_launch::spec::load(&crate::util::root().join("fixtures/specs/valid/all_types.yaml")).unwrap();
        let result = omni_launch::inputs::validate(
            &spec,
            &doc,
            PathCheck { must_exist: true, base_dir: std::path::Path::new("/") },
        );
        if let Err(problems) = result {
            prop_assert!(!problems.is_empty());
            for p in problems {
                prop_assert!(p.path.starts_with("inputs"));
            }
        }
    }

    #[test]
    fn valid_strings_are_kept_exactly(s in "[^\u{0}]{0,40}") {
        let spec = omni_launch::spec::parse(
            "id: t\ninputs:\n  s: {type: string}\ncommand: echo {{ s }}\n",
            "t.yaml",
        ).unwrap();
        let doc = serde_json::json!({ "s": s });
        let values = omni_launch::inputs::validate(
            &spec,
            &doc,
            PathCheck { must_exist: true, base_dir: std::path::Path::new("/") },
        ).unwrap();
        prop_assert_eq!(&values["s"], &omni_launch::value::Value::String(s));
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        "\\PC{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::json!("name")),
        Just(serde_json::json!({"class": "File", "path": "/etc/passwd"})),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("name".to_string()),
                    Just("count".to_string()),
                    Just("reads".to_string()),
                    Just("mode".to_string()),
                    Just("tags".to_string()),
                    "[a-z]{1,5}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}
