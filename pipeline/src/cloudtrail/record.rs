//! One CloudTrail record as it appears on the wire, borrowed from the input buffer.
//!
//! Parsing is lenient by design: a field of the wrong type never fails the record. Strings
//! are borrowed unless they contain escapes; nested objects (`requestParameters`, …) are kept
//! as raw JSON text; keys trailhound does not know are kept in [`RawEvent::extra`] so that
//! nothing in a record is lost. Whether a record is a usable event (it has an `eventTime` and
//! an `eventName`) is decided later, by the ingest, which quarantines it otherwise.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::time::parse_timestamp_micros;

/// A value that is neither a boolean nor the string `true`/`false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotBoolean;

/// A JSON value in a place where CloudTrail writes a scalar, whatever type it really has.
#[derive(Debug, Default, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// The key was absent.
    #[default]
    Missing,
    Null,
    Str(Cow<'a, str>),
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// An object or an array where a scalar belongs; the record keeps its raw text in `extra`.
    Compound,
}

impl<'a> Scalar<'a> {
    /// The value as text: strings as they are, numbers and booleans written out.
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Scalar::Str(s) => Some(Cow::Borrowed(s.as_ref())),
            Scalar::Int(v) => Some(Cow::Owned(v.to_string())),
            Scalar::UInt(v) => Some(Cow::Owned(v.to_string())),
            Scalar::Float(v) => Some(Cow::Owned(v.to_string())),
            Scalar::Bool(v) => Some(Cow::Borrowed(if *v { "true" } else { "false" })),
            Scalar::Missing | Scalar::Null | Scalar::Compound => None,
        }
    }

    /// The value when it is a string, borrowed.
    pub fn str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s.as_ref()),
            _ => None,
        }
    }

    /// The value as a boolean: JSON booleans and the strings `true`/`false` (CloudTrail
    /// writes `mfaAuthenticated` as a string). `Err` when it is something else.
    pub fn boolean(&self) -> Result<Option<bool>, NotBoolean> {
        match self {
            Scalar::Missing | Scalar::Null => Ok(None),
            Scalar::Bool(v) => Ok(Some(*v)),
            Scalar::Str(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Scalar::Str(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            _ => Err(NotBoolean),
        }
    }

    /// The JSON type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Scalar::Missing => "nothing",
            Scalar::Null => "null",
            Scalar::Str(_) => "a string",
            Scalar::Bool(_) => "a boolean",
            Scalar::Int(_) | Scalar::UInt(_) | Scalar::Float(_) => "a number",
            Scalar::Compound => "an object or array",
        }
    }

    /// The value as JSON text (for keeping a value of the wrong type in `extra`).
    pub fn to_json(&self) -> String {
        match self {
            Scalar::Str(s) => serde_json::to_string(s.as_ref()).unwrap_or_default(),
            Scalar::Missing | Scalar::Null | Scalar::Compound => "null".to_string(),
            other => other.text().map(Cow::into_owned).unwrap_or_default(),
        }
    }

    pub fn is_present(&self) -> bool {
        !matches!(self, Scalar::Missing | Scalar::Null)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::UInt(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                Scalar::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Compound)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Compound)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A JSON object key, borrowed unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

fn raw_or_none(v: &str) -> Option<&str> {
    (v != "null").then_some(v)
}

