//! Sprig's private keys (`crypto.go`): `genPrivateKey`, and the key model the certificate
//! functions share: generation, Sprig's PEM encodings (`pemBlockForKey`) and its lenient
//! reading of a PEM key (`parsePrivateKeyPEM`).
//!
//! Encodings as in Go: RSA is PKCS#1 `RSA PRIVATE KEY`, DSA the OpenSSL sequence
//! `{0, P, Q, G, Y, X}` as `DSA PRIVATE KEY`, ECDSA SEC1 `EC PRIVATE KEY` (curve and public key
//! included), Ed25519 PKCS#8 v1 `PRIVATE KEY`.

use der::asn1::Uint;
use der::{Decode, Encode, Sequence};
use minijinja::Value;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, ObjectIdentifier, PrivateKeyInfo};

use super::reg;
use crate::func::{arg_str, Arity, FuncMap};

/// Bits of `genPrivateKey "rsa"` (Sprig's "good enough for government work").
const RSA_BITS_PRIVATE_KEY: usize = 4096;
/// Bits of the keys `genCA`, `genSelfSignedCert` and `genSignedCert` make.
pub(super) const RSA_BITS_CERT: usize = 2048;

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// Go's text for a curve it does not know (here: any but P-256 and P-384).
const UNKNOWN_CURVE: &str = "x509: unknown elliptic curve";

/// Go's `crypto.Signer` check in `x509.CreateCertificate`, which `*dsa.PrivateKey` fails.
const DSA_NOT_SIGNER: &str = "x509: certificate private key does not implement crypto.Signer";
/// `x509.CreateCertificate` for a certificate whose own key is DSA.
pub(super) const DSA_PUBLIC_UNSUPPORTED: &str = "x509: unsupported public key type: *dsa.PublicKey";

/// Sprig's `DSAKeyFormat`: the OpenSSL DSA private key sequence.
#[derive(Debug, Clone, Sequence)]
struct DsaKeyFormat {
    version: u8,
    p: Uint,
    q: Uint,
    g: Uint,
    y: Uint,
    x: Uint,
}

/// A private key of a type Sprig generates or reads.
#[derive(Debug, Clone)]
pub(super) enum PrivKey {
    /// `*rsa.PrivateKey`.
    Rsa(Box<rsa::RsaPrivateKey>),
    /// `*dsa.PrivateKey`: kept as its encoding, since Go cannot sign certificates with it.
    Dsa(Vec<u8>),
    /// `*ecdsa.PrivateKey` on P-256.
    P256(p256::SecretKey),
    /// `*ecdsa.PrivateKey` on P-384.
    P384(p384::SecretKey),
    /// `ed25519.PrivateKey`: its 32-byte seed.
    Ed25519([u8; 32]),
}

impl PrivKey {
    /// A new RSA key of `bits` bits.
    pub(super) fn rsa(bits: usize) -> Result<Self, String> {
        rsa::RsaPrivateKey::new(&mut rand::thread_rng(), bits)
            .map(|k| PrivKey::Rsa(Box::new(k)))
            .map_err(|e| e.to_string())
    }

    /// A new DSA key over fresh L2048 N256 parameters.
    fn dsa() -> Result<Self, String> {
        let mut rng = rand::thread_rng();
        let params = dsa::Components::generate(&mut rng, dsa::KeySize::DSA_2048_256);
        let key = dsa::SigningKey::generate(&mut rng, params);
        let c = key.verifying_key().components();
        let uint = |n: &dsa::BigUint| Uint::new(&n.to_bytes_be()).map_err(|e| e.to_string());
        let format = DsaKeyFormat {
            version: 0,
            p: uint(c.p())?,
            q: uint(c.q())?,
            g: uint(c.g())?,
            y: uint(key.verifying_key().y())?,
            x: uint(key.x())?,
        };
        format.to_der().map(PrivKey::Dsa).map_err(|e| e.to_string())
    }

