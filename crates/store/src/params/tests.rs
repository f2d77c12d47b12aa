//! Query-string parsing: every encoding of `filters`, the flat params, and the refusals.
#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
    q.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn filter(q: &[(&str, &str)]) -> Result<LogFilter, QueryError> {
    LogFilter::from_query_pairs(&pairs(q))
}

fn cond(key: FilterKey, op: Op, values: Vec<Value>) -> Condition {
    Condition { key, op, values }
}

#[test]
fn defaults() {
    let q = LogListQuery::from_query_pairs(&[]).unwrap();
    assert_eq!(q, LogListQuery::default());
    assert_eq!((q.page, q.per_page, q.descending), (1, 20, true));
    assert_eq!(q.order_by, OrderBy::CreatedAt);
}

#[test]
fn paging_and_ordering() {
    let q = LogListQuery::from_query_pairs(&pairs(&[
        ("page", "3"),
        ("per_page", "50"),
        ("order_by", "cost"),
        ("order_by_direction", "asc"),
        ("meta_info", "true"),
    ]))
    .unwrap();
    assert_eq!((q.page, q.per_page, q.descending), (3, 50, false));
    assert_eq!(q.order_by, OrderBy::Cost);
    for o in OrderBy::ALL {
        let q = LogListQuery::from_query_pairs(&pairs(&[("order_by", o.as_str())])).unwrap();
        assert_eq!(q.order_by, o);
    }
    // The deprecated `direction` counts only without `order_by_direction`.
    let q = LogListQuery::from_query_pairs(&pairs(&[("direction", "asc")])).unwrap();
    assert!(!q.descending);
    let q = LogListQuery::from_query_pairs(&pairs(&[
        ("direction", "asc"),
        ("order_by_direction", "desc"),
    ]))
    .unwrap();
    assert!(q.descending);
}

#[test]
fn bad_paging_and_ordering_name_the_parameter() {
    for (k, v) in [
        ("page", "0"),
        ("page", "x"),
        ("per_page", "0"),
        ("per_page", "101"),
        ("per_page", "-1"),
        ("order_by", "metadata"),
        ("order_by", "nope"),
        ("order_by_direction", "up"),
    ] {
        let e = LogListQuery::from_query_pairs(&pairs(&[(k, v)])).unwrap_err();
        assert_eq!(e.param, k, "{k}={v}");
        assert!(e.to_string().contains(k));
    }
    assert!(LogListQuery::from_query_pairs(&pairs(&[("per_page", "100")])).is_ok());
}

#[test]
fn json_filters() {
    let f = filter(&[(
        "filters",
        r#"[{"key":"provider","operator":"eq","value":["grok","openai"]},
            {"key":"success","operator":"eq","value":[false]},
            {"key":"cost","operator":"gt","value":["0.5"]},
            {"key":"created_at","operator":"lt","value":["2026-01-01T01:00:00+01:00"]},
            {"key":"metadata.key","operator":"eq","value":["user"]},
            {"key":"metadata.value","operator":"eq","value":[42]},
            {"key":"model","operator":"eq","value":[null]}]"#,
    )])
    .unwrap();
    assert_eq!(
        f.conditions,
        vec![
            cond(
                FilterKey::Provider,
                Op::Eq,
                vec![json!("grok"), json!("openai")]
            ),
            cond(FilterKey::Success, Op::Eq, vec![json!(false)]),
            cond(FilterKey::Cost, Op::Gt, vec![json!(0.5)]),
            cond(
                FilterKey::CreatedAt,
                Op::Lt,
                vec![json!("2026-01-01T00:00:00.000000Z")]
            ),
            cond(FilterKey::MetadataKey, Op::Eq, vec![json!("user")]),
            cond(FilterKey::MetadataValue, Op::Eq, vec![json!("42")]),
            cond(FilterKey::Model, Op::Eq, vec![Value::Null]),
        ]
    );
    // One object instead of an array, and a scalar value, are taken as one.
    let f = filter(&[(
        "filters",
        r#"{"key":"cached","operator":"neq","value":"true"}"#,
    )])
    .unwrap();
    assert_eq!(
        f.conditions,
        vec![cond(FilterKey::Cached, Op::Neq, vec![json!(true)])]
    );
}

