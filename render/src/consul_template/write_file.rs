//! consul-template's `writeToFile path user group perms [flags] content`: writes `content` to
//! `path` (creating its directory), refusing symlinks, then sets owner and mode; it prints nothing.

use std::fs::{File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use minijinja::Value;

use super::data::state;
use super::owner::id_of_name;
use crate::func::{arg_str, Arity, CallCtx, FuncError, FuncMap, FuncResult};
use crate::gostr::{go_quote, path_base, path_clean, path_dir, path_join};

/// Go's `*PathError` text: `op path: reason`, the reason in Go's lowercase spelling.
pub(crate) fn path_error(op: &str, path: &str, e: &std::io::Error) -> FuncError {
    FuncError::new(format!("{op} {path}: {}", go_errno_text(e)))
}

/// An I/O error's reason as Go spells it (`permission denied`, `no such file or directory`).
pub(crate) fn go_errno_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = match s.find(" (os error ") {
        Some(i) => &s[..i],
        None => &s,
    };
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `strconv.ParseUint(s, 8, 32)`.
fn parse_perm(s: &str) -> Result<u32, FuncError> {
    let err = |what: &str| {
        FuncError::new(format!(
            "strconv.ParseUint: parsing {}: {what}",
            go_quote(s)
        ))
    };
    if s.is_empty() || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(err("invalid syntax"));
    }
    u32::from_str_radix(s, 8).map_err(|_| err("value out of range"))
}

/// The uid (`user`) or gid (`group`) for a name or number; Go looks the name up first.
fn owner_id(name: &str, db: &str, unknown: &str) -> Result<u32, FuncError> {
    if let Some(id) = id_of_name(name, db) {
        return Ok(id);
    }
    name.parse::<u32>()
        .map_err(|_| FuncError::new(format!("{unknown} {name}")))
}

/// Refuses a path that leaves `sandbox`: its nearest existing ancestor is resolved (symlinks
/// included) and the rest appended, so nothing is created outside before the check.
fn check_sandbox(sandbox: &Path, clean: &str) -> Result<(), FuncError> {
    let root = std::fs::canonicalize(sandbox).unwrap_or_else(|_| sandbox.to_path_buf());
    let mut existing = PathBuf::from(clean);
    let mut rest = Vec::new();
    let resolved = loop {
        match std::fs::canonicalize(&existing) {
            Ok(p) => break p,
            Err(_) => {
                let Some(name) = existing.file_name().map(|n| n.to_owned()) else {
                    break existing.clone();
                };
                rest.push(name);
                existing.pop();
                if existing.as_os_str().is_empty() {
                    existing.push(".");
                }
            }
        }
    };
    let full = rest.iter().rev().fold(resolved, |p, n| p.join(n));
    if full.starts_with(&root) {
        Ok(())
    } else {
        Err(FuncError::new(format!(
            "writeToFile: access denied: {clean} is outside the sandbox path"
        )))
    }
}

fn write_to_file(ctx: &CallCtx<'_>, a: &[Value]) -> FuncResult {
    let path = arg_str(a, 0)?;
    let username = arg_str(a, 1)?;
    let group = arg_str(a, 2)?;
    let perms = arg_str(a, 3)?;
    let rest = (4..a.len())
        .map(|i| arg_str(a, i))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(content) = rest.last() else {
        // Go indexes args[len(args)-1] and panics.
        return Err(FuncError::new("runtime error: index out of range [-1]"));
    };
    let flags = if rest.len() == 2 { rest[0] } else { "" };
    let perm = parse_perm(perms)? & 0o777;

    let clean = path_clean(path);
    let dir = path_dir(&clean);
    if let Some(sandbox) = &state(ctx)?.sandbox {
        check_sandbox(sandbox, &clean)?;
    }
    match std::fs::metadata(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&dir).map_err(|e| path_error("mkdir", &dir, &e))?
        }
        Err(e) => return Err(path_error("stat", &dir, &e)),
        Ok(_) => {}
    }
    let dir_info = std::fs::symlink_metadata(&dir).map_err(|e| {
        FuncError::new(format!(
            "writeToFile: failed to stat directory {}: {}",
            go_quote(&dir),
            path_error("lstat", &dir, &e)
        ))
    })?;
    if dir_info.file_type().is_symlink() {
        return Err(FuncError::new(format!(
            "writeToFile: refusing to write through symlinked directory in path {}",
            go_quote(path)
        )));
    }
    let target = path_join(&[&dir, &path_base(&clean)]);
    match std::fs::symlink_metadata(&target) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(FuncError::new(format!(
                "writeToFile: refusing to write to symlink {}",
                go_quote(path)
            )))
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(FuncError::new(format!(
                "writeToFile: failed to stat {}: {}",
                go_quote(&target),
                path_error("lstat", &target, &e)
            )))
        }
        _ => {}
    }

    let mut opts = OpenOptions::new();
    if flags.contains("append") {
        opts.append(true).create(true);
    } else {
        opts.read(true).write(true).create(true).truncate(true);
    }
    let mut f: File = opts
        .mode(perm)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&target)
        .map_err(|e| path_error("open", &target, &e))?;
    let mut bytes = content.as_bytes().to_vec();
    if flags.contains("newline") {
        bytes.push(b'\n');
    }
    f.write_all(&bytes)
        .map_err(|e| path_error("write", &target, &e))?;

    let uid = match username {
        "" => rustix::process::getuid().as_raw(),
        u => owner_id(u, "/etc/passwd", "user: unknown user")?,
    };
    let gid = match group {
        "" => rustix::process::getgid().as_raw(),
        g => owner_id(g, "/etc/group", "group: unknown group")?,
    };
    // Like upstream, an empty user (group) given with the other means the process's own id.
    if !username.is_empty() || !group.is_empty() {
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid))
            .map_err(|e| path_error("chown", &target, &e))?;
    }
    f.set_permissions(Permissions::from_mode(perm))
        .map_err(|e| path_error("chmod", &target, &e))?;
    Ok(Value::from(""))
}