/// A CloudTrail event record, borrowed from its input.
#[derive(Debug, Default)]
pub struct RawEvent<'a> {
    pub event_version: Scalar<'a>,
    pub event_time: Scalar<'a>,
    pub event_source: Scalar<'a>,
    pub event_name: Scalar<'a>,
    pub aws_region: Scalar<'a>,
    pub source_ip_address: Scalar<'a>,
    pub user_agent: Scalar<'a>,
    pub error_code: Scalar<'a>,
    pub error_message: Scalar<'a>,
    pub request_id: Scalar<'a>,
    pub event_id: Scalar<'a>,
    pub event_type: Scalar<'a>,
    pub event_category: Scalar<'a>,
    pub read_only: Scalar<'a>,
    pub management_event: Scalar<'a>,
    pub recipient_account_id: Scalar<'a>,
    pub shared_event_id: Scalar<'a>,
    pub vpc_endpoint_id: Scalar<'a>,
    pub vpc_endpoint_account_id: Scalar<'a>,
    pub session_credential_from_console: Scalar<'a>,
    /// `None` when absent or null.
    pub user_identity: Option<UserIdentity<'a>>,
    pub request_parameters: Option<&'a str>,
    pub response_elements: Option<&'a str>,
    pub additional_event_data: Option<&'a str>,
    pub resources: Option<&'a str>,
    pub tls_details: Option<&'a str>,
    pub service_event_details: Option<&'a str>,
    pub insight_details: Option<&'a str>,
    /// Keys trailhound has no column for, with their raw values, in input order.
    pub extra: Vec<(Cow<'a, str>, &'a str)>,
}

/// The names of the scalar fields, for the record-level checks and messages.
pub const SCALAR_KEYS: &[&str] = &[
    "eventVersion",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestID",
    "eventID",
    "eventType",
    "eventCategory",
    "readOnly",
    "managementEvent",
    "recipientAccountId",
    "sharedEventID",
    "vpcEndpointId",
    "vpcEndpointAccountId",
    "sessionCredentialFromConsole",
];

impl<'a> RawEvent<'a> {
    /// The scalar field a key fills, if it is one. Both parsers (serde and [`super::fast`])
    /// dispatch keys through this and [`RawEvent::set_raw`], so they cannot disagree.
    pub(crate) fn scalar_slot(&mut self, key: &str) -> Option<&mut Scalar<'a>> {
        Some(match key {
            "eventVersion" => &mut self.event_version,
            "eventTime" => &mut self.event_time,
            "eventSource" => &mut self.event_source,
            "eventName" => &mut self.event_name,
            "awsRegion" => &mut self.aws_region,
            "sourceIPAddress" => &mut self.source_ip_address,
            "userAgent" => &mut self.user_agent,
            "errorCode" => &mut self.error_code,
            "errorMessage" => &mut self.error_message,
            "requestID" => &mut self.request_id,
            "eventID" => &mut self.event_id,
            "eventType" => &mut self.event_type,
            "eventCategory" => &mut self.event_category,
            "readOnly" => &mut self.read_only,
            "managementEvent" => &mut self.management_event,
            "recipientAccountId" => &mut self.recipient_account_id,
            "sharedEventID" => &mut self.shared_event_id,
            "vpcEndpointId" => &mut self.vpc_endpoint_id,
            "vpcEndpointAccountId" => &mut self.vpc_endpoint_account_id,
            "sessionCredentialFromConsole" => &mut self.session_credential_from_console,
            _ => return None,
        })
    }

    /// Keep the raw JSON of a key that is neither a scalar field nor `userIdentity`: in its
    /// JSON column (null counts as absent), else in `extra`.
    pub(crate) fn set_raw(&mut self, key: Cow<'a, str>, raw: &'a str) {
        let slot = match key.as_ref() {
            "requestParameters" => &mut self.request_parameters,
            "responseElements" => &mut self.response_elements,
            "additionalEventData" => &mut self.additional_event_data,
            "resources" => &mut self.resources,
            "tlsDetails" => &mut self.tls_details,
            "serviceEventDetails" => &mut self.service_event_details,
            "insightDetails" => &mut self.insight_details,
            _ => {
                self.extra.push((key, raw));
                return;
            }
        };
        *slot = raw_or_none(raw);
    }

    /// The scalar fields with their wire names, in [`SCALAR_KEYS`] order.
    pub fn scalars(&self) -> [&Scalar<'a>; 20] {
        [
            &self.event_version,
            &self.event_time,
            &self.event_source,
            &self.event_name,
            &self.aws_region,
            &self.source_ip_address,
            &self.user_agent,
            &self.error_code,
            &self.error_message,
            &self.request_id,
            &self.event_id,
            &self.event_type,
            &self.event_category,
            &self.read_only,
            &self.management_event,
            &self.recipient_account_id,
            &self.shared_event_id,
            &self.vpc_endpoint_id,
            &self.vpc_endpoint_account_id,
            &self.session_credential_from_console,
        ]
    }

    /// The raw value of an unknown key.
    pub fn extra_value(&self, key: &str) -> Option<&'a str> {
        self.extra.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// Whether this object is a CloudTrail digest file rather than events.
    pub fn is_digest(&self) -> bool {
        self.extra_value("digestStartTime").is_some()
            || self.extra_value("digestS3Object").is_some()
    }
}

