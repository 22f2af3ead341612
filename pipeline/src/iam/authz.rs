//! `aws iam get-account-authorization-details` output, as the CLI prints it (policy documents
//! as JSON objects) or as the API returns it (documents URL-encoded JSON text), and the policy
//! documents inside it, read leniently: a field of an unexpected shape makes that statement
//! unreadable (reported with the principal and policy it came from), never the whole file.

use serde::Deserialize;
use serde_json::Value;

/// The parts of an authorization-details document trailhound reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AuthorizationDetails {
    pub user_detail_list: Vec<User>,
    pub group_detail_list: Vec<Group>,
    pub role_detail_list: Vec<Role>,
    pub policies: Vec<ManagedPolicy>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct User {
    pub user_name: String,
    pub arn: String,
    pub user_policy_list: Vec<InlinePolicy>,
    pub group_list: Vec<String>,
    pub attached_managed_policies: Vec<AttachedPolicy>,
    pub permissions_boundary: Option<Boundary>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Group {
    pub group_name: String,
    pub arn: String,
    pub group_policy_list: Vec<InlinePolicy>,
    pub attached_managed_policies: Vec<AttachedPolicy>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Role {
    pub role_name: String,
    pub arn: String,
    pub assume_role_policy_document: Option<Value>,
    pub role_policy_list: Vec<InlinePolicy>,
    pub attached_managed_policies: Vec<AttachedPolicy>,
    pub permissions_boundary: Option<Boundary>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InlinePolicy {
    pub policy_name: String,
    pub policy_document: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AttachedPolicy {
    pub policy_name: String,
    pub policy_arn: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Boundary {
    pub permissions_boundary_arn: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ManagedPolicy {
    pub policy_name: String,
    pub arn: String,
    pub default_version_id: Option<String>,
    pub policy_version_list: Vec<PolicyVersion>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PolicyVersion {
    pub document: Option<Value>,
    pub version_id: String,
    pub is_default_version: bool,
}

impl ManagedPolicy {
    /// The document of the default version.
    pub fn default_document(&self) -> Option<&Value> {
        self.policy_version_list
            .iter()
            .find(|v| {
                v.is_default_version || self.default_version_id.as_deref() == Some(&v.version_id)
            })
            .and_then(|v| v.document.as_ref())
    }
}

/// One statement of a policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    /// `Allow` or `Deny`.
    pub effect: String,
    /// The action patterns, and whether they are `NotAction` (everything but these).
    pub actions: Vec<String>,
    pub not_action: bool,
    /// JSON arrays of the `Resource` / `NotResource` patterns, as written.
    pub resources: Option<Vec<String>>,
    pub not_resources: Option<Vec<String>>,
    /// The `Condition` block, JSON text.
    pub condition: Option<String>,
    /// The `Principal` block (trust policies), JSON text.
    pub principal: Option<String>,
}

/// A policy document from a JSON value: an object, JSON text, or URL-encoded JSON text.
pub fn document(value: &Value) -> Result<Value, String> {
    match value {
        Value::Object(_) => Ok(value.clone()),
        Value::String(text) => {
            let text = text.trim();
            let decoded;
            let json = if text.starts_with('{') {
                text
            } else {
                decoded = percent_decode(text)?;
                decoded.as_str()
            };
            serde_json::from_str(json).map_err(|e| format!("policy document is not JSON: {e}"))
        }
        other => Err(format!(
            "policy document is {}, not an object",
            kind_of(other)
        )),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        format!("bad percent escape at byte {i} of the policy document")
                    })?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "policy document is not UTF-8 once decoded".into())
}

/// A string or an array of strings (IAM allows both for Action, Resource, …).
fn strings(v: &Value, field: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!("{field} holds {}, not a string", kind_of(other))),
            })
            .collect(),
        other => Err(format!(
            "{field} is {}, not a string or a list",
            kind_of(other)
        )),
    }
}

/// The statements of a policy document; each unreadable statement is an `Err` with the reason,
/// the others are read.
pub fn statements(doc: &Value) -> Vec<Result<Statement, String>> {
    let list = match doc.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        Some(other) => return vec![Err(format!("Statement is {}", kind_of(other)))],
        None => return vec![],
    };
    list.into_iter().map(statement).collect()
}

