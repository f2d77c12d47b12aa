//! Stage 1 of the pipeline: resolving a gateway's settings.
//!
//! Settings are read from the store once and kept in memory; a gateway that does not exist
//! is created with default settings on first use unless `auto_create_gateways = false`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use switchyard_core::{AccountId, ErrorKind, GatewayError, GatewayId, GatewaySettings};
use switchyard_store::Store;

type ByGateway = HashMap<String, Arc<GatewaySettings>>;

/// The in-memory view of every gateway used so far.
pub struct Gateways {
    store: Store,
    auto_create: bool,
    cache: RwLock<HashMap<String, ByGateway>>,
}

impl Gateways {
    pub fn new(store: Store, auto_create: bool) -> Self {
        Self {
            store,
            auto_create,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The settings of `account/gateway` (ids already validated), creating it if allowed.
    pub async fn resolve(
        &self,
        account: &str,
        gateway: &str,
    ) -> Result<Arc<GatewaySettings>, GatewayError> {
        if let Some(g) = self.cached(account, gateway) {
            return Ok(g);
        }
        let account_id =
            AccountId::parse(account).map_err(|e| GatewayError::bad_request(e.to_string()))?;
        let gateway_id =
            GatewayId::parse(gateway).map_err(|e| GatewayError::bad_request(e.to_string()))?;
        let internal = |e: switchyard_store::StoreError| {
            tracing::error!(error = %e, "gateway store failed");
            GatewayError::new(ErrorKind::Internal, "the gateway's storage is unavailable")
        };
        let found = self
            .store
            .get_gateway(&account_id, &gateway_id)
            .await
            .map_err(internal)?;
        let settings = match found {
            Some(g) => g,
            None if self.auto_create => {
                let fresh = GatewaySettings::new(
                    account_id,
                    gateway_id,
                    switchyard_core::clock::now_rfc3339(),
                );
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
        if let Ok(mut cache) = self.cache.write() {
            cache
                .entry(account.to_owned())
                .or_default()
                .insert(gateway.to_owned(), settings.clone());
        }
        Ok(settings)
    }

    fn cached(&self, account: &str, gateway: &str) -> Option<Arc<GatewaySettings>> {
        let cache = self.cache.read().ok()?;
        cache.get(account)?.get(gateway).cloned()
    }

    /// Forgets the cached settings of one gateway; the next request reads the store.
    pub fn invalidate(&self, account: &str, gateway: &str) {
        if let Ok(mut cache) = self.cache.write() {
            if let Some(m) = cache.get_mut(account) {
                m.remove(gateway);
            }
        }
    }
}
