//! Consul with ACLs on (`default_policy = "deny"`) through the `confd` binary: rendering works
//! with the master token and with a token whose policy only reads one key prefix; without a
//! token, with an unknown one, or outside the policy's prefix, confd fails (exit 1, nothing
//! rendered) and never prints the token. (Backend-level ACL checks are in `consul_acl.rs`.)

use std::process::Command;

use discovery_consul::ConsulBackend;
use discovery_core::{Key, KvStore};
use discovery_tests::bins::bin;
use discovery_tests::consul::ConsulServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MASTER: &str = "5b0e6a8e-1f0c-4c62-8d0a-2a9d3c7e1f11";
const UNKNOWN: &str = "00000000-dead-beef-0000-000000000000";

/// `PUT path` with `body` and the master token; returns the response body.
async fn acl_put(server: &ConsulServer, path: &str, body: &str) -> serde_json::Value {
    let addr = server.address();
    let authority = addr.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let req = format!(
        "PUT {path} HTTP/1.0\r\nHost: {authority}\r\nX-Consul-Token: {MASTER}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    let (head, json) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{resp}"
    );
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// A token allowed to read keys under `prefix/` only.
async fn read_only_token(server: &ConsulServer, prefix: &str) -> String {
    let rules = format!("key_prefix \"{prefix}/\" {{ policy = \"read\" }}");
    let policy = serde_json::json!({"Name": format!("read-{prefix}"), "Rules": rules});
    acl_put(server, "/v1/acl/policy", &policy.to_string()).await;
    let token = serde_json::json!({"Policies": [{"Name": format!("read-{prefix}")}]});
    let created = acl_put(server, "/v1/acl/token", &token.to_string()).await;
    created["SecretID"].as_str().expect("SecretID").to_owned()
}

/// `confd -onetime -backend consul` rendering `{{getv "/<prefix>/greeting"}}`; returns
/// (exit code, stdout + stderr, rendered output).
fn confd(
    server: &ConsulServer,
    prefix: &str,
    token: Option<&str>,
) -> (Option<i32>, String, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("conf.d")).unwrap();
    std::fs::create_dir_all(root.join("templates")).unwrap();
    let dest = root.join("out.conf");
    std::fs::write(
        root.join("conf.d/r.toml"),
        format!(
            "[template]\nsrc = \"r.tmpl\"\ndest = \"{}\"\nkeys = [\"/{prefix}\"]\n",
            dest.display()
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("templates/r.tmpl"),
        format!("{{{{getv \"/{prefix}/greeting\"}}}}"),
    )
    .unwrap();
    let node = server.address().trim_start_matches("http://").to_owned();
    let mut cmd = Command::new(bin("confd"));
    cmd.args([
        "-onetime",
        "-backend",
        "consul",
        "-node",
        &node,
        "-log-level",
        "debug",
    ])
    .arg("-confdir")
    .arg(root)
    .arg("-config-file")
    .arg(root.join("none.toml"));
    if let Some(t) = token {
        cmd.args(["-auth-token", t]);
    }
    let out = cmd.output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text, std::fs::read_to_string(dest).ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn confd_renders_with_tokens_and_is_refused_without() {
    let server = ConsulServer::start_acl(MASTER).await;
    let admin = ConsulBackend::new(server.config().with_token(MASTER)).unwrap();
    for prefix in ["sec", "other"] {
        admin
            .put(
                &Key::new(format!("/{prefix}/greeting")).unwrap(),
                format!("hello {prefix}").into(),
                None,
            )
            .await
            .unwrap();
    }

    let (code, out, rendered) = confd(&server, "sec", Some(MASTER));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rendered.as_deref(), Some("hello sec"));
    assert!(!out.contains(MASTER), "the token was printed:\n{out}");

    let reader = read_only_token(&server, "sec").await;
    let (code, out, rendered) = confd(&server, "sec", Some(&reader));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rendered.as_deref(), Some("hello sec"));
    assert!(!out.contains(&reader), "the token was printed:\n{out}");

    // Consul filters recursive KV reads by ACL instead of refusing them, so a token that may not
    // read a prefix sees it empty ("key does not exist"); an unknown token is refused outright.
    for (what, prefix, token, says) in [
        ("no token", "sec", None, "key does not exist: /sec/greeting"),
        (
            "an unknown token",
            "sec",
            Some(UNKNOWN),
            "permission denied",
        ),
        (
            "a token for another prefix",
            "other",
            Some(reader.as_str()),
            "key does not exist: /other/greeting",
        ),
    ] {
        let (code, out, rendered) = confd(&server, prefix, token);
        assert_eq!(code, Some(1), "{what}: {out}");
        assert!(
            out.to_lowercase().contains(says),
            "{what}: expected {says:?}: {out}"
        );
        assert!(rendered.is_none(), "{what}: rendered {rendered:?}");
        if let Some(t) = token {
            assert!(!out.contains(t), "{what}: the token was printed:\n{out}");
        }
    }
}
