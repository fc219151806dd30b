#![allow(clippy::unwrap_used)]
//! One rule, one place: the same bad value fed to the config loader (as TOML) and to the control
//! API (against a real listener) is refused by both, naming the same field with the same
//! message, and a refused API call changes nothing (issue 14 part 4).

mod common;
use common::*;

use serde_json::{Value, json};

/// The embedded default as a TOML table.
fn default_table() -> toml::Table {
    mock_as::config::DEFAULT_TOML.parse().unwrap()
}

/// The `i`-th entry of the array `key`.
fn entry<'a>(t: &'a mut toml::Table, key: &str, i: usize) -> &'a mut toml::Table {
    t[key].as_array_mut().unwrap()[i].as_table_mut().unwrap()
}

/// Load the default changed by `edit`; the error's (field, message).
fn load_error(edit: impl FnOnce(&mut toml::Table)) -> (String, String) {
    let mut t = default_table();
    edit(&mut t);
    let text = toml::to_string(&t).unwrap();
    let e = mock_as::Config::parse(&text, "agree.toml", None)
        .expect_err("the config loader accepted it");
    (e.field, e.message)
}

/// `{key = value}`.
fn table(key: &str, value: &str) -> toml::Value {
    let mut t = toml::Table::new();
    t.insert(key.into(), value.into());
    toml::Value::Table(t)
}

/// One bad value, both ways.
struct Case {
    what: &'static str,
    edit: fn(&mut toml::Table),
    /// The loader's field, e.g. `mcp_servers[0].access_token_ttl`.
    field: &'static str,
    /// Method, path and body of the control API request.
    method: &'static str,
    path: &'static str,
    body: fn() -> Value,
    /// The API's field (the loader's without its `section[i].` prefix).
    api_field: &'static str,
    /// What must not change: a GET path.
    state: &'static str,
}

const TEN_YEARS_AND_A_DAY: i64 = 10 * 365 * 24 * 3600 + 86_400;

fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "a server's access-token lifetime of 0",
            edit: |t| {
                entry(t, "mcp_servers", 0).insert("access_token_ttl".into(), 0.into());
            },
            field: "mcp_servers[0].access_token_ttl",
            method: "PATCH",
            path: "/_mock/servers/MS2calendar",
            body: || json!({"access_token_ttl": 0}),
            api_field: "access_token_ttl",
            state: "/_mock/servers/MS2calendar",
        },
        Case {
            what: "a server's access-token lifetime over ten years",
            edit: |t| {
                entry(t, "mcp_servers", 0)
                    .insert("access_token_ttl".into(), TEN_YEARS_AND_A_DAY.into());
            },
            field: "mcp_servers[0].access_token_ttl",
            method: "PATCH",
            path: "/_mock/servers/MS2calendar",
            body: || json!({"access_token_ttl": TEN_YEARS_AND_A_DAY}),
            api_field: "access_token_ttl",
            state: "/_mock/servers/MS2calendar",
        },
        Case {
            what: "scopes that drop one the MCP Server Policy grants",
            edit: |t| {
                let s = entry(t, "mcp_servers", 0);
                s.insert(
                    "scopes".into(),
                    toml::Value::Array(vec![table("name", "mcp:read")]),
                );
            },
            field: "mcp_servers[0].consent_policy[0].scopes",
            method: "PATCH",
            path: "/_mock/servers/MS2calendar",
            body: || json!({"scopes": [{"name": "mcp:read"}]}),
            api_field: "consent_policy[0].scopes",
            state: "/_mock/servers/MS2calendar",
        },
        Case {
            what: "a resource URL that is not a URL",
            edit: |t| {
                entry(t, "mcp_servers", 0).insert("url".into(), "not a url".into());
            },
            field: "mcp_servers[0].url",
            method: "PATCH",
            path: "/_mock/servers/MS2calendar",
            body: || json!({"url": "not a url"}),
            api_field: "url",
            state: "/_mock/servers/MS2calendar",
        },
        Case {
            what: "a scope name that is two scope tokens",
            edit: |t| {
                let s = entry(t, "mcp_servers", 0);
                s["scopes"].as_array_mut().unwrap()[0]
                    .as_table_mut()
                    .unwrap()
                    .insert("name".into(), "a b".into());
            },
            field: "mcp_servers[0].scopes[0].name",
            method: "PATCH",
            path: "/_mock/servers/MS2calendar",
            body: || json!({"scopes": [{"name": "a b"}]}),
            api_field: "scopes[0].name",
            state: "/_mock/servers/MS2calendar",
        },
        Case {
            what: "an empty audience",
            edit: |t| {
                entry(t, "mcp_servers", 0).insert("audience".into(), toml::Value::Array(vec![]));
            },
            field: "mcp_servers[0].audience",
            method: "PATCH",
            path: "/_mock/servers/MS2calendar",
            body: || json!({"audience": []}),
            api_field: "audience",
            state: "/_mock/servers/MS2calendar",
        },
        Case {
            what: "an outbound app's token lifetime of 0",
            edit: |t| {
                entry(t, "outbound_apps", 0).insert("token_ttl".into(), 0.into());
            },
            field: "outbound_apps[0].token_ttl",
            method: "POST",
            path: "/_mock/apps",
            body: || {
                json!({"id": "google-calendar", "name": "G", "scopes": ["calendar.readonly"],
                       "token_ttl": 0})
            },
            api_field: "token_ttl",
            state: "/_mock/apps",
        },
        Case {
            what: "an outbound app's token lifetime over ten years",
            edit: |t| {
                entry(t, "outbound_apps", 0).insert("token_ttl".into(), TEN_YEARS_AND_A_DAY.into());
            },
            field: "outbound_apps[0].token_ttl",
            method: "POST",
            path: "/_mock/apps",
            body: || {
                json!({"id": "google-calendar", "name": "G", "scopes": ["calendar.readonly"],
                       "token_ttl": TEN_YEARS_AND_A_DAY})
            },
            api_field: "token_ttl",
            state: "/_mock/apps",
        },
        Case {
            what: "an outbound app id with a slash",
            edit: |t| {
                entry(t, "outbound_apps", 0).insert("id".into(), "a/b".into());
            },
            field: "outbound_apps[0].id",
            method: "POST",
            path: "/_mock/apps",
            body: || json!({"id": "a/b", "name": "G", "scopes": [], "token_ttl": 60}),
            api_field: "id",
            state: "/_mock/apps",
        },
        Case {
            what: "a Connections Policy rule naming an unknown user",
            edit: |t| {
                entry(t, "connection_policy", 0)
                    .insert("users".into(), toml::Value::Array(vec!["U2nobody".into()]));
            },
            field: "connection_policy[0].users",
            method: "PUT",
            path: "/_mock/policies/connections",
            body: || json!([{"name": "x", "users": ["U2nobody"], "scopes": ["*"]}]),
            api_field: "[0].users",
            state: "/_mock/policies",
        },
        Case {
            what: "a Token Exchange Policy rule targeting a resource that is no server",
            edit: |t| {
                entry(t, "token_exchange_policy", 0).insert(
                    "resources".into(),
                    toml::Value::Array(vec!["https://nowhere.example/mcp".into()]),
                );
            },
            field: "token_exchange_policy[0].resources",
            method: "PUT",
            path: "/_mock/policies/token-exchange",
            body: || json!([{"name": "x", "resources": ["https://nowhere.example/mcp"]}]),
            api_field: "[0].resources",
            state: "/_mock/policies",
        },
        Case {
            what: "a Connections Policy rule naming resources (only token exchange targets them)",
            edit: |t| {
                entry(t, "connection_policy", 0).insert(
                    "resources".into(),
                    toml::Value::Array(vec!["http://127.0.0.1:8002/mcp".into()]),
                );
            },
            field: "connection_policy[0].resources",
            method: "PUT",
            path: "/_mock/policies/connections",
            body: || json!([{"name": "x", "resources": ["http://127.0.0.1:8002/mcp"]}]),
            api_field: "[0].resources",
            state: "/_mock/policies",
        },
        Case {
            what: "an MCP Server Policy rule naming an unknown tenant",
            edit: |t| {
                let s = entry(t, "mcp_servers", 0);
                s["consent_policy"].as_array_mut().unwrap()[0]
                    .as_table_mut()
                    .unwrap()
                    .insert("tenants".into(), toml::Value::Array(vec!["T9none".into()]));
            },
            field: "mcp_servers[0].consent_policy[0].tenants",
            method: "PUT",
            path: "/_mock/policies/consent/MS2calendar",
            body: || json!([{"name": "x", "tenants": ["T9none"], "scopes": ["mcp:read"]}]),
            api_field: "[0].tenants",
            state: "/_mock/policies",
        },
        Case {
            what: "an MCP Server Policy rule granting a scope the server does not have",
            edit: |t| {
                let s = entry(t, "mcp_servers", 0);
                s["consent_policy"].as_array_mut().unwrap()[0]
                    .as_table_mut()
                    .unwrap()
                    .insert(
                        "scopes".into(),
                        toml::Value::Array(vec!["files.read".into()]),
                    );
            },
            field: "mcp_servers[0].consent_policy[0].scopes",
            method: "PUT",
            path: "/_mock/policies/consent/MS2calendar",
            body: || json!([{"name": "x", "scopes": ["files.read"]}]),
            api_field: "[0].scopes",
            state: "/_mock/policies",
        },
        Case {
            what: "an MCP Server Policy rule naming apps",
            edit: |t| {
                let s = entry(t, "mcp_servers", 0);
                s["consent_policy"].as_array_mut().unwrap()[0]
                    .as_table_mut()
                    .unwrap()
                    .insert(
                        "apps".into(),
                        toml::Value::Array(vec!["google-calendar".into()]),
                    );
            },
            field: "mcp_servers[0].consent_policy[0].apps",
            method: "PUT",
            path: "/_mock/policies/consent/MS2calendar",
            body: || json!([{"name": "x", "apps": ["google-calendar"], "scopes": ["mcp:read"]}]),
            api_field: "[0].apps",
            state: "/_mock/policies",
        },
        Case {
            what: "a connection of an unknown user",
            edit: |t| {
                entry(t, "connections", 0).insert("user".into(), "U2nobody".into());
            },
            field: "connections[0].user",
            method: "POST",
            path: "/_mock/connections",
            body: || json!({"app": "google-calendar", "user": "U2nobody"}),
            api_field: "user",
            state: "/_mock/connections",
        },
        Case {
            what: "a connection of an unknown tenant",
            edit: |t| {
                let c = entry(t, "connections", 0);
                c.remove("user");
                c.insert("tenant".into(), "T9none".into());
            },
            field: "connections[0].tenant",
            method: "POST",
            path: "/_mock/connections",
            body: || json!({"app": "google-calendar", "tenant": "T9none"}),
            api_field: "tenant",
            state: "/_mock/connections",
        },
        Case {
            what: "a connection with a scope its app does not have",
            edit: |t| {
                entry(t, "connections", 0).insert(
                    "scopes".into(),
                    toml::Value::Array(vec!["drive.read".into()]),
                );
            },
            field: "connections[0].scopes",
            method: "POST",
            path: "/_mock/connections",
            body: || json!({"app": "google-calendar", "user": "U2alice", "scopes": ["drive.read"]}),
            api_field: "scopes",
            state: "/_mock/connections",
        },
        Case {
            what: "a connection of an unknown app",
            edit: |t| {
                entry(t, "connections", 0).insert("app".into(), "no-such-app".into());
            },
            field: "connections[0].app",
            method: "POST",
            path: "/_mock/connections",
            body: || json!({"app": "no-such-app", "user": "U2alice"}),
            api_field: "app",
            state: "/_mock/connections",
        },
        Case {
            what: "a connection with neither user nor tenant",
            edit: |t| {
                entry(t, "connections", 0).remove("user");
            },
            field: "connections[0].user",
            method: "POST",
            path: "/_mock/connections",
            body: || json!({"app": "google-calendar"}),
            api_field: "user",
            state: "/_mock/connections",
        },
        Case {
            what: "a user in an unknown tenant",
            edit: |t| {
                entry(t, "users", 0).insert(
                    "tenants".into(),
                    toml::Value::Array(vec![table("id", "T9none")]),
                );
            },
            field: "users[0].tenants[0].id",
            method: "POST",
            path: "/_mock/users",
            body: || {
                json!({"id": "U2alice", "login_id": "alice@example.com",
                       "tenants": [{"id": "T9none"}]})
            },
            api_field: "tenants[0].id",
            state: "/_mock/users",
        },
        Case {
            what: "a client of an unknown MCP server",
            edit: |t| {
                entry(t, "clients", 0)
                    .insert("servers".into(), toml::Value::Array(vec!["MS2none".into()]));
            },
            field: "clients[0].servers[0]",
            method: "POST",
            path: "/_mock/clients",
            body: || {
                json!({"id": "agree-client", "type": "public",
                       "redirect_uris": ["http://127.0.0.1:1/cb"],
                       "grant_types": ["authorization_code"], "servers": ["MS2none"]})
            },
            api_field: "servers[0]",
            state: "/_mock/clients",
        },
    ]
}

