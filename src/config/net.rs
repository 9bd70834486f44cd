//! CIDRs and the addresses kubeadm derives from them (the API server's service IP is the first
//! address of the service CIDR, cluster DNS the tenth).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a CIDR like 10.96.0.0/12 or fd00::/108")]
pub struct CidrError(pub String);

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CidrError(s.to_string());
        let (addr, prefix) = s.trim().split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr {
            addr: mask(addr, prefix),
            prefix,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

impl Cidr {
    /// The `n`th address of the range (kubeadm's `GetIndexedIP`); `None` when out of range.
    pub fn nth(&self, n: u128) -> Option<IpAddr> {
        match self.addr {
            IpAddr::V4(a) => {
                let size = 1u128 << (32 - self.prefix);
                (n < size).then(|| IpAddr::V4(Ipv4Addr::from(u32::from(a) + n as u32)))
            }
            IpAddr::V6(a) => {
                let host_bits = 128 - u32::from(self.prefix);
                if host_bits < 128 && n >> host_bits != 0 {
                    return None;
                }
                Some(IpAddr::V6(Ipv6Addr::from(u128::from(a) + n)))
            }
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

/// A comma-separated list of one CIDR, or two of different families (dual-stack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrList(pub Vec<Cidr>);

impl FromStr for CidrList {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let list = s
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<Cidr>, _>>()?;
        let dual_stack_ok = list.len() == 2 && list[0].addr.is_ipv4() != list[1].addr.is_ipv4();
        if list.is_empty() || list.len() > 2 || (list.len() == 2 && !dual_stack_ok) {
            return Err(CidrError(s.to_string()));
        }
        Ok(CidrList(list))
    }
}

impl fmt::Display for CidrList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(Cidr::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

impl CidrList {
    /// The primary (first) CIDR, which kubeadm uses for the API server and DNS service IPs.
    pub fn primary(&self) -> &Cidr {
        &self.0[0]
    }
}

/// Go's `net.JoinHostPort`: `host:port`, an IPv6 literal in brackets.
pub fn join_host_port(host: &str, port: impl fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports_join_as_go_joins_them() {
        assert_eq!(join_host_port("fd00::1", 6443), "[fd00::1]:6443");
        assert_eq!(join_host_port("10.0.0.1", 6443), "10.0.0.1:6443");
        assert_eq!(join_host_port("::1", "11259"), "[::1]:11259");
        assert_eq!(join_host_port("cp.example", 443), "cp.example:443");
    }

    #[test]
    fn service_ips_as_kubeadm_derives_them() {
        let c: CidrList = "10.96.0.0/12".parse().unwrap();
        assert_eq!(c.primary().nth(1).unwrap().to_string(), "10.96.0.1");
        assert_eq!(c.primary().nth(10).unwrap().to_string(), "10.96.0.10");
        let v6: Cidr = "fd00:10:96::/112".parse().unwrap();
        assert_eq!(v6.nth(10).unwrap().to_string(), "fd00:10:96::a");
        assert_eq!("10.0.0.0/30".parse::<Cidr>().unwrap().nth(4), None);
    }

    #[test]
    fn host_bits_are_masked_and_bad_input_rejected() {
        assert_eq!(
            "10.96.1.1/12".parse::<Cidr>().unwrap().to_string(),
            "10.96.0.0/12"
        );
        for bad in [
            "10.96.0.0",
            "10.96.0.0/33",
            "x/12",
            "10.0.0.0/8,10.1.0.0/16",
            "",
        ] {
            assert!(bad.parse::<CidrList>().is_err(), "{bad}");
        }
        assert!("10.244.0.0/16,fd00::/56".parse::<CidrList>().is_ok());
    }
}
