//! The lexer of Go's `text/template`, item for item (Go 1.19 semantics).

/// Kinds of lexical items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum T {
    Error,
    Bool,
    Char,
    CharConstant,
    Comment,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    // keywords
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Range,
    Nil,
    Template,
    With,
}

/// A lexical item: kind, byte span in the source, line of its start, and an error text for `T::Error`.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub typ: T,
    pub pos: usize,
    pub end: usize,
    pub line: usize,
    pub err: Option<String>,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn keyword(w: &str) -> Option<T> {
    Some(match w {
        "." => T::Dot,
        "block" => T::Block,
        "break" => T::Break,
        "continue" => T::Continue,
        "define" => T::Define,
        "else" => T::Else,
        "end" => T::End,
        "if" => T::If,
        "range" => T::Range,
        "nil" => T::Nil,
        "template" => T::Template,
        "with" => T::With,
        _ => return None,
    })
}

fn left_trim_len(s: &str) -> usize {
    s.len() - s.trim_start_matches([' ', '\t', '\r', '\n']).len()
}

fn right_trim_len(s: &str) -> usize {
    s.len() - s.trim_end_matches([' ', '\t', '\r', '\n']).len()
}

fn has_left_trim_marker(s: &[u8]) -> bool {
    s.len() >= 2 && s[0] == b'-' && is_space(s[1])
}

fn has_right_trim_marker(s: &[u8]) -> bool {
    s.len() >= 2 && is_space(s[0]) && s[1] == b'-'
}

