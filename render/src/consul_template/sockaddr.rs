//! consul-template's `sockaddr ARGS...`: hashicorp/go-sockaddr's template language. The
//! arguments are joined with spaces into `{{ ARGS }}`, which runs as its own Go template over
//! the host's interface addresses with go-sockaddr's functions (`GetPrivateIP`,
//! `GetAllInterfaces | include "flag" "loopback" | sort "address" | attr "address"`, ...).

use std::fmt;
use std::sync::{Arc, OnceLock};

use minijinja::value::{Object, ObjectRepr, Value};

use super::sockaddr_ifs::{self as ifs, IfAddr};
use crate::func::{arg_int, arg_str, arg_value, wrong_type, Arity, FuncError, FuncMap, FuncResult};
use crate::gofmt::quote_with;
use crate::gotmpl::{GoTemplate, MissingKey, ParseOptions};

const IF_ADDRS: &str = "sockaddr.IfAddrs";

/// A `sockaddr.IfAddrs` value passed along the inner template's pipeline.
#[derive(Debug)]
struct IfAddrs(Vec<IfAddr>);

impl IfAddrs {
    /// Go's `%v`: each `IfAddr.String()` (`SockAddr Interface`). The interface's MTU and
    /// hardware address are not read here, so they print as 0 and empty.
    fn go_string(&self) -> String {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|a| {
                format!(
                    "{} {{{} 0 {}  {}}}",
                    a.sock_string(),
                    a.index,
                    a.name,
                    a.flags_string()
                )
            })
            .collect();
        format!("[{}]", items.join(" "))
    }
}

impl Object for IfAddrs {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.go_string())
    }
}

fn wrap(v: Vec<IfAddr>) -> Value {
    Value::from_object(IfAddrs(v))
}

fn addrs_arg(a: &[Value], i: usize) -> Result<Vec<IfAddr>, FuncError> {
    let v = arg_value(a, i)?;
    v.downcast_object_ref::<IfAddrs>()
        .map(|x| x.0.clone())
        .ok_or_else(|| wrong_type(IF_ADDRS, v))
}

fn err(e: String) -> FuncError {
    FuncError::new(e)
}

fn all() -> Result<Vec<IfAddr>, FuncError> {
    ifs::all_interfaces().map_err(err)
}

fn default_if() -> Option<String> {
    ifs::default_interface().ok()
}

/// `GetPrivateInterfaces` (`public = false`) and `GetPublicInterfaces`.
fn private_or_public(public: bool) -> Result<Vec<IfAddr>, FuncError> {
    let addrs = all()?;
    let (addrs, _) = ifs::by_flag("forwardable", &addrs).map_err(err)?;
    let (mut addrs, _) = ifs::by_flag("up", &addrs).map_err(err)?;
    let cmps = [
        ifs::sorter("default", &default_if),
        ifs::sorter("type", &default_if),
        ifs::sorter("size", &default_if),
    ];
    let cmps: Vec<_> = cmps.into_iter().flatten().collect();
    ifs::sort_by(&mut addrs, &cmps);
    let (private, rest) = ifs::by_rfc("6890", &addrs).map_err(err)?;
    Ok(if public { rest } else { private })
}

/// `GetPrivateIPs` (`public = false`) and `GetPublicIPs`.
fn ips(public: bool) -> Result<String, FuncError> {
    let mut addrs = all()?;
    let cmps: Vec<_> = [
        ifs::sorter("type", &default_if),
        ifs::sorter("size", &default_if),
    ]
    .into_iter()
    .flatten()
    .collect();
    ifs::sort_by(&mut addrs, &cmps);
    let (private, public_addrs) = ifs::by_rfc("6890", &addrs).map_err(err)?;
    let chosen = if public {
        public_addrs
    } else {
        ifs::by_rfc(
            &super::sockaddr_rfc::FORWARDING_BLACKLIST.to_string(),
            &private,
        )
        .map_err(err)?
        .1
    };
    Ok(chosen
        .iter()
        .map(IfAddr::address)
        .collect::<Vec<_>>()
        .join(" "))
}

/// `GetInterfaceIP` (`one`) and `GetInterfaceIPs`.
fn interface_ips(re: &str, one: bool) -> Result<String, FuncError> {
    let (addrs, _) = ifs::by_regex("name", re, &all()?).map_err(err)?;
    let mut addrs = if one {
        ifs::by_flag("forwardable", &addrs).map_err(err)?.0
    } else {
        addrs
    };
    sort_clauses("+type,+size", &mut addrs)?;
    Ok(match (one, addrs.first()) {
        (_, None) => String::new(),
        (true, Some(a)) => a.address(),
        (false, _) => addrs
            .iter()
            .map(IfAddr::address)
            .collect::<Vec<_>>()
            .join(" "),
    })
}