impl<'de> Deserialize<'de> for RawEvent<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEvent<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a CloudTrail event object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut ev = RawEvent::default();
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    if key == "userIdentity" {
                        ev.user_identity = map.next_value()?;
                    } else if let Some(slot) = ev.scalar_slot(&key) {
                        *slot = map.next_value()?;
                    } else {
                        let raw = map.next_value::<&'de RawValue>()?.get();
                        ev.set_raw(key, raw);
                    }
                }
                Ok(ev)
            }
        }
        d.deserialize_map(V)
    }
}

/// `userIdentity`, flattened to the fields that have columns, parsed in the same pass as the
/// record. `complete` tells whether those fields hold the whole object: when it has keys
/// without a column (`onBehalfOf`, `webIdFederationData`, …) or values of another type, the
/// table keeps the object's text as well, so nothing is lost.
#[derive(Debug, Default)]
pub struct UserIdentity<'a> {
    pub kind: Scalar<'a>,
    pub principal_id: Scalar<'a>,
    pub arn: Scalar<'a>,
    pub account_id: Scalar<'a>,
    pub access_key_id: Scalar<'a>,
    pub user_name: Scalar<'a>,
    pub invoked_by: Scalar<'a>,
    pub session_context: Option<SessionContext<'a>>,
    pub complete: bool,
}

#[derive(Debug, Default)]
pub struct SessionContext<'a> {
    pub session_issuer: Option<SessionIssuer<'a>>,
    pub attributes: Option<SessionAttributes<'a>>,
    pub source_identity: Scalar<'a>,
    pub complete: bool,
}

#[derive(Debug, Default)]
pub struct SessionIssuer<'a> {
    pub kind: Scalar<'a>,
    pub principal_id: Scalar<'a>,
    pub arn: Scalar<'a>,
    pub account_id: Scalar<'a>,
    pub user_name: Scalar<'a>,
    pub complete: bool,
}

#[derive(Debug, Default)]
pub struct SessionAttributes<'a> {
    pub mfa_authenticated: Scalar<'a>,
    pub creation_date: Scalar<'a>,
    pub complete: bool,
}

impl<'a> SessionIssuer<'a> {
    pub(crate) fn scalar_slot(&mut self, key: &str) -> Option<&mut Scalar<'a>> {
        Some(match key {
            "type" => &mut self.kind,
            "principalId" => &mut self.principal_id,
            "arn" => &mut self.arn,
            "accountId" => &mut self.account_id,
            "userName" => &mut self.user_name,
            _ => return None,
        })
    }
}

impl<'a> SessionAttributes<'a> {
    pub(crate) fn scalar_slot(&mut self, key: &str) -> Option<&mut Scalar<'a>> {
        Some(match key {
            "mfaAuthenticated" => &mut self.mfa_authenticated,
            "creationDate" => &mut self.creation_date,
            _ => return None,
        })
    }
}

