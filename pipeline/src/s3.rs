//! S3, the one place the pipeline calls it: `s3://bucket/key` addresses, listing a prefix
//! (every page), getting an object (into memory, or streamed to a temporary file), putting
//! and deleting one. Sources ([`crate::source`]) and S3 lakes ([`crate::lake`]) both go
//! through here; the client itself is built by [`crate::aws::s3_client`].

use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;

pub use aws_sdk_s3::Client;

use crate::{Error, Result};

/// Split `s3://bucket/prefix` into bucket and prefix (without a leading slash).
pub fn parse_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return None;
    }
    Some((bucket.to_string(), prefix.to_string()))
}

/// The client for `bucket`: `client` itself, or when S3 says the bucket is in another region
/// than the client's, a client for that region (S3 refuses requests signed for another
/// region with a redirect).
pub async fn for_bucket(client: &Client, bucket: &str) -> Client {
    regional(client, bucket)
        .await
        .map_or_else(|| client.clone(), |(_, c)| c)
}

/// The region to reach `bucket` in: its own when S3 says so, else the client's.
pub async fn region_of(client: &Client, bucket: &str) -> Option<String> {
    match regional(client, bucket).await {
        Some((region, _)) => Some(region),
        None => client.config().region().map(|r| r.to_string()),
    }
}

/// The bucket's region and a client for it, when that is not the client's region; asked of S3
/// once per bucket and process.
async fn regional(client: &Client, bucket: &str) -> Option<(String, Client)> {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    type Known = HashMap<(String, String), Option<(String, Client)>>;
    static KNOWN: LazyLock<Mutex<Known>> = LazyLock::new(Default::default);
    let config = client.config();
    let base_region = config.region().map(|r| r.to_string()).unwrap_or_default();
    // One process reaches one S3 (one endpoint): the client's region and the bucket say it.
    let id = (base_region.clone(), bucket.to_string());
    if let Some(known) = KNOWN.lock().ok().and_then(|k| k.get(&id).cloned()) {
        return known;
    }
    let regional = match bucket_region(client, bucket).await {
        Some(region) if region != base_region => {
            tracing::debug!(bucket, region, "bucket in another region");
            let client = Client::from_conf(
                config
                    .to_builder()
                    .region(aws_sdk_s3::config::Region::new(region.clone()))
                    .build(),
            );
            Some((region, client))
        }
        _ => None,
    };
    if let Ok(mut known) = KNOWN.lock() {
        known.insert(id, regional.clone());
    }
    regional
}

/// The region `bucket` is in, as S3 says (HeadBucket answers with it from any region, also
/// when it refuses the request with a redirect); `None` when it does not say (no such bucket,
/// no access, a store that does not report regions).
async fn bucket_region(client: &Client, bucket: &str) -> Option<String> {
    match client.head_bucket().bucket(bucket).send().await {
        Ok(out) => out.bucket_region().map(str::to_string),
        Err(e) => e
            .raw_response()
            .and_then(|r| r.headers().get("x-amz-bucket-region"))
            .map(str::to_string),
    }
    .filter(|r| !r.is_empty())
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    /// The ETag, without its quotes.
    pub etag: String,
}

/// Every object whose key starts with `prefix`, in S3's (key) order, all pages.
pub async fn list(client: &Client, bucket: &str, prefix: &str) -> Result<Vec<Listed>> {
    let client = &for_bucket(client, bucket).await;
    let mut out = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| Error::s3("ListObjectsV2", bucket, prefix, e))?;
        for obj in page.contents() {
            let Some(key) = obj.key() else { continue };
            out.push(Listed {
                key: key.to_string(),
                size: obj.size().unwrap_or(0).max(0) as u64,
                etag: unquoted(obj.e_tag()),
            });
        }
    }
    Ok(out)
}

async fn get(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput> {
    let client = &for_bucket(client, bucket).await;
    client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| Error::s3("GetObject", bucket, key, e))
}

/// An object's bytes, in memory: one contiguous buffer (a copy only when the body came in
/// several chunks).
pub async fn get_bytes(client: &Client, bucket: &str, key: &str) -> Result<bytes::Bytes> {
    let out = get(client, bucket, key).await?;
    let data = out
        .body
        .collect()
        .await
        .map_err(|e| Error::s3("GetObject", bucket, key, e))?;
    Ok(data.into_bytes())
}

