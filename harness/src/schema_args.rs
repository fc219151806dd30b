//! Minimal valid arguments for a tool, generated from its `inputSchema` (JSON Schema, MCP
//! `tools/list`): only required properties, each with the simplest value its schema allows.
//!
//! Free-form strings get a recognisable value, `authcheck-<property>`, so that the probe can tell
//! when a server passed an argument on to the authorization server (a tenant id that came from
//! a tool argument shows up verbatim in mock-as's journal: that names the tool's tenant argument).
//! Written here because no well-kept crate generates *minimal* instances; the schemas MCP SDKs
//! emit (pydantic, zod, schemars) use the small subset handled below.

use serde_json::{Map, Value, json};

/// How deep nested schemas are followed (a recursive `$ref` must not loop).
const MAX_DEPTH: usize = 8;

/// The value the probe sends for a free-form string property `name`.
pub fn marker(name: &str) -> String {
    format!("authcheck-{name}")
}

/// Minimal arguments for a tool whose input schema is `schema` (an object schema; anything
/// else gives `{}`).
pub fn minimal_arguments(schema: &Value) -> Map<String, Value> {
    match example(schema, schema, "value", 0) {
        Value::Object(o) => o,
        _ => Map::new(),
    }
}

/// Arguments with every top-level property of the schema filled in, optional ones too (the
/// probe's second try when the minimal arguments do not make a call succeed: an optional
/// argument, such as a tenant, may be what the tool needs).
pub fn all_arguments(schema: &Value) -> Map<String, Value> {
    let mut out = minimal_arguments(schema);
    let root = resolve(schema, schema);
    if let Some(props) = root.get("properties").and_then(Value::as_object) {
        for (k, sub) in props {
            if !out.contains_key(k) {
                out.insert(k.clone(), example(schema, sub, k, 1));
            }
        }
    }
    out
}

/// Resolve a local `$ref` (`#/$defs/X`, `#/definitions/X`) against the root schema.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let Some(r) = schema.get("$ref").and_then(Value::as_str) else {
        return schema;
    };
    let Some(path) = r.strip_prefix("#/") else {
        return schema;
    };
    let mut cur = root;
    for part in path.split('/') {
        let part = part.replace("~1", "/").replace("~0", "~");
        match cur.get(part.as_str()) {
            Some(v) => cur = v,
            None => return schema,
        }
    }
    cur
}

/// The schema's type: the first non-null one of a type list; inferred from `properties` /
/// `items` when absent.
fn type_of(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ if schema.get("properties").is_some() => Some("object"),
        _ if schema.get("items").is_some() => Some("array"),
        _ => None,
    }
}

fn example(root: &Value, schema: &Value, name: &str, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let schema = resolve(root, schema);
    if let Some(v) = schema.get("const") {
        return v.clone();
    }
    // A `null` default (pydantic/schemars for an optional value) says nothing useful.
    if let Some(v) = schema.get("default").filter(|v| !v.is_null()) {
        return v.clone();
    }
    if let Some(v) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|v| !v.is_null()))
    {
        return v.clone();
    }
    if let Some(v) = schema
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return v.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(opts) = schema.get(key).and_then(Value::as_array) {
            // The first option that is not `null` (pydantic's Optional[X] is anyOf [X, null]).
            if let Some(o) = opts
                .iter()
                .find(|o| type_of(resolve(root, o)) != Some("null"))
            {
                return example(root, o, name, depth + 1);
            }
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for part in all {
            match example(root, part, name, depth + 1) {
                Value::Object(o) => merged.extend(o),
                other if all.len() == 1 => return other,
                _ => {}
            }
        }
        return Value::Object(merged);
    }
    match type_of(schema) {
        Some("object") => {
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let props = schema.get("properties").and_then(Value::as_object);
            let mut out = Map::new();
            for r in required {
                let sub = props.and_then(|p| p.get(r)).unwrap_or(&Value::Null);
                out.insert(r.to_string(), example(root, sub, r, depth + 1));
            }
            Value::Object(out)
        }
        Some("array") => {
            let n = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            let item = schema.get("items").unwrap_or(&Value::Null);
            Value::Array(
                (0..n.min(4))
                    .map(|_| example(root, item, name, depth + 1))
                    .collect(),
            )
        }
        Some("integer") => json!(number(schema, true) as i64),
        Some("number") => json!(number(schema, false)),
        Some("boolean") => json!(false),
        Some("null") => Value::Null,
        // A string, or a schema that says nothing (any value goes: a string is the safest).
        _ => json!(string(schema, name)),
    }
}

