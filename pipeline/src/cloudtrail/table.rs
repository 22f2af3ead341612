//! The `cloudtrail` table: its Arrow schema and the column builders that turn parsed records
//! into record batches.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::record::{RawEvent, SCALAR_KEYS, Scalar, UserIdentity, actor_and_session};
use crate::lake::writer::BatchBuilder;
use crate::time::parse_timestamp_micros;

/// The Hive partition columns of every lake table, outermost first.
pub const PARTITION_COLUMNS: [&str; 3] = ["account_id", "region", "dt"];

/// Columns that hold JSON text (kept whole, queried with JSON functions).
pub const JSON_COLUMNS: &[&str] = &[
    "request_parameters",
    "response_elements",
    "additional_event_data",
    "resources",
    "tls_details",
    "service_event_details",
    "insight_details",
    "user_identity",
    "extra",
];

/// Columns whose values are (nearly) unique per row, where a dictionary only costs time.
pub const UNIQUE_COLUMNS: &[&str] = &[
    "event_time",
    "event_id",
    "request_id",
    "shared_event_id",
    "error_message",
    "source_record_index",
    "session_creation_date",
];

/// Columns with min/max statistics in each row group: those a query narrows by value, where
/// the statistics let it skip row groups (time, API, error, account). The others get none:
/// computing them costs a comparison per value for no pruning on unsorted text.
pub const STATISTICS_COLUMNS: &[&str] = &[
    "event_time",
    "event_source",
    "event_name",
    "event_type",
    "event_category",
    "error_code",
    "aws_region",
    "recipient_account_id",
    "read_only",
    "management_event",
    "session_creation_date",
    "source_record_index",
];

/// The order of the rows within each batch written: by API, then time. Most detectors ask
/// for a few APIs out of hundreds; rows of one API together let the reader skip the pages of
/// the others (row-group statistics and a run of equal values), where rows in arrival order
/// put a match in nearly every page of a wide column such as `request_parameters`.
pub const SORT_COLUMNS: &[&str] = &["event_source", "event_name", "event_time"];

/// Columns with a bloom filter in each row group: the identifiers an investigation or an
/// evidence join looks up a few of at a time (an access key, an event, a request).
pub const BLOOM_FILTER_COLUMNS: &[&str] =
    &["user_identity_access_key_id", "event_id", "request_id"];

fn utc() -> Arc<str> {
    Arc::from("UTC")
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some(utc()));
    let s = |name: &str| Field::new(name, DataType::Utf8, true);
    let b = |name: &str| Field::new(name, DataType::Boolean, true);
    Arc::new(Schema::new(vec![
        Field::new("event_time", ts(), false),
        s("event_version"),
        s("event_id"),
        s("event_type"),
        s("event_category"),
        s("event_source"),
        Field::new("event_name", DataType::Utf8, false),
        s("aws_region"),
        s("source_ip_address"),
        s("user_agent"),
        s("error_code"),
        s("error_message"),
        s("request_id"),
        b("read_only"),
        b("management_event"),
        s("recipient_account_id"),
        s("shared_event_id"),
        s("vpc_endpoint_id"),
        s("vpc_endpoint_account_id"),
        s("user_identity_type"),
        s("user_identity_principal_id"),
        s("user_identity_arn"),
        s("user_identity_account_id"),
        s("user_identity_access_key_id"),
        s("user_identity_user_name"),
        s("user_identity_invoked_by"),
        s("session_issuer_type"),
        s("session_issuer_principal_id"),
        s("session_issuer_arn"),
        s("session_issuer_account_id"),
        s("session_issuer_user_name"),
        b("session_mfa_authenticated"),
        Field::new("session_creation_date", ts(), true),
        s("source_identity"),
        b("session_credential_from_console"),
        s("actor_arn"),
        s("session_name"),
        s("request_parameters"),
        s("response_elements"),
        s("additional_event_data"),
        s("resources"),
        s("tls_details"),
        s("service_event_details"),
        s("insight_details"),
        s("user_identity"),
        s("extra"),
        Field::new("source_uri", DataType::Utf8, false),
        Field::new("source_record_index", DataType::Int64, false),
        Field::new("ingest_run", DataType::Utf8, false),
    ]))
});

