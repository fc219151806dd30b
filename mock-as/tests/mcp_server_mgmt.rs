//! Descope's MCP server management API (`/v1/mgmt/mcp/...`, management key) against a real
//! listener: list, load, create, update, the clients of a server; changes take effect on the
//! next request.
#![allow(clippy::unwrap_used)]

mod common;

use common::{MGMT_KEY, Mock, PID, PUBLIC_CLIENT, SID};
use serde_json::{Value, json};

async fn mgmt(m: &Mock, path: &str, body: Value) -> (u16, Value) {
    m.mgmt(path, body).await
}

#[tokio::test]
async fn servers_are_listed_and_loaded_in_descopes_shape() {
    let m = Mock::start().await;
    let (s, v) = mgmt(&m, "/v1/mgmt/mcp/servers/all", json!({})).await;
    assert_eq!(s, 200, "{v}");
    let ids: Vec<&str> = v["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["id"].as_str())
        .collect();
    assert_eq!(ids, ["MS2calendar", "MS2notes"]);
    let (s, v) = mgmt(&m, "/v1/mgmt/mcp/server/load", json!({"id": SID})).await;
    assert_eq!(s, 200, "{v}");
    let srv = &v["server"];
    assert_eq!(
        srv["audienceWhitelist"],
        json!(["http://127.0.0.1:8001/mcp"])
    );
    assert_eq!(
        srv["sessionSettings"]["accessTokenExpiration"],
        json!({"value": 3600, "unit": "seconds"})
    );
    assert_eq!(srv["dynamicRegistration"]["enabled"], true);
    assert_eq!(srv["cimdSettings"]["enabled"], false);
    assert!(
        srv["approvedScopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "mcp:read")
    );
    // GET works for the list too; errors are Descope-shaped.
    let r = m
        .http
        .get(m.url("/v1/mgmt/mcp/servers/all"))
        .header("authorization", format!("Bearer {PID}:{MGMT_KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, v) = mgmt(&m, "/v1/mgmt/mcp/server/load", json!({"id": "MS2nope"})).await;
    assert_eq!(s, 404, "{v}");
    assert!(v["errorCode"].as_str().is_some(), "{v}");
    let (s, v) = mgmt(&m, "/v1/mgmt/mcp/server/load", json!({})).await;
    assert_eq!((s, v["errorCode"].as_str()), (400, Some("E011002")), "{v}");
    let r = m
        .http
        .post(m.url("/v1/mgmt/mcp/servers/all"))
        .header("authorization", format!("Bearer {PID}:wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn an_update_takes_effect_on_the_next_request() {
    let m = Mock::start().await;
    let (s, v) = mgmt(
        &m,
        "/v1/mgmt/mcp/server/update",
        json!({"server": {"id": SID,
            "sessionSettings": {"accessTokenExpiration": {"value": 5, "unit": "minutes"}},
            "dynamicRegistration": {"enabled": false}}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["server"]["sessionSettings"]["accessTokenExpiration"]["value"],
        300
    );
    // The control API sees the same entry; the token endpoint and DCR follow it.
    let (_, e) = m.get_json(&format!("/_mock/servers/{SID}")).await;
    assert_eq!(e["access_token_ttl"], 300);
    assert_eq!(e["dcr"], false);
    let t = m.code_flow(&[]).await;
    assert_eq!(t["expires_in"], 300, "{t}");
    let r = m
        .http
        .post(m.url(&format!("/v1/mgmt/mcp/client/{PID}/{SID}/register")))
        .json(&json!({"redirect_uris": ["http://127.0.0.1:5555/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Bad values are refused and change nothing.
    for bad in [
        json!({"id": SID, "sessionSettings": {"accessTokenExpiration": {"value": 1, "unit": "fortnights"}}}),
        json!({"id": SID, "sessionSettings": {"accessTokenExpiration": {"value": 0, "unit": "seconds"}}}),
        json!({"id": SID, "audienceWhitelist": ["http://a/mcp", "http://b/mcp"]}),
        json!({"id": SID, "audienceWhitelist": ["http://127.0.0.1:8002/mcp"]}),
        json!({"id": SID, "approvedScopes": "mcp:read"}),
    ] {
        let (s, v) = mgmt(&m, "/v1/mgmt/mcp/server/update", bad.clone()).await;
        assert_eq!(s, 400, "{bad}: {v}");
        assert_eq!(v["errorCode"], "E011004", "{bad}: {v}");
    }
    let (_, e) = m.get_json(&format!("/_mock/servers/{SID}")).await;
    assert_eq!(e["access_token_ttl"], 300, "unchanged: {e}");
}

#[tokio::test]
async fn a_created_server_serves_discovery_and_lists_its_clients() {
    let m = Mock::start().await;
    let (s, v) = mgmt(
        &m,
        "/v1/mgmt/mcp/server/create",
        json!({"id": "MS2tasks", "name": "Tasks", "audienceWhitelist": ["http://127.0.0.1:8003/mcp"],
               "approvedScopes": [{"name": "tasks.read"}]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["server"]["id"], "MS2tasks");
    let (s, d) = m
        .get_json(&format!(
            "/v1/apps/agentic/{PID}/MS2tasks/.well-known/oauth-authorization-server"
        ))
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["issuer"], m.issuer("MS2tasks"));
    let (s, v) = mgmt(
        &m,
        "/v1/mgmt/mcp/server/create",
        json!({"id": "MS2tasks", "audienceWhitelist": ["http://127.0.0.1:8004/mcp"]}),
    )
    .await;
    assert_eq!(s, 400, "duplicate id: {v}");
    let (s, v) = mgmt(&m, "/v1/mgmt/mcp/server/create", json!({"name": "no url"})).await;
    assert_eq!((s, v["errorCode"].as_str()), (400, Some("E011002")), "{v}");
    // Without an id one is generated.
    let (s, v) = mgmt(
        &m,
        "/v1/mgmt/mcp/server/create",
        json!({"audienceWhitelist": ["http://127.0.0.1:8005/mcp"]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["server"]["id"].as_str().unwrap().starts_with("MS"), "{v}");

    // A DCR client of the new server shows up in its clients, not in the calendar's.
    let r = m
        .http
        .post(m.url(&format!("/v1/mgmt/mcp/client/{PID}/MS2tasks/register")))
        .json(&json!({"client_name": "tasker", "redirect_uris": ["http://127.0.0.1:5555/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let reg: Value = r.json().await.unwrap();
    let (s, v) = mgmt(
        &m,
        "/v1/mgmt/mcp/server/clients/search",
        json!({"serverId": "MS2tasks"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let ids: Vec<&str> = v["clients"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(ids.contains(&reg["client_id"].as_str().unwrap()), "{v}");
    assert_eq!(v["total"].as_u64(), Some(ids.len() as u64));
    let (_, cal) = mgmt(
        &m,
        "/v1/mgmt/mcp/server/clients/search",
        json!({"serverId": SID}),
    )
    .await;
    let cal_ids: Vec<&str> = cal["clients"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(cal_ids.contains(&PUBLIC_CLIENT), "{cal}");
    assert!(
        !cal_ids.contains(&reg["client_id"].as_str().unwrap()),
        "{cal}"
    );
    let (s, _) = mgmt(&m, "/v1/mgmt/mcp/server/clients/search", json!({})).await;
    assert_eq!(s, 400);
}
