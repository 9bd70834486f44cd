//! Which proxy an HTTPS request goes through, decided as Go's `http.ProxyFromEnvironment`
//! decides it (`HTTPS_PROXY`/`https_proxy`, `NO_PROXY`/`no_proxy`): what kubeadm, the kubelet
//! and the API server do, so kubeboot reaches the API server the way they will, and preflight's
//! proxy warnings describe the connections kubeboot really makes.

use std::net::IpAddr;

use crate::config::net::Cidr;

/// The proxy variables of an environment, read once.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    https_proxy: Option<String>,
    no_proxy: String,
}

/// A proxy a request goes through. `Display` and `Debug` hide its password.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    url: String,
}

impl ProxyEnv {
    /// No proxy for anything.
    pub fn none() -> ProxyEnv {
        ProxyEnv::default()
    }

    /// This process's environment.
    pub fn from_process() -> ProxyEnv {
        ProxyEnv::from_lookup(|name| std::env::var(name).ok())
    }

    /// Go's precedence: the upper-case name unless it is empty, then the lower-case one.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> ProxyEnv {
        let either = |upper: &str, lower: &str| {
            lookup(upper)
                .filter(|v| !v.is_empty())
                .or_else(|| lookup(lower))
        };
        ProxyEnv {
            https_proxy: either("HTTPS_PROXY", "https_proxy").filter(|v| !v.is_empty()),
            no_proxy: either("NO_PROXY", "no_proxy").unwrap_or_default(),
        }
    }

    /// The proxy an `https://target:port` request goes through, if any.
    pub fn https_proxy_for(&self, target: &str, port: u16) -> Option<Proxy> {
        let proxy = self.https_proxy.as_deref()?;
        uses_proxy(target, port, &self.no_proxy).then(|| Proxy {
            url: with_scheme(proxy),
        })
    }
}

impl std::fmt::Debug for ProxyEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyEnv")
            .field(
                "https_proxy",
                &self
                    .https_proxy
                    .as_deref()
                    .map(|p| redacted(&with_scheme(p))),
            )
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl Proxy {
    /// The URL, credentials included: for the HTTP client only, never for a message.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl std::fmt::Display for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redacted(&self.url))
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redacted(&self.url))
    }
}

/// Go's `useProxy` (golang.org/x/net/http/httpproxy): never for localhost or loopback,
/// otherwise unless a `NO_PROXY` entry matches.
fn uses_proxy(target: &str, port: u16, no_proxy: &str) -> bool {
    let target = target.to_ascii_lowercase();
    let ip = target.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    if target == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
        return false;
    }
    let port = port.to_string();
    !no_proxy
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|entry| no_proxy_entry_matches(&entry, &target, ip, &port))
}

/// One `NO_PROXY` entry, read and matched as Go's `httpproxy` does: `*`; a CIDR; an IP or a
/// domain, each with an optional `:port` compared as text (a port that is not a number
/// matches nothing). `foo.com` matches itself and its subdomains, `.foo.com` and `*.foo.com`
/// only subdomains.
fn no_proxy_entry_matches(entry: &str, target: &str, ip: Option<IpAddr>, port: &str) -> bool {
    if entry == "*" {
        return true;
    }
    if let Ok(cidr) = entry.parse::<Cidr>() {
        return ip.is_some_and(|ip| ipv4_mapped_as_ipv4(&cidr).contains(ip));
    }
    let (host, entry_port) = match go_split_host_port(entry) {
        Some(("", _)) => return false,
        Some((host, port)) => (host, port),
        None => (entry, ""),
    };
    let port_matches = entry_port.is_empty() || entry_port == port;
    if let Ok(entry_ip) = host.parse::<IpAddr>() {
        return ip == Some(entry_ip.to_canonical()) && port_matches;
    }
    let (suffix, or_itself) = match host.strip_prefix("*.") {
        Some(rest) => (format!(".{rest}"), false),
        None if host.starts_with('.') => (host.to_string(), false),
        None => (format!(".{host}"), true),
    };
    let matches = target.ends_with(&suffix) || (or_itself && target == &suffix[1..]);
    matches && port_matches
}

/// An IPv6 range inside `::ffff:0:0/96` as the IPv4 range it maps, as Go's `IPNet.Contains`
/// compares the two families (the target is already canonical: a mapped address is IPv4).
fn ipv4_mapped_as_ipv4(cidr: &Cidr) -> Cidr {
    match cidr.addr {
        IpAddr::V6(v6) if cidr.prefix >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => Cidr {
                addr: IpAddr::V4(v4),
                prefix: cidr.prefix - 96,
            },
            None => *cidr,
        },
        _ => *cidr,
    }
}

/// Go's `net.SplitHostPort`: `host:port` or `[host]:port`; `None` for anything else (a bare
/// host, `[v6]` without a port, an unbracketed IPv6 address).
fn go_split_host_port(entry: &str) -> Option<(&str, &str)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return after.strip_prefix(':').map(|port| (host, port));
    }
    let (host, port) = entry.rsplit_once(':')?;
    (!host.contains(':')).then_some((host, port))
}

/// The proxy as Go parses it: `http://` assumed without a scheme.
fn with_scheme(proxy: &str) -> String {
    let is_scheme = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    };
    match proxy.split_once("://") {
        // Schemes are case-insensitive; Go keeps them lower-case.
        Some((scheme, rest)) if is_scheme(scheme) => {
            format!("{}://{rest}", scheme.to_ascii_lowercase())
        }
        _ => format!("http://{proxy}"),
    }
}

