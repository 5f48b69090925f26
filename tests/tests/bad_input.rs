//! Bad input through the real `confd -onetime` binary (file backend seeded from YAML): every
//! case is run next to a good resource and must give a clear error that names the file, the
//! line and the key where there is one, leave an existing destination byte-for-byte intact,
//! never panic, and still write the good resource.
//!
//! "Read-only destination" is simulated without `chattr` (tests run as root, which ignores
//! permission bits): a destination whose parent is a regular FILE, one that is a directory, and
//! one under `/proc` (a kernel file system that refuses new files even to root).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use discovery_tests::bins::bin;
use discovery_tests::util::strip_ansi;

/// What an existing destination holds before a run (not UTF-8 on purpose).
const ORIGINAL: &[u8] = b"ORIGINAL \xff\xfe content\n";
/// The good resource's template and output.
const GOOD_TMPL: &str = "good={{getv \"/good/value\"}}\n";
const GOOD_OUT: &str = "good=ok\n";
/// Data every case starts from.
const BASE_DATA: &str = "good:\n  value: ok\napp:\n  name: web\n  port: \"8080\"\n  cfg: '{not json'\n  list: '[1, 2'\n  obj: '{\"a\": 1}'\n";

/// Where the bad resource writes.
#[derive(Clone, Debug)]
enum Dest {
    /// `<dir>/bad.out`, existing with [`ORIGINAL`].
    Existing,
    /// `<dir>/missing-dir/bad.out`.
    MissingDir,
    /// `<dir>/a-file/bad.out` where `a-file` is a regular file.
    ParentIsFile,
    /// `<dir>/a-dir`, an existing directory.
    IsDirectory,
    /// A new file under `/proc`.
    Proc,
}

#[derive(Clone, Debug)]
struct Case {
    name: &'static str,
    /// The bad resource's TOML (`{dest}` is replaced by the destination path).
    toml: Vec<u8>,
    /// The template file `templates/bad.tmpl`, if any.
    template: Option<Vec<u8>>,
    /// YAML appended to [`BASE_DATA`] (bytes: it may be broken on purpose).
    data: Vec<u8>,
    dest: Dest,
    /// `None`: the run must fail; `Some(bytes)`: it must succeed and the dest must hold `bytes`.
    expect: Option<Vec<u8>>,
    /// Substrings stderr must contain.
    mentions: Vec<String>,
    /// Whether the good resource must be written (false when the data itself is unreadable or
    /// the configuration is refused).
    good_written: bool,
    /// Extra command-line flags.
    flags: Vec<&'static str>,
    /// `confd.toml`, if any.
    confd_toml: Option<&'static str>,
}

fn resource(src: &str) -> Vec<u8> {
    format!("[template]\nsrc = \"{src}\"\ndest = \"{{dest}}\"\nkeys = [\"/app\", \"/big\", \"/many\", \"/odd\"]\n")
        .into_bytes()
}

impl Case {
    /// A case whose template is `tmpl`, with the default resource.
    fn tmpl(name: &'static str, tmpl: impl Into<Vec<u8>>) -> Case {
        Case {
            name,
            toml: resource("bad.tmpl"),
            template: Some(tmpl.into()),
            data: Vec::new(),
            dest: Dest::Existing,
            expect: None,
            mentions: Vec::new(),
            good_written: true,
            flags: Vec::new(),
            confd_toml: None,
        }
    }

    /// A case whose resource TOML is `toml` (template `bad.tmpl` = `{{getv "/app/name"}}`).
    fn toml(name: &'static str, toml: impl Into<Vec<u8>>) -> Case {
        Case {
            toml: toml.into(),
            ..Case::tmpl(name, "{{getv \"/app/name\"}}")
        }
    }

    fn fails(mut self, mentions: &[&str]) -> Case {
        self.expect = None;
        self.mentions = mentions.iter().map(|s| s.to_string()).collect();
        self
    }

    fn succeeds(mut self, output: impl Into<Vec<u8>>, mentions: &[&str]) -> Case {
        self.expect = Some(output.into());
        self.mentions = mentions.iter().map(|s| s.to_string()).collect();
        self
    }

    fn data(mut self, yaml: impl Into<Vec<u8>>) -> Case {
        self.data = yaml.into();
        self
    }

    fn dest(mut self, dest: Dest) -> Case {
        self.dest = dest;
        self
    }

    fn data_unreadable(mut self) -> Case {
        self.good_written = false;
        self
    }

