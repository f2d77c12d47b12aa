//! The price table: what each provider's models cost per million tokens.
//!
//! The table is data: `data/prices.toml`, embedded at build time ([`PriceTable::embedded`]),
//! with config-file overrides on top ([`PriceTable::with_overrides`]). Both use one shape,
//! [`PriceOverride`], keyed by provider slug (as in the provider catalog) and then model:
//!
//! ```toml
//! [prices.grok."grok-4"]          # in the config file; the data file omits `prices.`
//! input = 3.0                     # USD per 1M input tokens (required)
//! cached_input = 0.75             # per 1M cache-read input tokens (default: input)
//! output = 15.0                   # per 1M output and reasoning tokens (required)
//! cache_write = 3.75              # per 1M cache-write input tokens (default: input)
//! cache_write_1h = 6.00           # per 1M one-hour cache-write input tokens (default: 2 x input)
//! aliases = ["grok-4-latest"]     # other names for this price (default: none)
//! # Prices for a request whose input exceeds `above` tokens (all of its tokens):
//! long_context = { above = 128000, input = 6.0, cached_input = 1.5, output = 30.0 }
//! ```
//!
//! An override replaces the whole price of that name (fields it omits take the defaults
//! above, not the embedded values), and may name a model the data does not know.
//!
//! # Lookup
//! Providers answer with names that differ from the ones priced (xAI redirects `grok-4-fast`
//! to `grok-4-fast-reasoning`, reports `grok-3-mini-high`; OpenAI and Anthropic add dates such
//! as `gpt-4o-2024-08-06` and `claude-sonnet-4-5-20250929`). [`PriceTable::lookup`] tries, in
//! order: the exact name, the aliases listed in the data, then the longest priced name (or
//! alias) that is a prefix of it ending at a `-`. Names are compared case-insensitively; a
//! leading `models/` (Gemini) is ignored, and a `vendor/model` name is also tried as `model`.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The embedded price data.
const PRICES_TOML: &str = include_str!("../data/prices.toml");

/// Ticks (1e-10 USD) per USD.
pub const TICKS_PER_USD: u64 = 10_000_000_000;

/// The highest rate accepted, in USD per 1M tokens (keeps cost arithmetic far from overflow).
pub const MAX_USD_PER_MILLION: f64 = 1_000_000.0;

/// A price per million tokens, held as ticks (1e-10 USD) per million tokens so that costs are
/// computed with integers: $0.20 per 1M is 2,000,000,000 ticks per 1M, i.e. 2,000 per token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(u64);

impl Rate {
    pub const ZERO: Rate = Rate(0);

    /// From USD per 1M tokens, rounded to the nearest tick per 1M; `None` if negative, not
    /// finite, or above [`MAX_USD_PER_MILLION`].
    pub fn from_usd_per_million(usd: f64) -> Option<Rate> {
        if !usd.is_finite() || !(0.0..=MAX_USD_PER_MILLION).contains(&usd) {
            return None;
        }
        // In range by the check above: at most 1e16 ticks, exact in f64 well past that.
        Some(Rate((usd * TICKS_PER_USD as f64).round() as u64))
    }

    /// From ticks per 1M tokens.
    pub const fn from_ticks_per_million(ticks: u64) -> Rate {
        Rate(ticks)
    }

    pub const fn ticks_per_million(self) -> u64 {
        self.0
    }

    pub fn usd_per_million(self) -> f64 {
        self.0 as f64 / TICKS_PER_USD as f64
    }
}

/// The four rates that apply to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    /// Uncached input tokens.
    pub input: Rate,
    /// Input tokens read from the provider's prompt cache.
    pub cached_input: Rate,
    /// Output tokens, reasoning tokens included.
    pub output: Rate,
    /// Input tokens written to the prompt cache (Anthropic's 5-minute writes).
    pub cache_write: Rate,
    /// Input tokens written to the prompt cache for one hour (Anthropic).
    pub cache_write_1h: Rate,
}

/// The price of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    pub base: Rates,
    /// `(above, rates)`: a request with more than `above` input tokens pays `rates` for all
    /// of its tokens.
    pub long_context: Option<(u64, Rates)>,
}

