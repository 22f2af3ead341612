//! The attack scenarios the simulator injects, each labelled with what a detector should find.

use serde::Serialize;

/// Every scenario, in the order `--attacks all` injects them.
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

/// The behaviour anomalies: changes in how a function runs or calls AWS that no rule names,
/// which the baseline model (`trailhound baseline`) is measured on.
pub const BEHAVIOUR: &[Kind] = &[
    Kind::InvocationFlood,
    Kind::Cryptomining,
    Kind::ErrorStorm,
    Kind::OddHourActivity,
    Kind::ApiBurst,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
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
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        KINDS.iter().copied().find(|k| k.name() == s)
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
        }
    }

    /// Whether the scenario needs an over-permissioned role to succeed.
    pub fn needs_wide_role(self) -> bool {
        matches!(
            self,
            Kind::DormantPermission
                | Kind::PrivilegeEscalation
                | Kind::LambdaPersistence
                | Kind::DefenseEvasion
                | Kind::SecretsMassRetrieval
        )
    }

    /// Whether the scenario shows in the Lambda logs rather than in CloudTrail.
    pub fn in_logs(self) -> bool {
        matches!(
            self,
            Kind::InvocationFlood | Kind::Cryptomining | Kind::ErrorStorm | Kind::OddHourActivity
        )
    }
}

/// `--attacks`: `all`, `none`, or a comma-separated list of kinds.
pub fn parse_list(s: &str) -> Result<Vec<Kind>, String> {
    match s.trim() {
        "all" => Ok(KINDS.to_vec()),
        "none" | "" => Ok(Vec::new()),
        list => list
            .split(',')
            .map(|k| {
                Kind::parse(k.trim()).ok_or_else(|| {
                    format!(
                        "unknown attack {k:?}; known: all, none, {}",
                        KINDS
                            .iter()
                            .map(|k| k.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
            })
            .collect(),
    }
}

/// One injected attack: the ground truth a detector is measured against.
#[derive(Debug, Clone, Serialize)]
pub struct Label {
    pub id: String,
    pub kind: Kind,
    pub description: String,
    pub mitre: Vec<&'static str>,
    /// The function's execution role (its IAM ARN).
    pub principal: String,
    pub function: String,
    pub start: String,
    pub end: String,
    /// CloudTrail events of the attack.
    pub event_ids: Vec<String>,
    /// Lambda invocations of the attack (for the scenarios seen in the logs).
    pub request_ids: Vec<String>,
    /// Addresses the attacker used (empty when the calls came from the function itself).
    pub source_ips: Vec<String>,
    /// The access key id the attack used, when it used the function's credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(parse_list("all").unwrap().len(), 13);
        assert!(parse_list("none").unwrap().is_empty());
        assert_eq!(
            parse_list("reconnaissance, error-storm").unwrap(),
            vec![Kind::Reconnaissance, Kind::ErrorStorm]
        );
        let e = parse_list("recon").unwrap_err();
        assert!(e.contains("reconnaissance"), "{e}");
        for k in KINDS {
            assert_eq!(Kind::parse(k.name()), Some(*k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.name())
            );
        }
    }
}
