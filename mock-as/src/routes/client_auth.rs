//! What the OAuth endpoints (token, revocation, introspection, authorization by POST) do
//! first: read the request's parameters — a form (RFC 6749 §3.2, what clients send) or JSON (how
//! Descope documents its token endpoint) — and authenticate the client (RFC 6749 §2.3:
//! `client_secret_basic`, `client_secret_post`, or a public client's `client_id` alone).

use axum::http::{HeaderMap, StatusCode, header};
use serde_json::Value;

use crate::config::ClientType;
use crate::error::OAuthError;
use crate::parse::{Params, parse_basic};
use crate::protocol::AuthMethod;
use crate::routes::Credential;
use crate::state::AppState;
use crate::store::Client;

/// Read an OAuth request body: `application/x-www-form-urlencoded` (what clients send) or JSON
/// (how Descope documents its token endpoint). Parameters may not repeat, except `repeatable`.
pub fn read_params(
    headers: &HeaderMap,
    body: &[u8],
    repeatable: &[&str],
) -> Result<Params, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-www-form-urlencoded" | "" => {
            Params::parse(body, repeatable).map_err(|e| OAuthError::invalid_request(e.to_string()))
        }
        "application/json" => {
            let v: Value = serde_json::from_slice(body).map_err(|e| {
                OAuthError::invalid_request(format!("the JSON body does not parse: {e}"))
            })?;
            Params::from_json(&v, repeatable).map_err(OAuthError::invalid_request)
        }
        other => Err(OAuthError::invalid_request(format!(
            "Content-Type {other:?} is not supported; send application/x-www-form-urlencoded"
        ))
        .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)),
    }
}

/// A client that identified (and, if confidential, authenticated) itself.
#[derive(Debug)]
pub struct AuthedClient {
    /// The client.
    pub client: Client,
    /// How it authenticated.
    pub method: AuthMethod,
}

impl AuthedClient {
    /// The journal's credential label.
    pub fn credential(&self) -> Credential {
        match self.method {
            AuthMethod::ClientSecretBasic => Credential::Basic,
            AuthMethod::ClientSecretPost => Credential::ClientSecretPost,
            AuthMethod::None => Credential::ClientId,
        }
    }
}

fn secrets_match(a: &str, b: &str) -> bool {
    // Length-independent comparison: no early exit on the first differing byte.
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= (a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0)) as usize;
    }
    diff == 0
}

/// RFC 6749 §2.3 client authentication: Basic, or `client_id` + `client_secret` in the body,
/// or (public clients) `client_id` alone. `require_auth` refuses public clients (introspection).
pub fn authenticate(
    st: &AppState,
    headers: &HeaderMap,
    p: &Params,
    require_auth: bool,
) -> Result<AuthedClient, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.trim_start()
                .get(..6)
                .is_some_and(|s| s.eq_ignore_ascii_case("basic "))
        });
    let (id, secret, method) = if let Some(h) = basic {
        let (id, secret) =
            parse_basic(h).map_err(|e| OAuthError::invalid_client(e.to_string(), true))?;
        if p.get("client_secret").is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method: Basic or client_secret in the body, not both",
            ));
        }
        if p.get("client_id").is_some_and(|c| c != id) {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the Basic credentials",
            ));
        }
        (id, Some(secret), AuthMethod::ClientSecretBasic)
    } else if let Some(secret) = p.get("client_secret") {
        let id = p
            .get("client_id")
            .ok_or_else(|| OAuthError::invalid_request("client_secret without client_id"))?;
        (
            id.to_string(),
            Some(secret.to_string()),
            AuthMethod::ClientSecretPost,
        )
    } else if let Some(id) = p.get("client_id") {
        (id.to_string(), None, AuthMethod::None)
    } else {
        return Err(OAuthError::invalid_client(
            "no client authentication: send client_id (public clients) or credentials",
            false,
        ));
    };
    let is_basic = method == AuthMethod::ClientSecretBasic;
    let client =
        st.store().client(&id).cloned().ok_or_else(|| {
            OAuthError::invalid_client(format!("unknown client {id:?}"), is_basic)
        })?;
    match (client.cfg.kind, secret) {
        (ClientType::Confidential, Some(s)) => {
            if !secrets_match(client.cfg.secret.as_deref().unwrap_or_default(), &s) {
                return Err(OAuthError::invalid_client(
                    format!("wrong secret for client {id:?}"),
                    is_basic,
                ));
            }
        }
        (ClientType::Confidential, None) => {
            return Err(OAuthError::invalid_client(
                format!("client {id:?} is confidential and must authenticate"),
                false,
            ));
        }
        (ClientType::Public, Some(_)) => {
            return Err(OAuthError::invalid_client(
                format!("client {id:?} is public and has no secret"),
                is_basic,
            ));
        }
        (ClientType::Public, None) if require_auth => {
            return Err(OAuthError::invalid_client(
                "this endpoint needs a confidential client's credentials",
                false,
            ));
        }
        (ClientType::Public, None) => {}
    }
    Ok(AuthedClient { client, method })
}
