//! Access-token claims in Descope's shape (mock-as/DESCOPE.md §4.1), minting, verification of our
//! own tokens, and the hostile-token catalogue the control API mints on request.
//!
//! Default claims: `iss` (the server's agentic issuer), `sub`, `aud` (array, composed per server:
//! project id, client id, resource), `azp`, `client_id`, `scope` and/or `scopes`, `iat`, `nbf`,
//! `exp`, `jti`, plus `roles`/`permissions`/`tenants`/`dct` when the user has them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::config::{AudMember, McpServer, ScopeClaims, User};
use crate::keys::{KeyRing, SigningKey};

/// A deliberate defect in a minted token (RFC 8725 lists most of these attacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flaw {
    /// `exp` one hour in the past (far beyond any leeway).
    Expired,
    /// `nbf` one hour in the future.
    NbfFuture,
    /// No `exp` claim at all.
    NoExp,
    /// `iss` on another origin (`http://evil.invalid/...`), same path.
    WrongIss,
    /// `aud` names an unrelated resource only.
    WrongAud,
    /// A genuine token of another MCP server of the same project (its `iss` and `aud`).
    SiblingAud,
    /// No scope of the server: only `openid` remains.
    MissingScope,
    /// Header `alg: none`, empty signature (RFC 8725 §2.1).
    AlgNone,
    /// HS256 with the active RSA public key's PEM as the HMAC secret (algorithm confusion, RFC 8725 §2.1).
    Hs256PublicKey,
    /// Signed by the active key but with a `kid` that is in no JWKS.
    UnknownKid,
    /// Signed by a key that is not in the JWKS, under the active key's `kid`.
    ForeignKey,
    /// A valid token whose signature bytes were altered.
    TamperedSignature,
}

impl Flaw {
    /// Every flaw, for `GET /_mock/flaws`.
    pub const ALL: [Flaw; 12] = [
        Flaw::Expired,
        Flaw::NbfFuture,
        Flaw::NoExp,
        Flaw::WrongIss,
        Flaw::WrongAud,
        Flaw::SiblingAud,
        Flaw::MissingScope,
        Flaw::AlgNone,
        Flaw::Hs256PublicKey,
        Flaw::UnknownKid,
        Flaw::ForeignKey,
        Flaw::TamperedSignature,
    ];

    /// What the flaw does, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Flaw::Expired => "exp is one hour in the past",
            Flaw::NbfFuture => "nbf is one hour in the future",
            Flaw::NoExp => "the token has no exp claim",
            Flaw::WrongIss => "iss is the right path on another origin (http://evil.invalid)",
            Flaw::WrongAud => {
                "aud names only an unrelated resource (https://unrelated.invalid/mcp)"
            }
            Flaw::SiblingAud => {
                "a genuine token for another MCP server of the same project (project-level issuers: of another project)"
            }
            Flaw::MissingScope => "no scope of the server; only openid",
            Flaw::AlgNone => "alg none with an empty signature",
            Flaw::Hs256PublicKey => "HS256 keyed with the RSA public key PEM (algorithm confusion)",
            Flaw::UnknownKid => "signed by the active key under a kid that is in no JWKS",
            Flaw::ForeignKey => "signed by a key not in the JWKS, under the active kid",
            Flaw::TamperedSignature => "a valid token with altered signature bytes",
        }
    }
}

/// Which of Descope's issuers a token comes from (mock-as/DESCOPE.md §1 "URL layout", §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum IssuerStyle {
    /// The MCP server's own issuer `<base>/v1/apps/agentic/<pid>/<sid>`; `aud` composed per
    /// server entry (`audience`).
    #[default]
    #[serde(rename = "mcp-server")]
    McpServer,
    /// The project's Inbound App issuer `<base>/v1/apps/<pid>` (a real token in a public log:
    /// `{"iss": "<base>/v1/apps/<pid>", "aud": ["<pid>"]}`).
    #[serde(rename = "inbound-app")]
    InboundApp,
    /// The project OIDC issuer `<base>/<pid>` (Descope's OIDC endpoints, `/oauth2/v1/...`).
    #[serde(rename = "project")]
    Project,
}

