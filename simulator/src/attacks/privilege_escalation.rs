//! An intrusion after the public recordings of it (Stratus Red Team's `iam-create-admin-user`,
//! `iam-backdoor-role`, `ec2-share-ebs-snapshot`, `secretsmanager-batch-retrieve-secrets`,
//! `cloudtrail-event-selectors`): the function's stolen credentials, from the attacker's
//! address and CLI, check who they are, create an IAM user, attach AdministratorAccess to it
//! and give it an access key; then that user, with its new key, checks itself, opens the
//! function's role to the attacker's account, shares a snapshot with it, reads every secret by
//! a catch-all filter and narrows the trail to read-only data events, in that order.

use super::*;
use crate::account::Api;

pub const ATTACK: Attack = Attack {
    kind: Kind::PrivilegeEscalation,
    description: "{function}'s stolen credentials, from {ip}, created an administrator user with an access key; that user opened the role to another account, shared a snapshot, read every secret and narrowed the trail",
    target: Target::WideRole,
    hour_of_day: None,
    by: By::Stolen {
        ip: ATTACKER_IPS[1],
        user_agent: ATTACKER_CLI,
    },
    calls: &[
        Call::once(Api::StsGetCallerIdentity, "", Granted::Always),
        Call::once(Api::IamCreateUser, "{role}-backup", Granted::IfWide),
        Call::once(
            Api::IamAttachUserPolicy,
            "{role}-backup|arn:aws:iam::aws:policy/AdministratorAccess",
            Granted::IfWide,
        ),
        Call::once(Api::IamCreateAccessKey, "{role}-backup", Granted::IfWide),
        Call::AsCreated {
            api: Api::StsGetCallerIdentity,
            resource: "",
        },
        Call::AsCreated {
            api: Api::IamUpdateAssumeRolePolicy,
            resource: "{role}|210987654321",
        },
        Call::AsCreated {
            api: Api::Ec2ModifySnapshotAttribute,
            resource: "snap-0a1b2c3d4e5f60718|210987654321",
        },
        Call::AsCreated {
            api: Api::SecretsBatchGetSecretValue,
            resource: "",
        },
        Call::AsCreated {
            api: Api::CloudTrailPutEventSelectors,
            resource: "{trail}",
        },
    ],
    step: Step::Every(23_000),
    hours: 0,
    behaviour: false,
    caught_by: &[
        "iam-persistence",
        "privilege-escalation",
        "resource-sharing",
        "secrets-mass-retrieval",
        "defense-evasion",
        "credentials-outside-lambda",
    ],
};
