//! The gateway-token suite, run against every backend.
#![allow(clippy::unwrap_used)]

mod common;

use common::unique_account;
use sha2::{Digest, Sha256};
use switchyard_store::Store;

/// What the database holds for a token: the columns the table really has.
async fn stored_columns(url: &str, id: &str) -> Vec<String> {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let row: (String, String, String) = sqlx::query_as(
            "SELECT token_hash, preview, COALESCE(name, '') FROM gateway_tokens WHERE id = ?1",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
        vec![row.0, row.1, row.2]
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let row: (String, String, String) = sqlx::query_as(
            "SELECT token_hash, preview, COALESCE(name, '') FROM gateway_tokens WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
        vec![row.0, row.1, row.2]
    }
}

async fn suite(store: Store, url: &str) {
    let a = unique_account("tokens");
    let other = unique_account("tokens-other");

    let (t1, secret1) = store
        .create_token(&a, Some("ci pipeline".into()))
        .await
        .unwrap();
    let (t2, secret2) = store.create_token(&a, None).await.unwrap();
    let (t3, secret3) = store.create_token(&other, None).await.unwrap();
    assert_ne!(secret1, secret2);
    for (t, s) in [(&t1, &secret1), (&t2, &secret2), (&t3, &secret3)] {
        assert!(s.starts_with("sy_") && s.len() == 46, "{s}");
        let tail = &s[s.len() - 4..];
        assert_eq!(t.preview, format!("sy_{}…{tail}", &s[3..5]));
        assert_eq!(t.id.len(), 36);
    }
    assert_eq!(t1.name.as_deref(), Some("ci pipeline"));
    assert_eq!(t1.account_id, a);

    // Only the hash is stored; the secret appears in no column.
    let cols = stored_columns(url, &t1.id).await;
    let want: String = Sha256::digest(secret1.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(cols[0], want);
    for c in &cols {
        assert!(!c.contains(&secret1[3..]), "secret stored in clear: {c}");
    }

    // Listed oldest first, per account, without the secret.
    assert_eq!(
        store.list_tokens(&a).await.unwrap(),
        vec![t1.clone(), t2.clone()]
    );
    assert_eq!(store.list_tokens(&other).await.unwrap(), vec![t3.clone()]);
    assert!(store
        .list_tokens(&unique_account("nobody"))
        .await
        .unwrap()
        .is_empty());

    // Found by the secret, only in its own account, only exactly.
    assert_eq!(
        store.find_token(&a, &secret1).await.unwrap(),
        Some(t1.clone())
    );
    assert_eq!(
        store.find_token(&a, &secret2).await.unwrap(),
        Some(t2.clone())
    );
    assert_eq!(store.find_token(&a, &secret3).await.unwrap(), None);
    assert_eq!(store.find_token(&other, &secret1).await.unwrap(), None);
    assert_eq!(
        store.find_token(&a, &format!("{secret1}x")).await.unwrap(),
        None
    );
    assert_eq!(store.find_token(&a, &t1.preview).await.unwrap(), None);
    assert_eq!(store.find_token(&a, "").await.unwrap(), None);

    // Revoked: gone from the list and no longer accepted; only through its own account.
    assert_eq!(store.revoke_token(&other, &t1.id).await.unwrap(), None);
    assert_eq!(
        store.revoke_token(&a, &t1.id).await.unwrap(),
        Some(t1.clone())
    );
    assert_eq!(store.revoke_token(&a, &t1.id).await.unwrap(), None);
    assert_eq!(store.find_token(&a, &secret1).await.unwrap(), None);
    assert_eq!(store.list_tokens(&a).await.unwrap(), vec![t2.clone()]);
    assert_eq!(store.find_token(&a, &secret2).await.unwrap(), Some(t2));
}

#[tokio::test]
async fn sqlite_backend() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = switchyard_store::open(&url).await.unwrap();
    suite(store, &url).await;
}

#[tokio::test]
async fn postgres_backend() {
    let url = common::postgres_url();
    suite(common::postgres().await, &url).await;
}
