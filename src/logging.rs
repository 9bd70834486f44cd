//! Logs go to stderr (the serial console); data (API objects in dry-run, join commands) to stdout.

/// Maps kubeadm's `-v N` scale onto log levels.
pub fn init(verbosity: u8) {
    let level = match verbosity {
        0 | 1 => log::LevelFilter::Info,
        2..=4 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    // A second init (tests) is harmless; nothing else can fail here.
    let _ = simple_logger::SimpleLogger::new()
        .with_level(level)
        .with_module_level("rustls", log::LevelFilter::Warn)
        .with_module_level("ureq", log::LevelFilter::Warn)
        .with_module_level("ureq_proto", log::LevelFilter::Warn)
        .with_utc_timestamps()
        .init();
}
