//! Go 1.19's `net/url` as Sprig's `urlParse` and `urlJoin` see it: `url.Parse`, `URL.String`,
//! `URL.Hostname` and `Userinfo.String`, byte for byte.
//!
//! Go's rules differ from WHATWG URLs: hosts are not normalised, no slash is added after an
//! empty authority, and each part has its own set of bytes left unescaped. Parsing checks that
//! every `%` starts two hex digits, that hosts use `%`-escapes only for non-ASCII bytes (IPv6 zones
//! after `%25` excepted), that a port is all digits and that userinfo holds only RFC 3986
//! characters. The decoded path and fragment keep their original spelling (`RawPath`,
//! `RawFragment`) when re-escaping would not give it back. Values are bytes because unescaping
//! may produce any byte, as a Go string may hold.

use std::fmt;

use crate::gofmt::quote_bytes;

/// The URL parts whose escaping rules differ (Go's encoding modes this port needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Path,
    Host,
    Zone,
    UserPassword,
    Fragment,
}

/// Why parsing failed: the text Go's error prints after `parse "URL": `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cause {
    /// A byte below 0x20 or 0x7f anywhere in the URL.
    ControlChar,
    /// The URL starts with `:`.
    MissingScheme,
    /// A relative URL whose first segment has a `:` (it would read as a scheme).
    ColonInFirstSegment,
    /// Userinfo with a character outside RFC 3986's set.
    InvalidUserinfo,
    /// A host starting with `[` and no `]`.
    MissingBracket,
    /// What follows the host is not `:` and digits.
    InvalidPort(Vec<u8>),
    /// A `%` not followed by two hex digits, or one a host may not use.
    Escape(Vec<u8>),
    /// An ASCII byte a host may not hold.
    InvalidHost(Vec<u8>),
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::ControlChar => f.write_str("net/url: invalid control character in URL"),
            Cause::MissingScheme => f.write_str("missing protocol scheme"),
            Cause::ColonInFirstSegment => {
                f.write_str("first path segment in URL cannot contain colon")
            }
            Cause::InvalidUserinfo => f.write_str("net/url: invalid userinfo"),
            Cause::MissingBracket => f.write_str("missing ']' in host"),
            Cause::InvalidPort(p) => write!(f, "invalid port {} after host", quote_bytes(p)),
            Cause::Escape(e) => write!(f, "invalid URL escape {}", quote_bytes(e)),
            Cause::InvalidHost(c) => {
                write!(f, "invalid character {} in host name", quote_bytes(c))
            }
        }
    }
}

/// A failed `url.Parse`: `parse "URL": CAUSE`, as Go's `*url.Error` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ParseError {
    /// The text Go names: the URL before `#`, or all of it when the fragment is at fault.
    pub url: Vec<u8>,
    /// What was wrong.
    pub cause: Cause,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "parse {}: {}", quote_bytes(&self.url), self.cause)
    }
}

impl std::error::Error for ParseError {}

/// A user name and an optional password, stored decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Userinfo {
    pub username: Vec<u8>,
    pub password: Option<Vec<u8>>,
}

impl Userinfo {
    /// `Userinfo.String()`: `name[:password]` with `@ / ? :` and non-alphanumerics escaped.
    pub fn encoded(&self) -> Vec<u8> {
        let mut s = escape(&self.username, Mode::UserPassword);
        if let Some(p) = &self.password {
            s.push(b':');
            s.extend(escape(p, Mode::UserPassword));
        }
        s
    }
}

