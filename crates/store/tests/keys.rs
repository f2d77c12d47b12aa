//! The provider-key suite, run against every backend.
#![allow(clippy::unwrap_used)]

mod common;

use common::{gw, unique_account};
use switchyard_core::{AccountId, GatewayId};
use switchyard_store::{Store, StoreError, StoredKey};

fn key(a: &AccountId, g: &GatewayId, id: &str, provider: &str, alias: &str, at: &str) -> StoredKey {
    StoredKey {
        id: id.into(),
        account_id: a.clone(),
        gateway_id: g.clone(),
        provider_slug: provider.into(),
        alias: alias.into(),
        secret_ciphertext: vec![1, 2, 3, 0, 255],
        secret_preview: "xai-...abcd".into(),
        default_config: alias == "default",
        created_at: at.into(),
        modified_at: at.into(),
    }
}

async fn suite(store: Store) {
    let a = unique_account("keys");
    let g = gw("main");
    // Ids are unique across the database: make them unique per run.
    let id = |n: u32| format!("{}-{n}", a.as_str());
    let k1 = key(&a, &g, &id(1), "grok", "default", "2026-01-01T00:00:01Z");
    let k2 = key(&a, &g, &id(2), "grok", "backup", "2026-01-01T00:00:02Z");
    let k3 = key(&a, &g, &id(3), "openai", "default", "2026-01-01T00:00:00Z");
    for k in [&k1, &k2, &k3] {
        store.create_key(k).await.unwrap();
    }
    // The (gateway, provider, alias) is taken; so is the id.
    let clash = key(&a, &g, &id(4), "grok", "default", "2026-01-01T00:00:03Z");
    match store.create_key(&clash).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("default") && m.contains("grok"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // An id or alias with a NUL names no key (PostgreSQL cannot even compare such text).
    let nul = format!("{}\0", id(1));
    assert!(store.delete_key(&a, &g, &nul).await.unwrap().is_none());
    assert!(store
        .find_key(&a, &g, "grok", "default\0")
        .await
        .unwrap()
        .is_none());
    let same_id = key(&a, &g, &id(1), "mistral", "default", "2026-01-01T00:00:03Z");
    assert!(matches!(
        store.create_key(&same_id).await,
        Err(StoreError::Conflict(_))
    ));
    // The same alias on another gateway or account is fine.
    let elsewhere = key(
        &a,
        &gw("other"),
        &id(5),
        "grok",
        "default",
        "2026-01-01T00:00:03Z",
    );
    store.create_key(&elsewhere).await.unwrap();

    let listed = store.list_keys(&a, &g).await.unwrap();
    assert_eq!(
        listed,
        vec![k3.clone(), k1.clone(), k2.clone()],
        "oldest first"
    );
    assert_eq!(
        store.find_key(&a, &g, "grok", "backup").await.unwrap(),
        Some(k2.clone())
    );
    assert_eq!(store.find_key(&a, &g, "grok", "nope").await.unwrap(), None);
    assert_eq!(
        store
            .find_key(&a, &g, "anthropic", "default")
            .await
            .unwrap(),
        None
    );

    // Without an alias: alias `default` (SPEC 2.4), else the newest marked default_config.
    let marked = |n, provider, alias: &str, default_config, at: &str| StoredKey {
        default_config,
        ..key(&a, &g, &id(n), provider, alias, at)
    };
    assert_eq!(
        store.find_default_key(&a, &g, "grok").await.unwrap(),
        Some(k1.clone())
    );
    let named_default = marked(6, "mistral", "default", false, "2026-01-01T00:00:06Z");
    let main = marked(7, "mistral", "main", true, "2026-01-01T00:00:05.000000Z");
    store.create_key(&named_default).await.unwrap();
    assert_eq!(
        store.find_default_key(&a, &g, "mistral").await.unwrap(),
        Some(named_default.clone()),
        "alias default, not marked"
    );
    store.create_key(&main).await.unwrap();
    assert_eq!(
        store.find_default_key(&a, &g, "mistral").await.unwrap(),
        Some(named_default.clone()),
        "the alias wins over a marked key"
    );
    store.delete_key(&a, &g, &id(6)).await.unwrap().unwrap();
    assert_eq!(
        store.find_default_key(&a, &g, "mistral").await.unwrap(),
        Some(main.clone()),
        "without it, the marked key"
    );
    // Created in the same second, a fraction later: still the newer.
    let newer = marked(8, "mistral", "newer", true, "2026-01-01T00:00:05.500000Z");
    store.create_key(&newer).await.unwrap();
    assert_eq!(
        store.find_default_key(&a, &g, "mistral").await.unwrap(),
        Some(newer.clone()),
        "the newest marked"
    );
    let unmarked = marked(9, "groq", "other", false, "2026-01-01T00:00:08Z");
    store.create_key(&unmarked).await.unwrap();
    assert_eq!(store.find_default_key(&a, &g, "groq").await.unwrap(), None);
    assert_eq!(
        store.find_default_key(&a, &g, "anthropic").await.unwrap(),
        None
    );
    for n in [7, 8, 9] {
        store.delete_key(&a, &g, &id(n)).await.unwrap().unwrap();
    }

    assert_eq!(
        store.delete_key(&a, &g, &id(1)).await.unwrap(),
        Some(k1.clone())
    );
    assert_eq!(store.delete_key(&a, &g, &id(1)).await.unwrap(), None);
    // A key is deleted only through its own gateway.
    assert_eq!(store.delete_key(&a, &g, &id(5)).await.unwrap(), None);
    assert_eq!(store.list_keys(&a, &g).await.unwrap(), vec![k3, k2]);
    // The alias is free again.
    store.create_key(&clash).await.unwrap();
    assert!(store
        .list_keys(&unique_account("nobody"), &g)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn sqlite_backend() {
    let (store, _dir) = common::sqlite().await;
    suite(store).await;
}

#[tokio::test]
async fn postgres_backend() {
    suite(common::postgres().await).await;
}

/// The newest key of all (what start-up opens to check its secret key): none in an empty
/// database, then the one written last, whatever its gateway.
#[tokio::test]
async fn the_newest_key_of_all_gateways() {
    let (store, _dir) = common::sqlite().await;
    assert!(store.newest_key().await.unwrap().is_none());
    let a = unique_account("newest");
    let older = key(
        &a,
        &gw("one"),
        "k-1",
        "grok",
        "default",
        "2026-01-01T00:00:01Z",
    );
    let newer = key(
        &a,
        &gw("two"),
        "k-2",
        "openai",
        "main",
        "2026-01-01T00:00:02Z",
    );
    store.create_key(&newer).await.unwrap();
    store.create_key(&older).await.unwrap();
    assert_eq!(store.newest_key().await.unwrap(), Some(newer));
    // PostgreSQL answers the same statement (its database holds other runs' keys too).
    let pg = common::postgres().await;
    pg.create_key(&key(
        &a,
        &gw("one"),
        &format!("{}-pg", a.as_str()),
        "grok",
        "default",
        "2026-01-01T00:00:01Z",
    ))
    .await
    .unwrap();
    assert!(pg.newest_key().await.unwrap().is_some());
}
