//! Fuzzes confd's `conf.d` TOML loader: arbitrary bytes are written to a resource file and
//! loaded with `load_spec` (with and without a global `-prefix`). It must return `Ok` or a typed
//! error naming the file, never panic or hang.
#![no_main]

use std::path::Path;

use discovery_render::confd::resource::load_spec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(_) => return,
    };
    let file = dir.path().join("fuzz.toml");
    if std::fs::write(&file, data).is_err() {
        return;
    }
    for prefix in [None, Some("/global/../prefix")] {
        if let Err(e) = load_spec(&file, Path::new("/etc/confd/templates"), prefix) {
            let text = e.to_string();
            assert!(
                text.contains("fuzz.toml"),
                "error does not name the file: {text}"
            );
        }
    }
});