/// The schema of the `cloudtrail` Parquet files (partition columns live in the paths).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Why a record is not a usable CloudTrail event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject(pub String);

/// A record checked and ready to append: the fields every row must have, its partition and
/// the parsed identity.
pub struct Checked<'e, 'a> {
    pub ev: &'e RawEvent<'a>,
    pub time_micros: i64,
    pub event_name: Cow<'e, str>,
    pub event_source: Option<Cow<'e, str>>,
    pub identity: Option<&'e UserIdentity<'a>>,
    /// Day number since 1970-01-01 of `event_time`, for the `dt` partition.
    pub day: i64,
}

#[derive(Deserialize)]
struct InsightNames<'a> {
    #[serde(rename = "eventName", borrow, default)]
    event_name: Scalar<'a>,
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Scalar<'a>,
}

/// Check that a record is an event this table can hold.
pub fn check<'e, 'a>(ev: &'e RawEvent<'a>) -> Result<Checked<'e, 'a>, Reject> {
    let time_text = match &ev.event_time {
        Scalar::Str(s) => s.as_ref(),
        Scalar::Missing | Scalar::Null => return Err(Reject("no eventTime".into())),
        other => {
            return Err(Reject(format!(
                "eventTime is {}, expected an RFC 3339 string",
                other.type_name()
            )));
        }
    };
    let time_micros = parse_timestamp_micros(time_text).ok_or_else(|| {
        Reject(format!(
            "eventTime {time_text:?} is not an RFC 3339 timestamp"
        ))
    })?;
    let mut event_name = ev.event_name.str().map(Cow::Borrowed);
    let mut event_source = ev.event_source.text();
    // CloudTrail Insights events name the API inside insightDetails.
    if event_name.is_none()
        && !ev.event_name.is_present()
        && let Some(names) = ev
            .insight_details
            .and_then(|raw| serde_json::from_str::<InsightNames>(raw).ok())
    {
        event_name = names.event_name.text().map(|s| Cow::Owned(s.into_owned()));
        if event_source.is_none() {
            event_source = names
                .event_source
                .text()
                .map(|s| Cow::Owned(s.into_owned()));
        }
    }
    let event_name = match event_name {
        Some(n) if !n.is_empty() => n,
        Some(_) => return Err(Reject("eventName is empty".into())),
        None if ev.event_name.is_present() => {
            return Err(Reject(format!(
                "eventName is {}, expected a string",
                ev.event_name.type_name()
            )));
        }
        None => return Err(Reject("no eventName".into())),
    };
    Ok(Checked {
        ev,
        time_micros,
        event_name,
        event_source,
        identity: ev.user_identity.as_ref(),
        day: time_micros.div_euclid(86_400_000_000),
    })
}

impl Checked<'_, '_> {
    /// The account partition: the recipient account, else the identity's account.
    pub fn account(&self) -> Option<&str> {
        nonempty(self.ev.recipient_account_id.str()).or_else(|| {
            self.identity
                .as_ref()
                .and_then(|u| nonempty(u.account_id.str()))
        })
    }

