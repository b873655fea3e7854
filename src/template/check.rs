//! Static checks of command, argv and env templates: syntax, names that are
//! not declared, and constructs that would defeat the shell quoting.
//! This module only looks; it renders nothing.

use minijinja::machinery::{Token, tokenize};
use minijinja::syntax::SyntaxConfig;

/// Functions minijinja provides to every template.
const BUILTIN_GLOBALS: &[&str] = &["range", "dict", "namespace", "debug"];

/// Every problem of one template, as sentences.
pub fn check(source: &str, declared: &[&str]) -> Vec<String> {
    if source.contains('\0') {
        return vec!["the template contains a NUL character".to_string()];
    }
    let mut problems = Vec::new();
    let mut previous: [Option<Token>; 2] = [None, None];
    for token in tokenize(source, false, SyntaxConfig::default()) {
        let (token, span) = match token {
            Ok(t) => t,
            Err(err) => return vec![describe_error(&err)],
        };
        let line = span.start_line;
        match (&previous, &token) {
            ([_, Some(Token::BlockStart)], Token::Ident("autoescape")) => problems.push(format!(
                "`{{% autoescape %}}` blocks are not allowed: values are always shell-quoted (template line {line})"
            )),
            ([_, Some(Token::Pipe)], Token::Ident("safe"))
            | ([Some(Token::BlockStart), Some(Token::Ident("filter"))], Token::Ident("safe")) => {
                problems.push(format!(
                    "the `safe` filter is not allowed: it would let a value bypass shell quoting (template line {line})"
                ))
            }
            _ => {}
        }
        previous = [previous[1].take(), Some(token)];
    }
    if !problems.is_empty() {
        return problems;
    }
    let env = super::environment(super::Mode::Shell);
    let template = match env.template_from_str(source) {
        Ok(t) => t,
        Err(err) => return vec![describe_error(&err)],
    };
    let mut undeclared: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| {
            !declared.contains(&name.as_str()) && !BUILTIN_GLOBALS.contains(&name.as_str())
        })
        .collect();
    undeclared.sort();
    for name in undeclared {
        let hint = crate::suggest::did_you_mean(&name, declared.iter().copied())
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

    #[test]
    fn finds_undeclared_with_suggestion() {
        let problems = check("echo {{ qurey }}", &["query"]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("did you mean `query`"), "{problems:?}");
    }

    #[test]
    fn rejects_quoting_escapes() {
        assert_eq!(
            check("{% autoescape false %}{{ a }}{% endautoescape %}", &["a"]).len(),
            1
        );
        assert_eq!(check("{{ a | safe }}", &["a"]).len(), 1);
        assert_eq!(
            check("{% filter safe %}{{ a }}{% endfilter %}", &["a"]).len(),
            1
        );
        // The word in a string is harmless.
        assert!(check("echo '{{ \"safe\" }}' {{ a }}", &["a"]).is_empty());
    }

    #[test]
    fn loops_declare_their_variables() {
        assert!(
            check(
                "{% for x in xs %}{{ x }} {{ loop.index }}{% endfor %}",
                &["xs"]
            )
            .is_empty()
        );
    }
}