#[test]
fn python_sdk_encoding() {
    // What cloudflare-python 5.x sends (httpx groups repeated names).
    let f = filter(&[
        ("filters.key", "provider"),
        ("filters.key", "success"),
        ("filters.key", "cost"),
        ("filters.operator", "eq"),
        ("filters.operator", "eq"),
        ("filters.operator", "gt"),
        ("filters.value", "grok"),
        ("filters.value", "true"),
        ("filters.value", "0.5"),
        ("per_page", "5"),
    ])
    .unwrap();
    assert_eq!(
        f.conditions,
        vec![
            cond(FilterKey::Provider, Op::Eq, vec![json!("grok")]),
            cond(FilterKey::Success, Op::Eq, vec![json!(true)]),
            cond(FilterKey::Cost, Op::Gt, vec![json!(0.5)]),
        ]
    );
    // One filter with several values.
    let f = filter(&[
        ("filters.key", "provider"),
        ("filters.operator", "eq"),
        ("filters.value", "grok"),
        ("filters.value", "openai"),
    ])
    .unwrap();
    assert_eq!(
        f.conditions,
        vec![cond(
            FilterKey::Provider,
            Op::Eq,
            vec![json!("grok"), json!("openai")]
        )]
    );
    // Several filters and a value count that cannot be matched up.
    let e = filter(&[
        ("filters.key", "provider"),
        ("filters.key", "success"),
        ("filters.operator", "eq"),
        ("filters.operator", "eq"),
        ("filters.value", "grok"),
        ("filters.value", "openai"),
        ("filters.value", "true"),
    ])
    .unwrap_err();
    assert_eq!(e.param, "filters");
    assert!(e.message.contains("JSON"), "{e}");
    // `value: [None]` arrives as no value (httpx drops None): it asks for a missing value,
    // for one filter or for several.
    let f = filter(&[("filters.key", "feedback"), ("filters.operator", "eq")]).unwrap();
    assert_eq!(
        f.conditions,
        vec![cond(FilterKey::Feedback, Op::Eq, vec![Value::Null])]
    );
    let f = filter(&[
        ("filters.key", "event_id"),
        ("filters.key", "tokens_in"),
        ("filters.operator", "eq"),
        ("filters.operator", "neq"),
    ])
    .unwrap();
    assert_eq!(
        f.conditions,
        vec![
            cond(FilterKey::EventId, Op::Eq, vec![Value::Null]),
            cond(FilterKey::TokensIn, Op::Neq, vec![Value::Null]),
        ]
    );
}

#[test]
fn an_empty_query_string_value_asks_for_null() {
    // The Node SDK's `value: [null]`.
    for (key, k) in [
        ("model", FilterKey::Model),
        ("tokens_in", FilterKey::TokensIn),
    ] {
        let f = filter(&[
            ("filters.key", key),
            ("filters.operator", "eq"),
            ("filters.value", ""),
        ])
        .unwrap();
        assert_eq!(f.conditions, vec![cond(k, Op::Eq, vec![Value::Null])]);
    }
    let f = filter(&[
        ("filters[0][key]", "model"),
        ("filters[0][operator]", "neq"),
        ("filters[0][value][0]", ""),
        ("filters[0][value][1]", "grok-4"),
    ])
    .unwrap();
    assert_eq!(
        f.conditions,
        vec![cond(
            FilterKey::Model,
            Op::Neq,
            vec![Value::Null, json!("grok-4")]
        )]
    );
    // In JSON an empty text is an empty text.
    let f = filter(&[(
        "filters",
        r#"[{"key":"model","operator":"eq","value":[""]}]"#,
    )])
    .unwrap();
    assert_eq!(
        f.conditions,
        vec![cond(FilterKey::Model, Op::Eq, vec![json!("")])]
    );
}

#[test]
fn node_sdk_encoding() {
    // What cloudflare-typescript sends (qs, allowDots, arrayFormat "repeat").
    let f = filter(&[
        ("filters.key", "provider"),
        ("filters.operator", "eq"),
        ("filters.value", "grok"),
        ("filters.value", "openai"),
        ("filters.key", "success"),
        ("filters.operator", "eq"),
        ("filters.value", "true"),
    ])
    .unwrap();
    assert_eq!(
        f.conditions,
        vec![
            cond(
                FilterKey::Provider,
                Op::Eq,
                vec![json!("grok"), json!("openai")]
            ),
            cond(FilterKey::Success, Op::Eq, vec![json!(true)]),
        ]
    );
}

