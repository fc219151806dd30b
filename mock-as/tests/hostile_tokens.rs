#![allow(clippy::unwrap_used)]
//! The hostile-token catalogue: every flaw of `GET /_mock/flaws`, minted through
//! `POST /_mock/tokens`, carries exactly the defect it names, checked with jsonwebtoken against
//! the JWKS fetched over HTTP; and introspection refuses the ones that fail signature or time.

mod common;
use common::*;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};

/// Every flaw the catalogue is expected to offer.
const FLAWS: [&str; 12] = [
    "expired",
    "nbf_future",
    "no_exp",
    "wrong_iss",
    "wrong_aud",
    "sibling_aud",
    "missing_scope",
    "alg_none",
    "hs256_public_key",
    "unknown_kid",
    "foreign_key",
    "tampered_signature",
];

/// The sibling server's resource in the embedded default.
const SIBLING_RESOURCE: &str = "http://127.0.0.1:8002/mcp";

/// A running mock plus what the checks need: the JWKS as fetched over HTTP and the active kid.
struct Ctx {
    m: Mock,
    jwks: JwkSet,
    active_kid: String,
}

impl Ctx {
    async fn start() -> Ctx {
        let m = Mock::start().await;
        let jwks: JwkSet = m
            .http
            .get(m.url(&format!("/{PID}/.well-known/jwks.json")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (s, keys) = m.get_json("/_mock/keys").await;
        assert_eq!(s, 200, "{keys}");
        let active_kid = keys["active"].as_str().unwrap().to_string();
        assert!(
            jwks.find(&active_kid).is_some(),
            "the active kid {active_kid} is in the JWKS"
        );
        Ctx {
            m,
            jwks,
            active_kid,
        }
    }

    fn active_jwk(&self) -> &Jwk {
        self.jwks.find(&self.active_kid).unwrap()
    }

    /// Mint a flawed token for U2alice; returns (jwt, header, claims) after checking that the
    /// control API's own view of header and claims matches what the JWT carries.
    async fn mint(&self, flaw: &str) -> (String, Value, Value) {
        let v = self.m.mint(json!({"user": "U2alice", "flaw": flaw})).await;
        assert_eq!(v["flaw"], flaw, "{v}");
        assert!(v["flaw_description"].is_string(), "{v}");
        let jwt = v["access_token"].as_str().unwrap().to_string();
        assert_eq!(jwt.split('.').count(), 3, "{flaw}: three segments: {jwt}");
        let (h, c) = decode_parts(&jwt);
        assert_eq!(h, v["header"], "{flaw}: header in the mint response");
        assert_eq!(c, v["claims"], "{flaw}: claims in the mint response");
        (jwt, h, c)
    }
}

/// Validation that checks only the signature (and the algorithm).
fn sig_only(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v
}

/// RS256 signature check of a JWT with a JWK, nothing else.
fn verifies_rs256(jwt: &str, jwk: &Jwk) -> bool {
    jsonwebtoken::decode::<Value>(
        jwt,
        &DecodingKey::from_jwk(jwk).unwrap(),
        &sig_only(Algorithm::RS256),
    )
    .is_ok()
}

/// The raw RS256 signature check of `header.claims` against the signature segment, whatever the
/// header says (so an alg-confusion token cannot pass by naming another algorithm).
fn raw_rs256(jwt: &str, jwk: &Jwk) -> bool {
    let (msg, sig) = jwt.rsplit_once('.').unwrap();
    jsonwebtoken::crypto::verify(
        sig,
        msg.as_bytes(),
        &DecodingKey::from_jwk(jwk).unwrap(),
        Algorithm::RS256,
    )
    .unwrap_or(false)
}

/// SPKI PEM of an RSA JWK, derived from its n and e.
fn spki_pem(jwk: &Jwk) -> String {
    let v = serde_json::to_value(jwk).unwrap();
    let n = URL_SAFE_NO_PAD.decode(v["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(v["e"].as_str().unwrap()).unwrap();
    let key = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&n),
        rsa::BigUint::from_bytes_be(&e),
    )
    .unwrap();
    key.to_public_key_pem(LineEnding::LF).unwrap()
}

/// `aud` as a list (a string `aud` is a one-member list, RFC 7519 §4.1.3).
fn aud_list(c: &Value) -> Vec<String> {
    match &c["aud"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn kid_of(h: &Value) -> &str {
    h["kid"].as_str().unwrap_or_default()
}

/// The checks of one flaw. Panics (with the flaw's name) when the token lacks its defect or
/// has another one.
async fn check_flaw(x: &Ctx, flaw: &str) {
    let m = &x.m;
    let (jwt, h, c) = x.mint(flaw).await;
    let now = now();
    let jwk = x.active_jwk();
    match flaw {
        "expired" => {
            let exp = c["exp"].as_i64().unwrap();
            assert!(exp < now - 3000, "expired: exp {exp} vs now {now}");
            assert!(c["iat"].as_i64().unwrap() <= exp, "expired: iat <= exp");
            assert!(
                verifies_rs256(&jwt, jwk),
                "expired: the signature is genuine"
            );
        }
        "nbf_future" => {
            let nbf = c["nbf"].as_i64().unwrap();
            assert!(nbf > now + 3000, "nbf_future: nbf {nbf} vs now {now}");
            assert!(c["exp"].as_i64().unwrap() > now, "nbf_future: not expired");
            assert!(verifies_rs256(&jwt, jwk), "nbf_future: genuine signature");
        }
        "no_exp" => {
            assert!(c.get("exp").is_none(), "no_exp: {c}");
            assert!(verifies_rs256(&jwt, jwk), "no_exp: genuine signature");
        }
        "wrong_iss" => {
            let iss = url::Url::parse(c["iss"].as_str().unwrap()).unwrap();
            let real = url::Url::parse(&m.issuer(SID)).unwrap();
            assert_eq!(iss.host_str(), Some("evil.invalid"), "wrong_iss: {iss}");
            assert_eq!(iss.path(), real.path(), "wrong_iss: same path");
            assert!(aud_list(&c).contains(&RESOURCE.to_string()), "{c}");
            assert!(verifies_rs256(&jwt, jwk), "wrong_iss: genuine signature");
        }
        "wrong_aud" => {
            let aud = aud_list(&c);
            assert!(!aud.is_empty(), "wrong_aud: aud present: {c}");
            assert!(
                !aud.iter().any(|a| a == RESOURCE || a == PID),
                "wrong_aud: {aud:?}"
            );
            assert_eq!(c["iss"], m.issuer(SID), "wrong_aud: iss untouched");
            assert!(verifies_rs256(&jwt, jwk), "wrong_aud: genuine signature");
        }
        "sibling_aud" => {
            assert_eq!(c["iss"], m.issuer(SIBLING), "sibling_aud: iss");
            let aud = aud_list(&c);
            assert!(aud.contains(&SIBLING_RESOURCE.to_string()), "{aud:?}");
            assert!(!aud.contains(&RESOURCE.to_string()), "{aud:?}");
            // A genuine token: full verification with the JWKS key its kid names.
            let k = x.jwks.find(kid_of(&h)).expect("sibling_aud: kid in JWKS");
            let mut v = Validation::new(Algorithm::RS256);
            v.set_audience(&[SIBLING_RESOURCE]);
            v.set_issuer(&[m.issuer(SIBLING)]);
            jsonwebtoken::decode::<Value>(&jwt, &DecodingKey::from_jwk(k).unwrap(), &v)
                .expect("sibling_aud: verifies as a sibling-server token");
        }
        "missing_scope" => {
            assert_eq!(c["scope"], "openid", "missing_scope: {c}");
            if let Some(s) = c.get("scopes") {
                assert_eq!(s, &json!(["openid"]), "missing_scope: scopes");
            }
            assert!(
                verifies_rs256(&jwt, jwk),
                "missing_scope: genuine signature"
            );
        }
        "alg_none" => {
            assert_eq!(h["alg"], "none", "alg_none: {h}");
            assert_eq!(
                jwt.rsplit('.').next(),
                Some(""),
                "alg_none: empty signature"
            );
            assert!(jwt.ends_with('.'), "alg_none: {jwt}");
            assert_eq!(c["iss"], m.issuer(SID));
        }
        "hs256_public_key" => {
            assert_eq!(h["alg"], "HS256", "hs256_public_key: {h}");
            let pem = spki_pem(jwk);
            assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
            jsonwebtoken::decode::<Value>(
                &jwt,
                &DecodingKey::from_secret(pem.as_bytes()),
                &sig_only(Algorithm::HS256),
            )
            .expect("hs256_public_key: HMAC-SHA256 keyed with the SPKI PEM");
            assert!(
                !verifies_rs256(&jwt, jwk),
                "hs256_public_key: must not verify as RS256"
            );
            assert!(
                !raw_rs256(&jwt, jwk),
                "hs256_public_key: the signature bytes are no RS256 signature"
            );
        }
        "unknown_kid" => {
            let kid = kid_of(&h);
            assert!(!kid.is_empty(), "unknown_kid: has a kid: {h}");
            assert!(x.jwks.find(kid).is_none(), "unknown_kid: {kid} in JWKS");
            assert_eq!(h["alg"], "RS256");
            assert!(
                raw_rs256(&jwt, jwk),
                "unknown_kid: signed by the active key"
            );
            assert!(verifies_rs256(&jwt, jwk));
        }
        "foreign_key" => {
            assert_eq!(kid_of(&h), x.active_kid, "foreign_key: the active kid");
            assert_eq!(h["alg"], "RS256");
            let k = x.jwks.find(kid_of(&h)).unwrap();
            assert!(!verifies_rs256(&jwt, k), "foreign_key: must not verify");
            // Nor with any other published key.
            for k in &x.jwks.keys {
                assert!(!raw_rs256(&jwt, k), "foreign_key: verifies with {k:?}");
            }
        }
        "tampered_signature" => {
            assert_eq!(h["alg"], "RS256", "tampered_signature: header intact");
            assert_eq!(
                kid_of(&h),
                x.active_kid,
                "tampered_signature: header intact"
            );
            assert_eq!(h["typ"], "JWT");
            assert_eq!(c["iss"], m.issuer(SID), "tampered_signature: claims intact");
            assert_eq!(c["sub"], "U2alice");
            assert!(aud_list(&c).contains(&RESOURCE.to_string()));
            assert!(c["exp"].as_i64().unwrap() > now);
            assert!(c["nbf"].as_i64().unwrap() <= now + 5);
            let sig = jwt.rsplit('.').next().unwrap();
            assert!(!sig.is_empty(), "tampered_signature: a signature is there");
            assert!(
                !verifies_rs256(&jwt, jwk),
                "tampered_signature: must not verify"
            );
        }
        other => panic!("GET /_mock/flaws lists {other:?}, which this test does not know"),
    }
    // Only the named defect: the flaws that leave the claims alone keep the usual ones.
    if !matches!(flaw, "sibling_aud" | "wrong_iss") {
        assert_eq!(c["iss"], m.issuer(SID), "{flaw}: iss");
    }
    if !matches!(flaw, "wrong_aud" | "sibling_aud") {
        let aud = aud_list(&c);
        assert!(aud.contains(&RESOURCE.to_string()), "{flaw}: aud {aud:?}");
        assert!(aud.contains(&PID.to_string()), "{flaw}: aud {aud:?}");
    }
    if flaw != "missing_scope" {
        let scope = c["scope"].as_str().unwrap_or_default();
        assert!(scope.split(' ').any(|s| s == "mcp:read"), "{flaw}: {scope}");
    }
    if !matches!(flaw, "expired" | "no_exp") {
        assert!(c["exp"].as_i64().unwrap() > now, "{flaw}: exp");
    }
    if !matches!(flaw, "nbf_future" | "expired") {
        assert!(c["nbf"].as_i64().unwrap() <= now + 5, "{flaw}: nbf");
    }
    assert_eq!(c["sub"], "U2alice", "{flaw}: sub");
    if !matches!(flaw, "alg_none" | "hs256_public_key") {
        assert_eq!(h["alg"], "RS256", "{flaw}: alg");
    }
}

#[tokio::test]
async fn flaw_catalogue_lists_every_flaw_with_a_description() {
    let m = Mock::start().await;
    let (s, v) = m.get_json("/_mock/flaws").await;
    assert_eq!(s, 200, "{v}");
    let list = v["flaws"].as_array().unwrap();
    let names: Vec<&str> = list.iter().filter_map(|f| f["flaw"].as_str()).collect();
    assert_eq!(names, FLAWS);
    for f in list {
        assert!(
            f["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{f}"
        );
    }
}

/// Every flaw the running server lists is minted and checked (nothing listed goes unchecked).
#[tokio::test]
async fn every_listed_flaw_has_exactly_its_defect() {
    let x = Ctx::start().await;
    let (_, v) = x.m.get_json("/_mock/flaws").await;
    for f in v["flaws"].as_array().unwrap() {
        check_flaw(&x, f["flaw"].as_str().unwrap()).await;
    }
}

macro_rules! flaw_test {
    ($name:ident, $flaw:literal) => {
        #[tokio::test]
        async fn $name() {
            let x = Ctx::start().await;
            check_flaw(&x, $flaw).await;
        }
    };
}

flaw_test!(expired_token_expired_an_hour_ago, "expired");
flaw_test!(nbf_future_token_is_not_valid_for_an_hour, "nbf_future");
flaw_test!(no_exp_token_has_no_exp, "no_exp");
flaw_test!(wrong_iss_token_names_evil_origin_same_path, "wrong_iss");
flaw_test!(
    wrong_aud_token_names_neither_resource_nor_project,
    "wrong_aud"
);
flaw_test!(sibling_aud_token_is_a_genuine_sibling_token, "sibling_aud");
flaw_test!(missing_scope_token_has_only_openid, "missing_scope");
flaw_test!(alg_none_token_has_empty_signature, "alg_none");
flaw_test!(
    hs256_public_key_token_is_hmac_keyed_by_the_pem,
    "hs256_public_key"
);
flaw_test!(unknown_kid_token_is_signed_by_the_active_key, "unknown_kid");
flaw_test!(foreign_key_token_claims_the_active_kid, "foreign_key");
flaw_test!(
    tampered_signature_token_fails_with_intact_parts,
    "tampered_signature"
);

#[tokio::test]
async fn unflawed_token_verifies_with_the_jwks() {
    let x = Ctx::start().await;
    let m = &x.m;
    let v = m.mint(json!({"user": "U2alice"})).await;
    assert!(v["flaw"].is_null(), "{v}");
    let jwt = v["access_token"].as_str().unwrap();
    let h = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(h.kid.as_deref(), Some(x.active_kid.as_str()));
    let jwk = x.jwks.find(h.kid.as_deref().unwrap()).unwrap();
    let mut val = Validation::new(Algorithm::RS256);
    val.set_audience(&[RESOURCE]);
    val.set_issuer(&[m.issuer(SID)]);
    val.leeway = 0;
    let d = jsonwebtoken::decode::<Value>(jwt, &DecodingKey::from_jwk(jwk).unwrap(), &val)
        .expect("an unflawed token verifies");
    assert_eq!(d.claims["sub"], "U2alice");
    assert_eq!(m.introspect(jwt).await["active"], true);
}

#[tokio::test]
async fn introspection_refuses_bad_signatures_and_expired_tokens() {
    let x = Ctx::start().await;
    let m = &x.m;
    // The same introspection answers active for a good token, so the refusals below mean something.
    let good = m.mint(json!({"user": "U2alice"})).await;
    let r = m.introspect(good["access_token"].as_str().unwrap()).await;
    assert_eq!(r["active"], true, "{r}");
    assert_eq!(r["sub"], "U2alice", "{r}");
    for flaw in [
        "expired",
        "alg_none",
        "hs256_public_key",
        "unknown_kid",
        "foreign_key",
        "tampered_signature",
    ] {
        let (jwt, _, _) = x.mint(flaw).await;
        let r = m.introspect(&jwt).await;
        assert_eq!(r["active"], false, "{flaw}: introspection said {r}");
        assert!(
            r.get("sub").is_none() && r.get("scope").is_none(),
            "{flaw}: an inactive answer carries nothing else: {r}"
        );
    }
}

/// With a single MCP server in the configuration there is no real sibling: `sibling_aud` then
/// uses a stand-in on the same origin (`/other/mcp`, id `<id>Sibling`), so the token is still
/// one for another server and never a valid token for this one.
#[tokio::test]
async fn sibling_aud_without_a_second_server_uses_a_same_origin_stand_in() {
    let start = mock_as::config::DEFAULT_TOML
        .find("[[mcp_servers]]\nid = \"MS2notes\"")
        .expect("the default has MS2notes");
    let end = start
        + mock_as::config::DEFAULT_TOML[start..]
            .find("\n[[tenants]]")
            .unwrap();
    let text = format!(
        "{}{}",
        &mock_as::config::DEFAULT_TOML[..start],
        &mock_as::config::DEFAULT_TOML[end + 1..]
    );
    // The default's Token Exchange Policy targets MS2notes: it goes with it.
    let mut table: toml::Table = text.parse().expect("toml");
    table.remove("token_exchange_policy");
    let text = toml::to_string(&table).expect("toml");
    let cfg = mock_as::Config::parse(&text, "one-server.toml", None).expect("one-server config");
    assert_eq!(cfg.mcp_servers.len(), 1);
    let m = Mock::start_with(cfg, None).await;
    let tok = m
        .mint(json!({"user": "U2alice", "flaw": "sibling_aud"}))
        .await;
    let jwt = tok["access_token"].as_str().unwrap();
    let c: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(c["iss"], m.issuer("MS2calendarSibling"), "{c}");
    let aud = aud_list(&c);
    assert!(
        aud.contains(&"http://127.0.0.1:8001/other/mcp".to_string()),
        "{aud:?}"
    );
    assert!(!aud.contains(&RESOURCE.to_string()), "{aud:?}");
    assert_ne!(c["iss"], m.issuer(SID));
}