    pub fn region(&self) -> Option<&str> {
        nonempty(self.ev.aws_region.str())
    }
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// Column builders for one batch of `cloudtrail` rows.
pub struct CloudTrailBuilder {
    event_time: TimestampMicrosecondBuilder,
    event_version: StringBuilder,
    event_id: StringBuilder,
    event_type: StringBuilder,
    event_category: StringBuilder,
    event_source: StringBuilder,
    event_name: StringBuilder,
    aws_region: StringBuilder,
    source_ip_address: StringBuilder,
    user_agent: StringBuilder,
    error_code: StringBuilder,
    error_message: StringBuilder,
    request_id: StringBuilder,
    read_only: BooleanBuilder,
    management_event: BooleanBuilder,
    recipient_account_id: StringBuilder,
    shared_event_id: StringBuilder,
    vpc_endpoint_id: StringBuilder,
    vpc_endpoint_account_id: StringBuilder,
    ui_type: StringBuilder,
    ui_principal_id: StringBuilder,
    ui_arn: StringBuilder,
    ui_account_id: StringBuilder,
    ui_access_key_id: StringBuilder,
    ui_user_name: StringBuilder,
    ui_invoked_by: StringBuilder,
    issuer_type: StringBuilder,
    issuer_principal_id: StringBuilder,
    issuer_arn: StringBuilder,
    issuer_account_id: StringBuilder,
    issuer_user_name: StringBuilder,
    mfa_authenticated: BooleanBuilder,
    session_creation_date: TimestampMicrosecondBuilder,
    source_identity: StringBuilder,
    session_credential_from_console: BooleanBuilder,
    actor_arn: StringBuilder,
    session_name: StringBuilder,
    request_parameters: StringBuilder,
    response_elements: StringBuilder,
    additional_event_data: StringBuilder,
    resources: StringBuilder,
    tls_details: StringBuilder,
    service_event_details: StringBuilder,
    insight_details: StringBuilder,
    user_identity: StringBuilder,
    extra: StringBuilder,
    source_uri: StringBuilder,
    source_record_index: Int64Builder,
    ingest_run: StringBuilder,
    rows: usize,
    /// Rows of a full batch.
    capacity: usize,
    /// Bytes of the records appended (their JSON text), an estimate of the batch's memory.
    bytes: usize,
}

fn text<'s>(s: &'s Scalar<'_>) -> Option<Cow<'s, str>> {
    s.text()
}

fn raw(v: Option<&str>) -> Option<&str> {
    v
}

impl CloudTrailBuilder {
    pub fn new(capacity: usize) -> Self {
        let s = || StringBuilder::with_capacity(capacity, capacity * 16);
        let b = || BooleanBuilder::with_capacity(capacity);
        let t = || TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone(utc());
        CloudTrailBuilder {
            event_time: t(),
            event_version: s(),
            event_id: s(),
            event_type: s(),
            event_category: s(),
            event_source: s(),
            event_name: s(),
            aws_region: s(),
            source_ip_address: s(),
            user_agent: s(),
            error_code: s(),
            error_message: s(),
            request_id: s(),
            read_only: b(),
            management_event: b(),
            recipient_account_id: s(),
            shared_event_id: s(),
            vpc_endpoint_id: s(),
            vpc_endpoint_account_id: s(),
            ui_type: s(),
            ui_principal_id: s(),
            ui_arn: s(),
            ui_account_id: s(),
            ui_access_key_id: s(),
            ui_user_name: s(),
            ui_invoked_by: s(),
            issuer_type: s(),
            issuer_principal_id: s(),
            issuer_arn: s(),
            issuer_account_id: s(),
            issuer_user_name: s(),
            mfa_authenticated: b(),
            session_creation_date: t(),
            source_identity: s(),
            session_credential_from_console: b(),
            actor_arn: s(),
            session_name: s(),
            request_parameters: s(),
            response_elements: s(),
            additional_event_data: s(),
            resources: s(),
            tls_details: s(),
            service_event_details: s(),
            insight_details: s(),
            user_identity: s(),
            extra: s(),
            source_uri: s(),
            source_record_index: Int64Builder::with_capacity(capacity),
            ingest_run: s(),
            rows: 0,
            capacity,
            bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Estimated bytes held by the builders: the columns hold about the text of the
    /// records, plus offsets and validity.
    pub fn memory_bytes(&self) -> usize {
        self.bytes + self.rows * 256
    }

    /// Append one checked record. `raw_record` is the record's input text, used only in the
    /// rare case where a field of the wrong type has to be kept in `extra` verbatim.
    pub fn append(
        &mut self,
        c: &Checked<'_, '_>,
        raw_record: &[u8],
        source_uri: &str,
        index: u64,
        run: &str,
    ) {
        let ev = c.ev;
        self.event_time.append_value(c.time_micros);
        self.event_version.append_option(text(&ev.event_version));
        self.event_id.append_option(text(&ev.event_id));
        self.event_type.append_option(text(&ev.event_type));
        self.event_category.append_option(text(&ev.event_category));
        self.event_source.append_option(c.event_source.as_deref());
        self.event_name.append_value(&c.event_name);
        self.aws_region.append_option(text(&ev.aws_region));
        self.source_ip_address
            .append_option(text(&ev.source_ip_address));
        self.user_agent.append_option(text(&ev.user_agent));
        self.error_code.append_option(text(&ev.error_code));
        self.error_message.append_option(text(&ev.error_message));
        self.request_id.append_option(text(&ev.request_id));
        let mut misfits: Vec<(&str, String)> = Vec::new();
        let mut boolean =
            |b: &mut BooleanBuilder, v: &Scalar<'_>, key: &'static str| match v.boolean() {
                Ok(v) => b.append_option(v),
                Err(_) => {
                    b.append_null();
                    misfits.push((key, v.to_json()));
                }
            };
        boolean(&mut self.read_only, &ev.read_only, "readOnly");
        boolean(
            &mut self.management_event,
            &ev.management_event,
            "managementEvent",
        );
        boolean(
            &mut self.session_credential_from_console,
            &ev.session_credential_from_console,
            "sessionCredentialFromConsole",
        );
        self.recipient_account_id
            .append_option(text(&ev.recipient_account_id));
        self.shared_event_id
            .append_option(text(&ev.shared_event_id));
        self.vpc_endpoint_id
            .append_option(text(&ev.vpc_endpoint_id));
        self.vpc_endpoint_account_id
            .append_option(text(&ev.vpc_endpoint_account_id));

        let ui = c.identity;
        let issuer = ui.and_then(|u| u.issuer());
        let attrs = ui.and_then(|u| u.attributes());
        self.ui_type.append_option(ui.and_then(|u| u.kind.text()));
        self.ui_principal_id
            .append_option(ui.and_then(|u| u.principal_id.text()));
        self.ui_arn.append_option(ui.and_then(|u| u.arn.text()));
        self.ui_account_id
            .append_option(ui.and_then(|u| u.account_id.text()));
        self.ui_access_key_id
            .append_option(ui.and_then(|u| u.access_key_id.text()));
        self.ui_user_name
            .append_option(ui.and_then(|u| u.user_name.text()));
        self.ui_invoked_by
            .append_option(ui.and_then(|u| u.invoked_by.text()));
        self.issuer_type
            .append_option(issuer.and_then(|i| i.kind.text()));
        self.issuer_principal_id
            .append_option(issuer.and_then(|i| i.principal_id.text()));
        self.issuer_arn
            .append_option(issuer.and_then(|i| i.arn.text()));
        self.issuer_account_id
            .append_option(issuer.and_then(|i| i.account_id.text()));
        self.issuer_user_name
            .append_option(issuer.and_then(|i| i.user_name.text()));
        self.mfa_authenticated
            .append_option(attrs.and_then(|a| a.mfa_authenticated.boolean().ok().flatten()));
        self.session_creation_date.append_option(
            attrs
                .and_then(|a| a.creation_date.str())
                .and_then(parse_timestamp_micros),
        );
        self.source_identity.append_option(
            ui.and_then(|u| u.session_context.as_ref())
                .and_then(|s| s.source_identity.text()),
        );
        let (actor, session) = actor_and_session(
            ui.and_then(|u| u.arn.str()),
            issuer.and_then(|i| i.arn.str()),
        );
        self.actor_arn.append_option(actor);
        self.session_name.append_option(session);

        self.request_parameters
            .append_option(raw(ev.request_parameters));
        self.response_elements
            .append_option(raw(ev.response_elements));
        self.additional_event_data
            .append_option(raw(ev.additional_event_data));
        self.resources.append_option(raw(ev.resources));
        self.tls_details.append_option(raw(ev.tls_details));
        self.service_event_details
            .append_option(raw(ev.service_event_details));
        self.insight_details.append_option(raw(ev.insight_details));
        // The whole object only when the flattened columns do not hold all of it.
        let ui_text = ui
            .filter(|u| !u.complete)
            .and_then(|_| field_text(raw_record, "userIdentity"));
        self.user_identity.append_option(ui_text);
        self.extra
            .append_option(extra_json(ev, misfits, raw_record));
        self.source_uri.append_value(source_uri);
        self.source_record_index.append_value(index as i64);
        self.ingest_run.append_value(run);
        self.rows += 1;
        self.bytes += raw_record.len();
    }

    /// Finish the rows appended so far into a batch; the builder is empty afterwards.
    pub fn finish(&mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        // A full batch is followed by another like it: start the next one with room for it,
        // rather than growing every column from nothing again.
        let keep = self.rows >= self.capacity;
        let take = |b: &mut StringBuilder, keep: bool| -> ArrayRef {
            let next = if keep {
                StringBuilder::with_capacity(b.len(), b.values_slice().len())
            } else {
                StringBuilder::new()
            };
            Arc::new(std::mem::replace(b, next).finish())
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.event_time.finish()),
            take(&mut self.event_version, keep),
            take(&mut self.event_id, keep),
            take(&mut self.event_type, keep),
            take(&mut self.event_category, keep),
            take(&mut self.event_source, keep),
            take(&mut self.event_name, keep),
            take(&mut self.aws_region, keep),
            take(&mut self.source_ip_address, keep),
            take(&mut self.user_agent, keep),
            take(&mut self.error_code, keep),
            take(&mut self.error_message, keep),
            take(&mut self.request_id, keep),
            Arc::new(self.read_only.finish()),
            Arc::new(self.management_event.finish()),
            take(&mut self.recipient_account_id, keep),
            take(&mut self.shared_event_id, keep),
            take(&mut self.vpc_endpoint_id, keep),
            take(&mut self.vpc_endpoint_account_id, keep),
            take(&mut self.ui_type, keep),
            take(&mut self.ui_principal_id, keep),
            take(&mut self.ui_arn, keep),
            take(&mut self.ui_account_id, keep),
            take(&mut self.ui_access_key_id, keep),
            take(&mut self.ui_user_name, keep),
            take(&mut self.ui_invoked_by, keep),
            take(&mut self.issuer_type, keep),
            take(&mut self.issuer_principal_id, keep),
            take(&mut self.issuer_arn, keep),
            take(&mut self.issuer_account_id, keep),
            take(&mut self.issuer_user_name, keep),
            Arc::new(self.mfa_authenticated.finish()),
            Arc::new(self.session_creation_date.finish()),
            take(&mut self.source_identity, keep),
            Arc::new(self.session_credential_from_console.finish()),
            take(&mut self.actor_arn, keep),
            take(&mut self.session_name, keep),
            take(&mut self.request_parameters, keep),
            take(&mut self.response_elements, keep),
            take(&mut self.additional_event_data, keep),
            take(&mut self.resources, keep),
            take(&mut self.tls_details, keep),
            take(&mut self.service_event_details, keep),
            take(&mut self.insight_details, keep),
            take(&mut self.user_identity, keep),
            take(&mut self.extra, keep),
            take(&mut self.source_uri, keep),
            Arc::new(self.source_record_index.finish()),
            take(&mut self.ingest_run, keep),
        ];
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(schema(), columns)
    }
}

impl BatchBuilder for CloudTrailBuilder {
    fn new(capacity: usize) -> Self {
        CloudTrailBuilder::new(capacity)
    }
    fn len(&self) -> usize {
        self.len()
    }
    fn memory_bytes(&self) -> usize {
        self.memory_bytes()
    }
    fn finish(&mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        self.finish()
    }
}

/// The raw text of one top-level field of a record (the rare path: a second parse).
fn field_text<'r>(raw_record: &'r [u8], key: &str) -> Option<&'r str> {
    let fields = serde_json::from_slice::<BTreeMap<Cow<'_, str>, &RawValue>>(raw_record).ok()?;
    fields.get(key).map(|v| (*v).get())
}

