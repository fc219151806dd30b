//! Access-token issuing: compose the claims for a server entry and an issuer style, apply a
//! deliberate flaw, sign with the active key and remember the token for revocation. The token
//! endpoint's grants and the control API's mint both come here. It needs the running state (mock
//! time, keys, the store), so it sits above [`crate::state`]; [`crate::tokens`] below it holds
//! the pure parts (claims, flaws, signing).

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::config::{McpServer, User};
use crate::error::{ErrorCode, OAuthError};
use crate::state::AppState;
use crate::tokens::{ClaimsInput, Flaw, IssuerStyle, SIBLING_PROJECT_ID, claims, sign};

/// What to put in a token.
#[derive(Debug)]
pub struct Issue<'a> {
    /// The server.
    pub server: &'a McpServer,
    /// Which issuer signs (the server entry's own by default).
    pub style: IssuerStyle,
    /// `sub`.
    pub sub: &'a str,
    /// The client.
    pub client_id: &'a str,
    /// Scopes.
    pub scopes: &'a [String],
    /// RFC 8707 resource.
    pub resource: Option<&'a str>,
    /// The user.
    pub user: Option<&'a User>,
    /// `dct`.
    pub tenant: Option<&'a str>,
    /// The session to bind the token to.
    pub session: Option<&'a str>,
    /// Lifetime override.
    pub ttl: Option<i64>,
    /// A deliberate defect.
    pub flaw: Option<Flaw>,
    /// Claims merged last (control API).
    pub extra: Option<&'a Map<String, Value>>,
    /// Claims removed after the merge (control API).
    pub remove: &'a [String],
}

/// Compose, sign and record an access token. Returns the JWT and its claims.
pub fn issue_access_token(
    st: &AppState,
    i: &Issue<'_>,
) -> Result<(String, Map<String, Value>), OAuthError> {
    let now = st.now();
    let input = ClaimsInput {
        server: i.server,
        issuer: st.issuer_of(i.style, &i.server.id),
        project_audience: i.style.project_audience(),
        project_id: st.pid(),
        sub: i.sub,
        client_id: i.client_id,
        scopes: i.scopes,
        resource: i.resource,
        user: i.user,
        tenant: i.tenant,
        now,
        ttl: i.ttl.unwrap_or(i.server.access_token_ttl as i64),
    };
    let mut c = claims(&input);
    if let Some(flaw) = i.flaw {
        // Another server entry of the project; with none configured, a stand-in on the same
        // origin (so the flaw still yields a token for another server, never a valid one).
        let sibling = if flaw != Flaw::SiblingAud {
            None
        } else if i.style.project_audience() {
            // Every app of a project shares a project-level issuer and `aud`: the counterpart
            // is a genuine-looking token of another project (signed by our key, a stand-in
            // for that project's).
            let mut s = Map::new();
            s.insert(
                "iss".into(),
                json!(i.style.issuer(&st.base_url, SIBLING_PROJECT_ID, "")),
            );
            s.insert("aud".into(), json!([SIBLING_PROJECT_ID]));
            Some(s)
        } else {
            let sib = st
                .servers()
                .into_iter()
                .find(|s| s.id != i.server.id)
                .unwrap_or_else(|| std::sync::Arc::new(i.server.stand_in_sibling()));
            let sib_input = ClaimsInput {
                server: &sib,
                issuer: st.issuer(&sib.id),
                resource: None,
                ..input
            };
            Some(claims(&sib_input))
        };
        crate::tokens::apply_claim_flaw(&mut c, flaw, now, sibling);
    }
    if let Some(extra) = i.extra {
        for (k, v) in extra {
            c.insert(k.clone(), v.clone());
        }
    }
    for k in i.remove {
        c.remove(k);
    }
    let jwt = sign(&st.keys(), &c, i.flaw).map_err(|e| {
        OAuthError::new(ErrorCode::ServerError, format!("signing failed: {}", e.0))
            .with_status(StatusCode::INTERNAL_SERVER_ERROR)
    })?;
    let jti = c
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let exp = c.get("exp").and_then(Value::as_i64).unwrap_or(now + 3600);
    st.store()
        .record(&jti, i.session, i.user.map(|u| u.id.as_str()), exp, now);
    Ok((jwt, c))
}

/// Why a bearer is not a live access token this mock-as issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotIssued {
    /// Not a JWT we signed, or malformed.
    Invalid(String),
    /// Past its `exp` (mock time).
    Expired,
    /// Signed by our keys but for an issuer outside this project.
    ForeignIssuer(String),
    /// Revoked itself, or its session was.
    Revoked,
    /// The consent (grant) it was issued under is older than its server's `consent_ttl`.
    ConsentExpired,
}

impl std::fmt::Display for NotIssued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotIssued::Invalid(m) => write!(f, "not a valid access token: {m}"),
            NotIssued::Expired => f.write_str("the access token has expired"),
            NotIssued::ForeignIssuer(iss) => {
                write!(
                    f,
                    "the access token's issuer {iss:?} is not of this project"
                )
            }
            NotIssued::Revoked => {
                f.write_str("the access token (or the session it belongs to) was revoked")
            }
            NotIssued::ConsentExpired => f.write_str(
                "the consent behind the access token expired (consent_ttl): the user must consent again",
            ),
        }
    }
}

/// Verify an access token as one this mock-as issued and still honours: signature with a
/// published key, `exp` on mock time, an issuer of this project (any server entry's agentic
/// issuer, the Inbound App issuer, the project issuer), not revoked. Connection fetches and
/// token exchange (RFC 8693 §2.1 `subject_token`) both ask this.
pub fn verify_issued(st: &AppState, token: &str) -> Result<Map<String, Value>, NotIssued> {
    let claims = crate::tokens::verify(&st.keys(), token, st.now()).map_err(|e| match e {
        crate::tokens::VerifyError::Expired => NotIssued::Expired,
        other => NotIssued::Invalid(other.to_string()),
    })?;
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let agentic = format!("{}/v1/apps/agentic/{}/", st.base_url, st.pid());
    if !(iss.starts_with(&agentic) || st.is_own_issuer(iss)) {
        return Err(NotIssued::ForeignIssuer(iss.to_string()));
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if st.store().is_revoked(jti) {
        return Err(NotIssued::Revoked);
    }
    let created = st
        .store()
        .token_session(jti)
        .map(|s| (s.server_id.clone(), s.created));
    if let Some((server, created)) = created
        && consent_expired(st, &server, created)
    {
        return Err(NotIssued::ConsentExpired);
    }
    Ok(claims)
}

/// Whether a consent given at `created` (mock time) for server entry `server` is past the
/// server's `consent_ttl` now. Servers without one keep consents forever.
pub fn consent_expired(st: &AppState, server: &str, created: i64) -> bool {
    st.server(server)
        .and_then(|s| s.consent_ttl)
        .is_some_and(|ttl| st.now() >= created.saturating_add(ttl as i64))
}
