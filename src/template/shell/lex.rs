//! The lexer: marked shell text in, the context of every marker out.

use super::programs::{Word, bare_shell, code_words, program_name};
use super::{CLOSE, Context, Forbidden, Lexed, OPEN};

/// Lexes marked shell text.
pub fn lex(text: &str) -> Lexed {
    let mut lexer = Lexer {
        chars: text.char_indices().collect(),
        pos: 0,
        lexed: Lexed::default(),
        pipeline: Vec::new(),
        pending: Vec::new(),
    };
    lexer.commands(Until::End);
    lexer.lexed
}

/// Where a run of commands ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    End,
    /// The `)` of `$( )`.
    Paren,
}

/// A here-document announced on the current line, waiting for its body.
pub(super) struct Pending {
    pub(super) delimiter: String,
    pub(super) quoted: bool,
    pub(super) strip_tabs: bool,
    /// The command it belongs to runs code from it.
    pub(super) feeds_code: Option<String>,
}

pub(super) struct Lexer {
    pub(super) chars: Vec<(usize, char)>,
    pub(super) pos: usize,
    pub(super) lexed: Lexed,
    /// The commands of the current pipeline, for `… | sh`.
    pub(super) pipeline: Vec<Vec<Word>>,
    pub(super) pending: Vec<Pending>,
}

