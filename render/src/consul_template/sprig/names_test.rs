//! The whole of `sprig.HermeticTxtFuncMap()` (Sprig v3.3.0's `genericMap` less its
//! `nonhermeticFunctions`) must be registered under `sprig_`, and nothing else.

use crate::func::FuncMap;

/// Every name of the hermetic map, sorted.
const HERMETIC: &[&str] = &[
    "abbrev",
    "abbrevboth",
    "add",
    "add1",
    "add1f",
    "addf",
    "adler32sum",
    "ago",
    "all",
    "any",
    "append",
    "atoi",
    "b32dec",
    "b32enc",
    "b64dec",
    "b64enc",
    "base",
    "bcrypt",
    "biggest",
    "buildCustomCert",
    "camelcase",
    "cat",
    "ceil",
    "chunk",
    "clean",
    "coalesce",
    "compact",
    "concat",
    "contains",
    "decryptAES",
    "deepCopy",
    "deepEqual",
    "default",
    "derivePassword",
    "dict",
    "dig",
    "dir",
    "div",
    "divf",
    "duration",
    "durationRound",
    "empty",
    "encryptAES",
    "ext",
    "fail",
    "first",
    "float64",
    "floor",
    "fromJson",
    "genCA",
    "genCAWithKey",
    "genPrivateKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "get",
    "has",
    "hasKey",
    "hasPrefix",
    "hasSuffix",
    "hello",
    "htpasswd",
    "indent",
    "initial",
    "initials",
    "int",
    "int64",
    "isAbs",
    "join",
    "kebabcase",
    "keys",
    "kindIs",
    "kindOf",
    "last",
    "list",
    "lower",
    "max",
    "maxf",
    "merge",
    "mergeOverwrite",
    "min",
    "minf",
    "mod",
    "mul",
    "mulf",
    "mustAppend",
    "mustChunk",
    "mustCompact",
    "mustDateModify",
    "mustDeepCopy",
    "mustFirst",
    "mustFromJson",
    "mustHas",
    "mustInitial",
    "mustLast",
    "mustMerge",
    "mustMergeOverwrite",
    "mustPrepend",
    "mustPush",
    "mustRegexFind",
    "mustRegexFindAll",
    "mustRegexMatch",
    "mustRegexReplaceAll",
    "mustRegexReplaceAllLiteral",
    "mustRegexSplit",
    "mustRest",
    "mustReverse",
    "mustSlice",
    "mustToDate",
    "mustToJson",
    "mustToPrettyJson",
    "mustToRawJson",
    "mustUniq",
    "mustWithout",
    "must_date_modify",
    "nindent",
    "nospace",
    "omit",
    "osBase",
    "osClean",
    "osDir",
    "osExt",
    "osIsAbs",
    "pick",
    "pluck",
    "plural",
    "prepend",
    "push",
    "quote",
    "randInt",
    "regexFind",
    "regexFindAll",
    "regexMatch",
    "regexQuoteMeta",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "regexSplit",
    "repeat",
    "replace",
    "rest",
    "reverse",
    "round",
    "semver",
    "semverCompare",
    "seq",
    "set",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "shuffle",
    "slice",
    "snakecase",
    "sortAlpha",
    "split",
    "splitList",
    "splitn",
    "squote",
    "sub",
    "subf",
    "substr",
    "swapcase",
    "ternary",
    "title",
    "toDate",
    "toDecimal",
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "toString",
    "toStrings",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "trimall",
    "trunc",
    "tuple",
    "typeIs",
    "typeIsLike",
    "typeOf",
    "uniq",
    "unixEpoch",
    "unset",
    "until",
    "untilStep",
    "untitle",
    "upper",
    "urlJoin",
    "urlParse",
    "values",
    "without",
    "wrap",
    "wrapWith",
];

use super::NOT_IMPLEMENTED as PENDING;

#[test]
fn every_hermetic_sprig_name_is_registered() {
    let mut funcs = FuncMap::new();
    super::register(&mut funcs);
    let missing: Vec<&str> = HERMETIC
        .iter()
        .copied()
        .filter(|n| !funcs.contains(&format!("sprig_{n}")))
        .collect();
    assert!(missing.is_empty(), "not registered: {missing:?}");
    // The pending ones are registered and fail by name.
    for n in PENDING {
        assert!(HERMETIC.contains(n), "{n} is not a hermetic name");
        let src = format!("{{{{ sprig_{n} }}}}");
        let e = crate::consul_template::tests::render(&src)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!(
                "sprig_{n}: not implemented by this consul-template"
            )),
            "{n}: {e}"
        );
    }
    // The others are real: none fails as a stub (called bare, most fail on their arguments).
    for n in HERMETIC.iter().filter(|n| !PENDING.contains(n)) {
        let src = format!("{{{{ sprig_{n} }}}}");
        if let Err(e) = crate::consul_template::tests::render(&src) {
            let e = e.to_string();
            assert!(!e.contains("not implemented by this"), "{n}: {e}");
        }
    }
    let extra: Vec<&str> = funcs
        .names()
        .filter_map(|n| n.strip_prefix("sprig_"))
        .filter(|n| !HERMETIC.contains(n))
        .collect();
    assert!(extra.is_empty(), "not in the hermetic map: {extra:?}");
    assert_eq!(HERMETIC.len(), 194);
}