/// Go's `url.URL`: `Path` and `Fragment` decoded, `RawQuery` and `Opaque` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct GoUrl {
    pub scheme: Vec<u8>,
    pub opaque: Vec<u8>,
    pub user: Option<Userinfo>,
    pub host: Vec<u8>,
    pub path: Vec<u8>,
    pub raw_path: Vec<u8>,
    pub omit_host: bool,
    pub force_query: bool,
    pub raw_query: Vec<u8>,
    pub fragment: Vec<u8>,
    pub raw_fragment: Vec<u8>,
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn unhex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Whether `c` is written `%XX` in `mode` (RFC 3986 with Go's adjustments).
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    let host = matches!(mode, Mode::Host | Mode::Zone);
    // Hosts keep sub-delims, ':' for the port, brackets for IPv6, and '<', '>', '"'.
    if host && b"!$&'()*+,;=:[]<>\"".contains(&c) {
        return false;
    }
    if b"-_.~".contains(&c) {
        return false;
    }
    if b"$&+,/:;=?@".contains(&c) {
        match mode {
            Mode::Path => return c == b'?',
            Mode::UserPassword => return b"@/?:".contains(&c),
            Mode::Fragment => return false,
            Mode::Host | Mode::Zone => {}
        }
    }
    // Fragments also keep these sub-delims (but not the single quote).
    !(mode == Mode::Fragment && b"!()*".contains(&c))
}

/// Percent-decodes `s`, checking the escapes and, for hosts and zones, the bytes `mode` allows.
fn unescape(s: &[u8], mode: Mode) -> Result<Vec<u8>, Cause> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c != b'%' {
            if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                return Err(Cause::InvalidHost(vec![c]));
            }
            out.push(c);
            i += 1;
            continue;
        }
        if i + 2 >= s.len() || !is_hex(s[i + 1]) || !is_hex(s[i + 2]) {
            return Err(Cause::Escape(s[i..s.len().min(i + 3)].to_vec()));
        }
        let esc = &s[i..i + 3];
        let v = unhex(s[i + 1]) << 4 | unhex(s[i + 2]);
        let percent = esc == b"%25";
        // Hosts escape only non-ASCII bytes (and '%' itself, RFC 6874); zones may escape
        // a space or any byte a host may hold.
        let bad = match mode {
            Mode::Host => unhex(s[i + 1]) < 8 && !percent,
            Mode::Zone => !percent && v != b' ' && should_escape(v, Mode::Host),
            _ => false,
        };
        if bad {
            return Err(Cause::Escape(esc.to_vec()));
        }
        out.push(v);
        i += 3;
    }
    Ok(out)
}

