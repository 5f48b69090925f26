//! consul-template's Consul functions beyond `service`/`services`/`key`, rendered by `CtRunner`
//! from a real Consul 1.8.7 agent: `datacenters`, `node`, `nodes`, `connect` (once, and a
//! watch that re-renders), and `peerings`/`partitions`/`exportedServices`/`importedServices`,
//! which end the run naming the function because a 1.8.7 agent answers their endpoints 404.
//! Expected bytes follow `docs/templating-language.md` (0.42.1) and the Go structs' `%v`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use discovery_consul::ConsulBackend;
use discovery_core::ApiRead;
use discovery_render::consul_template::{CtOptions, CtRunner, Mode, TemplateSpec};
use discovery_tests::consul::ConsulServer;
use discovery_tests::util::{eventually, init_tracing, unique};

const LIMIT: Duration = Duration::from_secs(30);

/// One HTTP/1.1 request with a body to the agent; returns the status.
fn agent(addr: &str, method: &str, path: &str, body: &str) -> u16 {
    let host = addr.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("an HTTP status")
}

/// Registers a service on the agent (`/v1/agent/service/register`).
fn register(addr: &str, def: serde_json::Value) {
    let status = agent(addr, "PUT", "/v1/agent/service/register", &def.to_string());
    assert_eq!(status, 200, "register {def}");
}

fn deregister(addr: &str, id: &str) {
    agent(
        addr,
        "PUT",
        &format!("/v1/agent/service/deregister/{id}"),
        "",
    );
}

/// Renders `source` once with the runner; the output, or the run's error.
async fn once(backend: &ConsulBackend, source: &str) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let spec = TemplateSpec::new(&dest).with_contents(source.to_owned());
    let mut handle = CtRunner::new(CtOptions::new(vec![spec]).mode(Mode::Once), backend.clone())
        .map_err(|e| e.to_string())?
        .start();
    let finished = tokio::time::timeout(LIMIT, handle.wait())
        .await
        .expect("a once run ends");
    match finished {
        Ok(_) => Ok(std::fs::read_to_string(&dest).unwrap_or_default()),
        Err(e) => Err(e.to_string()),
    }
}

