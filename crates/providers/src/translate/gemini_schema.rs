//! JSON Schema → Gemini's `Schema` (a subset of OpenAPI 3.0), for `responseSchema` and
//! function `parameters`.
//!
//! Kept: `type` (upper-cased; `["T","null"]` → `T` + `nullable`), `format` where Gemini takes
//! it (`enum`, `date-time`; `float`, `double`; `int32`, `int64`), `description`, `nullable`,
//! string `enum` and `const`, `properties`, `required` (only names that are properties),
//! `items`, `anyOf`/`oneOf` (a `null` branch → `nullable`; one branch left → inlined),
//! `allOf` (merged), `minItems`, `maxItems`, `minLength`, `maxLength`, `minProperties`,
//! `maxProperties`, `minimum`, `maximum`. Local `$ref`s (`#/$defs/…`, `#/definitions/…`) are
//! inlined, at most [`MAX_DEPTH`] deep (a recursive schema is cut there). For a response
//! schema, `propertyOrdering` records the client's property order (Gemini otherwise sorts
//! keys). Everything else (`additionalProperties`, `pattern`, `title`, `default`, tuple
//! `items`, non-string enums, ...) is dropped.

use serde_json::{json, Map, Value};

/// How deep nested schemas and `$ref`s are followed.
pub const MAX_DEPTH: usize = 32;

/// Converts a JSON Schema. `ordering`: add `propertyOrdering` (response schemas).
pub fn convert(schema: &Value, ordering: bool) -> Value {
    Value::Object(node(schema, schema, ordering, 0))
}

fn node(v: &Value, root: &Value, ordering: bool, depth: usize) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(o) = v.as_object() else {
        return out;
    };
    if depth > MAX_DEPTH {
        return out;
    }
    if let Some(r) = o.get("$ref").and_then(Value::as_str) {
        let mut target = resolve(root, r)
            .map(|t| node(t, root, ordering, depth + 1))
            .unwrap_or_default();
        if let Some(d) = o.get("description").filter(|d| d.is_string()) {
            target.insert("description".into(), d.clone());
        }
        return target;
    }

    let mut nullable = o.get("nullable") == Some(&Value::Bool(true));
    let mut ty: Option<String> = None;
    let mut any_of: Vec<Value> = Vec::new();
    match o.get("type") {
        Some(Value::String(t)) if t == "null" => nullable = true,
        Some(Value::String(t)) => ty = gemini_type(t).map(str::to_owned),
        Some(Value::Array(ts)) => {
            let names: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
            nullable |= names.contains(&"null");
            let types: Vec<&str> = names.iter().filter_map(|t| gemini_type(t)).collect();
            match types.as_slice() {
                [one] => ty = Some((*one).to_owned()),
                many => any_of.extend(many.iter().map(|t| json!({"type": t}))),
            }
        }
        _ => {}
    }

    // Branches: a lone non-null branch is inlined into this schema.
    let mut inlined = Map::new();
    for k in ["anyOf", "oneOf"] {
        if let Some(alts) = o.get(k).and_then(Value::as_array) {
            let mut kept = Vec::new();
            for a in alts {
                if is_null(a) {
                    nullable = true;
                } else {
                    kept.push(node(a, root, ordering, depth + 1));
                }
            }
            if kept.len() == 1 && any_of.is_empty() {
                inlined = kept.pop().unwrap_or_default();
            } else {
                any_of.extend(kept.into_iter().map(Value::Object));
            }
        }
    }
    if let Some(all) = o.get("allOf").and_then(Value::as_array) {
        for a in all {
            merge(&mut inlined, node(a, root, ordering, depth + 1));
        }
    }

    if ty.is_none() {
        if o.contains_key("properties") {
            ty = Some("OBJECT".into());
        } else if o.contains_key("items") {
            ty = Some("ARRAY".into());
        }
    }
    let strings = |v: &Value| -> Option<Vec<Value>> {
        let items = v.as_array()?;
        items.iter().all(Value::is_string).then(|| items.clone())
    };
    let enum_values = match (o.get("enum"), o.get("const")) {
        (Some(e), _) => strings(e),
        (None, Some(c @ Value::String(_))) => Some(vec![c.clone()]),
        _ => None,
    };
    if enum_values.is_some() && ty.is_none() {
        ty = Some("STRING".into());
    }

    if let Some(t) = &ty {
        out.insert("type".into(), json!(t));
        if let Some(f) = o.get("format").and_then(Value::as_str) {
            let ok = match t.as_str() {
                "STRING" => matches!(f, "enum" | "date-time"),
                "NUMBER" => matches!(f, "float" | "double"),
                "INTEGER" => matches!(f, "int32" | "int64"),
                _ => false,
            };
            if ok {
                out.insert("format".into(), json!(f));
            }
        }
    }
    if let Some(d) = o.get("description").filter(|d| d.is_string()) {
        out.insert("description".into(), d.clone());
    }
    if let Some(e) = enum_values.filter(|_| ty.as_deref() == Some("STRING")) {
        out.insert("enum".into(), Value::Array(e));
    }
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        let converted: Map<String, Value> = props
            .iter()
            .map(|(k, p)| (k.clone(), Value::Object(node(p, root, ordering, depth + 1))))
            .collect();
        let names: Vec<Value> = converted.keys().map(|k| json!(k)).collect();
        out.insert("properties".into(), Value::Object(converted));
        if let Some(req) = o.get("required").and_then(Value::as_array) {
            let req: Vec<Value> = req.iter().filter(|r| names.contains(r)).cloned().collect();
            if !req.is_empty() {
                out.insert("required".into(), Value::Array(req));
            }
        }
        if ordering && names.len() > 1 {
            out.insert("propertyOrdering".into(), Value::Array(names));
        }
    }
    if let Some(items @ Value::Object(_)) = o.get("items") {
        out.insert(
            "items".into(),
            Value::Object(node(items, root, ordering, depth + 1)),
        );
    }
    for k in [
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minProperties",
        "maxProperties",
        "minimum",
        "maximum",
    ] {
        if let Some(n @ Value::Number(_)) = o.get(k) {
            out.insert(k.into(), n.clone());
        }
    }
    if !any_of.is_empty() {
        out.insert("anyOf".into(), Value::Array(any_of));
    }
    merge(&mut out, inlined);
    if nullable {
        out.insert("nullable".into(), json!(true));
    }
    out
}

