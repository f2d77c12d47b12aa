//! From response bytes to dollars: extraction plus the price table give xAI's own bill
//! (xai-api.md §11) for the recorded answers.

use bytes::Bytes;
use switchyard_core::cost::{cost_ticks, request_cost, CostSource};
use switchyard_core::price::PriceTable;
use switchyard_providers::usage::extract;

fn answer(model: &str, p: u64, cached: u64, c: u64, r: u64, stream: bool) -> Bytes {
    let usage = format!(
        "{{\"prompt_tokens\":{p},\"completion_tokens\":{c},\"total_tokens\":{},\"prompt_tokens_details\":{{\"cached_tokens\":{cached}}},\"completion_tokens_details\":{{\"reasoning_tokens\":{r}}}}}",
        p + c + r
    );
    if stream {
        Bytes::from(format!(
            "data: {{\"model\":\"{model}\",\"choices\":[{{\"delta\":{{\"content\":\"x\"}}}}]}}\n\ndata: {{\"model\":\"{model}\",\"choices\":[],\"usage\":{usage}}}\n\ndata: [DONE]\n\n"
        ))
    } else {
        Bytes::from(format!("{{\"model\":\"{model}\",\"usage\":{usage}}}"))
    }
}

#[test]
fn recorded_answers_cost_what_xai_billed() {
    let prices = PriceTable::embedded();
    let vectors = [
        ("grok-4-fast-reasoning", 165, 156, 2, 125, false, 731_000),
        ("grok-4-fast-reasoning", 165, 164, 2, 129, true, 739_000),
        ("grok-3-mini-high", 288, 7, 27, 350, false, 2_733_250),
        ("grok-code-fast-1", 213, 192, 2, 256, false, 3_950_400),
    ];
    for (model, p, cached, c, r, stream, ticks) in vectors {
        let ct = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        // Whatever the slug: the totals show that reasoning is outside completion_tokens.
        for slug in ["grok", "openai"] {
            let x = extract(
                slug,
                Some(ct),
                None,
                &[answer(model, p, cached, c, r, stream)],
                &[],
            );
            let answered = x.model.expect("model named");
            let price = prices.lookup("grok", &answered).expect("priced");
            assert_eq!(cost_ticks(&x.usage, price), ticks, "{model} via {slug}");
            let cost = request_cost(&x.usage, Some(price), None);
            assert_eq!(
                (cost.source, cost.usd),
                (CostSource::Table, ticks as f64 / 1e10)
            );
        }
    }
}

#[test]
fn openai_reasoning_models_are_billed_once() {
    let prices = PriceTable::embedded();
    let body = r#"{"model":"o3-2025-04-16","usage":{"prompt_tokens":1000000,"completion_tokens":1000000,"total_tokens":2000000,"completion_tokens_details":{"reasoning_tokens":900000}}}"#;
    let x = extract(
        "openai",
        Some("application/json"),
        None,
        &[Bytes::from(body)],
        &[],
    );
    let price = prices
        .lookup("openai", x.model.as_deref().expect("named"))
        .expect("priced");
    // $2 in + $8 for the million output tokens, reasoning included once.
    assert_eq!(request_cost(&x.usage, Some(price), None).usd, 10.0);
}
