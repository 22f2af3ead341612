//! One writer per table: the lock an ingest or a compaction holds on the tables whose commits
//! are recorded under `_manifest/<table>/`.
//!
//! On disk it is an advisory file lock (`_manifest/<table>.lock`), released by the kernel when
//! the process ends. On S3 it is a lease object at the same key, created only if absent
//! (`If-None-Match: *`), renewed while held and before every manifest commit (`If-Match` on
//! its ETag, so a writer whose lease was taken over cannot commit), deleted when released
//! (`If-Match` again), and taken over once it has expired (a writer that died holding it).
//! Two writers of one table therefore never interleave: the second stops with an error that
//! names the lease and its holder, and nothing of either is lost or counted twice.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Lake, LakeLocation};
use crate::s3::{self, Condition};
use crate::{Error, Result};

/// How long a lease holds without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(60);
/// How often a held lease is renewed.
const RENEW_EVERY: Duration = Duration::from_secs(15);

/// What a lease object says.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeaseBody {
    /// The lease's own id (a UUID), to tell it from a successor's.
    id: String,
    host: String,
    pid: u32,
    tool: String,
    acquired_at: String,
    expires_at: String,
}

/// A held S3 lease.
#[derive(Debug)]
pub(crate) struct Lease {
    client: s3::Client,
    bucket: String,
    key: String,
    lake: String,
    /// What the lease object says, and its ETag while this run holds it.
    held: tokio::sync::Mutex<(LeaseBody, Option<String>)>,
}

impl Lease {
    fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    fn lost(&self, why: &str) -> Error {
        Error::Locked {
            lake: self.lake.clone(),
            detail: format!(
                "this run's lease {} {why}; nothing more is committed (the next ingest reads \
                 what this one did not commit)",
                self.uri()
            ),
        }
    }

    /// Extend the lease (only if it is still this run's).
    pub(crate) async fn renew(&self) -> Result<()> {
        let mut held = self.held.lock().await;
        let (body, etag) = &mut *held;
        let Some(current) = etag.clone() else {
            return Err(self.lost("was released"));
        };
        body.expires_at = expiry();
        let bytes = serde_json::to_vec_pretty(body).unwrap_or_default();
        match s3::put_bytes_if(
            &self.client,
            &self.bucket,
            &self.key,
            bytes,
            Condition::Unchanged(&current),
        )
        .await?
        {
            Some(new) => {
                *etag = Some(new);
                Ok(())
            }
            None => {
                *etag = None;
                Err(self.lost("expired and was taken over by another writer"))
            }
        }
    }

    async fn release(&self) {
        let Some(etag) = self.held.lock().await.1.take() else {
            return;
        };
        match s3::delete_if_unchanged(&self.client, &self.bucket, &self.key, &etag).await {
            Ok(true) => tracing::debug!(lease = %self.uri(), "lease released"),
            Ok(false) => tracing::warn!(lease = %self.uri(), "the lease had been taken over"),
            Err(e) => tracing::warn!(lease = %self.uri(), error = %e, "releasing the lease"),
        }
    }
}

fn expiry() -> String {
    (chrono::Utc::now() + chrono::Duration::from_std(LEASE_TTL).unwrap_or_default())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown host".into())
}

/// The lock of one table's writer, held until dropped.
#[derive(Debug)]
pub struct TableLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    Local(#[allow(dead_code)] std::fs::File),
    S3 {
        lake: Lake,
        table: String,
        lease: Arc<Lease>,
        renewer: tokio::task::JoinHandle<()>,
    },
}

impl Drop for TableLock {
    fn drop(&mut self) {
        let Held::S3 {
            lake,
            table,
            lease,
            renewer,
        } = &self.held
        else {
            return;
        };
        renewer.abort();
        lake.forget_lease(table);
        let lease = lease.clone();
        // Released before the process can exit when the runtime allows blocking here; else
        // in the background (and at worst it expires after LEASE_TTL).
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
                tokio::task::block_in_place(|| handle.block_on(lease.release()));
            } else {
                handle.spawn(async move { lease.release().await });
            }
        }
    }
}

