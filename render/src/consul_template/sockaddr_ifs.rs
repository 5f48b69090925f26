//! The interface addresses behind consul-template's `sockaddr` (hashicorp/go-sockaddr's
//! `IfAddr`): reading them, and the filters, sorts, attributes and math that its template
//! functions apply.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::net::IpAddr;

use super::sockaddr_rfc::{is_rfc, parse_net, rfc_nets, Net, FORWARDING_BLACKLIST};
use crate::gofmt::quote_with;

/// Go's `net.Flags` bits (Go 1.20+, with `running`), in the order `String()` names them.
pub(crate) const FLAG_NAMES: [(u32, &str); 6] = [
    (1, "up"),
    (2, "broadcast"),
    (4, "loopback"),
    (8, "pointtopoint"),
    (16, "multicast"),
    (32, "running"),
];

/// go-sockaddr's type bits: IPv4 sorts before IPv6.
const TYPE_IPV4: u8 = 0x2;
const TYPE_IPV6: u8 = 0x4;

/// One address of one interface (`sockaddr.IfAddr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IfAddr {
    pub(crate) name: String,
    pub(crate) index: u32,
    pub(crate) flags: u32,
    pub(crate) ip: IpAddr,
    pub(crate) bits: u8,
}

pub(crate) fn v4(ip: [u8; 4]) -> u128 {
    u128::from(u32::from_be_bytes(ip))
}

impl IfAddr {
    fn width(&self) -> u8 {
        if self.ip.is_ipv4() {
            32
        } else {
            128
        }
    }

    pub(crate) fn type_bits(&self) -> u8 {
        if self.ip.is_ipv4() {
            TYPE_IPV4
        } else {
            TYPE_IPV6
        }
    }

    fn value(&self) -> u128 {
        match self.ip {
            IpAddr::V4(a) => v4(a.octets()),
            IpAddr::V6(a) => u128::from(a),
        }
    }

    fn mask(&self) -> u128 {
        let w = u32::from(self.width());
        let host = w - u32::from(self.bits).min(w);
        let all = if w == 128 {
            u128::MAX
        } else {
            (1u128 << w) - 1
        };
        if host >= 128 {
            0
        } else {
            all & !((1u128 << host) - 1)
        }
    }

    fn network_value(&self) -> u128 {
        self.value() & self.mask()
    }

    fn broadcast_value(&self) -> u128 {
        let w = u32::from(self.width());
        let all = if w == 128 {
            u128::MAX
        } else {
            (1u128 << w) - 1
        };
        self.network_value() | (all & !self.mask())
    }

    fn ip_of(&self, v: u128) -> IpAddr {
        if self.ip.is_ipv4() {
            IpAddr::from((v as u32).to_be_bytes())
        } else {
            IpAddr::V6(std::net::Ipv6Addr::from(v))
        }
    }

    /// The address alone (go-sockaddr's `NetIP().String()`).
    pub(crate) fn address(&self) -> String {
        self.ip.to_string()
    }

    /// `SockAddr.String()`: the address, with `/bits` unless it is a host address.
    pub(crate) fn sock_string(&self) -> String {
        if self.bits == self.width() {
            self.address()
        } else {
            format!("{}/{}", self.address(), self.bits)
        }
    }

    /// Go's `net.Flags.String()`.
    pub(crate) fn flags_string(&self) -> String {
        let names: Vec<&str> = FLAG_NAMES
            .iter()
            .filter(|(b, _)| self.flags & b != 0)
            .map(|(_, n)| *n)
            .collect();
        if names.is_empty() {
            "0".to_owned()
        } else {
            names.join("|")
        }
    }

    /// True when the network `net` (same family) contains this address's whole network.
    pub(crate) fn within(&self, net: &Net) -> bool {
        if self.ip.is_ipv4() != net.v4 {
            return false;
        }
        let probe = IfAddr {
            ip: self.ip_of(net.value),
            bits: net.bits,
            ..self.clone()
        };
        probe.network_value() <= self.network_value()
            && probe.broadcast_value() >= self.broadcast_value()
    }

