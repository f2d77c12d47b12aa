//! Token usage as one provider answer reports it, normalised across wire formats.

use serde::{Deserialize, Serialize};

/// Tokens of one exchange. `None` means the answer did not say.
///
/// Semantics follow xAI's chat API: `tokens_out` counts visible output only and
/// `reasoning_tokens` are billed on top of it at the output price; `cached_tokens_in` is the
/// part of `tokens_in` served from the provider's prompt cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub tokens_in: Option<u64>,
    pub tokens_out: Option<u64>,
    pub cached_tokens_in: Option<u64>,
    /// Anthropic's `cache_creation_input_tokens` (billed at the cache-write price).
    pub cache_write_tokens_in: Option<u64>,
    /// Of `cache_write_tokens_in`, those written for one hour (Anthropic's
    /// `cache_creation.ephemeral_1h_input_tokens`), billed at the one-hour write price.
    #[serde(default)]
    pub cache_write_1h_tokens_in: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    /// The provider's own bill for the exchange in 1e-10 USD (xAI's `cost_in_usd_ticks`).
    pub cost_in_usd_ticks: Option<u64>,
}

impl Usage {
    /// Whether the answer reported any token count at all.
    pub fn is_known(&self) -> bool {
        self.tokens_in.is_some() || self.tokens_out.is_some()
    }

    /// The same counts, with a cached part no larger than the input it is part of (an answer
    /// that reports more is not believed beyond its input).
    pub fn consistent(mut self) -> Self {
        if let (Some(cached), Some(input)) = (self.cached_tokens_in, self.tokens_in) {
            self.cached_tokens_in = Some(cached.min(input));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::Usage;

    #[test]
    fn a_cached_part_is_never_larger_than_its_input() {
        let reported = |tokens_in, cached| Usage {
            tokens_in,
            cached_tokens_in: cached,
            ..Usage::default()
        };
        assert_eq!(
            reported(Some(100), Some(500)).consistent(),
            reported(Some(100), Some(100))
        );
        assert_eq!(
            reported(Some(100), Some(40)).consistent(),
            reported(Some(100), Some(40))
        );
        // Without an input count there is nothing to hold the cached part to.
        assert_eq!(
            reported(None, Some(40)).consistent(),
            reported(None, Some(40))
        );
    }
}
