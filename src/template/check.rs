//! Static checks of command, argv and env templates, so that `validate`
//! finds what would otherwise fail every run: syntax, names that are not
//! declared, unknown filters and tests, attributes an object does not have,
//! loading other templates, and constructs that would defeat the shell
//! quoting. This module only looks; it renders nothing.

use minijinja::machinery::{Token, tokenize};
use minijinja::syntax::SyntaxConfig;

/// Functions minijinja provides to every template.
const BUILTIN_GLOBALS: &[&str] = &["range", "dict", "namespace", "debug"];

/// minijinja's built-in filters, for "did you mean" only (whether one
/// exists is asked of the environment itself).
const FILTERS: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "chain",
    "count",
    "d",
    "default",
    "dictsort",
    "escape",
    "e",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
    "urlencode",
    "zip",
];

/// minijinja's built-in tests, for "did you mean" only.
const TESTS: &[&str] = &[
    "boolean",
    "defined",
    "divisibleby",
    "endingwith",
    "eq",
    "even",
    "false",
    "filter",
    "float",
    "ge",
    "gt",
    "in",
    "integer",
    "iterable",
    "le",
    "lower",
    "lt",
    "mapping",
    "ne",
    "none",
    "number",
    "odd",
    "sameas",
    "sequence",
    "startingwith",
    "string",
    "test",
    "true",
    "undefined",
    "upper",
];

/// What a template may name.
pub struct Names<'a> {
    /// Every variable the template may use: the inputs and the context.
    pub declared: Vec<&'a str>,
    /// Variables whose attributes are known (a File input, `resources`,
    /// `inputs`), with those attributes.
    pub attributes: Vec<(&'a str, Vec<&'a str>)>,
}

impl Names<'_> {
    fn attributes_of(&self, name: &str) -> Option<&[&str]> {
        self.attributes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, attrs)| attrs.as_slice())
    }
}