    /// go-sockaddr's attribute `name` (`IfAddr.Attr`), or its error.
    pub(crate) fn attr(&self, name: &str) -> Result<String, String> {
        let v4 = self.ip.is_ipv4();
        Ok(match name {
            "name" => self.name.clone(),
            "flags" => self.flags_string(),
            "address" => self.address(),
            "host" => self.ip_of(self.value()).to_string(),
            "port" => "0".to_owned(),
            "netmask" => self.ip_of(self.mask()).to_string(),
            "network" => self.ip_of(self.network_value()).to_string(),
            "mask_bits" => self.bits.to_string(),
            "broadcast" if v4 => self.ip_of(self.broadcast_value()).to_string(),
            "size" if v4 => (1u64 << (32 - u32::from(self.bits).min(32))).to_string(),
            "size" if self.bits == 0 => "340282366920938463463374607431768211456".to_owned(),
            "size" => (1u128 << (128 - u32::from(self.bits).min(128))).to_string(),
            "first_usable" => {
                let n = self.network_value();
                let n = if v4 && self.bits < 31 { n + 1 } else { n };
                self.ip_of(n).to_string()
            }
            "last_usable" => {
                let b = self.broadcast_value();
                let b = if v4 && self.bits < 31 { b - 1 } else { b };
                self.ip_of(b).to_string()
            }
            "uint32" if v4 => self.value().to_string(),
            "uint128" if !v4 => self.value().to_string(),
            "octets" => match self.ip {
                IpAddr::V4(a) => a.octets().map(|o| o.to_string()).join(" "),
                IpAddr::V6(a) => a.octets().map(|o| o.to_string()).join(" "),
            },
            "hex" => {
                if v4 {
                    format!("{:08x}", self.value())
                } else {
                    format!("{:032x}", self.value())
                }
            }
            "binary" => {
                if v4 {
                    format!("{:032b}", self.value())
                } else {
                    format!("{:0128b}", self.value())
                }
            }
            "string" => self.sock_string(),
            "type" => if v4 { "IPv4" } else { "IPv6" }.to_owned(),
            _ => {
                return Err(format!(
                    "unsupported attribute name {}",
                    quote_with(name, false)
                ))
            }
        })
    }
}

/// Splits `addrs` by `pred` into (matched, remainder).
fn split_by(addrs: &[IfAddr], pred: impl Fn(&IfAddr) -> bool) -> (Vec<IfAddr>, Vec<IfAddr>) {
    addrs.iter().cloned().partition(|a| pred(a))
}

type Split = Result<(Vec<IfAddr>, Vec<IfAddr>), String>;

/// `IfByRFC`.
pub(crate) fn by_rfc(param: &str, addrs: &[IfAddr]) -> Split {
    let rfc: u64 = crate::gostr::parse_uint(param).map_err(|e| {
        format!(
            "unable to parse RFC number {}: {e}",
            quote_with(param, false)
        )
    })?;
    let nets = rfc_nets(rfc).ok_or_else(|| format!("unsupported RFC {rfc}"))?;
    Ok(split_by(addrs, |a| nets.iter().any(|n| a.within(n))))
}

/// `IfByFlag`: `|`-separated flag names; an address matches when it has all the interface
/// flags asked for, or any of the address properties asked for.
pub(crate) fn by_flag(param: &str, addrs: &[IfAddr]) -> Split {
    let mut want_flags = 0u32;
    let (mut check_flags, mut check_attrs) = (false, false);
    let mut attrs: Vec<&str> = Vec::new();
    let lower = crate::gostr::to_lower(param);
    for name in lower.split('|') {
        match name {
            "broadcast" => {
                check_flags = true;
                want_flags |= 2;
            }
            "down" => {
                check_flags = true;
                want_flags &= !1;
            }
            "point-to-point" => {
                check_flags = true;
                want_flags |= 8;
            }
            "up" => {
                check_flags = true;
                want_flags |= 1;
            }
            "loopback" | "multicast" => {
                check_flags = true;
                check_attrs = true;
                want_flags |= if name == "loopback" { 4 } else { 16 };
                attrs.push(if name == "loopback" {
                    "loopback"
                } else {
                    "multicast"
                });
            }
            "forwardable"
            | "global unicast"
            | "interface-local multicast"
            | "link-local multicast"
            | "link-local unicast"
            | "unspecified" => {
                check_attrs = true;
                attrs.push(match name {
                    "forwardable" => "forwardable",
                    "global unicast" => "global unicast",
                    "interface-local multicast" => "interface-local multicast",
                    "link-local multicast" => "link-local multicast",
                    "link-local unicast" => "link-local unicast",
                    _ => "unspecified",
                });
            }
            other => {
                return Err(format!(
                    "unknown interface flag: {}",
                    quote_with(other, true)
                ))
            }
        }
    }
    Ok(split_by(addrs, |a| {
        (check_flags && a.flags & want_flags == want_flags)
            || (check_attrs && attrs.iter().any(|w| ip_property(a, w)))
    }))
}

