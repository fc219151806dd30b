//! RFC 8693 token exchange at the token endpoints: a client trades an access token this
//! mock-as issued (`subject_token`) for a token of another configured MCP server, as Descope's
//! agent-auth model does at the project token endpoint, "governed only by Policies"
//! (mock-as/DESCOPE.md §11). The Token Exchange Policy decides; with no rules every exchange is
//! refused, and each refusal names the rule that failed in the journal's `detail`.
//!
//! Decisions where Descope's behaviour is unknown (mock-as/README.md, decisions table): a policy
//! refusal is `400 access_denied` (an unknown target is `invalid_target`, RFC 8693 §2.2.2; a bad
//! subject token `invalid_grant`); the client's `grant_types` do not gate the exchange; the new
//! token lives no longer than the subject token.

use serde_json::{Map, Value, json};

use crate::config::McpServer;
use crate::error::{ErrorCode, OAuthError};
use crate::issue::{Issue, issue_access_token, verify_issued};
use crate::parse::{Params, parse_scope};
use crate::policy::{Subject, decide};
use crate::routes::client_auth::AuthedClient;
use crate::routes::token::names_server;
use crate::state::AppState;
use crate::store::PolicyRef;
use crate::tokens::{IssuerStyle, token_scopes};

/// RFC 8693 §3: the token type of an access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The body of a successful exchange (RFC 8693 §2.2.1) and the journal's `detail`.
pub(super) type Exchanged = (Value, String);

/// The target server: `resource` (RFC 8707, a server URL) and/or `audience` (a server URL or
/// id); when both are sent they must name the same server.
fn target(st: &AppState, p: &Params) -> Result<std::sync::Arc<McpServer>, OAuthError> {
    let invalid_target = |m: String| OAuthError::new(ErrorCode::InvalidTarget, m);
    let by_resource = p
        .get("resource")
        .map(|r| {
            st.servers()
                .into_iter()
                .find(|s| names_server(s, r))
                .ok_or_else(|| invalid_target(format!("resource {r:?} is no MCP server here")))
        })
        .transpose()?;
    let by_audience = p
        .get("audience")
        .map(|a| {
            st.servers()
                .into_iter()
                .find(|s| s.id == a || names_server(s, a))
                .ok_or_else(|| invalid_target(format!("audience {a:?} is no MCP server here")))
        })
        .transpose()?;
    match (by_resource, by_audience) {
        (Some(r), Some(a)) if r.id != a.id => Err(invalid_target(
            "resource and audience name different servers".into(),
        )),
        (Some(s), _) | (None, Some(s)) => Ok(s),
        (None, None) => Err(OAuthError::invalid_request(
            "token exchange needs resource or audience: the server whose token you want",
        )),
    }
}

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693 §2.1).
pub(super) fn token_exchange(
    st: &AppState,
    p: &Params,
    authed: &AuthedClient,
) -> Result<Exchanged, OAuthError> {
    let subject_token = p
        .get("subject_token")
        .ok_or_else(|| OAuthError::invalid_request("subject_token is required"))?;
    match p.get("subject_token_type") {
        Some(ACCESS_TOKEN_TYPE) => {}
        Some(other) => {
            return Err(OAuthError::invalid_request(format!(
                "subject_token_type {other:?} is not supported (only {ACCESS_TOKEN_TYPE})"
            )));
        }
        None => {
            return Err(OAuthError::invalid_request(
                "subject_token_type is required",
            ));
        }
    }
    if p.get("actor_token").is_some() {
        return Err(OAuthError::invalid_request(
            "actor_token is not supported: the authenticated client is the actor",
        ));
    }
    if let Some(t) = p.get("requested_token_type")
        && t != ACCESS_TOKEN_TYPE
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type {t:?} is not supported (only {ACCESS_TOKEN_TYPE})"
        )));
    }
    let target = target(st, p)?;
    let claims = verify_issued(st, subject_token)
        .map_err(|e| OAuthError::invalid_grant(format!("subject_token: {e}")))?;
    let str_claim = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
    let sub = str_claim("sub").unwrap_or_default();
    let tenant = str_claim("dct");
    let user = st.store().user(&sub).cloned();
    let held = token_scopes(&claims);
    let requested = match p.get("scope") {
        Some(s) => parse_scope(s).map_err(|e| OAuthError::invalid_scope(e.to_string()))?,
        None => held.clone(),
    };
    if let Some(s) = requested.iter().find(|s| !held.contains(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope {s:?} is not in the subject token (an exchange never widens it)"
        )));
    }
    let candidates: Vec<String> = requested
        .into_iter()
        .filter(|s| target.knows_scope(s))
        .collect();

    let roles = user
        .as_ref()
        .map(|u| crate::policy::roles_of(u, tenant.as_deref()))
        .unwrap_or_default();
    let subject = Subject {
        user: Some(&sub),
        roles: &roles,
        client: Some(&authed.client.cfg.id),
        tenant: tenant.as_deref(),
        app: None,
        resource: Some(&target.url),
    };
    let rules = st.store().rules(PolicyRef::TokenExchange).to_vec();
    let refused = |reason: String| {
        OAuthError::new(
            ErrorCode::AccessDenied,
            format!("the token exchange policy refuses: {reason}"),
        )
        .with_detail(reason)
    };
    if rules.is_empty() {
        return Err(refused(
            "no token exchange policy configured: every exchange is refused".into(),
        ));
    }
    let mut granted = Vec::new();
    let mut reasons = Vec::new();
    for s in &candidates {
        let d = decide(&rules, &subject, Some(s));
        if d.allowed {
            granted.push(s.clone());
        }
        reasons.push(d.reason);
    }
    if candidates.is_empty() {
        // Nothing to narrow: the request as a whole must be allowed.
        let d = decide(&rules, &subject, None);
        if !d.allowed {
            return Err(refused(d.reason));
        }
        reasons.push(d.reason);
    } else if granted.is_empty() {
        return Err(refused(reasons.join("; ")));
    }

    let now = st.now();
    let remaining = claims
        .get("exp")
        .and_then(Value::as_i64)
        .unwrap_or(now)
        .saturating_sub(now);
    let ttl = (target.access_token_ttl as i64).min(remaining).max(1);
    let mut extra = Map::new();
    extra.insert("act".into(), json!({"sub": authed.client.cfg.id}));
    let (jwt, _) = issue_access_token(
        st,
        &Issue {
            server: &target,
            style: IssuerStyle::McpServer,
            sub: &sub,
            client_id: &authed.client.cfg.id,
            scopes: &granted,
            resource: Some(&target.url),
            user: user.as_ref(),
            tenant: tenant.as_deref(),
            session: None,
            ttl: Some(ttl),
            flaw: None,
            extra: Some(&extra),
            remove: &[],
        },
    )?;
    let body = json!({
        "access_token": jwt,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": granted.join(" "),
    });
    Ok((body, reasons.join("; ")))
}