impl Price {
    /// The rates for a request with `tokens_in` input tokens.
    pub fn rates_for(&self, tokens_in: u64) -> &Rates {
        match &self.long_context {
            Some((above, rates)) if tokens_in > *above => rates,
            _ => &self.base,
        }
    }
}

/// One model's price as written in `data/prices.toml` and in the config's `[prices]`
/// section; see the module documentation for the shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceOverride {
    pub input: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    pub output: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_context: Option<LongContextOverride>,
}

/// The long-context tier of a [`PriceOverride`]: rates default to the base tier's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongContextOverride {
    /// The tier applies when a request has more input tokens than this.
    pub above: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<f64>,
}

/// Prices keyed by provider slug, then model name (the config's `[prices]` section).
pub type PriceOverrides = BTreeMap<String, BTreeMap<String, PriceOverride>>;

/// Why a price was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("price of '{provider}/{model}': {why}")]
    Invalid {
        provider: String,
        model: String,
        why: String,
    },
    #[error("price data: {0}")]
    Data(String),
}

/// The default one-hour cache-write rate: twice `usd` (the input price), or `fallback` when
/// that is past the largest price accepted.
fn twice(usd: f64, fallback: Rate) -> Rate {
    Rate::from_usd_per_million(usd * 2.0).unwrap_or(fallback)
}

impl PriceOverride {
    fn to_price(&self) -> Result<Price, String> {
        let rate = |field: &str, usd: f64| {
            Rate::from_usd_per_million(usd).ok_or_else(|| {
                format!("{field} = {usd} is not a price (USD per 1M tokens, 0 to {MAX_USD_PER_MILLION})")
            })
        };
        let input = rate("input", self.input)?;
        let base = Rates {
            input,
            cached_input: self
                .cached_input
                .map(|v| rate("cached_input", v))
                .transpose()?
                .unwrap_or(input),
            output: rate("output", self.output)?,
            cache_write: self
                .cache_write
                .map(|v| rate("cache_write", v))
                .transpose()?
                .unwrap_or(input),
            cache_write_1h: match self.cache_write_1h {
                Some(v) => rate("cache_write_1h", v)?,
                None => twice(self.input, input),
            },
        };
        let long_context = match &self.long_context {
            None => None,
            Some(lc) => {
                let or_base = |field: &str, v: Option<f64>, base: Rate| {
                    v.map(|v| rate(field, v))
                        .transpose()
                        .map(|r| r.unwrap_or(base))
                };
                let input = or_base("long_context.input", lc.input, base.input)?;
                Some((
                    lc.above,
                    Rates {
                        input,
                        cached_input: or_base(
                            "long_context.cached_input",
                            lc.cached_input,
                            base.cached_input,
                        )?,
                        output: or_base("long_context.output", lc.output, base.output)?,
                        cache_write: or_base(
                            "long_context.cache_write",
                            lc.cache_write,
                            base.cache_write,
                        )?,
                        // Unset: the base rate if the base names one, else twice the
                        // tier's input (as Anthropic's long-context one-hour writes cost).
                        cache_write_1h: match (lc.cache_write_1h, self.cache_write_1h) {
                            (Some(v), _) => rate("long_context.cache_write_1h", v)?,
                            (None, Some(_)) => base.cache_write_1h,
                            (None, None) => twice(lc.input.unwrap_or(self.input), input),
                        },
                    },
                ))
            }
        };
        Ok(Price { base, long_context })
    }
}

/// Prices of one provider's models.
#[derive(Debug, Clone, Default)]
struct ProviderPrices {
    models: HashMap<String, Price>,
    /// Alias → the priced name it stands for.
    aliases: HashMap<String, String>,
}

impl ProviderPrices {
    fn exact_or_alias(&self, name: &str) -> Option<&Price> {
        self.models.get(name).or_else(|| {
            self.aliases
                .get(name)
                .and_then(|canonical| self.models.get(canonical))
        })
    }
}

/// `name` in `tables` (in order of preference): the name itself, else its longest prefix
/// ending at a '-' that one of them prices; at each length the first table that has it wins.
fn find_in<'a>(tables: &[Option<&'a ProviderPrices>], name: &str) -> Option<&'a Price> {
    let at = |n: &str| tables.iter().flatten().find_map(|t| t.exact_or_alias(n));
    if let Some(price) = at(name) {
        return Some(price);
    }
    // Cut at each '-' from the right.
    let mut end = name.len();
    while let Some(dash) = name[..end].rfind('-') {
        if dash == 0 {
            break;
        }
        if let Some(price) = at(&name[..dash]) {
            return Some(price);
        }
        end = dash;
    }
    None
}

