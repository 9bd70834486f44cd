//! Every line the code under test logs, kept so a test can prove that no secret reached the
//! log: [`capture`] once per binary, then [`assert_none_logged`].

use std::sync::{Mutex, Once};

struct Capture;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static CAPTURE: Capture = Capture;
static INIT: Once = Once::new();

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        let line = format!("{} {}", record.level(), record.args());
        LINES.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

/// Installs the capturing logger at trace level (once; later calls do nothing).
pub fn capture() {
    INIT.call_once(|| {
        // Nothing else in a test binary may install a logger: if something did, the scan
        // would see nothing and pass for the wrong reason.
        log::set_logger(&CAPTURE).expect("the capturing logger is installed first");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Panics if a captured line holds any of `secrets`, or if nothing was captured at all.
pub fn assert_none_logged(secrets: &[&str]) {
    let lines = LINES.lock().unwrap();
    assert!(
        !lines.is_empty() && log::max_level() == log::LevelFilter::Trace,
        "the log capture is not active: nothing was scanned"
    );
    for line in lines.iter() {
        for secret in secrets {
            assert!(!line.contains(secret), "a secret was logged: {line}");
        }
    }
}
