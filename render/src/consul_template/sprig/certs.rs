//! Sprig's x509 certificate functions (`crypto.go`): `genCA genCAWithKey genSelfSignedCert
//! genSelfSignedCertWithKey genSignedCert genSignedCertWithKey buildCustomCert`, built and
//! signed with rcgen over ring.
//!
//! Each returns Sprig's `certificate` struct (fields `Cert` and `Key`, PEM strings). As Go's
//! `x509.CreateCertificate` does, RSA keys sign with SHA-256, P-256 with ECDSA-SHA256, P-384
//! with ECDSA-SHA384 and Ed25519 as itself; DSA keys cannot sign.

use std::net::IpAddr;

use minijinja::Value;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};

use super::conv::{is_nil, strval};
use super::keys::{
    parse_private_key_pem, pem_decode, pem_encode, PrivKey, DSA_PUBLIC_UNSUPPORTED, RSA_BITS_CERT,
};
use super::reg;
use crate::func::{arg_int, arg_str, arg_value, wrong_type, Arity, FuncError, FuncMap};
use crate::value::{as_go_object, go_object, go_type_name, FormatVerb, GoObject};

/// Go's name for Sprig's certificate struct.
const TYPE_NAME: &str = "sprig.certificate";

/// Sprig's `certificate`: a PEM certificate and the PEM private key it was made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Certificate {
    /// `Cert`: the PEM `CERTIFICATE` block.
    pub(super) cert: String,
    /// `Key`: the PEM private key block.
    pub(super) key: String,
}

impl GoObject for Certificate {
    fn type_name(&self) -> &str {
        TYPE_NAME
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Cert" => Some(Value::from(self.cert.as_str())),
            "Key" => Some(Value::from(self.key.as_str())),
            _ => None,
        }
    }

    fn method(&self, _: &str, _: &[Value]) -> Option<Result<Value, FuncError>> {
        None
    }

    fn format(&self, verb: FormatVerb) -> String {
        match verb {
            FormatVerb::PlusV => format!("{{Cert:{} Key:{}}}", self.cert, self.key),
            _ => format!("{{{} {}}}", self.cert, self.key),
        }
    }
}

