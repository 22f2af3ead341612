//! The IAM action catalogue: every action of every service with its access level and risk
//! flags (`detectors/data/iam-actions.tsv`, derived from the Service Authorization Reference
//! by `tools/derive-iam-catalogue.py`; see NOTICE). Policy patterns (`s3:Get*`, `*`,
//! `iam:?etRole`) expand against it, case-insensitively as IAM matches them.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::LazyLock;

use fixedbitset::FixedBitSet;

use crate::udf::iam_match::iam_match;

const DATA: &str = include_str!("../../data/iam-actions.tsv");

/// How AWS classifies what an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Level {
    List,
    Read,
    Tagging,
    Write,
    #[serde(rename = "Permissions management")]
    PermissionsManagement,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::List => "List",
            Level::Read => "Read",
            Level::Tagging => "Tagging",
            Level::Write => "Write",
            Level::PermissionsManagement => "Permissions management",
        }
    }
}

/// One action of the catalogue.
#[derive(Debug, Clone)]
pub struct Action {
    /// `service:Name`, as AWS spells it.
    pub name: &'static str,
    pub level: Level,
    /// The action can be used to gain more privileges (PassRole, CreateAccessKey, …).
    pub privilege_escalation: bool,
    pub credentials_exposure: bool,
    pub resource_exposure: bool,
}

impl Action {
    pub fn service(&self) -> &'static str {
        self.name.split(':').next().unwrap_or(self.name)
    }

    /// Worth removing first when unused: it changes things, permissions above all.
    pub fn sensitive(&self) -> bool {
        self.privilege_escalation
            || matches!(self.level, Level::Write | Level::PermissionsManagement)
    }
}

/// Every known action, sorted by lower-case name (so each service is one run).
pub struct Catalogue {
    actions: Vec<Action>,
    index: HashMap<String, usize>,
    services: HashMap<String, Range<usize>>,
}

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| Catalogue::parse(DATA));

/// The catalogue the binary ships.
pub fn catalogue() -> &'static Catalogue {
    &CATALOGUE
}

impl Catalogue {
    fn parse(text: &'static str) -> Catalogue {
        let mut actions: Vec<Action> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let mut f = l.split('\t');
                let (name, level, flags) = (f.next()?, f.next()?, f.next().unwrap_or(""));
                let level = match level {
                    "L" => Level::List,
                    "R" => Level::Read,
                    "T" => Level::Tagging,
                    "W" => Level::Write,
                    "P" => Level::PermissionsManagement,
                    _ => return None,
                };
                Some(Action {
                    name,
                    level,
                    privilege_escalation: flags.contains('e'),
                    credentials_exposure: flags.contains('c'),
                    resource_exposure: flags.contains('x'),
                })
            })
            .collect();
        actions.sort_by_key(|a| a.name.to_ascii_lowercase());
        let index = actions
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.to_ascii_lowercase(), i))
            .collect();
        let mut services: HashMap<String, Range<usize>> = HashMap::new();
        for (i, a) in actions.iter().enumerate() {
            services
                .entry(a.service().to_ascii_lowercase())
                .and_modify(|r| r.end = i + 1)
                .or_insert(i..i + 1);
        }
        Catalogue {
            actions,
            index,
            services,
        }
    }

    pub fn len(&self) -> usize {
        self.actions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    pub fn get(&self, i: usize) -> &Action {
        &self.actions[i]
    }

    /// The catalogue's entry for an action name, ignoring case.
    pub fn find(&self, action: &str) -> Option<usize> {
        self.index.get(&action.to_ascii_lowercase()).copied()
    }

    /// How many actions a service has (by prefix, any case).
    pub fn service_len(&self, service: &str) -> usize {
        self.services
            .get(&service.to_ascii_lowercase())
            .map_or(0, |r| r.len())
    }

    /// An empty set of actions.
    pub fn empty_set(&self) -> FixedBitSet {
        FixedBitSet::with_capacity(self.actions.len())
    }

    /// The catalogue's actions a pattern matches. A pattern with a wildcard in its service
    /// part, or `*`, is matched against every action; otherwise only its service's.
    pub fn expand(&self, pattern: &str) -> FixedBitSet {
        let mut set = self.empty_set();
        let pattern = pattern.trim();
        if pattern == "*" {
            set.insert_range(..);
            return set;
        }
        let range = match pattern.split_once(':') {
            Some((service, _)) if !service.contains(['*', '?']) => {
                match self.services.get(&service.to_ascii_lowercase()) {
                    Some(r) => r.clone(),
                    None => return set,
                }
            }
            _ => 0..self.actions.len(),
        };
        if !pattern.contains(['*', '?']) {
            if let Some(i) = self.find(pattern) {
                set.insert(i);
            }
            return set;
        }
        for i in range {
            if iam_match(pattern, self.actions[i].name) {
                set.insert(i);
            }
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_expand_against_the_catalogue() {
        let c = catalogue();
        assert!(c.len() > 20_000, "{}", c.len());
        assert_eq!(c.expand("*").count_ones(..), c.len());
        let gets = c.expand("s3:Get*");
        assert!(gets.count_ones(..) > 50);
        assert!(gets.ones().all(|i| c.get(i).name.starts_with("s3:Get")));
        assert!(gets.contains(c.find("s3:GetObject").unwrap()));
        // Case does not matter, `?` is one character.
        assert_eq!(
            c.expand("S3:getobject").ones().collect::<Vec<_>>(),
            vec![c.find("s3:GetObject").unwrap()]
        );
        let q = c.expand("iam:?etRole");
        assert!(q.contains(c.find("iam:GetRole").unwrap()));
        assert_eq!(q.count_ones(..), 1);
        // A wildcard in the service part.
        assert!(
            c.expand("*:PassRole")
                .contains(c.find("iam:PassRole").unwrap())
        );
        // Unknown services and actions match nothing.
        assert_eq!(c.expand("nosuchservice:*").count_ones(..), 0);
        assert_eq!(c.expand("s3:NoSuchAction").count_ones(..), 0);
        let pass = c.get(c.find("iam:PassRole").unwrap());
        assert!(pass.privilege_escalation && pass.sensitive());
        assert_eq!(
            c.get(c.find("s3:ListAllMyBuckets").unwrap()).level,
            Level::List
        );
    }
}
