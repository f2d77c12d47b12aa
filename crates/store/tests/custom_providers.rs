//! The custom-provider suite, run against every backend.
#![allow(clippy::unwrap_used)]

mod common;

use common::unique_account;
use switchyard_core::AccountId;
use switchyard_store::{CustomProvider, Store, StoreError};

fn provider(a: &AccountId, id: &str, slug: &str) -> CustomProvider {
    CustomProvider {
        id: id.into(),
        account_id: a.clone(),
        slug: slug.into(),
        name: format!("Name of {slug}"),
        base_url: "https://llm.example/v1".into(),
        enable: true,
        description: Some("d".into()),
        link: None,
        // Sealed bytes round-trip as they are, and absence as absence.
        headers_sealed: (slug == "alpha").then(|| vec![0, 1, 255, 7]),
        created_at: "2026-01-01T00:00:00Z".into(),
        modified_at: "2026-01-01T00:00:00Z".into(),
    }
}

async fn suite(store: Store) {
    let a = unique_account("custom");
    let other = unique_account("custom-other");
    let id = |n: u32| format!("{}-{n}", a.as_str());
    let p1 = provider(&a, &id(1), "alpha");
    store.create_custom_provider(&p1).await.unwrap();
    assert!(matches!(
        store
            .create_custom_provider(&provider(&a, &id(2), "alpha"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    // The same slug in another account is fine.
    store
        .create_custom_provider(&provider(&other, &format!("{}-x", other.as_str()), "alpha"))
        .await
        .unwrap();
    store
        .create_custom_provider(&provider(&a, &id(3), "beta"))
        .await
        .unwrap();
    assert_eq!(
        store.find_custom_provider(&a, "alpha").await.unwrap(),
        Some(p1.clone())
    );
    // An id or slug with a NUL names no provider (PostgreSQL cannot even compare such text).
    let nul = format!("{}\0", id(1));
    assert_eq!(store.get_custom_provider(&a, &nul).await.unwrap(), None);
    assert_eq!(store.delete_custom_provider(&a, &nul).await.unwrap(), None);
    assert_eq!(
        store.find_custom_provider(&a, "alpha\0").await.unwrap(),
        None
    );
    assert_eq!(
        store.get_custom_provider(&a, &id(1)).await.unwrap(),
        Some(p1.clone())
    );
    assert_eq!(
        store.get_custom_provider(&other, &id(1)).await.unwrap(),
        None
    );
    let slugs: Vec<String> = store
        .list_custom_providers(&a)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.slug)
        .collect();
    assert_eq!(slugs, vec!["alpha", "beta"]);

    let mut changed = p1.clone();
    changed.enable = false;
    changed.base_url = "https://other.example".into();
    changed.modified_at = "2026-02-01T00:00:00Z".into();
    assert!(
        !store
            .update_custom_provider(&changed, "2020-01-01T00:00:00Z")
            .await
            .unwrap(),
        "changed since it was read: nothing written"
    );
    assert!(store
        .update_custom_provider(&changed, &p1.modified_at)
        .await
        .unwrap());
    assert_eq!(
        store.get_custom_provider(&a, &id(1)).await.unwrap(),
        Some(changed.clone())
    );
    let mut clash = changed.clone();
    clash.slug = "beta".into();
    assert!(matches!(
        store
            .update_custom_provider(&clash, &changed.modified_at)
            .await,
        Err(StoreError::Conflict(_))
    ));

    assert_eq!(
        store.delete_custom_provider(&a, &id(1)).await.unwrap(),
        Some(changed)
    );
    assert_eq!(
        store.delete_custom_provider(&a, &id(1)).await.unwrap(),
        None
    );
    assert_eq!(store.find_custom_provider(&a, "alpha").await.unwrap(), None);
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

/// Names sort in byte order on PostgreSQL whatever the database's default collation (an
/// en-US one puts `_x` before `Alpha`; SQLite and the C collation put it after).
#[tokio::test]
async fn postgres_orders_names_in_byte_order() {
    let _migrated = common::postgres().await;
    let pool = sqlx::PgPool::connect(&common::postgres_url())
        .await
        .unwrap();
    let collations: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT column_name::text, collation_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'custom_providers' \
         AND column_name IN ('name', 'id') ORDER BY column_name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        collations,
        vec![
            ("id".to_owned(), Some("C".to_owned())),
            ("name".to_owned(), Some("C".to_owned()))
        ]
    );
}
