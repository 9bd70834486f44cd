//! Which proxy an HTTPS request would use, decided as Go's `http.ProxyFromEnvironment` decides
//! it (`HTTPS_PROXY`/`https_proxy`, `NO_PROXY`/`no_proxy`), which is what the API server and
//! kubeadm's proxy checks see.

use std::net::IpAddr;

use super::host::Host;
use crate::config::net::Cidr;

/// The proxy URL (password redacted) an `https://host:port` request would go through, if any.
pub(crate) fn https_proxy_for(host: &dyn Host, target: &str, port: u16) -> Option<String> {
    let proxy = env_either(host, "HTTPS_PROXY", "https_proxy")?;
    if proxy.is_empty() {
        return None;
    }
    let no_proxy = env_either(host, "NO_PROXY", "no_proxy").unwrap_or_default();
    uses_proxy(target, port, &no_proxy).then(|| redacted_proxy_url(&proxy))
}

fn env_either(host: &dyn Host, upper: &str, lower: &str) -> Option<String> {
    host.env(upper)
        .filter(|v| !v.is_empty())
        .or_else(|| host.env(lower))
}

/// Go's `useProxy`: never for localhost or loopback, otherwise unless `NO_PROXY` matches.
fn uses_proxy(target: &str, port: u16, no_proxy: &str) -> bool {
    let target = target.to_ascii_lowercase();
    let ip: Option<IpAddr> = target.parse().ok();
    if target == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
        return false;
    }
    !no_proxy
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|entry| no_proxy_entry_matches(&entry, &target, ip, port))
}

fn no_proxy_entry_matches(entry: &str, target: &str, ip: Option<IpAddr>, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    if let Ok(cidr) = entry.parse::<Cidr>() {
        return ip.is_some_and(|ip| cidr.contains(ip));
    }
    let (entry_host, entry_port) = split_host_port(entry);
    if entry_port.is_some_and(|p| p != port) {
        return false;
    }
    if let Ok(entry_ip) = entry_host.parse::<IpAddr>() {
        return ip == Some(entry_ip);
    }
    // "example.com" matches itself and its subdomains; ".example.com" and "*.example.com"
    // only subdomains.
    let domain = entry_host.strip_prefix('*').unwrap_or(entry_host);
    match domain.strip_prefix('.') {
        Some(_) => target.ends_with(domain),
        None => target == domain || target.ends_with(&format!(".{domain}")),
    }
}

/// `host:port`, `[v6]:port` or a bare host.
fn split_host_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once("]:") {
            return (h, p.parse().ok());
        }
        return (rest.trim_end_matches(']'), None);
    }
    match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (entry, None),
    }
}

/// The proxy as Go parses it (`http://` assumed without a scheme), with any password hidden
/// as Go's `URL.Redacted` does: proxy credentials must not reach the console.
fn redacted_proxy_url(proxy: &str) -> String {
    let known_scheme = ["http://", "https://", "socks5://", "socks5h://"]
        .iter()
        .any(|s| proxy.starts_with(s));
    let url = if known_scheme {
        proxy.to_string()
    } else {
        format!("http://{proxy}")
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return url;
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:xxxxx@{hostport}{path}"),
            None => url.clone(),
        },
        None => url.clone(),
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
    }

    #[test]
    fn proxy_urls_get_a_scheme_and_lose_their_password() {
        assert_eq!(redacted_proxy_url("proxy:3128"), "http://proxy:3128");
        assert_eq!(
            redacted_proxy_url("https://user:s3cret@proxy:3128/"),
            "https://user:xxxxx@proxy:3128/"
        );
        assert_eq!(redacted_proxy_url("http://user@proxy"), "http://user@proxy");
    }
}
