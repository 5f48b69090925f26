//! The certificate functions through consul-template templates, their output parsed back with
//! x509-parser: fields Sprig sets, signatures, keys, and Sprig's error texts.

use std::net::IpAddr;

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::traits::PublicKeyParts;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{parse_x509_certificate, X509Certificate};

use super::super::tests::render;
use super::keys::{pem_encode, PrivKey};

const DAY: i64 = 24 * 3600;

/// The DER of a PEM `CERTIFICATE` block.
fn cert_der(pem_text: &str) -> Vec<u8> {
    let p = pem::parse(pem_text).expect("PEM");
    assert_eq!(p.tag(), "CERTIFICATE");
    p.contents().to_vec()
}

fn parse(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = parse_x509_certificate(der).expect("x509");
    assert!(rest.is_empty());
    cert
}

/// Renders `src`, splitting its output on `|`.
fn parts(src: &str) -> Vec<String> {
    render(src)
        .unwrap()
        .split('|')
        .map(str::to_string)
        .collect()
}

fn err(src: &str) -> String {
    render(src).unwrap_err().to_string()
}

fn cn(c: &X509Certificate<'_>) -> String {
    let n = c.subject().iter_common_name().next().expect("a CN");
    n.as_str().unwrap().to_string()
}

/// The key usage bits Sprig sets on every certificate, and whether it may sign certificates.
fn assert_usages(c: &X509Certificate<'_>, cert_sign: bool) {
    let ku = c.key_usage().unwrap().expect("key usage");
    assert!(ku.critical);
    assert!(ku.value.digital_signature() && ku.value.key_encipherment());
    assert_eq!(ku.value.key_cert_sign(), cert_sign);
    assert!(!ku.value.crl_sign() && !ku.value.non_repudiation());
    let eku = c.extended_key_usage().unwrap().expect("extended key usage");
    assert!(eku.value.server_auth && eku.value.client_auth);
    assert!(!eku.value.code_signing && eku.value.other.is_empty());
}

fn assert_validity(c: &X509Certificate<'_>, days: i64) {
    let v = c.validity();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (now - v.not_before.timestamp()).abs() < 120,
        "NotBefore is now"
    );
    assert_eq!(
        v.not_after.timestamp() - v.not_before.timestamp(),
        days * DAY
    );
}

