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

/// A word from the command line as an error may show it: not when it is a bootstrap token or a
/// certificate key typed in the wrong place (`join <endpoint> <token>`, `init phase <token>`),
/// since errors reach the console and result.json.
pub fn shown_word(word: &str) -> &str {
    let token = crate::config::parse_bootstrap_token(word).is_ok();
    let certificate_key = word.len() == 64 && word.bytes().all(|b| b.is_ascii_hexdigit());
    if token || certificate_key {
        "<redacted>"
    } else {
        word
    }
}

/// A URL as logs and error messages may show it: without userinfo, query or fragment, which
/// can hold credentials (presigned user-data or discovery-file URLs, `https://user:pass@...`).
/// A removed query is marked, so the reader knows the URL had one. Anything that is not a
/// `scheme://` URL (a path, `file:/p`) is returned unchanged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (before_fragment, _fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (location, query) = match before_fragment.split_once('?') {
        Some((location, _)) => (location, "?<redacted>"),
        None => (before_fragment, ""),
    };
    let (authority, path) = location
        .find('/')
        .map_or((location, ""), |i| location.split_at(i));
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}{path}{query}")
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redact_url_drops_userinfo_query_and_fragment() {
        for (url, shown) in [
            (
                "https://bucket.s3.amazonaws.com/node/user-data?X-Amz-Signature=s3cr3t&X-Amz-Credential=AKIA",
                "https://bucket.s3.amazonaws.com/node/user-data?<redacted>",
            ),
            (
                "https://user:s3cr3t@10.0.0.1:8443/a/b",
                "https://10.0.0.1:8443/a/b",
            ),
            ("http://u:p@h?sig=s3cr3t#frag", "http://h?<redacted>"),
            ("https://h/x#s3cr3t", "https://h/x"),
            ("http://[fd00::1]:80/seed/", "http://[fd00::1]:80/seed/"),
            ("https://h/p@q", "https://h/p@q"),
            (
                "/etc/kubernetes/discovery.conf",
                "/etc/kubernetes/discovery.conf",
            ),
            ("file:///var/seed/user-data", "file:///var/seed/user-data"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }
}
