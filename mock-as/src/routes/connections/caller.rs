//! Who is calling a connection endpoint: `Authorization: Bearer <pid>:<secret>` split on the
//! first `:` (mock-as/DESCOPE.md §7.2) — a management key (full access, policies bypassed) or an MCP
//! access token issued by mock-as (verified, of this project's issuers, not revoked) — and the
//! journal's credential label for each.

use axum::http::{HeaderMap, StatusCode, header};
use serde_json::Value;

use super::err;
use crate::error::{DescopeError, codes};
use crate::issue::{NotIssued, verify_issued};
use crate::parse::{parse_bearer, split_project_bearer};
use crate::routes::Credential;
use crate::state::AppState;
use crate::tokens::token_scopes;

/// Who is calling.
#[derive(Debug)]
pub(super) enum Caller {
    /// A management key: full access, policies bypassed.
    Management,
    /// A user's MCP access token issued by mock-as.
    User {
        /// Its `sub`.
        sub: String,
        /// Its `client_id` (or `azp`).
        client: Option<String>,
        /// Its scopes.
        scopes: Vec<String>,
        /// Its `dct`, if any.
        dct: Option<String>,
    },
}

/// Authenticate `Bearer <pid>:<secret>`.
pub(super) fn caller(st: &AppState, headers: &HeaderMap) -> Result<Caller, DescopeError> {
    let unauthorized = |m: String| {
        err(
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHORIZED,
            "Unauthorized",
            m,
        )
    };
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let tok = auth.and_then(|h| parse_bearer(h).ok()).ok_or_else(|| {
        unauthorized(
            "needs Authorization: Bearer <project id>:<management key or access token>".into(),
        )
    })?;
    let (pid, secret) = split_project_bearer(tok);
    if pid != st.pid() {
        return Err(unauthorized(format!(
            "the bearer names project {pid:?}, not {:?}",
            st.pid()
        )));
    }
    let secret = secret
        .ok_or_else(|| unauthorized("the bearer has no secret after <project id>:".into()))?;
    if st.is_management_key(secret) {
        return Ok(Caller::Management);
    }
    let claims = verify_issued(st, secret).map_err(|e| match e {
        NotIssued::Expired => err(
            StatusCode::UNAUTHORIZED,
            codes::TOKEN_EXPIRED,
            "Token expired",
            "the access token has expired",
        ),
        NotIssued::Invalid(m) => unauthorized(format!(
            "the bearer is neither a management key nor a valid access token: {m}"
        )),
        NotIssued::ForeignIssuer(iss) => unauthorized(format!(
            "the access token's issuer {iss:?} is not of project {:?}",
            st.pid()
        )),
        NotIssued::Revoked => err(
            StatusCode::UNAUTHORIZED,
            codes::TOKEN_REVOKED,
            "Token revoked",
            "the access token (or the session it belongs to) was revoked",
        ),
        NotIssued::ConsentExpired => err(
            StatusCode::UNAUTHORIZED,
            codes::TOKEN_REVOKED,
            "Token revoked",
            "the consent behind the access token expired (consent_ttl): the user must consent again",
        ),
    })?;
    let s = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(Caller::User {
        sub: s("sub").unwrap_or_default(),
        client: s("client_id").or_else(|| s("azp")),
        scopes: token_scopes(&claims),
        dct: s("dct"),
    })
}

pub(super) fn credential(c: &Result<Caller, DescopeError>) -> Credential {
    match c {
        Ok(Caller::Management) => Credential::BearerManagementKey,
        Ok(Caller::User { .. }) => Credential::BearerProjectJwt,
        Err(_) => Credential::BearerInvalid,
    }
}
