//! Putting a simulation where AWS would hold it: the files into an S3 bucket, the Lambda logs
//! into CloudWatch Logs groups (`/aws/lambda/<function>`), for tests against the emulator.

use std::path::{Path, PathBuf};

use anyhow::Context;
use futures::StreamExt;
use pipeline::lambda::file::read_log_file;

/// Every file under `dir`, in name order.
fn files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    pipeline::lake::walk(dir, &mut |p| out.push(p.to_path_buf()))
        .with_context(|| format!("reading {}", dir.display()))?;
    Ok(out)
}

/// Upload every file of `out` to `s3://bucket/prefix`, creating the bucket if needed.
/// Returns the objects written.
pub async fn to_s3(out: &Path, uri: &str) -> anyhow::Result<u64> {
    let (bucket, prefix) = pipeline::aws::parse_s3_uri(uri)
        .with_context(|| format!("{uri} is not an s3://bucket/prefix address"))?;
    let s3 = pipeline::aws::s3_client(&pipeline::aws::sdk_config().await);
    if s3.head_bucket().bucket(&bucket).send().await.is_err() {
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .with_context(|| format!("creating bucket {bucket}"))?;
    }
    let prefix = prefix.trim_end_matches('/').to_string();
    let paths = files(out)?;
    let puts = futures::stream::iter(paths.into_iter().map(|p| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        let rel = p
            .strip_prefix(out)
            .unwrap_or(&p)
            .to_string_lossy()
            .replace('\\', "/");
        let key = if prefix.is_empty() {
            rel
        } else {
            format!("{prefix}/{rel}")
        };
        async move {
            let body = tokio::fs::read(&p)
                .await
                .with_context(|| format!("reading {}", p.display()))?;
            s3.put_object()
                .bucket(&bucket)
                .key(&key)
                .body(body.into())
                .send()
                .await
                .with_context(|| format!("uploading s3://{bucket}/{key}"))?;
            anyhow::Ok(())
        }
    }))
    .buffer_unordered(16)
    .collect::<Vec<_>>()
    .await;
    let mut n = 0;
    for r in puts {
        r?;
        n += 1;
    }
    Ok(n)
}

/// Put the simulated Lambda logs into CloudWatch Logs: one group per function, the streams of
/// its execution environments, events in time order. Returns the events written.
pub async fn to_cwl(out: &Path) -> anyhow::Result<u64> {
    let logs = pipeline::lambda::cwl::logs_client(&pipeline::aws::sdk_config().await);
    let dir = out.join("lambda-logs");
    let mut groups = std::collections::BTreeSet::new();
    let mut streams = std::collections::BTreeSet::new();
    let mut written = 0u64;
    for path in files(&dir)? {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let file = read_log_file(&bytes);
        for batch in file.batches {
            let (Some(group), Some(stream)) = (batch.log_group, batch.log_stream) else {
                continue;
            };
            if groups.insert(group.clone()) {
                match logs.create_log_group().log_group_name(&group).send().await {
                    Ok(_) => {}
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_resource_already_exists_exception()) => {}
                    Err(e) => {
                        return Err(
                            anyhow::Error::new(e).context(format!("creating log group {group}"))
                        );
                    }
                }
            }
            if streams.insert((group.clone(), stream.clone())) {
                match logs
                    .create_log_stream()
                    .log_group_name(&group)
                    .log_stream_name(&stream)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_resource_already_exists_exception()) => {}
                    Err(e) => {
                        return Err(anyhow::Error::new(e)
                            .context(format!("creating log stream {group} {stream}")));
                    }
                }
            }
            let mut events: Vec<_> = batch
                .events
                .into_iter()
                .filter_map(|e| {
                    aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                        .timestamp(e.timestamp_ms?)
                        .message(e.message)
                        .build()
                        .ok()
                })
                .collect();
            events.sort_by_key(|e| e.timestamp());
            // PutLogEvents takes at most 10,000 events and 1 MiB a call.
            let mut chunk = Vec::new();
            let mut bytes = 0usize;
            for e in events {
                let size = e.message().len() + 26;
                if chunk.len() == 10_000 || bytes + size > 1_000_000 {
                    written += put(&logs, &group, &stream, std::mem::take(&mut chunk)).await?;
                    bytes = 0;
                }
                bytes += size;
                chunk.push(e);
            }
            if !chunk.is_empty() {
                written += put(&logs, &group, &stream, chunk).await?;
            }
        }
    }
    Ok(written)
}

async fn put(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    stream: &str,
    events: Vec<aws_sdk_cloudwatchlogs::types::InputLogEvent>,
) -> anyhow::Result<u64> {
    let n = events.len() as u64;
    let resp = logs
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
        .with_context(|| format!("putting log events into {group} {stream}"))?;
    if let Some(r) = resp.rejected_log_events_info() {
        anyhow::bail!(
            "CloudWatch Logs rejected events of {group} {stream} ({r:?}): it accepts events of the last 14 days only; simulate with --start within that"
        );
    }
    Ok(n)
}
