//! Fuzzes the Go template front end: parse arbitrary input, then execute what parses against a
//! nil dot and a list dot with an empty FuncMap. Any panic, hang or stack overflow is a bug.
#![no_main]

use discovery_render::func::FuncMap;
use discovery_render::gotmpl::{GoTemplate, MissingKey, ParseOptions};
use libfuzzer_sys::fuzz_target;
use minijinja::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let funcs = FuncMap::new();
    if let Ok(t) = GoTemplate::parse("fuzz", src, &funcs, &ParseOptions::default()) {
        let _ = t.execute(&Value::UNDEFINED, &funcs, &(), MissingKey::Default);
        let _ = t.execute(&Value::from(vec![1, 2]), &funcs, &(), MissingKey::Zero);
    }
});
