//! Sprig's case conversions from huandu/xstrings (`snakecase`, `kebabcase`, `camelcase`, the
//! upper camel case of `ToPascalCase`) and goutils' `Uncapitalize` (`untitle`).
//!
//! xstrings splits a string into words (connectors `-`, `_` and spaces; punctuation runs; an
//! upper-case run or a capitalised word; a lower-case run; a number run; anything else), and
//! the word boundaries below follow its `camelCaseToLowerCase` state machine.

use std::sync::OnceLock;

use super::reg;
use super::strings::is_space;
use crate::func::{arg_str, Arity, FuncMap};
use crate::gostr::{lower_rune, upper_rune};

/// The kinds of word xstrings' `nextWord` tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || is_space(c)
}

/// Go's `unicode.IsPunct` (general category P).
fn is_punct(c: char) -> bool {
    static P: OnceLock<::regex::Regex> = OnceLock::new();
    let re = P.get_or_init(|| ::regex::Regex::new(r"^\p{P}$").expect("static regex"));
    let mut b = [0u8; 4];
    re.is_match(c.encode_utf8(&mut b))
}

/// xstrings' `isAlphabet`: a letter that is not a CJK ideograph.
fn is_alphabet(c: char) -> bool {
    c.is_alphabetic()
        && !matches!(c, '\u{4E00}'..='\u{9FCC}' | '\u{3400}'..='\u{4D85}' | '\u{20000}'..='\u{2B81D}')
}

/// The next word of `s` and its kind; `None` at the end.
fn next_word(s: &str) -> Option<(Word, &str, &str)> {
    let mut it = s.char_indices().peekable();
    let (_, first) = it.next()?;
    let take_while = |mut it: std::iter::Peekable<std::str::CharIndices<'_>>,
                      keep: &dyn Fn(char) -> bool| {
        while let Some(&(_, c)) = it.peek() {
            if !keep(c) {
                break;
            }
            it.next();
        }
        it.peek().map_or(s.len(), |&(i, _)| i)
    };
    let (kind, end) = if is_connector(first) {
        (Word::Connector, take_while(it, &is_connector))
    } else if is_punct(first) {
        (Word::Punct, take_while(it, &is_punct))
    } else if first.is_uppercase() {
        let end = match it.peek().map(|&(_, c)| c) {
            Some(c) if c.is_uppercase() => {
                // An upper-case run; its last capital starts the next word when a letter follows.
                let mut last = first.len_utf8();
                let mut end = last;
                while let Some(&(i, c)) = it.peek() {
                    if !c.is_uppercase() {
                        break;
                    }
                    last = i;
                    end = i + c.len_utf8();
                    it.next();
                }
                match it.peek() {
                    Some(&(_, c)) if is_alphabet(c) => last,
                    _ => end,
                }
            }
            Some(c) if is_alphabet(c) => {
                take_while(it, &|c: char| is_alphabet(c) && !c.is_uppercase())
            }
            _ => first.len_utf8(),
        };
        (Word::Upper, end)
    } else if is_alphabet(first) {
        (
            Word::Alphabet,
            take_while(it, &|c: char| is_alphabet(c) && !c.is_uppercase()),
        )
    } else if first.is_numeric() {
        (Word::Number, take_while(it, &char::is_numeric))
    } else {
        (
            Word::Other,
            take_while(it, &|c: char| {
                !(is_connector(c) || is_alphabet(c) || c.is_numeric() || is_punct(c))
            }),
        )
    };
    Some((kind, &s[..end], &s[end..]))
}

/// xstrings' `toLower`: upper-case and connector words lowered, connectors replaced.
fn push_lower(out: &mut String, kind: Word, word: &str, conn: char) {
    if kind != Word::Upper && kind != Word::Connector {
        out.push_str(word);
        return;
    }
    out.extend(
        word.chars()
            .map(|c| if is_connector(c) { conn } else { lower_rune(c) }),
    );
}

