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

/// The most tokens of any kind one answer is believed to have used: far above any model's
/// context or any batch a provider takes, and low enough that sums over every request a
/// gateway can serve in a month stay within a 64-bit integer (a larger figure is a broken or
/// hostile answer, which must not overflow the analytics).
pub const MAX_TOKENS: u64 = 1_000_000_000;
/// The largest bill one answer is believed to carry: 1 million USD, in ticks.
pub const MAX_COST_TICKS: u64 = 1_000_000 * 10_000_000_000;

impl Usage {
    /// Whether the answer reported any token count at all.
    pub fn is_known(&self) -> bool {
        self.tokens_in.is_some() || self.tokens_out.is_some()
    }

    /// The same counts, with a cached part no larger than the input it is part of (an answer
    /// that reports more is not believed beyond its input).
    /// Every count is also held to [`MAX_TOKENS`], and the bill to [`MAX_COST_TICKS`].
    pub fn consistent(mut self) -> Self {
        for count in [
            &mut self.tokens_in,
            &mut self.tokens_out,
            &mut self.cached_tokens_in,
            &mut self.cache_write_tokens_in,
            &mut self.cache_write_1h_tokens_in,
            &mut self.reasoning_tokens,
        ] {
            *count = count.map(|n| n.min(MAX_TOKENS));
        }
        self.cost_in_usd_ticks = self.cost_in_usd_ticks.map(|t| t.min(MAX_COST_TICKS));
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
    fn absurd_counts_are_held_to_what_any_answer_can_use() {
        let huge = Usage {
            tokens_in: Some(u64::MAX),
            tokens_out: Some(i64::MAX as u64),
            cached_tokens_in: Some(u64::MAX),
            cache_write_tokens_in: Some(u64::MAX),
            cache_write_1h_tokens_in: Some(u64::MAX),
            reasoning_tokens: Some(super::MAX_TOKENS + 1),
            cost_in_usd_ticks: Some(u64::MAX),
        }
        .consistent();
        let max = Some(super::MAX_TOKENS);
        assert_eq!(
            huge,
            Usage {
                tokens_in: max,
                tokens_out: max,
                cached_tokens_in: max,
                cache_write_tokens_in: max,
                cache_write_1h_tokens_in: max,
                reasoning_tokens: max,
                cost_in_usd_ticks: Some(super::MAX_COST_TICKS),
            }
        );
        // A month of records at the largest count still sums within an i64.
        let month_of_requests: u64 = 30 * 86_400 * 2_000;
        assert!(month_of_requests
            .checked_mul(super::MAX_TOKENS)
            .is_some_and(|s| s <= i64::MAX as u64));
        // Real counts are untouched.
        let real = Usage {
            tokens_in: Some(2_000_000),
            ..Usage::default()
        };
        assert_eq!(real.consistent(), real);
    }

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
