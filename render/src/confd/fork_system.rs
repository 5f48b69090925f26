//! The host functions of abtreece/confd (`pkg/template/template_funcs.go`): `hostname`
//! (Go's `os.Hostname`), `lookupIfaceIPV4` and `lookupIfaceIPV6` (the first address of that
//! family on a named interface).

use std::net::IpAddr;

use minijinja::value::Value;

use crate::func::{arg_str, Arity, FuncError, FuncMap};

/// The addresses of interface `name` in the system's order (`getifaddrs`), or none when the
/// interface does not exist or the addresses cannot be read (the fork returns `""` then).
fn iface_addrs(name: &str) -> Vec<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(ifaces) => ifaces
            .into_iter()
            .filter(|i| i.name == name)
            .map(|i| i.ip())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Go's `net.IP.To4`: an IPv4 address, or the IPv4 inside an IPv4-mapped IPv6 address.
fn to4(ip: &IpAddr) -> Option<std::net::Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) => Some(*v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    }
}

/// The fork's `LookupIfaceIPV4`: the first address `To4` accepts, printed as IPv4.
fn iface_ipv4(name: &str) -> String {
    iface_addrs(name)
        .iter()
        .find_map(to4)
        .map(|ip| ip.to_string())
        .unwrap_or_default()
}

/// The fork's `LookupIfaceIPV6`: the first address that is not IPv4 (nor IPv4-mapped),
/// link-local ones included, without a zone.
fn iface_ipv6(name: &str) -> String {
    iface_addrs(name)
        .iter()
        .find(|ip| to4(ip).is_none())
        .map(IpAddr::to_string)
        .unwrap_or_default()
}

/// Registers `hostname`, `lookupIfaceIPV4` and `lookupIfaceIPV6`.
pub(super) fn register(funcs: &mut FuncMap) {
    funcs.insert("hostname", Arity::exact(0), |_, _| {
        let name = gethostname::gethostname();
        match name.to_str() {
            Some(s) if !s.is_empty() => Ok(Value::from(s)),
            _ => Err(FuncError::new("hostname: no host name")),
        }
    });
    funcs.insert("lookupIfaceIPV4", Arity::exact(1), |_, a| {
        Ok(iface_ipv4(arg_str(a, 0)?).into())
    });
    funcs.insert("lookupIfaceIPV6", Arity::exact(1), |_, a| {
        Ok(iface_ipv6(arg_str(a, 0)?).into())
    });
}

#[cfg(test)]
mod tests {
    use super::super::fork_funcs::render;

    /// The kernel's host name, read independently of the function under test.
    #[cfg(target_os = "linux")]
    #[test]
    fn hostname_is_the_kernel_host_name() {
        let want = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(render("{{hostname}}"), want.trim_end());
        assert!(render("{{hostname 1}}").contains("wrong number of args for hostname"));
    }

    /// The loopback interface has 127.0.0.1 (and ::1 where IPv6 is on); an unknown interface
    /// gives "" (the fork's result when `net.InterfaceByName` fails).
    #[cfg(target_os = "linux")]
    #[test]
    fn interface_addresses() {
        assert_eq!(render(r#"{{lookupIfaceIPV4 "lo"}}"#), "127.0.0.1");
        let v6_on = std::fs::read_to_string("/proc/net/if_inet6")
            .is_ok_and(|s| s.lines().any(|l| l.ends_with(" lo")));
        if v6_on {
            assert_eq!(render(r#"{{lookupIfaceIPV6 "lo"}}"#), "::1");
        }
        assert_eq!(render(r#"[{{lookupIfaceIPV4 "no-such-if0"}}]"#), "[]");
        assert_eq!(render(r#"[{{lookupIfaceIPV6 "no-such-if0"}}]"#), "[]");
    }

    #[test]
    fn ipv4_mapped_is_ipv4() {
        let mapped: std::net::IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(super::to4(&mapped), Some([10, 1, 2, 3].into()));
        let v6: std::net::IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(super::to4(&v6), None);
    }
}
