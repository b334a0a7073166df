//! Real output checked against the JSON Schemas under `docs/schemas/`,
//! the files users are pointed to: a schema that drifts from the code
//! fails here, not in someone's pipeline.

use std::path::Path;

use serde_json::Value;

/// Panics, naming every error, unless `instance` is valid against
/// `docs/schemas/<name>.schema.json`.
pub(crate) fn assert_matches_schema(name: &str, instance: &Value) {
    if let Err(message) = validate(name, instance) {
        panic!("output does not match docs/schemas/{name}.schema.json:\n{message}\n{instance:#}");
    }
}

fn validate(name: &str, instance: &Value) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/schemas")
        .join(format!("{name}.schema.json"));
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    let index = compiler
        .compile(&path.to_string_lossy(), &mut schemas)
        .map_err(|error| format!("the schema itself: {error:#}"))?;
    schemas
        .validate(instance, index)
        .map_err(|error| format!("{error:#}"))
}

#[test]
fn a_document_against_its_schema_can_fail() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("probe.schema.json");
    std::fs::write(
        &schema,
        r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
            "required":["schema_version"],"properties":{"schema_version":{"const":1}}}"#,
    )
    .unwrap();
    let mut schemas = boon::Schemas::new();
    let index = boon::Compiler::new()
        .compile(&schema.to_string_lossy(), &mut schemas)
        .unwrap();
    assert!(
        schemas
            .validate(&serde_json::json!({"schema_version": 1}), index)
            .is_ok()
    );
    assert!(
        schemas
            .validate(&serde_json::json!({"schema_version": 2}), index)
            .is_err()
    );
    assert!(validate("no-such-document", &serde_json::json!({})).is_err());
}
