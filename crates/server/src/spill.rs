//! Log records the database would not take before exit. When the store is failing at
//! shutdown, or does not take the queue within the grace period, the log writer stops
//! retrying and saves each remaining batch to a file in the spill directory (`log_spill_dir`;
//! default beside the SQLite database, else the working directory): one JSON object per line,
//! written under a temporary name, readable by the owner only, synced, then renamed, so a file
//! either holds its whole batch or is not picked up. A file's name carries a tag of the
//! database it belongs to, so instances sharing a directory replay only their own.
//!
//! After the next start, in the background, every such file is written to the store and
//! removed; while the database cannot be reached this is tried again every
//! [`RETRY_EVERY`]. Records are inserted by id with duplicates skipped, so a record whose row
//! did reach the database before it was saved is not stored twice (one whose row is not
//! collected, which feeds the analytics only, can count twice when its batch was being
//! written as the saving began). A record the database refuses is dropped alone, and a line
//! that cannot be read is skipped, each said in the log.

use crate::logpipe::BATCH_MAX;
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use switchyard_core::log::RequestType;
use switchyard_core::{AccountId, GatewayId, LogRecord, LogStrategy};
use switchyard_store::logs::{LogCap, PendingLog};
use switchyard_store::Store;

/// Spill files are named `{PREFIX}{tag}-{micros}-{pid}-{n}{SUFFIX}` ([`database_tag`]).
pub const PREFIX: &str = "switchyard-unwritten-";
pub const SUFFIX: &str = ".jsonl";
/// How often saved records are tried again while the database cannot take them.
pub const RETRY_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// The database's part of a spill file's name: the first 8 bytes (hex) of the SHA-256 of its
/// URL without the password.
pub fn database_tag(database: &str) -> String {
    let digest = sha2::Sha256::digest(crate::serve::redact_url(database).as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks at start that saved records could be written to `dir` (created if missing), so
/// that a directory that cannot take them is found before it is needed.
pub fn check_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!("{PREFIX}probe-{}.part", std::process::id()));
    create_private(&probe)?;
    std::fs::remove_file(&probe)
}

/// A new file readable and writable by its owner only (it holds request bodies).
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// The spill directory for a config without `log_spill_dir`: beside the SQLite database
/// file, else the working directory.
pub fn default_dir(database: &str) -> PathBuf {
    crate::secrets::key_file_for(database)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// One record as a line of a spill file: every field of the record and of its write.
#[derive(Serialize, Deserialize)]
struct Line {
    id: String,
    account_id: String,
    gateway_id: String,
    created_at: String,
    provider: String,
    model: Option<String>,
    path: String,
    request_type: String,
    status_code: u16,
    success: bool,
    cached: bool,
    duration: u64,
    ttft: Option<u64>,
    tokens_in: Option<u64>,
    tokens_out: Option<u64>,
    cached_tokens_in: Option<u64>,
    reasoning_tokens: Option<u64>,
    cost: f64,
    custom_cost: bool,
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    event_id: Option<String>,
    feedback: Option<i8>,
    score: Option<f64>,
    step: Option<u32>,
    request_content_type: Option<String>,
    response_content_type: Option<String>,
    request_size: u64,
    response_size: u64,
    user_agent: Option<String>,
    cancelled: bool,
    request_headers: Option<String>,
    response_headers: Option<String>,
    /// Base64.
    request_body: Option<String>,
    /// Base64.
    response_body: Option<String>,
    cap_max_rows: Option<u64>,
    cap_strategy: Option<LogStrategy>,
    keep_row: bool,
}

fn b64(b: &Option<Bytes>) -> Option<String> {
    b.as_ref()
        .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
}

fn unb64(s: Option<String>) -> Result<Option<Bytes>, String> {
    s.map(|s| {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Bytes::from)
            .map_err(|e| format!("a body is not base64: {e}"))
    })
    .transpose()
}

