//! The price table and cost decision as the server uses them: lookup by the name an answer
//! gives, config overrides in the documented shape, and the order of cost sources.

use serde::Deserialize;
use switchyard_core::cost::{cost_ticks, request_cost, CostSource, CustomCost};
use switchyard_core::price::{PriceOverrides, PriceTable};
use switchyard_core::Usage;

fn chat(p: u64, cached: u64, c: u64, r: u64) -> Usage {
    Usage {
        tokens_in: Some(p),
        tokens_out: Some(c),
        cached_tokens_in: Some(cached),
        reasoning_tokens: Some(r),
        ..Usage::default()
    }
}

/// xai-api.md §11, priced by the model name each answer carried.
#[test]
fn xai_vectors_priced_by_the_answered_model() {
    let t = PriceTable::embedded();
    let vectors = [
        ("grok-4-fast-reasoning", chat(165, 156, 2, 125), 731_000),
        ("grok-4-fast-reasoning", chat(165, 164, 2, 129), 739_000),
        ("grok-3-mini-high", chat(288, 7, 27, 350), 2_733_250),
        ("grok-code-fast-1", chat(213, 192, 2, 256), 3_950_400),
    ];
    for (model, usage, ticks) in vectors {
        let price = t.lookup("grok", model).expect("priced");
        assert_eq!(cost_ticks(&usage, price), ticks, "{model}");
        let cost = request_cost(&usage, Some(price), None);
        assert_eq!(cost.source, CostSource::Table);
        assert_eq!(cost.usd, ticks as f64 / 1e10);
        // The provider's own figure, when present, is taken as is.
        let billed = Usage {
            cost_in_usd_ticks: Some(ticks),
            ..usage
        };
        assert_eq!(
            request_cost(&billed, Some(price), None).source,
            CostSource::Provider
        );
        assert_eq!(request_cost(&billed, Some(price), None).usd, cost.usd);
    }
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    prices: PriceOverrides,
}

#[test]
fn config_overrides_in_the_documented_shape() {
    let cfg: Config = toml::from_str(
        r#"
        [prices.grok."grok-4"]
        input = 3.0
        cached_input = 0.75
        output = 15.0

        [prices.openai."ft:gpt-4o-mini:acme"]
        input = 0.30
        output = 1.20
        "#,
    )
    .expect("config parses");
    let t = PriceTable::with_overrides(&cfg.prices).expect("valid");
    let usage = Usage {
        tokens_in: Some(1_000_000),
        tokens_out: Some(1_000_000),
        ..Usage::default()
    };
    let price = t.lookup("openai", "ft:gpt-4o-mini:acme").expect("added");
    assert_eq!(request_cost(&usage, Some(price), None).usd, 1.5);
    // The SPEC's fixed point.
    let beta = t.lookup("grok", "grok-beta").expect("priced");
    assert_eq!(request_cost(&usage, Some(beta), None).usd, 20.0);

    let bad: Result<Config, _> =
        toml::from_str("[prices.grok.\"x\"]\ninput = 1.0\noutput = 2.0\ncache = 1.0\n");
    assert!(bad.is_err(), "unknown keys are refused");
}

#[test]
fn custom_cost_wins_and_no_usage_costs_nothing() {
    let t = PriceTable::embedded();
    let price = t.lookup("grok", "grok-4-fast");
    let usage = chat(1000, 0, 1000, 0);
    let custom =
        CustomCost::parse(r#"{"per_token_in":0.000001,"per_token_out":0.000002}"#).expect("valid");
    let cost = request_cost(&usage, price, Some(&custom));
    assert!(cost.custom);
    assert_eq!(cost.source, CostSource::Custom);
    assert!((cost.usd - 0.003).abs() < 1e-12);

    let none = request_cost(&Usage::default(), price, None);
    assert_eq!(
        (none.usd, none.custom, none.source),
        (0.0, false, CostSource::Unknown)
    );
    let unknown_model = request_cost(&usage, t.lookup("grok", "grok-9000x"), None);
    assert_eq!(unknown_model.source, CostSource::Unknown);
}
