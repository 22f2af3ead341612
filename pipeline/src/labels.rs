//! `labels.json`: the ground truth of a simulated account, the file format shared by the
//! simulator (`trailhound-simulator`, which writes it) and `detectors::eval` (which scores
//! findings against it).
//!
//! The file is one JSON object, keys in alphabetical order at every level:
//! - `account_id`, `region`, `seed`: the simulated account and the seed that made it;
//! - `start`, `end`: the simulated period (RFC 3339);
//! - `functions`: each Lambda function with its execution role, runtime, log format and
//!   whether its role is granted more than it uses;
//! - `attacks`: each injected attack ([`Attack`]): its [`Kind`], MITRE ATT&CK ids, the function
//!   and role it used, its time window, and the records that make it (CloudTrail event ids or
//!   Lambda request ids).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Every kind of attack, in the order `simulate --attacks all` injects them.
pub const KINDS: &[Kind] = &[
    Kind::CredentialExfiltration,
    Kind::CredentialDualUse,
    Kind::DormantPermission,
    Kind::Reconnaissance,
    Kind::PrivilegeEscalation,
    Kind::LambdaPersistence,
    Kind::DefenseEvasion,
    Kind::SecretsMassRetrieval,
    Kind::InvocationFlood,
    Kind::Cryptomining,
    Kind::ErrorStorm,
    Kind::OddHourActivity,
    Kind::ApiBurst,
];

/// The small behaviour anomalies of low-volume functions (`simulate --low-volume N`), injected
/// only into those functions and so not part of `all`.
pub const SMALL_KINDS: &[Kind] = &[Kind::ErrorHandful, Kind::QuietHourActivity];

/// A kind of attack (its name in `labels.json` and on the command line: kebab-case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The role's session credentials used from outside AWS while the function is idle.
    CredentialExfiltration,
    /// The same credentials used from the function and from elsewhere at once.
    CredentialDualUse,
    /// A permission granted long ago and never used is suddenly used.
    DormantPermission,
    /// A burst of List*/Describe*/GetCallerIdentity calls the role never makes.
    Reconnaissance,
    /// iam:PassRole with lambda:CreateFunction, UpdateFunctionCode, AttachRolePolicy,
    /// CreateUser and CreateAccessKey.
    PrivilegeEscalation,
    /// A public AddPermission, a function URL without auth, a layer from a foreign account.
    LambdaPersistence,
    /// PutEventSelectors, StopLogging, DeleteTrail.
    DefenseEvasion,
    /// ListSecrets and GetSecretValue on many secrets in minutes.
    SecretsMassRetrieval,
    /// Many times the function's usual invocations.
    InvocationFlood,
    /// Durations near the timeout and memory near the limit for hours.
    Cryptomining,
    /// Most invocations fail for an hour.
    ErrorStorm,
    /// The function invoked at its daytime rate in the middle of the night, for two hours.
    OddHourActivity,
    /// The function's own code calls its usual APIs hundreds of times in ten minutes (a
    /// compromised dependency copying data out through the role).
    ApiBurst,
    /// A handful of failed invocations in an hour of a low-volume function that never fails
    /// (someone probing it with bad input).
    ErrorHandful,
    /// A few invocations of a low-volume function at an hour of the night it never runs in.
    QuietHourActivity,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::CredentialExfiltration => "credential-exfiltration",
            Kind::CredentialDualUse => "credential-dual-use",
            Kind::DormantPermission => "dormant-permission",
            Kind::Reconnaissance => "reconnaissance",
            Kind::PrivilegeEscalation => "privilege-escalation",
            Kind::LambdaPersistence => "lambda-persistence",
            Kind::DefenseEvasion => "defense-evasion",
            Kind::SecretsMassRetrieval => "secrets-mass-retrieval",
            Kind::InvocationFlood => "invocation-flood",
            Kind::Cryptomining => "cryptomining",
            Kind::ErrorStorm => "error-storm",
            Kind::OddHourActivity => "odd-hour-activity",
            Kind::ApiBurst => "api-burst",
            Kind::ErrorHandful => "error-handful",
            Kind::QuietHourActivity => "quiet-hour-activity",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        KINDS
            .iter()
            .chain(SMALL_KINDS)
            .copied()
            .find(|k| k.name() == s)
    }

    /// MITRE ATT&CK technique ids.
    pub fn mitre(self) -> &'static [&'static str] {
        match self {
            Kind::CredentialExfiltration | Kind::CredentialDualUse => &["T1552.005", "T1078.004"],
            Kind::DormantPermission => &["T1078.004"],
            Kind::Reconnaissance => &["T1087.004", "T1526", "T1580"],
            Kind::PrivilegeEscalation => &["T1098.001", "T1098.003", "T1136.003"],
            Kind::LambdaPersistence => &["T1546", "T1098"],
            Kind::DefenseEvasion => &["T1562.008"],
            Kind::SecretsMassRetrieval => &["T1555.006"],
            Kind::InvocationFlood => &["T1499.003"],
            Kind::Cryptomining => &["T1496"],
            Kind::ErrorStorm => &["T1499"],
            Kind::OddHourActivity => &["T1648"],
            Kind::ApiBurst => &["T1530", "T1648"],
            Kind::ErrorHandful => &["T1190"],
            Kind::QuietHourActivity => &["T1648"],
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Labels {
    /// The simulator's seed.
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub account_id: String,
    #[serde(default)]
    pub region: String,
    /// The simulated period (RFC 3339).
    pub start: String,
    pub end: String,
    #[serde(default)]
    pub functions: Vec<LabelledFunction>,
    pub attacks: Vec<Attack>,
}

/// A function of the simulated account.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LabelledFunction {
    pub name: String,
    /// Its execution role (an IAM ARN).
    #[serde(default)]
    pub role: String,
    /// Lambda's runtime id (`python3.12`).
    #[serde(default)]
    pub runtime: String,
    /// `json` or `text`.
    #[serde(default)]
    pub log_format: String,
    /// Whether its role is granted more than its functions use.
    #[serde(default)]
    pub over_permissioned: bool,
}

/// One injected attack: the ground truth a detector is measured against.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attack {
    pub id: String,
    pub kind: Kind,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub mitre: Vec<String>,
    /// The function's execution role (its IAM ARN).
    pub principal: String,
    pub function: String,
    pub start: String,
    pub end: String,
    /// CloudTrail events of the attack.
    #[serde(default)]
    pub event_ids: Vec<String>,
    /// Lambda invocations of the attack (for the kinds seen in the logs).
    #[serde(default)]
    pub request_ids: Vec<String>,
    /// Addresses the attacker used (empty when the calls came from the function itself).
    #[serde(default)]
    pub source_ips: Vec<String>,
    /// The access key id the attack used, when it used the function's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
}

