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
    pub fn boolean(&self) -> Result<Option<bool>, ()> {
        match self {
            Scalar::Missing | Scalar::Null => Ok(None),
            Scalar::Bool(v) => Ok(Some(*v)),
            Scalar::Str(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Scalar::Str(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            _ => Err(()),
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

fn raw_or_none(v: &RawValue) -> Option<&RawValue> {
    (v.get() != "null").then_some(v)
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
    pub user_identity: Option<&'a RawValue>,
    pub request_parameters: Option<&'a RawValue>,
    pub response_elements: Option<&'a RawValue>,
    pub additional_event_data: Option<&'a RawValue>,
    pub resources: Option<&'a RawValue>,
    pub tls_details: Option<&'a RawValue>,
    pub service_event_details: Option<&'a RawValue>,
    pub insight_details: Option<&'a RawValue>,
    /// Keys trailhound has no column for, with their raw values, in input order.
    pub extra: Vec<(Cow<'a, str>, &'a RawValue)>,
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
    pub fn extra_value(&self, key: &str) -> Option<&'a RawValue> {
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
                    let slot = match key.as_ref() {
                        "eventVersion" => &mut ev.event_version,
                        "eventTime" => &mut ev.event_time,
                        "eventSource" => &mut ev.event_source,
                        "eventName" => &mut ev.event_name,
                        "awsRegion" => &mut ev.aws_region,
                        "sourceIPAddress" => &mut ev.source_ip_address,
                        "userAgent" => &mut ev.user_agent,
                        "errorCode" => &mut ev.error_code,
                        "errorMessage" => &mut ev.error_message,
                        "requestID" => &mut ev.request_id,
                        "eventID" => &mut ev.event_id,
                        "eventType" => &mut ev.event_type,
                        "eventCategory" => &mut ev.event_category,
                        "readOnly" => &mut ev.read_only,
                        "managementEvent" => &mut ev.management_event,
                        "recipientAccountId" => &mut ev.recipient_account_id,
                        "sharedEventID" => &mut ev.shared_event_id,
                        "vpcEndpointId" => &mut ev.vpc_endpoint_id,
                        "vpcEndpointAccountId" => &mut ev.vpc_endpoint_account_id,
                        "sessionCredentialFromConsole" => &mut ev.session_credential_from_console,
                        _ => {
                            let raw: &'de RawValue = map.next_value()?;
                            let slot = match key.as_ref() {
                                "userIdentity" => &mut ev.user_identity,
                                "requestParameters" => &mut ev.request_parameters,
                                "responseElements" => &mut ev.response_elements,
                                "additionalEventData" => &mut ev.additional_event_data,
                                "resources" => &mut ev.resources,
                                "tlsDetails" => &mut ev.tls_details,
                                "serviceEventDetails" => &mut ev.service_event_details,
                                "insightDetails" => &mut ev.insight_details,
                                _ => {
                                    ev.extra.push((key, raw));
                                    continue;
                                }
                            };
                            *slot = raw_or_none(raw);
                            continue;
                        }
                    };
                    *slot = map.next_value()?;
                }
                Ok(ev)
            }
        }
        d.deserialize_map(V)
    }
}

/// `userIdentity`, flattened to the fields that have columns. Parsed from the raw text that
/// is also kept whole, so a malformed identity loses nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserIdentity<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Scalar<'a>,
    #[serde(rename = "principalId", borrow)]
    pub principal_id: Scalar<'a>,
    #[serde(borrow)]
    pub arn: Scalar<'a>,
    #[serde(rename = "accountId", borrow)]
    pub account_id: Scalar<'a>,
    #[serde(rename = "accessKeyId", borrow)]
    pub access_key_id: Scalar<'a>,
    #[serde(rename = "userName", borrow)]
    pub user_name: Scalar<'a>,
    #[serde(rename = "invokedBy", borrow)]
    pub invoked_by: Scalar<'a>,
    #[serde(rename = "sessionContext", borrow)]
    pub session_context: Option<SessionContext<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SessionContext<'a> {
    #[serde(rename = "sessionIssuer", borrow)]
    pub session_issuer: Option<SessionIssuer<'a>>,
    #[serde(borrow)]
    pub attributes: Option<SessionAttributes<'a>>,
    #[serde(rename = "sourceIdentity", borrow)]
    pub source_identity: Scalar<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SessionIssuer<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Scalar<'a>,
    #[serde(rename = "principalId", borrow)]
    pub principal_id: Scalar<'a>,
    #[serde(borrow)]
    pub arn: Scalar<'a>,
    #[serde(rename = "accountId", borrow)]
    pub account_id: Scalar<'a>,
    #[serde(rename = "userName", borrow)]
    pub user_name: Scalar<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SessionAttributes<'a> {
    #[serde(rename = "mfaAuthenticated", borrow)]
    pub mfa_authenticated: Scalar<'a>,
    #[serde(rename = "creationDate", borrow)]
    pub creation_date: Scalar<'a>,
}

impl<'a> UserIdentity<'a> {
    /// Parse a raw `userIdentity`; `None` when it is not an object of the expected shape.
    pub fn parse(raw: &'a RawValue) -> Option<Self> {
        serde_json::from_str(raw.get()).ok()
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

/// The derived actor: for assumed-role sessions the role's IAM ARN (path included when the
/// session issuer gives it) and the session name; otherwise the identity's ARN.
pub fn actor_and_session<'s>(
    identity_arn: Option<&'s str>,
    issuer_arn: Option<&'s str>,
) -> (Option<Cow<'s, str>>, Option<&'s str>) {
    let assumed = identity_arn.and_then(|arn| {
        let (prefix, rest) = arn.split_once(":assumed-role/")?;
        Some((prefix, rest))
    });
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
        assert_eq!(ev.resources.unwrap().get(), r#"[{"ARN":"arn:aws:s3:::b"}]"#);
        assert_eq!(ev.extra.len(), 2);
        assert_eq!(ev.extra_value("newField").unwrap().get(), r#"{"a":[1,2]}"#);
        assert_eq!(ev.extra_value("userAgent2").unwrap().get(), r#""x""#);
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

    #[test]
    fn user_identity_shapes() {
        let raw: &RawValue = serde_json::from_str(
            r#"{"type":"AssumedRole","arn":"arn:aws:sts::123456789012:assumed-role/app-role/my-fn",
            "sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::123456789012:role/service/app-role"},
            "attributes":{"mfaAuthenticated":"false","creationDate":"2024-01-01T00:00:00Z"}}}"#,
        )
        .unwrap();
        let ui = UserIdentity::parse(raw).unwrap();
        assert_eq!(ui.kind.str(), Some("AssumedRole"));
        assert_eq!(
            ui.attributes().unwrap().mfa_authenticated.boolean(),
            Ok(Some(false))
        );
        let bad: &RawValue =
            serde_json::from_str(r#"{"type":"X","sessionContext":"oops"}"#).unwrap();
        assert!(UserIdentity::parse(bad).is_none());
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