    /// A configuration confd refuses before processing anything: `flags`, `confd.toml`.
    fn config_refused(mut self, flags: &[&'static str], confd_toml: Option<&'static str>) -> Case {
        self.flags = flags.to_vec();
        self.confd_toml = confd_toml;
        self.good_written = false;
        self
    }
}

fn cases() -> Vec<Case> {
    let toml_head = "[template]\nsrc = \"bad.tmpl\"\ndest = \"{dest}\"\nkeys = [\"/app\"]\n";
    let with = |extra: &str| format!("{toml_head}{extra}").into_bytes();
    vec![
        // --- malformed templates: parse errors name the template file, line and column ---
        Case::tmpl("unclosed action", "line one\n{{ getv \"/app/name\" \n").fails(&["bad.tmpl:2"]),
        Case::tmpl("unclosed range", "a\nb\n{{range gets \"/app/*\"}}{{.Key}}\n").fails(&["bad.tmpl:4", "unexpected EOF"]),
        Case::tmpl("unexpected end", "{{end}}").fails(&["bad.tmpl:1", "end"]),
        Case::tmpl("unknown function", "ok\n{{ nosuchfunc \"/app/name\" }}").fails(&["bad.tmpl:2", "nosuchfunc"]),
        Case::tmpl("pipeline starting with `|`", "{{ | getv \"/app/name\" }}").fails(&["bad.tmpl:1", "|"]),
        Case::tmpl("pipeline into a non-function", "{{ getv \"/app/name\" | \"x\" }}").fails(&["bad.tmpl:1"]),
        Case::tmpl("unterminated string", "{{ getv \"/app/name }}").fails(&["bad.tmpl:1"]),
        Case::tmpl("undefined variable", "{{ $nope }}").fails(&["bad.tmpl:1", "$nope"]),
        Case::tmpl("wrong argument count", "{{ getv }}").fails(&["bad.tmpl:1", "getv"]),
        Case::tmpl("bad glob pattern", "{{range gets \"/app/[\"}}{{.Key}}{{end}}").fails(&["bad.tmpl:1", "/app/["]),
        Case::tmpl("missing key", "x\ny\n{{ getv \"/app/missing\" }}").fails(&["bad.tmpl:3", "/app/missing"]),
        Case::tmpl("index out of range", "{{ index (split \"a,b\" \",\") 7 }}").fails(&["bad.tmpl:1", "index"]),
        Case::tmpl("json that does not parse", "{{ $c := json (getv \"/app/cfg\") }}{{ $c.a }}").fails(&["bad.tmpl:1", "json"]),
        Case::tmpl("jsonArray that does not parse", "{{ range jsonArray (getv \"/app/list\") }}{{.}}{{end}}").fails(&["bad.tmpl:1", "jsonArray"]),
        Case::tmpl("jsonArray of an object", "{{ range jsonArray (getv \"/app/obj\") }}{{.}}{{end}}").fails(&["bad.tmpl:1", "jsonArray"]),
        Case::tmpl("atoi of a word", "{{ atoi (getv \"/app/name\") }}").fails(&["bad.tmpl:1", "atoi"]),
        Case::tmpl(
            "unbounded template recursion",
            "{{define \"r\"}}{{template \"r\" .}}{{end}}{{template \"r\" .}}",
        )
        .fails(&["bad.tmpl:1"]),
        Case::tmpl("template not UTF-8", b"ok {{getv \"/app/name\"}} \xff\xfe\n".to_vec()).fails(&["bad.tmpl"]),
        Case {
            template: None,
            ..Case::tmpl("missing template file", "")
        }
        .fails(&["bad.toml", "Missing template", "bad.tmpl"]),
        // --- malformed conf.d TOML: the resource file is named, with the line or the key ---
        Case::toml("toml syntax error", "[template]\nsrc = \"bad.tmpl\"\ndest = \"{dest}\nkeys = [\"/app\"]\n")
            .fails(&["bad.toml:3"]),
        Case::toml("missing src", "[template]\ndest = \"{dest}\"\nkeys = [\"/app\"]\n").fails(&["bad.toml", "src"]),
        Case::toml("missing dest", "[template]\nsrc = \"bad.tmpl\"\nkeys = [\"/app\"]\n").fails(&["bad.toml", "dest"]),
        Case::toml("missing [template] table", "src = \"bad.tmpl\"\ndest = \"{dest}\"\n").fails(&["bad.toml", "template"]),
        Case::toml("mode not a number", with("mode = \"rw-r--r--\"\n")).fails(&["bad.toml", "mode", "rw-r--r--"]),
        Case::toml("mode out of range", with("mode = \"077777\"\n")).fails(&["bad.toml", "mode", "077777"]),
        Case::toml("mode not a string", with("mode = 644\n")).fails(&["bad.toml", "mode"]),
        Case::toml("keys not a list", "[template]\nsrc = \"bad.tmpl\"\ndest = \"{dest}\"\nkeys = \"/app\"\n")
            .fails(&["bad.toml", "keys"]),
        Case::toml("src not a string", "[template]\nsrc = 5\ndest = \"{dest}\"\nkeys = [\"/app\"]\n").fails(&["bad.toml", "src"]),
        Case::toml("negative uid", with("uid = -1\n")).fails(&["bad.toml", "uid"]),
        Case::toml("resource file not UTF-8", [with(""), b"# \xff\n".to_vec()].concat())
            .fails(&["bad.toml"]),
        Case::toml("unknown key is only a warning", with("owner = \"nginx\"\n"))
            .succeeds("web", &["unknown key", "owner", "bad.toml"]),
        // --- destinations that cannot be written: the path is named, nothing else is touched ---
        Case::tmpl("dest directory missing", "{{getv \"/app/name\"}}").dest(Dest::MissingDir).fails(&["missing-dir"]),
        Case::tmpl("dest parent is a file", "{{getv \"/app/name\"}}").dest(Dest::ParentIsFile).fails(&["a-file"]),
        Case::tmpl("dest is a directory", "{{getv \"/app/name\"}}").dest(Dest::IsDirectory).fails(&["a-dir"]),
        Case::tmpl("dest on a read-only file system (/proc)", "{{getv \"/app/name\"}}").dest(Dest::Proc).fails(&["/proc/"]),
        // --- data: odd, big and broken values ---
        Case::tmpl("10 MiB value", "{{getv \"/big/value\"}}")
            .data(format!("big:\n  value: {}\n", "x".repeat(10 << 20)))
            .succeeds("x".repeat(10 << 20), &[]),
        Case::tmpl("100,000 keys under one prefix", "{{len (gets \"/many/*\")}} {{len (ls \"/many\")}}")
            .data(many_keys(100_000))
            .succeeds("100000 100000", &[]),
        Case::tmpl(
            "keys with spaces, dots and unicode",
            "{{getv \"/odd/with space\"}}|{{getv \"/odd/ünïcödé ключ\"}}|{{getv \"/odd/a..b\"}}|{{range ls \"/odd\"}}[{{.}}]{{end}}",
        )
        .data("odd:\n  \"with space\": s\n  \"ünïcödé ключ\": u\n  \"a..b\": d\n")
        .succeeds("s|u|d|[a..b][with space][ünïcödé ключ]", &[]),
        // `..` in a data key is cleaned like Go's path.Join (as confd's file backend): it can
        // not add a key under the resource's prefix.
        Case {
            toml: b"[template]\nsrc = \"bad.tmpl\"\ndest = \"{dest}\"\nkeys = [\"/dots\"]\n".to_vec(),
            ..Case::tmpl("key that is `..`", "{{range gets \"/dots/*\"}}{{.Key}}={{.Value}};{{end}}")
        }
        .data("dots:\n  \"..\": up\n  x: y\n")
        .succeeds("/dots/x=y;", &[]),
        Case::tmpl("data file not UTF-8", "{{getv \"/app/name\"}}")
            .data(b"latin1: caf\xe9\n".to_vec())
            .fails(&["data.yaml"])
            .data_unreadable(),
        Case::tmpl("data file not YAML", "{{getv \"/app/name\"}}")
            .data("broken: [unclosed\n")
            .fails(&["data.yaml"])
            .data_unreadable(),
        // --- configuration: refused before anything is rendered ---
        Case::tmpl("-interval 0", "{{getv \"/app/name\"}}")
            .config_refused(&["-interval", "0"], None)
            .fails(&["interval", "greater than zero", "0s"]),
        Case::tmpl("interval = 0 in confd.toml", "{{getv \"/app/name\"}}")
            .config_refused(&[], Some("interval = 0\n"))
            .fails(&["interval", "greater than zero", "0s"]),
    ]
}

/// YAML with `n` keys under `/many`.
fn many_keys(n: usize) -> String {
    let mut s = String::with_capacity(n * 16);
    s.push_str("many:\n");
    for i in 0..n {
        s.push_str(&format!("  k{i:06}: v{i}\n"));
    }
    s
}

struct Run {
    out: Output,
    stderr: String,
    bad_dest: PathBuf,
    good_dest: PathBuf,
}

fn run_case(case: &Case, root: &Path) -> Run {
    let conf_d = root.join("conf.d");
    let templates = root.join("templates");
    std::fs::create_dir_all(&conf_d).unwrap();
    std::fs::create_dir_all(&templates).unwrap();
    let bad_dest = match case.dest {
        Dest::Existing => {
            let p = root.join("bad.out");
            std::fs::write(&p, ORIGINAL).unwrap();
            p
        }
        Dest::MissingDir => root.join("missing-dir/bad.out"),
        Dest::ParentIsFile => {
            std::fs::write(root.join("a-file"), ORIGINAL).unwrap();
            root.join("a-file/bad.out")
        }
        Dest::IsDirectory => {
            std::fs::create_dir(root.join("a-dir")).unwrap();
            root.join("a-dir")
        }
        Dest::Proc => PathBuf::from(format!("/proc/confd-bad-input-{}", std::process::id())),
    };
    let toml =
        String::from_utf8_lossy(&case.toml).replace("{dest}", &bad_dest.display().to_string());
    let toml_bytes = if std::str::from_utf8(&case.toml).is_ok() {
        toml.into_bytes()
    } else {
        case.toml.clone()
    };
    std::fs::write(conf_d.join("bad.toml"), toml_bytes).unwrap();
    if let Some(t) = &case.template {
        std::fs::write(templates.join("bad.tmpl"), t).unwrap();
    }
    let good_dest = root.join("good.out");
    std::fs::write(
        conf_d.join("good.toml"),
        format!(
            "[template]\nsrc = \"good.tmpl\"\ndest = \"{}\"\nkeys = [\"/good\"]\n",
            good_dest.display()
        ),
    )
    .unwrap();
    std::fs::write(templates.join("good.tmpl"), GOOD_TMPL).unwrap();
    let data = root.join("data.yaml");
    let mut yaml = BASE_DATA.as_bytes().to_vec();
    yaml.extend_from_slice(&case.data);
    std::fs::write(&data, yaml).unwrap();
    if let Some(text) = case.confd_toml {
        std::fs::write(root.join("no-confd.toml"), text).unwrap();
    }
    let out = Command::new(bin("confd"))
        .args(["-onetime", "-backend", "file", "-log-level", "info"])
        .arg("-file")
        .arg(&data)
        .arg("-confdir")
        .arg(root)
        .arg("-config-file")
        .arg(root.join("no-confd.toml"))
        .args(&case.flags)
        .output()
        .unwrap_or_else(|e| panic!("cannot run confd: {e}"));
    let stderr = strip_ansi(&String::from_utf8_lossy(&out.stderr));
    Run {
        out,
        stderr,
        bad_dest,
        good_dest,
    }
}

/// Checks one case; returns a description of every broken promise.
fn check(case: &Case, run: &Run) -> Vec<String> {
    let mut problems = Vec::new();
    let mut fail = |what: String| problems.push(what);
    if run.stderr.contains("panicked") {
        fail("confd panicked".into());
    }
    match (&case.expect, run.out.status.success()) {
        (None, true) => fail("exited 0 but the case must fail".into()),
        (Some(_), false) => fail(format!(
            "exited with {} but the case must succeed",
            run.out.status
        )),
        _ => {}
    }
    if case.expect.is_none() && run.out.status.code() != Some(1) {
        fail(format!("exit status {} (expected 1)", run.out.status));
    }
    for m in &case.mentions {
        if !run.stderr.contains(m.as_str()) {
            fail(format!("stderr does not mention {m:?}"));
        }
    }
    match (&case.expect, &case.dest) {
        (Some(want), _) => match std::fs::read(&run.bad_dest) {
            Ok(got) if &got == want => {}
            Ok(got) => fail(format!(
                "dest holds {} bytes starting {:?}, expected {} bytes starting {:?}",
                got.len(),
                String::from_utf8_lossy(&got[..got.len().min(60)]),
                want.len(),
                String::from_utf8_lossy(&want[..want.len().min(60)])
            )),
            Err(e) => fail(format!("dest not written: {e}")),
        },
        (None, Dest::Existing) => {
            if std::fs::read(&run.bad_dest).ok().as_deref() != Some(ORIGINAL) {
                fail("the existing dest file was changed".into());
            }
        }
        (None, Dest::ParentIsFile) => {
            let parent = run.bad_dest.parent().unwrap_or(Path::new("/"));
            if std::fs::read(parent).ok().as_deref() != Some(ORIGINAL) {
                fail("the file in the dest's parent path was changed".into());
            }
        }
        (None, Dest::IsDirectory) => {
            if !run.bad_dest.is_dir() {
                fail("the dest directory was replaced".into());
            }
        }
        (None, Dest::MissingDir | Dest::Proc) => {
            if run.bad_dest.exists() {
                fail("a dest that cannot be written exists".into());
            }
        }
    }
    let good = std::fs::read_to_string(&run.good_dest).ok();
    if case.good_written && good.as_deref() != Some(GOOD_OUT) {
        fail(format!(
            "the good resource was not written (holds {good:?})"
        ));
    }
    if !case.good_written && good.is_some() {
        fail("the good resource was written from unreadable data".into());
    }
    if let Some(stray) = stray_files(run) {
        fail(format!("staged file left behind: {stray}"));
    }
    problems
}

/// A leftover `.bad.out*` staging file next to the destination, if any.
fn stray_files(run: &Run) -> Option<String> {
    let dir = run.bad_dest.parent()?;
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with('.') && n.contains("bad.out"))
}