/// An object read key by key into a struct; anything else (a string, an array, …) gives the
/// default value, marked incomplete.
pub(crate) trait Fields<'de>: Default {
    /// Read the value of `key` if it is one of the struct's fields; false when it is not.
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error>;
    /// Whether the fields read hold the whole object (`known`: no other key was seen).
    fn finish(&mut self, known: bool);
}

struct ObjectVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Fields<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut out = T::default();
        let mut known = true;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if !out.field(&key, &mut map)? {
                map.next_value::<IgnoredAny>()?;
                known = false;
            }
        }
        out.finish(known);
        Ok(out)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(T::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_bool<E>(self, _: bool) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<T, E> {
        Ok(T::default())
    }
}

macro_rules! deserialize_fields {
    ($($ty:ident),*) => {$(
        impl<'de> Deserialize<'de> for $ty<'de> {
            fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(ObjectVisitor(std::marker::PhantomData))
            }
        }
    )*};
}
deserialize_fields!(
    UserIdentity,
    SessionContext,
    SessionIssuer,
    SessionAttributes
);

/// Whether a value read into a string column is kept exactly (a string, or nothing).
fn is_text(s: &Scalar<'_>) -> bool {
    matches!(s, Scalar::Str(_) | Scalar::Missing | Scalar::Null)
}

fn complete_or_absent<T>(v: &Option<T>, complete: impl Fn(&T) -> bool) -> bool {
    v.as_ref().is_none_or(complete)
}

impl<'de> Fields<'de> for UserIdentity<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        if key == "sessionContext" {
            self.session_context = map.next_value()?;
        } else if let Some(slot) = self.scalar_slot(key) {
            *slot = map.next_value()?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }
    fn finish(&mut self, known: bool) {
        self.complete = known
            && [
                &self.kind,
                &self.principal_id,
                &self.arn,
                &self.account_id,
                &self.access_key_id,
                &self.user_name,
                &self.invoked_by,
            ]
            .into_iter()
            .all(is_text)
            && complete_or_absent(&self.session_context, |s| s.complete);
    }
}

impl<'de> Fields<'de> for SessionContext<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        match key {
            "sessionIssuer" => self.session_issuer = map.next_value()?,
            "attributes" => self.attributes = map.next_value()?,
            "sourceIdentity" => self.source_identity = map.next_value()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
    fn finish(&mut self, known: bool) {
        self.complete = known
            && is_text(&self.source_identity)
            && complete_or_absent(&self.session_issuer, |i| i.complete)
            && complete_or_absent(&self.attributes, |a| a.complete);
    }
}

impl<'de> Fields<'de> for SessionIssuer<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        let Some(slot) = self.scalar_slot(key) else {
            return Ok(false);
        };
        *slot = map.next_value()?;
        Ok(true)
    }
    fn finish(&mut self, known: bool) {
        self.complete = known
            && [
                &self.kind,
                &self.principal_id,
                &self.arn,
                &self.account_id,
                &self.user_name,
            ]
            .into_iter()
            .all(is_text);
    }
}

impl<'de> Fields<'de> for SessionAttributes<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        let Some(slot) = self.scalar_slot(key) else {
            return Ok(false);
        };
        *slot = map.next_value()?;
        Ok(true)
    }
    fn finish(&mut self, known: bool) {
        // The boolean column holds `true`/`false` whether written as a string or a boolean;
        // the date column holds the instant, so it must be a timestamp to be kept exactly.
        self.complete = known
            && self.mfa_authenticated.boolean().is_ok()
            && match &self.creation_date {
                Scalar::Str(s) => parse_timestamp_micros(s).is_some(),
                other => !other.is_present(),
            };
    }
}