impl Lexer {
    pub(super) fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).map(|&(_, c)| c)
    }

    pub(super) fn offset(&self) -> usize {
        self.chars.get(self.pos).map_or_else(
            || self.chars.last().map_or(0, |&(i, c)| i + c.len_utf8()),
            |&(i, _)| i,
        )
    }

    pub(super) fn set(&mut self, index: usize, context: Context) {
        // A stricter verdict is never loosened.
        let slot = self.lexed.contexts.entry(index).or_insert(context.clone());
        if !matches!(slot, Context::Forbidden(_)) {
            *slot = context;
        }
    }

    /// Reads a marker at the cursor (`OPEN digits CLOSE`), moving past it.
    pub(super) fn marker(&mut self) -> Option<usize> {
        if self.peek(0) != Some(OPEN) {
            return None;
        }
        let mut digits = String::new();
        let mut i = 1;
        while let Some(c) = self.peek(i) {
            if c == CLOSE {
                self.pos += i + 1;
                return digits.parse().ok();
            }
            if !c.is_ascii_digit() {
                return None;
            }
            digits.push(c);
            i += 1;
        }
        None
    }

    /// Commands until `until`; returns at its end (past a closing `)`).
    fn commands(&mut self, until: Until) {
        let mut words: Vec<Word> = Vec::new();
        let mut word = Word::default();
        loop {
            let Some(c) = self.peek(0) else {
                self.end_word(&mut words, &mut word);
                self.end_command(&mut words, true);
                return;
            };
            if c == OPEN
                && let Some(index) = self.marker()
            {
                self.set(index, Context::Unquoted);
                word.markers.push(index);
                word.started = true;
                continue;
            }
            match c {
                ' ' | '\t' => {
                    self.pos += 1;
                    self.end_word(&mut words, &mut word);
                }
                '\n' => {
                    self.pos += 1;
                    self.end_word(&mut words, &mut word);
                    self.end_command(&mut words, true);
                    self.heredoc_bodies();
                }
                ';' | '&' | '|' => {
                    self.end_word(&mut words, &mut word);
                    // `|` (and bash's `|&`) continue a pipeline; `||`,
                    // `&&`, `;`, `;;` and `&` end it.
                    let next = self.peek(1);
                    let pipe = c == '|' && next != Some('|');
                    self.pos += 1;
                    if matches!(
                        (c, next),
                        ('|', Some('|' | '&')) | ('&', Some('&')) | (';', Some(';'))
                    ) {
                        self.pos += 1;
                    }
                    self.end_command(&mut words, !pipe);
                }
                '(' => {
                    self.pos += 1;
                    self.end_word(&mut words, &mut word);
                    self.end_command(&mut words, true);
                }
                ')' => {
                    self.pos += 1;
                    self.end_word(&mut words, &mut word);
                    self.end_command(&mut words, true);
                    if until == Until::Paren {
                        return;
                    }
                }
                '<' if self.peek(1) == Some('<') && self.peek(2) != Some('<') => {
                    self.end_word(&mut words, &mut word);
                    self.pos += 2;
                    let strip_tabs = self.peek(0) == Some('-');
                    if strip_tabs {
                        self.pos += 1;
                    }
                    self.heredoc_word(strip_tabs, &words);
                }
                '<' | '>' => {
                    self.pos += 1;
                    self.end_word(&mut words, &mut word);
                }
                '#' if !word.started => self.comment(),
                '\'' => {
                    self.pos += 1;
                    word.started = true;
                    self.single(&mut word.text);
                }
                '"' => {
                    self.pos += 1;
                    word.started = true;
                    self.double(&mut word);
                }
                '`' => {
                    self.pos += 1;
                    word.started = true;
                    self.backticks();
                }
                '\\' => {
                    word.started = true;
                    self.pos += 1;
                    match self.peek(0) {
                        Some('\n') => self.pos += 1,
                        Some(next) => {
                            word.text.push(next);
                            self.pos += 1;
                        }
                        None => {}
                    }
                }
                '$' => {
                    word.started = true;
                    self.dollar(&mut word.text, false);
                }
                other => {
                    word.started = true;
                    word.text.push(other);
                    self.pos += 1;
                }
            }
        }
    }

    fn end_word(&mut self, words: &mut Vec<Word>, word: &mut Word) {
        if word.started {
            words.push(std::mem::take(word));
        }
    }

    /// A simple command ended: judge its markers; `pipeline_ends`: it is
    /// the last command of its pipeline.
    fn end_command(&mut self, words: &mut Vec<Word>, pipeline_ends: bool) {
        let words = std::mem::take(words);
        if let Some(runs) = code_words(&words) {
            for &k in &runs.code {
                for &m in words.get(k).map_or(&[][..], |w| &w.markers[..]) {
                    self.set(m, Context::Forbidden(Forbidden::Code(runs.program.clone())));
                }
            }
            if let Some(word) = runs.operand.and_then(|k| words.get(k)) {
                self.lexed.operands.extend(&word.markers);
            }
        }
        if !words.is_empty() {
            self.pipeline.push(words);
        }
        if pipeline_ends {
            let stages = std::mem::take(&mut self.pipeline);
            // `… | sh`: what the earlier stages print, a shell runs.
            if let Some(last) = stages.iter().skip(1).position(|stage| bare_shell(stage)) {
                let program = program_name(&stages[last + 1][0].text).to_string();
                for stage in &stages[..=last] {
                    for word in stage {
                        for &m in &word.markers {
                            self.set(m, Context::Forbidden(Forbidden::Code(program.clone())));
                        }
                    }
                }
            }
        }
    }

    fn comment(&mut self) {
        while let Some(c) = self.peek(0) {
            if c == '\n' {
                return;
            }
            if c == OPEN
                && let Some(index) = self.marker()
            {
                self.set(index, Context::Forbidden(Forbidden::Comment));
                continue;
            }
            self.pos += 1;
        }
    }

    fn single(&mut self, text: &mut String) {
        while let Some(c) = self.peek(0) {
            if c == '\'' {
                self.pos += 1;
                return;
            }
            if c == OPEN
                && let Some(index) = self.marker()
            {
                self.set(index, Context::Forbidden(Forbidden::SingleQuotes));
                continue;
            }
            text.push(c);
            self.pos += 1;
        }
    }

    fn double(&mut self, word: &mut Word) {
        while let Some(c) = self.peek(0) {
            if c == OPEN
                && let Some(index) = self.marker()
            {
                self.set(index, Context::Double);
                word.markers.push(index);
                continue;
            }
            match c {
                '"' => {
                    self.pos += 1;
                    return;
                }
                '\\' => {
                    self.pos += 1;
                    if let Some(next) = self.peek(0) {
                        if !matches!(next, '$' | '`' | '"' | '\\' | '\n') {
                            word.text.push('\\');
                        }
                        if next != '\n' {
                            word.text.push(next);
                        }
                        self.pos += 1;
                    }
                }
                '`' => {
                    self.pos += 1;
                    self.backticks();
                }
                '$' => self.dollar(&mut word.text, true),
                other => {
                    word.text.push(other);
                    self.pos += 1;
                }
            }
        }
    }

    /// Everything up to the closing backtick: no value may be in there.
    pub(super) fn backticks(&mut self) {
        while let Some(c) = self.peek(0) {
            if c == OPEN
                && let Some(index) = self.marker()
            {
                self.set(index, Context::Forbidden(Forbidden::Backticks));
                continue;
            }
            self.pos += 1;
            match c {
                '`' => return,
                '\\' => self.pos += 1,
                _ => {}
            }
        }
    }

    /// `$…` at the cursor: `$( )`, `$(( ))`, `${ }`, `$'…'`, or a name.
    pub(super) fn dollar(&mut self, text: &mut String, quoted: bool) {
        self.pos += 1;
        match self.peek(0) {
            Some('(') if self.peek(1) == Some('(') => {
                self.pos += 2;
                self.arithmetic();
            }
            Some('(') => {
                self.pos += 1;
                let pipeline = std::mem::take(&mut self.pipeline);
                self.commands(Until::Paren);
                self.pipeline = pipeline;
            }
            Some('{') => {
                self.pos += 1;
                self.parameter();
            }
            Some('\'') if !quoted => {
                // bash's $'…' reads escapes: no value may be in there.
                self.pos += 1;
                let mut ignored = String::new();
                self.single(&mut ignored);
            }
            Some(OPEN) => {
                if let Some(index) = self.marker() {
                    self.set(index, Context::Forbidden(Forbidden::AfterDollar));
                }
            }
            _ => text.push('$'),
        }
    }

    fn arithmetic(&mut self) {
        let mut depth = 0usize;
        while let Some(c) = self.peek(0) {
            if c == OPEN
                && let Some(index) = self.marker()
            {
                self.set(index, Context::Arithmetic);
                continue;
            }
            self.pos += 1;
            match c {
                '(' => depth += 1,
                ')' if depth > 0 => depth -= 1,
                ')' if self.peek(0) == Some(')') => {
                    self.pos += 1;
                    return;
                }
                _ => {}
            }
        }
    }

    fn parameter(&mut self) {
        let mut depth = 0usize;
        while let Some(c) = self.peek(0) {
            if c == OPEN
                && let Some(index) = self.marker()
            {
                self.set(index, Context::Forbidden(Forbidden::Parameter));
                continue;
            }
            self.pos += 1;
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => return,
                '}' => depth -= 1,
                '\\' => self.pos += 1,
                _ => {}
            }
        }
    }
}