impl IssuerStyle {
    /// The name in the control API.
    pub fn as_str(self) -> &'static str {
        match self {
            IssuerStyle::McpServer => "mcp-server",
            IssuerStyle::InboundApp => "inbound-app",
            IssuerStyle::Project => "project",
        }
    }

    /// The issuer URL for `base`, project `pid`, server `sid`.
    pub fn issuer(self, base: &str, pid: &str, sid: &str) -> String {
        match self {
            IssuerStyle::McpServer => format!("{base}/v1/apps/agentic/{pid}/{sid}"),
            IssuerStyle::InboundApp => format!("{base}/v1/apps/{pid}"),
            IssuerStyle::Project => format!("{base}/{pid}"),
        }
    }

    /// Project-level styles put the project id in `aud` (plus an explicitly requested RFC 8707
    /// resource) instead of composing it per server entry. A decision: Descope's exact
    /// composition for these issuers is unconfirmed (README decisions table).
    pub fn project_audience(self) -> bool {
        self != IssuerStyle::McpServer
    }
}

/// The project id a `sibling_aud` token of a project-level issuer names: another project's
/// (28 characters, like every Descope project id).
pub const SIBLING_PROJECT_ID: &str = "P2mockAsSiblingProject000001";

/// Everything needed to compose one access token's claims.
#[derive(Debug)]
pub struct ClaimsInput<'a> {
    /// The server the token is for.
    pub server: &'a McpServer,
    /// The issuer URL (per [`IssuerStyle`]).
    pub issuer: String,
    /// Whether `aud` is the project's ([`IssuerStyle::project_audience`]).
    pub project_audience: bool,
    /// The project id.
    pub project_id: &'a str,
    /// `sub`: user id, or the client id for `client_credentials`.
    pub sub: &'a str,
    /// The OAuth client.
    pub client_id: &'a str,
    /// Granted scopes.
    pub scopes: &'a [String],
    /// The RFC 8707 resource the client asked for, if any.
    pub resource: Option<&'a str>,
    /// The user, for `roles`/`permissions`/`tenants`.
    pub user: Option<&'a User>,
    /// The current tenant (`dct`), if one was selected.
    pub tenant: Option<&'a str>,
    /// `iat`/`nbf`.
    pub now: i64,
    /// Lifetime in seconds.
    pub ttl: i64,
}

