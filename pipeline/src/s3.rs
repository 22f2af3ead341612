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
                etag: obj
                    .e_tag()
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_string(),
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
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .set_content_type(content_type(key).map(str::to_string))
        .body(body)
        .send()
        .await
        .map_err(|e| Error::s3("PutObject", bucket, key, e))?;
    Ok(())
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
