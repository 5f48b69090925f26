//! Sprig's encodings, digests and paths: `b64enc b64dec b32enc b32dec`, `sha1sum sha256sum
//! sha512sum adler32sum`, and `base dir clean ext isAbs` with their `os*` twins (on Unix
//! `path/filepath` and `path` agree).

use minijinja::Value;
use sha2::{Digest, Sha256, Sha512};

use super::reg;
use crate::func::{arg_str, Arity, FuncMap};
use crate::gostr;

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `base32.StdEncoding.EncodeToString` (padded).
fn b32_encode(src: &[u8]) -> String {
    let mut out = String::new();
    for chunk in src.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                out.push(char::from(B32[((n >> (35 - 5 * i)) & 31) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `base32.StdEncoding.DecodeString`; the error is Go's `illegal base32 data at input byte N`.
fn b32_decode(src: &str) -> Result<Vec<u8>, String> {
    // Go drops \r and \n before decoding.
    let src: Vec<u8> = src.bytes().filter(|&b| b != b'\r' && b != b'\n').collect();
    let bad = |at: usize| format!("illegal base32 data at input byte {at}");
    let mut out = Vec::new();
    let mut i = 0;
    while i < src.len() {
        let block = &src[i..src.len().min(i + 8)];
        let mut n: u64 = 0;
        let mut chars = 0;
        for (j, &c) in block.iter().enumerate() {
            if c == b'=' {
                // Padding ends the input; the rest of the block must be padding too.
                if block.len() < 8 || block[j..].iter().any(|&p| p != b'=') || j < 2 {
                    return Err(bad(i + j));
                }
                if !matches!(j, 2 | 4 | 5 | 7) {
                    return Err(bad(i + j));
                }
                break;
            }
            let Some(v) = B32.iter().position(|&a| a == c) else {
                return Err(bad(i + j));
            };
            n |= (v as u64) << (35 - 5 * j);
            chars += 1;
        }
        if chars < 8 && (block.len() < 8 || i + 8 < src.len()) {
            return Err(bad(i + chars.min(block.len())));
        }
        let bytes = match chars {
            2 => 1,
            4 => 2,
            5 => 3,
            7 => 4,
            _ => 5,
        };
        let all = n.to_be_bytes();
        out.extend_from_slice(&all[3..3 + bytes]);
        i += 8;
    }
    Ok(out)
}

/// Adler-32 (`hash/adler32.Checksum`).
fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &d in data {
        a = (a + u32::from(d)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// SHA-1 (`crypto/sha1.Sum`), FIPS 180-4.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// Go's `path.Ext`.
fn ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        if c == '/' {
            break;
        }
        if c == '.' {
            return p[i..].to_string();
        }
    }
    String::new()
}

/// Registers the encoding, digest and path functions.
pub(super) fn register(f: &mut FuncMap) {
    reg(f, "b64enc", Arity::exact(1), |_, a| {
        Ok(gostr::base64_encode(arg_str(a, 0)?.as_bytes(), false).into())
    });
    reg(f, "b64dec", Arity::exact(1), |_, a| {
        Ok(match gostr::base64_decode(arg_str(a, 0)?, false) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => e,
        }
        .into())
    });
    reg(f, "b32enc", Arity::exact(1), |_, a| {
        Ok(b32_encode(arg_str(a, 0)?.as_bytes()).into())
    });
    reg(f, "b32dec", Arity::exact(1), |_, a| {
        Ok(match b32_decode(arg_str(a, 0)?) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => e,
        }
        .into())
    });
    reg(f, "sha1sum", Arity::exact(1), |_, a| {
        Ok(hex::encode(sha1(arg_str(a, 0)?.as_bytes())).into())
    });
    reg(f, "sha256sum", Arity::exact(1), |_, a| {
        Ok(hex::encode(Sha256::digest(arg_str(a, 0)?.as_bytes())).into())
    });
    reg(f, "sha512sum", Arity::exact(1), |_, a| {
        Ok(hex::encode(Sha512::digest(arg_str(a, 0)?.as_bytes())).into())
    });
    reg(f, "adler32sum", Arity::exact(1), |_, a| {
        Ok(adler32(arg_str(a, 0)?.as_bytes()).to_string().into())
    });
    for os in ["", "os"] {
        let name = |n: &str| {
            if os.is_empty() {
                n.to_string()
            } else {
                let mut c = n.chars();
                let first = c.next().map(|c| c.to_ascii_uppercase()).unwrap_or(' ');
                format!("os{first}{}", c.as_str())
            }
        };
        reg(f, &name("base"), Arity::exact(1), |_, a| {
            Ok(gostr::path_base(arg_str(a, 0)?).into())
        });
        reg(f, &name("dir"), Arity::exact(1), |_, a| {
            Ok(gostr::path_dir(arg_str(a, 0)?).into())
        });
        reg(f, &name("clean"), Arity::exact(1), |_, a| {
            Ok(gostr::path_clean(arg_str(a, 0)?).into())
        });
        reg(f, &name("ext"), Arity::exact(1), |_, a| {
            Ok(ext(arg_str(a, 0)?).into())
        });
        reg(f, &name("isAbs"), Arity::exact(1), |_, a| {
            Ok(Value::from(arg_str(a, 0)?.starts_with('/')))
        });
    }
}
