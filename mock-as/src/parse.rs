//! Hand-written parsers for the small protocol strings no well-kept crate covers exactly as the
//! RFCs write them: scope strings, HTTP Basic client credentials (with RFC 6749's extra
//! form-encoding), form bodies that must reject repeated parameters, PKCE values, and Descope's
//! `Bearer <pid>:<secret>`. Each returns a typed error and never panics (proptested).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use thiserror::Error;

/// Why a string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// A scope token had a character outside RFC 6749 §3.3's `scope-token`.
    #[error("scope {0:?} has a character not allowed in a scope token (RFC 6749 §3.3)")]
    BadScopeChar(String),
    /// The Authorization header is not `Basic <base64>`.
    #[error("Authorization is not HTTP Basic")]
    NotBasic,
    /// Basic credentials are not valid base64.
    #[error("Basic credentials are not valid base64")]
    BadBase64,
    /// Basic credentials have no `:`.
    #[error("Basic credentials have no ':' between client id and secret")]
    NoColon,
    /// Basic credentials are not UTF-8 after decoding.
    #[error("Basic credentials are not UTF-8")]
    NotUtf8,
    /// A form parameter appears more than once (RFC 6749 §3.1, §3.2).
    #[error("parameter {0:?} is repeated; each parameter may appear once (RFC 6749 §3.1)")]
    Repeated(String),
    /// A form body is not UTF-8.
    #[error("the form body is not valid UTF-8")]
    FormNotUtf8,
    /// A PKCE verifier has the wrong length or characters (RFC 7636 §4.1).
    #[error("code_verifier must be 43-128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1)")]
    BadVerifier,
    /// A PKCE challenge is not 43 base64url characters (RFC 7636 §4.2).
    #[error(
        "code_challenge must be 43 base64url characters, the S256 of a verifier (RFC 7636 §4.2)"
    )]
    BadChallenge,
    /// The Authorization header is not `Bearer <token>`.
    #[error("Authorization is not 'Bearer <token>'")]
    NotBearer,
}

/// RFC 6749 §3.3: `scope = scope-token *( SP scope-token )`,
/// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`. Extra spaces are tolerated; order kept;
/// duplicates removed.
pub fn parse_scope(s: &str) -> Result<Vec<String>, ParseError> {
    let mut out: Vec<String> = Vec::new();
    for tok in s.split(' ').filter(|t| !t.is_empty()) {
        if !tok
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        {
            return Err(ParseError::BadScopeChar(tok.to_string()));
        }
        if !out.iter().any(|o| o == tok) {
            out.push(tok.to_string());
        }
    }
    Ok(out)
}

/// RFC 6749 §2.3.1 + RFC 7617: `Basic base64(urlencode(id) ":" urlencode(secret))`. Returns the
/// decoded (client id, secret).
pub fn parse_basic(header: &str) -> Result<(String, String), ParseError> {
    let mut parts = header.trim().splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ParseError::NotBasic);
    }
    let b64 = parts.next().unwrap_or_default().trim();
    let raw = STANDARD.decode(b64).map_err(|_| ParseError::BadBase64)?;
    let text = String::from_utf8(raw).map_err(|_| ParseError::NotUtf8)?;
    let (id, secret) = text.split_once(':').ok_or(ParseError::NoColon)?;
    let dec = |v: &str| -> Result<String, ParseError> {
        // application/x-www-form-urlencoded decoding of each half (RFC 6749 §2.3.1).
        let joined = format!("v={v}");
        let pairs: Vec<(String, String)> = form_urlencoded::parse(joined.as_bytes())
            .into_owned()
            .collect();
        pairs
            .into_iter()
            .next()
            .map(|(_, v)| v)
            .ok_or(ParseError::NotUtf8)
    };
    Ok((dec(id)?, dec(secret)?))
}

/// A parsed `application/x-www-form-urlencoded` body (or query string).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// Single-valued parameters.
    one: BTreeMap<String, String>,
    /// Parameters that may repeat (`resource`, RFC 8707 §2).
    many: BTreeMap<String, Vec<String>>,
}