/// The longest model name looked up, in bytes (real ones are under 100).
pub const MAX_MODEL_NAME: usize = 256;

/// Model prices by provider; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    providers: HashMap<String, ProviderPrices>,
}

impl PriceTable {
    /// The prices shipped with Switchyard (`data/prices.toml`).
    pub fn embedded() -> PriceTable {
        Self::from_toml(PRICES_TOML)
            .expect("data/prices.toml is valid: checked by price::tests::embedded_data_loads")
    }

    /// A table from TOML text in the shape of `data/prices.toml`.
    pub fn from_toml(text: &str) -> Result<PriceTable, PriceError> {
        let data: PriceOverrides =
            toml::from_str(text).map_err(|e| PriceError::Data(e.to_string()))?;
        PriceTable::default().overlay(&data)
    }

    /// The embedded prices with the config's `[prices]` section laid over them: what the
    /// server runs with.
    pub fn with_overrides(overrides: &PriceOverrides) -> Result<PriceTable, PriceError> {
        Self::embedded().overlay(overrides)
    }

    /// This table with `overrides` laid over it (see [`PriceOverride`]).
    pub fn overlay(mut self, overrides: &PriceOverrides) -> Result<PriceTable, PriceError> {
        for (provider, models) in overrides {
            let provider_key = provider.trim().to_ascii_lowercase();
            let entry = self.providers.entry(provider_key).or_default();
            for (model, over) in models {
                let invalid = |why: String| PriceError::Invalid {
                    provider: provider.clone(),
                    model: model.clone(),
                    why,
                };
                let name = normalise(model);
                if name.is_empty() {
                    return Err(invalid("empty model name".into()));
                }
                let price = over.to_price().map_err(invalid)?;
                entry.aliases.remove(&name);
                entry.models.insert(name.clone(), price);
                for alias in &over.aliases {
                    let alias = normalise(alias);
                    if alias.is_empty() {
                        return Err(invalid("empty alias".into()));
                    }
                    if alias != name {
                        entry.aliases.insert(alias, name.clone());
                    }
                }
            }
        }
        Ok(self)
    }

    /// The price of `model` as served by `provider` (a catalog slug); see the module docs.
    pub fn lookup(&self, provider: &str, model: &str) -> Option<&Price> {
        self.lookup_with(provider, provider, model)
    }

    /// The price of `model` for the provider `own`, priced from `table`'s prices (another
    /// provider's, such as Azure OpenAI from OpenAI's) and from entries of its own: the longest
    /// name either prices wins, `own`'s when both price it.
    pub fn lookup_with(&self, own: &str, table: &str, model: &str) -> Option<&Price> {
        // Catalog slugs are lowercase already: a copy only for another spelling.
        let get = |p: &str| {
            let p = p.trim();
            if p.bytes().any(|b| b.is_ascii_uppercase()) {
                self.providers.get(&p.to_ascii_lowercase())
            } else {
                self.providers.get(p)
            }
        };
        let own_prices = get(own);
        let tables = [
            own_prices,
            get(table).filter(|t| !own_prices.is_some_and(|o| std::ptr::eq(o, *t))),
        ];
        // No model's name is this long: such a name (from a client's body, or a provider's
        // answer) is not looked for, which also keeps the prefix search below cheap.
        if tables.iter().all(Option::is_none) || model.len() > MAX_MODEL_NAME {
            return None;
        }
        let name = normalise(model);
        if name.is_empty() {
            return None;
        }
        find_in(&tables, &name).or_else(|| {
            let (_, last) = name.rsplit_once('/')?;
            (!last.is_empty()).then(|| find_in(&tables, last)).flatten()
        })
    }

    /// How many names (not counting aliases) are priced for `provider`.
    pub fn model_count(&self, provider: &str) -> usize {
        self.providers
            .get(&provider.trim().to_ascii_lowercase())
            .map_or(0, |p| p.models.len())
    }
}

