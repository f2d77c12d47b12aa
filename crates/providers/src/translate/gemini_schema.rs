//! JSON Schema → Gemini's `Schema` (a subset of OpenAPI 3.0), for `responseSchema` and
//! function `parameters`.
//!
//! Kept: `type` (upper-cased; `["T","null"]` → `T` + `nullable`), `format` where Gemini takes
//! it (`enum`, `date-time`; `float`, `double`; `int32`, `int64`), `description`, `nullable`,
//! string `enum` and `const`, `properties`, `required` (only names that are properties, each
//! once, in the client's order), `items`, `anyOf`/`oneOf` (a `null` branch → `nullable`; one
//! branch left → inlined), `allOf` (merged), `minItems`, `maxItems`, `minLength`, `maxLength`,
//! `minProperties`, `maxProperties`, `minimum`, `maximum`. Local `$ref`s (`#/$defs/…`,
//! `#/definitions/…`) are inlined, at most [`MAX_DEPTH`] deep (a recursive schema is cut
//! there). For a response schema, `propertyOrdering` records the client's property order
//! (Gemini otherwise sorts keys). Everything else (`additionalProperties`, `pattern`, `title`,
//! `default`, tuple `items`, non-string enums, ...) is dropped.
//!
//! # Size
//! Gemini takes no `$ref`, so every reference is copied out in full, and a schema whose
//! definitions each reference the next several times grows exponentially: 1.5 KB of
//! `{"anyOf":[{"$ref":"#/$defs/a2"},...]}` expands to gigabytes. The conversion therefore runs
//! on a [`Budget`], shared by every schema of one request (the tools' `parameters` and the
//! response schema alike, so that many small bombs cost no more than one): at most
//! [`MAX_NODES`] schema objects and list entries read, and [`MAX_TEXT_BYTES`] of text copied,
//! counting a definition again each time a `$ref` leads to it. Real schemas, even large
//! generated ones with recursive definitions, stay within tens of thousands of nodes; a
//! request over either limit is refused ([`TooLarge`], a 400 naming the field) rather than
//! sent on. The work done stays in proportion to what is charged (merging `allOf` branches,
//! the one step not charged, moves what was, at most once a level), so a refusal comes fast.

use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// How deep nested schemas and `$ref`s are followed.
pub const MAX_DEPTH: usize = 32;

/// How many schema objects and list entries (`anyOf`, `enum`, `required`, ... entries) the
/// schemas of one request may expand to, `$ref`s followed.
pub const MAX_NODES: usize = 100_000;

/// How many bytes of text (descriptions, enum values, property names, `$ref`s) the schemas
/// of one request may copy or look up, `$ref`s followed.
pub const MAX_TEXT_BYTES: usize = 16 * 1024 * 1024;

/// What the schemas of one request may still cost; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    nodes: usize,
    text: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            nodes: MAX_NODES,
            text: MAX_TEXT_BYTES,
        }
    }
}

impl Budget {
    fn nodes(&mut self, n: usize) -> Result<(), TooLarge> {
        self.nodes = self.nodes.checked_sub(n).ok_or(TooLarge)?;
        Ok(())
    }

    fn text(&mut self, bytes: usize) -> Result<(), TooLarge> {
        self.text = self.text.checked_sub(bytes).ok_or(TooLarge)?;
        Ok(())
    }
}

/// The request's schemas expand past its [`Budget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

impl TooLarge {
    /// Why such a schema is refused, for the client (after the path of its field).
    pub fn detail(self) -> String {
        format!(
            "the schema is too large once its $refs are expanded: Gemini takes no $ref, so each \
             is copied out in full, and the schemas of a request may expand to at most \
             {MAX_NODES} nodes and {} MiB of text",
            MAX_TEXT_BYTES / (1024 * 1024)
        )
    }
}

