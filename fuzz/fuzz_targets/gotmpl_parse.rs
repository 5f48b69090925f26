//! Fuzzes the Go template front end: parse arbitrary input, then execute what parses against a
//! nil dot and a list dot with an empty FuncMap. Any panic, hang or stack overflow is a bug.
//!
//! Execution runs under a tenth of the default [`ExecLimits`]: the instrumented (ASan +
//! coverage) build is 20-50x slower than a release build, so a template that spends the whole
//! default budget (about a second in release) would take longer than libFuzzer's `-timeout`
//! and be reported as a hang although it is bounded. Work the budget does not account for
//! still shows up as a timeout.
#![no_main]

use discovery_render::func::FuncMap;
use discovery_render::gotmpl::{ExecLimits, GoTemplate, MissingKey, ParseOptions};
use libfuzzer_sys::fuzz_target;
use minijinja::Value;

const LIMITS: ExecLimits = ExecLimits {
    max_steps: ExecLimits::DEFAULT_MAX_STEPS / 10,
    max_bytes: ExecLimits::DEFAULT_MAX_BYTES / 8,
};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let funcs = FuncMap::new();
    if let Ok(t) = GoTemplate::parse("fuzz", src, &funcs, &ParseOptions::default()) {
        let t = t.with_limits(LIMITS);
        let _ = t.execute(&Value::UNDEFINED, &funcs, &(), MissingKey::Default);
        let _ = t.execute(&Value::from(vec![1, 2]), &funcs, &(), MissingKey::Zero);
    }
});