/// Go's `net.IP` predicates (and go-sockaddr's `forwardable`).
fn ip_property(a: &IfAddr, what: &str) -> bool {
    match (what, a.ip) {
        ("forwardable", _) => !is_rfc(FORWARDING_BLACKLIST, a),
        ("loopback", ip) => ip.is_loopback(),
        ("multicast", ip) => ip.is_multicast(),
        ("unspecified", ip) => ip.is_unspecified(),
        ("link-local unicast", IpAddr::V4(v)) => v.is_link_local(),
        ("link-local unicast", IpAddr::V6(v)) => v.segments()[0] & 0xffc0 == 0xfe80,
        ("link-local multicast", IpAddr::V4(v)) => v.octets()[..3] == [224, 0, 0],
        ("link-local multicast", IpAddr::V6(v)) => v.segments()[0] & 0xff0f == 0xff02,
        ("interface-local multicast", IpAddr::V6(v)) => v.segments()[0] & 0xff0f == 0xff01,
        ("global unicast", ip) => {
            let bcast = matches!(ip, IpAddr::V4(v) if v.is_broadcast());
            !(bcast
                || ip.is_unspecified()
                || ip.is_loopback()
                || ip.is_multicast()
                || ip_property(a, "link-local unicast"))
        }
        _ => false,
    }
}

/// `IfByType`: `|`-separated `ip`, `ipv4`, `ipv6`, `unix`.
pub(crate) fn by_type(param: &str, addrs: &[IfAddr]) -> Split {
    let lower = crate::gostr::to_lower(param);
    let types: Vec<&str> = lower.split('|').collect();
    for t in &types {
        if !matches!(*t, "ip" | "ipv4" | "ipv6" | "unix") {
            return Err(format!(
                "unsupported type {} {}",
                quote_with(t, false),
                quote_with(param, false)
            ));
        }
    }
    let (mut matched, mut rest) = (Vec::new(), Vec::new());
    // Upstream tests each address against each type, so an address may land in both lists.
    for a in addrs {
        for t in &types {
            let bit = match *t {
                "ip" => TYPE_IPV4 | TYPE_IPV6,
                "ipv4" => TYPE_IPV4,
                "ipv6" => TYPE_IPV6,
                _ => 0,
            };
            if a.type_bits() & bit != 0 {
                matched.push(a.clone());
            } else {
                rest.push(a.clone());
            }
        }
    }
    Ok((matched, rest))
}

/// `IfByName` and `IfByAddress`: a Go regular expression on the name or `SockAddr.String()`.
pub(crate) fn by_regex(what: &str, re: &str, addrs: &[IfAddr]) -> Split {
    let compiled = super::helpers::go_regex(re).map_err(|e| {
        format!(
            "unable to compile {what} regexp {}: {}",
            quote_with(re, true),
            e.message
        )
    })?;
    Ok(split_by(addrs, |a| {
        let s = if what == "name" {
            a.name.clone()
        } else {
            a.sock_string()
        };
        compiled.is_match(&s)
    }))
}

/// `IfByNetwork`: `|`-separated networks; for each, the addresses inside it (so an address may
/// be listed once per network).
pub(crate) fn by_network(param: &str, addrs: &[IfAddr]) -> Split {
    let (mut matched, mut rest) = (Vec::new(), Vec::new());
    for s in param.split('|') {
        let net = parse_net(s).ok_or_else(|| {
            format!(
                "unable to create an IP address from {}: Unable to convert {s} to an IPv4 or IPv6 address",
                quote_with(s, true)
            )
        })?;
        let (m, r) = split_by(addrs, |a| a.within(&net));
        matched.extend(m);
        rest.extend(r);
    }
    Ok((matched, rest))
}

/// `IfByMaskSize`.
pub(crate) fn by_size(param: &str, addrs: &[IfAddr]) -> Split {
    let size = crate::gostr::parse_uint(param).map_err(|e| {
        format!(
            "invalid exclude size argument ({}): {e}",
            quote_with(param, false)
        )
    })?;
    for a in addrs {
        if u64::from(a.width()) < size {
            return Err(format!(
                "mask size out of bounds for {} address: {size}",
                if a.ip.is_ipv4() { "IPv4" } else { "IPv6" }
            ));
        }
    }
    Ok(split_by(addrs, |a| u64::from(a.bits) == size))
}