impl Line {
    fn of(p: &PendingLog) -> Self {
        let r = &p.record;
        Line {
            id: r.id.clone(),
            account_id: r.account_id.to_string(),
            gateway_id: r.gateway_id.to_string(),
            created_at: r.created_at.clone(),
            provider: r.provider.clone(),
            model: r.model.clone(),
            path: r.path.clone(),
            request_type: r.request_type.as_str().to_owned(),
            status_code: r.status_code,
            success: r.success,
            cached: r.cached,
            duration: r.duration,
            ttft: r.ttft,
            tokens_in: r.tokens_in,
            tokens_out: r.tokens_out,
            cached_tokens_in: r.cached_tokens_in,
            reasoning_tokens: r.reasoning_tokens,
            cost: r.cost,
            custom_cost: r.custom_cost,
            metadata: r.metadata.clone(),
            event_id: r.event_id.clone(),
            feedback: r.feedback,
            score: r.score,
            step: r.step,
            request_content_type: r.request_content_type.clone(),
            response_content_type: r.response_content_type.clone(),
            request_size: r.request_size,
            response_size: r.response_size,
            user_agent: r.user_agent.clone(),
            cancelled: r.cancelled,
            request_headers: r.request_headers.clone(),
            response_headers: r.response_headers.clone(),
            request_body: b64(&r.request_body),
            response_body: b64(&r.response_body),
            cap_max_rows: p.cap.map(|c| c.max_rows),
            cap_strategy: p.cap.map(|c| c.strategy),
            keep_row: p.keep_row,
        }
    }

    fn into_pending(self) -> Result<PendingLog, String> {
        let record = LogRecord {
            account_id: AccountId::parse(&self.account_id).map_err(|e| e.to_string())?,
            gateway_id: GatewayId::parse(&self.gateway_id).map_err(|e| e.to_string())?,
            request_type: RequestType::parse(&self.request_type)
                .ok_or_else(|| format!("unknown request type '{}'", self.request_type))?,
            request_body: unb64(self.request_body)?,
            response_body: unb64(self.response_body)?,
            id: self.id,
            created_at: self.created_at,
            provider: self.provider,
            model: self.model,
            path: self.path,
            status_code: self.status_code,
            success: self.success,
            cached: self.cached,
            duration: self.duration,
            ttft: self.ttft,
            tokens_in: self.tokens_in,
            tokens_out: self.tokens_out,
            cached_tokens_in: self.cached_tokens_in,
            reasoning_tokens: self.reasoning_tokens,
            cost: self.cost,
            custom_cost: self.custom_cost,
            metadata: self.metadata,
            event_id: self.event_id,
            feedback: self.feedback,
            score: self.score,
            step: self.step,
            request_content_type: self.request_content_type,
            response_content_type: self.response_content_type,
            request_size: self.request_size,
            response_size: self.response_size,
            user_agent: self.user_agent,
            cancelled: self.cancelled,
            request_headers: self.request_headers,
            response_headers: self.response_headers,
        };
        let cap = match (self.cap_max_rows, self.cap_strategy) {
            (Some(max_rows), Some(strategy)) => Some(LogCap { max_rows, strategy }),
            _ => None,
        };
        Ok(PendingLog {
            record,
            cap,
            keep_row: self.keep_row,
        })
    }
}

/// Files saved by this process so far (part of each file's name).
static SAVED: AtomicU64 = AtomicU64::new(0);

/// Saves `batch` to a new spill file in `dir` (created if missing) for the database `tag`
/// names; returns its path.
pub fn save(dir: &Path, tag: &str, batch: &[PendingLog]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    let n = SAVED.fetch_add(1, Ordering::Relaxed);
    let name = format!("{PREFIX}{tag}-{micros}-{}-{n}{SUFFIX}", std::process::id());
    let path = dir.join(&name);
    let partial = dir.join(format!("{name}.part"));
    let mut out = std::io::BufWriter::new(create_private(&partial)?);
    for p in batch {
        serde_json::to_writer(&mut out, &Line::of(p))?;
        out.write_all(b"\n")?;
    }
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// The spill files in `dir` for the database `tag` names, oldest first.
fn files(dir: &Path, tag: &str) -> std::io::Result<Vec<PathBuf>> {
    let prefix = format!("{PREFIX}{tag}-");
    let mut found: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(SUFFIX))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    found.sort();
    Ok(found)
}

/// Writes the saved records in the background: at once, then every [`RETRY_EVERY`] while
/// the database cannot take them, until no file is left.
pub fn replay_in_background(dir: PathBuf, tag: String, store: Store) {
    tokio::spawn(async move {
        loop {
            match replay(&dir, &tag, &store).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_secs = RETRY_EVERY.as_secs(), "saved log records could not all be stored yet");
                    tokio::time::sleep(RETRY_EVERY).await;
                }
            }
        }
    });
}