/// A fresh random identifier (`jti`, codes, refresh tokens): 128 bits, base64url.
pub fn random_id() -> String {
    let bytes: [u8; 16] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Compose the claims (mock-as/DESCOPE.md §4.1 "Recommended default access token").
pub fn claims(i: &ClaimsInput<'_>) -> Map<String, Value> {
    let resource = i.resource.unwrap_or(&i.server.url);
    let mut aud: Vec<&str> = Vec::new();
    if i.project_audience {
        aud.push(i.project_id);
        if let Some(r) = i.resource
            && r != i.project_id
        {
            aud.push(r);
        }
    } else {
        for m in &i.server.audience {
            let v = match m {
                AudMember::Project => i.project_id,
                AudMember::Client => i.client_id,
                AudMember::Resource => resource,
            };
            if !aud.contains(&v) {
                aud.push(v);
            }
        }
    }
    let mut c = Map::new();
    c.insert("iss".into(), json!(i.issuer));
    c.insert("sub".into(), json!(i.sub));
    c.insert("aud".into(), json!(aud));
    c.insert("azp".into(), json!(i.client_id));
    c.insert("client_id".into(), json!(i.client_id));
    if matches!(
        i.server.scope_claims,
        ScopeClaims::Both | ScopeClaims::Scope
    ) {
        c.insert("scope".into(), json!(i.scopes.join(" ")));
    }
    if matches!(
        i.server.scope_claims,
        ScopeClaims::Both | ScopeClaims::Scopes
    ) {
        c.insert("scopes".into(), json!(i.scopes));
    }
    c.insert("iat".into(), json!(i.now));
    c.insert("nbf".into(), json!(i.now));
    // Saturating: `ttl` comes from callers (`POST /_mock/tokens` `ttl`, a patched
    // `access_token_ttl`) and may be absurd; an overflow would panic the request (found by fuzzing).
    c.insert("exp".into(), json!(i.now.saturating_add(i.ttl)));
    c.insert("jti".into(), json!(random_id()));
    if let Some(u) = i.user {
        if !u.roles.is_empty() {
            c.insert("roles".into(), json!(u.roles));
        }
        if !u.permissions.is_empty() {
            c.insert("permissions".into(), json!(u.permissions));
        }
        if !u.tenants.is_empty() {
            let t: Map<String, Value> = u
                .tenants
                .iter()
                .map(|t| (t.id.clone(), json!({"roles": t.roles, "permissions": []})))
                .collect();
            c.insert("tenants".into(), Value::Object(t));
        }
    }
    if let Some(t) = i.tenant {
        c.insert("dct".into(), json!(t));
    }
    c
}

/// Apply a claim-level flaw. `sibling` is the claims a genuine sibling-server token would carry.
pub fn apply_claim_flaw(
    c: &mut Map<String, Value>,
    flaw: Flaw,
    now: i64,
    sibling: Option<Map<String, Value>>,
) {
    match flaw {
        Flaw::Expired => {
            c.insert("iat".into(), json!(now - 7200));
            c.insert("nbf".into(), json!(now - 7200));
            c.insert("exp".into(), json!(now - 3600));
        }
        Flaw::NbfFuture => {
            c.insert("nbf".into(), json!(now + 3600));
        }
        Flaw::NoExp => {
            c.remove("exp");
        }
        Flaw::WrongIss => {
            let iss = c
                .get("iss")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let path = url::Url::parse(&iss)
                .map(|u| u.path().to_string())
                .unwrap_or_default();
            c.insert("iss".into(), json!(format!("http://evil.invalid{path}")));
        }
        Flaw::WrongAud => {
            c.insert("aud".into(), json!(["https://unrelated.invalid/mcp"]));
        }
        Flaw::SiblingAud => {
            if let Some(s) = sibling {
                for k in ["iss", "aud"] {
                    if let Some(v) = s.get(k) {
                        c.insert(k.into(), v.clone());
                    }
                }
            }
        }
        Flaw::MissingScope => {
            if c.contains_key("scope") {
                c.insert("scope".into(), json!("openid"));
            }
            if c.contains_key("scopes") {
                c.insert("scopes".into(), json!(["openid"]));
            }
        }
        // Signature-level flaws: applied by `sign`. Listed by name, not `_`, so a new flaw
        // cannot silently mint a valid token: it must be placed in one of the two matches.
        Flaw::AlgNone
        | Flaw::Hs256PublicKey
        | Flaw::UnknownKid
        | Flaw::ForeignKey
        | Flaw::TamperedSignature => {}
    }
}

/// Why signing failed (never expected with loaded keys; reported, not panicked on).
#[derive(Debug, Clone)]
pub struct SignError(pub String);

/// Sign claims with the active key, applying a signature-level flaw if given.
pub fn sign(
    keys: &KeyRing,
    claims: &Map<String, Value>,
    flaw: Option<Flaw>,
) -> Result<String, SignError> {
    let active = keys.active();
    let err = |e: jsonwebtoken::errors::Error| SignError(e.to_string());
    match flaw {
        Some(Flaw::AlgNone) => {
            let h = json!({"alg": "none", "typ": "JWT", "kid": active.kid});
            let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
            Ok(format!(
                "{}.{}.",
                enc(&h),
                enc(&Value::Object(claims.clone()))
            ))
        }
        Some(Flaw::Hs256PublicKey) => {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some(active.kid.clone());
            h.typ = Some("JWT".into());
            jsonwebtoken::encode(
                &h,
                claims,
                &EncodingKey::from_secret(active.public_pem.as_bytes()),
            )
            .map_err(err)
        }
        Some(Flaw::UnknownKid) => {
            let kid = format!("SKunknown{}", &random_id()[..8]);
            sign_jws(active, &kid, claims)
        }
        Some(Flaw::ForeignKey) => {
            let foreign = EncodingKey::from_rsa_pem(crate::config::foreign_key_pem().as_bytes())
                .map_err(err)?;
            let mut h = Header::new(Algorithm::RS256);
            h.kid = Some(active.kid.clone());
            h.typ = Some("JWT".into());
            jsonwebtoken::encode(&h, claims, &foreign).map_err(err)
        }
        Some(Flaw::TamperedSignature) => {
            let t = sign_jws(active, &active.kid, claims)?;
            let (msg, sig) = t
                .rsplit_once('.')
                .ok_or_else(|| SignError("no signature".into()))?;
            let mut bytes = URL_SAFE_NO_PAD
                .decode(sig)
                .map_err(|e| SignError(e.to_string()))?;
            if let Some(b) = bytes.get_mut(10) {
                *b ^= 0x5a;
            }
            Ok(format!("{msg}.{}", URL_SAFE_NO_PAD.encode(bytes)))
        }
        // No flaw, or a claim-level one (already applied by `apply_claim_flaw`): a valid
        // signature. Listed by name so a new flaw must be placed deliberately.
        None
        | Some(
            Flaw::Expired
            | Flaw::NbfFuture
            | Flaw::NoExp
            | Flaw::WrongIss
            | Flaw::WrongAud
            | Flaw::SiblingAud
            | Flaw::MissingScope,
        ) => sign_jws(active, &active.kid, claims),
    }
}

/// A compact JWS (RFC 7515 §7.1) signed with a key's parsed private key. The header carries
/// `typ`, `alg` and `kid`, as `jsonwebtoken::encode` would write them.
fn sign_jws(key: &SigningKey, kid: &str, claims: &Map<String, Value>) -> Result<String, SignError> {
    let header = json!({"typ": "JWT", "alg": format!("{:?}", key.alg), "kid": kid});
    let mut out = URL_SAFE_NO_PAD.encode(header.to_string());
    out.push('.');
    let body = serde_json::to_vec(claims).map_err(|e| SignError(e.to_string()))?;
    out.push_str(&URL_SAFE_NO_PAD.encode(body));
    let sig = key.signer.sign(out.as_bytes()).map_err(SignError)?;
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(out)
}

/// Why one of our own tokens is not acceptable (introspection, connection fetches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// Not a JWT, bad signature, unknown or retired `kid`, wrong algorithm.
    Invalid(String),
    /// Past `exp` (or no `exp`: our tokens always have one).
    Expired,
    /// `nbf` in the future.
    NotYetValid,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::Invalid(m) => write!(f, "invalid token: {m}"),
            VerifyError::Expired => write!(f, "the token has expired"),
            VerifyError::NotYetValid => write!(f, "the token is not valid yet (nbf)"),
        }
    }
}

