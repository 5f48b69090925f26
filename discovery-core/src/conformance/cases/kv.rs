//! Cases of the [`KvView`](crate::KvView) and [`KvStore`](crate::KvStore) contracts that need no
//! watch.

use crate::conformance::util::*;
use crate::conformance::Fixture;
use crate::{Key, KvEvent, KvStore, KvView, Registry, Watcher};

/// `kv_get_missing_is_none`: `get` of a missing key is `Ok(None)`.
pub async fn kv_get_missing_is_none<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    assert!(ok(b.get(&key("/app/missing")).await, "get").is_none());
    ok(b.put(&key("/app/present"), "1".into(), None).await, "put");
    assert!(ok(b.get(&key("/app/missing")).await, "get").is_none());
    assert!(ok(b.get(&key("/app")).await, "get a directory").is_none());
}

/// `kv_prefix_boundary`: a prefix `/test` returns `/test` and `/test/...`, never `/testing`.
pub async fn kv_prefix_boundary<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    for (k, v) in [
        ("/test", "self"),
        ("/test/a", "child"),
        ("/test/b/c", "grandchild"),
        ("/testing", "sibling"),
        ("/testing/x", "sibling child"),
        ("/tes", "shorter"),
    ] {
        ok(b.put(&key(k), v.into(), None).await, "put");
    }
    let snap = ok(b.list(&[key("/test")]).await, "list");
    let keys: Vec<&str> = snap.pairs.keys().map(Key::as_str).collect();
    assert_eq!(keys, ["/test", "/test/a", "/test/b/c"]);
    let mut w = ok(b.watch_prefix(&key("/test"), None).await, "watch");
    let reset = first_kv_reset(&mut w).await;
    assert_eq!(values(&reset), values(&snap));
}

/// `kv_list_one_revision`: `list` over several prefixes reads them all at one revision and
/// reports it.
pub async fn kv_list_one_revision<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let r1 = ok(b.put(&key("/one/a"), "1".into(), None).await, "put");
    let r2 = ok(b.put(&key("/two/b"), "2".into(), None).await, "put");
    ok(b.put(&key("/three/c"), "3".into(), None).await, "put");
    assert!(r2 > r1, "put revisions {r1} then {r2}");
    let snap = ok(
        b.list(&[key("/one"), key("/two"), key("/one/a")]).await,
        "list",
    );
    let keys: Vec<&str> = snap.pairs.keys().map(Key::as_str).collect();
    assert_eq!(keys, ["/one/a", "/two/b"]);
    assert_eq!(snap.pairs[&key("/one/a")].mod_revision, r1);
    assert_eq!(snap.pairs[&key("/two/b")].mod_revision, r2);
    assert!(
        snap.revision >= r2,
        "list revision {} before {r2}",
        snap.revision
    );
}

/// `kv_non_utf8_round_trips`: any byte sequence written is read back unchanged.
pub async fn kv_non_utf8_round_trips<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let bytes: Vec<u8> = vec![0xff, 0x00, 0xfe, b'\n', 0x80, b'"', 0xc3, 0x28];
    let k = key("/bin/value");
    ok(b.put(&k, bytes.clone().into(), None).await, "put");
    let got = ok(b.get(&k).await, "get").expect("the key exists");
    assert_eq!(got.value, bytes);
    assert_eq!(got.value_str(), None);
    let snap = ok(b.list(&[key("/bin")]).await, "list");
    assert_eq!(snap.pairs[&k].value, bytes);
    let mut w = ok(b.watch_prefix(&key("/bin"), None).await, "watch");
    assert_eq!(first_kv_reset(&mut w).await.pairs[&k].value, bytes);
}