fn number(schema: &Value, integer: bool) -> f64 {
    let get = |k: &str| schema.get(k).and_then(Value::as_f64);
    let mut v = 1.0_f64;
    if let Some(m) = get("minimum") {
        v = v.max(m);
    }
    if let Some(m) = get("exclusiveMinimum") {
        v = v.max(if integer { m.floor() + 1.0 } else { m + 1.0 });
    }
    if let Some(m) = get("maximum") {
        v = v.min(m);
    }
    if let Some(m) = get("exclusiveMaximum")
        && v >= m
    {
        v = if integer { m.ceil() - 1.0 } else { m - 1.0 };
    }
    if integer { v.round() } else { v }
}

fn string(schema: &Value, name: &str) -> String {
    let fmt = schema.get("format").and_then(Value::as_str).unwrap_or("");
    let mut s = match fmt {
        "date-time" => "2026-01-01T00:00:00Z".to_string(),
        "date" => "2026-01-01".to_string(),
        "time" => "00:00:00Z".to_string(),
        "email" => "authcheck@example.com".to_string(),
        "uri" | "url" | "iri" => "https://example.com/".to_string(),
        "uuid" => "00000000-0000-4000-8000-000000000000".to_string(),
        _ => marker(name),
    };
    let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    while s.chars().count() < min {
        s.push('x');
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
        s = s.chars().take(max as usize).collect();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_required_properties_with_simple_values() {
        let s = json!({
            "type": "object",
            "properties": {
                "summary": {"type": "string"},
                "count": {"type": "integer", "minimum": 3},
                "when": {"type": "string", "format": "date-time"},
                "kind": {"enum": ["a", "b"]},
                "optional": {"type": "string"}
            },
            "required": ["summary", "count", "when", "kind"]
        });
        let a = minimal_arguments(&s);
        assert_eq!(
            Value::Object(a),
            json!({"summary": "authcheck-summary", "count": 3, "when": "2026-01-01T00:00:00Z", "kind": "a"})
        );
    }

    #[test]
    fn pydantic_optional_refs_and_nesting() {
        let s = json!({
            "type": "object",
            "$defs": {"Range": {"type": "object", "properties": {"lo": {"type": "number", "exclusiveMinimum": 0}}, "required": ["lo"]}},
            "properties": {
                "r": {"$ref": "#/$defs/Range"},
                "tenant": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "flag": {"type": ["boolean", "null"]}
            },
            "required": ["r", "tenant", "tags", "flag"]
        });
        let a = Value::Object(minimal_arguments(&s));
        assert_eq!(
            a,
            json!({"r": {"lo": 1.0}, "tenant": "authcheck-tenant", "tags": ["authcheck-tags"], "flag": false})
        );
    }

    #[test]
    fn no_schema_or_recursive_schema_terminates() {
        assert!(minimal_arguments(&json!(null)).is_empty());
        assert!(minimal_arguments(&json!({"type": "object"})).is_empty());
        let s = json!({"$defs": {"N": {"type": "object", "properties": {"n": {"$ref": "#/$defs/N"}}, "required": ["n"]}}, "$ref": "#/$defs/N"});
        let a = minimal_arguments(&s);
        assert!(a.contains_key("n"));
    }

    #[test]
    fn all_arguments_fill_optional_properties_too() {
        let s = json!({"type": "object", "properties": {"a": {"type": "string"}, "tenant": {"type": "string"}}, "required": ["a"]});
        assert_eq!(minimal_arguments(&s).len(), 1);
        assert_eq!(
            Value::Object(all_arguments(&s)),
            json!({"a": "authcheck-a", "tenant": "authcheck-tenant"})
        );
    }

    #[test]
    fn string_lengths_are_respected() {
        let s = json!({"type": "object", "properties": {"c": {"type": "string", "minLength": 12, "maxLength": 12}}, "required": ["c"]});
        assert_eq!(minimal_arguments(&s)["c"].as_str().map(str::len), Some(12));
    }
}
