//! The lexer's verdicts on small commands, one table per construct.

use super::*;
use crate::template::shell::marker;

fn contexts(template: &str) -> Vec<Context> {
    let mut marked = String::new();
    let mut n = 0;
    for (i, piece) in template.split("@").enumerate() {
        if i > 0 {
            marked.push_str(&marker(n));
            n += 1;
        }
        marked.push_str(piece);
    }
    let lexed = lex(&marked);
    (0..n)
        .map(|i| lexed.contexts.get(&i).cloned().unwrap_or(Context::Unquoted))
        .collect()
}

fn code(program: &str) -> Context {
    Context::Forbidden(Forbidden::Code(program.into()))
}

#[test]
fn quoting_contexts() {
    use Context::*;
    assert_eq!(contexts("echo @ x@y --a=@"), [Unquoted, Unquoted, Unquoted]);
    assert_eq!(
        contexts("echo \"a @ b\" 'c @'"),
        [Double, Forbidden(super::Forbidden::SingleQuotes)]
    );
    assert_eq!(
        contexts("echo `@` $(echo @) \"$(printf @)\""),
        [Forbidden(super::Forbidden::Backticks), Unquoted, Unquoted]
    );
    assert_eq!(
        contexts("echo ${X:-@} $@ $((@ + 1))"),
        [
            Forbidden(super::Forbidden::Parameter),
            Forbidden(super::Forbidden::AfterDollar),
            Arithmetic
        ]
    );
    assert_eq!(
        contexts("echo a#@ # @\necho @"),
        [Unquoted, Forbidden(super::Forbidden::Comment), Unquoted]
    );
}

#[test]
fn heredocs() {
    use Context::*;
    assert_eq!(
        contexts("cat <<EOF > f\nname=@\nEOF\necho @"),
        [HeredocExpanding, Unquoted]
    );
    assert_eq!(contexts("cat <<'EOF'\n@\nEOF"), [HeredocLiteral]);
    assert_eq!(contexts("cat <<-\"E\"\n\t@\n\tE\n"), [HeredocLiteral]);
    assert_eq!(contexts("sh <<EOF\necho @\nEOF"), [code("sh")]);
    assert_eq!(
        contexts("cat <<@\nx\n"),
        [Forbidden(super::Forbidden::HeredocWord)]
    );
    let lexed = lex("cat <<E\nab\nE\n");
    assert_eq!(lexed.heredocs[0].delimiter, "E");
}

#[test]
fn code_for_other_programs() {
    use Context::*;
    assert_eq!(contexts("sh -c \"echo @\""), [code("sh")]);
    assert_eq!(contexts("bash -lc @"), [code("bash")]);
    assert_eq!(contexts("sh -c 'echo \"$1\"' sh @"), [Unquoted]);
    assert_eq!(contexts("/bin/sh @ arg"), [Unquoted]);
    assert_eq!(lex(&format!("sh {} x", marker(0))).operands, [0]);
    assert_eq!(contexts("timeout 5 sh -c @"), [code("sh")]);
    assert_eq!(contexts("eval echo @"), [code("eval")]);
    assert_eq!(
        contexts("python3 -c \"print('@')\" @"),
        [code("python3"), Unquoted]
    );
    assert_eq!(
        contexts("awk -F , \"{print @}\" @"),
        [code("awk"), Unquoted]
    );
    assert_eq!(contexts("sed -e \"s/a/@/\" @"), [code("sed"), Unquoted]);
    assert_eq!(contexts("printf '%s' @ | sh"), [code("sh")]);
    assert_eq!(contexts("printf '%s' @ | sort"), [Unquoted]);
    assert_eq!(contexts("echo @; sh -c true"), [Unquoted]);
}
