//! The attacks the simulator injects, one file per [`Kind`]: whom it hits and when, who makes
//! its calls, its CloudTrail calls as a table, what its label says, and the detectors expected
//! to catch it. [`attack`] finds a kind's; [`Attack::calls`] turns its table into the calls
//! made against one function.
//!
//! The kinds themselves (their names and MITRE ids, the vocabulary of `labels.json`) are
//! [`pipeline::labels::Kind`].

mod api_burst;
mod credential_dual_use;
mod credential_exfiltration;
mod cryptomining;
mod defense_evasion;
mod dormant_permission;
mod error_handful;
mod error_storm;
mod invocation_flood;
mod lambda_persistence;
mod odd_hour_activity;
mod privilege_escalation;
mod quiet_hour_activity;
mod reconnaissance;
mod secrets_mass_retrieval;

pub use pipeline::labels::{KINDS, Kind, SMALL_KINDS};

use crate::account::{Api, Function};
use crate::{Error, Result};

/// Addresses attackers call from.
pub const ATTACKER_IPS: [&str; 2] = ["203.0.113.50", "198.51.100.23"];
/// An attacker's AWS CLI.
pub const ATTACKER_CLI: &str = "aws-cli/2.15.30 Python/3.11.8 Linux/6.6.9-amd64 exe/x86_64.kali.2024 prompt/off command/sts.get-caller-identity";
/// An attacker's script (boto3).
pub const ATTACKER_SDK: &str = "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux#6.1.0-27-amd64 md/arch#x86_64 lang/python#3.11.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.0";

/// One kind of attack, whole.
#[derive(Debug)]
pub struct Attack {
    pub kind: Kind,
    /// What its label says happened: `{function}`, `{ip}` (the attacker's address) and
    /// `{calls}` (how many calls it made) are filled in.
    pub description: &'static str,
    /// The functions it may hit.
    pub target: Target,
    /// The hour of day (UTC) it starts at; `None`: one of the working hours, in turn.
    pub hour_of_day: Option<i64>,
    /// Who makes its calls.
    pub by: By,
    /// Its CloudTrail calls, in order (none for the attacks seen in the Lambda logs).
    pub calls: &'static [Call],
    /// The time between two calls (each also gets up to 3 s of jitter).
    pub step: Step,
    /// For how many hours the function's own invocations change (or stop), from its start.
    pub hours: i64,
    /// A behaviour anomaly: a change in how the function runs or calls AWS that no rule names,
    /// which the baseline model (`trailhound baseline`) is measured on.
    pub behaviour: bool,
    /// The detectors expected to catch it (rules and baseline categories).
    pub caught_by: &'static [&'static str],
}

/// The functions an attack may hit (among those not hit yet when there are enough).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Any function.
    Any,
    /// A function whose role is over-permissioned (the attack needs the grants to succeed);
    /// any function when none is.
    WideRole,
    /// A function invoked on demand (not on a schedule); any function when none is.
    OnDemand,
    /// A function whose code calls AWS.
    Calling,
    /// A low-volume function (`--low-volume`); none: the attack cannot be injected.
    LowVolume,
}

/// Who makes an attack's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The function itself: its credentials, addresses and runtime SDK.
    Function,
    /// The function's credentials, stolen: from the attacker's address and tool.
    Stolen {
        ip: &'static str,
        user_agent: &'static str,
    },
    /// No calls: the attack shows in the function's invocations.
    Invocations,
}

/// Whether a call is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granted {
    Always,
    /// When the function's role is over-permissioned (else AccessDenied).
    IfWide,
}

/// How many of the function's own calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Each of its calls, this many times over.
    Rounds(usize),
    /// Five times its busiest ten minutes' calls, and at least [`API_BURST_CALLS`].
    Burst,
}

/// The fewest calls of a [`Count::Burst`].
pub const API_BURST_CALLS: usize = 300;

