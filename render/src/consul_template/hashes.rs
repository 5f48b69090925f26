//! consul-template's digests: `md5sum`, `sha256Hex` and `hmacSHA256Hex`, each the lowercase hex
//! of the digest of the string's bytes.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::confd::arg_bytes;
use crate::func::{Arity, FuncError, FuncMap};

/// `hmacSHA256Hex message key`.
fn hmac_sha256_hex(message: &[u8], key: &[u8]) -> Result<String, FuncError> {
    // HMAC takes a key of any length; the error cannot happen.
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .map_err(|e| FuncError::new(format!("hmacSHA256Hex: {e}")))?;
    mac.update(message);
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// Registers the digest functions.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("md5sum", Arity::exact(1), |_, a| {
        Ok(hex::encode(Md5::digest(arg_bytes(a, 0)?)).into())
    });
    funcs.insert("sha256Hex", Arity::exact(1), |_, a| {
        Ok(hex::encode(Sha256::digest(arg_bytes(a, 0)?)).into())
    });
    funcs.insert("hmacSHA256Hex", Arity::exact(2), |_, a| {
        Ok(hmac_sha256_hex(arg_bytes(a, 0)?, arg_bytes(a, 1)?)?.into())
    });
}

#[cfg(test)]
mod tests {
    use super::super::tests::render;

    #[test]
    fn digests_match_upstream() {
        // template/funcs_test.go Test_md5sum, Test_sha256Hex, Test_hmacSHA256Hex.
        assert_eq!(
            render(r#"{{md5sum "bladibla"}}"#).unwrap(),
            "c6886abd136f7daece35aebb01f1b713"
        );
        assert_eq!(
            render(r#"{{sha256Hex "bladibla"}}"#).unwrap(),
            "54cf4c66bcabb5c20e25331c01dd600b73369e97a947861bd8d3a0e0b8b3d70b"
        );
        assert_eq!(
            render(r#"{{hmacSHA256Hex "bladibla" "foobar"}}"#).unwrap(),
            "82cd4c36fa45a1936e93d005ea2fd008350339bb9246a3ba0c8dfecb9d77155b"
        );
        // template/template_test.go func_hmacSHA256Hex.
        assert_eq!(
            render(r#"{{hmacSHA256Hex "somemessage" "somekey"}}"#).unwrap(),
            "6116e95f2827172aa6ef8b22b883f6a77e966aefc129c6b8228ebd0aac74e98d"
        );
        // The parameters are Go strings: a number is a type error.
        let e = render("{{md5sum 1}}").unwrap_err().to_string();
        assert!(e.contains("expected string; got int"), "{e}");
    }
}
