//! The gateway store suite, run against every backend.
#![allow(clippy::unwrap_used)]

mod common;

use common::{gw, unique_account};
use switchyard_core::{AccountId, GatewayId, GatewaySettings, RateLimitTechnique};
use switchyard_store::logs::{AnalyticsQuery, Bucket, LogListQuery, PendingLog};
use switchyard_store::{Store, StoredKey};

async fn suite(store: Store) {
    let acct = unique_account("gw");
    let gw = gw("gw");
    assert!(store.get_gateway(&acct, &gw).await.unwrap().is_none());

    let fresh = GatewaySettings::new(acct.clone(), gw.clone(), "2026-01-01T00:00:00Z".into());
    let created = store.create_gateway_if_missing(&fresh).await.unwrap();
    assert_eq!(created, fresh);

    // A second create keeps the first.
    let mut other = fresh.clone();
    other.cache_ttl = 99;
    let again = store.create_gateway_if_missing(&other).await.unwrap();
    assert_eq!(again.cache_ttl, 0);

    // Replace keeps created_at, takes every other field.
    let mut changed = fresh.clone();
    changed.rate_limiting_limit = 10;
    changed.rate_limiting_technique = RateLimitTechnique::Sliding;
    changed.log_management = Some(1000);
    changed.created_at = "2030-01-01T00:00:00Z".into();
    changed.modified_at = "2026-01-02T00:00:00Z".into();
    store.put_gateway(&changed).await.unwrap();
    let got = store.get_gateway(&acct, &gw).await.unwrap().unwrap();
    assert_eq!(got.rate_limiting_limit, 10);
    assert_eq!(got.rate_limiting_technique, RateLimitTechnique::Sliding);
    assert_eq!(got.log_management, Some(1000));
    assert_eq!(got.created_at, "2026-01-01T00:00:00Z");
    assert_eq!(got.modified_at, "2026-01-02T00:00:00Z");

    let gw2 = common::gw("a-first");
    store
        .create_gateway_if_missing(&GatewaySettings::new(acct.clone(), gw2.clone(), "t".into()))
        .await
        .unwrap();
    let other_acct = unique_account("gw-other");
    store
        .create_gateway_if_missing(&GatewaySettings::new(
            other_acct.clone(),
            gw.clone(),
            "t".into(),
        ))
        .await
        .unwrap();
    let ids: Vec<String> = store
        .list_gateways(&acct)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.id.to_string())
        .collect();
    assert_eq!(ids, vec!["a-first", "gw"]);
    // Both accounts are listed once each (other suites' accounts may be there too).
    let accounts = store.list_accounts().await.unwrap();
    for a in [&acct, &other_acct] {
        assert_eq!(accounts.iter().filter(|x| *x == a).count(), 1, "{a}");
    }
    assert!(
        accounts.windows(2).all(|w| w[0] < w[1]),
        "ordered, distinct"
    );

    // Logs and a stored key under the gateway to delete, and under one that stays.
    for (n, g) in [(1, &gw), (2, &gw2)] {
        let r = common::record(&acct, g, n, "2026-01-01T00:00:00Z");
        let batch = [PendingLog {
            record: r,
            cap: None,
            keep_row: true,
        }];
        assert_eq!(store.write_batch(&batch).await.unwrap().written, 1);
        store.create_key(&key(&acct, g)).await.unwrap();
    }
    let day = AnalyticsQuery {
        start: "2026-01-01T00:00:00Z".into(),
        end: "2026-01-02T00:00:00Z".into(),
        bucket: Bucket::Day,
        group_by: Vec::new(),
    };
    assert_eq!(store.analytics(&acct, &gw, &day).await.unwrap().len(), 1);

    let deleted = store.delete_gateway(&acct, &gw).await.unwrap().unwrap();
    assert_eq!(deleted.id, gw);
    assert_eq!(deleted.rate_limiting_limit, 10);
    assert!(store.delete_gateway(&acct, &gw).await.unwrap().is_none());
    assert!(store.get_gateway(&other_acct, &gw).await.unwrap().is_some());
    // An account outlives its last gateway (a trigger on the gateway table records it).
    store
        .delete_gateway(&other_acct, &gw)
        .await
        .unwrap()
        .unwrap();
    assert!(store.list_gateways(&other_acct).await.unwrap().is_empty());
    assert!(store.list_accounts().await.unwrap().contains(&other_acct));

    // Everything stored under it went with it: created again, it starts empty.
    store.create_gateway_if_missing(&fresh).await.unwrap();
    let all = LogListQuery::default();
    let page = store.list_logs(&acct, &gw, &all).await.unwrap();
    assert_eq!((page.records.len(), page.total_count), (0, 0));
    assert!(store
        .get_log(&acct, &gw, &common::log_id(1))
        .await
        .unwrap()
        .is_none());
    assert!(store.list_keys(&acct, &gw).await.unwrap().is_empty());
    assert!(store.analytics(&acct, &gw, &day).await.unwrap().is_empty());
    // And logging to it again counts from zero.
    let again = common::record(&acct, &gw, 3, "2026-01-01T00:00:01Z");
    let batch = [PendingLog {
        record: again,
        cap: None,
        keep_row: true,
    }];
    store.write_batch(&batch).await.unwrap();
    assert_eq!(
        store.list_logs(&acct, &gw, &all).await.unwrap().total_count,
        1
    );
    // The other gateway keeps its own.
    assert_eq!(
        store
            .list_logs(&acct, &gw2, &all)
            .await
            .unwrap()
            .total_count,
        1
    );
    assert_eq!(store.list_keys(&acct, &gw2).await.unwrap().len(), 1);
}

fn key(a: &AccountId, g: &GatewayId) -> StoredKey {
    StoredKey {
        // Unique across runs: the PostgreSQL test database keeps what earlier runs left.
        id: uuid::Uuid::now_v7().to_string(),
        account_id: a.clone(),
        gateway_id: g.clone(),
        provider_slug: "grok".into(),
        alias: "default".into(),
        secret_ciphertext: vec![1, 2, 3],
        secret_preview: "xai-...abcd".into(),
        default_config: true,
        created_at: "t".into(),
        modified_at: "t".into(),
    }
}

#[tokio::test]
async fn sqlite_file_backend() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    suite(switchyard_store::open(&url).await.unwrap()).await;
    // Reopening finds the data and re-runs migrations harmlessly.
    let store = switchyard_store::open(&url).await.unwrap();
    let acct = unique_account("reopen");
    let g = GatewaySettings::new(acct.clone(), gw("x"), "t".into());
    store.put_gateway(&g).await.unwrap();
    drop(store);
    let store = switchyard_store::open(&url).await.unwrap();
    assert_eq!(store.list_gateways(&acct).await.unwrap().len(), 1);
}

#[tokio::test]
async fn sqlite_memory_backend() {
    suite(switchyard_store::open("sqlite::memory:").await.unwrap()).await;
}

#[tokio::test]
async fn postgres_backend() {
    suite(common::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_opens_concurrently() {
    // Several replicas starting at once: migrations serialise on sqlx's advisory lock.
    let url = common::postgres_url();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { switchyard_store::open(&url).await.map(|_| ()) })
        })
        .collect();
    for h in handles {
        h.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn unknown_urls_are_refused() {
    assert!(switchyard_store::open("mysql://x").await.is_err());
}
