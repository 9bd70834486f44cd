//! Logs go to stderr (the serial console); data (API objects in dry-run, join commands) to stdout.

use std::borrow::Cow;

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

/// A word from the command line as an error may show it: with any bootstrap token or
/// certificate key in it replaced by `<redacted>` (`join <endpoint> <token>`, `init phase
/// <token>`, `host:<token>`), since errors reach the console and result.json.
pub fn shown_word(word: &str) -> Cow<'_, str> {
    // Tokens and keys are runs of ASCII letters, digits and dots.
    let in_run = |c: char| c.is_ascii_alphanumeric() || c == '.';
    let mut shown = String::with_capacity(word.len());
    let mut redacted = false;
    let mut push_run = |shown: &mut String, run: &str| {
        let token = crate::config::parse_bootstrap_token(run).is_ok();
        let certificate_key = run.len() == 64 && run.bytes().all(|b| b.is_ascii_hexdigit());
        redacted |= token || certificate_key;
        shown.push_str(if token || certificate_key {
            "<redacted>"
        } else {
            run
        });
    };
    let mut run_start = None;
    for (i, c) in word.char_indices() {
        match (in_run(c), run_start) {
            (true, None) => run_start = Some(i),
            (true, Some(_)) => {}
            (false, start) => {
                if let Some(start) = start {
                    push_run(&mut shown, &word[start..i]);
                }
                run_start = None;
                shown.push(c);
            }
        }
    }
    if let Some(start) = run_start {
        push_run(&mut shown, &word[start..]);
    }
    if redacted {
        Cow::Owned(shown)
    } else {
        Cow::Borrowed(word)
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
    use super::{redact_url, shown_word};

    #[test]
    fn words_holding_a_token_or_certificate_key_are_masked() {
        let token = "abcdef.0123456789abcdef";
        let key = "0f".repeat(32);
        assert_eq!(shown_word(token), "<redacted>");
        assert_eq!(shown_word(&key), "<redacted>");
        assert_eq!(
            shown_word(&format!("10.0.0.1:{token}")),
            "10.0.0.1:<redacted>"
        );
        assert_eq!(
            shown_word(&format!("--token={token}")),
            "--token=<redacted>"
        );
        for plain in ["certs", "10.0.0.1:6443", "abcdef.0123", "", "été:1"] {
            assert!(matches!(shown_word(plain), std::borrow::Cow::Borrowed(w) if w == plain));
        }
    }

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