/// A row of an attack's call table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Call {
    /// `times` calls of `api` naming `resource`, where `{function}`, `{other_function}` (another
    /// function of the account), `{role}`, `{role_arn}`, `{trail}` and `{secret}` (a secret
    /// name numbered by the call) are filled in.
    Api {
        api: Api,
        resource: &'static str,
        granted: Granted,
        times: usize,
    },
    /// The function's own calls (always allowed), then its cold-start calls when `init`.
    Own { count: Count, init: bool },
    /// A call by the IAM user the attack created (its `IamCreateUser`), with the access key
    /// its `IamCreateAccessKey` returned, from the attacker's address: the later steps of an
    /// intrusion are done by what the attacker created, not by the function's role. Left out
    /// when the user could not be created.
    AsCreated { api: Api, resource: &'static str },
}

impl Call {
    /// One call.
    pub const fn once(api: Api, resource: &'static str, granted: Granted) -> Call {
        Call::Api {
            api,
            resource,
            granted,
            times: 1,
        }
    }
}

/// The time between two calls of an attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Milliseconds.
    Every(i64),
    /// All of them within ten minutes.
    TenMinutes,
}

/// What an attack's calls name: the function it hits and what is around it.
#[derive(Debug, Clone)]
pub struct Victim<'a> {
    pub function: &'a Function,
    /// Another function of the account (the function itself when it is alone).
    pub other_function: &'a str,
    pub role: &'a str,
    pub role_arn: &'a str,
    pub trail: &'a str,
    /// Whether its role is over-permissioned.
    pub wide: bool,
    /// The calls of a [`Count::Burst`].
    pub burst: usize,
}

const SECRETS: [&str; 5] = ["db", "api", "partner", "smtp", "vault"];

impl Attack {
    /// The calls against `on`, in order: API, resource, whether it is allowed, and whether the
    /// user the attack created makes it ([`Call::AsCreated`]).
    pub fn calls(&self, on: &Victim) -> Vec<(Api, String, bool, bool)> {
        let mut out = Vec::new();
        for call in self.calls {
            match *call {
                Call::Api {
                    api,
                    resource,
                    granted,
                    times,
                } => {
                    for i in 0..times {
                        let granted = granted == Granted::Always || on.wide;
                        out.push((api, fill(resource, on, i), granted, false));
                    }
                }
                Call::Own { count, init } => {
                    let own = &on.function.calls;
                    let n = match count {
                        Count::Rounds(r) => r * own.len(),
                        Count::Burst => on.burst,
                    };
                    if !own.is_empty() {
                        for i in 0..n {
                            let c = &own[i % own.len()];
                            out.push((c.api, c.resource.clone(), true, false));
                        }
                    }
                    if init {
                        for c in &on.function.init_calls {
                            out.push((c.api, c.resource.clone(), true, false));
                        }
                    }
                }
                // An administrator's user may do anything.
                Call::AsCreated { api, resource } => {
                    out.push((api, fill(resource, on, 0), true, true))
                }
            }
        }
        out
    }

    /// The label's description.
    pub fn describe(&self, function: &str, calls: usize) -> String {
        let ip = match self.by {
            By::Stolen { ip, .. } => ip,
            _ => "",
        };
        self.description
            .replace("{function}", function)
            .replace("{ip}", ip)
            .replace("{calls}", &calls.to_string())
    }

    /// Whether it shows in the Lambda logs rather than in CloudTrail.
    pub fn in_logs(&self) -> bool {
        self.by == By::Invocations
    }
}

fn fill(template: &str, on: &Victim, i: usize) -> String {
    let mut s = template
        .replace("{function}", &on.function.name)
        .replace("{other_function}", on.other_function)
        .replace("{role_arn}", on.role_arn)
        .replace("{role}", on.role)
        .replace("{trail}", on.trail);
    if s.contains("{secret}") {
        s = s.replace(
            "{secret}",
            &format!("{}-{i:02}", SECRETS[i % SECRETS.len()]),
        );
    }
    s
}