#[test]
fn bracket_and_indexed_encodings() {
    let f = filter(&[
        ("filters[key]", "model"),
        ("filters[operator]", "contains"),
        ("filters[value][]", "grok"),
    ])
    .unwrap();
    assert_eq!(
        f.conditions,
        vec![cond(FilterKey::Model, Op::Contains, vec![json!("grok")])]
    );

    let f = filter(&[
        ("filters[1][key]", "duration"),
        ("filters[1][operator]", "lt"),
        ("filters[1][value][0]", "1000"),
        ("filters[0][key]", "provider"),
        ("filters[0][operator]", "eq"),
        ("filters[0][value][1]", "b"),
        ("filters[0][value][0]", "a"),
        ("filters[2].key", "feedback"),
        ("filters[2].operator", "eq"),
        ("filters[2].value", "1"),
    ])
    .unwrap();
    assert_eq!(
        f.conditions,
        vec![
            cond(FilterKey::Provider, Op::Eq, vec![json!("a"), json!("b")]),
            cond(FilterKey::Duration, Op::Lt, vec![json!(1000)]),
            cond(FilterKey::Feedback, Op::Eq, vec![json!(1)]),
        ]
    );
    let e = filter(&[
        ("filters[0][key]", "provider"),
        ("filters[0][value][0]", "a"),
    ])
    .unwrap_err();
    assert!(e.message.contains("no operator"), "{e}");
    assert!(filter(&[("filters[x]", "1")]).is_err());
    assert!(filter(&[("filters.nope", "1")]).is_err());
}

#[test]
fn flat_params() {
    let f = filter(&[
        ("provider", "grok"),
        ("model", "grok-beta"),
        ("success", "false"),
        ("cached", "true"),
        ("start_date", "2026-01-01T00:00:00Z"),
        ("end_date", "2026-01-02"),
        ("min_cost", "0.1"),
        ("max_cost", "2"),
        ("min_duration", "10"),
        ("max_tokens_in", "100"),
        ("min_total_tokens", "5"),
        ("feedback", "1"),
        ("request_content_type", "application/json"),
        ("search", "  hello "),
        ("limit", "10"),
        ("unknown", "whatever"),
        ("max_tokens_out", ""),
    ])
    .unwrap();
    assert_eq!(f.search.as_deref(), Some("hello"));
    assert_eq!(
        f.conditions,
        vec![
            cond(FilterKey::Provider, Op::Eq, vec![json!("grok")]),
            cond(FilterKey::Model, Op::Eq, vec![json!("grok-beta")]),
            cond(FilterKey::Success, Op::Eq, vec![json!(false)]),
            cond(FilterKey::Cached, Op::Eq, vec![json!(true)]),
            cond(
                FilterKey::CreatedAt,
                Op::Gte,
                vec![json!("2026-01-01T00:00:00.000000Z")]
            ),
            cond(
                FilterKey::CreatedAt,
                Op::Lte,
                vec![json!("2026-01-02T00:00:00.000000Z")]
            ),
            cond(FilterKey::Cost, Op::Gte, vec![json!(0.1)]),
            cond(FilterKey::Cost, Op::Lte, vec![json!(2)]),
            cond(FilterKey::Duration, Op::Gte, vec![json!(10)]),
            cond(FilterKey::TokensIn, Op::Lte, vec![json!(100)]),
            cond(FilterKey::Tokens, Op::Gte, vec![json!(5)]),
            cond(FilterKey::Feedback, Op::Eq, vec![json!(1)]),
            cond(
                FilterKey::RequestContentType,
                Op::Eq,
                vec![json!("application/json")]
            ),
        ]
    );
    for (k, v) in [
        ("success", "maybe"),
        ("min_cost", "cheap"),
        ("start_date", "yesterday"),
    ] {
        assert_eq!(filter(&[(k, v)]).unwrap_err().param, k, "{k}={v}");
    }
}

