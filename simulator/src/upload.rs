//! Putting a simulation where AWS would hold it: the files into an S3 bucket, the Lambda logs
//! into CloudWatch Logs groups (`/aws/lambda/<function>`), for tests against the emulator.

use std::path::{Path, PathBuf};

use aws_sdk_cloudwatchlogs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use futures::StreamExt;
use pipeline::lake::Lake;
use pipeline::lambda::file::read_log_file;

use crate::{Error, Result};

/// Every file under `dir`, in name order.
fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    pipeline::files::walk(dir, &mut |p| out.push(p.to_path_buf()))
        .map_err(|e| Error::io("reading", dir, e))?;
    Ok(out)
}

/// Upload every file of `out` to `s3://bucket/prefix`, creating the bucket if needed.
/// Returns the objects written.
pub async fn to_s3(out: &Path, uri: &str) -> Result<u64> {
    let (bucket, _) =
        pipeline::s3::parse_uri(uri).ok_or_else(|| Error::NotS3 { uri: uri.into() })?;
    let upload = |path: &Path, source: pipeline::Error| Error::Upload {
        uri: uri.to_string(),
        path: path.to_path_buf(),
        source: Box::new(source),
    };
    let s3 = pipeline::aws::s3_client(&pipeline::aws::sdk_config().await);
    pipeline::s3::ensure_bucket(&s3, &bucket)
        .await
        .map_err(|e| upload(out, e))?;
    // The prefix as a lake: its objects are put whole, under the prefix.
    let dest = Lake::open(uri, Some(s3)).map_err(|e| upload(out, e))?;
    let paths = files(out)?;
    let puts = futures::stream::iter(paths.into_iter().map(|p| {
        let dest = &dest;
        let rel = p
            .strip_prefix(out)
            .unwrap_or(&p)
            .to_string_lossy()
            .replace('\\', "/");
        async move {
            let body = tokio::fs::read(&p)
                .await
                .map_err(|e| Error::io("reading", &p, e))?;
            dest.put_bytes(&rel, body).await.map_err(|e| upload(&p, e))
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
pub async fn to_cwl(out: &Path) -> Result<u64> {
    let logs = pipeline::lambda::cwl::logs_client(&pipeline::aws::sdk_config().await);
    let dir = out.join("lambda-logs");
    let mut groups = std::collections::BTreeSet::new();
    let mut streams = std::collections::BTreeSet::new();
    let mut written = 0u64;
    for path in files(&dir)? {
        let bytes = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
        let file = read_log_file(&bytes);
        for batch in file.batches {
            let (Some(group), Some(stream)) = (batch.log_group, batch.log_stream) else {
                continue;
            };
            if groups.insert(group.clone()) {
                let r = logs.create_log_group().log_group_name(&group).send().await;
                created("CreateLogGroup", &group, "", r)?;
            }
            if streams.insert((group.clone(), stream.clone())) {
                let r = logs
                    .create_log_stream()
                    .log_group_name(&group)
                    .log_stream_name(&stream)
                    .send()
                    .await;
                created("CreateLogStream", &group, &stream, r)?;
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

/// The result of a create call: done, or there already (a simulation put into the same
/// emulator again), or the error, naming the group and stream.
fn created<T, E>(
    op: &'static str,
    group: &str,
    stream: &str,
    r: std::result::Result<T, SdkError<E>>,
) -> Result<()>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("ResourceAlreadyExistsException") => Ok(()),
        Err(e) => Err(Error::Logs {
            op,
            group: group.to_string(),
            stream: stream.to_string(),
            message: DisplayErrorContext(e).to_string(),
        }),
    }
}

async fn put(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    stream: &str,
    events: Vec<aws_sdk_cloudwatchlogs::types::InputLogEvent>,
) -> Result<u64> {
    let n = events.len() as u64;
    let resp = logs
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
        .map_err(|e| Error::Logs {
            op: "PutLogEvents",
            group: group.to_string(),
            stream: stream.to_string(),
            message: DisplayErrorContext(e).to_string(),
        })?;
    if let Some(r) = resp.rejected_log_events_info() {
        return Err(Error::Rejected {
            group: group.to_string(),
            stream: stream.to_string(),
            detail: format!("{r:?}"),
        });
    }
    Ok(n)
}
