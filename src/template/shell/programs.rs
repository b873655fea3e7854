//! Programs that run code given in their arguments: shells (`-c`),
//! `eval`, interpreters (`python -c`, `perl -e` …) and programs whose first
//! operand is a program (`awk`, `sed`).

/// Shells: their `-c` argument is a script.
const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "fish",
];

/// Interpreters and the options whose argument is a program.
const INTERPRETERS: &[(&str, &[&str])] = &[
    ("python", &["-c"]),
    ("python2", &["-c"]),
    ("python3", &["-c"]),
    ("perl", &["-e", "-E"]),
    ("ruby", &["-e"]),
    ("node", &["-e", "-p", "--eval", "--print"]),
    ("nodejs", &["-e", "-p", "--eval", "--print"]),
    ("Rscript", &["-e"]),
    ("R", &["-e"]),
    ("php", &["-r"]),
];

/// Programs whose first operand is a program, and their options that take
/// an argument.
const PROGRAM_FIRST: &[(&str, &[&str])] = &[
    ("awk", &["-F", "-v", "-f"]),
    ("gawk", &["-F", "-v", "-f"]),
    ("mawk", &["-F", "-v", "-f"]),
    ("nawk", &["-F", "-v", "-f"]),
    ("sed", &["-e", "-f", "-l"]),
];

/// One word of a simple command: its literal text (quotes removed) and the
/// markers in it.
#[derive(Debug, Default)]
pub struct Word {
    pub text: String,
    pub markers: Vec<usize>,
    /// Anything written yet (a word may be an empty quoted string).
    pub started: bool,
}

pub fn program_name(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

pub fn is_shell(word: &str) -> bool {
    SHELLS.contains(&program_name(word))
}

/// A pipeline stage that is a shell reading its script from stdin.
pub fn bare_shell(stage: &[Word]) -> bool {
    let Some(first) = stage.first() else {
        return false;
    };
    is_shell(&first.text)
        && stage[1..]
            .iter()
            .all(|w| w.text.starts_with('-') && !w.text.contains('c') || w.text == "-s")
}

/// What a command that runs code from its words takes as code.
pub struct Runs {
    pub program: String,
    /// The words that are code.
    pub code: Vec<usize>,
    /// The first operand of a shell or interpreter (a script file): a value
    /// there must not look like an option, or it could make the next word
    /// code (`sh -c …`).
    pub operand: Option<usize>,
}

/// If this command runs code given in its words, which words those are.
pub fn code_words(words: &[Word]) -> Option<Runs> {
    for (j, word) in words.iter().enumerate() {
        let name = program_name(&word.text);
        let runs = |code: Vec<usize>, operand: Option<usize>| {
            Some(Runs {
                program: name.to_string(),
                code,
                operand,
            })
        };
        if name == "eval" {
            return runs((j + 1..words.len()).collect(), None);
        }
        // A literal option: no value is in it.
        let option =
            |w: &Word| w.markers.is_empty() && (w.text.starts_with('-') || w.text.starts_with('+'));
        if is_shell(&word.text) {
            let mut dash_c = false;
            let mut k = j + 1;
            while let Some(w) = words.get(k).filter(|w| option(w)) {
                if w.text == "--" {
                    k += 1;
                    break;
                }
                dash_c |= !w.text.starts_with("--") && w.text.contains('c');
                k += 1;
            }
            return if dash_c {
                runs(vec![k], None)
            } else {
                runs(Vec::new(), Some(k))
            };
        }
        if let Some((_, flags)) = INTERPRETERS.iter().find(|(n, _)| *n == name) {
            let mut k = j + 1;
            while let Some(w) = words.get(k) {
                if flags.contains(&w.text.as_str()) {
                    return runs(vec![k, k + 1], None);
                }
                if flags.iter().any(|f| f.len() == 2 && w.text.starts_with(f)) {
                    return runs(vec![k], None);
                }
                if !option(w) {
                    return runs(Vec::new(), Some(k));
                }
                k += 1;
            }
            return runs(Vec::new(), None);
        }
        if let Some((_, with_argument)) = PROGRAM_FIRST.iter().find(|(n, _)| *n == name) {
            let mut code = Vec::new();
            let mut from_file = false;
            let mut k = j + 1;
            while let Some(w) = words.get(k) {
                if w.text == "-e" || w.text == "--expression" {
                    code.extend([k, k + 1]);
                    k += 2;
                } else if with_argument.contains(&w.text.as_str()) {
                    from_file |= w.text == "-f";
                    k += 2;
                } else if option(w) {
                    k += 1;
                } else {
                    if code.is_empty() && !from_file {
                        code.push(k);
                    }
                    break;
                }
            }
            return runs(code, None);
        }
    }
    None
}