/// xstrings' `ToSnakeCase` (`conn` `_`) and `ToKebabCase` (`-`), over the words of `s`.
fn to_lower_case(s: &str, conn: char) -> String {
    let mut words = Vec::new();
    let mut rest = s;
    while let Some((kind, word, r)) = next_word(rest) {
        words.push((kind, word));
        rest = r;
    }
    let n = words.len();
    // Past the last word is xstrings' `invalidWord` (`None`).
    let at = |i: usize| words.get(i).map(|w| w.0);
    let text = |i: usize| words.get(i).map_or("", |w| w.1);
    let is_word = |k: Option<Word>| matches!(k, Some(Word::Alphabet | Word::Number));
    let joins = |k: Option<Word>| !matches!(k, None | Some(Word::Punct | Word::Connector));
    let lower = |out: &mut String, k: Option<Word>, w: &str| {
        if let Some(k) = k {
            push_lower(out, k, w, conn);
        }
    };
    let mut out = String::with_capacity(s.len() + 4);
    let mut i = 0;
    while i + 1 < n {
        let prev = words[i].0;
        if prev != Word::Connector {
            push_lower(&mut out, prev, words[i].1, conn);
        }
        let last = i;
        i += 1;
        match prev {
            Word::Number => {
                while is_word(at(i)) {
                    lower(&mut out, at(i), text(i));
                    i += 1;
                }
                if joins(at(i)) {
                    out.push(conn);
                }
            }
            Word::Connector => push_lower(&mut out, prev, words[last].1, conn),
            Word::Punct => {}
            _ if at(i) != Some(Word::Number) => {
                if joins(at(i)) {
                    out.push(conn);
                }
            }
            _ if i + 1 >= n => {}
            _ => {
                let num = i;
                i += 1;
                if at(i) != Some(Word::Alphabet) {
                    push_lower(&mut out, Word::Number, words[num].1, conn);
                } else {
                    out.push(conn);
                    push_lower(&mut out, Word::Number, words[num].1, conn);
                    while is_word(at(i)) {
                        lower(&mut out, at(i), text(i));
                        i += 1;
                    }
                }
                if joins(at(i)) {
                    out.push(conn);
                }
            }
        }
    }
    lower(&mut out, at(i), text(i));
    out
}

/// xstrings' upper camel case (Sprig's `camelcase`): connectors dropped, the first rune and
/// every rune after a connector upper-cased; leading connectors and runs of two or more kept.
fn to_camel_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    let mut r0 = None;
    for c in chars.by_ref() {
        if !is_connector(c) {
            r0 = Some(upper_rune(c));
            break;
        }
        out.push(c);
    }
    let Some(mut r0) = r0 else {
        // All connectors: xstrings writes the last one a second time.
        out.extend(s.chars().last());
        return out;
    };
    for c in chars {
        let r1 = r0;
        r0 = c;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            r0 = upper_rune(r0);
        } else {
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

/// goutils' `Uncapitalize`: the first rune of every space-separated word lowered.
fn untitle(s: &str) -> String {
    let mut next = true;
    s.chars()
        .map(|c| {
            if is_space(c) {
                next = true;
                c
            } else if next {
                next = false;
                lower_rune(c)
            } else {
                c
            }
        })
        .collect()
}

/// Registers `snakecase kebabcase camelcase untitle`.
pub(super) fn register(f: &mut FuncMap) {
    reg(f, "snakecase", Arity::exact(1), |_, a| {
        Ok(to_lower_case(arg_str(a, 0)?, '_').into())
    });
    reg(f, "kebabcase", Arity::exact(1), |_, a| {
        Ok(to_lower_case(arg_str(a, 0)?, '-').into())
    });
    reg(f, "camelcase", Arity::exact(1), |_, a| {
        Ok(to_camel_case(arg_str(a, 0)?).into())
    });
    reg(f, "untitle", Arity::exact(1), |_, a| {
        Ok(untitle(arg_str(a, 0)?).into())
    });
}
