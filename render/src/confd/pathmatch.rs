//! Go's `path.Match`: `*` and `?` never cross `/`, `[^..]` negates (`[!..]` does not),
//! `\` escapes; `syntax error in pattern` for a malformed pattern.

/// Go's `path.ErrBadPattern` text.
pub(crate) const BAD_PATTERN: &str = "syntax error in pattern";

/// Reports whether `name` matches the shell pattern `pattern`, exactly as Go's `path.Match`.
pub(crate) fn path_match(pattern: &str, name: &str) -> Result<bool, &'static str> {
    let mut pattern = pattern.as_bytes();
    let mut name = name.as_bytes();
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            return Ok(!name.contains(&b'/'));
        }
        let (t, ok, err) = match_chunk(chunk, name);
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if let Some(e) = err {
            return Err(e);
        }
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                let (t, ok, err) = match_chunk(chunk, &name[i + 1..]);
                if ok {
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                if let Some(e) = err {
                    return Err(e);
                }
                i += 1;
            }
        }
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            if let (_, _, Some(e)) = match_chunk(chunk, b"") {
                return Err(e);
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while pattern.first() == Some(&b'*') {
        pattern = &pattern[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

/// Decodes one rune like Go's `utf8.DecodeRune` (invalid input gives U+FFFD and width 1).
fn decode_rune(b: &[u8]) -> (u32, usize) {
    if b.is_empty() {
        return (0xFFFD, 0);
    }
    let width = match b[0] {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return (0xFFFD, 1),
    };
    match b.get(..width).and_then(|s| std::str::from_utf8(s).ok()) {
        Some(s) => (s.chars().next().map_or(0xFFFD, |c| c as u32), width),
        None => (0xFFFD, 1),
    }
}

type ChunkResult<'a> = (&'a [u8], bool, Option<&'static str>);

fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> ChunkResult<'a> {
    let mut failed = false;
    while !chunk.is_empty() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match chunk[0] {
            b'[' => {
                let mut r = 0u32;
                if !failed {
                    let (c, n) = decode_rune(s);
                    r = c;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let mut negated = false;
                if chunk.first() == Some(&b'^') {
                    negated = true;
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut nrange = 0;
                loop {
                    if chunk.first() == Some(&b']') && nrange > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = match get_esc(chunk) {
                        Ok(v) => v,
                        Err(e) => return (b"", false, Some(e)),
                    };
                    chunk = rest;
                    let mut hi = lo;
                    if chunk[0] == b'-' {
                        match get_esc(&chunk[1..]) {
                            Ok((h, rest)) => {
                                hi = h;
                                chunk = rest;
                            }
                            Err(e) => return (b"", false, Some(e)),
                        }
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    nrange += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == b'/' {
                        failed = true;
                    }
                    let (_, n) = decode_rune(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            c => {
                let lit = if c == b'\\' {
                    chunk = &chunk[1..];
                    match chunk.first() {
                        Some(&l) => l,
                        None => return (b"", false, Some(BAD_PATTERN)),
                    }
                } else {
                    c
                };
                if !failed {
                    if lit != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    if failed {
        (b"", false, None)
    } else {
        (s, true, None)
    }
}

fn get_esc(mut chunk: &[u8]) -> Result<(u32, &[u8]), &'static str> {
    if chunk.is_empty() || chunk[0] == b'-' || chunk[0] == b']' {
        return Err(BAD_PATTERN);
    }
    if chunk[0] == b'\\' {
        chunk = &chunk[1..];
        if chunk.is_empty() {
            return Err(BAD_PATTERN);
        }
    }
    let (r, n) = decode_rune(chunk);
    if r == 0xFFFD && n == 1 {
        return Err(BAD_PATTERN);
    }
    let rest = &chunk[n..];
    if rest.is_empty() {
        return Err(BAD_PATTERN);
    }
    Ok((r, rest))
}

#[cfg(test)]
mod tests {
    use super::path_match;

    #[test]
    fn star_and_question_do_not_cross_slash() {
        assert_eq!(path_match("/svc/*", "/svc/a"), Ok(true));
        assert_eq!(path_match("/svc/*", "/svc/b/c"), Ok(false));
        assert_eq!(path_match("/svc/*/*", "/svc/b/c"), Ok(true));
        assert_eq!(path_match("/node?", "/node1"), Ok(true));
        assert_eq!(path_match("/node?", "/node10"), Ok(false));
        assert_eq!(path_match("/a*b", "/ab"), Ok(true));
    }

    #[test]
    fn classes_and_escapes() {
        assert_eq!(path_match("/host[^0-2]", "/host3"), Ok(true));
        assert_eq!(path_match("/host[^0-2]", "/host1"), Ok(false));
        assert_eq!(path_match("/host[!0-2]", "/host!"), Ok(true));
        assert_eq!(path_match("/host[!0-2]", "/host1"), Ok(true));
        assert_eq!(path_match("/host[!0-2]", "/hostx"), Ok(false));
        assert_eq!(path_match(r"/lit/a\*b", "/lit/a*b"), Ok(true));
        assert_eq!(path_match(r"/lit/a\*b", "/lit/axb"), Ok(false));
        assert!(path_match("/a/[", "/a/b").is_err());
        assert!(path_match("/x/[", "/a/b").is_err());
    }

    #[test]
    fn arbitrary_patterns_never_panic() {
        let alphabet = b"ab/*?[]^!-\\\xc3\xa9";
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let mut gen = |n: u64| -> String {
                let len = (next() % n) as usize;
                let bytes: Vec<u8> = (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect();
                String::from_utf8_lossy(&bytes).into_owned()
            };
            let (p, n) = (gen(10), gen(8));
            let _ = path_match(&p, &n);
        }
    }
}