/// Registers `writeToFile`.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("writeToFile", Arity::at_least(4), write_to_file);
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::super::tests::render;
    use crate::consul_template::ConsulTemplate;
    use crate::{Dialect, Template, TemplateOptions};
    use discovery_core::{RenderData, Renderer};

    /// Writes "after" over a file holding "before" (template/template_test.go Test_writeToFile).
    fn write(user: &str, group: &str, perms: &str, flags: &str) -> (String, u32, (u32, u32)) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("out");
        std::fs::write(&f, "before").unwrap();
        let out = render(&format!(
            r#"{{{{ "after" | writeToFile "{}" "{user}" "{group}" "{perms}" {flags} }}}}"#,
            f.display()
        ))
        .unwrap();
        assert_eq!(out, "");
        let meta = std::fs::metadata(&f).unwrap();
        (
            std::fs::read_to_string(&f).unwrap(),
            meta.mode() & 0o777,
            (meta.uid(), meta.gid()),
        )
    }

    #[test]
    fn writes_appends_and_sets_mode_like_upstream() {
        let me = (
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        );
        let (uid, gid) = (me.0.to_string(), me.1.to_string());
        assert_eq!(write("", "", "0644", ""), ("after".into(), 0o644, me));
        assert_eq!(write(&uid, &gid, "0666", ""), ("after".into(), 0o666, me));
        assert_eq!(write(&uid, "", "0644", r#""append""#).0, "beforeafter");
        assert_eq!(write("", &gid, "0644", r#""newline""#).0, "after\n");
        assert_eq!(
            write(&uid, &gid, "0600", r#""append,newline""#),
            ("beforeafter\n".into(), 0o600, me)
        );
    }

    #[test]
    fn creates_directories_and_refuses_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        // writeToFile_create_directory
        let f = dir.path().join("demo/testing.tmp");
        render(&format!(
            r#"{{{{ "after" | writeToFile "{}" "" "" "0644" }}}}"#,
            f.display()
        ))
        .unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "after");
        // Test_writeToFile_symlink_rejection: a symlinked file, and a symlinked directory.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        let err = render(&format!(
            r#"{{{{ "data" | writeToFile "{}" "" "" "0644" "append" }}}}"#,
            link.display()
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(&format!(
                "writeToFile: refusing to write to symlink \"{}\"",
                link.display()
            )),
            "{err}"
        );
        let dlink = dir.path().join("dlink");
        std::os::unix::fs::symlink(dir.path().join("demo"), &dlink).unwrap();
        let err = render(&format!(
            r#"{{{{ "data" | writeToFile "{}/x" "" "" "0644" }}}}"#,
            dlink.display()
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("writeToFile: refusing to write through symlinked directory in path"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "after");
    }

    #[test]
    fn bad_arguments_fail_like_go() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        let run = |args: &str| {
            render(&format!(
                r#"{{{{ writeToFile "{}" {args} }}}}"#,
                f.display()
            ))
            .unwrap_err()
            .to_string()
        };
        let err = run(r#""" "" "0698" "c""#);
        assert!(
            err.contains(r#"strconv.ParseUint: parsing "0698": invalid syntax"#),
            "{err}"
        );
        let err = run(r#""no-such-user-here" "" "0644" "c""#);
        assert!(
            err.contains("user: unknown user no-such-user-here"),
            "{err}"
        );
        let err = run(r#""" "" "0644""#);
        assert!(err.contains("index out of range [-1]"), "{err}");
    }

    #[test]
    fn stays_inside_the_sandbox() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = dir.path().join("box");
        std::fs::create_dir(&sandbox).unwrap();
        let run = |path: &std::path::Path| {
            let t = Template::parse(
                &format!(
                    r#"{{{{ "x" | writeToFile "{}" "" "" "0644" }}}}"#,
                    path.display()
                ),
                TemplateOptions::new(Dialect::ConsulTemplate).file_sandbox(&sandbox),
            )
            .unwrap();
            ConsulTemplate::new(t).render(&RenderData::default())
        };
        run(&sandbox.join("a/b")).unwrap();
        assert_eq!(std::fs::read_to_string(sandbox.join("a/b")).unwrap(), "x");
        let outside = sandbox.join("../new/c");
        let err = run(&outside).unwrap_err().to_string();
        assert!(err.contains("is outside the sandbox path"), "{err}");
        assert!(!dir.path().join("new").exists());
    }
}