/// Argument `i` as a Go `certificate` parameter (only what `genCA` and friends return).
fn arg_cert(args: &[Value], i: usize) -> Result<Certificate, FuncError> {
    let v = arg_value(args, i)?;
    // Go: a nil constant cannot be assigned; a missing value is invalid.
    if v.is_none() {
        return Err(FuncError::new(format!("cannot assign nil to {TYPE_NAME}")));
    }
    if v.is_undefined() {
        return Err(FuncError::new(format!(
            "invalid value; expected {TYPE_NAME}"
        )));
    }
    let o = as_go_object(v)
        .filter(|o| o.type_name() == TYPE_NAME)
        .ok_or_else(|| wrong_type(TYPE_NAME, v))?;
    let field = |n: &str| {
        o.field(n)
            .and_then(|f| f.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    Ok(Certificate {
        cert: field("Cert"),
        key: field("Key"),
    })
}

/// Argument `i` as a Go `[]interface{}` parameter: nil is an empty slice.
fn arg_iface_list(args: &[Value], i: usize) -> Result<Vec<Value>, FuncError> {
    let v = arg_value(args, i)?;
    if is_nil(v) {
        return Ok(Vec::new());
    }
    match super::conv::list_items(v) {
        Some(items) if go_type_name(v) == "[]interface {}" => Ok(items),
        _ => Err(wrong_type("[]interface {}", v)),
    }
}

/// Sprig's `getNetIPs`: every item a string Go's `net.ParseIP` accepts.
fn net_ips(ips: &[Value]) -> Result<Vec<IpAddr>, String> {
    ips.iter()
        .map(|ip| {
            let s = ip
                .as_str()
                .ok_or_else(|| format!("error parsing ip: {} is not a string", strval(ip)))?;
            let addr: IpAddr = s.parse().map_err(|_| format!("error parsing ip: {s}"))?;
            // Go writes an IPv4-mapped IPv6 address as its 4 bytes.
            Ok(match addr {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
                v4 => v4,
            })
        })
        .collect()
}

/// Sprig's `getAlternateDNSStrs`: every item a string.
fn dns_names(names: &[Value]) -> Result<Vec<String>, String> {
    names
        .iter()
        .map(|n| {
            n.as_str().map(str::to_string).ok_or_else(|| {
                format!(
                    "error processing alternate dns name: {} is not a string",
                    strval(n)
                )
            })
        })
        .collect()
}

/// Go's `time.Now().Add(time.Hour * 24 * time.Duration(days))`, overflow wrapping as in Go,
/// to the second (what x509 keeps).
fn validity(days: i64) -> (time::OffsetDateTime, time::OffsetDateTime) {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let nanos = days.wrapping_mul(24 * 3600 * 1_000_000_000);
    let after = now
        .checked_add(time::Duration::nanoseconds(nanos))
        .unwrap_or(now);
    (now, after)
}

/// Sprig's `getBaseCertTemplate`: a random 128-bit serial, the CN, the SANs, `days` of
/// validity, digital signature and key encipherment for server and client auth, `CA:FALSE`.
fn base_template(
    cn: &str,
    ips: &[Value],
    dns: &[Value],
    days: i64,
) -> Result<CertificateParams, String> {
    let ips = net_ips(ips)?;
    let dns = dns_names(dns)?;
    let mut params = CertificateParams::default();
    let mut serial = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut serial);
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let mut name = DistinguishedName::new();
    if !cn.is_empty() {
        // Go's asn1 writes a PrintableString when it can, else UTF8String.
        let value = rcgen::PrintableString::try_from(cn)
            .map(DnValue::PrintableString)
            .unwrap_or_else(|_| DnValue::Utf8String(cn.to_string()));
        name.push(DnType::CommonName, value);
    }
    params.distinguished_name = name;
    for d in dns {
        let ia5 = rcgen::Ia5String::try_from(d.as_str()).map_err(|_| {
            format!("error creating certificate: x509: {d:?} cannot be encoded as an IA5String")
        })?;
        params.subject_alt_names.push(SanType::DnsName(ia5));
    }
    params
        .subject_alt_names
        .extend(ips.into_iter().map(SanType::IpAddress));
    (params.not_before, params.not_after) = validity(days);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.is_ca = IsCa::ExplicitNoCa;
    Ok(params)
}

/// The rcgen key pair of a Sprig key; `Err` with Go's text when Go could not sign with it.
fn key_pair(key: &PrivKey) -> Result<KeyPair, String> {
    let der = key.to_pkcs8()?;
    let rsa_bits = match key {
        PrivKey::Rsa(k) => Some(rsa::traits::PublicKeyParts::n(k.as_ref()).bits()),
        _ => None,
    };
    KeyPair::try_from(der).map_err(|e| match rsa_bits {
        // ring signs with 2048- to 8192-bit RSA keys only; Go takes any size.
        Some(bits) if !(2048..=8192).contains(&bits) => {
            format!("x509: RSA keys of {bits} bits are not supported here (2048 to 8192)")
        }
        _ => format!("x509: {e}"),
    })
}

fn creating(e: impl std::fmt::Display) -> String {
    format!("error creating certificate: {e}")
}

/// Sprig's `getCertAndKey` for a self-signed certificate.
fn self_signed(params: CertificateParams, key: &PrivKey) -> Result<Certificate, String> {
    let pair = key_pair(key).map_err(creating)?;
    let cert = params.self_signed(&pair).map_err(creating)?;
    finish(cert.der().to_vec(), key)
}

/// Sprig's `pem.Encode` of the certificate and of the signee's key.
fn finish(der: Vec<u8>, key: &PrivKey) -> Result<Certificate, String> {
    let key = key
        .to_pem()
        .map_err(|e| format!("error pem-encoding key: {e}"))?;
    Ok(Certificate {
        cert: pem_encode("CERTIFICATE", der),
        key,
    })
}

/// Sprig's `generateCertificateAuthorityWithKeyInternal`.
fn gen_ca(cn: &str, days: i64, key: &PrivKey) -> Result<Certificate, String> {
    let mut params = base_template(cn, &[], &[], days)?;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    self_signed(params, key)
}

/// Sprig's `generateSignedCertificateWithKeyInternal`: `key`'s certificate, signed by `ca`.
fn gen_signed(
    cn: &str,
    ips: &[Value],
    dns: &[Value],
    days: i64,
    ca: &Certificate,
    key: &PrivKey,
) -> Result<Certificate, String> {
    let block = pem_decode(&ca.cert).ok_or("unable to decode certificate")?;
    let ca_der = block.contents().to_vec();
    let bad_ca = |e: &dyn std::fmt::Display| {
        format!("error parsing certificate: decodedSignerCert.Bytes: x509: {e}")
    };
    let (_, parsed) = x509_parser::parse_x509_certificate(&ca_der).map_err(|e| bad_ca(&e))?;
    let ca_spki = parsed.tbs_certificate.subject_pki.raw.to_vec();
    // Go copies the parent's subject key identifier, unless empty, as the authority's.
    let ca_has_ski = parsed.extensions().iter().any(|e| {
        matches!(e.parsed_extension(),
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) if !id.0.is_empty())
    });
    let ca_params =
        CertificateParams::from_ca_cert_der(&ca_der.clone().into()).map_err(|e| bad_ca(&e))?;
    let ca_key =
        parse_private_key_pem(&ca.key).map_err(|e| format!("error parsing private key: {e}"))?;
    let mut params = base_template(cn, ips, dns, days)?;
    params.use_authority_key_identifier_extension = ca_has_ski;
    let ca_pair = key_pair(&ca_key).map_err(creating)?;
    if matches!(key, PrivKey::Dsa(_)) {
        return Err(creating(DSA_PUBLIC_UNSUPPORTED));
    }
    if ca_pair.public_key_der() != ca_spki {
        return Err(creating(
            "x509: provided PrivateKey doesn't match parent's PublicKey",
        ));
    }
    let pair = key_pair(key).map_err(creating)?;
    // rcgen takes the issuer as a certificate: the CA's parsed fields, re-signed only to be
    // one; the leaf gets the CA's subject as issuer and its key identifier.
    let issuer = ca_params.self_signed(&ca_pair).map_err(creating)?;
    let cert = params
        .signed_by(&pair, &issuer, &ca_pair)
        .map_err(creating)?;
    finish(cert.der().to_vec(), key)
}