impl<'a> UserIdentity<'a> {
    /// The scalar field a key fills (`sessionContext` is not one).
    pub(crate) fn scalar_slot(&mut self, key: &str) -> Option<&mut Scalar<'a>> {
        Some(match key {
            "type" => &mut self.kind,
            "principalId" => &mut self.principal_id,
            "arn" => &mut self.arn,
            "accountId" => &mut self.account_id,
            "accessKeyId" => &mut self.access_key_id,
            "userName" => &mut self.user_name,
            "invokedBy" => &mut self.invoked_by,
            _ => return None,
        })
    }

    pub fn issuer(&self) -> Option<&SessionIssuer<'a>> {
        self.session_context.as_ref()?.session_issuer.as_ref()
    }

    pub fn attributes(&self) -> Option<&SessionAttributes<'a>> {
        self.session_context.as_ref()?.attributes.as_ref()
    }
}

/// One entry of `aws cloudtrail lookup-events` output: the event is a JSON string.
#[derive(Debug, Deserialize)]
pub struct LookupEvent<'a> {
    #[serde(rename = "CloudTrailEvent", borrow, default)]
    pub cloudtrail_event: Scalar<'a>,
}

/// `arn:<partition>:sts::<account>:assumed-role/<rest>` split into the part before the
/// resource and `<rest>`.
fn split_assumed_role(arn: &str) -> Option<(&str, &str)> {
    let mut at = 0;
    for _ in 0..5 {
        at += arn[at..].find(':')? + 1;
    }
    let rest = arn[at..].strip_prefix("assumed-role/")?;
    Some((&arn[..at - 1], rest))
}

