//! A memory budget for rendering templates. minijinja bounds the number of
//! instructions a template may run (fuel) but not the memory it may take:
//! a loop that doubles a string reaches gigabytes in sixty steps, and an
//! allocation the system refuses aborts the whole process, leaving no
//! results.json.
//!
//! So templates render on a worker thread whose allocations are counted by
//! the process's allocator. When the worker goes over its budget, the
//! allocator parks it for good instead of letting the allocation happen;
//! the caller sees that and reports a clear error, and the run ends
//! normally, with its results.json. Other threads are never counted.
//!
//! Most templates cannot grow that way: they copy values and their own text
//! into the output, each a fixed number of times. `copies_only` recognises
//! them, and they render on the caller's thread, which saves a run the
//! worker's start.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How much memory one rendering may hold at once.
pub const BUDGET: usize = 256 << 20;

thread_local! {
    /// The budget of this thread; 0: not counted.
    static LIMIT: Cell<usize> = const { Cell::new(0) };
    static USED: Cell<usize> = const { Cell::new(0) };
}

/// Set by a worker that went over its budget, just before it parks.
static TRIPPED: AtomicBool = AtomicBool::new(false);

fn charge(bytes: usize) {
    let limit = LIMIT.with(Cell::get);
    if limit == 0 {
        return;
    }
    let used = USED.with(|u| {
        let used = u.get().saturating_add(bytes);
        u.set(used);
        used
    });
    if used > limit {
        TRIPPED.store(true, Ordering::SeqCst);
        // Neither allocate (the system may refuse) nor unwind (an allocator
        // must not): this thread has nothing left to do.
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

fn refund(bytes: usize) {
    if LIMIT.with(Cell::get) != 0 {
        USED.with(|u| u.set(u.get().saturating_sub(bytes)));
    }
}

/// The process's allocator: the system's, counting on budgeted threads.
pub struct Counting;

#[allow(unsafe_code)]
// SAFETY: every method forwards to the system allocator with the caller's
// own arguments, after bookkeeping that neither allocates nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        refund(layout.size());
        // SAFETY: `ptr` came from this allocator, that is, from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            charge(new_size - layout.size());
        } else {
            refund(layout.size() - new_size);
        }
        // SAFETY: `ptr` came from `System`; the caller upholds the rest.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Why bounded work did not finish.
#[derive(Debug)]
pub enum Unfinished {
    /// It went over `BUDGET`.
    Exceeded,
    /// The worker could not start, or failed.
    Failed,
}

/// Runs `work` on a worker thread limited to `BUDGET` bytes.
pub fn bounded<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> Result<R, Unfinished> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("template".into())
        .spawn(move || {
            USED.with(|u| u.set(0));
            LIMIT.with(|l| l.set(BUDGET));
            let result = work();
            LIMIT.with(|l| l.set(0));
            let _ = tx.send(result);
        });
    if spawned.is_err() {
        return Err(Unfinished::Failed);
    }
    loop {
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(result) => return Ok(result),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if TRIPPED.swap(false, Ordering::SeqCst) {
                    return Err(Unfinished::Exceeded);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Unfinished::Failed);
            }
        }
    }
}