/// Verify a token against the published keys at mock time `now` (the clock offset applies,
/// so jsonwebtoken's own time checks are off and done here). Returns the claims.
pub fn verify(keys: &KeyRing, token: &str, now: i64) -> Result<Map<String, Value>, VerifyError> {
    let h = jsonwebtoken::decode_header(token).map_err(|e| VerifyError::Invalid(e.to_string()))?;
    let kid = h
        .kid
        .ok_or_else(|| VerifyError::Invalid("no kid in the header".into()))?;
    let key = keys
        .published(&kid)
        .ok_or_else(|| VerifyError::Invalid(format!("kid {kid:?} is not in the JWKS")))?;
    if h.alg != key.algorithm() {
        return Err(VerifyError::Invalid(format!(
            "alg {:?} does not match the key's {:?}",
            h.alg, key.alg
        )));
    }
    let mut v = Validation::new(key.algorithm());
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &v)
        .map_err(|e| VerifyError::Invalid(e.to_string()))?;
    let c = data.claims;
    // 5 s leeway, as Descope's SDKs use (mock-as/DESCOPE.md §3.3). Saturating: a signed token can
    // carry any `exp` (`POST /_mock/tokens` merges `claims`), `i64::MAX` included, and an
    // overflow here panicked every endpoint that verifies bearers (found by fuzzing).
    match c.get("exp").and_then(Value::as_i64) {
        Some(exp) if exp.saturating_add(5) >= now => {}
        _ => return Err(VerifyError::Expired),
    }
    if c.get("nbf")
        .and_then(Value::as_i64)
        .is_some_and(|nbf| nbf > now.saturating_add(5))
    {
        return Err(VerifyError::NotYetValid);
    }
    Ok(c)
}

/// The scopes a verified token carries (`scope` string, else `scopes` array).
pub fn token_scopes(c: &Map<String, Value>) -> Vec<String> {
    if let Some(s) = c.get("scope").and_then(Value::as_str) {
        return s
            .split(' ')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect();
    }
    c.get("scopes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