    /// Sprig's `pemBlockForKey`, PEM-encoded as Go's `pem.Encode` writes it.
    pub(super) fn to_pem(&self) -> Result<String, String> {
        let (label, der) = match self {
            PrivKey::Rsa(k) => (
                "RSA PRIVATE KEY",
                k.to_pkcs1_der()
                    .map_err(|e| e.to_string())?
                    .as_bytes()
                    .to_vec(),
            ),
            PrivKey::Dsa(der) => ("DSA PRIVATE KEY", der.clone()),
            PrivKey::P256(k) => {
                let public = k.public_key().to_encoded_point(false);
                (
                    "EC PRIVATE KEY",
                    ec_der(&k.to_bytes(), public.as_bytes(), OID_P256)?,
                )
            }
            PrivKey::P384(k) => {
                let public = k.public_key().to_encoded_point(false);
                (
                    "EC PRIVATE KEY",
                    ec_der(&k.to_bytes(), public.as_bytes(), OID_P384)?,
                )
            }
            PrivKey::Ed25519(_) => ("PRIVATE KEY", self.to_pkcs8()?),
        };
        Ok(pem_encode(label, der))
    }

    /// PKCS#8, the form ring signs with; `Err` with Go's text for DSA.
    pub(super) fn to_pkcs8(&self) -> Result<Vec<u8>, String> {
        let doc = match self {
            PrivKey::Rsa(k) => k.to_pkcs8_der(),
            PrivKey::Dsa(_) => return Err(DSA_NOT_SIGNER.to_string()),
            PrivKey::P256(k) => k.to_pkcs8_der(),
            PrivKey::P384(k) => k.to_pkcs8_der(),
            PrivKey::Ed25519(seed) => ed25519::KeypairBytes {
                secret_key: *seed,
                public_key: None,
            }
            .to_pkcs8_der(),
        };
        doc.map(|d| d.as_bytes().to_vec())
            .map_err(|e| e.to_string())
    }
}

/// Go's `x509.MarshalECPrivateKey`: SEC1 with the named curve and the uncompressed public key
/// (RustCrypto's `to_sec1_der` leaves the curve out).
fn ec_der(private: &[u8], public: &[u8], curve: ObjectIdentifier) -> Result<Vec<u8>, String> {
    sec1::EcPrivateKey {
        private_key: private,
        parameters: Some(sec1::EcParameters::NamedCurve(curve)),
        public_key: Some(public),
    }
    .to_der()
    .map_err(|e| e.to_string())
}

/// Go's `pem.Encode`: LF line ends, 64-column base64, a final newline.
pub(super) fn pem_encode(label: &str, der: Vec<u8>) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(label, der), config)
}

/// Go's `pem.Decode`: the first PEM block in `text` (text around it ignored), or `None`.
pub(super) fn pem_decode(text: &str) -> Option<pem::Pem> {
    let start = text.find("-----BEGIN ")?;
    pem::parse(&text[start..]).ok()
}

/// Sprig's `parsePrivateKeyPEM`, with its error texts (the parsers' own details differ).
pub(super) fn parse_private_key_pem(text: &str) -> Result<PrivKey, String> {
    let block = pem_decode(text).ok_or("no PEM data in input")?;
    let der = block.contents();
    let tag = block.tag();
    if tag == "PRIVATE KEY" {
        return parse_pkcs8(der).map_err(|e| format!("decoding PEM as PKCS#8: {e}"));
    }
    let Some(kind) = tag.strip_suffix(" PRIVATE KEY") else {
        return Err(format!("no private key data in PEM block of type {tag}"));
    };
    match kind {
        "RSA" => rsa::RsaPrivateKey::from_pkcs1_der(der)
            .map(|k| PrivKey::Rsa(Box::new(k)))
            .map_err(|e| format!("parsing RSA private key from PEM: x509: {e}")),
        "EC" => parse_sec1(der).map_err(|e| format!("parsing EC private key from PEM: {e}")),
        "DSA" => DsaKeyFormat::from_der(der)
            .map(|_| PrivKey::Dsa(der.to_vec()))
            .map_err(|e| format!("parsing DSA private key from PEM: asn1: {e}")),
        _ => Err(format!("invalid private key type {tag}")),
    }
}