#[test]
fn bad_input_table() {
    let cases = cases();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let mut report = Vec::new();
    for case in &cases {
        let dir = tempfile::tempdir().unwrap();
        let run = run_case(case, dir.path());
        let problems = check(case, &run);
        eprintln!(
            "case {:<40} exit {:?}: {}",
            case.name,
            run.out.status.code(),
            if problems.is_empty() { "ok" } else { "FAILED" }
        );
        if !problems.is_empty() {
            report.push(format!(
                "{}:\n  - {}\n  stderr:\n{}",
                case.name,
                problems.join("\n  - "),
                tail(&run.stderr, 12)
            ));
        }
    }
    println!("{} bad-input cases run through confd -onetime", cases.len());
    assert!(
        report.is_empty(),
        "{} case(s) failed:\n{}",
        report.len(),
        report.join("\n")
    );
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("    {}", &l[..l.len().min(400)]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `register` refuses keys that would give a service name with `/`, an empty segment or
/// whitespace, before touching any backend, with a message naming the key.
#[test]
fn register_refuses_bad_service_names() {
    for (key, mention) in [
        ("/only-one-segment", "/only-one-segment"),
        ("/svc//id-1", "svc"),
        ("/root/my svc/id-1", "my svc"),
    ] {
        let out = run_to_exit(
            Command::new(bin("register")).args([
                "-backend",
                "memory://",
                "-key",
                key,
                "-value",
                "127.0.0.1:80",
            ]),
            Duration::from_secs(20),
        )
        .unwrap_or_else(|| panic!("register accepted the bad key {key:?} (still running)"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{key}: {stderr}");
        assert!(!stderr.contains("panicked"), "{key}: {stderr}");
        assert!(
            stderr.contains(mention),
            "{key}: error does not name {mention:?}: {stderr}"
        );
    }
    // A service name is one segment: `/` inside it is refused with a typed error.
    let err = discovery_core::ServiceName::new("web/v1").unwrap_err();
    assert!(
        matches!(err, discovery_core::Error::InvalidName { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("web/v1"), "{err}");
}

/// `register -ttl` below one second (`0s`, `1ms`, `999ms`) is refused before any backend is
/// opened: exit 1, an error naming `-ttl` and the value, and nothing registered (the memory
/// backend would otherwise take it; an etcd URL that nothing answers shows that no connection
/// was even tried, as the run ends at once with the flag error instead of a connect error).
#[test]
fn register_refuses_ttl_below_one_second() {
    for ttl in ["0s", "1ms", "999ms", "0"] {
        for backend in ["memory://", "etcd://127.0.0.1:1"] {
            let out = run_to_exit(
                Command::new(bin("register")).args([
                    "-backend",
                    backend,
                    "-key",
                    "/test/apache-8001",
                    "-value",
                    "127.0.0.1:8001",
                    "-ttl",
                    ttl,
                ]),
                Duration::from_secs(20),
            )
            .unwrap_or_else(|| panic!("register -ttl {ttl} ({backend}) is still running"));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(1),
                "-ttl {ttl} ({backend}): {stderr}"
            );
            assert!(
                stderr.contains("-ttl") && stderr.contains(&format!("{ttl:?}")),
                "-ttl {ttl} ({backend}): the error names neither the flag nor the value: {stderr}"
            );
            assert!(
                stderr.contains("1s"),
                "-ttl {ttl} ({backend}): the error does not give the minimum: {stderr}"
            );
            assert!(!stderr.contains("registered"), "{stderr}");
        }
    }
    // One second is the floor, and is accepted (the memory backend registers and runs on).
    let mut child = Command::new(bin("register"))
        .args([
            "-backend",
            "memory://",
            "-key",
            "/test/a-1",
            "-value",
            "127.0.0.1:1",
            "-ttl",
            "1s",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        still_running,
        "register -ttl 1s exited: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `cmd` to its exit, killing it after `limit`; `None` when it had to be killed.
fn run_to_exit(cmd: &mut Command, limit: Duration) -> Option<Output> {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(child.wait_with_output().unwrap())
}
/// One bad consul-template input: its command line (after `-consul-addr` of an address nothing
/// listens on) and config file (`{dir}` is replaced by the case's directory).
struct CtCase {
    name: &'static str,
    args: &'static [&'static str],
    /// `ct.hcl`'s content, passed as `-config ct.hcl` when given.
    config: Option<&'static str>,
    /// Substrings stderr must contain.
    mentions: &'static [&'static str],
}

fn ct_cases() -> Vec<CtCase> {
    vec![
        // --- a template with no destination: refused before anything connects ---
        CtCase {
            name: "-template without destination",
            args: &["-template", "in.tmpl"],
            config: None,
            mentions: &["-template \"in.tmpl\"", "missing destination"],
        },
        CtCase {
            name: "-template with an empty destination",
            args: &["-template", "in.tmpl::echo hi"],
            config: None,
            mentions: &["-template \"in.tmpl::echo hi\"", "missing destination"],
        },
        CtCase {
            name: "template {} without destination",
            args: &[],
            config: Some("template {\n  source = \"in.tmpl\"\n}\n"),
            mentions: &["ct.hcl", "source = \"in.tmpl\"", "missing destination"],
        },
        CtCase {
            name: "template {} with contents, no destination",
            args: &[],
            config: Some("template {\n  contents = \"x\"\n}\n"),
            mentions: &["ct.hcl", "template", "missing destination"],
        },
    ]
}

/// consul-template refuses each [`ct_cases`] input with a clear error and a non-zero exit, writes
/// nothing, never panics and does not wait on Consul.
#[test]
fn consul_template_bad_input_table() {
    let mut report = Vec::new();
    let cases = ct_cases();
    for case in &cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("in.tmpl"), "{{key \"app/name\"}}").unwrap();
        let mut cmd = Command::new(bin("consul-template"));
        cmd.current_dir(dir.path())
            .args(["-consul-addr", "127.0.0.1:1", "-once"])
            .args(case.args);
        if let Some(c) = case.config {
            std::fs::write(dir.path().join("ct.hcl"), c).unwrap();
            cmd.args(["-config", "ct.hcl"]);
        }
        let Some(out) = run_to_exit(&mut cmd, Duration::from_secs(20)) else {
            report.push(format!(
                "{}: still running after 20 s (accepted)",
                case.name
            ));
            continue;
        };
        let stderr = strip_ansi(&String::from_utf8_lossy(&out.stderr));
        let mut problems = Vec::new();
        if out.status.success() || out.status.code().is_none() {
            problems.push(format!("exit status {} (expected a failure)", out.status));
        }
        if stderr.contains("panicked") {
            problems.push("consul-template panicked".into());
        }
        for m in case.mentions {
            if !stderr.contains(m) {
                problems.push(format!("stderr does not mention {m:?}"));
            }
        }
        let mut files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "in.tmpl" && n != "ct.hcl")
            .collect();
        files.sort();
        if !files.is_empty() {
            problems.push(format!("files written: {files:?}"));
        }
        eprintln!(
            "ct case {:<45} exit {:?}: {}",
            case.name,
            out.status.code(),
            if problems.is_empty() { "ok" } else { "FAILED" }
        );
        if !problems.is_empty() {
            report.push(format!(
                "{}:\n  - {}\n  stderr:\n{}",
                case.name,
                problems.join("\n  - "),
                tail(&stderr, 12)
            ));
        }
    }
    println!(
        "{} bad-input cases run through consul-template",
        cases.len()
    );
    assert!(
        report.is_empty(),
        "{} case(s) failed:\n{}",
        report.len(),
        report.join("\n")
    );
}
