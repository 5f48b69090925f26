//! Sprig's `crypto.go` password and cipher functions: `bcrypt htpasswd derivePassword
//! encryptAES decryptAES` (the digests live in `encoding.rs`), over RustCrypto and the
//! `bcrypt` crate.

use aes::cipher::block_padding::{NoPadding, Pkcs7};
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use minijinja::Value;
use rand::RngCore;
use sha2::Sha256;

use super::reg;
use crate::func::{arg_int, arg_str, Arity, FuncError, FuncMap};
use crate::gostr;

const SEED: &str = "com.lyndir.masterpassword";

/// Master Password templates per password type (Sprig's `passwordTypeTemplates`).
fn templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

/// The characters a template letter stands for.
fn class(c: u8) -> &'static [u8] {
    match c {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// Sprig's `derivePassword`: the Master Password algorithm (scrypt N=32768 r=8 p=2 over the
/// user, HMAC-SHA256 over the site and counter). Failures are the returned text, as in Sprig.
fn derive_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    let Some(temps) = templates(kind) else {
        return format!("cannot find password template {kind}");
    };
    let salted = |name: &str| {
        let mut b = SEED.as_bytes().to_vec();
        b.extend_from_slice(&(name.len() as u32).to_be_bytes());
        b.extend_from_slice(name.as_bytes());
        b
    };
    let mut key = [0u8; 64];
    let params = scrypt::Params::new(15, 8, 2, 64).expect("fixed scrypt parameters");
    if let Err(e) = scrypt::scrypt(password.as_bytes(), &salted(user), &params, &mut key) {
        return format!("failed to derive password: {e}");
    }
    let mut msg = salted(site);
    msg.extend_from_slice(&counter.to_be_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(&msg);
    let seed = mac.finalize().into_bytes();
    let temp = temps[usize::from(seed[0]) % temps.len()].as_bytes();
    temp.iter()
        .enumerate()
        .map(|(i, &t)| {
            let chars = class(t);
            char::from(chars[usize::from(seed[i + 1]) % chars.len()])
        })
        .collect()
}

/// The AES-256 key Sprig makes of a password: its bytes, zero-padded or cut to 32.
fn aes_key(password: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    let p = password.as_bytes();
    let n = p.len().min(32);
    key[..n].copy_from_slice(&p[..n]);
    key
}

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

/// Sprig's `encryptAES`: base64 of a random IV and the PKCS#7-padded AES-256-CBC ciphertext.
fn encrypt_aes(password: &str, text: &str) -> String {
    let mut iv = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut iv);
    let ct = Enc::new(&aes_key(password).into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(text.as_bytes());
    let mut out = iv.to_vec();
    out.extend_from_slice(&ct);
    gostr::base64_encode(&out, false)
}

/// Sprig's `decryptAES`: the last byte says how much padding to drop (not checked further).
fn decrypt_aes(password: &str, b64: &str) -> Result<String, FuncError> {
    if b64.is_empty() {
        return Ok(String::new());
    }
    let data = gostr::base64_decode(b64, false).map_err(FuncError::new)?;
    if data.len() < 16 {
        return Err(FuncError::new(format!(
            "runtime error: slice bounds out of range [:16] with capacity {}",
            data.len()
        )));
    }
    let (iv, ct) = data.split_at(16);
    let iv: [u8; 16] = iv.try_into().map_err(|_| FuncError::new("bad IV"))?;
    let plain = Dec::new(&aes_key(password).into(), &iv.into())
        .decrypt_padded_vec_mut::<NoPadding>(ct)
        .map_err(|_| FuncError::new("crypto/cipher: input not full blocks"))?;
    let pad = plain.last().map_or(0, |&b| usize::from(b));
    let keep = plain.len().checked_sub(pad).ok_or_else(|| {
        FuncError::new(format!(
            "runtime error: slice bounds out of range [:{}]",
            plain.len() as i64 - pad as i64
        ))
    })?;
    Ok(String::from_utf8_lossy(&plain[..keep]).into_owned())
}

/// Sprig's `bcrypt` (cost 10); a failure is the returned text, as in Sprig.
fn bcrypt_hash(input: &str) -> String {
    bcrypt::hash(input, bcrypt::DEFAULT_COST)
        .unwrap_or_else(|e| format!("failed to encrypt string with bcrypt: {e}"))
}

/// Registers the password and cipher functions.
pub(super) fn register(f: &mut FuncMap) {
    reg(f, "bcrypt", Arity::exact(1), |_, a| {
        Ok(bcrypt_hash(arg_str(a, 0)?).into())
    });
    reg(f, "htpasswd", Arity::exact(2), |_, a| {
        let user = arg_str(a, 0)?;
        if user.contains(':') {
            return Ok(format!("invalid username: {user}").into());
        }
        Ok(format!("{user}:{}", bcrypt_hash(arg_str(a, 1)?)).into())
    });
    reg(f, "derivePassword", Arity::exact(5), |_, a| {
        let counter = u32::try_from(arg_int(a, 0)?)
            .map_err(|_| FuncError::new("counter must be a uint32"))?;
        let s = |i| arg_str(a, i);
        Ok(derive_password(counter, s(1)?, s(2)?, s(3)?, s(4)?).into())
    });
    reg(f, "encryptAES", Arity::exact(2), |_, a| {
        Ok(encrypt_aes(arg_str(a, 0)?, arg_str(a, 1)?).into())
    });
    reg(f, "decryptAES", Arity::exact(2), |_, a| {
        Ok(Value::from(decrypt_aes(arg_str(a, 0)?, arg_str(a, 1)?)?))
    });
}

#[cfg(test)]
mod tests {
    use super::super::super::tests::render;

    #[test]
    fn encrypt_aes_round_trips_and_uses_a_fresh_iv() {
        let a = render(r#"{{sprig_encryptAES "secretkey" "plain text"}}"#).unwrap();
        let b = render(r#"{{sprig_encryptAES "secretkey" "plain text"}}"#).unwrap();
        assert_ne!(a, b, "a random IV each time");
        // IV + one padded block, base64.
        assert_eq!(crate::gostr::base64_decode(&a, false).unwrap().len(), 32);
        let back = render(&format!(r#"{{{{sprig_decryptAES "secretkey" "{a}"}}}}"#)).unwrap();
        assert_eq!(back, "plain text");
        let long = "k".repeat(40);
        let t = render(&format!(
            r#"{{{{sprig_encryptAES "{long}" "x" | sprig_decryptAES "{long}"}}}}"#
        ))
        .unwrap();
        assert_eq!(t, "x");
    }

    #[test]
    fn bcrypt_and_htpasswd_hashes_verify() {
        let h = render(r#"{{sprig_bcrypt "hunter2"}}"#).unwrap();
        assert!(h.starts_with("$2"), "{h}");
        assert!(bcrypt::verify("hunter2", &h).unwrap());
        assert!(!bcrypt::verify("hunter3", &h).unwrap());
        let line = render(r#"{{sprig_htpasswd "alice" "pw"}}"#).unwrap();
        let (user, hash) = line.split_once(':').unwrap();
        assert_eq!(user, "alice");
        assert!(bcrypt::verify("pw", hash).unwrap());
        assert_eq!(
            render(r#"{{sprig_htpasswd "a:b" "pw"}}"#).unwrap(),
            "invalid username: a:b"
        );
    }
}
