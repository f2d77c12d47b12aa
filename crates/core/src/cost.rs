//! What one request cost, in USD, and where that figure came from.
//!
//! [`request_cost`] decides, in this order (SPEC 3a):
//! 1. the client's `cf-aig-custom-cost` header ([`CustomCost`]), when sent;
//! 2. the provider's own bill, when the answer carries one (xAI's `cost_in_usd_ticks`);
//! 3. the price table ([`cost_ticks`] with the model's [`Price`]);
//! 4. otherwise 0, marked [`CostSource::Unknown`] — also when the answer had no usage.
//!
//! Table costs are computed in integer ticks (1 tick = 1e-10 USD, xAI's unit) so that they
//! match a provider's own bill to the tick; see [`cost_ticks`].

use crate::price::{Price, TICKS_PER_USD};
use crate::usage::Usage;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The cost of one request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// USD.
    pub usd: f64,
    /// Whether the client set it (`cf-aig-custom-cost`); logged as `custom_cost`.
    pub custom: bool,
    pub source: CostSource,
}

/// Where a [`Cost`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CostSource {
    /// The `cf-aig-custom-cost` header.
    Custom,
    /// The provider's own figure in the answer.
    Provider,
    /// Token counts times the price table.
    Table,
    /// No usage, or no price for the model: the cost is 0.
    Unknown,
}

impl Cost {
    const UNKNOWN: Cost = Cost {
        usd: 0.0,
        custom: false,
        source: CostSource::Unknown,
    };
}

/// Decides a request's cost; see the module documentation for the order.
///
/// A custom `total_cost` is charged even when the answer reported no usage (the client said
/// what the request costs); per-token custom prices with no usage come to 0. The caller
/// decides whether failed requests are charged at all (by passing `custom` or not).
pub fn request_cost(usage: &Usage, price: Option<&Price>, custom: Option<&CustomCost>) -> Cost {
    if let Some(custom) = custom {
        return Cost {
            usd: custom.usd(usage),
            custom: true,
            source: CostSource::Custom,
        };
    }
    if let Some(ticks) = usage.cost_in_usd_ticks {
        return Cost {
            usd: ticks_to_usd(ticks),
            custom: false,
            source: CostSource::Provider,
        };
    }
    match price {
        Some(price) if usage.is_known() => Cost {
            usd: ticks_to_usd(cost_ticks(usage, price)),
            custom: false,
            source: CostSource::Table,
        },
        _ => Cost::UNKNOWN,
    }
}

/// USD of a tick count.
pub fn ticks_to_usd(ticks: u64) -> f64 {
    ticks as f64 / TICKS_PER_USD as f64
}

/// The split of a request's tokens into what is billed at which rate.
///
/// [`Usage`] counts cache reads and cache writes inside `tokens_in`, and reasoning tokens on
/// top of `tokens_out` (xAI's semantics, which `switchyard-providers` normalises every wire
/// format to). Inconsistent counts are clamped: cache reads and writes never exceed the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Billed {
    fresh_in: u64,
    cached_in: u64,
    /// Written for five minutes.
    cache_write_in: u64,
    /// Written for one hour.
    cache_write_1h_in: u64,
    out: u64,
}

impl Billed {
    fn of(usage: &Usage) -> Billed {
        let tokens_in = usage.tokens_in.unwrap_or(0);
        let cached_in = usage.cached_tokens_in.unwrap_or(0).min(tokens_in);
        let cache_write_in = usage
            .cache_write_tokens_in
            .unwrap_or(0)
            .min(tokens_in - cached_in);
        let cache_write_1h_in = usage
            .cache_write_1h_tokens_in
            .unwrap_or(0)
            .min(cache_write_in);
        Billed {
            fresh_in: tokens_in - cached_in - cache_write_in,
            cached_in,
            cache_write_in: cache_write_in - cache_write_1h_in,
            cache_write_1h_in,
            out: usage
                .tokens_out
                .unwrap_or(0)
                .saturating_add(usage.reasoning_tokens.unwrap_or(0)),
        }
    }
}