/// Go's `x509.ParseECPrivateKey`: the curve is the one the key names.
fn parse_sec1(der: &[u8]) -> Result<PrivKey, String> {
    let key = sec1::EcPrivateKey::from_der(der)
        .map_err(|e| format!("x509: failed to parse EC private key: {e}"))?;
    let bad = |e: &dyn std::fmt::Display| format!("x509: failed to parse EC private key: {e}");
    match key.parameters.and_then(|p| p.named_curve()) {
        Some(c) if c == OID_P256 => p256::SecretKey::from_sec1_der(der)
            .map(PrivKey::P256)
            .map_err(|e| bad(&e)),
        Some(c) if c == OID_P384 => p384::SecretKey::from_sec1_der(der)
            .map(PrivKey::P384)
            .map_err(|e| bad(&e)),
        _ => Err(UNKNOWN_CURVE.to_string()),
    }
}

/// Go's `x509.ParsePKCS8PrivateKey` for the algorithms ring can sign with.
fn parse_pkcs8(der: &[u8]) -> Result<PrivKey, String> {
    let info = PrivateKeyInfo::try_from(der).map_err(|e| format!("x509: {e}"))?;
    let oid = info.algorithm.oid;
    let bad = |e: &dyn std::fmt::Display| format!("x509: failed to parse private key: {e}");
    if oid == OID_RSA {
        rsa::RsaPrivateKey::from_pkcs8_der(der)
            .map(|k| PrivKey::Rsa(Box::new(k)))
            .map_err(|e| bad(&e))
    } else if oid == OID_ED25519 {
        ed25519::KeypairBytes::from_pkcs8_der(der)
            .map(|k| PrivKey::Ed25519(k.secret_key))
            .map_err(|e| bad(&e))
    } else if oid == OID_EC {
        let curve = info.algorithm.parameters_oid().ok();
        match curve {
            Some(c) if c == OID_P256 => p256::SecretKey::from_pkcs8_der(der)
                .map(PrivKey::P256)
                .map_err(|e| bad(&e)),
            Some(c) if c == OID_P384 => p384::SecretKey::from_pkcs8_der(der)
                .map(PrivKey::P384)
                .map_err(|e| bad(&e)),
            _ => Err(UNKNOWN_CURVE.to_string()),
        }
    } else {
        Err(format!(
            "x509: PKCS#8 wrapping contained private key with unknown algorithm: {oid}"
        ))
    }
}

/// A key type `genPrivateKey` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyKind {
    /// RSA, 4096 bits.
    Rsa,
    /// DSA over L2048 N256 parameters.
    Dsa,
    /// ECDSA on P-256.
    Ecdsa,
    /// Ed25519.
    Ed25519,
}

impl KeyKind {
    /// The kind `genPrivateKey` takes `name` for (`""` is RSA).
    pub(super) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "" | "rsa" => KeyKind::Rsa,
            "dsa" => KeyKind::Dsa,
            "ecdsa" => KeyKind::Ecdsa,
            "ed25519" => KeyKind::Ed25519,
            _ => return None,
        })
    }

    /// A new key of this kind.
    fn generate(self) -> Result<PrivKey, String> {
        match self {
            KeyKind::Rsa => PrivKey::rsa(RSA_BITS_PRIVATE_KEY),
            KeyKind::Dsa => PrivKey::dsa(),
            KeyKind::Ecdsa => Ok(PrivKey::P256(p256::SecretKey::random(
                &mut rand::thread_rng(),
            ))),
            KeyKind::Ed25519 => {
                let mut seed = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut seed);
                Ok(PrivKey::Ed25519(seed))
            }
        }
    }
}

/// Sprig's `generatePrivateKey`: the PEM, or the failure as the returned text.
fn gen_private_key(name: &str) -> String {
    let Some(kind) = KeyKind::from_name(name) else {
        return format!("Unknown type {name}");
    };
    match kind.generate().and_then(|k| k.to_pem()) {
        Ok(pem) => pem,
        Err(e) => format!("failed to generate private key: {e}"),
    }
}

/// Registers `genPrivateKey`.
pub(super) fn register(funcs: &mut FuncMap) {
    reg(funcs, "genPrivateKey", Arity::exact(1), |_, a| {
        Ok(Value::from(gen_private_key(arg_str(a, 0)?)))
    });
}