/// Go's `%#U` of a rune: `U+002F '/'`.
pub(crate) fn sharp_u(c: char) -> String {
    if crate::gofmt::is_print(c) {
        format!("U+{:04X} '{}'", c as u32, c)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

struct Lexer<'a> {
    input: &'a str,
    b: &'a [u8],
    left: &'a str,
    right: &'a str,
    pos: usize,
    start: usize,
    line: usize,
    line_pos: usize,
    paren_depth: i32,
    items: Vec<Item>,
}

enum St {
    Text,
    LeftDelim,
    Inside,
    Done,
}

/// Lexes the whole input; the item list ends with `Eof` or `Error`.
pub(crate) fn lex(input: &str, left: &str, right: &str) -> Vec<Item> {
    let mut l = Lexer {
        input,
        b: input.as_bytes(),
        left: if left.is_empty() { "{{" } else { left },
        right: if right.is_empty() { "}}" } else { right },
        pos: 0,
        start: 0,
        line: 1,
        line_pos: 0,
        paren_depth: 0,
        items: Vec::new(),
    };
    let mut st = St::Text;
    loop {
        st = match st {
            St::Text => l.lex_text(),
            St::LeftDelim => l.lex_left_delim(),
            St::Inside => l.lex_inside(),
            St::Done => break,
        };
    }
    l.items
}

impl<'a> Lexer<'a> {
    fn peek_char(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn backup(&mut self, c: char) {
        self.pos -= c.len_utf8();
    }

    /// Line of byte offset `pos` (offsets are asked in increasing order).
    fn line_at(&mut self, pos: usize) -> usize {
        if pos >= self.line_pos {
            self.line += self.input[self.line_pos..pos].matches('\n').count();
        } else {
            self.line -= self.input[pos..self.line_pos].matches('\n').count();
        }
        self.line_pos = pos;
        self.line
    }

    fn push(&mut self, typ: T, pos: usize, end: usize, err: Option<String>) {
        let line = self.line_at(pos);
        self.items.push(Item {
            typ,
            pos,
            end,
            line,
            err,
        });
    }

    fn emit(&mut self, typ: T) {
        self.push(typ, self.start, self.pos, None);
        self.start = self.pos;
    }

    fn ignore(&mut self) {
        self.start = self.pos;
    }

    fn error(&mut self, msg: String) -> St {
        self.push(T::Error, self.start, self.pos, Some(msg));
        St::Done
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek_char() {
            Some(c) if valid.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn lex_text(&mut self) -> St {
        if let Some(x) = self.input[self.pos..].find(self.left) {
            if x > 0 {
                self.pos += x;
                let delim_end = self.pos + self.left.len();
                let trim = if has_left_trim_marker(&self.b[delim_end..]) {
                    right_trim_len(&self.input[self.start..self.pos])
                } else {
                    0
                };
                self.pos -= trim;
                let (ts, te) = (self.start, self.pos);
                self.pos += trim;
                self.ignore();
                if te > ts {
                    self.push(T::Text, ts, te, None);
                }
            }
            return St::LeftDelim;
        }
        self.pos = self.input.len();
        if self.pos > self.start {
            self.emit(T::Text);
        }
        self.emit(T::Eof);
        St::Done
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let rest = &self.b[self.pos..];
        if has_right_trim_marker(rest) && self.input[self.pos + 2..].starts_with(self.right) {
            return (true, true);
        }
        if self.input[self.pos..].starts_with(self.right) {
            return (true, false);
        }
        (false, false)
    }

    fn lex_left_delim(&mut self) -> St {
        self.pos += self.left.len();
        let trim = has_left_trim_marker(&self.b[self.pos..]);
        let after = if trim { 2 } else { 0 };
        if self.input[self.pos + after..].starts_with("/*") {
            self.pos += after;
            self.ignore();
            return self.lex_comment();
        }
        self.emit(T::LeftDelim);
        self.pos += after;
        self.ignore();
        self.paren_depth = 0;
        St::Inside
    }

    fn lex_comment(&mut self) -> St {
        self.pos += 2;
        let Some(x) = self.input[self.pos..].find("*/") else {
            return self.error("unclosed comment".to_string());
        };
        self.pos += x + 2;
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.error("comment ends before closing delimiter".to_string());
        }
        self.emit(T::Comment);
        if trim {
            self.pos += 2;
        }
        self.pos += self.right.len();
        if trim {
            self.pos += left_trim_len(&self.input[self.pos..]);
        }
        self.ignore();
        St::Text
    }

    fn lex_right_delim(&mut self) -> St {
        let trim = has_right_trim_marker(&self.b[self.pos..]);
        if trim {
            self.pos += 2;
            self.ignore();
        }
        self.pos += self.right.len();
        self.emit(T::RightDelim);
        if trim {
            self.pos += left_trim_len(&self.input[self.pos..]);
            self.ignore();
        }
        St::Text
    }

    fn lex_inside(&mut self) -> St {
        let (delim, _) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return self.lex_right_delim();
            }
            return self.error("unclosed left paren".to_string());
        }
        let Some(r) = self.next_char() else {
            return self.error("unclosed action".to_string());
        };
        match r {
            ' ' | '\t' | '\r' | '\n' => {
                self.backup(r);
                return self.lex_space();
            }
            '=' => self.emit(T::Assign),
            ':' => {
                if self.next_char() != Some('=') {
                    return self.error("expected :=".to_string());
                }
                self.emit(T::Declare);
            }
            '|' => self.emit(T::Pipe),
            '"' => return self.lex_quote(),
            '`' => return self.lex_raw_quote(),
            '$' => return self.lex_field_or_var(T::Variable),
            '\'' => return self.lex_char(),
            '.' => {
                // Like Go: a '.' not followed by a digit starts a field; at EOF it is a number.
                if let Some(c) = self.b.get(self.pos) {
                    if !c.is_ascii_digit() {
                        return self.lex_field_or_var(T::Field);
                    }
                }
                self.backup(r);
                return self.lex_number();
            }
            '+' | '-' | '0'..='9' => {
                self.backup(r);
                return self.lex_number();
            }
            c if is_alnum(c) => {
                self.backup(r);
                return self.lex_identifier();
            }
            '(' => {
                self.emit(T::LeftParen);
                self.paren_depth += 1;
            }
            ')' => {
                // Go emits the paren before reporting an unbalanced one.
                self.emit(T::RightParen);
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return self.error(format!("unexpected right paren {}", sharp_u(r)));
                }
            }
            c if c.is_ascii() && crate::gofmt::is_print(c) => self.emit(T::Char),
            c => return self.error(format!("unrecognized character in action: {}", sharp_u(c))),
        }
        St::Inside
    }

    fn lex_space(&mut self) -> St {
        let mut n = 0;
        while self.pos < self.b.len() && is_space(self.b[self.pos]) {
            self.next_char();
            n += 1;
        }
        let p = self.pos - 1;
        if has_right_trim_marker(&self.b[p..]) && self.input[p + 2..].starts_with(self.right) {
            self.backup(self.b[p] as char);
            if n == 1 {
                return St::Inside;
            }
        }
        self.emit(T::Space);
        St::Inside
    }

    fn at_terminator(&self) -> bool {
        match self.peek_char() {
            None => true,
            Some(c) => {
                matches!(
                    c,
                    ' ' | '\t' | '\r' | '\n' | '.' | ',' | '|' | ':' | ')' | '('
                ) || self.right.starts_with(c)
            }
        }
    }

    fn lex_identifier(&mut self) -> St {
        while let Some(c) = self.peek_char() {
            if is_alnum(c) {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        if !self.at_terminator() {
            let c = self.peek_char().unwrap_or('\0');
            self.pos += c.len_utf8();
            return self.error(format!("bad character {}", sharp_u(c)));
        }
        let word = &self.input[self.start..self.pos];
        let typ = match keyword(word) {
            Some(k) if k != T::Dot => k,
            _ if word == "true" || word == "false" => T::Bool,
            _ => T::Identifier,
        };
        self.emit(typ);
        St::Inside
    }

    fn lex_field_or_var(&mut self, typ: T) -> St {
        if self.at_terminator() {
            self.emit(if typ == T::Variable {
                T::Variable
            } else {
                T::Dot
            });
            return St::Inside;
        }
        while let Some(c) = self.peek_char() {
            if is_alnum(c) {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        if !self.at_terminator() {
            let c = self.peek_char().unwrap_or('\0');
            self.pos += c.len_utf8();
            return self.error(format!("bad character {}", sharp_u(c)));
        }
        self.emit(typ);
        St::Inside
    }

    fn lex_char(&mut self) -> St {
        loop {
            match self.next_char() {
                Some('\\') => match self.next_char() {
                    Some('\n') | None => {
                        return self.error("unterminated character constant".to_string())
                    }
                    _ => {}
                },
                Some('\n') | None => {
                    return self.error("unterminated character constant".to_string())
                }
                Some('\'') => break,
                _ => {}
            }
        }
        self.emit(T::CharConstant);
        St::Inside
    }

    fn lex_number(&mut self) -> St {
        if !self.scan_number() {
            let text = self.input[self.start..self.pos].to_string();
            return self.error(format!("bad number syntax: {}", crate::gofmt::quote(&text)));
        }
        if let Some(c @ ('+' | '-')) = self.peek_char() {
            // complex number: 1+2i
            if !self.scan_number() || self.b.get(self.pos - 1) != Some(&b'i') {
                let _ = c;
                let text = self.input[self.start..self.pos].to_string();
                return self.error(format!("bad number syntax: {}", crate::gofmt::quote(&text)));
            }
        }
        self.emit(T::Number);
        St::Inside
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if let Some(c) = self.peek_char() {
            if is_alnum(c) {
                self.pos += c.len_utf8();
                return false;
            }
        }
        true
    }

    fn lex_quote(&mut self) -> St {
        loop {
            match self.next_char() {
                Some('\\') => match self.next_char() {
                    Some('\n') | None => {
                        return self.error("unterminated quoted string".to_string())
                    }
                    _ => {}
                },
                Some('\n') | None => return self.error("unterminated quoted string".to_string()),
                Some('"') => break,
                _ => {}
            }
        }
        self.emit(T::String);
        St::Inside
    }

    fn lex_raw_quote(&mut self) -> St {
        loop {
            match self.next_char() {
                None => return self.error("unterminated raw quoted string".to_string()),
                Some('`') => break,
                _ => {}
            }
        }
        self.emit(T::RawString);
        St::Inside
    }
}
