//! `omni-launch new`: a commented starter spec that validates as written,
//! and, from a program's `--help`, a draft of its options as inputs, each
//! marked for review.

use std::fmt::Write as _;
use std::time::Duration;

use regex::Regex;

/// One option read from a help text.
#[derive(Debug, PartialEq)]
struct Option_ {
    /// As written: `--threads`, or `-t`.
    flag: String,
    /// The input's name: `threads`.
    name: String,
    /// `int`, `float`, `string`; `boolean` when it takes no value.
    ty: &'static str,
    /// The help line it came from.
    line: String,
}

/// The starter spec for `id`, with `help` (a program and its help text) as
/// a draft of its inputs.
pub fn starter(id: &str, help: Option<(&str, &str)>) -> String {
    let program = help.map_or(id, |(program, _)| program);
    let options = help.map(|(_, text)| options(text)).unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# A tool spec for omni-launch. Check it with `omni-launch validate {id}.yaml`,\n\
         # try it with `omni-launch render {id}.yaml --inputs '{{…}}'`. Editors complete\n\
         # it with the schema from `omni-launch schema --spec-format`.\n\
         id: {id}\n\
         version: \"0.1.0\"\n\
         description: What {program} does, in one line.\n\
         requirements:\n  binaries: [{program}]\n\
         \x20 # container: registry.example.org/{program}:1.0   # for --runner docker\n\
         \x20 # resources: {{cpu: 2, memory_mb: 4096}}          # defaults; RESOURCES_JSON overrides\n\
         inputs:\n\
         \x20 input:\n    type: File\n    description: The file {program} reads.\n\
         \x20   # format: edam:format_1929                    # FASTA; EDAM format identifiers\n\
         \x20   # stage: link                                 # if {program} writes beside its input"
    );
    if options.is_empty() {
        out.push_str(
            "  # threads: {type: int, default: 1, min: 1}       # then: -t {{ threads }}\n\
             \x20 # mode: {type: enum, symbols: [fast, exact], default: fast}\n\
             \x20 # verbose: {type: boolean, default: false}     # then: {% if verbose %}-v{% endif %}\n",
        );
    }
    for option in &options {
        let _ = writeln!(
            out,
            "  # REVIEW: from `{}`\n  {}: {{type: {}?}}",
            option.line.trim().replace('`', "'"),
            option.name,
            if option.ty == "boolean" {
                "boolean"
            } else {
                option.ty
            }
        );
    }
    out.push_str("command: >-\n");
    let _ = write!(out, "  {program}");
    for option in &options {
        let _ = if option.ty == "boolean" {
            write!(
                out,
                "\n  {{% if {} %}}{}{{% endif %}}",
                option.name, option.flag
            )
        } else {
            write!(
                out,
                "\n  {{% if {} is not none %}}{} {{{{ {} }}}}{{% endif %}}",
                option.name, option.flag, option.name
            )
        };
    }
    out.push_str(
        " {{ input }} > result.txt\n\
         outputs:\n  result:\n    type: File\n    glob: result.txt\n    description: What the tool wrote.\n\
         \x20 # log: {type: string, from: stderr, optional: true}\n",
    );
    out
}

/// The options a help text lists, one per option line, each once.
fn options(help: &str) -> Vec<Option_> {
    // `-t, --threads INT   text`, `--out=FILE  text`, `-v  text`.
    let Ok(line_re) = Regex::new(
        r"^\s{1,8}(?:(-[A-Za-z0-9])(?:,\s*)?)?(--[A-Za-z][A-Za-z0-9-]*)?(?:[ =]([<\[]?[A-Za-z][A-Za-z0-9_.|-]*[>\]]?))?(?:\s{2,}|\t|$)",
    ) else {
        return Vec::new();
    };
    let mut found: Vec<Option_> = Vec::new();
    for line in help.lines() {
        let Some(caps) = line_re.captures(line) else {
            continue;
        };
        let short = caps.get(1).map(|m| m.as_str());
        let long = caps.get(2).map(|m| m.as_str());
        let Some(flag) = long.or(short) else {
            continue;
        };
        if matches!(flag, "--help" | "-h" | "--version" | "-V") {
            continue;
        }
        let name = name_of(flag);
        if name.is_empty() || found.iter().any(|o| o.name == name) {
            continue;
        }
        let metavar = caps.get(3).map(|m| m.as_str().to_ascii_lowercase());
        let ty = match metavar.as_deref() {
            None => "boolean",
            Some(m) if m.contains("int") || m == "n" || m.contains("num") => "int",
            Some(m) if m.contains("float") || m.contains("double") => "float",
            Some(_) => "string",
        };
        found.push(Option_ {
            flag: flag.to_string(),
            name,
            ty,
            line: line.to_string(),
        });
    }
    found
}

/// `--min-length` → `min_length`; a name that cannot be an input gets a
/// prefix (`-1` → `opt_1`); reserved names too.
fn name_of(flag: &str) -> String {
    let bare: String = flag
        .trim_start_matches('-')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let reserved = crate::template::CONTEXT_NAMES.contains(&bare.as_str()) || bare == "input";
    if bare.starts_with(|c: char| c.is_ascii_digit()) || reserved {
        format!("opt_{bare}")
    } else {
        bare
    }
}

/// A program's help text: `--help`, else `-h`, else no arguments; stdout
/// and stderr together, at most 5 s each.
pub fn help_of(program: &str) -> Option<String> {
    for args in [&["--help"][..], &["-h"], &[]] {
        let Ok(mut child) = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
        else {
            return None;
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let Ok(output) = child.wait_with_output() else {
            continue;
        };
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if text.lines().any(|l| l.trim_start().starts_with('-')) {
            return Some(text);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_help_lines() {
        let help = "Usage: tool [options] FILE\n\nOptions:\n  -t, --threads INT     number of threads [1]\n  --min-length=N        shortest read\n  -q FLOAT              quality cutoff\n  -v, --verbose         say more\n  -o, --output FILE     write here\n  -h, --help            this help\n";
        let found: Vec<(String, &str)> =
            options(help).into_iter().map(|o| (o.name, o.ty)).collect();
        assert_eq!(
            found,
            [
                ("threads".to_string(), "int"),
                ("min_length".to_string(), "int"),
                ("q".to_string(), "float"),
                ("verbose".to_string(), "boolean"),
                ("output".to_string(), "string"),
            ]
        );
    }

    #[test]
    fn starters_validate() {
        for help in [
            None,
            Some((
                "tool",
                "  -t, --threads INT   n\n  -v  loud\n  --run-id X  x\n",
            )),
        ] {
            let text = starter("my_tool", help);
            let spec = crate::spec::parse(&text, "my_tool.yaml");
            assert!(spec.is_ok(), "{text}\n{:?}", spec.err());
        }
    }
}