/// Converts a JSON Schema. `ordering`: add `propertyOrdering` (response schemas). `budget`:
/// what the request's schemas may still cost; this one's cost is taken from it.
pub fn convert(schema: &Value, ordering: bool, budget: &mut Budget) -> Result<Value, TooLarge> {
    let mut c = Converter {
        root: schema,
        ordering,
        budget,
    };
    Ok(Value::Object(c.node(schema, 0)?))
}

struct Converter<'a> {
    root: &'a Value,
    ordering: bool,
    budget: &'a mut Budget,
}

impl Converter<'_> {
    /// A string copied into the output: its cost taken, then the copy.
    fn text(&mut self, v: &Value) -> Result<Value, TooLarge> {
        self.budget.text(v.as_str().map_or(0, str::len))?;
        Ok(v.clone())
    }

    fn node(&mut self, v: &Value, depth: usize) -> Result<Map<String, Value>, TooLarge> {
        self.budget.nodes(1)?;
        let mut out = Map::new();
        let Some(o) = v.as_object() else {
            return Ok(out);
        };
        if depth > MAX_DEPTH {
            return Ok(out);
        }
        if let Some(r) = o.get("$ref").and_then(Value::as_str) {
            self.budget.text(r.len())?;
            let mut target = match resolve(self.root, r) {
                Some(t) => self.node(t, depth + 1)?,
                None => Map::new(),
            };
            if let Some(d) = o.get("description").filter(|d| d.is_string()) {
                target.insert("description".into(), self.text(d)?);
            }
            return Ok(target);
        }

        let mut nullable = o.get("nullable") == Some(&Value::Bool(true));
        let mut ty: Option<String> = None;
        let mut any_of: Vec<Value> = Vec::new();
        match o.get("type") {
            Some(Value::String(t)) if t == "null" => nullable = true,
            Some(Value::String(t)) => ty = gemini_type(t).map(str::to_owned),
            Some(Value::Array(ts)) => {
                self.budget.nodes(ts.len())?;
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
                self.budget.nodes(alts.len())?;
                let mut kept = Vec::new();
                for a in alts {
                    if is_null(a) {
                        nullable = true;
                    } else {
                        kept.push(self.node(a, depth + 1)?);
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
            self.budget.nodes(all.len())?;
            let mut parts = Vec::with_capacity(all.len());
            for a in all {
                parts.push(self.node(a, depth + 1)?);
            }
            merge(&mut inlined, parts);
        }

        if ty.is_none() {
            if o.contains_key("properties") {
                ty = Some("OBJECT".into());
            } else if o.contains_key("items") {
                ty = Some("ARRAY".into());
            }
        }
        let enum_values = match (o.get("enum"), o.get("const")) {
            (Some(Value::Array(items)), _) => {
                self.budget.nodes(items.len())?;
                if items.iter().all(Value::is_string) {
                    let mut kept = Vec::with_capacity(items.len());
                    for item in items {
                        kept.push(self.text(item)?);
                    }
                    Some(kept)
                } else {
                    None
                }
            }
            (Some(_), _) => None,
            (None, Some(c @ Value::String(_))) => Some(vec![self.text(c)?]),
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
            out.insert("description".into(), self.text(d)?);
        }
        if let Some(e) = enum_values.filter(|_| ty.as_deref() == Some("STRING")) {
            out.insert("enum".into(), Value::Array(e));
        }
        if let Some(props) = o.get("properties").and_then(Value::as_object) {
            let mut converted = Map::new();
            for (k, p) in props {
                // The name is copied up to three times (key, `required`, `propertyOrdering`).
                self.budget.text(k.len().saturating_mul(3))?;
                converted.insert(k.clone(), Value::Object(self.node(p, depth + 1)?));
            }
            let mut required = Vec::new();
            if let Some(req) = o.get("required").and_then(Value::as_array) {
                self.budget.nodes(req.len())?;
                // Each name once, in the client's order, and only names of properties: a set
                // lookup per name, so a long list costs no more than reading it.
                let mut seen = HashSet::new();
                required = req
                    .iter()
                    .filter(|r| {
                        r.as_str()
                            .is_some_and(|r| converted.contains_key(r) && seen.insert(r))
                    })
                    .cloned()
                    .collect();
            }
            let ordering = (self.ordering && converted.len() > 1)
                .then(|| converted.keys().map(|k| json!(k)).collect());
            out.insert("properties".into(), Value::Object(converted));
            if !required.is_empty() {
                out.insert("required".into(), Value::Array(required));
            }
            if let Some(names) = ordering {
                out.insert("propertyOrdering".into(), Value::Array(names));
            }
        }
        if let Some(items @ Value::Object(_)) = o.get("items") {
            out.insert("items".into(), Value::Object(self.node(items, depth + 1)?));
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
        merge(&mut out, vec![inlined]);
        if nullable {
            out.insert("nullable".into(), json!(true));
        }
        Ok(out)
    }
}

/// Adds each of `from`'s keywords, in turn, to `into`: properties and the `required` and
/// `propertyOrdering` lists are unioned (first occurrence kept), other keys already in `into`
/// win. All of `from` at once, so each list is indexed once, however many schemas an `allOf`
/// merges: the cost is the size of the lists, not their product.
fn merge(into: &mut Map<String, Value>, from: Vec<Map<String, Value>>) {
    let mut seen: [Option<HashSet<String>>; 2] = [None, None];
    for part in from {
        for (k, v) in part {
            let list = match k.as_str() {
                "required" => Some(0),
                "propertyOrdering" => Some(1),
                _ => None,
            };
            match (k.as_str(), list, into.get_mut(&k), v) {
                ("properties", _, Some(Value::Object(mine)), Value::Object(theirs)) => {
                    for (pk, pv) in theirs {
                        mine.entry(pk).or_insert(pv);
                    }
                }
                (_, Some(l), Some(Value::Array(mine)), Value::Array(theirs)) => {
                    let seen = seen[l].get_or_insert_with(|| {
                        mine.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    });
                    for r in theirs {
                        // The lists `node` builds hold only names.
                        if r.as_str().is_some_and(|name| seen.insert(name.to_owned())) {
                            mine.push(r);
                        }
                    }
                }
                (_, _, Some(_), _) => {}
                (_, _, None, v) => {
                    into.insert(k, v);
                }
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// One schema converted on a budget of its own.
    fn convert_one(schema: &Value, ordering: bool) -> Value {
        convert(schema, ordering, &mut Budget::default()).unwrap()
    }

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
            convert_one(&schema, true),
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
        let _ = convert(&recursive, false, &mut Budget::default());
        let node = json!({"type": "object", "properties": {"child": {"$ref": "#"}}});
        let out = convert_one(&node, false);
        assert_eq!(out["type"], "OBJECT");
        assert_eq!(convert_one(&json!(true), false), json!({}));
        assert_eq!(
            convert_one(&json!({"type": ["string", "number"]}), false),
            json!({"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]})
        );
    }

    /// `$defs` `a0` … `a{levels}`, each an `anyOf` of `fan_out` references to the next.
    fn ref_bomb(levels: usize, fan_out: usize) -> Value {
        let mut defs = Map::new();
        for i in 0..levels {
            let next = json!({"$ref": format!("#/$defs/a{}", i + 1)});
            defs.insert(format!("a{i}"), json!({"anyOf": vec![next; fan_out]}));
        }
        defs.insert(format!("a{levels}"), json!({"type": "string"}));
        json!({"type": "object", "properties": {"x": {"$ref": "#/$defs/a0"}}, "$defs": defs})
    }

    #[test]
    fn a_ref_bomb_is_refused_without_expanding_it() {
        // 4^16 copies of the last definition: about 4 billion nodes once expanded, from
        // 2 KB of schema. The budget stops it after its first hundred thousand.
        let bomb = ref_bomb(16, 4);
        assert!(bomb.to_string().len() < 2_500);
        let started = Instant::now();
        assert_eq!(convert(&bomb, true, &mut Budget::default()), Err(TooLarge));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(TooLarge
            .detail()
            .contains("too large once its $refs are expanded"));
    }

    #[test]
    fn shared_references_within_the_budget_are_all_inlined() {
        // 4^6 = 4,096 copies: a large expansion, but one a real schema may need.
        let out = convert_one(&ref_bomb(6, 4), false);
        let mut leaf = &out["properties"]["x"];
        for _ in 0..5 {
            assert_eq!(leaf["anyOf"].as_array().unwrap().len(), 4);
            leaf = &leaf["anyOf"][3];
        }
        assert_eq!(leaf["anyOf"][0], json!({"type": "STRING"}));
    }

    #[test]
    fn one_budget_covers_every_schema_of_a_request() {
        let mut budget = Budget::default();
        let eleven_thousand = ref_bomb(6, 4); // ~11k nodes each, through its references
        let mut converted = 0;
        while convert(&eleven_thousand, false, &mut budget).is_ok() {
            converted += 1;
            assert!(converted < 20, "the budget never ran out");
        }
        assert!(converted >= 5, "{converted}");
        // Huge text repeated through references runs out the text budget.
        let description = "d".repeat(1024 * 1024);
        let mut text = ref_bomb(5, 4);
        text["$defs"]["a5"]["description"] = json!(description);
        assert_eq!(convert(&text, false, &mut Budget::default()), Err(TooLarge));
    }

    #[test]
    fn required_keeps_the_clients_order_once_each_and_only_properties() {
        let schema = json!({"type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}, "c": {"type": "string"}},
            "required": ["c", "zz", "a", "c", 7, "b"]});
        assert_eq!(
            convert_one(&schema, true)["required"],
            json!(["c", "a", "b"])
        );
    }

    #[test]
    fn all_of_unions_required_and_ordering_in_first_seen_order() {
        let schema = json!({"allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["b", "a"]},
            {"properties": {"c": {"type": "string"}, "a": {"type": "integer"}}, "required": ["c", "a"]},
        ]});
        let out = convert_one(&schema, true);
        assert_eq!(out["required"], json!(["b", "a", "c"]));
        assert_eq!(out["propertyOrdering"], json!(["a", "b", "c"]));
        assert_eq!(out["properties"]["a"], json!({"type": "STRING"}));
    }

    #[test]
    fn long_required_lists_cost_linear_time() {
        // 40,000 properties, all required, in reverse order: a pairwise check is 800 million
        // comparisons (tens of seconds); a set lookup per name is instant.
        let n = 40_000;
        let properties: Map<String, Value> = (0..n)
            .map(|i| (format!("p{i}"), json!({"type": "string"})))
            .collect();
        let required: Vec<Value> = (0..n).rev().map(|i| json!(format!("p{i}"))).collect();
        let schema = json!({"type": "object", "properties": properties, "required": required});
        let started = Instant::now();
        let out = convert_one(&schema, true);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(out["required"].as_array().unwrap().len(), n);
        assert_eq!(out["required"][0], "p39999");
        assert_eq!(out["propertyOrdering"][0], "p0");
    }

    #[test]
    fn merging_many_all_of_parts_costs_linear_time() {
        // 12,000 parts of two required properties each: re-checking the growing lists at each
        // merge is hundreds of millions of comparisons.
        let parts: Vec<Value> = (0..12_000)
            .map(|i| {
                json!({"properties": {format!("a{i}"): {"type": "string"}, format!("b{i}"): {"type": "string"}},
                    "required": [format!("a{i}"), format!("b{i}")]})
            })
            .collect();
        let schema = json!({"type": "object", "allOf": parts});
        let started = Instant::now();
        let out = convert_one(&schema, true);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(out["required"].as_array().unwrap().len(), 24_000);
        assert_eq!(out["required"][2], "a1");
        assert_eq!(out["propertyOrdering"].as_array().unwrap().len(), 24_000);
    }
}