/// The price-table bill of `usage` in ticks (1e-10 USD), rounded half up to a whole tick:
///
/// ```text
/// (fresh_in × input + cached_in × cached_input + cache_write_in × cache_write
///     + cache_write_1h_in × cache_write_1h + (tokens_out + reasoning_tokens) × output)
///     / 1,000,000
/// ```
///
/// with the long-context rates when `tokens_in` exceeds the price's threshold. Integer
/// arithmetic throughout, so prices with up to ten decimals (USD per 1M) are exact.
pub fn cost_ticks(usage: &Usage, price: &Price) -> u64 {
    let b = Billed::of(usage);
    let rates = price.rates_for(usage.tokens_in.unwrap_or(0));
    let term = |tokens: u64, rate: crate::price::Rate| {
        u128::from(tokens) * u128::from(rate.ticks_per_million())
    };
    let per_million = term(b.fresh_in, rates.input)
        + term(b.cached_in, rates.cached_input)
        + term(b.cache_write_in, rates.cache_write)
        + term(b.cache_write_1h_in, rates.cache_write_1h)
        + term(b.out, rates.output);
    let ticks = (per_million + 500_000) / 1_000_000;
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// The largest number `cf-aig-custom-cost` takes in any field (USD).
pub const MAX_CUSTOM_USD: f64 = 1e9;

/// The `cf-aig-custom-cost` header: the client's own prices (USD) for this request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CustomCost {
    /// `{"per_token_in":x,"per_token_out":y}`, optionally with `per_cache_read_token` and
    /// `per_cache_write_token` (each defaulting to `per_token_in`). A missing
    /// `per_token_in`/`per_token_out` is 0.
    PerToken {
        per_token_in: f64,
        per_token_out: f64,
        per_cache_read_token: Option<f64>,
        per_cache_write_token: Option<f64>,
    },
    /// `{"total_cost":z}`.
    Total(f64),
}

/// Why a `cf-aig-custom-cost` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomCostError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("must be a JSON object such as {{\"per_token_in\":0.000001,\"per_token_out\":0.000002}} or {{\"total_cost\":0.01}}")]
    NotObject,
    #[error("unknown field '{0}' (expected per_token_in, per_token_out, per_cache_read_token, per_cache_write_token or total_cost)")]
    UnknownField(String),
    #[error("'{0}' must be a non-negative number (USD) of at most 1e9")]
    BadNumber(String),
    #[error("total_cost cannot be combined with per-token prices")]
    Mixed,
    #[error("needs total_cost, or per_token_in and/or per_token_out")]
    Empty,
}

impl CustomCost {
    /// Parses the header's value.
    pub fn parse(header: &str) -> Result<CustomCost, CustomCostError> {
        let value: Value =
            serde_json::from_str(header).map_err(|e| CustomCostError::Json(e.to_string()))?;
        let Value::Object(fields) = value else {
            return Err(CustomCostError::NotObject);
        };
        let mut per_token_in = None;
        let mut per_token_out = None;
        let mut cache_read = None;
        let mut cache_write = None;
        let mut total = None;
        for (key, value) in &fields {
            let slot = match key.as_str() {
                "per_token_in" => &mut per_token_in,
                "per_token_out" => &mut per_token_out,
                "per_cache_read_token" => &mut cache_read,
                "per_cache_write_token" => &mut cache_write,
                "total_cost" => &mut total,
                other => return Err(CustomCostError::UnknownField(other.to_owned())),
            };
            // Bounded, so that a price times any token count stays a finite cost.
            let number = value
                .as_f64()
                .filter(|n| (0.0..=MAX_CUSTOM_USD).contains(n))
                .ok_or_else(|| CustomCostError::BadNumber(key.clone()))?;
            *slot = Some(number);
        }
        let per_token = [per_token_in, per_token_out, cache_read, cache_write]
            .iter()
            .any(Option::is_some);
        match (total, per_token) {
            (Some(_), true) => Err(CustomCostError::Mixed),
            (Some(total), false) => Ok(CustomCost::Total(total)),
            (None, _) if per_token_in.is_none() && per_token_out.is_none() => {
                Err(CustomCostError::Empty)
            }
            (None, _) => Ok(CustomCost::PerToken {
                per_token_in: per_token_in.unwrap_or(0.0),
                per_token_out: per_token_out.unwrap_or(0.0),
                per_cache_read_token: cache_read,
                per_cache_write_token: cache_write,
            }),
        }
    }