/// `SortIfBy`: comma-separated clauses.
fn sort_clauses(param: &str, addrs: &mut [IfAddr]) -> Result<(), FuncError> {
    let mut cmps = Vec::new();
    for clause in param.split(',') {
        cmps.push(
            ifs::sorter(clause, &default_if)
                .ok_or_else(|| err(format!("unknown sort type: {}", quote_with(clause, false))))?,
        );
    }
    ifs::sort_by(addrs, &cmps);
    Ok(())
}

/// `IncludeIfs` (`include = true`) and `ExcludeIfs`.
fn filter(a: &[Value], include: bool) -> FuncResult {
    let name = arg_str(a, 0)?;
    let param = arg_str(a, 1)?;
    let addrs = addrs_arg(a, 2)?;
    let split = match crate::gostr::to_lower(name).as_str() {
        "address" => ifs::by_regex("address", param, &addrs),
        "flag" | "flags" => ifs::by_flag(param, &addrs),
        "name" => ifs::by_regex("name", param, &addrs),
        "network" => ifs::by_network(param, &addrs),
        "port" => Ok(
            if param.is_empty() || super::helpers::go_regex(param)?.is_match("0") {
                (addrs.clone(), Vec::new())
            } else {
                (Vec::new(), addrs.clone())
            },
        ),
        "rfc" | "rfcs" => {
            let (mut m, mut r) = (Vec::new(), Vec::new());
            for rfc in param.split('|') {
                let (mm, rr) = ifs::by_rfc(rfc, &addrs).map_err(|e| {
                    err(format!(
                        "unable to lookup RFC number {}: {e}",
                        quote_with(rfc, false)
                    ))
                })?;
                m.extend(mm);
                r.extend(rr);
            }
            Ok((m, r))
        }
        "size" => ifs::by_size(param, &addrs),
        "type" => ifs::by_type(param, &addrs),
        _ => {
            return Err(err(format!(
                "invalid {} selector {}",
                if include { "include" } else { "exclude" },
                quote_with(name, false)
            )))
        }
    }
    .map_err(err)?;
    Ok(wrap(if include { split.0 } else { split.1 }))
}

fn attr_of(name: &str, addrs: &[IfAddr]) -> Result<String, FuncError> {
    match addrs.first() {
        None => Ok(String::new()),
        Some(a) => a.attr(&crate::gostr::to_lower(name)).map_err(err),
    }
}