/// The `extra` column: keys without a column, and values of the wrong type for their column,
/// as one JSON object; `None` when there are none (the usual case).
fn extra_json(
    ev: &RawEvent<'_>,
    mut misfits: Vec<(&str, String)>,
    raw_record: &[u8],
) -> Option<String> {
    // Objects or arrays where a scalar belongs: take their text from the record itself.
    let compound: Vec<&str> = ev
        .scalars()
        .iter()
        .zip(SCALAR_KEYS)
        .filter(|(v, _)| matches!(v, Scalar::Compound))
        .map(|(_, k)| *k)
        .collect();
    if !compound.is_empty()
        && let Ok(fields) = serde_json::from_slice::<BTreeMap<Cow<'_, str>, &RawValue>>(raw_record)
    {
        for key in compound {
            if let Some(v) = fields.get(key) {
                misfits.push((key, v.get().to_string()));
            }
        }
    }
    if ev.extra.is_empty() && misfits.is_empty() {
        return None;
    }
    let mut out = String::from("{");
    let entries = ev
        .extra
        .iter()
        .map(|(k, v)| (k.as_ref(), *v))
        .chain(misfits.iter().map(|(k, v)| (*k, v.as_str())));
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(k).unwrap_or_else(|_| "\"?\"".into()));
        out.push(':');
        out.push_str(v);
    }
    out.push('}');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    fn build(json: &str) -> Result<RecordBatch, Reject> {
        let ev: RawEvent = serde_json::from_str(json).unwrap();
        let c = check(&ev)?;
        let mut b = CloudTrailBuilder::new(4);
        b.append(&c, json.as_bytes(), "file:///x.json", 7, "run1");
        Ok(b.finish().unwrap())
    }

    fn col<'b>(batch: &'b RecordBatch, name: &str) -> &'b arrow::array::StringArray {
        batch.column_by_name(name).unwrap().as_string::<i32>()
    }

    #[test]
    fn assumed_role_event_flattens() {
        let batch = build(
            r#"{"eventVersion":"1.08","eventTime":"2024-08-02T09:08:27Z","eventName":"GetObject",
            "eventSource":"s3.amazonaws.com","awsRegion":"us-east-1","readOnly":true,
            "recipientAccountId":"123456789012",
            "userIdentity":{"type":"AssumedRole","principalId":"AROA:my-fn",
              "arn":"arn:aws:sts::123456789012:assumed-role/app-role/my-fn","accountId":"123456789012",
              "accessKeyId":"ASIAEXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role",
              "arn":"arn:aws:iam::123456789012:role/svc/app-role","userName":"app-role"},
              "attributes":{"mfaAuthenticated":"false","creationDate":"2024-08-02T09:00:00Z"}}},
            "requestParameters":{"bucketName":"b"},"unknownThing":[1]}"#,
        )
        .unwrap();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.schema(), schema());
        assert_eq!(
            col(&batch, "actor_arn").value(0),
            "arn:aws:iam::123456789012:role/svc/app-role"
        );
        assert_eq!(col(&batch, "session_name").value(0), "my-fn");
        assert_eq!(col(&batch, "session_issuer_user_name").value(0), "app-role");
        assert_eq!(
            col(&batch, "request_parameters").value(0),
            r#"{"bucketName":"b"}"#
        );
        assert_eq!(col(&batch, "extra").value(0), r#"{"unknownThing":[1]}"#);
        assert!(col(&batch, "error_code").is_null(0));
        let mfa = batch
            .column_by_name("session_mfa_authenticated")
            .unwrap()
            .as_boolean();
        assert!(!mfa.value(0) && mfa.is_valid(0));
        let idx = batch.column_by_name("source_record_index").unwrap();
        assert_eq!(
            idx.as_primitive::<arrow::datatypes::Int64Type>().value(0),
            7
        );
    }

    #[test]
    fn identity_text_kept_only_when_columns_miss_part_of_it() {
        let complete = build(
            r#"{"eventTime":"2024-08-02T09:08:27Z","eventName":"X",
            "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/a"}}"#,
        )
        .unwrap();
        assert!(col(&complete, "user_identity").is_null(0));
        assert_eq!(col(&complete, "user_identity_type").value(0), "IAMUser");
        let ui = r#"{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s","sessionContext":{"webIdFederationData":{"federatedProvider":"cognito"}}}"#;
        let partial = build(&format!(
            r#"{{"eventTime":"2024-08-02T09:08:27Z","eventName":"X","userIdentity":{ui}}}"#
        ))
        .unwrap();
        assert_eq!(col(&partial, "user_identity").value(0), ui);
        assert_eq!(col(&partial, "session_name").value(0), "s");
        let not_object =
            build(r#"{"eventTime":"2024-08-02T09:08:27Z","eventName":"X","userIdentity":"root"}"#)
                .unwrap();
        assert_eq!(col(&not_object, "user_identity").value(0), r#""root""#);
        assert!(col(&not_object, "user_identity_type").is_null(0));
    }

    #[test]
    fn wrong_types_are_kept_in_extra() {
        let batch = build(
            r#"{"eventTime":"2024-08-02T09:08:27Z","eventName":"X","readOnly":"maybe","eventID":{"a":1}}"#,
        )
        .unwrap();
        assert!(batch.column_by_name("read_only").unwrap().is_null(0));
        assert!(col(&batch, "event_id").is_null(0));
        let extra: serde_json::Value = serde_json::from_str(col(&batch, "extra").value(0)).unwrap();
        assert_eq!(extra["readOnly"], "maybe");
        assert_eq!(extra["eventID"]["a"], 1);
    }

    #[test]
    fn rejects() {
        assert_eq!(build(r#"{"eventName":"X"}"#).unwrap_err().0, "no eventTime");
        assert!(
            build(r#"{"eventTime":12,"eventName":"X"}"#)
                .unwrap_err()
                .0
                .contains("a number")
        );
        assert!(
            build(r#"{"eventTime":"soon","eventName":"X"}"#)
                .unwrap_err()
                .0
                .contains("not an RFC 3339")
        );
        assert_eq!(
            build(r#"{"eventTime":"2024-08-02T09:08:27Z"}"#)
                .unwrap_err()
                .0,
            "no eventName"
        );
        assert!(
            build(r#"{"eventTime":"2024-08-02T09:08:27Z","eventName":5}"#)
                .unwrap_err()
                .0
                .contains("a number")
        );
    }

    #[test]
    fn insight_event_names_come_from_details() {
        let batch = build(
            r#"{"eventVersion":"1.07","eventTime":"2020-10-21T19:58:00Z","awsRegion":"us-east-1",
            "eventType":"AwsCloudTrailInsight","insightDetails":{"state":"Start",
            "eventSource":"ssm.amazonaws.com","eventName":"UpdateInstanceAssociationStatus"}}"#,
        )
        .unwrap();
        assert_eq!(
            col(&batch, "event_name").value(0),
            "UpdateInstanceAssociationStatus"
        );
        assert_eq!(col(&batch, "event_source").value(0), "ssm.amazonaws.com");
    }
}