/// `url` with any password hidden, as Go's `URL.Redacted` does: proxy credentials must not
/// reach the console. Everything up to the last `@` counts as user information, so a password
/// holding `/`, `?` or `#` (which a URL parser would take for the end of the host) is hidden
/// too.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host_and_path)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:xxxxx@{host_and_path}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_matches_as_go_does() {
        assert!(uses_proxy("10.0.0.1", 443, ""));
        assert!(!uses_proxy("127.0.0.1", 443, ""));
        assert!(!uses_proxy("localhost", 443, ""));
        assert!(!uses_proxy("10.0.0.1", 443, "*"));
        assert!(!uses_proxy("10.96.0.1", 1234, "example.com, 10.96.0.0/12"));
        assert!(uses_proxy("10.97.0.1", 1234, "10.96.0.0/16"));
        assert!(!uses_proxy("10.0.0.1", 443, "10.0.0.1"));
        assert!(uses_proxy("10.0.0.1", 443, "10.0.0.1:6443"));
        assert!(!uses_proxy("api.example.com", 443, "example.com"));
        assert!(!uses_proxy("example.com", 443, "example.com"));
        assert!(uses_proxy("example.com", 443, ".example.com"));
        assert!(!uses_proxy("a.example.com", 443, "*.example.com"));
        assert!(uses_proxy("badexample.com", 443, "example.com"));
        assert!(!uses_proxy("fd00::1", 1234, "fd00::/64"));
        // Go's readings of the odd entries.
        assert!(!uses_proxy("fd00::1", 443, "[fd00::1]:443"));
        assert!(
            uses_proxy("fd00::1", 443, "[fd00::1]"),
            "[v6] without a port is no IP"
        );
        assert!(uses_proxy("example.com", 443, "example.com:https"));
        assert!(
            !uses_proxy("example.com", 443, "example.com:"),
            "an empty port is any"
        );
        assert!(
            uses_proxy("foo.com", 443, "*foo.com"),
            "only `*.` is a wildcard"
        );
        assert!(!uses_proxy("a.foo.com", 443, "*.foo.com:443"));
        assert!(uses_proxy("a.foo.com", 6443, "*.foo.com:443"));
        assert!(
            uses_proxy("10.0.0.1", 443, ":443"),
            "an entry without a host is ignored"
        );
        assert!(
            !uses_proxy("::ffff:127.0.0.1", 443, ""),
            "a mapped loopback is loopback"
        );
        assert!(!uses_proxy("::ffff:10.0.0.1", 443, "10.0.0.1"));
        assert!(!uses_proxy("10.0.0.1", 443, "::ffff:10.0.0.0/104"));
        assert!(uses_proxy("10.1.0.1", 443, "::ffff:10.0.0.0/112"));
    }

    fn env(vars: &[(&str, &str)]) -> ProxyEnv {
        ProxyEnv::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn proxy_urls_get_a_scheme_and_lose_their_password_when_shown() {
        let p = env(&[("HTTPS_PROXY", "proxy:3128")]).https_proxy_for("10.0.0.1", 443);
        assert_eq!(p.unwrap().to_string(), "http://proxy:3128");
        let p = env(&[("HTTPS_PROXY", "HTTP://proxy:3128")]).https_proxy_for("10.0.0.1", 443);
        assert_eq!(p.unwrap().url(), "http://proxy:3128");
        let p = env(&[("HTTPS_PROXY", "https://user:s3cret@proxy:3128/")])
            .https_proxy_for("10.0.0.1", 443)
            .unwrap();
        assert_eq!(p.to_string(), "https://user:xxxxx@proxy:3128/");
        assert_eq!(format!("{p:?}"), "\"https://user:xxxxx@proxy:3128/\"");
        assert_eq!(p.url(), "https://user:s3cret@proxy:3128/");
        let e = env(&[("https_proxy", "http://u:s3cret@proxy")]);
        assert!(!format!("{e:?}").contains("s3cret"), "{e:?}");
        assert_eq!(redacted("http://user@proxy"), "http://user@proxy");
        for password in ["pa/ss", "pa?ss", "pa#ss", "p@ss"] {
            let shown = redacted(&format!("http://user:{password}@proxy:3128/"));
            assert_eq!(shown, "http://user:xxxxx@proxy:3128/", "{password}");
        }
    }

    #[test]
    fn variables_are_read_with_gos_precedence() {
        let both = env(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:2"),
        ]);
        assert_eq!(
            both.https_proxy_for("10.0.0.1", 443).unwrap().url(),
            "http://upper:1"
        );
        let empty_upper = env(&[("HTTPS_PROXY", ""), ("https_proxy", "http://lower:2")]);
        assert_eq!(
            empty_upper.https_proxy_for("10.0.0.1", 443).unwrap().url(),
            "http://lower:2"
        );
        // HTTP_PROXY is for http:// requests only, as in Go; kubeboot makes none through it.
        assert_eq!(
            env(&[("HTTP_PROXY", "http://p:1")]).https_proxy_for("10.0.0.1", 443),
            None
        );
        assert_eq!(
            env(&[("HTTPS_PROXY", "http://p:1"), ("no_proxy", "10.0.0.0/8")])
                .https_proxy_for("10.0.0.1", 443),
            None
        );
        assert_eq!(ProxyEnv::none().https_proxy_for("10.0.0.1", 443), None);
    }
}