impl Params {
    /// Parse `a=b&c=d`. Names in `repeatable` may repeat; any other repeated name is an error.
    /// Empty values count as absent (RFC 6749 §3.1).
    pub fn parse(body: &[u8], repeatable: &[&str]) -> Result<Params, ParseError> {
        if std::str::from_utf8(body).is_err() {
            return Err(ParseError::FormNotUtf8);
        }
        let mut p = Params::default();
        for (k, v) in form_urlencoded::parse(body) {
            if v.is_empty() {
                continue;
            }
            if repeatable.contains(&k.as_ref()) {
                p.many
                    .entry(k.into_owned())
                    .or_default()
                    .push(v.into_owned());
            } else if p.one.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(ParseError::Repeated(k.into_owned()));
            }
        }
        Ok(p)
    }

    /// Build from a JSON object (Descope documents the token endpoint with JSON bodies). Strings
    /// are taken as they are, numbers and booleans as their text; arrays only for `repeatable` names.
    pub fn from_json(v: &serde_json::Value, repeatable: &[&str]) -> Result<Params, String> {
        let obj = v.as_object().ok_or("the JSON body must be an object")?;
        let mut p = Params::default();
        for (k, v) in obj {
            let text = |v: &serde_json::Value| -> Result<Option<String>, String> {
                match v {
                    serde_json::Value::Null => Ok(None),
                    serde_json::Value::String(s) if s.is_empty() => Ok(None),
                    serde_json::Value::String(s) => Ok(Some(s.clone())),
                    serde_json::Value::Number(n) => Ok(Some(n.to_string())),
                    serde_json::Value::Bool(b) => Ok(Some(b.to_string())),
                    _ => Err(format!("parameter {k:?} must be a string")),
                }
            };
            match v {
                serde_json::Value::Array(items) if repeatable.contains(&k.as_str()) => {
                    for i in items {
                        if let Some(s) = text(i)? {
                            p.many.entry(k.clone()).or_default().push(s);
                        }
                    }
                }
                _ => {
                    if let Some(s) = text(v)? {
                        if repeatable.contains(&k.as_str()) {
                            p.many.entry(k.clone()).or_default().push(s);
                        } else {
                            p.one.insert(k.clone(), s);
                        }
                    }
                }
            }
        }
        Ok(p)
    }

    /// A single-valued parameter.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.one.get(k).map(String::as_str)
    }
    /// All values of a repeatable parameter.
    pub fn all(&self, k: &str) -> &[String] {
        self.many.get(k).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// RFC 7636 §4.1: 43-128 chars of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub fn check_verifier(v: &str) -> Result<(), ParseError> {
    let ok = (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if ok {
        Ok(())
    } else {
        Err(ParseError::BadVerifier)
    }
}

/// RFC 7636 §4.2: an S256 challenge is `BASE64URL(SHA256(verifier))`, 43 characters, no padding.
pub fn check_challenge(c: &str) -> Result<(), ParseError> {
    let ok = c.len() == 43
        && URL_SAFE_NO_PAD
            .decode(c)
            .map(|b| b.len() == 32)
            .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(ParseError::BadChallenge)
    }
}

/// RFC 7636 §4.6: the S256 transform.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1).
pub fn parse_bearer(header: &str) -> Result<&str, ParseError> {
    let h = header.trim();
    let (scheme, rest) = h.split_once(' ').ok_or(ParseError::NotBearer)?;
    let tok = rest.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || tok.is_empty() || tok.contains(' ') {
        return Err(ParseError::NotBearer);
    }
    Ok(tok)
}