#[tokio::test]
async fn the_config_loader_and_the_control_api_refuse_the_same_values_alike() {
    let m = Mock::start().await;
    let mut failures = Vec::new();
    for c in cases() {
        let (field, message) = load_error(c.edit);
        if field != c.field {
            failures.push(format!(
                "{}: the loader named {field:?} ({message}), expected {:?}",
                c.what, c.field
            ));
            continue;
        }
        let (_, before) = m.get_json(c.state).await;
        let req = match c.method {
            "PATCH" => m.http.patch(m.url(c.path)),
            "PUT" => m.http.put(m.url(c.path)),
            _ => m.http.post(m.url(c.path)),
        };
        let r = req.json(&(c.body)()).send().await.unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        let api = v["message"].as_str().unwrap_or_default();
        let want = format!("{}: {message}", c.api_field);
        if status != 400 || !api.starts_with(&want) {
            failures.push(format!(
                "{}: the control API answered {status} {v}; expected 400 with a message starting {want:?}",
                c.what
            ));
        }
        let (_, after) = m.get_json(c.state).await;
        if before != after {
            failures.push(format!(
                "{}: the refused request changed {}: {before} -> {after}",
                c.what, c.state
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn scopes_and_the_rules_that_grant_them_change_in_one_patch() {
    let m = Mock::start().await;
    let patch = |body: Value| {
        m.http
            .patch(m.url(&format!("/_mock/servers/{SID}")))
            .json(&body)
            .send()
    };
    let r = patch(json!({"scopes": [{"name": "mcp:read"}]}))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("send the new consent_policy in the same PATCH"),
        "{v}"
    );
    let r = patch(json!({"scopes": [{"name": "mcp:read"}],
                         "consent_policy": [{"name": "everyone", "scopes": ["mcp:read"]}]}))
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, p) = m.get_json("/_mock/policies").await;
    let rules = p["consent"][SID].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{p}");
    assert_eq!(rules[0]["name"], "everyone", "{p}");
    assert_eq!(rules[0]["scopes"], json!(["mcp:read"]), "{p}");
}