/// A use the tokens show: what, the name, and the template line.
enum Use<'a> {
    Filter(&'a str),
    Test(&'a str),
    /// `root.attr`, or `inputs.root.attr`.
    Attribute(&'a str, &'a str),
}

/// Every problem of one template, as sentences.
pub fn check(source: &str, names: &Names) -> Vec<String> {
    if source.contains('\0') {
        return vec!["the template contains a NUL character".to_string()];
    }
    let mut problems = Vec::new();
    let mut uses = Vec::new();
    let mut window: Vec<Token> = Vec::new();
    for token in tokenize(source, false, SyntaxConfig::default()) {
        let (token, span) = match token {
            Ok(t) => t,
            Err(err) => return vec![describe_error(&err)],
        };
        let line = span.start_line;
        window.push(token);
        if window.len() > 5 {
            window.remove(0);
        }
        let last = |n: usize| window.len().checked_sub(n + 1).and_then(|i| window.get(i));
        match (last(2), last(1), last(0)) {
            (_, Some(Token::BlockStart), Some(Token::Ident("autoescape"))) => problems.push(format!(
                "`{{% autoescape %}}` blocks are not allowed: values are always shell-quoted (template line {line})"
            )),
            (_, Some(Token::BlockStart), Some(Token::Ident(
                load @ ("include" | "import" | "from" | "extends"),
            ))) => problems.push(format!(
                "`{{% {load} %}}` is not allowed: a spec's templates cannot load other templates (template line {line})"
            )),
            (_, Some(Token::Pipe), Some(Token::Ident("safe")))
            | (Some(Token::BlockStart), Some(Token::Ident("filter")), Some(Token::Ident("safe"))) => {
                problems.push(format!(
                    "the `safe` filter is not allowed: it would let a value bypass shell quoting (template line {line})"
                ))
            }
            (_, Some(Token::Pipe), Some(Token::Ident(name)))
            | (Some(Token::BlockStart), Some(Token::Ident("filter")), Some(Token::Ident(name))) => {
                uses.push((Use::Filter(name), line));
            }
            (Some(Token::Ident("is")), Some(Token::Ident("not")), Some(Token::Ident(name)))
            | (_, Some(Token::Ident("is")), Some(Token::Ident(name))) if *name != "not" => {
                uses.push((Use::Test(name), line));
            }
            (Some(Token::Ident(root)), Some(Token::Dot), Some(Token::Ident(attr))) => {
                let nested = matches!(last(3), Some(Token::Dot));
                if !nested {
                    uses.push((Use::Attribute(root, attr), line));
                } else if let (Some(Token::Ident("inputs")), Some(Token::Dot)) = (last(4), last(3))
                {
                    uses.push((Use::Attribute(root, attr), line));
                }
            }
            _ => {}
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    // Verbatim output, so that `known` can read its answers.
    let env = super::environment(super::Mode::Argv);
    let template = match env.template_from_str(source) {
        Ok(t) => t,
        Err(err) => return vec![describe_error(&err)],
    };
    for (found, line) in uses {
        if let Some(problem) = check_use(&env, names, &found, line) {
            problems.push(problem);
        }
    }
    let mut undeclared: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| {
            !names.declared.contains(&name.as_str()) && !BUILTIN_GLOBALS.contains(&name.as_str())
        })
        .collect();
    undeclared.sort();
    for name in undeclared {
        let hint = crate::suggest::did_you_mean(&name, names.declared.iter().copied())
            .map(|h| format!("; {h}"))
            .unwrap_or_default();
        problems.push(format!(
            "the template uses `{name}`, which is not declared{hint} (templates see the inputs and {})",
            super::CONTEXT_NAMES
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    problems
}

/// The places in a `command:` template where no quoting makes a value safe
/// (single quotes, backticks, `sh -c` scripts …), found by lexing the
/// template's text with a marker for each `{{ … }}`. Every branch of
/// every `{% if %}` is read, in order.
pub fn check_shell(source: &str) -> Vec<String> {
    if source.contains([super::shell::OPEN, super::shell::CLOSE]) {
        return vec![
            "the template contains Unicode noncharacters U+FDD0/U+FDD1, which are reserved".into(),
        ];
    }
    let mut marked = String::new();
    let mut places = Vec::new();
    let mut skipping = false;
    for token in tokenize(source, false, SyntaxConfig::default()) {
        let Ok((token, span)) = token else {
            // `check` reports syntax errors.
            return Vec::new();
        };
        match token {
            Token::TemplateData(text) if !skipping => marked.push_str(text),
            Token::VariableStart => {
                marked.push_str(&super::shell::marker(places.len()));
                places.push((span.start_line, span.start_col + 1));
                skipping = true;
            }
            Token::BlockStart => skipping = true,
            Token::VariableEnd | Token::BlockEnd => skipping = false,
            _ => {}
        }
    }
    let lexed = super::shell::lex(marked.trim());
    let mut problems = Vec::new();
    for (index, context) in &lexed.contexts {
        if let super::shell::Context::Forbidden(why) = context {
            let (line, column) = places.get(*index).copied().unwrap_or((0, 0));
            problems.push(format!(
                "a value {} is not allowed; {} (template line {line}, column {column})",
                why.describe(),
                why.hint()
            ));
        }
    }
    problems
}

/// The `argv:` elements that a shell or interpreter in the same argv takes
/// as code, and that hold a value.
pub fn check_argv(templates: &[String]) -> Vec<(usize, String)> {
    let words: Vec<super::shell::Word> = templates
        .iter()
        .map(|t| {
            let dynamic = t.contains("{{") || t.contains("{%");
            super::shell::Word {
                text: if dynamic { String::new() } else { t.clone() },
                markers: if dynamic { vec![0] } else { Vec::new() },
                started: true,
            }
        })
        .collect();
    let Some(runs) = super::shell::code_words(&words) else {
        return Vec::new();
    };
    runs.code
        .iter()
        .filter(|&&k| words.get(k).is_some_and(|w| !w.markers.is_empty()))
        .map(|&k| {
            (
                k,
                format!(
                    "this argument is code that `{p}` runs; a value in it is not allowed: pass the value as an argument of its own after the script (`{p}`, `-c`, `echo \"$1\"`, `{p}`, `{{{{ x }}}}`) or via `env`",
                    p = runs.program,
                ),
            )
        })
        .collect()
}

/// Whether the environment knows a filter or test: asked of minijinja
/// itself, through its own `filter` and `test` tests.
fn known(env: &minijinja::Environment, what: &str, name: &str) -> bool {
    env.render_str(
        &format!("{{{{ n is {what} }}}}"),
        minijinja::context! { n => name },
    )
    .is_ok_and(|out| out == "true")
}

fn check_use(
    env: &minijinja::Environment,
    names: &Names,
    found: &Use,
    line: u16,
) -> Option<String> {
    let hint = |unknown: &str, candidates: &[&str]| {
        crate::suggest::did_you_mean(unknown, candidates.iter().copied())
            .map(|h| format!("; {h}"))
            .unwrap_or_default()
    };
    match *found {
        Use::Filter(name) if !known(env, "filter", name) => Some(format!(
            "unknown filter `{name}`{} (template line {line})",
            hint(name, FILTERS)
        )),
        Use::Test(name) if !known(env, "test", name) => Some(format!(
            "unknown test `{name}`{} (template line {line})",
            hint(name, TESTS)
        )),
        Use::Attribute(root, attr) => {
            let attributes = names.attributes_of(root)?;
            (!attributes.contains(&attr)).then(|| {
                format!(
                    "`{root}` has no attribute `{attr}`{} (it has {}) (template line {line})",
                    hint(attr, attributes),
                    attributes
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        }
        _ => None,
    }
}

/// A minijinja error as one sentence with its template line.
pub fn describe_error(err: &minijinja::Error) -> String {
    let mut text = err.kind().to_string();
    if let Some(detail) = err.detail() {
        text.push_str(": ");
        text.push_str(detail);
    }
    if let Some(line) = err.line() {
        text.push_str(&format!(" (template line {line})"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<'a>(declared: &[&'a str]) -> Names<'a> {
        Names {
            declared: declared.to_vec(),
            attributes: vec![("f", vec!["path", "basename"])],
        }
    }

    #[test]
    fn finds_undeclared_with_suggestion() {
        let problems = check("echo {{ qurey }}", &names(&["query"]));
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("did you mean `query`"), "{problems:?}");
    }

    #[test]
    fn rejects_quoting_escapes() {
        let n = names(&["a"]);
        assert_eq!(
            check("{% autoescape false %}{{ a }}{% endautoescape %}", &n).len(),
            1
        );
        assert_eq!(check("{{ a | safe }}", &n).len(), 1);
        assert_eq!(
            check("{% filter safe %}{{ a }}{% endfilter %}", &n).len(),
            1
        );
        // The word in a string is harmless.
        assert!(check("echo '{{ \"safe\" }}' {{ a }}", &n).is_empty());
    }

    #[test]
    fn unknown_filters_tests_attributes_and_loads() {
        let n = names(&["a", "f"]);
        assert!(check("{{ a | uppr }}", &n)[0].contains("did you mean `upper`"));
        assert!(check("{{ a | upper }}", &n).is_empty());
        assert!(check("{% if a is nnone %}x{% endif %}", &n)[0].contains("unknown test"));
        assert!(check("{% if a is not none %}x{% endif %}", &n).is_empty());
        assert!(check("{{ f.pth }}", &n)[0].contains("did you mean `path`"));
        assert!(check("{{ f.path }}", &n).is_empty());
        assert!(check("{% include 'x' %}", &n)[0].contains("cannot load"));
    }

    #[test]
    fn loops_declare_their_variables() {
        assert!(
            check(
                "{% for x in xs %}{{ x }} {{ loop.index }}{% endfor %}",
                &names(&["xs"])
            )
            .is_empty()
        );
    }
}