#[test]
fn gen_ca_is_a_self_signed_rsa_2048_ca() {
    let out = parts(r#"{{$ca := sprig_genCA "foo-ca" 365}}{{$ca.Cert}}|{{$ca.Key}}"#);
    let der = cert_der(&out[0]);
    let c = parse(&der);
    assert_eq!(cn(&c), "foo-ca");
    assert_eq!(c.issuer().as_raw(), c.subject().as_raw());
    assert!(c.is_ca());
    assert!(c.basic_constraints().unwrap().unwrap().critical);
    assert_usages(&c, true);
    assert_validity(&c, 365);
    assert!(c.raw_serial().len() <= 17, "a 128-bit serial");
    assert_eq!(
        c.signature_algorithm.algorithm.to_id_string(),
        "1.2.840.113549.1.1.11"
    );
    c.verify_signature(None).expect("self-signed");
    let key = pem::parse(&out[1]).unwrap();
    assert_eq!(key.tag(), "RSA PRIVATE KEY");
    let key = rsa::RsaPrivateKey::from_pkcs1_der(key.contents()).unwrap();
    assert_eq!(key.n().bits(), 2048);
    let spki = key.to_public_key().to_public_key_der().unwrap();
    assert_eq!(
        c.public_key().raw,
        spki.as_bytes(),
        "the certificate is the key's"
    );
}

#[test]
fn serials_are_random() {
    let a = render(r#"{{(sprig_genCAWithKey "a" 1 (sprig_genPrivateKey "ecdsa")).Cert}}"#);
    let b = render(r#"{{(sprig_genCAWithKey "a" 1 (sprig_genPrivateKey "ecdsa")).Cert}}"#);
    let (a, b) = (cert_der(&a.unwrap()), cert_der(&b.unwrap()));
    assert_ne!(parse(&a).raw_serial(), parse(&b).raw_serial());
}

#[test]
fn signed_cert_verifies_against_its_ca_and_carries_the_sans() {
    let out = parts(
        r#"{{$ca := sprig_genCA "foo-ca" 365}}{{$c := sprig_genSignedCert "foo.com" (sprig_list "10.0.0.1" "::ffff:10.0.0.2" "2001:db8::1") (sprig_list "bar.com" "bat.com") 30 $ca}}{{$ca.Cert}}|{{$c.Cert}}|{{$c.Key}}"#,
    );
    let (ca_der, der) = (cert_der(&out[0]), cert_der(&out[1]));
    let (ca, c) = (parse(&ca_der), parse(&der));
    c.verify_signature(Some(ca.public_key()))
        .expect("signed by the CA");
    assert!(c.verify_signature(None).is_err(), "not self-signed");
    assert_eq!(c.issuer().as_raw(), ca.subject().as_raw());
    assert_eq!(cn(&c), "foo.com");
    assert!(!c.is_ca());
    assert_usages(&c, false);
    assert_validity(&c, 30);
    let san = c.subject_alternative_name().unwrap().expect("SANs");
    let names: Vec<String> = san
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => format!("dns:{d}"),
            GeneralName::IPAddress(b) => match b.len() {
                4 => format!("ip:{}", IpAddr::from(<[u8; 4]>::try_from(*b).unwrap())),
                _ => format!("ip:{}", IpAddr::from(<[u8; 16]>::try_from(*b).unwrap())),
            },
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [
            "dns:bar.com",
            "dns:bat.com",
            "ip:10.0.0.1",
            "ip:10.0.0.2",
            "ip:2001:db8::1"
        ]
    );
    let aki = c
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == "2.5.29.35");
    assert!(aki.is_some(), "an authority key identifier");
    assert!(out[2].starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
}

#[test]
fn self_signed_cert_takes_nil_lists() {
    let out = render(r#"{{(sprig_genSelfSignedCert "solo" nil nil 2).Cert}}"#).unwrap();
    let der = cert_der(&out);
    let c = parse(&der);
    c.verify_signature(None).unwrap();
    assert_eq!(cn(&c), "solo");
    assert!(!c.is_ca());
    assert!(c.subject_alternative_name().unwrap().is_none());
    assert_usages(&c, false);
    assert_validity(&c, 2);
}

#[test]
fn with_key_variants_use_the_given_key() {
    let out = parts(
        r#"{{$k := sprig_genPrivateKey "ecdsa"}}{{$c := sprig_genSelfSignedCertWithKey "ec" (sprig_list "127.0.0.1") nil 7 $k}}{{$k}}|{{$c.Key}}|{{$c.Cert}}"#,
    );
    assert_eq!(out[0], out[1], "Key is the given key");
    let key = p256::SecretKey::from_sec1_der(pem::parse(&out[0]).unwrap().contents()).unwrap();
    let der = cert_der(&out[2]);
    let c = parse(&der);
    let spki = key.public_key().to_public_key_der().unwrap();
    assert_eq!(c.public_key().raw, spki.as_bytes());
    assert_eq!(
        c.signature_algorithm.algorithm.to_id_string(),
        "1.2.840.10045.4.3.2"
    );
    c.verify_signature(None).unwrap();

    // An Ed25519 CA signing a P-256 leaf.
    let out = parts(
        r#"{{$ca := sprig_genCAWithKey "ed-ca" 10 (sprig_genPrivateKey "ed25519")}}{{$c := sprig_genSignedCertWithKey "leaf" nil (sprig_list "leaf.example") 5 $ca (sprig_genPrivateKey "ecdsa")}}{{$ca.Cert}}|{{$ca.Key}}|{{$c.Cert}}|{{$c.Key}}"#,
    );
    let (ca_der, der) = (cert_der(&out[0]), cert_der(&out[2]));
    let (ca, c) = (parse(&ca_der), parse(&der));
    assert_eq!(
        ca.signature_algorithm.algorithm.to_id_string(),
        "1.3.101.112"
    );
    assert!(ca.is_ca());
    assert!(out[1].starts_with("-----BEGIN PRIVATE KEY-----\n"));
    c.verify_signature(Some(ca.public_key())).unwrap();
    assert!(out[3].starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
}

#[test]
fn a_pkcs8_rsa_key_comes_back_as_pkcs1() {
    use rsa::pkcs8::EncodePrivateKey;
    let PrivKey::Rsa(k) = PrivKey::rsa(2048).unwrap() else {
        unreachable!("an RSA key")
    };
    let pkcs8 = pem_encode("PRIVATE KEY", k.to_pkcs8_der().unwrap().as_bytes().to_vec());
    let src = format!(
        r#"{{{{(sprig_genCAWithKey "r" 1 "{}").Key}}}}"#,
        pkcs8.replace('\n', "\\n")
    );
    let key = render(&src).unwrap();
    let block = pem::parse(&key).unwrap();
    assert_eq!(block.tag(), "RSA PRIVATE KEY");
    assert_eq!(
        rsa::RsaPrivateKey::from_pkcs1_der(block.contents()).unwrap(),
        *k
    );
}

#[test]
fn build_custom_cert_round_trips_and_signs() {
    let out = parts(
        r#"{{$ca := sprig_genCA "custom" 3}}{{$b := sprig_buildCustomCert (sprig_b64enc $ca.Cert) (sprig_b64enc $ca.Key)}}{{$c := sprig_genSignedCert "x" nil nil 1 $b}}{{$ca.Cert}}|{{$ca.Key}}|{{$b.Cert}}|{{$b.Key}}|{{$c.Cert}}"#,
    );
    assert_eq!(out[0], out[2]);
    assert_eq!(out[1], out[3]);
    let (ca_der, der) = (cert_der(&out[0]), cert_der(&out[4]));
    parse(&der)
        .verify_signature(Some(parse(&ca_der).public_key()))
        .unwrap();
}

#[test]
fn go_prints_the_struct_as_its_two_fields() {
    let out = render(r#"{{$ca := sprig_genCAWithKey "p" 1 (sprig_genPrivateKey "ecdsa")}}{{$ca}}#{{$ca.Cert}}#{{$ca.Key}}"#)
        .unwrap();
    let mut it = out.split('#');
    let (whole, cert, key) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    assert_eq!(whole, format!("{{{cert} {key}}}"));
    let t = render(r#"{{sprig_typeOf (sprig_genCAWithKey "p" 1 (sprig_genPrivateKey "ecdsa"))}}"#);
    assert_eq!(t.unwrap(), "sprig.certificate");
    let e = err(r#"{{(sprig_genCAWithKey "p" 1 (sprig_genPrivateKey "ecdsa")).Nope}}"#);
    assert!(e.contains("Nope"), "{e}");
}

#[test]
fn bad_inputs_give_sprigs_errors() {
    let cases = [
        (
            r#"{{sprig_genSelfSignedCert "a" (sprig_list "1.2.3") nil 1}}"#,
            "error parsing ip: 1.2.3",
        ),
        (
            r#"{{sprig_genSelfSignedCert "a" (sprig_list 5) nil 1}}"#,
            "error parsing ip: 5 is not a string",
        ),
        (
            r#"{{sprig_genSelfSignedCert "a" nil (sprig_list true) 1}}"#,
            "error processing alternate dns name: true is not a string",
        ),
        (
            r#"{{sprig_genSelfSignedCert "a" "1.2.3.4" nil 1}}"#,
            "wrong type for value; expected []interface {}; got string",
        ),
        (
            r#"{{sprig_genSignedCert "a" nil nil 1 (sprig_dict "Cert" "x" "Key" "y")}}"#,
            "wrong type for value; expected sprig.certificate; got map[string]interface {}",
        ),
        (
            r#"{{sprig_genSignedCert "a" nil nil 1 nil}}"#,
            "cannot assign nil to sprig.certificate",
        ),
        (
            r#"{{sprig_genCAWithKey "a" 1 "junk"}}"#,
            "parsing private key: no PEM data in input",
        ),
        (
            r#"{{sprig_buildCustomCert "!!" "eA=="}}"#,
            "unable to decode base64 certificate",
        ),
        (
            r#"{{sprig_buildCustomCert "eA==" "!!"}}"#,
            "unable to decode base64 private key",
        ),
        (
            r#"{{sprig_buildCustomCert "eA==" "eA=="}}"#,
            "unable to decode certificate",
        ),
        (
            r#"{{sprig_genCA "a" "1"}}"#,
            "expected integer; found \"1\"",
        ),
    ];
    for (src, want) in cases {
        let e = err(src);
        assert!(e.contains(want), "{src}: {e}");
    }
}

#[test]
fn a_custom_ca_with_a_wrong_key_is_refused() {
    let e = err(
        r#"{{$a := sprig_genCAWithKey "a" 1 (sprig_genPrivateKey "ecdsa")}}{{$b := sprig_genCAWithKey "b" 1 (sprig_genPrivateKey "ecdsa")}}{{$m := sprig_buildCustomCert (sprig_b64enc $a.Cert) (sprig_b64enc $b.Key)}}{{sprig_genSignedCert "x" nil nil 1 $m}}"#,
    );
    assert!(
        e.contains("error creating certificate: x509: provided PrivateKey doesn't match parent's PublicKey"),
        "{e}"
    );
}

#[test]
fn dsa_keys_cannot_sign_as_in_go() {
    // Sprig's DSA format {0, P, Q, G, Y, X}; Go reads it without checking the numbers.
    let dsa = pem_encode(
        "DSA PRIVATE KEY",
        vec![
            0x30, 0x12, 2, 1, 0, 2, 1, 23, 2, 1, 11, 2, 1, 4, 2, 1, 8, 2, 1, 3,
        ],
    )
    .replace('\n', "\\n");
    let e = err(&format!(r#"{{{{sprig_genCAWithKey "a" 1 "{dsa}"}}}}"#));
    assert!(
        e.contains("error creating certificate: x509: certificate private key does not implement crypto.Signer"),
        "{e}"
    );
    let e = err(&format!(
        r#"{{{{sprig_genSignedCertWithKey "a" nil nil 1 (sprig_genCAWithKey "ca" 1 (sprig_genPrivateKey "ecdsa")) "{dsa}"}}}}"#
    ));
    assert!(
        e.contains("error creating certificate: x509: unsupported public key type: *dsa.PublicKey"),
        "{e}"
    );
}

#[test]
fn rsa_keys_ring_cannot_sign_with_say_so() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let k = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
    let pem = pem_encode(
        "RSA PRIVATE KEY",
        k.to_pkcs1_der().unwrap().as_bytes().to_vec(),
    );
    let e = err(&format!(
        r#"{{{{sprig_genCAWithKey "a" 1 "{}"}}}}"#,
        pem.replace('\n', "\\n")
    ));
    assert!(
        e.contains("error creating certificate: x509: RSA keys of 1024 bits are not supported here (2048 to 8192)"),
        "{e}"
    );
}

#[test]
fn a_foreign_ca_keeps_its_subject_as_the_issuer() {
    // A CA not made by Sprig: several subject attributes, a PKCS#8 key.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CountryName, "DE");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Acme Ltd");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Acme Root");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&key).unwrap();
    let b64 = |s: &str| crate::gostr::base64_encode(s.as_bytes(), false);
    let src = format!(
        r#"{{{{$ca := sprig_buildCustomCert "{}" "{}"}}}}{{{{(sprig_genSignedCert "leaf" nil (sprig_list "a.example") 2 $ca).Cert}}}}"#,
        b64(&ca.pem()),
        b64(&key.serialize_pem())
    );
    let der = cert_der(&render(&src).unwrap());
    let (leaf, root) = (parse(&der), parse(ca.der()));
    assert_eq!(leaf.issuer().as_raw(), root.subject().as_raw());
    leaf.verify_signature(Some(root.public_key())).unwrap();
    assert_eq!(
        leaf.signature_algorithm.algorithm.to_id_string(),
        "1.2.840.10045.4.3.3"
    );
    let aki = leaf
        .extensions()
        .iter()
        .any(|e| e.oid.to_id_string() == "2.5.29.35");
    assert!(
        aki,
        "the CA has a subject key identifier: the leaf names it"
    );

    // A CA with an empty subject key identifier (rcgen cannot leave it out of a CA): no
    // authority key identifier, as in Go.
    let mut params = rcgen::CertificateParams::default();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(Vec::new());
    let bare = params.self_signed(&key).unwrap();
    let bare_der = bare.der().to_vec();
    let has = |der: &[u8], oid: &str| {
        parse(der)
            .extensions()
            .iter()
            .any(|e| e.oid.to_id_string() == oid)
    };
    let src = format!(
        r#"{{{{$ca := sprig_buildCustomCert "{}" "{}"}}}}{{{{(sprig_genSignedCert "leaf" nil nil 2 $ca).Cert}}}}"#,
        b64(&bare.pem()),
        b64(&key.serialize_pem())
    );
    let der = cert_der(&render(&src).unwrap());
    parse(&der)
        .verify_signature(Some(parse(&bare_der).public_key()))
        .unwrap();
    assert!(!has(&der, "2.5.29.35"), "no authority key identifier");
}