impl Lake {
    /// Take the lock of the tables whose commits are recorded under
    /// `_manifest/<manifest_table>/` (see the module's documentation): one ingest or
    /// compaction at a time per table, while the CloudTrail and the Lambda tables may be
    /// written at once. A lock another writer holds is an [`Error::Locked`] naming it.
    pub async fn lock(&self, manifest_table: &str) -> Result<TableLock> {
        match &self.location {
            LakeLocation::Local(p) => {
                let dir = p.join("_manifest");
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::io("creating directory", &dir, e))?;
                let path = dir.join(format!("{manifest_table}.lock"));
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|e| Error::io("opening lock", &path, e))?;
                match file.try_lock() {
                    Ok(()) => Ok(TableLock {
                        held: Held::Local(file),
                    }),
                    Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
                        lake: self.uri(),
                        detail: format!("{} is held", path.display()),
                    }),
                    Err(std::fs::TryLockError::Error(e)) => Err(Error::io("locking", &path, e)),
                }
            }
            LakeLocation::S3 { .. } => {
                let rel = format!("_manifest/{manifest_table}.lock");
                let (client, bucket, key) = self.s3_key(&rel)?;
                let lease = Arc::new(acquire(client, &bucket, &key, &self.uri()).await?);
                self.remember_lease(manifest_table, lease.clone());
                let renewing = lease.clone();
                let renewer = tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(RENEW_EVERY).await;
                        if let Err(e) = renewing.renew().await {
                            tracing::warn!(error = %e, "renewing the table lease");
                            return;
                        }
                    }
                });
                Ok(TableLock {
                    held: Held::S3 {
                        lake: self.clone(),
                        table: manifest_table.to_string(),
                        lease,
                        renewer,
                    },
                })
            }
        }
    }

    /// Write a manifest: the commit of a writer holding its table's lock. On S3 the lease is
    /// renewed first (a writer whose lease was taken over stops here) and the manifest is
    /// created only if absent.
    pub async fn put_manifest(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        if !matches!(self.location, LakeLocation::S3 { .. }) {
            return self.put_bytes(rel, bytes).await;
        }
        let table = rel
            .strip_prefix("_manifest/")
            .and_then(|r| r.split_once('/'))
            .map(|(t, _)| t)
            .unwrap_or_default();
        let Some(lease) = self.lease(table) else {
            return Err(Error::Locked {
                lake: self.uri(),
                detail: format!("committing {rel} without holding its table's lease"),
            });
        };
        lease.renew().await?;
        let (client, bucket, key) = self.s3_key(rel)?;
        match s3::put_bytes_if(client, &bucket, &key, bytes, Condition::Absent).await? {
            Some(_) => Ok(()),
            None => Err(Error::Manifest {
                path: format!("s3://{bucket}/{key}"),
                message: "another writer committed a manifest of this name".into(),
            }),
        }
    }
}

/// Create the lease at `key`, or take over an expired one.
async fn acquire(client: &s3::Client, bucket: &str, key: &str, lake: &str) -> Result<Lease> {
    let body = LeaseBody {
        id: uuid::Uuid::now_v7().to_string(),
        host: host(),
        pid: std::process::id(),
        tool: format!("trailhound {}", env!("CARGO_PKG_VERSION")),
        acquired_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        expires_at: expiry(),
    };
    let bytes = serde_json::to_vec_pretty(&body).unwrap_or_default();
    let lease = |etag: String| Lease {
        client: client.clone(),
        bucket: bucket.to_string(),
        key: key.to_string(),
        lake: lake.to_string(),
        held: tokio::sync::Mutex::new((body.clone(), Some(etag))),
    };
    if let Some(etag) =
        s3::put_bytes_if(client, bucket, key, bytes.clone(), Condition::Absent).await?
    {
        return Ok(lease(etag));
    }
    let uri = format!("s3://{bucket}/{key}");
    let held = |detail: String| Error::Locked {
        lake: lake.to_string(),
        detail,
    };
    let Some((current, etag)) = s3::get_with_etag(client, bucket, key).await? else {
        // Released between the two requests: one more try.
        return match s3::put_bytes_if(client, bucket, key, bytes, Condition::Absent).await? {
            Some(etag) => Ok(lease(etag)),
            None => Err(held(format!("{uri} is held by another writer"))),
        };
    };
    let holder: Option<LeaseBody> = serde_json::from_slice(&current).ok();
    if let Some(h) = holder.filter(|h| {
        chrono::DateTime::parse_from_rfc3339(&h.expires_at).is_ok_and(|at| at >= chrono::Utc::now())
    }) {
        return Err(held(format!(
            "{uri} is held by {} (pid {} on {}) since {}, renewed until {}",
            h.tool, h.pid, h.host, h.acquired_at, h.expires_at
        )));
    }
    // The holder stopped renewing (it died): take the lease over, unless another writer
    // does so first.
    match s3::put_bytes_if(client, bucket, key, bytes, Condition::Unchanged(&etag)).await? {
        Some(etag) => {
            tracing::warn!(lease = %uri, "took over an expired lease (a writer stopped without releasing it)");
            Ok(lease(etag))
        }
        None => Err(held(format!("{uri} was just taken by another writer"))),
    }
}