impl Labels {
    /// Read and check a labels file (its period must be RFC 3339 times).
    pub fn read(path: &Path) -> Result<Labels> {
        let err = |reason: String| Error::Labels {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let labels: Labels = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        for t in [&labels.start, &labels.end] {
            if crate::time::parse_timestamp_micros(t).is_none() {
                return Err(err(format!("{t:?} is not an RFC 3339 time")));
            }
        }
        Ok(labels)
    }

    /// The file's bytes: pretty JSON, keys in alphabetical order at every level.
    pub fn to_json(&self) -> Vec<u8> {
        // Through a `Value`, whose maps keep their keys sorted: the order the file has always
        // had, whatever the order of the fields above.
        serde_json::to_value(self)
            .and_then(|v| serde_json::to_vec_pretty(&v))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_name() {
        for k in KINDS.iter().chain(SMALL_KINDS) {
            assert_eq!(Kind::parse(k.name()), Some(*k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.name())
            );
            assert!(!k.mitre().is_empty());
        }
        assert_eq!(Kind::parse("recon"), None);
    }

    #[test]
    fn round_trip_with_sorted_keys() {
        let text = r#"{
  "account_id": "123456789012",
  "attacks": [
    {
      "access_key_id": "ASIAEXAMPLE",
      "description": "d",
      "end": "2026-11-05T10:05:00Z",
      "event_ids": [
        "e1"
      ],
      "function": "a",
      "id": "attack-01-reconnaissance",
      "kind": "reconnaissance",
      "mitre": [
        "T1087.004"
      ],
      "principal": "arn:aws:iam::123456789012:role/a",
      "request_ids": [],
      "source_ips": [],
      "start": "2026-11-05T10:00:00Z"
    }
  ],
  "end": "2026-11-15T00:00:00Z",
  "functions": [
    {
      "log_format": "json",
      "name": "a",
      "over_permissioned": false,
      "role": "arn:aws:iam::123456789012:role/a",
      "runtime": "python3.12"
    }
  ],
  "region": "us-east-1",
  "seed": 7,
  "start": "2026-11-01T00:00:00Z"
}"#;
        let labels: Labels = serde_json::from_str(text).unwrap();
        assert_eq!(labels.attacks[0].kind, Kind::Reconnaissance);
        assert_eq!(String::from_utf8(labels.to_json()).unwrap(), text);
    }

    #[test]
    fn an_unknown_kind_is_an_error() {
        let r: std::result::Result<Attack, _> = serde_json::from_value(serde_json::json!({
            "id": "1", "kind": "recon", "principal": "p", "function": "f",
            "start": "2026-11-05T10:00:00Z", "end": "2026-11-05T10:05:00Z"
        }));
        assert!(r.unwrap_err().to_string().contains("recon"));
    }
}
