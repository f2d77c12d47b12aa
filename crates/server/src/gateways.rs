//! Stage 2 of the pipeline: resolving a gateway's settings.
//!
//! Settings are read from the store and kept in memory. A gateway that does not exist is
//! created on first use unless `auto_create_gateways = false`: with the settings the config's
//! `[[gateways]]` declares for it (one deleted through the control plane comes back as the
//! config says, authentication included, not with defaults), else with default settings.
//!
//! Replicas share the store, so a copy older than [`REFRESH_AFTER`] is re-read in the
//! background while requests go on with it, and a copy older than [`MAX_AGE`] is never used:
//! the request re-reads it first. A change made through any replica therefore applies
//! everywhere within a second, and a busy gateway never waits for the store. A change made
//! through this process applies at once ([`Gateways::invalidate`]). While the store is
//! unreachable ([`Outage`]), a copy is used whatever its age.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use switchyard_core::{AccountId, ErrorKind, GatewayError, GatewayId, GatewaySettings};
use switchyard_store::Store;

use crate::outage::Outage;

/// Age after which a cached copy is re-read in the background.
pub const REFRESH_AFTER: Duration = Duration::from_millis(500);
/// Age after which a cached copy is not used at all.
pub const MAX_AGE: Duration = Duration::from_millis(1000);

struct Cached {
    settings: Arc<GatewaySettings>,
    read_at: Instant,
    refreshing: AtomicBool,
}

type ByGateway = HashMap<String, Arc<Cached>>;

/// The in-memory view of every gateway used so far.
pub struct Gateways {
    store: Store,
    auto_create: bool,
    /// The config's `[[gateways]]`, by account and gateway id.
    declared: HashMap<(String, String), GatewaySettings>,
    cache: Arc<RwLock<HashMap<String, ByGateway>>>,
    outage: Arc<Outage>,
}

fn internal(e: switchyard_store::StoreError) -> GatewayError {
    crate::error::storage_failed("reading gateway settings", &e)
}

impl Gateways {
    pub fn new(
        store: Store,
        outage: Arc<Outage>,
        auto_create: bool,
        declared: &[GatewaySettings],
    ) -> Self {
        let declared = declared
            .iter()
            .map(|g| {
                let key = (g.account_id.as_str().to_owned(), g.id.as_str().to_owned());
                (key, g.clone())
            })
            .collect();
        Self {
            store,
            auto_create,
            declared,
            cache: Arc::new(RwLock::new(HashMap::new())),
            outage,
        }
    }

    /// The settings of `account/gateway` (ids already validated), creating it if allowed.
    pub async fn resolve(
        &self,
        account: &str,
        gateway: &str,
    ) -> Result<Arc<GatewaySettings>, GatewayError> {
        let cached = self.cached(account, gateway);
        if let Some(c) = &cached {
            let age = c.read_at.elapsed();
            if self.outage.is_down() {
                return Ok(c.settings.clone());
            }
            if age < MAX_AGE {
                if age >= REFRESH_AFTER && !c.refreshing.swap(true, Ordering::AcqRel) {
                    self.refresh_in_background(account, gateway);
                }
                return Ok(c.settings.clone());
            }
        }
        let account_id =
            AccountId::parse(account).map_err(|e| GatewayError::bad_request(e.to_string()))?;
        let gateway_id =
            GatewayId::parse(gateway).map_err(|e| GatewayError::bad_request(e.to_string()))?;
        let found = match self.store.get_gateway(&account_id, &gateway_id).await {
            Ok(found) => found,
            Err(e) => {
                return self
                    .outage
                    .fallback(cached.map(|c| c.settings.clone()), e)
                    .map_err(internal)
            }
        };
        let settings = match found {
            Some(g) => g,
            None if self.auto_create => {
                let now = switchyard_core::clock::now_rfc3339();
                let key = (account.to_owned(), gateway.to_owned());
                let fresh = match self.declared.get(&key) {
                    Some(d) => GatewaySettings {
                        created_at: now.clone(),
                        modified_at: now,
                        ..d.clone()
                    },
                    None => GatewaySettings::new(account_id, gateway_id, now),
                };
                self.store
                    .create_gateway_if_missing(&fresh)
                    .await
                    .map_err(internal)?
            }
            None => {
                return Err(GatewayError::new(
                    ErrorKind::GatewayNotFound,
                    format!("gateway '{gateway}' does not exist in account '{account}'"),
                ))
            }
        };
        let settings = Arc::new(settings);
        put(&self.cache, account, gateway, settings.clone());
        Ok(settings)
    }

    fn cached(&self, account: &str, gateway: &str) -> Option<Arc<Cached>> {
        let cache = self.cache.read().ok()?;
        cache.get(account)?.get(gateway).cloned()
    }

    fn refresh_in_background(&self, account: &str, gateway: &str) {
        let (Ok(a), Ok(g)) = (AccountId::parse(account), GatewayId::parse(gateway)) else {
            return;
        };
        let store = self.store.clone();
        let cache = self.cache.clone();
        let outage = self.outage.clone();
        // Best effort: if the read fails, the copy stays and the next request tries again.
        tokio::spawn(async move {
            match store.get_gateway(&a, &g).await {
                Ok(Some(fresh)) => put(&cache, a.as_str(), g.as_str(), Arc::new(fresh)),
                Ok(None) => forget(&cache, a.as_str(), g.as_str()),
                Err(e) => {
                    outage.saw(&e);
                    tracing::warn!(error = %e, "re-reading gateway settings failed; keeping the cached copy");
                    if let Ok(map) = cache.read() {
                        if let Some(c) = map.get(a.as_str()).and_then(|m| m.get(g.as_str())) {
                            c.refreshing.store(false, Ordering::Release);
                        }
                    }
                }
            }
        });
    }

    /// Forgets the cached settings of one gateway; the next request reads the store.
    pub fn invalidate(&self, account: &str, gateway: &str) {
        forget(&self.cache, account, gateway);
    }
}

fn put(
    cache: &RwLock<HashMap<String, ByGateway>>,
    account: &str,
    gateway: &str,
    s: Arc<GatewaySettings>,
) {
    if let Ok(mut map) = cache.write() {
        map.entry(account.to_owned()).or_default().insert(
            gateway.to_owned(),
            Arc::new(Cached {
                settings: s,
                read_at: Instant::now(),
                refreshing: AtomicBool::new(false),
            }),
        );
    }
}

fn forget(cache: &RwLock<HashMap<String, ByGateway>>, account: &str, gateway: &str) {
    if let Ok(mut map) = cache.write() {
        if let Some(m) = map.get_mut(account) {
            m.remove(gateway);
        }
    }
}
