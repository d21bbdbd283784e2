//! `docs/openapi.json` (served at `{admin_path}/openapi.json`) is valid JSON, an OpenAPI 3.1
//! document, and describes every endpoint of the admin and self-service API (with the state
//! tier's principal and token revocation and audit log). The runtime test
//! `tests/runtime/openapi.test.mjs` checks the real responses against its schemas.

use serde_json::Value;

const DOCUMENT: &str = include_str!("../docs/openapi.json");

fn document() -> Value {
    serde_json::from_str(DOCUMENT).expect("docs/openapi.json is JSON")
}

#[test]
fn the_document_is_openapi_3_1_under_the_default_admin_path() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    assert_eq!(doc["servers"][0]["url"], "/_auth");
    assert!(doc["info"]["title"].is_string());
    assert_eq!(
        doc["info"]["version"],
        env!("CARGO_PKG_VERSION"),
        "info.version follows the crate"
    );
}

#[test]
fn every_endpoint_and_method_is_listed() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    let expected: &[(&str, &[&str])] = &[
        ("/health", &["get"]),
        ("/jwks.json", &["get"]),
        ("/openapi.json", &["get"]),
        ("/keys", &["get", "post"]),
        ("/keys/import", &["post"]),
        ("/keys/adopt", &["post"]),
        ("/keys/{id}", &["delete", "get", "patch"]),
        ("/keys/{id}/roll", &["post"]),
        ("/keys/{id}/usage", &["get"]),
        ("/pats", &["get", "post"]),
        ("/pats/{id}", &["delete", "get"]),
        ("/principals/revoke", &["post"]),
        ("/tokens/revoke", &["post"]),
        ("/audit", &["get"]),
    ];
    let methods = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    for (path, want) in expected {
        let item = paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is missing"));
        let mut have: Vec<&str> = methods
            .iter()
            .copied()
            .filter(|m| item.get(*m).is_some())
            .collect();
        have.sort_unstable();
        assert_eq!(&have, want, "{path}");
    }
    assert_eq!(paths.len(), expected.len(), "no undocumented extra paths");
}

/// Every `$ref` points at something the document defines.
#[test]
fn every_reference_resolves() {
    fn walk(doc: &Value, v: &Value, seen: &mut usize) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    let pointer = r.strip_prefix('#').expect("local reference");
                    assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
                    *seen += 1;
                }
                map.values().for_each(|c| walk(doc, c, seen));
            }
            Value::Array(items) => items.iter().for_each(|c| walk(doc, c, seen)),
            _ => {}
        }
    }
    let doc = document();
    let mut seen = 0;
    walk(&doc, &doc, &mut seen);
    assert!(seen > 50, "{seen} references");
}

/// The request bodies refuse unknown fields, as the Rust side does (`deny_unknown_fields`).
#[test]
fn request_bodies_refuse_unknown_fields() {
    let doc = document();
    for name in [
        "CreateKey",
        "CreatePat",
        "Roll",
        "Import",
        "ImportKey",
        "RevokePrincipal",
        "RevokeToken",
        "UpdateKey",
        "Limit",
        "Credits",
        "Refill",
    ] {
        let schema = &doc["components"]["schemas"][name];
        assert_eq!(schema["additionalProperties"], false, "{name}");
    }
    let problem = &doc["components"]["schemas"]["Problem"];
    let mut required: Vec<&str> = problem["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort_unstable();
    assert_eq!(
        required,
        ["detail", "request_id", "status", "title", "type"]
    );
}
