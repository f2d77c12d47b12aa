//! The response cache: exact-match entries with a time to live, in memory (bounded by size,
//! the default) or in Redis (shared by replicas).
//!
//! Keys are chosen by the caller (a digest of the request). Entries are encoded in a small
//! length-prefixed binary form so a replayed answer is byte-for-byte what was stored.

use crate::kv::{KvError, Redis};
use async_trait::async_trait;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One stored answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedResponse {
    pub status: u16,
    /// Response headers as received (hop-by-hop removed), in order.
    pub headers: Vec<(String, Bytes)>,
    /// The whole body; for a stream, the stream's bytes as received.
    pub body: Bytes,
}

const VERSION: u8 = 1;

impl CachedResponse {
    /// The bytes stored in Redis.
    pub fn encode(&self) -> Bytes {
        let size = 16
            + self.body.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + 8)
                .sum::<usize>();
        let mut b = BytesMut::with_capacity(size);
        b.put_u8(VERSION);
        b.put_u16(self.status);
        b.put_u32(self.headers.len() as u32);
        for (k, v) in &self.headers {
            b.put_u32(k.len() as u32);
            b.put_slice(k.as_bytes());
            b.put_u32(v.len() as u32);
            b.put_slice(v);
        }
        b.put_u64(self.body.len() as u64);
        b.put_slice(&self.body);
        b.freeze()
    }

    /// Reads what [`CachedResponse::encode`] wrote; `None` for anything else.
    pub fn decode(mut b: Bytes) -> Option<Self> {
        fn take(b: &mut Bytes, n: usize) -> Option<Bytes> {
            (b.remaining() >= n).then(|| b.split_to(n))
        }
        if b.remaining() < 7 || b.get_u8() != VERSION {
            return None;
        }
        let status = b.get_u16();
        let n = b.get_u32() as usize;
        let mut headers = Vec::with_capacity(n.min(256));
        for _ in 0..n {
            if b.remaining() < 4 {
                return None;
            }
            let kl = b.get_u32() as usize;
            let k = String::from_utf8(take(&mut b, kl)?.to_vec()).ok()?;
            if b.remaining() < 4 {
                return None;
            }
            let vl = b.get_u32() as usize;
            headers.push((k, take(&mut b, vl)?));
        }
        if b.remaining() < 8 {
            return None;
        }
        let len = b.get_u64() as usize;
        let body = take(&mut b, len)?;
        Some(Self {
            status,
            headers,
            body,
        })
    }

    fn weight(&self) -> u64 {
        (self.body.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
            + 64) as u64
    }
}

/// Where cached answers live.
#[async_trait]
pub trait CacheStore: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<CachedResponse>, KvError>;
    async fn put(&self, key: &str, value: &CachedResponse, ttl: Duration) -> Result<(), KvError>;
}

#[derive(Clone)]
struct Entry {
    value: Arc<CachedResponse>,
    expires: Instant,
}

#[derive(Clone)]
struct ByteWeight;

impl quick_cache::Weighter<String, Entry> for ByteWeight {
    fn weight(&self, key: &String, val: &Entry) -> u64 {
        key.len() as u64 + val.value.weight()
    }
}

/// In-process cache bounded by total size; least valuable entries go first when full.
pub struct MemoryCache {
    inner: quick_cache::sync::Cache<String, Entry, ByteWeight>,
}

impl MemoryCache {
    /// A cache holding at most `max_bytes` of answers.
    pub fn new(max_bytes: u64) -> Self {
        let estimated_items = (max_bytes / 4096).clamp(16, 1_000_000) as usize;
        Self {
            inner: quick_cache::sync::Cache::with_weighter(estimated_items, max_bytes, ByteWeight),
        }
    }
}

#[async_trait]
impl CacheStore for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<CachedResponse>, KvError> {
        match self.inner.get(key) {
            Some(e) if e.expires > Instant::now() => Ok(Some((*e.value).clone())),
            Some(_) => {
                self.inner.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn put(&self, key: &str, value: &CachedResponse, ttl: Duration) -> Result<(), KvError> {
        self.inner.insert(
            key.to_owned(),
            Entry {
                value: Arc::new(value.clone()),
                expires: Instant::now() + ttl,
            },
        );
        Ok(())
    }
}

/// Entries in Redis under `switchyard:cache:{key}`, expiring with Redis's own TTL.
pub struct RedisCache {
    redis: Redis,
}

impl RedisCache {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }
}

fn redis_key(key: &str) -> String {
    format!("switchyard:cache:{key}")
}

#[async_trait]
impl CacheStore for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<CachedResponse>, KvError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(redis_key(key));
        let cmd = &cmd;
        let raw: Option<Vec<u8>> = self
            .redis
            .run(
                "GET",
                |mut conn| async move { cmd.query_async(&mut conn).await },
            )
            .await?;
        match raw {
            None => Ok(None),
            Some(v) => CachedResponse::decode(Bytes::from(v))
                .map(Some)
                .ok_or_else(|| KvError::Corrupt(format!("cache entry {key}"))),
        }
    }

    async fn put(&self, key: &str, value: &CachedResponse, ttl: Duration) -> Result<(), KvError> {
        let ms = ttl.as_millis().max(1) as u64;
        let mut cmd = redis::cmd("SET");
        cmd.arg(redis_key(key))
            .arg(value.encode().as_ref())
            .arg("PX")
            .arg(ms);
        let cmd = &cmd;
        self.redis
            .run("SET", |mut conn| async move {
                cmd.query_async::<()>(&mut conn).await
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CachedResponse {
        CachedResponse {
            status: 200,
            headers: vec![
                (
                    "content-type".into(),
                    Bytes::from_static(b"text/event-stream"),
                ),
                ("x-request-id".into(), Bytes::from_static(b"abc")),
            ],
            body: Bytes::from_static(b"data: {}\n\ndata: [DONE]\n\n"),
        }
    }

    #[test]
    fn encoding_round_trips_and_rejects_garbage() {
        let c = sample();
        assert_eq!(CachedResponse::decode(c.encode()), Some(c.clone()));
        let enc = c.encode();
        for cut in 0..enc.len() {
            assert!(
                CachedResponse::decode(enc.slice(..cut)).is_none(),
                "cut at {cut}"
            );
        }
        assert!(CachedResponse::decode(Bytes::from_static(b"\x09garbage")).is_none());
    }

    #[tokio::test]
    async fn memory_entries_expire_and_respect_the_size_bound() {
        let m = MemoryCache::new(10_000);
        m.put("a", &sample(), Duration::from_millis(50))
            .await
            .expect("put");
        assert_eq!(m.get("a").await.expect("get"), Some(sample()));
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(m.get("a").await.expect("get"), None);
        let big = CachedResponse {
            body: Bytes::from(vec![b'x'; 4000]),
            ..sample()
        };
        for i in 0..20 {
            m.put(&format!("k{i}"), &big, Duration::from_secs(60))
                .await
                .expect("put");
        }
        let mut held = 0;
        for i in 0..20 {
            if m.get(&format!("k{i}")).await.expect("get").is_some() {
                held += 1;
            }
        }
        assert!(held <= 3, "{held} entries of 4 KB in a 10 KB cache");
    }
}