/// Writes every spill file in `dir` for the database `tag` names to the store and removes it.
/// Goes on past a file that fails; the error says the first one that did.
pub async fn replay(dir: &Path, tag: &str, store: &Store) -> anyhow::Result<()> {
    let mut first_error = None;
    for path in files(dir, tag)? {
        match replay_file(&path, store).await {
            Ok((records, rows)) => {
                tracing::info!(
                    file = %path.display(),
                    records,
                    rows_stored_now = rows,
                    "log records saved at an earlier exit are in the database (a row stored before is not stored twice)"
                );
            }
            Err(e) => {
                first_error.get_or_insert(e.context(format!("{}", path.display())));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// One file, a batch at a time (read off the runtime's threads); removed once stored.
/// Returns the records read and the rows stored.
async fn replay_file(path: &Path, store: &Store) -> anyhow::Result<(usize, u64)> {
    let owned = path.to_path_buf();
    let mut reader = Some(
        tokio::task::spawn_blocking(move || {
            std::fs::File::open(owned).map(std::io::BufReader::new)
        })
        .await??,
    );
    let (mut records, mut rows, mut line_no) = (0, 0, 0);
    loop {
        let r = reader
            .take()
            .ok_or_else(|| anyhow::anyhow!("reader lost"))?;
        let owned = path.to_path_buf();
        let (r, chunk, n, done) =
            tokio::task::spawn_blocking(move || read_chunk(&owned, r, line_no)).await??;
        reader = Some(r);
        line_no = n;
        records += chunk.len();
        rows += write_chunk(store, &chunk).await?;
        if done {
            break;
        }
    }
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::remove_file(owned)).await??;
    Ok((records, rows))
}

type Reader = std::io::BufReader<std::fs::File>;

/// Up to [`BATCH_MAX`] records from `r`; the line count so far; whether the file ended.
fn read_chunk(
    path: &Path,
    mut r: Reader,
    mut line_no: usize,
) -> std::io::Result<(Reader, Vec<PendingLog>, usize, bool)> {
    let mut out = Vec::new();
    let mut line = String::new();
    while out.len() < BATCH_MAX {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok((r, out, line_no, true));
        }
        line_no += 1;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(&line)
            .map_err(|e| e.to_string())
            .and_then(Line::into_pending)
        {
            Ok(p) => out.push(p),
            Err(e) => tracing::error!(
                file = %path.display(),
                line = line_no,
                error = %e,
                "a saved log record cannot be read; it is skipped"
            ),
        }
    }
    Ok((r, out, line_no, false))
}

/// Stores `chunk`; when the database refuses its data, record by record, dropping (and
/// saying) only the refused ones. Returns the rows stored.
async fn write_chunk(
    store: &Store,
    chunk: &[PendingLog],
) -> Result<u64, switchyard_store::StoreError> {
    match store.write_batch(chunk).await {
        Ok(outcome) => Ok(outcome.written),
        Err(e) if e.is_rejection() => {
            let mut rows = 0;
            for p in chunk {
                match store.write_batch(std::slice::from_ref(p)).await {
                    Ok(outcome) => rows += outcome.written,
                    Err(e) if e.is_rejection() => tracing::error!(
                        error = %e,
                        id = %p.record.id,
                        "the database refuses a saved log record; it is dropped"
                    ),
                    Err(e) => return Err(e),
                }
            }
            Ok(rows)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// A record with every field set, for unit tests.
    pub(crate) fn pending(id: &str) -> PendingLog {
        let mut metadata = serde_json::Map::new();
        metadata.insert("user".into(), serde_json::json!(42));
        PendingLog {
            record: LogRecord {
                id: id.into(),
                account_id: AccountId::parse("acct").unwrap(),
                gateway_id: GatewayId::parse("gw").unwrap(),
                created_at: "2026-11-27T07:00:00.123456Z".into(),
                provider: "grok".into(),
                model: Some("grok-4".into()),
                path: "/v1/chat/completions".into(),
                request_type: RequestType::Compat,
                status_code: 200,
                success: true,
                cached: false,
                duration: 120,
                ttft: Some(40),
                tokens_in: Some(10),
                tokens_out: Some(5),
                cached_tokens_in: Some(2),
                reasoning_tokens: None,
                cost: 0.000125,
                custom_cost: false,
                metadata: Some(metadata),
                event_id: Some("ev".into()),
                feedback: Some(-1),
                score: Some(0.5),
                step: Some(1),
                request_content_type: Some("application/json".into()),
                response_content_type: None,
                request_size: 3,
                response_size: 4,
                user_agent: Some("ua".into()),
                cancelled: true,
                request_headers: Some(r#"{"authorization":"REDACTED"}"#.into()),
                response_headers: None,
                request_body: Some(Bytes::from_static(b"{\x00\xff}")),
                response_body: None,
            },
            cap: Some(LogCap {
                max_rows: 10,
                strategy: LogStrategy::DeleteOldest,
            }),
            keep_row: false,
        }
    }

    #[test]
    fn a_saved_batch_reads_back_whole_and_half_written_files_are_not_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let batch = vec![
            pending("0190c5e2-0000-7000-8000-000000000001"),
            pending("b"),
        ];
        let path = save(dir.path(), "t1", &batch).unwrap();
        assert_eq!(files(dir.path(), "t1").unwrap(), vec![path.clone()]);
        // Another database's files are not this one's.
        assert!(files(dir.path(), "t2").unwrap().is_empty());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "readable by its owner only: {mode:o}");
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let back: Vec<PendingLog> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<Line>(l)
                    .unwrap()
                    .into_pending()
                    .unwrap()
            })
            .collect();
        assert_eq!(back.len(), 2);
        for (a, b) in batch.iter().zip(&back) {
            assert_eq!(a.record, b.record);
            assert_eq!(a.cap, b.cap);
            assert_eq!(a.keep_row, b.keep_row);
        }
        // A file still being written (its temporary name) is left alone.
        std::fs::write(
            dir.path().join(format!("{PREFIX}t1-1-2-3{SUFFIX}.part")),
            "x",
        )
        .unwrap();
        assert_eq!(files(dir.path(), "t1").unwrap(), vec![path]);
        assert!(files(&dir.path().join("missing"), "t1").unwrap().is_empty());
    }

    #[tokio::test]
    async fn replay_stores_every_readable_record_once_and_removes_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let store = switchyard_store::open(&url).await.unwrap();
        let ids = [
            "0190c5e2-0000-7000-8000-00000000000a",
            "0190c5e2-0000-7000-8000-00000000000b",
            "0190c5e2-0000-7000-8000-00000000000c",
        ];
        let kept = |id: &str| PendingLog {
            keep_row: true,
            cap: None,
            ..pending(id)
        };
        let tag = database_tag(&url);
        // The first record is already stored (its batch was written, then saved too).
        store.write_batch(&[kept(ids[0])]).await.unwrap();
        let first = save(dir.path(), &tag, &[kept(ids[0]), kept(ids[1])]).unwrap();
        let second = save(dir.path(), &tag, &[kept(ids[2])]).unwrap();
        // A line that cannot be read is skipped; the rest of its file is stored.
        let mut text = std::fs::read_to_string(&second).unwrap();
        text.insert_str(0, "{not json\n");
        std::fs::write(&second, text).unwrap();
        // Another database's file is left alone.
        let other = save(dir.path(), "0000000000000000", &[kept("x")]).unwrap();

        replay(dir.path(), &tag, &store).await.unwrap();
        let (a, g) = (
            AccountId::parse("acct").unwrap(),
            GatewayId::parse("gw").unwrap(),
        );
        for id in ids {
            let r = store.get_log(&a, &g, id).await.unwrap().expect("stored");
            assert_eq!(r.request_body.as_deref(), Some(&b"{\x00\xff}"[..]));
        }
        let page = store
            .list_logs(&a, &g, &switchyard_store::logs::LogListQuery::default())
            .await
            .unwrap();
        assert_eq!(page.total_count, 3, "no record stored twice");
        assert!(!first.exists() && !second.exists());
        assert!(other.exists());
        // Nothing left: a second replay does nothing.
        replay(dir.path(), &tag, &store).await.unwrap();
    }

    #[test]
    fn the_default_directory_is_beside_the_sqlite_database() {
        assert_eq!(
            default_dir("sqlite:///var/lib/sy/switchyard.db"),
            PathBuf::from("/var/lib/sy")
        );
        assert_eq!(default_dir("sqlite://switchyard.db"), PathBuf::from("."));
        assert_eq!(default_dir("postgres://u@h/db"), PathBuf::from("."));
    }
}