/// A comparison of go-sockaddr's sorters: `Less` is the first non-`Equal` one.
pub(crate) type Cmp = Box<dyn Fn(&IfAddr, &IfAddr) -> Ordering>;

/// `AscIfDefault`: the default interface's addresses first.
fn asc_default(default_if: Option<String>) -> Cmp {
    Box::new(move |a, b| match &default_if {
        Some(d) if a.name == *d && b.name != *d => Ordering::Less,
        Some(d) if b.name == *d && a.name != *d => Ordering::Greater,
        _ => Ordering::Equal,
    })
}

/// The sorter for one `sort` clause (`address`, `-name`, ...).
pub(crate) fn sorter(clause: &str, default_if: &dyn Fn() -> Option<String>) -> Option<Cmp> {
    let c = crate::gostr::to_lower(clause.trim());
    let (desc, key) = match c.strip_prefix('-') {
        Some(k) => (true, k.to_owned()),
        None => (false, c.strip_prefix('+').unwrap_or(&c).to_owned()),
    };
    let asc: Cmp = match key.as_str() {
        "address" => Box::new(|a, b| {
            if a.type_bits() != b.type_bits() {
                Ordering::Equal
            } else {
                a.value().cmp(&b.value())
            }
        }),
        "default" => asc_default(default_if()),
        "name" => Box::new(|a, b| a.name.cmp(&b.name)),
        "port" => Box::new(|_, _| Ordering::Equal),
        "private" => Box::new(|a, b| match (is_rfc(6890, a), is_rfc(6890, b)) {
            (true, false) => Ordering::Less,
            (false, true) if a.type_bits() == b.type_bits() => Ordering::Greater,
            _ => Ordering::Equal,
        }),
        "size" => Box::new(|a, b| {
            if a.type_bits() != b.type_bits() {
                Ordering::Equal
            } else {
                a.bits.cmp(&b.bits)
            }
        }),
        "type" => Box::new(|a, b| a.type_bits().cmp(&b.type_bits())),
        _ => return None,
    };
    Some(if desc {
        Box::new(move |a, b| asc(a, b).reverse())
    } else {
        asc
    })
}

/// Sorts with go-sockaddr's multi-key `Less` the way Go's `sort.Sort` does for up to 12
/// elements (insertion sort), so the order matches Go's even where the keys leave it open
/// (e.g. `address` between IPv4 and IPv6); longer lists are sorted the same way.
pub(crate) fn sort_by(addrs: &mut [IfAddr], cmps: &[Cmp]) {
    let less = |a: &IfAddr, b: &IfAddr| {
        for c in cmps {
            match c(a, b) {
                Ordering::Equal => continue,
                o => return o == Ordering::Less,
            }
        }
        false
    };
    for i in 1..addrs.len() {
        let mut j = i;
        while j > 0 && less(&addrs[j], &addrs[j - 1]) {
            addrs.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// The default route's interface, from `ip route` as go-sockaddr reads it on Linux.
pub(crate) fn default_interface() -> Result<String, String> {
    let ip = std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("ip"))
                .find(|c| c.is_file())
        })
        .unwrap_or_else(|| "/sbin/ip".into());
    let out = std::process::Command::new(&ip)
        .arg("route")
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            format!(
                "fork/exec {}: {}",
                ip.display(),
                super::write_file::go_errno_text(&e)
            )
        })?;
    if !out.status.success() {
        return Err(format!("exit status {}", out.status.code().unwrap_or(-1)));
    }
    parse_default_route(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| "no default interface found".to_owned())
}

/// `parseDefaultIfNameFromIPCmd`: the `dev` of the first `default via X dev NAME` line.
pub(crate) fn parse_default_route(out: &str) -> Option<String> {
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 5)
        .find(|f| f[0] == "default" && f[1] == "via" && f[3] == "dev")
        .map(|f| f[4].to_owned())
}