/// `namespaces_isolated`: two backends with different namespaces never see each other's keys.
pub async fn namespaces_isolated<F: Fixture>(fixture: &F, ns: &str) {
    let a = fixture.backend(ns).await;
    // A namespace that extends the other's name: a raw string prefix would leak.
    let b = fixture.backend(&format!("{ns}-other")).await;
    let mut wa = ok(a.watch_prefix(&Key::root(), None).await, "watch a");
    first_kv_reset(&mut wa).await;
    ok(a.put(&key("/app/a"), "a".into(), None).await, "put a");
    ok(b.put(&key("/app/b"), "b".into(), None).await, "put b");
    assert!(ok(a.get(&key("/app/b")).await, "get").is_none());
    assert!(ok(b.get(&key("/app/a")).await, "get").is_none());
    let la = ok(a.list(&[Key::root()]).await, "list a");
    let lb = ok(b.list(&[Key::root()]).await, "list b");
    assert_eq!(values(&la), [("/app/a".to_owned(), b"a".to_vec())]);
    assert_eq!(values(&lb), [("/app/b".to_owned(), b"b".to_vec())]);
    let web = service("web");
    let reg = ok(
        b.register(instance(&web, "in-b", 8001), opts()).await,
        "register",
    );
    assert!(ok(a.snapshot(&web).await, "snapshot").instances.is_empty());
    // a's watch saw its own put, then sees the next one of its own, and nothing of b's.
    ok(a.put(&key("/app/last"), "x".into(), None).await, "put");
    let mut seen = Vec::new();
    while !seen.iter().any(|k: &String| k == "/app/last") {
        match next(&mut wa, "a's own changes").await {
            KvEvent::Changed { changes, .. } => {
                seen.extend(changes.iter().map(|c| c.key().as_str().to_owned()))
            }
            KvEvent::Reset(s) => panic!("unexpected Reset {s:?}"),
            _ => {}
        }
    }
    assert_eq!(
        seen,
        ["/app/a", "/app/last"],
        "a's watch saw keys of another namespace"
    );
    ok(reg.deregister().await, "deregister");
}

/// `kv_put_then_get`: a put is visible to `get`, `list` and watches, with a revision greater than
/// any returned before.
pub async fn kv_put_then_get<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let k = key("/app/port");
    let mut w = ok(b.watch_prefix(&key("/app"), None).await, "watch");
    let reset = first_kv_reset(&mut w).await;
    let r1 = ok(b.put(&k, "8080".into(), None).await, "put");
    assert!(
        r1 > reset.revision,
        "put revision {r1} not after {}",
        reset.revision
    );
    let got = ok(b.get(&k).await, "get").expect("the key exists after put");
    assert_eq!((got.value.as_ref(), got.mod_revision), (&b"8080"[..], r1));
    assert_eq!(
        ok(b.list(&[key("/app")]).await, "list").pairs[&k].value,
        "8080"
    );
    let r2 = ok(b.put(&k, "9090".into(), None).await, "put again");
    assert!(r2 > r1, "second put revision {r2} not after {r1}");
    assert_eq!(
        ok(b.get(&k).await, "get").map(|p| p.value),
        Some("9090".into())
    );
    let mut view = reset;
    fold_kv_until(&mut w, &mut view, "the puts", |v| v.revision >= r2).await;
    assert_eq!(view.pairs[&k].value, "9090");
    assert_eq!(view.pairs[&k].mod_revision, r2);
}

/// `kv_delete_reports_existence`: `delete` returns whether the key existed.
pub async fn kv_delete_reports_existence<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let k = key("/app/x");
    assert!(!ok(b.delete(&k).await, "delete a missing key"));
    ok(b.put(&k, "1".into(), None).await, "put");
    ok(
        b.put(&key("/app/x/child"), "2".into(), None).await,
        "put child",
    );
    assert!(ok(b.delete(&k).await, "delete"));
    assert!(ok(b.get(&k).await, "get").is_none());
    assert!(!ok(b.delete(&k).await, "delete again"));
    assert!(
        ok(b.get(&key("/app/x/child")).await, "get child").is_some(),
        "delete of a key removed the keys below it"
    );
}