/// go-sockaddr's template functions.
fn sockaddr_funcs() -> &'static FuncMap {
    static FUNCS: OnceLock<FuncMap> = OnceLock::new();
    FUNCS.get_or_init(|| {
        let mut f = FuncMap::new();
        f.insert("GetAllInterfaces", Arity::exact(0), |_, _| Ok(wrap(all()?)));
        f.insert("GetDefaultInterfaces", Arity::exact(0), |_, _| {
            let d = ifs::default_interface().map_err(err)?;
            Ok(wrap(all()?.into_iter().filter(|a| a.name == d).collect()))
        });
        f.insert("GetPrivateInterfaces", Arity::exact(0), |_, _| {
            Ok(wrap(private_or_public(false)?))
        });
        f.insert("GetPublicInterfaces", Arity::exact(0), |_, _| {
            Ok(wrap(private_or_public(true)?))
        });
        f.insert("GetPrivateIP", Arity::exact(0), |_, _| {
            Ok(private_or_public(false)?
                .first()
                .map(IfAddr::address)
                .unwrap_or_default()
                .into())
        });
        f.insert("GetPublicIP", Arity::exact(0), |_, _| {
            Ok(private_or_public(true)?
                .first()
                .map(IfAddr::address)
                .unwrap_or_default()
                .into())
        });
        f.insert("GetPrivateIPs", Arity::exact(0), |_, _| Ok(ips(false)?.into()));
        f.insert("GetPublicIPs", Arity::exact(0), |_, _| Ok(ips(true)?.into()));
        f.insert("GetInterfaceIP", Arity::exact(1), |_, a| {
            Ok(interface_ips(arg_str(a, 0)?, true)?.into())
        });
        f.insert("GetInterfaceIPs", Arity::exact(1), |_, a| {
            Ok(interface_ips(arg_str(a, 0)?, false)?.into())
        });
        f.insert("include", Arity::exact(3), |_, a| filter(a, true));
        f.insert("exclude", Arity::exact(3), |_, a| filter(a, false));
        f.insert("sort", Arity::exact(2), |_, a| {
            let mut addrs = addrs_arg(a, 1)?;
            sort_clauses(arg_str(a, 0)?, &mut addrs)?;
            Ok(wrap(addrs))
        });
        f.insert("attr", Arity::exact(2), |_, a| {
            let name = arg_str(a, 0)?;
            match addrs_arg(a, 1) {
                Ok(addrs) => Ok(attr_of(name, &addrs)?.into()),
                Err(_) => Err(err(format!(
                    "unable to obtain attribute {name} from type {} ({})",
                    crate::value::go_type_name(&a[1]),
                    crate::value::format_value(&a[1])
                ))),
            }
        });
        f.insert("join", Arity::exact(3), |_, a| {
            let name = crate::gostr::to_lower(arg_str(a, 0)?);
            let sep = arg_str(a, 1)?;
            let addrs = addrs_arg(a, 2)?;
            let vals = addrs
                .iter()
                .map(|x| x.attr(&name).map_err(err))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(vals.join(sep).into())
        });
        f.insert("limit", Arity::exact(2), |_, a| {
            let n = usize::try_from(arg_int(a, 0)?).unwrap_or(0);
            let mut addrs = addrs_arg(a, 1)?;
            addrs.truncate(n);
            Ok(wrap(addrs))
        });
        f.insert("offset", Arity::exact(2), |_, a| {
            let off = arg_int(a, 0)?;
            let addrs = addrs_arg(a, 1)?;
            let n = off.unsigned_abs() as usize;
            if n > addrs.len() {
                return Err(err(format!(
                    "unable to seek past the end of the interface array: offset ({n}) exceeds the number of interfaces ({})",
                    addrs.len()
                )));
            }
            Ok(wrap(if off < 0 {
                addrs[addrs.len() - n..].to_vec()
            } else {
                addrs[n..].to_vec()
            }))
        });
        f.insert("math", Arity::exact(3), |_, a| {
            let (op, value) = (arg_str(a, 0)?, arg_str(a, 1)?);
            let addrs = addrs_arg(a, 2)?;
            let out = addrs
                .iter()
                .map(|x| {
                    ifs::math(op, value, x).map_err(|e| {
                        err(format!(
                            "unable to perform an IPMath operation on {}: {e}",
                            IfAddrs(vec![x.clone()]).go_string().trim_matches(['[', ']'])
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(wrap(out))
        });
        f.insert("unique", Arity::exact(2), |_, a| {
            let name = arg_str(a, 0)?;
            let key = crate::gostr::to_lower(name);
            if key != "address" && key != "name" {
                return Err(err(format!(
                    "unsupported unique constraint {}",
                    quote_with(name, true)
                )));
            }
            let mut out: Vec<IfAddr> = Vec::new();
            let mut last = String::new();
            for x in addrs_arg(a, 1)? {
                let k = if key == "address" {
                    x.sock_string()
                } else {
                    x.name.clone()
                };
                if last.is_empty() || last != k {
                    last = k;
                    out.push(x);
                }
            }
            Ok(wrap(out))
        });
        f
    })
}

/// `sockaddr ARGS...` (upstream's `socktmpl.Parse`).
fn sockaddr(a: &[Value]) -> FuncResult {
    let args = (0..a.len())
        .map(|i| arg_str(a, i))
        .collect::<Result<Vec<_>, _>>()?;
    let input = format!("{{{{ {} }}}}", args.join(" "));
    let quoted = quote_with(&input, true);
    let funcs = sockaddr_funcs();
    let t = GoTemplate::parse("sockaddr.Parse", &input, funcs, &ParseOptions::default()).map_err(
        |e| {
            err(format!(
                "unable to parse template {quoted}: {}",
                crate::template::template_error("sockaddr.Parse", e)
            ))
        },
    )?;
    let dot = wrap(all().map_err(|e| {
        err(format!(
            "unable to query interface addresses: {}",
            e.message
        ))
    })?);
    t.execute(&dot, funcs, &(), MissingKey::Error)
        .map(Value::from)
        .map_err(|e| {
            err(format!(
                "unable to execute sockaddr input {quoted}: {}",
                crate::template::template_error("sockaddr.Parse", e)
            ))
        })
}

/// Registers `sockaddr`.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("sockaddr", Arity::at_least(0), |_, a| sockaddr(a));
}

#[cfg(test)]
mod tests {
    use super::super::tests::render;

    #[test]
    fn loopback_address_like_upstream() {
        // template/template_test.go helper_sockaddr.
        assert_eq!(
            render(r#"{{ sockaddr "GetAllInterfaces | include \"flag\" \"loopback\" | include \"type\" \"IPv4\" | sort \"address\" | limit 1 | attr \"address\""}}"#).unwrap(),
            "127.0.0.1"
        );
        // IPv4 sorts first (`+type`); `::1` follows where lo has IPv6.
        let out = render(r#"{{ sockaddr "GetAllInterfaces | include \"name\" \"^lo$\" | include \"type\" \"ipv4\" | join \"network\" \",\"" }}|{{ sockaddr "GetInterfaceIPs \"^lo$\"" }}"#).unwrap();
        assert!(out.starts_with("127.0.0.0|127.0.0.1"), "{out}");
        // The loopback network is neither forwardable nor public.
        assert_eq!(
            render(r#"{{ sockaddr "GetInterfaceIP \"^lo$\"" }}|{{ sockaddr "GetAllInterfaces | include \"flag\" \"loopback\" | include \"rfc\" \"1122\" | attr \"string\"" }}|{{ sockaddr "GetAllInterfaces | include \"name\" \"^lo$\" | include \"type\" \"ipv4\" | attr \"size\"" }}"#).unwrap(),
            "|127.0.0.1/8|16777216"
        );
        assert_eq!(
            render(r#"{{ sockaddr "GetAllInterfaces | include \"network\" \"127.0.0.0/8\" | limit 1 | attr \"first_usable\"" }} {{ sockaddr "GetAllInterfaces | include \"network\" \"127.0.0.0/8\" | limit 1 | attr \"last_usable\"" }} {{ sockaddr "GetAllInterfaces | include \"network\" \"127.0.0.0/8\" | join \"netmask\" \",\"" }}"#).unwrap(),
            "127.0.0.1 127.255.255.254 255.0.0.0"
        );
        // go-sockaddr's README: `math "address" "+5"`, `math "network" "-1"`, `math "mask" "16"`.
        let lo = r#"GetAllInterfaces | include \"network\" \"127.0.0.0/8\" | limit 1"#;
        assert_eq!(
            render(&format!(
                r#"{{{{ sockaddr "{lo} | math \"address\" \"+5\" | attr \"address\"" }}}} {{{{ sockaddr "{lo} | math \"network\" \"-1\" | attr \"address\"" }}}} {{{{ sockaddr "{lo} | math \"mask\" \"16\" | attr \"string\"" }}}} {{{{ sockaddr "{lo} | math \"network\" \"+257\" | attr \"address\"" }}}}"#
            ))
            .unwrap(),
            "127.0.0.6 127.255.255.255 127.0.0.0/8 127.0.1.1"
        );
        let err = render(&format!(
            r#"{{{{ sockaddr "{lo} | math \"address\" \"5\"" }}}}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(r#"unable to perform an IPMath operation on 127.0.0.1/8 {1 0 lo  up|loopback|running}: sign (+/-) is required for operation "address""#),
            "{err}"
        );
    }

    #[test]
    fn default_route_parsing() {
        // go-sockaddr's ifaddrs_test.go TestGetDefaultInterface-style `ip route` output.
        let out = "default via 10.0.2.2 dev eth0 proto dhcp metric 100\n10.0.2.0/24 dev eth0 proto kernel scope link src 10.0.2.15\n";
        assert_eq!(
            super::ifs::parse_default_route(out).as_deref(),
            Some("eth0")
        );
        assert_eq!(
            super::ifs::parse_default_route("10.0.0.0/8 dev x scope link"),
            None
        );
    }

    #[test]
    fn errors_are_wrapped_like_upstream() {
        let err = render(r#"{{ sockaddr "GetAllInterfaces | include \"flag\" \"bogus\"" }}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(r#"unable to execute sockaddr input "{{ GetAllInterfaces | include \"flag\" \"bogus\" }}": "#)
                && err.contains(r#"unknown interface flag: "bogus""#),
            "{err}"
        );
        let err = render(r#"{{ sockaddr "Nope" }}"#).unwrap_err().to_string();
        assert!(
            err.contains(r#"unable to parse template "{{ Nope }}": "#)
                && err.contains(r#"function "Nope" not defined"#),
            "{err}"
        );
        let err = render(r#"{{ sockaddr "GetAllInterfaces | sort \"bogus\"" }}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains(r#"unknown sort type: "bogus""#), "{err}");
    }
}