/// The agent's node name and ID (`/v1/agent/self`).
async fn agent_node(backend: &ConsulBackend) -> (String, String) {
    let me = backend
        .api_get(&ApiRead::new("agent/self"))
        .await
        .expect("agent/self");
    let cfg = &me.body["Config"];
    (
        cfg["NodeName"].as_str().unwrap().to_owned(),
        cfg["NodeID"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datacenters_lists_the_agents_datacenter() {
    init_tracing();
    let consul = ConsulServer::shared().await;
    let backend = consul.backend(None);
    // docs: `{{ range datacenters }}{{ . }}{{ end }}`; `datacenters true` leaves out the
    // unreachable ones (the dev agent's own always answers).
    let out = once(
        &backend,
        "{{ datacenters }}|{{ range datacenters true }}{{ . }};{{ end }}|{{ len datacenters }}",
    )
    .await
    .unwrap();
    assert_eq!(out, "[dc1]|dc1;|1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_nodes_read_the_catalog() {
    init_tracing();
    let consul = ConsulServer::shared().await;
    let backend = consul.backend(None);
    let addr = consul.address();
    let (name, id) = agent_node(&backend).await;
    let app = unique("ctnode");
    for (sid, port, tags) in [("b", 8081, vec!["z", "a"]), ("a", 8080, vec![])] {
        register(
            &addr,
            serde_json::json!({"Name": app, "ID": format!("{app}-{sid}"), "Port": port,
                               "Address": "10.9.0.1", "Tags": tags, "Meta": {"team": "x"}}),
        );
    }
    // docs: `{{ with node }}{{ .Node.Address }}{{ end }}` is the agent's own node.
    let source = format!(
        r#"{{{{ with node }}}}{{{{ .Node.Node }}}} {{{{ .Node.Address }}}} {{{{ .Node.Datacenter }}}}{{{{ end }}}}
{{{{ with node "{name}@dc1" }}}}{{{{ .Node }}}}
{{{{ range .Services }}}}{{{{ if eq .Service "{app}" }}}}{{{{ . }}}}
{{{{ end }}}}{{{{ end }}}}{{{{ end }}}}{{{{ with node "no-such-node" }}}}{{{{ . }}}}{{{{ end }}}}
{{{{ range nodes }}}}{{{{ .Node }}}} {{{{ .Address }}}} {{{{ .Datacenter }}}} {{{{ .TaggedAddresses.lan }}}};{{{{ end }}}}
{{{{ range nodes "@dc1~_agent" }}}}{{{{ .Node }}}};{{{{ end }}}}"#
    );
    let out = once(&backend, &source).await.unwrap();
    for sid in ["a", "b"] {
        deregister(&addr, &format!("{app}-{sid}"));
    }
    // Go's %v of *dependency.Node and *dependency.CatalogNodeService: fields in declaration
    // order, maps sorted by key, tags sorted; services sorted by name then ID.
    let expected = format!(
        "{name} 127.0.0.1 dc1\n\
         &{{{id} {name} 127.0.0.1 dc1 map[lan:127.0.0.1 lan_ipv4:127.0.0.1 wan:127.0.0.1 wan_ipv4:127.0.0.1] map[consul-network-segment:]}}\n\
         &{{{app}-a {app} [] map[team:x] 8080 10.9.0.1 false}}\n\
         &{{{app}-b {app} [a z] map[team:x] 8081 10.9.0.1 false}}\n\
         &{{<nil> []}}\n\
         {name} 127.0.0.1 dc1 127.0.0.1;\n\
         {name};"
    );
    assert_eq!(out, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_lists_connect_capable_instances_and_follows_changes() {
    init_tracing();
    let consul = ConsulServer::shared().await;
    let backend = consul.backend(None);
    let addr = consul.address();
    let app = unique("ctconnect");
    // A Connect-native instance and a plain one: `service` sees both, `connect` only the first.
    register(
        &addr,
        serde_json::json!({"Name": app, "ID": format!("{app}-1"), "Port": 21000,
                           "Address": "10.5.2.45", "Tags": ["v1"], "Connect": {"Native": true}}),
    );
    register(
        &addr,
        serde_json::json!({"Name": app, "ID": format!("{app}-plain"), "Port": 80, "Address": "10.5.2.46"}),
    );
    // docs: `{{ range connect "web" }}server {{ .Name }} {{ .Address }}:{{ .Port }}{{ end }}`.
    let source = format!(
        r#"{{{{ range connect "{app}" }}}}server {{{{ .Name }}}} {{{{ .Address }}}}:{{{{ .Port }}}} {{{{ .Tags }}}} {{{{ .Status }}}}
{{{{ end }}}}{{{{ range service "{app}" }}}}{{{{ .ID }}}};{{{{ end }}}}
{{{{ len (connect "v2.{app}") }}}}"#
    );
    let out = once(&backend, &source).await.unwrap();
    assert_eq!(
        out,
        format!("server {app} 10.5.2.45:21000 [v1] passing\n{app}-1;{app}-plain;\n0")
    );

    // Watch mode: a second Connect instance re-renders (the blocking query on
    // /v1/health/connect/<name> answers).
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("connect.out");
    let spec = TemplateSpec::new(&dest).with_contents(format!(
        r#"{{{{ range connect "{app}" }}}}{{{{ .Address }}}}:{{{{ .Port }}}};{{{{ end }}}}"#
    ));
    let mut handle = CtRunner::new(CtOptions::new(vec![spec]), backend.clone())
        .unwrap()
        .start();
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    eventually("the first connect render", LIMIT, || async {
        (read(&dest).as_deref() == Some("10.5.2.45:21000;")).then_some(())
    })
    .await;
    register(
        &addr,
        serde_json::json!({"Name": app, "ID": format!("{app}-2"), "Port": 21001,
                           "Address": "10.5.2.47", "Connect": {"Native": true}}),
    );
    eventually("the re-render with the second instance", LIMIT, || async {
        (read(&dest).as_deref() == Some("10.5.2.45:21000;10.5.2.47:21001;")).then_some(())
    })
    .await;
    handle.shutdown();
    tokio::time::timeout(LIMIT, handle.wait())
        .await
        .expect("shutdown returns")
        .expect("a watch run shut down is Ok");
    for id in ["1", "2", "plain"] {
        deregister(&addr, &format!("{app}-{id}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_of_newer_consul_fail_naming_what_they_need() {
    init_tracing();
    let consul = ConsulServer::shared().await;
    let backend = consul.backend(None);
    for (source, message) in [
        (
            "{{ range peerings }}{{ .Name }}{{ end }}",
            "peerings: the Consul agent has no /v1/peerings endpoint (it requires Consul 1.13+)",
        ),
        (
            "{{ range partitions }}{{ .Name }}{{ end }}",
            "partitions: the Consul agent has no /v1/partitions endpoint (it requires Consul Enterprise)",
        ),
        (
            r#"{{ exportedServices "default" }}"#,
            "exportedServices: the Consul agent has no /v1/exported-services endpoint",
        ),
        (
            r#"{{ importedServices "default" }}"#,
            "importedServices: the Consul agent has no /v1/imported-services endpoint",
        ),
    ] {
        let err = once(&backend, source).await.unwrap_err();
        assert!(err.contains(message), "{source}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_roots_and_leaf_come_from_the_agents_connect_ca() {
    init_tracing();
    let consul = ConsulServer::shared().await;
    let backend = consul.backend(None);
    // The dev agent runs Connect with its built-in CA: what the agent answers is the truth.
    let roots = backend
        .api_get(&ApiRead::new("agent/connect/ca/roots"))
        .await
        .expect("a dev agent has Connect");
    let root = &roots.body["Roots"][0];
    let (root_id, root_pem) = (
        root["ID"].as_str().unwrap().to_owned(),
        root["RootCert"].as_str().unwrap().to_owned(),
    );
    assert!(root_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let app = unique("ctleaf");
    // docs: `{{ range caRoots }}{{ .RootCertPEM }}{{ end }}`,
    // `{{ with caLeaf "proxy" }}{{ .CertPEM }}{{ end }}`.
    let source = format!(
        r#"{{{{ range caRoots }}}}{{{{ .ID }}}} {{{{ .Active }}}}
{{{{ .RootCertPEM }}}}{{{{ end }}}}{{{{ with caLeaf "{app}" }}}}{{{{ .Service }}}} {{{{ .ServiceURI }}}}
{{{{ .CertPEM }}}}{{{{ .PrivateKeyPEM }}}}{{{{ end }}}}"#
    );
    let out = once(&backend, &source).await.unwrap();
    // The leaf the render used is the agent's cached one for the service: read it back.
    let leaf = backend
        .api_get(&ApiRead::new(format!("agent/connect/ca/leaf/{app}")))
        .await
        .unwrap();
    let (uri, cert, key) = (
        leaf.body["ServiceURI"].as_str().unwrap(),
        leaf.body["CertPEM"].as_str().unwrap(),
        leaf.body["PrivateKeyPEM"].as_str().unwrap(),
    );
    assert!(
        uri.starts_with("spiffe://") && uri.ends_with(&format!("/svc/{app}")),
        "{uri}"
    );
    assert_eq!(
        out,
        format!("{root_id} true\n{root_pem}{app} {uri}\n{cert}{key}")
    );
}
