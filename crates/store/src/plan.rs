//! What one batch writes, decided once for both backends: records grouped by gateway, caps
//! applied against each gateway's stored row count, the trims `DELETE_OLDEST` needs, and the
//! gateway-key cache the backends share.

use crate::logs::{PendingLog, TRIM_LIMIT_PER_BATCH};
use crate::row::Prepared;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use switchyard_core::{AccountId, GatewayId, LogStrategy};

/// Remembers the small integer key of each gateway that has logs (the key never changes once
/// assigned, so entries never go stale).
#[derive(Default)]
pub(crate) struct GatewayKeys(Mutex<HashMap<(AccountId, GatewayId), i64>>);

/// More gateways than this and the cache starts over (they are re-read on demand).
const GATEWAY_KEYS_CAP: usize = 10_000;

impl GatewayKeys {
    pub fn get(&self, a: &AccountId, g: &GatewayId) -> Option<i64> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(a.clone(), g.clone())).copied()
    }

    pub fn put(&self, a: &AccountId, g: &GatewayId, key: i64) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= GATEWAY_KEYS_CAP {
            map.clear();
        }
        map.insert((a.clone(), g.clone()), key);
    }
}

/// The batch's distinct gateways, in first-seen order.
pub(crate) fn distinct_gateways(batch: &[PendingLog]) -> Vec<(AccountId, GatewayId)> {
    let mut seen: Vec<(AccountId, GatewayId)> = Vec::new();
    for p in batch {
        let k = (&p.record.account_id, &p.record.gateway_id);
        if !seen.iter().any(|(a, g)| (a, g) == k) {
            seen.push((k.0.clone(), k.1.clone()));
        }
    }
    seen
}

/// Batch indexes per gateway key, in batch order; keys ascending (the lock order).
pub(crate) fn group(
    batch: &[PendingLog],
    keys: &[((AccountId, GatewayId), i64)],
) -> BTreeMap<i64, Vec<usize>> {
    let mut groups: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, p) in batch.iter().enumerate() {
        let k = keys
            .iter()
            .find(|((a, g), _)| *a == p.record.account_id && *g == p.record.gateway_id)
            .map(|(_, k)| *k);
        if let Some(k) = k {
            groups.entry(k).or_default().push(i);
        }
    }
    groups
}

/// The decision for one batch.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// (gateway key, batch index) to insert, grouped by gateway.
    pub insert: Vec<(i64, usize)>,
    /// (gateway key, batch index) refused by a `STOP_INSERTING` cap.
    pub skipped: Vec<(i64, usize)>,
    /// (gateway key, batch index) of records that only count in analytics (`keep_row` off).
    pub counted: Vec<(i64, usize)>,
}

impl Plan {
    /// The records that feed the rollups without a row of their own.
    pub fn rollup_only(&self) -> impl Iterator<Item = &(i64, usize)> {
        self.skipped.iter().chain(&self.counted)
    }
}

/// Applies `STOP_INSERTING` caps: a record is skipped once its gateway (counting what this
/// batch inserts before it) holds `max_rows`.
pub(crate) fn plan(
    batch: &[PendingLog],
    groups: &BTreeMap<i64, Vec<usize>>,
    counts: &HashMap<i64, i64>,
) -> Plan {
    let mut out = Plan::default();
    for (gkey, idxs) in groups {
        let mut n = counts.get(gkey).copied().unwrap_or(0);
        for &i in idxs {
            if !batch[i].keep_row {
                out.counted.push((*gkey, i));
                continue;
            }
            let full = batch[i].cap.is_some_and(|c| {
                c.strategy == LogStrategy::StopInserting && n >= crate::row::i(c.max_rows)
            });
            if full {
                out.skipped.push((*gkey, i));
            } else {
                out.insert.push((*gkey, i));
                n += 1;
            }
        }
    }
    out
}

/// How many of its oldest rows a gateway must lose after the batch: governed by the cap of
/// its last record in the batch (the newest settings), bounded by [`TRIM_LIMIT_PER_BATCH`].
pub(crate) fn trim(batch: &[PendingLog], idxs: &[usize], rows_after: i64) -> i64 {
    let Some(cap) = idxs.last().and_then(|&i| batch[i].cap) else {
        return 0;
    };
    if cap.strategy != LogStrategy::DeleteOldest {
        return 0;
    }
    (rows_after - crate::row::i(cap.max_rows)).clamp(0, crate::row::i(TRIM_LIMIT_PER_BATCH))
}

/// Prepares every record of the batch (timestamps parsed, metadata serialised).
pub(crate) fn prepare(batch: &[PendingLog]) -> Vec<Prepared<'_>> {
    batch.iter().map(|p| Prepared::new(&p.record)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::LogCap;

    fn pending(cap: Option<LogCap>) -> PendingLog {
        let acct = AccountId::parse("a").unwrap_or_else(|_| unreachable!());
        let gw = GatewayId::parse("g").unwrap_or_else(|_| unreachable!());
        PendingLog {
            record: crate::row::tests::record(&acct, &gw, "x", "2026-01-01T00:00:00Z"),
            cap,
            keep_row: true,
        }
    }

    #[test]
    fn stop_inserting_fills_up_to_the_cap() {
        let cap = Some(LogCap {
            max_rows: 3,
            strategy: LogStrategy::StopInserting,
        });
        let batch: Vec<PendingLog> = (0..4).map(|_| pending(cap)).collect();
        let groups: BTreeMap<i64, Vec<usize>> = [(1, vec![0, 1, 2, 3])].into();
        let p = plan(&batch, &groups, &[(1, 1)].into());
        assert_eq!(p.insert, vec![(1, 0), (1, 1)]);
        assert_eq!(p.skipped, vec![(1, 2), (1, 3)]);
    }

    #[test]
    fn uncollected_records_only_count_and_take_no_room_under_a_cap() {
        let cap = Some(LogCap {
            max_rows: 2,
            strategy: LogStrategy::StopInserting,
        });
        let mut batch: Vec<PendingLog> = (0..4).map(|_| pending(cap)).collect();
        batch[0].keep_row = false;
        batch[2].keep_row = false;
        let groups: BTreeMap<i64, Vec<usize>> = [(1, vec![0, 1, 2, 3])].into();
        let p = plan(&batch, &groups, &[(1, 0)].into());
        assert_eq!(p.insert, vec![(1, 1), (1, 3)]);
        assert!(p.skipped.is_empty());
        assert_eq!(p.counted, vec![(1, 0), (1, 2)]);
        assert_eq!(p.rollup_only().count(), 2);
    }

    #[test]
    fn delete_oldest_trims_the_excess() {
        let cap = Some(LogCap {
            max_rows: 3,
            strategy: LogStrategy::DeleteOldest,
        });
        let batch: Vec<PendingLog> = (0..2).map(|_| pending(cap)).collect();
        assert_eq!(trim(&batch, &[0, 1], 5), 2);
        assert_eq!(trim(&batch, &[0, 1], 3), 0);
        let uncapped = vec![pending(None)];
        assert_eq!(trim(&uncapped, &[0], 99), 0);
    }
}