/// Percent-encodes the bytes of `s` that `mode` escapes, in upper-case hex.
fn escape(s: &[u8], mode: Mode) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if should_escape(c, mode) {
            out.extend([b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `s` is a spelling of a path or fragment that may be printed as is: escapes and
/// sub-delims allowed, other bytes only where `mode` leaves them unescaped.
fn valid_encoded(s: &[u8], mode: Mode) -> bool {
    s.iter()
        .all(|&c| b"!$&'()*+,;=:@[]%".contains(&c) || !should_escape(c, mode))
}

/// `""` or `:` and digits.
fn valid_optional_port(port: &[u8]) -> bool {
    match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

fn find(s: &[u8], c: u8) -> Option<usize> {
    s.iter().position(|&b| b == c)
}

fn rfind(s: &[u8], c: u8) -> Option<usize> {
    s.iter().rposition(|&b| b == c)
}

/// Splits at the first `c`: the part before and, when `c` occurs, the part after.
fn cut(s: &[u8], c: u8) -> (&[u8], Option<&[u8]>) {
    match find(s, c) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// A leading `ALPHA *(ALPHA / DIGIT / + / - / .)` followed by `:`, and the rest.
fn split_scheme(raw: &[u8]) -> Result<(&[u8], &[u8]), Cause> {
    for (i, &c) in raw.iter().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err(Cause::MissingScheme),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok((b"", raw)),
        }
    }
    Ok((b"", raw))
}

/// `host`, `host:port`, `[ipv6]:port` or `[ipv6%25zone]:port`, decoded.
fn parse_host(host: &[u8]) -> Result<Vec<u8>, Cause> {
    if host.first() == Some(&b'[') {
        let close = rfind(host, b']').ok_or(Cause::MissingBracket)?;
        let colon_port = &host[close + 1..];
        if !valid_optional_port(colon_port) {
            return Err(Cause::InvalidPort(colon_port.to_vec()));
        }
        if let Some(zone) = host[..close].windows(3).position(|w| w == b"%25") {
            let mut out = unescape(&host[..zone], Mode::Host)?;
            out.extend(unescape(&host[zone..close], Mode::Zone)?);
            out.extend(unescape(&host[close..], Mode::Host)?);
            return Ok(out);
        }
    } else if let Some(colon) = rfind(host, b':') {
        let colon_port = &host[colon..];
        if !valid_optional_port(colon_port) {
            return Err(Cause::InvalidPort(colon_port.to_vec()));
        }
    }
    unescape(host, Mode::Host)
}

/// RFC 3986 userinfo characters (unreserved, sub-delims, `:`, and `%`, `@` as Go allows).
fn valid_userinfo(s: &[u8]) -> bool {
    s.iter()
        .all(|&c| c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c))
}

/// `[userinfo@]host`: the last `@` ends the userinfo; a `:` in it starts the password.
fn parse_authority(authority: &[u8]) -> Result<(Option<Userinfo>, Vec<u8>), Cause> {
    let at = rfind(authority, b'@');
    let host = parse_host(&authority[at.map_or(0, |i| i + 1)..])?;
    let Some(at) = at else {
        return Ok((None, host));
    };
    let userinfo = &authority[..at];
    if !valid_userinfo(userinfo) {
        return Err(Cause::InvalidUserinfo);
    }
    let (name, password) = cut(userinfo, b':');
    let user = Userinfo {
        username: unescape(name, Mode::UserPassword)?,
        password: password
            .map(|p| unescape(p, Mode::UserPassword))
            .transpose()?,
    };
    Ok((Some(user), host))
}

impl GoUrl {
    /// Go's `url.Parse`: an absolute or relative URL, with an optional `#fragment`.
    pub fn parse(raw: &[u8]) -> Result<GoUrl, ParseError> {
        let (before, frag) = cut(raw, b'#');
        let mut url = Self::parse_reference(before).map_err(|cause| ParseError {
            url: before.to_vec(),
            cause,
        })?;
        if let Some(frag) = frag.filter(|f| !f.is_empty()) {
            url.set_fragment(frag).map_err(|cause| ParseError {
                url: raw.to_vec(),
                cause,
            })?;
        }
        Ok(url)
    }

    /// Everything before `#` (Go's unexported `parse` for a non-request URL).
    fn parse_reference(raw: &[u8]) -> Result<GoUrl, Cause> {
        if raw.iter().any(|&b| b < b' ' || b == 0x7f) {
            return Err(Cause::ControlChar);
        }
        let mut url = GoUrl::default();
        if raw == b"*" {
            url.path = b"*".to_vec();
            return Ok(url);
        }
        let (scheme, mut rest) = split_scheme(raw)?;
        url.scheme = scheme.to_ascii_lowercase();
        if rest.last() == Some(&b'?') && rest.iter().filter(|&&b| b == b'?').count() == 1 {
            url.force_query = true;
            rest = &rest[..rest.len() - 1];
        } else {
            let (r, query) = cut(rest, b'?');
            rest = r;
            url.raw_query = query.unwrap_or_default().to_vec();
        }
        if !rest.starts_with(b"/") {
            if !url.scheme.is_empty() {
                url.opaque = rest.to_vec();
                return Ok(url);
            }
            if cut(rest, b'/').0.contains(&b':') {
                return Err(Cause::ColonInFirstSegment);
            }
        }
        if (!url.scheme.is_empty() || !rest.starts_with(b"///")) && rest.starts_with(b"//") {
            let authority = &rest[2..];
            let end = find(authority, b'/').unwrap_or(authority.len());
            (url.user, url.host) = parse_authority(&authority[..end])?;
            rest = &authority[end..];
        } else if !url.scheme.is_empty() && rest.starts_with(b"/") {
            url.omit_host = true;
        }
        url.set_path(rest)?;
        Ok(url)
    }

    /// Decodes the escaped path `p`, keeping `p` as `raw_path` when escaping would not give it back.
    fn set_path(&mut self, p: &[u8]) -> Result<(), Cause> {
        self.path = unescape(p, Mode::Path)?;
        self.raw_path = if escape(&self.path, Mode::Path) == p {
            Vec::new()
        } else {
            p.to_vec()
        };
        Ok(())
    }

    /// As [`Self::set_path`], for the fragment.
    fn set_fragment(&mut self, f: &[u8]) -> Result<(), Cause> {
        self.fragment = unescape(f, Mode::Fragment)?;
        self.raw_fragment = if escape(&self.fragment, Mode::Fragment) == f {
            Vec::new()
        } else {
            f.to_vec()
        };
        Ok(())
    }

    /// `URL.EscapedPath()`: `raw_path` when it is a valid spelling of `path`, else `path` escaped.
    pub fn escaped_path(&self) -> Vec<u8> {
        if let Some(raw) = valid_raw(&self.raw_path, &self.path, Mode::Path) {
            return raw;
        }
        if self.path == b"*" {
            return self.path.clone();
        }
        escape(&self.path, Mode::Path)
    }

    /// `URL.EscapedFragment()`, as [`Self::escaped_path`] for the fragment.
    pub fn escaped_fragment(&self) -> Vec<u8> {
        valid_raw(&self.raw_fragment, &self.fragment, Mode::Fragment)
            .unwrap_or_else(|| escape(&self.fragment, Mode::Fragment))
    }

    /// `URL.Hostname()`: the host without a valid `:port` and without IPv6 brackets.
    pub fn hostname(&self) -> &[u8] {
        let mut host = &self.host[..];
        if let Some(colon) = rfind(host, b':') {
            if valid_optional_port(&host[colon..]) {
                host = &host[..colon];
            }
        }
        match host {
            [b'[', inner @ .., b']'] => inner,
            _ => host,
        }
    }

    /// `URL.String()`: `scheme:opaque?query#fragment` or
    /// `scheme://userinfo@host/path?query#fragment`, each part escaped as Go does.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        if !self.scheme.is_empty() {
            buf.extend(&self.scheme);
            buf.push(b':');
        }
        if !self.opaque.is_empty() {
            buf.extend(&self.opaque);
        } else {
            let has_authority =
                !self.scheme.is_empty() || !self.host.is_empty() || self.user.is_some();
            let omitted = self.omit_host && self.host.is_empty() && self.user.is_none();
            if has_authority && !omitted {
                if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                    buf.extend(b"//");
                }
                if let Some(user) = &self.user {
                    buf.extend(user.encoded());
                    buf.push(b'@');
                }
                buf.extend(escape(&self.host, Mode::Host));
            }
            let path = self.escaped_path();
            if path.first().is_some_and(|&c| c != b'/') && !self.host.is_empty() {
                buf.push(b'/');
            }
            // A relative path whose first segment has a colon would read as a scheme.
            if buf.is_empty() && cut(&path, b'/').0.contains(&b':') {
                buf.extend(b"./");
            }
            buf.extend(path);
        }
        if self.force_query || !self.raw_query.is_empty() {
            buf.push(b'?');
            buf.extend(&self.raw_query);
        }
        if !self.fragment.is_empty() {
            buf.push(b'#');
            buf.extend(self.escaped_fragment());
        }
        buf
    }
}

/// `raw` when it is non-empty, validly encoded for `mode` and decodes to `decoded`.
fn valid_raw(raw: &[u8], decoded: &[u8], mode: Mode) -> Option<Vec<u8>> {
    let ok = !raw.is_empty()
        && valid_encoded(raw, mode)
        && unescape(raw, mode).is_ok_and(|d| d == decoded);
    ok.then(|| raw.to_vec())
}

#[cfg(test)]
#[path = "go_url_test.rs"]
mod tests;
