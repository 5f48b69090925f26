//! Local images for container tests, with no registry: a `FROM scratch` root filesystem made of
//! this machine's binaries (Debian's nginx, dnsmasq, `sh`; our debug builds) and the libraries
//! `ldd` names for them.

use std::path::Path;
use std::process::{Command, Stdio};

/// Copies `file` to `<rootfs><dest>` with the libraries `ldd` names for it.
pub fn copy_with_libs(file: &Path, rootfs: &Path, dest: &str) {
    let target = rootfs.join(dest.trim_start_matches('/'));
    std::fs::create_dir_all(target.parent().expect("dest has a parent")).expect("mkdir");
    std::fs::copy(file, &target).unwrap_or_else(|e| panic!("copy {}: {e}", file.display()));
    let out = Command::new("ldd").arg(file).output().expect("ldd runs");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let lib = match line.split_once("=> ") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|l| l.starts_with('/')),
        };
        if let Some(lib) = lib.filter(|l| l.starts_with('/')) {
            let t = rootfs.join(lib.trim_start_matches('/'));
            std::fs::create_dir_all(t.parent().expect("lib has a parent")).expect("mkdir");
            std::fs::copy(lib, &t).unwrap_or_else(|e| panic!("copy {lib}: {e}"));
        }
    }
}

/// Builds image `name` from the root filesystem `ctx/rootfs` (`PATH` set to
/// `/usr/local/bin:/usr/sbin:/bin`), with a minimal `/etc/passwd` and `/etc/group`.
pub fn build(name: &str, ctx: &Path) {
    let root = ctx.join("rootfs");
    std::fs::create_dir_all(root.join("etc")).expect("mkdir etc");
    std::fs::create_dir_all(root.join("tmp")).expect("mkdir tmp");
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )
    .expect("write passwd");
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("group");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/bin:/usr/sbin:/bin\n",
    )
    .expect("write Dockerfile");
    let status = Command::new("docker")
        .args(["build", "-q", "-t", name])
        .arg(ctx)
        .env("DOCKER_BUILDKIT", "0")
        .stdout(Stdio::null())
        .status()
        .expect("docker runs");
    assert!(status.success(), "docker build of {name} failed");
}