/// Every attack, in the order of [`KINDS`], then the small ones of [`SMALL_KINDS`].
pub const ATTACKS: &[&Attack] = &[
    &credential_exfiltration::ATTACK,
    &credential_dual_use::ATTACK,
    &dormant_permission::ATTACK,
    &reconnaissance::ATTACK,
    &privilege_escalation::ATTACK,
    &lambda_persistence::ATTACK,
    &defense_evasion::ATTACK,
    &secrets_mass_retrieval::ATTACK,
    &invocation_flood::ATTACK,
    &cryptomining::ATTACK,
    &error_storm::ATTACK,
    &odd_hour_activity::ATTACK,
    &api_burst::ATTACK,
    &error_handful::ATTACK,
    &quiet_hour_activity::ATTACK,
];

/// The attack of a kind.
pub fn attack(kind: Kind) -> &'static Attack {
    ATTACKS
        .iter()
        .find(|a| a.kind == kind)
        .expect("every kind has its attack (tested)")
}

/// The behaviour anomalies, in the order of [`ATTACKS`].
pub fn behaviour() -> Vec<Kind> {
    ATTACKS
        .iter()
        .filter(|a| a.behaviour)
        .map(|a| a.kind)
        .collect()
}

/// `--attacks`: `all`, `none`, or a comma-separated list of kinds (a kind may come again).
pub fn parse_list(s: &str) -> Result<Vec<Kind>> {
    match s.trim() {
        "all" => Ok(KINDS.to_vec()),
        "none" | "" => Ok(Vec::new()),
        list => list
            .split(',')
            .map(|k| {
                Kind::parse(k.trim()).ok_or_else(|| Error::UnknownAttack {
                    name: k.to_string(),
                    known: KINDS
                        .iter()
                        .chain(SMALL_KINDS)
                        .map(|k| k.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Call as OwnCall;

    #[test]
    fn lists() {
        assert_eq!(parse_list("all").unwrap().len(), 13);
        assert!(parse_list("none").unwrap().is_empty());
        assert_eq!(
            parse_list("reconnaissance, error-storm").unwrap(),
            vec![Kind::Reconnaissance, Kind::ErrorStorm]
        );
        let e = parse_list("recon").unwrap_err().to_string();
        assert!(e.contains("reconnaissance"), "{e}");
        assert!(e.starts_with("unknown attack \"recon\""), "{e}");
    }

    #[test]
    fn one_attack_per_kind() {
        assert_eq!(ATTACKS.len(), KINDS.len() + SMALL_KINDS.len());
        for (a, k) in ATTACKS.iter().zip(KINDS.iter().chain(SMALL_KINDS)) {
            assert_eq!(a.kind, *k);
            assert_eq!(attack(*k).kind, *k);
            assert!(!a.caught_by.is_empty(), "{k}");
            assert!(!a.description.is_empty(), "{k}");
            // The attacks seen in the logs make no calls; the others make some.
            assert_eq!(a.in_logs(), a.calls.is_empty(), "{k}");
        }
        assert_eq!(
            behaviour(),
            [
                Kind::InvocationFlood,
                Kind::Cryptomining,
                Kind::ErrorStorm,
                Kind::OddHourActivity,
                Kind::ApiBurst,
                Kind::ErrorHandful,
                Kind::QuietHourActivity
            ]
        );
    }

    fn function() -> Function {
        let own = |api, resource: &str| OwnCall {
            api,
            resource: resource.into(),
            p: 1.0,
        };
        Function {
            name: "orders-api".into(),
            runtime: crate::account::Runtime::Python312,
            role: 0,
            json_logs: true,
            vpc: false,
            memory_mb: 128,
            timeout_s: 3,
            calls: vec![
                own(Api::DynamoGetItem, "orders"),
                own(Api::S3PutObject, "receipts"),
            ],
            init_calls: vec![own(Api::SsmGetParameter, "/orders/config")],
            peak_per_hour: 10.0,
            duration_ms: 100.0,
            memory_used_mb: 60.0,
            error_rate: 0.0,
            timeout_rate: 0.0,
            schedule_minutes: None,
            low_volume: None,
        }
    }

    fn victim(f: &Function, wide: bool) -> Victim<'_> {
        Victim {
            function: f,
            other_function: "billing",
            role: "orders-role",
            role_arn: "arn:aws:iam::123456789012:role/orders-role",
            trail: "main-trail",
            wide,
            burst: 7,
        }
    }

    #[test]
    fn tables_become_calls() {
        let f = function();
        let on = victim(&f, false);
        let recon = attack(Kind::Reconnaissance).calls(&on);
        assert_eq!(recon.len(), 9);
        // Without the grants, only GetCallerIdentity succeeds.
        assert_eq!(
            recon
                .iter()
                .filter(|c| c.2)
                .map(|c| c.0)
                .collect::<Vec<_>>(),
            [Api::StsGetCallerIdentity]
        );
        assert!(recon.contains(&(
            Api::IamListAttachedRolePolicies,
            "orders-role".into(),
            false,
            false
        )));

        let on = victim(&f, true);
        let secrets = attack(Kind::SecretsMassRetrieval).calls(&on);
        assert_eq!(secrets.len(), 26);
        assert_eq!(secrets[1].1, "prod/db-00/credentials");
        assert_eq!(secrets[3].1, "prod/partner-02/credentials");
        assert_eq!(secrets[7].1, "prod/api-06/credentials");
        assert!(secrets.iter().all(|c| c.2));

        // The intrusion: the function's credentials create an administrator user with a key,
        // and that user does the rest.
        let escalation = attack(Kind::PrivilegeEscalation).calls(&on);
        let apis: Vec<(Api, bool)> = escalation.iter().map(|c| (c.0, c.3)).collect();
        assert_eq!(
            apis,
            [
                (Api::StsGetCallerIdentity, false),
                (Api::IamCreateUser, false),
                (Api::IamAttachUserPolicy, false),
                (Api::IamCreateAccessKey, false),
                (Api::StsGetCallerIdentity, true),
                (Api::IamUpdateAssumeRolePolicy, true),
                (Api::Ec2ModifySnapshotAttribute, true),
                (Api::SecretsBatchGetSecretValue, true),
                (Api::CloudTrailPutEventSelectors, true),
            ]
        );
        assert_eq!(
            escalation[2].1,
            "orders-role-backup|arn:aws:iam::aws:policy/AdministratorAccess"
        );
        assert_eq!(escalation[5].1, "orders-role|210987654321");

        // The function's own calls: one round and its cold-start calls, six rounds, a burst.
        let exfil = attack(Kind::CredentialExfiltration).calls(&on);
        let apis: Vec<Api> = exfil.iter().map(|c| c.0).collect();
        assert_eq!(
            apis,
            [
                Api::StsGetCallerIdentity,
                Api::S3ListBuckets,
                Api::DynamoGetItem,
                Api::S3PutObject,
                Api::SsmGetParameter
            ]
        );
        assert_eq!(attack(Kind::CredentialDualUse).calls(&on).len(), 12);
        let burst = attack(Kind::ApiBurst).calls(&on);
        assert_eq!(burst.len(), 7);
        assert_eq!(burst[6].0, Api::DynamoGetItem);
        assert!(attack(Kind::ErrorStorm).calls(&on).is_empty());
    }

    #[test]
    fn descriptions() {
        assert_eq!(
            attack(Kind::CredentialExfiltration).describe("orders-api", 5),
            "orders-api's session credentials used from 203.0.113.50 with the AWS CLI while the function was idle"
        );
        assert_eq!(
            attack(Kind::ApiBurst).describe("orders-api", 312),
            "orders-api's own code called its usual APIs 312 times in ten minutes"
        );
    }
}