/// Every address of every interface, interfaces in index order (`GetAllInterfaces`).
pub(crate) fn all_interfaces() -> Result<Vec<IfAddr>, String> {
    use nix::net::if_::InterfaceFlags;
    let list = nix::ifaddrs::getifaddrs().map_err(|e| format!("route ip+net: {e}"))?;
    let mut by_if: BTreeMap<(u32, String), Vec<IfAddr>> = BTreeMap::new();
    for ifa in list {
        let index = nix::net::if_::if_nametoindex(ifa.interface_name.as_str()).unwrap_or(0);
        let go_flags = FLAG_NAMES
            .iter()
            .zip([
                InterfaceFlags::IFF_UP,
                InterfaceFlags::IFF_BROADCAST,
                InterfaceFlags::IFF_LOOPBACK,
                InterfaceFlags::IFF_POINTOPOINT,
                InterfaceFlags::IFF_MULTICAST,
                InterfaceFlags::IFF_RUNNING,
            ])
            .filter(|(_, sys)| ifa.flags.contains(*sys))
            .fold(0, |acc, ((bit, _), _)| acc | bit);
        let entry = by_if
            .entry((index, ifa.interface_name.clone()))
            .or_default();
        let Some(addr) = ifa.address else { continue };
        let (ip, bits) = if let Some(a) = addr.as_sockaddr_in() {
            let bits = ifa
                .netmask
                .as_ref()
                .and_then(|m| m.as_sockaddr_in())
                .map_or(32, |m| u32::from(m.ip()).count_ones() as u8);
            (IpAddr::V4(a.ip()), bits)
        } else if let Some(a) = addr.as_sockaddr_in6() {
            let bits = ifa
                .netmask
                .as_ref()
                .and_then(|m| m.as_sockaddr_in6())
                .map_or(128, |m| u128::from(m.ip()).count_ones() as u8);
            (IpAddr::V6(a.ip()), bits)
        } else {
            continue;
        };
        entry.push(IfAddr {
            name: ifa.interface_name.clone(),
            index,
            flags: go_flags,
            ip,
            bits,
        });
    }
    Ok(by_if.into_values().flatten().collect())
}

/// go-sockaddr's `IfAddrMath`: `address` and `network` offsets (`+N`/`-N`), `mask` bits.
pub(crate) fn math(op: &str, value: &str, a: &IfAddr) -> Result<IfAddr, String> {
    let q = |s: &str| quote_with(s, false);
    let lower = crate::gostr::to_lower(op);
    let v4 = a.ip.is_ipv4();
    let signed = || -> Result<i64, String> {
        if !value.trim_start().starts_with(['+', '-']) {
            return Err(format!("sign (+/-) is required for operation {}", q(op)));
        }
        let bad = |e: String| {
            format!(
                "unable to convert {} to int for operation {}: {e}",
                q(value),
                q(op)
            )
        };
        let i = crate::gostr::parse_int(value, "ParseInt").map_err(bad)?;
        if v4 && !(-(1i64 << 32)..(1i64 << 32)).contains(&i) {
            return Err(bad(format!(
                "strconv.ParseInt: parsing {}: value out of range",
                q(value)
            )));
        }
        Ok(i)
    };
    let mut out = a.clone();
    let all = if v4 { u128::from(u32::MAX) } else { u128::MAX };
    match lower.as_str() {
        "address" => {
            let i = signed()?;
            let n = a.value().wrapping_add(i as i128 as u128) & all;
            out.ip = a.ip_of(n);
        }
        "network" => {
            let i = signed()?;
            let host = all & !a.mask();
            let n = if v4 {
                let wrapped = if i >= 0 { i } else { 1 + i + host as i64 };
                (a.network_value() + (u128::from(wrapped as u32) & host)) & all
            } else if i > 0 {
                a.network_value().wrapping_add(i as u128 & host)
            } else {
                let w = ((-i) as u128).wrapping_sub(1) & host;
                a.broadcast_value().wrapping_sub(w)
            };
            out.ip = a.ip_of(n);
        }
        "mask" => {
            let bits = crate::gostr::parse_uint(value)
                .ok()
                .filter(|b| *b <= u64::from(u32::MAX))
                .ok_or_else(|| {
                    format!(
                        "unable to convert {} to int for operation {}: strconv.ParseUint: parsing {}: invalid syntax",
                        q(value),
                        q(op),
                        q(value)
                    )
                })?;
            let (max, shown) = if v4 { (32, 32) } else { (128, 64) };
            if bits > max {
                return Err(format!(
                    "parameter for operation {} on ipv{} addresses must be between 0 and {shown}",
                    q(op),
                    if v4 { 4 } else { 6 }
                ));
            }
            let probe = IfAddr {
                bits: bits as u8,
                ..a.clone()
            };
            out.ip = a.ip_of(a.value() & probe.mask());
            out.bits = a.bits.min(bits as u8);
        }
        _ => return Err(format!("unsupported math operation: {}", q(op))),
    }
    Ok(out)
}