/// Sprig's `buildCustomCertificate`: checks both base64 PEM blocks, keeps them as given.
fn build_custom(b64cert: &str, b64key: &str) -> Result<Certificate, String> {
    let cert = crate::gostr::base64_decode(b64cert, false)
        .map_err(|_| "unable to decode base64 certificate")?;
    let key = crate::gostr::base64_decode(b64key, false)
        .map_err(|_| "unable to decode base64 private key")?;
    let cert = String::from_utf8_lossy(&cert).into_owned();
    let key = String::from_utf8_lossy(&key).into_owned();
    let block = pem_decode(&cert).ok_or("unable to decode certificate")?;
    x509_parser::parse_x509_certificate(block.contents())
        .map_err(|e| format!("error parsing certificate: decodedCert.Bytes: x509: {e}"))?;
    parse_private_key_pem(&key).map_err(|e| format!("error parsing private key: {e}"))?;
    Ok(Certificate { cert, key })
}

/// A fresh RSA key for the functions that make their own (Sprig's 2048 bits).
fn new_rsa() -> Result<PrivKey, String> {
    PrivKey::rsa(RSA_BITS_CERT).map_err(|e| format!("error generating rsa key: {e}"))
}

/// The key of a `*WithKey` variant's PEM argument.
fn given_key(pem: &str) -> Result<PrivKey, String> {
    parse_private_key_pem(pem).map_err(|e| format!("parsing private key: {e}"))
}

fn out(r: Result<Certificate, String>) -> Result<Value, FuncError> {
    r.map(go_object).map_err(FuncError::new)
}

/// Registers the certificate functions.
pub(super) fn register(f: &mut FuncMap) {
    reg(f, "genCA", Arity::exact(2), |_, a| {
        let (cn, days) = (arg_str(a, 0)?, arg_int(a, 1)?);
        out(new_rsa().and_then(|k| gen_ca(cn, days, &k)))
    });
    reg(f, "genCAWithKey", Arity::exact(3), |_, a| {
        let (cn, days, pem) = (arg_str(a, 0)?, arg_int(a, 1)?, arg_str(a, 2)?);
        out(given_key(pem).and_then(|k| gen_ca(cn, days, &k)))
    });
    reg(f, "genSelfSignedCert", Arity::exact(4), |_, a| {
        let (cn, ips, dns) = (arg_str(a, 0)?, arg_iface_list(a, 1)?, arg_iface_list(a, 2)?);
        let days = arg_int(a, 3)?;
        out(new_rsa().and_then(|k| self_signed(base_template(cn, &ips, &dns, days)?, &k)))
    });
    reg(f, "genSelfSignedCertWithKey", Arity::exact(5), |_, a| {
        let (cn, ips, dns) = (arg_str(a, 0)?, arg_iface_list(a, 1)?, arg_iface_list(a, 2)?);
        let (days, pem) = (arg_int(a, 3)?, arg_str(a, 4)?);
        out(given_key(pem).and_then(|k| self_signed(base_template(cn, &ips, &dns, days)?, &k)))
    });
    reg(f, "genSignedCert", Arity::exact(5), |_, a| {
        let (cn, ips, dns) = (arg_str(a, 0)?, arg_iface_list(a, 1)?, arg_iface_list(a, 2)?);
        let (days, ca) = (arg_int(a, 3)?, arg_cert(a, 4)?);
        out(new_rsa().and_then(|k| gen_signed(cn, &ips, &dns, days, &ca, &k)))
    });
    reg(f, "genSignedCertWithKey", Arity::exact(6), |_, a| {
        let (cn, ips, dns) = (arg_str(a, 0)?, arg_iface_list(a, 1)?, arg_iface_list(a, 2)?);
        let (days, ca, pem) = (arg_int(a, 3)?, arg_cert(a, 4)?, arg_str(a, 5)?);
        out(given_key(pem).and_then(|k| gen_signed(cn, &ips, &dns, days, &ca, &k)))
    });
    reg(f, "buildCustomCert", Arity::exact(2), |_, a| {
        out(build_custom(arg_str(a, 0)?, arg_str(a, 1)?))
    });
}