fn normalise(model: &str) -> String {
    let m = model.trim().to_ascii_lowercase();
    match m.strip_prefix("models/") {
        Some(rest) => rest.to_owned(),
        None => m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(rate: Rate) -> f64 {
        rate.usd_per_million()
    }

    #[test]
    fn embedded_data_loads() {
        let t = PriceTable::from_toml(PRICES_TOML).expect("embedded prices parse");
        for provider in [
            "grok",
            "openai",
            "anthropic",
            "google-ai-studio",
            "groq",
            "mistral",
            "deepseek",
        ] {
            assert!(t.model_count(provider) > 3, "{provider} has prices");
        }
    }

    #[test]
    fn an_overlong_model_name_is_not_looked_up_and_costs_nothing_to_refuse() {
        let t = PriceTable::embedded();
        assert!(t.lookup("grok", "grok-4-0709").is_some());
        // A priced prefix followed by hundreds of thousands of dashes: no price, at once
        // (the prefix search over it took minutes).
        let hostile = format!("grok-4-{}", "a-".repeat(400_000));
        let started = std::time::Instant::now();
        assert!(t.lookup("grok", &hostile).is_none());
        assert!(started.elapsed() < std::time::Duration::from_millis(50));
        let longest_ok = format!("grok-4-{}", "x".repeat(MAX_MODEL_NAME - 7));
        assert!(
            t.lookup("grok", &longest_ok).is_some(),
            "a prefix still prices it"
        );
    }

    #[test]
    fn embedded_data_is_sane() {
        let t = PriceTable::embedded();
        for (provider, prices) in &t.providers {
            for (model, p) in &prices.models {
                let b = p.base;
                assert!(
                    b.cached_input <= b.input,
                    "{provider}/{model}: cache dearer than input"
                );
                assert!(
                    b.input.ticks_per_million() > 0,
                    "{provider}/{model}: free input"
                );
                if let Some((above, long)) = p.long_context {
                    assert!(above > 0, "{provider}/{model}");
                    assert!(
                        long.input >= b.input && long.output >= b.output,
                        "{provider}/{model}"
                    );
                }
            }
            for (alias, canonical) in &prices.aliases {
                assert!(
                    prices.models.contains_key(canonical),
                    "{provider}: {alias} -> {canonical}"
                );
                assert!(
                    !prices.models.contains_key(alias),
                    "{provider}: {alias} is also priced"
                );
            }
        }
    }

    /// Names still in use that no priced prefix covers (dated Mistral releases, Groq's
    /// hosted models, OpenAI's Codex model), each at its list price.
    #[test]
    fn names_without_a_priced_prefix_have_entries() {
        let t = PriceTable::embedded();
        for (provider, model, input, output) in [
            ("mistral", "mistral-small-2503", 0.10, 0.30),
            ("mistral", "mistral-small-2501", 0.10, 0.30),
            ("mistral", "codestral-2501", 0.30, 0.90),
            ("mistral", "mistral-large-2407", 2.00, 6.00),
            ("mistral", "pixtral-12b", 0.15, 0.15),
            ("mistral", "pixtral-12b-2409", 0.15, 0.15),
            ("groq", "meta-llama/llama-guard-4-12b", 0.20, 0.20),
            ("groq", "gemma2-9b-it", 0.20, 0.20),
            ("groq", "deepseek-r1-distill-llama-70b", 0.75, 0.99),
            ("openai", "codex-mini-latest", 1.50, 6.00),
        ] {
            let p = t
                .lookup(provider, model)
                .unwrap_or_else(|| panic!("{provider}/{model} priced"));
            assert_eq!(usd(p.base.input), input, "{provider}/{model}");
            assert_eq!(usd(p.base.output), output, "{provider}/{model}");
        }
    }

    #[test]
    fn spec_grok_beta() {
        let t = PriceTable::embedded();
        let p = t.lookup("grok", "grok-beta").expect("grok-beta priced");
        assert_eq!(usd(p.base.input), 5.0);
        assert_eq!(usd(p.base.output), 15.0);
    }

    #[test]
    fn every_xai_model_of_the_research_table() {
        let t = PriceTable::embedded();
        let expect = [
            ("grok-beta", 5.0, 5.0, 15.0),
            ("grok-vision-beta", 5.0, 5.0, 15.0),
            ("grok-2-1212", 2.0, 2.0, 10.0),
            ("grok-2", 2.0, 2.0, 10.0),
            ("grok-2-latest", 2.0, 2.0, 10.0),
            ("grok-2-vision-1212", 2.0, 2.0, 10.0),
            ("grok-3", 3.0, 0.75, 15.0),
            ("grok-3-latest", 3.0, 0.75, 15.0),
            ("grok-3-beta", 3.0, 0.75, 15.0),
            ("grok-3-fast", 5.0, 1.25, 25.0),
            ("grok-3-mini", 0.30, 0.075, 0.50),
            ("grok-3-mini-high", 0.30, 0.075, 0.50),
            ("grok-3-mini-fast", 0.60, 0.15, 4.0),
            ("grok-3-mini-fast-beta", 0.60, 0.15, 4.0),
            ("grok-4-0709", 3.0, 0.75, 15.0),
            ("grok-4", 3.0, 0.75, 15.0),
            ("grok-4-latest", 3.0, 0.75, 15.0),
            ("grok-code-fast-1", 0.20, 0.02, 1.50),
            ("grok-code-fast", 0.20, 0.02, 1.50),
            ("grok-code-fast-1-0825", 0.20, 0.02, 1.50),
            ("grok-4-fast-reasoning", 0.20, 0.05, 0.50),
            ("grok-4-fast-non-reasoning", 0.20, 0.05, 0.50),
            ("grok-4-fast", 0.20, 0.05, 0.50),
            ("grok-4-1-fast-reasoning", 0.20, 0.05, 0.50),
            ("grok-4-1-fast-non-reasoning", 0.20, 0.05, 0.50),
            ("grok-4-1-fast", 0.20, 0.05, 0.50),
            ("grok-4.20-0309-reasoning", 1.25, 0.20, 2.50),
            ("grok-4.20-0309-non-reasoning", 1.25, 0.20, 2.50),
            ("grok-4.20-multi-agent-0309", 1.25, 0.20, 2.50),
            ("grok-4.3", 1.25, 0.20, 2.50),
            ("grok-4.3-latest", 1.25, 0.20, 2.50),
            ("grok-build-0.1", 1.00, 0.20, 2.00),
            ("grok-4.5", 2.00, 0.30, 6.00),
            ("grok-build-latest", 2.00, 0.30, 6.00),
            ("grok-4.6", 2.00, 0.50, 6.00),
        ];
        for (model, input, cached, output) in expect {
            let p = t
                .lookup("grok", model)
                .unwrap_or_else(|| panic!("{model} priced"));
            assert_eq!(
                (
                    usd(p.base.input),
                    usd(p.base.cached_input),
                    usd(p.base.output)
                ),
                (input, cached, output),
                "{model}"
            );
        }
        // Prices are keyed by the catalog's slug, not its aliases.
        assert!(t.lookup("xai", "grok-4").is_none());
    }

    #[test]
    fn long_context_tiers() {
        let t = PriceTable::embedded();
        // xAI: from the threshold on (a prompt that reaches it).
        let p = t.lookup("grok", "grok-4.3").expect("priced");
        assert_eq!(usd(p.rates_for(199_999).input), 1.25);
        assert_eq!(usd(p.rates_for(200_000).input), 2.50);
        assert_eq!(usd(p.rates_for(200_000).output), 5.00);
        let p = t.lookup("grok", "grok-4").expect("priced");
        assert_eq!(usd(p.rates_for(127_999).input), 3.00);
        assert_eq!(usd(p.rates_for(128_000).input), 6.00);
        // Google: above the threshold only.
        let p = t
            .lookup("google-ai-studio", "gemini-2.5-pro")
            .expect("priced");
        assert_eq!(usd(p.rates_for(200_000).input), 1.25);
        assert_eq!(usd(p.rates_for(200_001).input), 2.50);
        let p = t
            .lookup("google-ai-studio", "gemini-2.5-pro")
            .expect("priced");
        assert_eq!(usd(p.rates_for(300_000).output), 15.0);
        // OpenAI's GPT-6 and GPT-5.6: above 272K, twice the input, 1.5 times the output.
        for (model, input, output) in [
            ("gpt-6.2-sol", 2.0, 10.0),
            ("gpt-6.2-sol-2026-11-02", 2.0, 10.0),
            ("gpt-6-luna", 0.1, 0.5),
            ("gpt-5.6-sol", 4.0, 20.0),
        ] {
            let p = t.lookup("openai", model).expect(model);
            assert_eq!(usd(p.rates_for(272_000).input), input, "{model}");
            assert_eq!(usd(p.rates_for(272_001).input), input * 2.0, "{model}");
            assert_eq!(usd(p.rates_for(272_001).output), output * 1.5, "{model}");
        }
    }

    #[test]
    fn a_provider_priced_from_another_table_reads_its_own_entries_first() {
        let cfg: BTreeMap<String, PriceOverrides> = toml::from_str(
            r#"
            [prices.azure-openai."gpt-4o"]
            input = 1.0
            output = 1.0
            "#,
        )
        .expect("config parses");
        let t = PriceTable::with_overrides(&cfg["prices"]).expect("valid overrides");
        let input = |model: &str| {
            t.lookup_with("azure-openai", "openai", model)
                .map(|p| usd(p.base.input))
        };
        // Its own entry, also for dated names.
        assert_eq!(input("gpt-4o"), Some(1.0));
        assert_eq!(input("gpt-4o-2024-08-06"), Some(1.0));
        // A longer name the other table prices wins over a shorter own prefix.
        assert_eq!(input("gpt-4o-mini-2024-07-18"), Some(0.15));
        // A dated name the other table lists itself is longer than the own entry's name.
        assert_eq!(
            input("gpt-4o-2024-05-13"),
            t.lookup("openai", "gpt-4o-2024-05-13")
                .map(|p| usd(p.base.input))
        );
        assert_ne!(input("gpt-4o-2024-05-13"), Some(1.0));
        assert_eq!(
            input("o3"),
            t.lookup("openai", "o3").map(|p| usd(p.base.input))
        );
        // Nothing of its own: the other table alone.
        assert_eq!(
            t.lookup_with("google-vertex-ai", "google-ai-studio", "gemini-2.5-flash")
                .map(|p| usd(p.base.input)),
            t.lookup("google-ai-studio", "gemini-2.5-flash")
                .map(|p| usd(p.base.input))
        );
        assert!(t.lookup_with("nobody", "nothing", "gpt-4o").is_none());
    }

    #[test]
    fn lookup_by_returned_names() {
        let t = PriceTable::embedded();
        let same = |provider: &str, a: &str, b: &str| {
            assert_eq!(
                t.lookup(provider, a).map(|p| p.base),
                t.lookup(provider, b).map(|p| p.base),
                "{a} vs {b}"
            );
            assert!(t.lookup(provider, a).is_some(), "{a} priced");
        };
        same("openai", "gpt-4o-2024-08-06", "gpt-4o");
        same("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini");
        same("openai", "GPT-4o", "gpt-4o");
        same(
            "anthropic",
            "claude-sonnet-4-5-20250929",
            "claude-sonnet-4-5",
        );
        same("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku");
        same(
            "google-ai-studio",
            "models/gemini-2.5-flash",
            "gemini-2.5-flash",
        );
        same(
            "google-ai-studio",
            "gemini-2.5-flash-preview-05-20",
            "gemini-2.5-flash",
        );
        same("grok", "grok-3-mini-fast-high", "grok-3-mini-fast");
        same("openai", "openai/gpt-4o", "gpt-4o");
        // The longest prefix wins, and only at a '-'.
        assert_ne!(
            t.lookup("openai", "gpt-4o-mini-2024-07-18").map(|p| p.base),
            t.lookup("openai", "gpt-4o").map(|p| p.base)
        );
        // Variants priced apart from their prefix have entries of their own.
        let rates = |provider: &str, m: &str| {
            let p = t.lookup(provider, m).expect("priced");
            (usd(p.base.input), usd(p.base.output))
        };
        assert_eq!(rates("openai", "gpt-4-32k-0613"), (60.0, 120.0));
        // Anthropic's one-hour cache writes cost twice the input price unless told otherwise.
        let sonnet = t
            .lookup("anthropic", "claude-sonnet-4-5")
            .expect("priced")
            .base;
        assert_eq!(
            (usd(sonnet.cache_write), usd(sonnet.cache_write_1h)),
            (3.75, 6.0)
        );
        assert_eq!(rates("openai", "gpt-3.5-turbo-instruct"), (1.5, 2.0));
        assert_eq!(
            rates("google-ai-studio", "gemini-2.5-flash-preview-tts"),
            (0.5, 10.0)
        );
        assert_eq!(
            rates("openai", "gpt-4o-realtime-preview-2024-12-17"),
            (5.0, 20.0)
        );
        assert!(t.lookup("openai", "gpt-4ox").is_none());
        assert!(t.lookup("openai", "").is_none());
        assert!(t.lookup("openai", "-").is_none());
        assert!(t.lookup("nobody", "gpt-4o").is_none());
    }

    #[test]
    fn one_hour_cache_writes_default_to_twice_the_input() {
        let price = |toml_text: &str| {
            let o: PriceOverride = toml::from_str(toml_text).expect("a price entry");
            o.to_price().expect("a valid price")
        };
        let tiered = "input = 3.0\noutput = 15.0\nlong_context = { above = 200000, input = 6.0 }";
        let p = price(tiered);
        assert_eq!(usd(p.base.cache_write_1h), 6.0);
        assert_eq!(usd(p.long_context.expect("a tier").1.cache_write_1h), 12.0);
        // A base rate named in the entry is what an unset tier rate falls back to.
        let p = price(&format!("cache_write_1h = 7.0\n{tiered}"));
        assert_eq!(usd(p.long_context.expect("a tier").1.cache_write_1h), 7.0);
        // Twice a price near the largest accepted is no reason to refuse the entry.
        let p = price(&format!("input = {MAX_USD_PER_MILLION}\noutput = 1.0"));
        assert_eq!(p.base.cache_write_1h, p.base.input);
    }

    #[test]
    fn overrides_replace_and_add() {
        let cfg: BTreeMap<String, PriceOverrides> = toml::from_str(
            r#"
            [prices.grok."grok-4"]
            input = 4.0
            output = 16.0
            [prices.custom-local."my-model"]
            input = 0.1
            cached_input = 0.01
            output = 0.2
            aliases = ["my-model-latest"]
            long_context = { above = 1000, output = 0.4 }
            "#,
        )
        .expect("config parses");
        let t = PriceTable::with_overrides(&cfg["prices"]).expect("valid overrides");
        let p = t.lookup("grok", "grok-4").expect("priced");
        assert_eq!(
            (
                usd(p.base.input),
                usd(p.base.cached_input),
                usd(p.base.output)
            ),
            (4.0, 4.0, 16.0)
        );
        assert_eq!(p.long_context, None);
        // Other names of the same embedded price are untouched.
        assert_eq!(
            usd(t.lookup("grok", "grok-4-0709").expect("priced").base.input),
            3.0
        );
        let p = t.lookup("custom-local", "my-model-latest").expect("alias");
        assert_eq!(usd(p.rates_for(2000).output), 0.4);
        assert_eq!(usd(p.rates_for(2000).input), 0.1);
    }

    #[test]
    fn overrides_are_validated() {
        let bad = |toml_text: &str| -> String {
            match toml::from_str::<PriceOverrides>(toml_text) {
                Err(e) => e.to_string(),
                Ok(o) => PriceTable::default()
                    .overlay(&o)
                    .expect_err("refused")
                    .to_string(),
            }
        };
        assert!(bad("[grok.x]\ninput = -1.0\noutput = 1.0").contains("input = -1"));
        assert!(bad("[grok.x]\ninput = 1.0\noutput = 1.0\nextra = 2").contains("unknown field"));
        assert!(bad("[grok.x]\ninput = 1.0").contains("output"));
        assert!(bad("[grok.x]\ninput = 1.0\noutput = 1e300").contains("output"));
        assert!(bad("[grok.\"\"]\ninput = 1.0\noutput = 1.0").contains("empty model"));
    }

    #[test]
    fn rate_conversion_is_exact_for_listed_prices() {
        for (usd_value, ticks) in [
            (0.2, 2_000_000_000),
            (0.075, 750_000_000),
            (0.02, 200_000_000),
            (1.5, 15_000_000_000),
            (0.01875, 187_500_000),
        ] {
            assert_eq!(
                Rate::from_usd_per_million(usd_value).map(Rate::ticks_per_million),
                Some(ticks)
            );
        }
        assert_eq!(Rate::from_usd_per_million(f64::NAN), None);
        assert_eq!(Rate::from_usd_per_million(-0.1), None);
    }
}