/// An object streamed to a temporary file (deleted when the returned handle drops), so that
/// memory stays bounded whatever its size.
pub async fn get_to_temp_file(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Result<tempfile::NamedTempFile> {
    let out = get(client, bucket, key).await?;
    let tmp = tempfile::NamedTempFile::new()
        .map_err(|e| Error::io("creating a temporary file in", std::env::temp_dir(), e))?;
    let file = tmp
        .reopen()
        .map_err(|e| Error::io("opening", tmp.path(), e))?;
    let mut file = tokio::fs::File::from_std(file);
    let mut reader = out.body.into_async_read();
    tokio::io::copy(&mut reader, &mut file)
        .await
        .map_err(|e| Error::s3("GetObject", bucket, key, e))?;
    Ok(tmp)
}

/// Put a local file as an object (streamed from disk).
pub async fn put_file(client: &Client, bucket: &str, key: &str, path: &Path) -> Result<()> {
    let body = ByteStream::from_path(path)
        .await
        .map_err(|e| Error::s3("PutObject", bucket, key, e))?;
    put(client, bucket, key, body).await
}

/// Put bytes as an object.
pub async fn put_bytes(client: &Client, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<()> {
    put(client, bucket, key, ByteStream::from(bytes)).await
}

async fn put(client: &Client, bucket: &str, key: &str, body: ByteStream) -> Result<()> {
    put_if(client, bucket, key, body, None).await.map(|_| ())
}

/// What a conditional write asked of S3.
#[derive(Debug, Clone, Copy)]
pub enum Condition<'a> {
    /// Only if no object has the key (`If-None-Match: *`).
    Absent,
    /// Only if the object's ETag is still this one (`If-Match`).
    Unchanged(&'a str),
}

/// Put bytes as an object under a condition: the new object's ETag, or `None` when S3
/// refused because the condition did not hold (412, or 409 for a concurrent conditional write).
pub async fn put_bytes_if(
    client: &Client,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    condition: Condition<'_>,
) -> Result<Option<String>> {
    put_if(
        client,
        bucket,
        key,
        ByteStream::from(bytes),
        Some(condition),
    )
    .await
}

/// Put an object, under a condition when one is given: its ETag, or `None` when S3 refused
/// the condition.
async fn put_if(
    client: &Client,
    bucket: &str,
    key: &str,
    body: ByteStream,
    condition: Option<Condition<'_>>,
) -> Result<Option<String>> {
    let client = &for_bucket(client, bucket).await;
    let req = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .set_content_type(content_type(key).map(str::to_string))
        .body(body);
    let req = match condition {
        None => req,
        Some(Condition::Absent) => req.if_none_match("*"),
        Some(Condition::Unchanged(etag)) => req.if_match(quoted(etag)),
    };
    match req.send().await {
        Ok(out) => Ok(Some(unquoted(out.e_tag()))),
        Err(e) if condition.is_some() && refused(&e) => Ok(None),
        Err(e) => Err(Error::s3("PutObject", bucket, key, e)),
    }
}

/// An object's bytes and ETag; `None` when there is no such object.
pub async fn get_with_etag(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Result<Option<(bytes::Bytes, String)>> {
    let client = &for_bucket(client, bucket).await;
    let out = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(Error::s3("GetObject", bucket, key, e)),
    };
    let etag = unquoted(out.e_tag());
    let data = out
        .body
        .collect()
        .await
        .map_err(|e| Error::s3("GetObject", bucket, key, e))?;
    Ok(Some((data.into_bytes(), etag)))
}

/// Delete an object only if its ETag is still `etag`; whether it was deleted.
pub async fn delete_if_unchanged(
    client: &Client,
    bucket: &str,
    key: &str,
    etag: &str,
) -> Result<bool> {
    let client = &for_bucket(client, bucket).await;
    match client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .if_match(quoted(etag))
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if refused(&e) => Ok(false),
        Err(e) => Err(Error::s3("DeleteObject", bucket, key, e)),
    }
}

fn quoted(etag: &str) -> String {
    format!("\"{}\"", etag.trim_matches('"'))
}

/// An ETag as S3 gives it, without its quotes (empty when there is none).
fn unquoted(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_string()
}

/// Whether S3 refused a conditional request because its condition did not hold: 412
/// (Precondition Failed), 409 (a conditional write racing another) or 404 (If-Match on a key
/// that is gone).
fn refused<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool {
    matches!(
        e.raw_response().map(|r| r.status().as_u16()),
        Some(412 | 409 | 404)
    )
}

/// The content type an object is stored with, from its key's extension (so that a report
/// opens in a browser from the console); `None` leaves S3's default.
pub fn content_type(key: &str) -> Option<&'static str> {
    let ext = key.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "parquet" => "application/vnd.apache.parquet",
        _ => return None,
    })
}

/// Delete an object (a missing one is not an error: S3 says so itself).
pub async fn delete(client: &Client, bucket: &str, key: &str) -> Result<()> {
    let client = &for_bucket(client, bucket).await;
    client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| Error::s3("DeleteObject", bucket, key, e))?;
    Ok(())
}

/// Create `bucket` unless it exists (HeadBucket, then CreateBucket).
pub async fn ensure_bucket(client: &Client, bucket: &str) -> Result<()> {
    if client.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| Error::s3("CreateBucket", bucket, "", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris() {
        assert_eq!(parse_uri("s3://b/p/q"), Some(("b".into(), "p/q".into())));
        assert_eq!(parse_uri("s3://b"), Some(("b".into(), "".into())));
        assert_eq!(parse_uri("s3:///x"), None);
        assert_eq!(parse_uri("/tmp/x"), None);
    }

    #[test]
    fn content_types_from_the_extension() {
        assert_eq!(
            content_type("r/2026-11-03/report.html"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(
            content_type("r/policies/a.b.json"),
            Some("application/json")
        );
        assert_eq!(content_type("cloudtrail/dt=x/part-0"), None);
        assert_eq!(content_type("x.gz"), None);
    }
}