/// Descope's `<pid>:<secret>` bearer value, split on the **first** `:` (mock-as/DESCOPE.md §7.2).
/// `<pid>` alone (JWKS mode) gives `None` for the secret.
pub fn split_project_bearer(token: &str) -> (&str, Option<&str>) {
    match token.split_once(':') {
        Some((pid, secret)) => (pid, Some(secret)),
        None => (token, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scope_examples() {
        assert_eq!(parse_scope("a  b a").unwrap(), vec!["a", "b"]);
        assert!(parse_scope("a\"b").is_err());
        assert!(parse_scope("a\\b").is_err());
        assert_eq!(parse_scope("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn basic_examples() {
        let h = format!("Basic {}", STANDARD.encode("my%20client:p%3Ass"));
        assert_eq!(
            parse_basic(&h).unwrap(),
            ("my client".into(), "p:ss".into())
        );
        assert_eq!(parse_basic("Bearer x"), Err(ParseError::NotBasic));
        assert_eq!(parse_basic("Basic !!!"), Err(ParseError::BadBase64));
        assert_eq!(
            parse_basic(&format!("Basic {}", STANDARD.encode("nocolon"))),
            Err(ParseError::NoColon)
        );
    }

    #[test]
    fn params_reject_repeats_but_not_resource() {
        assert_eq!(
            Params::parse(b"a=1&a=2", &[]),
            Err(ParseError::Repeated("a".into()))
        );
        let p = Params::parse(b"resource=x&resource=y&a=1&b=", &["resource"]).unwrap();
        assert_eq!(p.all("resource"), ["x", "y"]);
        assert_eq!(p.get("b"), None);
        assert_eq!(
            Params::parse(&[0xff, b'=', b'1'], &[]),
            Err(ParseError::FormNotUtf8)
        );
    }

    #[test]
    fn pkce_rfc7636_appendix_b() {
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(s256(v), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(check_verifier(v).is_ok());
        assert!(check_challenge(&s256(v)).is_ok());
        assert!(check_verifier("short").is_err());
        assert!(check_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c=").is_err());
    }

    #[test]
    fn bearer_split_on_first_colon() {
        assert_eq!(split_project_bearer("P2x:a:b"), ("P2x", Some("a:b")));
        assert_eq!(split_project_bearer("P2x"), ("P2x", None));
        assert_eq!(parse_bearer("bearer  abc "), Ok("abc"));
        assert_eq!(parse_bearer("Bearer"), Err(ParseError::NotBearer));
    }

    proptest! {
        #[test]
        fn scope_never_panics_and_roundtrips(s in "\\PC{0,64}") {
            if let Ok(v) = parse_scope(&s) {
                let again = parse_scope(&v.join(" ")).unwrap();
                prop_assert_eq!(again, v);
            }
        }

        #[test]
        fn valid_scope_tokens_parse(toks in proptest::collection::vec("[!#-\\[\\]-~]{1,12}", 0..6)) {
            let v = parse_scope(&toks.join(" ")).unwrap();
            prop_assert!(v.len() <= toks.len());
        }

        #[test]
        fn basic_never_panics(s in "\\PC{0,80}", bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_basic(&s);
            let _ = parse_basic(&format!("Basic {}", STANDARD.encode(&bytes)));
        }

        #[test]
        fn basic_roundtrip(id in "[a-zA-Z0-9 :%&=+]{1,20}", secret in "[a-zA-Z0-9 :%&=+]{0,20}") {
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let h = format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(&id), enc(&secret))));
            prop_assert_eq!(parse_basic(&h), Ok((id, secret)));
        }

        #[test]
        fn params_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            match Params::parse(&body, &["resource"]) {
                Ok(_) | Err(ParseError::Repeated(_)) | Err(ParseError::FormNotUtf8) => {}
                Err(e) => prop_assert!(false, "unexpected error {e:?}"),
            }
        }

        #[test]
        fn pkce_never_panics(s in "\\PC{0,200}") {
            let _ = check_verifier(&s);
            let _ = check_challenge(&s);
        }

        #[test]
        fn valid_verifiers_give_valid_challenges(v in "[A-Za-z0-9._~-]{43,128}") {
            prop_assert!(check_verifier(&v).is_ok());
            prop_assert!(check_challenge(&s256(&v)).is_ok());
        }

        #[test]
        fn bearer_split_never_panics(s in "\\PC{0,80}") {
            let (pid, secret) = split_project_bearer(&s);
            prop_assert!(!pid.contains(':'));
            if let Some(sec) = secret {
                prop_assert_eq!(format!("{pid}:{sec}"), s.clone());
            }
            let _ = parse_bearer(&s);
        }
    }
}