fn statement(v: &Value) -> Result<Statement, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("a statement is {}, not an object", kind_of(v)))?;
    let effect = match obj.get("Effect") {
        Some(Value::String(e)) if e == "Allow" || e == "Deny" => e.clone(),
        Some(other) => return Err(format!("Effect is {other}, not Allow or Deny")),
        None => return Err("statement without Effect".into()),
    };
    let (actions, not_action) = match (obj.get("Action"), obj.get("NotAction")) {
        (Some(a), None) => (strings(a, "Action")?, false),
        (None, Some(a)) => (strings(a, "NotAction")?, true),
        (Some(_), Some(_)) => return Err("statement has both Action and NotAction".into()),
        (None, None) => return Err("statement has neither Action nor NotAction".into()),
    };
    let resources = obj
        .get("Resource")
        .map(|r| strings(r, "Resource"))
        .transpose()?;
    let not_resources = obj
        .get("NotResource")
        .map(|r| strings(r, "NotResource"))
        .transpose()?;
    let text = |k: &str| obj.get(k).map(|c| c.to_string());
    Ok(Statement {
        sid: obj.get("Sid").and_then(|s| s.as_str()).map(str::to_string),
        effect,
        actions,
        not_action,
        resources,
        not_resources,
        condition: text("Condition"),
        principal: text("Principal"),
    })
}

/// The services a role's trust policy lets assume it (`lambda.amazonaws.com`, …), sorted.
pub fn trusted_services(trust: Option<&Value>) -> Vec<String> {
    let Some(doc) = trust.and_then(|t| document(t).ok()) else {
        return Vec::new();
    };
    let mut out: Vec<String> = statements(&doc)
        .into_iter()
        .flatten()
        .filter(|s| s.effect == "Allow")
        .filter_map(|s| s.principal)
        .filter_map(|p| serde_json::from_str::<Value>(&p).ok())
        .filter_map(|p| p.get("Service").cloned())
        .flat_map(|s| strings(&s, "Service").unwrap_or_default())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_in_every_encoding() {
        let object =
            json!({"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}});
        let text = object.to_string();
        let encoded = "%7B%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGetObject%22%2C%22Resource%22%3A%22%2A%22%7D%7D";
        for v in [object.clone(), json!(text), json!(encoded)] {
            let doc = document(&v).unwrap();
            let s = statements(&doc);
            assert_eq!(s.len(), 1);
            let s = s[0].as_ref().unwrap();
            assert_eq!(s.actions, vec!["s3:GetObject"]);
            assert_eq!(s.resources.as_deref(), Some(&["*".to_string()][..]));
        }
        assert!(document(&json!(42)).is_err());
        assert!(document(&json!("%ZZ")).is_err());
    }

    #[test]
    fn a_bad_statement_leaves_the_others() {
        let doc = json!({"Statement": [
            {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"},
            {"Effect": "Maybe", "Action": "s3:*"},
            {"Effect": "Deny", "Action": ["s3:DeleteBucket"], "Resource": ["arn:aws:s3:::a", "arn:aws:s3:::b"],
             "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}},
            {"Effect": "Allow", "Action": 7}
        ]});
        let s = statements(&doc);
        assert_eq!(s.len(), 4);
        let first = s[0].as_ref().unwrap();
        assert!(first.not_action);
        assert_eq!(first.actions, vec!["iam:*", "organizations:*"]);
        assert!(s[1].as_ref().unwrap_err().contains("Effect"));
        let third = s[2].as_ref().unwrap();
        assert_eq!(third.effect, "Deny");
        assert!(
            third
                .condition
                .as_deref()
                .unwrap()
                .contains("MultiFactorAuthPresent")
        );
        assert!(s[3].as_ref().unwrap_err().contains("Action is a number"));
    }

    #[test]
    fn trust_policy_services() {
        let trust = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole"}
        ]});
        assert_eq!(
            trusted_services(Some(&trust)),
            vec!["edgelambda.amazonaws.com", "lambda.amazonaws.com"]
        );
        assert!(trusted_services(None).is_empty());
    }
}
