//! An hour's records written as AWS delivers them: CloudTrail files per five minutes with an
//! hourly digest, and the Lambda logs as one Firehose object of subscription payloads.

use std::collections::BTreeMap;
use std::io::Write;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::events::iso_seconds;
use crate::{HOUR_MS, Hour, Result, Sim, ids, write_file};

impl Sim<'_> {
    pub(crate) fn write_hour(
        &mut self,
        hour_start: i64,
        rng: &mut ChaCha8Rng,
        hour: Hour,
    ) -> Result<()> {
        let acct = &self.opts.account;
        let region = &self.opts.region;
        let day = &iso_seconds(hour_start)[..10];
        let (y, m, d) = (&day[..4], &day[5..7], &day[8..10]);
        // CloudTrail: one delivery file per five minutes that had events.
        let mut windows: BTreeMap<i64, Vec<(i64, String)>> = BTreeMap::new();
        for (t, rec) in hour.cloudtrail {
            windows
                .entry(t - t.rem_euclid(300_000))
                .or_default()
                .push((t, rec));
        }
        let dir = self
            .opts
            .out
            .join(format!("AWSLogs/{acct}/CloudTrail/{region}/{y}/{m}/{d}"));
        let mut delivered = Vec::new();
        for (w, mut recs) in windows {
            recs.sort_by_key(|(t, _)| *t);
            let mut body =
                String::with_capacity(recs.iter().map(|(_, r)| r.len() + 1).sum::<usize>() + 16);
            body.push_str("{\"Records\":[");
            for (i, (_, r)) in recs.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(r);
            }
            body.push_str("]}");
            let stamp = chrono::DateTime::from_timestamp_millis(w + 300_000)
                .map(|t| t.format("%Y%m%dT%H%MZ").to_string())
                .unwrap_or_default();
            let name = format!(
                "{acct}_CloudTrail_{region}_{stamp}_{}.json.gz",
                ids::alnum(rng, 16)
            );
            write_file(&dir.join(&name), &gzip(body.as_bytes()))?;
            delivered.push(format!(
                "AWSLogs/{acct}/CloudTrail/{region}/{y}/{m}/{d}/{name}"
            ));
            self.summary.cloudtrail_files += 1;
        }
        // An hourly digest naming the files (skipped by the ingest, as real ones are).
        let digest = json!({
            "awsAccountId": acct,
            "digestStartTime": iso_seconds(hour_start),
            "digestEndTime": iso_seconds(hour_start + HOUR_MS),
            "digestS3Bucket": format!("acme-cloudtrail-{acct}"),
            "digestS3Object": format!("AWSLogs/{acct}/CloudTrail-Digest/{region}/{y}/{m}/{d}/digest.json.gz"),
            "digestPublicKeyFingerprint": ids::hex(rng, 32),
            "digestSignatureAlgorithm": "SHA256withRSA",
            "logFiles": delivered.iter().map(|o| json!({"s3Bucket": format!("acme-cloudtrail-{acct}"), "s3Object": o})).collect::<Vec<_>>(),
        });
        let stamp = chrono::DateTime::from_timestamp_millis(hour_start + HOUR_MS)
            .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
            .unwrap_or_default();
        write_file(
            &self.opts.out.join(format!(
                "AWSLogs/{acct}/CloudTrail-Digest/{region}/{y}/{m}/{d}/{acct}_CloudTrail-Digest_{region}_{}_{region}_{stamp}.json.gz",
                self.account.trail_name
            )),
            &gzip(digest.to_string().as_bytes()),
        )?;

        // Lambda logs: the hour's subscription payloads in one Firehose object.
        if !hour.logs.is_empty() {
            let mut body = String::new();
            if !self.delivered_control_message {
                body.push_str(&json!({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs",
                    "logGroup": "", "logStream": "", "subscriptionFilters": [],
                    "logEvents": [{"id": "", "timestamp": hour_start, "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}).to_string());
                self.delivered_control_message = true;
            }
            for ((fi, stream), mut lines) in hour.logs {
                lines.sort_by_key(|(t, _)| *t);
                let f = &self.account.functions[fi];
                let events: Vec<Value> = lines
                    .iter()
                    .map(|(t, msg)| {
                        // CloudWatch Logs event ids: 56 digits.
                        let id: String = (0..56)
                            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                            .collect();
                        json!({"id": id, "timestamp": t, "message": msg})
                    })
                    .collect();
                self.summary.log_lines += events.len() as u64;
                body.push_str(
                    &json!({"messageType": "DATA_MESSAGE", "owner": acct,
                    "logGroup": format!("/aws/lambda/{}", f.name), "logStream": stream,
                    "subscriptionFilters": ["lambda-logs-to-firehose"], "logEvents": events})
                    .to_string(),
                );
            }
            let hh = &iso_seconds(hour_start)[11..13];
            let stamp = chrono::DateTime::from_timestamp_millis(hour_start + HOUR_MS - 1000)
                .map(|t| t.format("%Y-%m-%d-%H-%M-%S").to_string())
                .unwrap_or_default();
            let name = format!(
                "lambda-logs/{y}/{m}/{d}/{hh}/lambda-logs-delivery-1-{stamp}-{}.gz",
                ids::uuid(rng)
            );
            write_file(&self.opts.out.join(name), &gzip(body.as_bytes()))?;
            self.summary.log_files += 1;
        }
        Ok(())
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    // No name and no modification time in the header: the same input gives the same bytes.
    let mut e = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}