/// Adds `from`'s keywords to `into`: properties and required lists are unioned, other keys
/// already in `into` win.
fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (k.as_str(), into.get_mut(&k), v) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => {
                for (pk, pv) in theirs {
                    mine.entry(pk).or_insert(pv);
                }
            }
            ("required" | "propertyOrdering", Some(Value::Array(mine)), Value::Array(theirs)) => {
                for r in theirs {
                    if !mine.contains(&r) {
                        mine.push(r);
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, v) => {
                into.insert(k, v);
            }
        }
    }
}

fn gemini_type(t: &str) -> Option<&'static str> {
    Some(match t {
        "string" => "STRING",
        "number" => "NUMBER",
        "integer" => "INTEGER",
        "boolean" => "BOOLEAN",
        "array" => "ARRAY",
        "object" => "OBJECT",
        _ => return None,
    })
}

fn is_null(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
}

fn resolve<'a>(root: &'a Value, r: &str) -> Option<&'a Value> {
    let pointer = r.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    root.pointer(pointer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_the_common_subset() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "description": "Full name", "pattern": "^[A-Z]"},
                "age": {"type": ["integer", "null"], "minimum": 0},
                "when": {"type": "string", "format": "date-time"},
                "email": {"type": "string", "format": "email"},
                "kind": {"enum": ["a", "b"]},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
                "address": {"$ref": "#/$defs/address"},
                "note": {"anyOf": [{"type": "string"}, {"type": "null"}]}
            },
            "required": ["name", "missing"],
            "$defs": {"address": {"type": "object", "properties": {"city": {"type": "string"}}}}
        });
        assert_eq!(
            convert(&schema, true),
            json!({
                "type": "OBJECT",
                "required": ["name"],
                "propertyOrdering": ["name", "age", "when", "email", "kind", "tags", "address", "note"],
                "properties": {
                    "name": {"type": "STRING", "description": "Full name"},
                    "age": {"type": "INTEGER", "minimum": 0, "nullable": true},
                    "when": {"type": "STRING", "format": "date-time"},
                    "email": {"type": "STRING"},
                    "kind": {"type": "STRING", "enum": ["a", "b"]},
                    "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": 5},
                    "address": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}},
                    "note": {"type": "STRING", "nullable": true}
                }
            })
        );
    }

    #[test]
    fn recursion_and_garbage_are_bounded() {
        let recursive = json!({"$ref": "#", "type": "object"});
        let _ = convert(&recursive, false);
        let node = json!({"type": "object", "properties": {"child": {"$ref": "#"}}});
        let out = convert(&node, false);
        assert_eq!(out["type"], "OBJECT");
        assert_eq!(convert(&json!(true), false), json!({}));
        assert_eq!(
            convert(&json!({"type": ["string", "number"]}), false),
            json!({"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]})
        );
    }
}
