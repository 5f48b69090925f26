//! `genPrivateKey` and Sprig's PEM key reading: each key type parses back as what Sprig makes.

use der::{Decode, Tagged};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;

use super::super::tests::render;
use super::keys::{parse_private_key_pem, pem_encode, KeyKind, PrivKey};

/// The label and DER of the one PEM block in `text`, checking Go's `pem.Encode` layout.
fn pem_block(text: &str) -> (String, Vec<u8>) {
    assert!(text.ends_with("-----\n"), "one final LF: {text:?}");
    assert!(!text.contains('\r'), "LF line ends");
    assert!(text.lines().all(|l| l.len() <= 64), "64 columns");
    let p = pem::parse(text).expect("PEM");
    (p.tag().to_string(), p.contents().to_vec())
}

#[test]
fn ecdsa_is_a_sec1_p256_key() {
    let out = render(r#"{{sprig_genPrivateKey "ecdsa"}}"#).unwrap();
    let (label, der) = pem_block(&out);
    assert_eq!(label, "EC PRIVATE KEY");
    let key = p256::SecretKey::from_sec1_der(&der).expect("SEC1 P-256");
    // Go's MarshalECPrivateKey names the curve and carries the public key.
    let info = sec1_fields(&der);
    assert_eq!(info, (true, true));
    assert!(p384::SecretKey::from_sec1_der(&der).is_err());
    let other = render(r#"{{sprig_genPrivateKey "ecdsa"}}"#).unwrap();
    assert_ne!(out, other, "fresh keys");
    assert!(matches!(parse_private_key_pem(&out), Ok(PrivKey::P256(k)) if k == key));
}

/// Whether a SEC1 key has its `[0]` curve and `[1]` public key.
fn sec1_fields(der: &[u8]) -> (bool, bool) {
    let any = der::asn1::Any::from_der(der).unwrap();
    let seq: Vec<der::asn1::Any> = any.decode_as().unwrap();
    let tags: Vec<u8> = seq.iter().map(|f| f.tag().octet()).collect();
    (tags.contains(&0xa0), tags.contains(&0xa1))
}

#[test]
fn rsa_is_a_4096_bit_pkcs1_key() {
    let out = render(r#"{{sprig_genPrivateKey "rsa"}}"#).unwrap();
    let (label, der) = pem_block(&out);
    assert_eq!(label, "RSA PRIVATE KEY");
    let key = rsa::RsaPrivateKey::from_pkcs1_der(&der).expect("PKCS#1");
    assert_eq!(key.n().bits(), 4096);
    key.validate().unwrap();
}

#[test]
fn the_empty_type_is_rsa() {
    // Not generated here: a 4096-bit key takes seconds.
    assert_eq!(KeyKind::from_name(""), Some(KeyKind::Rsa));
    assert_eq!(KeyKind::from_name("rsa"), Some(KeyKind::Rsa));
    assert_eq!(KeyKind::from_name("RSA"), None, "names are case-sensitive");
}

#[test]
fn dsa_is_an_openssl_l2048_n256_key() {
    let out = render(r#"{{sprig_genPrivateKey "dsa"}}"#).unwrap();
    let (label, der) = pem_block(&out);
    assert_eq!(label, "DSA PRIVATE KEY");
    let f: Vec<der::asn1::Uint> = der::asn1::Any::from_der(&der).unwrap().decode_as().unwrap();
    assert_eq!(f.len(), 6, "version P Q G Y X");
    let n = |i: usize| dsa::BigUint::from_bytes_be(f[i].as_bytes());
    assert_eq!(n(0), dsa::BigUint::from(0u8));
    let (p, q, g, y, x) = (n(1), n(2), n(3), n(4), n(5));
    assert_eq!(p.bits(), 2048);
    assert_eq!(q.bits(), 256);
    assert_eq!(g.modpow(&x, &p), y, "Y = G^X mod P");
    assert_eq!((&p - 1u8) % &q, dsa::BigUint::from(0u8), "Q divides P-1");
    assert!(matches!(parse_private_key_pem(&out), Ok(PrivKey::Dsa(d)) if d == der));
}

#[test]
fn ed25519_is_a_pkcs8_v1_key() {
    let out = render(r#"{{sprig_genPrivateKey "ed25519"}}"#).unwrap();
    let (label, der) = pem_block(&out);
    assert_eq!(label, "PRIVATE KEY");
    let info = rsa::pkcs8::PrivateKeyInfo::try_from(der.as_slice()).unwrap();
    assert_eq!(info.algorithm.oid.to_string(), "1.3.101.112");
    assert!(
        info.public_key.is_none(),
        "Go writes PKCS#8 v1, no public key"
    );
    assert_eq!(
        der.len(),
        48,
        "Go's MarshalPKCS8PrivateKey size for Ed25519"
    );
    assert!(matches!(
        parse_private_key_pem(&out),
        Ok(PrivKey::Ed25519(_))
    ));
}

#[test]
fn unknown_type_is_the_returned_text() {
    assert_eq!(
        render(r#"{{sprig_genPrivateKey "rsa2"}}"#).unwrap(),
        "Unknown type rsa2"
    );
    let e = render(r#"{{sprig_genPrivateKey}}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("wrong number of args"), "{e}");
}

#[test]
fn reading_pem_keys_follows_parse_private_key_pem() {
    let err = |s: &str| parse_private_key_pem(s).unwrap_err();
    assert_eq!(err("junk"), "no PEM data in input");
    assert_eq!(
        err(&pem_encode("CERTIFICATE", vec![1])),
        "no private key data in PEM block of type CERTIFICATE"
    );
    assert_eq!(
        err(&pem_encode("FOO PRIVATE KEY", vec![1])),
        "invalid private key type FOO PRIVATE KEY"
    );
    assert!(err(&pem_encode("RSA PRIVATE KEY", vec![1]))
        .starts_with("parsing RSA private key from PEM: "));
    assert!(err(&pem_encode("EC PRIVATE KEY", vec![1]))
        .starts_with("parsing EC private key from PEM: "));
    assert!(err(&pem_encode("DSA PRIVATE KEY", vec![1]))
        .starts_with("parsing DSA private key from PEM: "));
    assert!(err(&pem_encode("PRIVATE KEY", vec![1])).starts_with("decoding PEM as PKCS#8: "));
    // Text around the block is ignored, as by Go's pem.Decode.
    let ec = render(r#"{{sprig_genPrivateKey "ecdsa"}}"#).unwrap();
    assert!(matches!(
        parse_private_key_pem(&format!("leading text\n{ec}trailing")),
        Ok(PrivKey::P256(_))
    ));
}

#[test]
fn pkcs8_keys_read_as_their_algorithm() {
    use rsa::pkcs8::EncodePrivateKey;
    let p256 = p256::SecretKey::random(&mut rand::thread_rng());
    let pem = pem_encode(
        "PRIVATE KEY",
        p256.to_pkcs8_der().unwrap().as_bytes().to_vec(),
    );
    assert!(matches!(parse_private_key_pem(&pem), Ok(PrivKey::P256(k)) if k == p256));
    let p384 = p384::SecretKey::random(&mut rand::thread_rng());
    let pem = pem_encode(
        "PRIVATE KEY",
        p384.to_pkcs8_der().unwrap().as_bytes().to_vec(),
    );
    assert!(matches!(parse_private_key_pem(&pem), Ok(PrivKey::P384(k)) if k == p384));
}

#[test]
fn sec1_keys_need_a_curve_ring_signs_on() {
    let sec1 = |curve: Option<&str>, len: usize| {
        let private = vec![1u8; len];
        let key = sec1::EcPrivateKey {
            private_key: &private,
            parameters: curve.map(|c| sec1::EcParameters::NamedCurve(c.parse().unwrap())),
            public_key: None,
        };
        pem_encode("EC PRIVATE KEY", der::Encode::to_der(&key).unwrap())
    };
    // P-521 and P-224 read in Go; not here.
    for key in [
        sec1(Some("1.3.132.0.35"), 66),
        sec1(Some("1.3.132.0.33"), 28),
        sec1(None, 32),
    ] {
        assert_eq!(
            parse_private_key_pem(&key).unwrap_err(),
            "parsing EC private key from PEM: x509: unknown elliptic curve"
        );
    }
    assert!(matches!(
        parse_private_key_pem(&sec1(Some("1.2.840.10045.3.1.7"), 32)),
        Ok(PrivKey::P256(_))
    ));
    assert!(matches!(
        parse_private_key_pem(&sec1(Some("1.3.132.0.34"), 48)),
        Ok(PrivKey::P384(_))
    ));
}
