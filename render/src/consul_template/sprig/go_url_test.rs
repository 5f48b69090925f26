//! `url.Parse` and `URL.String` on the cases Go's own tests and docs single out.

use super::{Cause, GoUrl, Userinfo};

fn parse(s: &str) -> GoUrl {
    GoUrl::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> String {
    match GoUrl::parse(s.as_bytes()) {
        Ok(u) => panic!("{s} parsed: {u:?}"),
        Err(e) => e.to_string(),
    }
}

fn round_trip(s: &str) -> String {
    String::from_utf8(parse(s).to_bytes()).expect("ASCII")
}

#[test]
fn absolute_url_parts() {
    let u = parse("HTTP://us%65r:p%40ss@Example.COM:8080/a%2Fb/c%20d?x=1&y#frag%20x");
    assert_eq!(u.scheme, b"http");
    assert_eq!(u.host, b"Example.COM:8080");
    assert_eq!(u.hostname(), b"Example.COM");
    assert_eq!(u.path, b"/a/b/c d");
    assert_eq!(u.raw_path, b"/a%2Fb/c%20d");
    assert_eq!(u.raw_query, b"x=1&y");
    assert_eq!(u.fragment, b"frag x");
    assert_eq!(
        u.user,
        Some(Userinfo {
            username: b"user".to_vec(),
            password: Some(b"p@ss".to_vec()),
        })
    );
    assert_eq!(
        u.user.as_ref().map(Userinfo::encoded),
        Some(b"user:p%40ss".to_vec())
    );
}

#[test]
fn string_keeps_raw_path_only_when_it_spells_the_path() {
    assert_eq!(round_trip("http://h/a%2Fb"), "http://h/a%2Fb");
    assert_eq!(round_trip("http://h/%61"), "http://h/%61");
    assert_eq!(round_trip("http://h/a b"), "http://h/a%20b");
    let mut u = parse("http://h/a%2Fb");
    u.path = b"/other".to_vec();
    assert_eq!(u.to_bytes(), b"http://h/other");
}

#[test]
fn opaque_relative_and_omitted_host() {
    let m = parse("mailto:someone@example.com?subject=hi");
    assert_eq!(m.opaque, b"someone@example.com");
    assert_eq!(m.raw_query, b"subject=hi");
    assert!(m.host.is_empty() && m.path.is_empty());
    assert_eq!(round_trip("file:///etc/hosts"), "file:///etc/hosts");
    assert_eq!(round_trip("http:/x"), "http:/x");
    assert!(parse("http:/x").omit_host);
    assert_eq!(round_trip("//h/p"), "//h/p");
    assert_eq!(parse("///p").path, b"///p");
    assert_eq!(round_trip("a/b?"), "a/b?");
    assert_eq!(round_trip("*"), "*");
    let colon = GoUrl {
        path: b"a:b/c".to_vec(),
        ..GoUrl::default()
    };
    assert_eq!(colon.to_bytes(), b"./a:b/c");
    let no_slash = GoUrl {
        host: b"h".to_vec(),
        path: b"p".to_vec(),
        ..GoUrl::default()
    };
    assert_eq!(no_slash.to_bytes(), b"//h/p");
}

#[test]
fn ipv6_hosts_and_zones() {
    let u = parse("http://[fe80::1%25en0]:8080/");
    assert_eq!(u.host, b"[fe80::1%en0]:8080");
    assert_eq!(u.hostname(), b"fe80::1%en0");
    assert_eq!(u.to_bytes(), b"http://[fe80::1%25en0]:8080/");
    assert_eq!(parse("http://[::1]").hostname(), b"::1");
    assert_eq!(parse("http://h:").hostname(), b"h");
}

#[test]
fn errors_print_as_go() {
    assert_eq!(
        err("http://h:8x/"),
        r#"parse "http://h:8x/": invalid port ":8x" after host"#
    );
    assert_eq!(
        err("http://h/%zz"),
        r#"parse "http://h/%zz": invalid URL escape "%zz""#
    );
    assert_eq!(err("x#%"), r#"parse "x#%": invalid URL escape "%""#);
    assert_eq!(err(":x"), r#"parse ":x": missing protocol scheme"#);
    assert_eq!(
        err("1a:b/c"),
        r#"parse "1a:b/c": first path segment in URL cannot contain colon"#
    );
    assert_eq!(
        err("http://a\x07b"),
        r#"parse "http://a\ab": net/url: invalid control character in URL"#
    );
    assert_eq!(
        err("http://[::1/"),
        r#"parse "http://[::1/": missing ']' in host"#
    );
    assert_eq!(
        err("http://a b/"),
        r#"parse "http://a b/": invalid character " " in host name"#
    );
    assert_eq!(
        err("http://%41/"),
        r#"parse "http://%41/": invalid URL escape "%41""#
    );
    assert_eq!(
        err("http://a^b@h/"),
        r#"parse "http://a^b@h/": net/url: invalid userinfo"#
    );
    // The escape is cut at three bytes, inside the euro sign.
    assert_eq!(
        err("http://h/%a€"),
        r#"parse "http://h/%a€": invalid URL escape "%a\xe2""#
    );
    assert!(matches!(
        GoUrl::parse(b"http://h/%e2%8").map_err(|e| e.cause),
        Err(Cause::Escape(e)) if e == b"%8"
    ));
}

#[test]
fn decoded_bytes_need_not_be_utf8() {
    let u = parse("http://h/%FF");
    assert_eq!(u.path, b"/\xff");
    assert_eq!(u.to_bytes(), b"http://h/%FF");
}