    /// The cost of `usage` at these prices (reasoning tokens at the output price). A per-token
    /// cost is rounded to a tick (1e-10 USD), the resolution of every other cost: 165 tokens
    /// at 0.001 and 127 at 0.002 are 0.419, not the sum's 0.41900000000000004.
    pub fn usd(&self, usage: &Usage) -> f64 {
        match *self {
            CustomCost::Total(total) => total,
            CustomCost::PerToken {
                per_token_in,
                per_token_out,
                per_cache_read_token,
                per_cache_write_token,
            } => {
                let b = Billed::of(usage);
                let usd = b.fresh_in as f64 * per_token_in
                    + b.cached_in as f64 * per_cache_read_token.unwrap_or(per_token_in)
                    + (b.cache_write_in + b.cache_write_1h_in) as f64
                        * per_cache_write_token.unwrap_or(per_token_in)
                    + b.out as f64 * per_token_out;
                let ticks = usd * 1e10;
                // Beyond 2^53 ticks (~$900,000) a float has no fraction left to round.
                if ticks.is_finite() && ticks.abs() < 9.0e15 {
                    ticks.round() / 1e10
                } else {
                    usd
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::price::{PriceTable, Rate, Rates};

    #[test]
    fn custom_cost_numbers_are_bounded_so_the_cost_stays_finite() {
        for v in ["1e308", "1e10", "-1", "\"1\""] {
            let header = format!("{{\"per_token_in\":{v},\"per_token_out\":1}}");
            assert_eq!(
                CustomCost::parse(&header),
                Err(CustomCostError::BadNumber("per_token_in".into())),
                "{v}"
            );
        }
        let most = CustomCost::parse("{\"per_token_in\":1e9,\"per_token_out\":1e9}")
            .expect("the bound itself is taken");
        assert!(most.usd(&chat(u64::MAX, 0, u64::MAX, 0)).is_finite());
    }

    fn chat(p: u64, cached: u64, c: u64, r: u64) -> Usage {
        Usage {
            tokens_in: Some(p),
            tokens_out: Some(c),
            cached_tokens_in: Some(cached),
            cache_write_tokens_in: None,
            cache_write_1h_tokens_in: None,
            reasoning_tokens: Some(r),
            cost_in_usd_ticks: None,
        }
    }

    fn price(model: &str) -> Price {
        *PriceTable::embedded()
            .lookup("grok", model)
            .unwrap_or_else(|| panic!("{model} priced"))
    }

    /// xai-api.md §11: real traffic, billed to the tick.
    #[test]
    fn xai_test_vectors_match_to_the_tick() {
        assert_eq!(
            cost_ticks(&chat(165, 156, 2, 125), &price("grok-4-fast-reasoning")),
            731_000
        );
        assert_eq!(
            cost_ticks(&chat(165, 164, 2, 129), &price("grok-4-fast-reasoning")),
            739_000
        );
        assert_eq!(
            cost_ticks(&chat(288, 7, 27, 350), &price("grok-3-mini-high")),
            2_733_250
        );
        assert_eq!(
            cost_ticks(&chat(213, 192, 2, 256), &price("grok-code-fast-1")),
            3_950_400
        );
    }

    /// The Responses vector of §11 (grok-4.3): tokens 16,831,900 ticks + 3 tool calls.
    #[test]
    fn xai_responses_vector_tokens_part() {
        let usage = Usage {
            tokens_in: Some(9212),
            tokens_out: Some(3417),
            cached_tokens_in: Some(3072),
            reasoning_tokens: Some(0),
            ..Usage::default()
        };
        assert_eq!(cost_ticks(&usage, &price("grok-4.3")), 168_319_000);
        assert_eq!(168_319_000 + 3 * 50_000_000, 318_319_000);
    }

    #[test]
    fn cache_writes_and_long_context() {
        let p = Price {
            base: Rates {
                input: Rate::from_ticks_per_million(30_000_000_000),
                cached_input: Rate::from_ticks_per_million(3_000_000_000),
                output: Rate::from_ticks_per_million(150_000_000_000),
                cache_write: Rate::from_ticks_per_million(37_500_000_000),
                cache_write_1h: Rate::from_ticks_per_million(60_000_000_000),
            },
            long_context: Some((
                1_000,
                Rates {
                    input: Rate::from_ticks_per_million(60_000_000_000),
                    cached_input: Rate::from_ticks_per_million(6_000_000_000),
                    output: Rate::from_ticks_per_million(225_000_000_000),
                    cache_write: Rate::from_ticks_per_million(75_000_000_000),
                    cache_write_1h: Rate::from_ticks_per_million(120_000_000_000),
                },
            )),
        };
        // Anthropic-style: 100 in = 10 fresh + 60 read + 30 written; 5 out.
        let u = Usage {
            tokens_in: Some(100),
            tokens_out: Some(5),
            cached_tokens_in: Some(60),
            cache_write_tokens_in: Some(30),
            cache_write_1h_tokens_in: None,
            ..Usage::default()
        };
        // 10×$3 + 60×$0.30 + 30×$3.75 + 5×$15 per 1M = $235.5 per 1M = 2,355,000 ticks.
        assert_eq!(cost_ticks(&u, &p), 2_355_000);
        // 20 of the 30 written for an hour, at $6 instead of $3.75: + 20×$2.25 per 1M.
        let hour = Usage {
            cache_write_1h_tokens_in: Some(20),
            ..u
        };
        assert_eq!(cost_ticks(&hour, &p), 2_355_000 + 450_000);
        let long = Usage {
            tokens_in: Some(1_001),
            tokens_out: Some(0),
            ..Usage::default()
        };
        assert_eq!(cost_ticks(&long, &p), 1_001 * 60_000);
        // Inconsistent counts are clamped, never underflow.
        let odd = Usage {
            tokens_in: Some(10),
            cached_tokens_in: Some(50),
            cache_write_tokens_in: Some(50),
            cache_write_1h_tokens_in: None,
            tokens_out: Some(u64::MAX),
            reasoning_tokens: Some(u64::MAX),
            ..Usage::default()
        };
        assert_eq!(cost_ticks(&odd, &p), u64::MAX);
    }

    #[test]
    fn rounds_half_up_to_a_tick() {
        let p = Price {
            base: Rates {
                input: Rate::from_ticks_per_million(500_000),
                cached_input: Rate::ZERO,
                output: Rate::ZERO,
                cache_write: Rate::ZERO,
                cache_write_1h: Rate::ZERO,
            },
            long_context: None,
        };
        let n = |tokens| Usage {
            tokens_in: Some(tokens),
            ..Usage::default()
        };
        assert_eq!(cost_ticks(&n(1), &p), 1);
        assert_eq!(cost_ticks(&n(0), &p), 0);
        assert_eq!(cost_ticks(&n(3), &p), 2);
    }

    #[test]
    fn grok_beta_is_five_and_fifteen() {
        let u = Usage {
            tokens_in: Some(1_000_000),
            tokens_out: Some(1_000_000),
            ..Usage::default()
        };
        let cost = request_cost(&u, Some(&price("grok-beta")), None);
        assert_eq!(cost.usd, 20.0);
        assert_eq!(cost.source, CostSource::Table);
    }

    #[test]
    fn the_order_of_sources() {
        let p = price("grok-4-fast-reasoning");
        let mut u = chat(165, 156, 2, 125);
        let table = request_cost(&u, Some(&p), None);
        assert_eq!((table.source, table.custom), (CostSource::Table, false));
        assert!((table.usd - 0.0000731).abs() < 1e-15);

        u.cost_in_usd_ticks = Some(1_000_000);
        let provider = request_cost(&u, Some(&p), None);
        assert_eq!(
            (provider.source, provider.usd),
            (CostSource::Provider, 0.0001)
        );

        let custom =
            CustomCost::parse(r#"{"per_token_in":0.001,"per_token_out":0.002}"#).expect("valid");
        let c = request_cost(&u, Some(&p), Some(&custom));
        assert_eq!((c.source, c.custom), (CostSource::Custom, true));
        // 9 fresh + 156 cached (at the input rate) in, 2 + 125 out.
        // Rounded to a tick, not the float sum's 0.41900000000000004.
        assert_eq!(c.usd, 0.419);

        let none = request_cost(&Usage::default(), Some(&p), None);
        assert_eq!(
            none,
            Cost {
                usd: 0.0,
                custom: false,
                source: CostSource::Unknown
            }
        );
        let unpriced = request_cost(&chat(1, 0, 1, 0), None, None);
        assert_eq!(unpriced.source, CostSource::Unknown);
        // A provider bill without token counts (images) is still the bill.
        let image = Usage {
            cost_in_usd_ticks: Some(200_000_000),
            ..Usage::default()
        };
        assert_eq!(request_cost(&image, None, None).usd, 0.02);
        // A total is charged even without usage; per-token prices come to 0.
        let total = CustomCost::parse(r#"{"total_cost":0.5}"#).expect("valid");
        assert_eq!(request_cost(&Usage::default(), None, Some(&total)).usd, 0.5);
        assert_eq!(
            request_cost(&Usage::default(), None, Some(&custom)).usd,
            0.0
        );
    }

    #[test]
    fn custom_cost_cache_rates() {
        let c = CustomCost::parse(
            r#"{"per_token_in":1,"per_token_out":10,"per_cache_read_token":0.1,"per_cache_write_token":2}"#,
        )
        .expect("valid");
        let u = Usage {
            tokens_in: Some(100),
            tokens_out: Some(1),
            cached_tokens_in: Some(50),
            cache_write_tokens_in: Some(20),
            cache_write_1h_tokens_in: None,
            reasoning_tokens: Some(2),
            ..Usage::default()
        };
        assert!((c.usd(&u) - (30.0 + 5.0 + 40.0 + 30.0)).abs() < 1e-9);
    }

    #[test]
    fn custom_cost_parse_errors() {
        let err = |s: &str| CustomCost::parse(s).expect_err(s).to_string();
        assert!(err("nope").starts_with("not valid JSON"));
        assert!(err("[1]").contains("JSON object"));
        assert!(err(r#"{"per_token":1}"#).contains("unknown field 'per_token'"));
        assert!(err(r#"{"total_cost":"1"}"#).contains("'total_cost' must be a non-negative number"));
        assert!(err(r#"{"total_cost":-1}"#).contains("non-negative"));
        assert!(err(r#"{"total_cost":1,"per_token_in":1}"#).contains("cannot be combined"));
        assert!(err(r#"{}"#).starts_with("needs"));
        assert!(err(r#"{"per_cache_read_token":1}"#).starts_with("needs"));
        assert_eq!(
            CustomCost::parse(r#"{"per_token_out":0.5}"#),
            Ok(CustomCost::PerToken {
                per_token_in: 0.0,
                per_token_out: 0.5,
                per_cache_read_token: None,
                per_cache_write_token: None
            })
        );
        assert_eq!(
            CustomCost::parse(" {\"total_cost\": 0} "),
            Ok(CustomCost::Total(0.0))
        );
    }
}
