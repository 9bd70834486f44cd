//! Facts about this machine that kubeadm's dynamic defaults read: the host name (default
//! node name) and the address of the default-route interface (default advertise address,
//! as apimachinery's `ChooseHostInterface`). Injected so that tests pass fixed facts.

use std::net::IpAddr;

use super::validation::is_global_unicast;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    pub hostname: String,
    /// A global unicast address of the first up interface carrying a default route (IPv4
    /// routes first, then IPv6); `None` when there is no such route.
    pub default_address: Option<IpAddr>,
}

impl HostFacts {
    /// Reads the facts from the running system (`gethostname`, `/proc/net/route`,
    /// `/proc/net/ipv6_route`, `getifaddrs`). A missing fact is `None` / empty, and the
    /// configuration step that needs it reports what to set instead.
    pub fn detect() -> HostFacts {
        let hostname = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|e| {
                log::warn!("[config] could not read the host name: {e}");
                String::new()
            });
        let v4 = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        let v6 = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
        let routes = default_routes(&v4, &v6);
        let addresses = interface_addresses();
        HostFacts {
            hostname,
            default_address: choose_address(&routes, &addresses),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    V4,
    V6,
}

/// One address of one interface, as `getifaddrs` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InterfaceAddress {
    pub interface: String,
    pub up: bool,
    pub address: IpAddr,
}

/// The interfaces of default routes, IPv4 first, each family in file order.
pub(crate) fn default_routes(route: &str, ipv6_route: &str) -> Vec<(String, Family)> {
    let v4 = route.lines().skip(1).filter_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
        (f.len() >= 8 && f[1] == "00000000" && f[7] == "00000000")
            .then(|| (f[0].to_string(), Family::V4))
    });
    let v6 = ipv6_route.lines().filter_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // dest prefix src src_prefix next_hop metric refcnt use flags iface
        (f.len() >= 10 && f[0].bytes().all(|b| b == b'0') && f[1] == "00")
            .then(|| (f[9].to_string(), Family::V6))
    });
    v4.chain(v6).collect()
}

pub(crate) fn choose_address(
    routes: &[(String, Family)],
    addresses: &[InterfaceAddress],
) -> Option<IpAddr> {
    routes.iter().find_map(|(iface, family)| {
        addresses
            .iter()
            .filter(|a| &a.interface == iface && a.up)
            .map(|a| a.address)
            .find(|ip| (ip.is_ipv4() == (*family == Family::V4)) && is_global_unicast(*ip))
    })
}

fn interface_addresses() -> Vec<InterfaceAddress> {
    use nix::net::if_::InterfaceFlags;
    let Ok(list) = nix::ifaddrs::getifaddrs() else {
        log::warn!("[config] could not list network interfaces");
        return Vec::new();
    };
    list.filter_map(|ifa| {
        let storage = ifa.address?;
        let address = if let Some(v4) = storage.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else {
            IpAddr::V6(storage.as_sockaddr_in6()?.ip())
        };
        Some(InterfaceAddress {
            interface: ifa.interface_name,
            up: ifa.flags.contains(InterfaceFlags::IFF_UP),
            address,
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t000010AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
";
    const IPV6_ROUTE: &str = "\
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth2
";

    fn addr(interface: &str, up: bool, ip: &str) -> InterfaceAddress {
        InterfaceAddress {
            interface: interface.into(),
            up,
            address: ip.parse().unwrap(),
        }
    }

    #[test]
    fn default_routes_from_proc() {
        assert_eq!(
            default_routes(ROUTE, IPV6_ROUTE),
            vec![
                ("eth0".to_string(), Family::V4),
                ("eth2".to_string(), Family::V6)
            ]
        );
        assert!(default_routes("", "").is_empty());
    }

    #[test]
    fn picks_the_global_ipv4_of_the_default_route_interface() {
        let routes = default_routes(ROUTE, IPV6_ROUTE);
        let addrs = [
            addr("lo", true, "127.0.0.1"),
            addr("eth1", true, "172.16.0.9"),
            addr("eth0", true, "fe80::1"),
            addr("eth0", true, "192.0.2.10"),
            addr("eth2", true, "fd00::10"),
        ];
        assert_eq!(
            choose_address(&routes, &addrs),
            Some("192.0.2.10".parse().unwrap())
        );
    }

    #[test]
    fn falls_back_to_ipv6_and_skips_down_interfaces() {
        let routes = default_routes(ROUTE, IPV6_ROUTE);
        let addrs = [
            addr("eth0", false, "192.0.2.10"),
            addr("eth2", true, "fd00::10"),
        ];
        assert_eq!(
            choose_address(&routes, &addrs),
            Some("fd00::10".parse().unwrap())
        );
        assert_eq!(choose_address(&[], &addrs), None);
    }

    #[test]
    fn detect_reads_this_machine_without_failing() {
        let facts = HostFacts::detect();
        assert!(!facts.hostname.is_empty());
    }
}