#[test]
fn every_key_parses_with_an_operator_that_fits() {
    for key in FilterKey::ALL {
        let (op, value) = match key.kind() {
            KeyKind::Text | KeyKind::Metadata => ("contains", json!("x")),
            KeyKind::Bool => ("neq", json!("true")),
            KeyKind::Number => ("lt", json!("3")),
            KeyKind::Time => ("gt", json!("2026-01-01T00:00:00Z")),
            KeyKind::Unrecorded => ("lt", json!(true)),
        };
        let c = make_condition("filters", key.as_str(), op, vec![value]).unwrap();
        assert_eq!(c.key, key);
    }
}

#[test]
fn operators_and_values_must_fit_the_key() {
    let bad = [
        ("cost", "contains", json!("1")),
        ("success", "lt", json!(true)),
        ("provider", "gt", json!("a")),
        ("created_at", "contains", json!("2026")),
        ("metadata.key", "lt", json!("a")),
        ("tokens_in", "eq", json!("many")),
        ("success", "eq", json!("yes")),
        ("created_at", "gt", json!("soon")),
        ("cost", "lt", json!(null)),
        ("nope", "eq", json!("a")),
        ("model_type", "eq", json!(["a"])),
        ("dlp_action", "gt", json!(null)),
        ("provider", "like", json!("a")),
        ("provider", "gte", json!("a")),
    ];
    for (k, o, v) in bad {
        let e = make_condition("filters", k, o, vec![v.clone()]).unwrap_err();
        assert_eq!(e.param, "filters", "{k} {o} {v}");
    }
    let e = make_condition("filters", "provider", "eq", vec![]).unwrap_err();
    assert!(e.message.contains("at least one value"));
    let e = filter(&[("filters", "not json")]).unwrap_err();
    assert_eq!(e.param, "filters");
    let e = filter(&[("filters", r#"[{"key":"provider","value":["a"]}]"#)]).unwrap_err();
    assert!(e.message.contains("operator"), "{e}");
}

#[test]
fn cloudflare_keys_that_are_not_recorded_are_accepted() {
    // As the Python SDK sends them (booleans as text), and as JSON.
    for (key, value) in [
        ("model_type", "text-generation"),
        ("authentication", "true"),
        ("wholesale", "True"),
        ("compatibilityMode", "x"),
        ("dlp_action", "BLOCK"),
    ] {
        let f = filter(&[
            ("filters.key", key),
            ("filters.operator", "eq"),
            ("filters.value", value),
        ])
        .unwrap();
        assert_eq!(f.conditions.len(), 1, "{key}");
        assert_eq!(f.conditions[0].key.as_str(), key);
        assert_eq!(f.conditions[0].key.kind(), KeyKind::Unrecorded);
        assert_eq!(f.conditions[0].values, vec![json!(value)]);
    }
    for op in ["eq", "neq", "contains", "lt", "gt"] {
        let c =
            make_condition("filters", "authentication", op, vec![json!(true), json!(1)]).unwrap();
        assert_eq!(c.values, vec![json!(true), json!(1)]);
    }
    let f = filter(&[(
        "filters",
        r#"[{"key":"wholesale","operator":"neq","value":[false, null]}]"#,
    )])
    .unwrap();
    assert_eq!(f.conditions[0].key, FilterKey::Wholesale);
    // The flat `model_type` param is one more condition.
    assert_eq!(
        filter(&[("model_type", "text-generation"), ("model_type", "")]).unwrap(),
        LogFilter {
            conditions: vec![cond(
                FilterKey::ModelType,
                Op::Eq,
                vec![json!("text-generation")]
            )],
            search: None,
        }
    );
}

#[test]
fn order_by_model_type_orders_by_model_and_feedback_is_sortable() {
    let q = LogListQuery::from_query_pairs(&pairs(&[("order_by", "model_type")])).unwrap();
    assert_eq!(q.order_by, OrderBy::Model);
    let q = LogListQuery::from_query_pairs(&pairs(&[("order_by", "feedback")])).unwrap();
    assert_eq!(q.order_by, OrderBy::Feedback);
}

#[test]
fn deletes_take_limit_and_order() {
    let d = LogDelete::from_query_pairs(&pairs(&[
        ("filters.key", "provider"),
        ("filters.operator", "eq"),
        ("filters.value", "grok"),
        ("limit", "1"),
        ("order_by", "created_at"),
        ("order_by_direction", "asc"),
    ]))
    .unwrap();
    assert_eq!(
        d,
        LogDelete {
            filter: LogFilter {
                conditions: vec![cond(FilterKey::Provider, Op::Eq, vec![json!("grok")])],
                search: None,
            },
            limit: Some(1),
            order_by: OrderBy::CreatedAt,
            descending: false,
        }
    );
    // Defaults: no limit, newest first; `direction` read when `order_by_direction` is absent.
    assert_eq!(
        LogDelete::from_query_pairs(&[]).unwrap(),
        LogDelete::default()
    );
    let d = LogDelete::from_query_pairs(&pairs(&[
        ("limit", "10000"),
        ("order_by", "model_type"),
        ("direction", "asc"),
    ]))
    .unwrap();
    assert_eq!(
        (d.limit, d.order_by, d.descending),
        (Some(10_000), OrderBy::Model, false)
    );
    let d =
        LogDelete::from_query_pairs(&pairs(&[("order_by", "feedback"), ("limit", " ")])).unwrap();
    assert_eq!((d.limit, d.order_by), (None, OrderBy::Feedback));
    for (k, v) in [
        ("limit", "0"),
        ("limit", "10001"),
        ("limit", "-1"),
        ("limit", "many"),
        ("order_by", "nope"),
        ("order_by_direction", "sideways"),
        ("success", "maybe"),
    ] {
        let e = LogDelete::from_query_pairs(&pairs(&[(k, v)])).unwrap_err();
        assert_eq!(e.param, k, "{k}={v}");
    }
    // What a list ignores would widen a delete: refused. A misspelt parameter, a paging one,
    // an empty flat filter or search, a filter value without its key and operator.
    for (k, v) in [
        (
            "filter",
            r#"[{"key":"provider","operator":"eq","value":["grok"]}]"#,
        ),
        ("page", "3"),
        ("provider", ""),
        ("min_cost", " "),
        ("search", ""),
        ("filters.value", "grok"),
        ("filters[value][]", "grok"),
        ("filters", ""),
        ("filters", " [] "),
        ("filters[]", ""),
        (
            "filtersx",
            r#"[{"key":"provider","operator":"eq","value":["grok"]}]"#,
        ),
    ] {
        let e = LogDelete::from_query_pairs(&pairs(&[(k, v)])).unwrap_err();
        assert!(e.param == k || e.param == "filters", "{k}={v}: {e}");
    }
    // A list refuses the lone value too (it would show everything), and ignores the rest.
    assert!(filter(&[("filters.value", "grok")]).is_err());
    assert!(filter(&[("filter", "x"), ("provider", "")]).is_ok());
    // A delete's filter is what the same pairs give the list.
    let same = pairs(&[("provider", "grok"), ("search", "abc")]);
    assert_eq!(
        LogDelete::from_query_pairs(&same).unwrap().filter,
        LogFilter::from_query_pairs(&same).unwrap()
    );
}

#[test]
fn too_many_values_and_nul_characters_are_refused() {
    let values = |n: usize| {
        let v: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        json!([{"key": "model", "operator": "eq", "value": v}]).to_string()
    };
    assert!(filter(&[("filters", &values(MAX_FILTER_VALUES))]).is_ok());
    let e = filter(&[("filters", &values(MAX_FILTER_VALUES + 1))]).unwrap_err();
    assert_eq!(e.param, "filters");
    for q in [
        vec![("search", "a\0b")],
        vec![("model", "a\0b")],
        vec![(
            "filters",
            r#"[{"key":"model","operator":"eq","value":["a\u0000b"]}]"#,
        )],
    ] {
        assert!(filter(&q).is_err(), "{q:?}");
    }
}

#[test]
fn page_numbers_beyond_the_range_say_the_range() {
    let q = |page: &str| LogListQuery::from_query_pairs(&pairs(&[("page", page)]));
    assert_eq!(q("4294967295").unwrap().page, u32::MAX);
    for bad in ["4294967296", "0", "-1", "x"] {
        let e = q(bad).unwrap_err();
        assert!(e.message.contains("from 1 to 4294967295"), "{bad}: {e}");
    }
}
