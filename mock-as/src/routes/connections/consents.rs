//! Third-party consents (management key only): a user's consents to MCP clients are the grants
//! (sessions) mock-as holds — search them, or delete them, which revokes their refresh and
//! access tokens at once.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{body_object, mgmt_response, opt_str, opt_strings, require_mgmt};
use crate::error::DescopeError;
use crate::state::AppState;

/// `POST /v1/mgmt/thirdparty/consents/search`: a user's consents to MCP clients are the grants
/// (sessions) mock-as holds; `appId` is the OAuth client id.
pub(super) async fn consents_search(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| {
        require_mgmt(&st, &headers)?;
        let o = if body.is_empty() {
            Map::new()
        } else {
            body_object(&body)?
        };
        let app = opt_str(&o, "appId")?;
        let user = opt_str(&o, "userId")?;
        let id = opt_str(&o, "consentId")?;
        let now = st.now();
        let store = st.store();
        let mut consents: Vec<Value> = store
            .sessions()
            .filter(|s| !s.revoked && s.user_id.is_some())
            .filter(|s| app.as_ref().is_none_or(|a| &s.client_id == a))
            .filter(|s| user.as_ref().is_none_or(|u| s.user_id.as_ref() == Some(u)))
            .filter(|s| id.as_ref().is_none_or(|i| &s.id == i))
            .map(|s| {
                let ttl = st.server(&s.server_id).and_then(|m| m.consent_ttl);
                let mut c = json!({"id": s.id, "appId": s.client_id, "userId": s.user_id, "scopes": s.scopes,
                       "grantedBy": s.user_id, "createdTime": s.created, "mcpServerId": s.server_id,
                       "expired": false});
                if let Some(ttl) = ttl {
                    let until = s.created.saturating_add(ttl as i64);
                    c["expiresTime"] = json!(until);
                    c["expired"] = json!(now >= until);
                }
                c
            })
            .collect();
        consents.sort_by(|a, b| a["createdTime"].as_i64().cmp(&b["createdTime"].as_i64()));
        Ok(json!({ "consents": consents }))
    })();
    mgmt_response(result)
}

/// `POST /v1/mgmt/thirdparty/consents/delete`: revoke the matching grants; their refresh tokens
/// and access tokens stop working at once (connection fetches included).
pub(super) async fn consents_delete(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| {
        require_mgmt(&st, &headers)?;
        let o = body_object(&body)?;
        let ids = opt_strings(&o, "consentIds")?;
        let app = opt_str(&o, "appId")?;
        let users = opt_strings(&o, "userIds")?;
        if ids.is_none() && app.is_none() && users.is_none() {
            return Err(DescopeError::missing("send consentIds, appId or userIds"));
        }
        let mut store = st.store();
        let matching: Vec<String> = store
            .sessions()
            .filter(|s| !s.revoked)
            .filter(|s| ids.as_ref().is_none_or(|i| i.contains(&s.id)))
            .filter(|s| app.as_ref().is_none_or(|a| &s.client_id == a))
            .filter(|s| {
                users
                    .as_ref()
                    .is_none_or(|u| s.user_id.as_ref().is_some_and(|x| u.contains(x)))
            })
            .map(|s| s.id.clone())
            .collect();
        for id in &matching {
            store.revoke_session(id, "consent deleted");
        }
        Ok(json!({ "deleted": matching.len() }))
    })();
    mgmt_response(result)
}