/// How many copies of the context a template can make at most, when all it
/// can do is copy values and its own text into the output: then rendering
/// it takes no more than about that many times the context's size, and
/// needs no budget when that is small. `None` for anything that repeats or
/// multiplies (loops, macros, `set`, calls of functions such as `range`,
/// `*`, `**`, `%`, a filter outside a short list of those whose output is
/// at most a fixed multiple of their input, `join` with a separator that is
/// not a literal) and for a template that does not tokenize.
pub fn copies_only(source: &str) -> Option<usize> {
    use minijinja::machinery::{Token, tokenize};
    use minijinja::syntax::SyntaxConfig;

    /// Filters whose output is at most a fixed multiple of their input,
    /// whatever their arguments.
    const COPYING: &[&str] = &[
        "abs",
        "bool",
        "capitalize",
        "count",
        "d",
        "default",
        "dictsort",
        "e",
        "escape",
        "first",
        "float",
        "int",
        "items",
        "last",
        "length",
        "lines",
        "list",
        "lower",
        "max",
        "min",
        "reverse",
        "round",
        "sort",
        "split",
        "string",
        "sum",
        "title",
        "trim",
        "unique",
        "upper",
        "urlencode",
    ];

    let mut tokens = Vec::new();
    for token in tokenize(source, false, SyntaxConfig::default()) {
        match token {
            Ok((token, _)) => tokens.push(token),
            Err(_) => return None,
        }
    }
    let mut i = 0;
    while let Some(token) = tokens.get(i) {
        let before = i.checked_sub(1).and_then(|j| tokens.get(j));
        let next = tokens.get(i + 1);
        match token {
            Token::Mul | Token::Pow | Token::Mod | Token::Assign => return None,
            Token::BlockStart
                if !matches!(next, Some(Token::Ident("if" | "elif" | "else" | "endif"))) =>
            {
                return None;
            }
            Token::Ident("join") if matches!(before, Some(Token::Pipe)) => {
                // `join` repeats its separator once per item: only a
                // literal one keeps that a copy of the template's text.
                if matches!(next, Some(Token::ParenOpen)) {
                    match (tokens.get(i + 2), tokens.get(i + 3)) {
                        (Some(Token::Str(_) | Token::String(_)), Some(Token::ParenClose)) => i += 3,
                        _ => return None,
                    }
                }
            }
            Token::Ident(name)
                if matches!(before, Some(Token::Pipe)) && !COPYING.contains(name) =>
            {
                return None;
            }
            // A copying filter, whatever its arguments.
            Token::Ident(_) if matches!(before, Some(Token::Pipe)) => {}
            // A test answers true or false, whatever it is given.
            Token::Ident(_) if is_test(&tokens, i) => {}
            Token::Ident(_) if matches!(next, Some(Token::ParenOpen)) => return None,
            _ => {}
        }
        i += 1;
    }
    // Each name can bring a value, or a part of one, into the output.
    let names = tokens
        .iter()
        .filter(|t| matches!(t, Token::Ident(_)))
        .count();
    Some(names.max(1))
}

/// Whether the name at `i` is a test's: after `is`, or `is not`.
fn is_test(tokens: &[minijinja::machinery::Token], i: usize) -> bool {
    use minijinja::machinery::Token;
    let back = |n: usize| i.checked_sub(n).and_then(|j| tokens.get(j));
    matches!(back(1), Some(Token::Ident("is")))
        || matches!(
            (back(2), back(1)),
            (Some(Token::Ident("is")), Some(Token::Ident("not")))
        )
}

#[cfg(test)]
mod tests {
    use super::copies_only;

    #[test]
    fn templates_that_only_copy() {
        for (source, copies) in [
            ("printf '%s\\n' {{ text }}", 1),
            (
                "-q {{ query.path }} {% if n is not none %}-n {{ n }}{% endif %}",
                9,
            ),
            ("{{ files|join(' ') }} {{ name|default('x')|upper }}", 5),
            (
                "{% if a is divisibleby(3) and not b %}{{ a ~ b }}{% else %}{{ c[0] }}{% endif %}",
                12,
            ),
            ("no values at all", 1),
        ] {
            assert_eq!(copies_only(source), Some(copies), "{source}");
        }
    }

    #[test]
    fn templates_that_can_multiply() {
        for source in [
            "{% for x in xs %}{{ x }}{% endfor %}",
            "{{ range(10) }}",
            "{{ 'a' * 1000000 }}",
            "{{ 2 ** 64 }}",
            "{{ '%s' % x }}",
            "{{ x|replace('', x) }}",
            "{{ x|center(1000000000) }}",
            "{{ xs|join(sep) }}",
            "{{ xs|join(' ' ~ x) }}",
            "{% if not range(9) %}{% endif %}",
            "{{ x.items() }}",
            "{% set y = x %}{{ y }}",
            "{% macro m() %}{% endmacro %}",
            "{{ x|round(precision=2) }}",
        ] {
            assert_eq!(copies_only(source), None, "{source}");
        }
    }
}