/// The derived actor: for assumed-role sessions the role's IAM ARN (path included when the
/// session issuer gives it) and the session name; otherwise the identity's ARN.
pub fn actor_and_session<'s>(
    identity_arn: Option<&'s str>,
    issuer_arn: Option<&'s str>,
) -> (Option<Cow<'s, str>>, Option<&'s str>) {
    let assumed = identity_arn.and_then(split_assumed_role);
    match assumed {
        Some((prefix, rest)) => {
            let (role, session) = match rest.split_once('/') {
                Some((role, session)) => (role, Some(session)),
                None => (rest, None),
            };
            let actor = match issuer_arn.filter(|a| !a.is_empty()) {
                Some(issuer) => Cow::Borrowed(issuer),
                None => {
                    // arn:<partition>:sts::<account>:assumed-role/<role>/<session>
                    let mut parts = prefix.splitn(5, ':');
                    let (arn, partition) = (parts.next(), parts.next());
                    let (_service, _region, account) = (parts.next(), parts.next(), parts.next());
                    match (arn, partition, account) {
                        (Some("arn"), Some(partition), Some(account)) => {
                            Cow::Owned(format!("arn:{partition}:iam::{account}:role/{role}"))
                        }
                        _ => Cow::Borrowed(identity_arn.unwrap_or_default()),
                    }
                }
            };
            (Some(actor), session)
        }
        None => (
            identity_arn
                .filter(|a| !a.is_empty())
                .or(issuer_arn.filter(|a| !a.is_empty()))
                .map(Cow::Borrowed),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_fields_and_extra() {
        let json = r#"{"eventTime":"2024-01-01T00:00:00Z","eventName":"GetObject","readOnly":"true",
            "userAgent":42,"errorCode":{"nested":1},"requestParameters":null,
            "resources":[{"ARN":"arn:aws:s3:::b"}],"newField":{"a":[1,2]},"user\u0041gent2":"x"}"#;
        let ev: RawEvent = serde_json::from_str(json).unwrap();
        assert_eq!(ev.event_name.str(), Some("GetObject"));
        assert_eq!(ev.read_only.boolean(), Ok(Some(true)));
        assert_eq!(ev.user_agent.text().as_deref(), Some("42"));
        assert_eq!(ev.error_code, Scalar::Compound);
        assert!(ev.request_parameters.is_none());
        assert_eq!(ev.resources.unwrap(), r#"[{"ARN":"arn:aws:s3:::b"}]"#);
        assert_eq!(ev.extra.len(), 2);
        assert_eq!(ev.extra_value("newField").unwrap(), r#"{"a":[1,2]}"#);
        assert_eq!(ev.extra_value("userAgent2").unwrap(), r#""x""#);
        assert!(ev.event_time.str().is_some());
        assert_eq!(ev.event_id, Scalar::Missing);
    }

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let json = r#"{"eventName":"Plain","userAgent":"with \"quote\""}"#;
        let ev: RawEvent = serde_json::from_str(json).unwrap();
        assert!(matches!(ev.event_name, Scalar::Str(Cow::Borrowed("Plain"))));
        assert!(matches!(&ev.user_agent, Scalar::Str(Cow::Owned(s)) if s == "with \"quote\""));
    }

    fn identity(json: &str) -> UserIdentity<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn user_identity_shapes() {
        let ui = identity(
            r#"{"type":"AssumedRole","arn":"arn:aws:sts::123456789012:assumed-role/app-role/my-fn",
            "sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::123456789012:role/service/app-role"},
            "attributes":{"mfaAuthenticated":"false","creationDate":"2024-01-01T00:00:00Z"}}}"#,
        );
        assert_eq!(ui.kind.str(), Some("AssumedRole"));
        assert_eq!(
            ui.attributes().unwrap().mfa_authenticated.boolean(),
            Ok(Some(false))
        );
        assert!(ui.complete, "every field has a column");

        // Keys without a column, anywhere in the object, make it incomplete.
        for json in [
            r#"{"type":"X","sessionContext":"oops"}"#,
            r#"{"type":"X","onBehalfOf":{"userId":"u"}}"#,
            r#"{"type":"X","sessionContext":{"webIdFederationData":{}}}"#,
            r#"{"type":"X","sessionContext":{"sessionIssuer":{"type":"Role","extra":1}}}"#,
            r#"{"type":"X","sessionContext":{"attributes":{"creationDate":"yesterday"}}}"#,
            r#"{"type":"X","sessionContext":{"attributes":{"mfaAuthenticated":"maybe"}}}"#,
            r#"{"type":7}"#,
        ] {
            let ui = identity(json);
            assert!(!ui.complete, "{json}");
            assert_eq!(
                ui.kind.text().as_deref(),
                Some(if json.contains('7') { "7" } else { "X" })
            );
        }
        // Not an object at all: no fields, incomplete; null: absent.
        let ui = identity(r#"["not","an","object"]"#);
        assert!(!ui.complete && ui.kind == Scalar::Missing);
        let ev: RawEvent = serde_json::from_str(r#"{"userIdentity":null}"#).unwrap();
        assert!(ev.user_identity.is_none());
        let ev: RawEvent = serde_json::from_str(r#"{"userIdentity":{"type":"Root"}}"#).unwrap();
        assert!(ev.user_identity.unwrap().complete);
    }

    #[test]
    fn actor_derivation() {
        let (a, s) = actor_and_session(
            Some("arn:aws:sts::123456789012:assumed-role/app-role/my-fn"),
            Some("arn:aws:iam::123456789012:role/service/app-role"),
        );
        assert_eq!(
            a.as_deref(),
            Some("arn:aws:iam::123456789012:role/service/app-role")
        );
        assert_eq!(s, Some("my-fn"));
        let (a, s) = actor_and_session(
            Some("arn:aws-us-gov:sts::111111111111:assumed-role/ExampleRole/i-0abc"),
            None,
        );
        assert_eq!(
            a.as_deref(),
            Some("arn:aws-us-gov:iam::111111111111:role/ExampleRole")
        );
        assert_eq!(s, Some("i-0abc"));
        let (a, s) = actor_and_session(Some("arn:aws:iam::123456789012:user/alice"), None);
        assert_eq!(a.as_deref(), Some("arn:aws:iam::123456789012:user/alice"));
        assert_eq!(s, None);
        assert_eq!(actor_and_session(Some(""), None).0, None);
    }
}
