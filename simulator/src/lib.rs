//! A simulated serverless AWS account (`trailhound simulate`), hour by hour, written as AWS
//! delivers it.
//!
//! Functions run with daily and weekly rhythms (or on schedules), cold starts create new
//! execution environments (new session credentials, a new log stream, another source address),
//! and each invocation makes its code's API calls as Lambda makes them. People and a CI
//! pipeline work around them. Attacks ([`attacks`], one file per kind) are injected at planned
//! hours and labelled.
//!
//! Output (under [`Options::out`]):
//! - `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/…json.gz`: CloudTrail delivery files,
//!   one per five minutes, and hourly digests under `CloudTrail-Digest/`;
//! - `lambda-logs/YYYY/MM/DD/HH/…gz`: CloudWatch Logs subscription payloads as Firehose delivers
//!   them, both Lambda log formats;
//! - `iam/account-authorization-details.json`;
//! - `iam/ground-truth.json`: what each role used;
//! - `labels.json`: the injected attacks ([`pipeline::labels::Labels`]).
//!
//! Everything is drawn from seeded generators: the same arguments give the same bytes. Days
//! are simulated in parallel ([`Options::threads`]): each day starts with every execution
//! environment cold (as after a nightly deploy) and draws from its hours' own generators, so a
//! day's output depends on the seed and the day alone, whatever the threads or
//! [`Options::only_days`].
//! [`upload`] puts a simulation where AWS would hold it (S3, CloudWatch Logs).

pub mod account;
pub mod attacks;
mod deliver;
mod error;
pub mod events;
pub mod iam;
pub mod ids;
pub mod logs;
mod traffic;
pub mod upload;

pub use error::{Error, Result};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use serde::Serialize;
use serde_json::{Value, json};

use account::{Account, Api};
use attacks::{By, Kind, Target};
use events::{Actor, Outcome, assumed_role, event, iso_seconds};
use logs::LogLine;
use pipeline::labels::{Attack as Label, LabelledFunction, Labels};
use traffic::{rhythm, user_agent};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// What to simulate, and where to write it.
#[derive(Debug, Clone)]
pub struct Options {
    pub out: PathBuf,
    pub functions: usize,
    /// Low-volume functions added to them: a few invocations an hour in working hours, sampled
    /// logs; the small anomalies (`error-handful`, `quiet-hour-activity`) hit only these.
    pub low_volume: usize,
    pub days: u32,
    pub seed: u64,
    /// The attacks to inject, in order (a kind may come more than once).
    pub attacks: Vec<Kind>,
    /// CloudTrail events a day, roughly (the functions' share scales to it).
    pub events_per_day: u64,
    /// The first simulated hour (milliseconds since the epoch, rounded down to the hour).
    pub start_ms: i64,
    pub account: String,
    pub region: String,
    /// Days simulated at once (0: one per CPU).
    pub threads: usize,
    /// Simulate only these days of the `days` (0-based, end excluded): a long simulation
    /// written a few days at a time (say, to ingest and delete each batch), whose days are the
    /// bytes the whole run writes. `labels.json` then holds the attacks of these days.
    pub only_days: Option<std::ops::Range<u32>>,
}

/// What a simulation wrote.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub out: String,
    pub functions: usize,
    pub days: u32,
    pub start: String,
    pub end: String,
    pub cloudtrail_events: u64,
    pub cloudtrail_files: u64,
    pub invocations: u64,
    pub log_lines: u64,
    pub log_files: u64,
    pub attacks: usize,
}

/// An execution environment of a function: its credentials, log stream and address.
#[derive(Debug, Clone)]
struct Env {
    key: String,
    created_ms: i64,
    last_ms: i64,
    stream: String,
    ip: String,
}

/// A planned attack.
#[derive(Debug, Clone)]
struct Plan {
    kind: Kind,
    function: usize,
    /// Hour index from the start.
    hour: i64,
    /// Minute of that hour.
    minute: i64,
    label: usize,
}

/// One hour's output being built.
struct Hour {
    /// (time, serialized record).
    cloudtrail: Vec<(i64, String)>,
    /// (function, stream) → lines.
    logs: BTreeMap<(usize, String), Vec<LogLine>>,
    invocations: u64,
}

#[derive(Clone)]
struct Sim<'a> {
    opts: &'a Options,
    account: Account,
    envs: Vec<Option<Env>>,
    plans: Vec<Plan>,
    labels: Vec<Label>,
    summary: Summary,
    /// Cumulative daily traffic factor per on-demand invocation, to reach `events_per_day`.
    scale: f64,
    delivered_control_message: bool,
    /// Per role ARN, the IAM actions its sessions called successfully: the ground truth of
    /// what each role used (`iam/ground-truth.json`).
    used: std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
}

/// Simulate the account of `opts` into `opts.out`.
pub fn run(opts: &Options) -> Result<Summary> {
    if opts.functions == 0 {
        return Err(Error::TooFew {
            option: "--functions",
        });
    }
    if opts.days == 0 {
        return Err(Error::TooFew { option: "--days" });
    }
    if opts.low_volume == 0
        && let Some(k) = opts
            .attacks
            .iter()
            .find(|k| attacks::SMALL_KINDS.contains(k))
    {
        return Err(Error::NeedsLowVolume { attack: k.name() });
    }
    let days = match &opts.only_days {
        Some(r) if r.start >= r.end || r.end > opts.days => {
            return Err(Error::DayRange {
                first: r.start + 1,
                last: r.end,
                days: opts.days,
            });
        }
        Some(r) => r.clone(),
        None => 0..opts.days,
    };
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io("creating", &opts.out, e))?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let account = account::build(
        &mut rng,
        opts.functions,
        opts.low_volume,
        &opts.account,
        &opts.region,
    );
    let start_ms = opts.start_ms - opts.start_ms.rem_euclid(HOUR_MS);
    let hours = i64::from(opts.days) * 24;
    let mut sim = Sim {
        opts,
        envs: vec![None; account.functions.len()],
        plans: Vec::new(),
        labels: Vec::new(),
        summary: Summary {
            out: opts.out.display().to_string(),
            functions: opts.functions,
            days: days.len() as u32,
            start: iso_seconds(start_ms + i64::from(days.start) * DAY_MS),
            end: iso_seconds(start_ms + i64::from(days.end) * DAY_MS),
            ..Summary::default()
        },
        scale: 1.0,
        delivered_control_message: false,
        used: Default::default(),
        account,
    };
    sim.scale = sim.volume_scale();
    sim.plan_attacks(&mut rng, hours);

    for day in simulate_days(&sim, start_ms, days, opts.threads)? {
        sim.merge(day);
    }

    let iam = iam::authorization_details(&sim.account, "2025-06-01 09:00:00+00:00");
    write_file(
        &opts.out.join("iam/account-authorization-details.json"),
        &pretty(&iam),
    )?;
    // What each role was granted (its policies' action patterns) and used: the ground truth
    // a least-privilege report must reproduce.
    let truth: serde_json::Map<String, Value> = iam["RoleDetailList"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let arn = r["Arn"].as_str()?.to_string();
            let used: Vec<&String> = sim.used.get(&arn).into_iter().flatten().collect();
            Some((arn, json!({"used": used})))
        })
        .collect();
    write_file(
        &opts.out.join("iam/ground-truth.json"),
        &pretty(&json!({"start": sim.summary.start, "end": sim.summary.end, "roles": truth})),
    )?;
    let labels = Labels {
        seed: opts.seed,
        account_id: opts.account.clone(),
        region: opts.region.clone(),
        start: sim.summary.start.clone(),
        end: sim.summary.end.clone(),
        functions: sim
            .account
            .functions
            .iter()
            .map(|f| LabelledFunction {
                name: f.name.clone(),
                role: sim.account.role_of(f).arn(&opts.account),
                runtime: f.runtime.id().to_string(),
                log_format: if f.json_logs { "json" } else { "text" }.to_string(),
                over_permissioned: sim.account.role_of(f).over_permissioned,
            })
            .collect(),
        // Attacks of days not simulated (with --only-days) have no events: left out.
        attacks: std::mem::take(&mut sim.labels)
            .into_iter()
            .filter(|l| !l.start.is_empty())
            .collect(),
    };
    write_file(&opts.out.join("labels.json"), &labels.to_json())?;
    sim.summary.attacks = labels.attacks.len();
    Ok(sim.summary)
}

/// Simulate `days` on `threads` threads, each day from `base` with cold environments; the
/// days' states in day order, for [`Sim::merge`].
fn simulate_days<'a>(
    base: &Sim<'a>,
    start_ms: i64,
    days: std::ops::Range<u32>,
    threads: usize,
) -> Result<Vec<Sim<'a>>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(days.len())
    .max(1);
    let next = AtomicU32::new(days.start);
    let failed = AtomicBool::new(false);
    let done: Mutex<Vec<(u32, Result<Sim<'a>>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let day = next.fetch_add(1, Ordering::Relaxed);
                    if day >= days.end {
                        break;
                    }
                    let r = base.day(day, start_ms);
                    failed.fetch_or(r.is_err(), Ordering::Relaxed);
                    done.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((day, r));
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_by_key(|(day, _)| *day);
    done.into_iter().map(|(_, r)| r).collect()
}

fn pretty(v: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).unwrap_or_default()
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| Error::io("writing", path, e))
}

impl Sim<'_> {
    /// Simulate day `day` (0-based) from this state with every environment cold; the state
    /// after it (its labels, counts and calls made, to [`Sim::merge`] into the run's).
    fn day(&self, day: u32, start_ms: i64) -> Result<Self> {
        let mut sim = self.clone();
        sim.envs = vec![None; sim.account.functions.len()];
        sim.summary = Summary::default();
        sim.used = Default::default();
        // CloudWatch Logs sends its control message once, as a destination is set up.
        sim.delivered_control_message = day > 0;
        let seed = self.opts.seed;
        for h in i64::from(day) * 24..(i64::from(day) + 1) * 24 {
            let hour_start = start_ms + h * HOUR_MS;
            let mut hrng = ChaCha8Rng::seed_from_u64(
                seed ^ (h as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let mut hour = Hour {
                cloudtrail: Vec::new(),
                logs: BTreeMap::new(),
                invocations: 0,
            };
            let regular = sim.account.regular().len();
            for fi in 0..regular {
                sim.function_hour(fi, h, hour_start, &mut hrng, &mut hour);
            }
            // The low-volume functions draw from their own generator: the rest of the account
            // is the same with or without them.
            let mut lrng = ChaCha8Rng::seed_from_u64(
                seed ^ (h as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            );
            for fi in regular..sim.account.functions.len() {
                sim.low_volume_hour(fi, h, hour_start, &mut lrng, &mut hour);
            }
            sim.people_hour(hour_start, &mut hrng, &mut hour);
            let due: Vec<Plan> = sim.plans.iter().filter(|p| p.hour == h).cloned().collect();
            for p in due {
                sim.inject(&p, hour_start, &mut hrng, &mut hour);
            }
            sim.write_hour(hour_start, &mut hrng, hour)?;
        }
        Ok(sim)
    }

    /// Add what a day simulated from this state ([`Sim::day`]) found: days merged in order
    /// give the labels, counts and calls of one run through them.
    fn merge(&mut self, day: Sim<'_>) {
        let (s, d) = (&mut self.summary, day.summary);
        s.cloudtrail_events += d.cloudtrail_events;
        s.cloudtrail_files += d.cloudtrail_files;
        s.invocations += d.invocations;
        s.log_lines += d.log_lines;
        s.log_files += d.log_files;
        for (role, actions) in day.used {
            self.used.entry(role).or_default().extend(actions);
        }
        for (into, from) in self.labels.iter_mut().zip(day.labels) {
            // The attack's own hour sets what it is; later hours of it add events.
            if !from.description.is_empty() {
                into.description = from.description;
                into.source_ips = from.source_ips;
                into.access_key_id = from.access_key_id;
            }
            into.event_ids.extend(from.event_ids);
            into.request_ids.extend(from.request_ids);
            if !from.start.is_empty() && (into.start.is_empty() || from.start < into.start) {
                into.start = from.start;
            }
            if from.end > into.end {
                into.end = from.end;
            }
        }
    }

    /// The factor on on-demand traffic that brings a day to about `events_per_day` events.
    fn volume_scale(&self) -> f64 {
        // A day's traffic on average over a week (weekends are quieter).
        let day_rhythm: f64 = (0..7 * 24).map(|h| rhythm(h * HOUR_MS)).sum::<f64>() / 7.0;
        let mut scheduled = 0.0;
        let mut on_demand = 0.0;
        for f in self.account.regular() {
            let per_call: f64 = f.calls.iter().map(|c| c.p).sum::<f64>() + 0.1;
            match f.schedule_minutes {
                Some(m) => scheduled += 24.0 * 60.0 / f64::from(m) * per_call,
                None => on_demand += f.peak_per_hour * day_rhythm * per_call,
            }
        }
        let want = self.opts.events_per_day as f64 - scheduled;
        if on_demand <= 0.0 {
            1.0
        } else {
            (want / on_demand).max(0.01)
        }
    }

    fn plan_attacks(&mut self, rng: &mut ChaCha8Rng, hours: i64) {
        let days = hours / 24;
        let first_day = days / 2;
        let span = (days - first_day).max(1);
        let nf = self.account.regular().len();
        let mut used: Vec<usize> = Vec::new();
        for (i, kind) in self.opts.attacks.iter().enumerate() {
            let wide: Vec<usize> = (0..nf)
                .filter(|&f| {
                    self.account
                        .role_of(&self.account.functions[f])
                        .over_permissioned
                })
                .collect();
            let on_demand: Vec<usize> = (0..nf)
                .filter(|&f| self.account.functions[f].schedule_minutes.is_none())
                .collect();
            let attack = attacks::attack(*kind);
            let mut candidates: Vec<usize> = match attack.target {
                Target::WideRole if !wide.is_empty() => wide,
                Target::OnDemand if !on_demand.is_empty() => on_demand,
                Target::Calling => (0..nf)
                    .filter(|&f| !self.account.functions[f].calls.is_empty())
                    .collect(),
                Target::LowVolume => (nf..self.account.functions.len()).collect(),
                _ => (0..nf).collect(),
            };
            // Spread attacks over functions when there are enough.
            if candidates.iter().any(|c| !used.contains(c)) {
                candidates.retain(|c| !used.contains(c));
            }
            let function = *candidates.choose(rng).unwrap_or(&0);
            used.push(function);
            let day = first_day + (i as i64 % span);
            // Most by day; a few at night (see each attack's hour).
            let hod = attack
                .hour_of_day
                .unwrap_or([10, 14, 16, 11, 13, 15, 9, 12][i % 8]);
            let hour = (day * 24 + hod).min(hours - 1);
            let f = &self.account.functions[function];
            let role = self.account.role_of(f);
            self.labels.push(Label {
                id: format!("attack-{:02}-{}", i + 1, kind.name()),
                kind: *kind,
                description: String::new(),
                mitre: kind.mitre().iter().map(|m| m.to_string()).collect(),
                principal: role.arn(&self.opts.account),
                function: f.name.clone(),
                start: String::new(),
                end: String::new(),
                event_ids: Vec::new(),
                request_ids: Vec::new(),
                source_ips: Vec::new(),
                access_key_id: None,
            });
            self.plans.push(Plan {
                kind: *kind,
                function,
                hour,
                minute: rng.random_range(5..40),
                label: self.labels.len() - 1,
            });
        }
    }

    /// The plan of `kind` on function `fi` active at hour `h` (within its attack's hours), if
    /// any.
    fn active(&self, fi: usize, h: i64, kind: Kind) -> Option<&Plan> {
        let hours = attacks::attack(kind).hours;
        self.plans
            .iter()
            .find(|p| p.function == fi && p.kind == kind && h >= p.hour && h < p.hour + hours)
    }

    fn actor_for(&self, fi: usize, env: &Env, api: Api) -> Actor {
        let f = &self.account.functions[fi];
        let role = self.account.role_of(f);
        Actor {
            identity: assumed_role(
                &self.opts.account,
                &role.arn(&self.opts.account),
                &role.name,
                &role.id,
                &f.name,
                &env.key,
                env.created_ms,
                false,
            ),
            ip: env.ip.clone(),
            user_agent: user_agent(f.runtime, api),
        }
    }

    fn record(&mut self, hour: &mut Hour, ev: &Value, at: i64) -> String {
        let id = ev["eventID"].as_str().unwrap_or("").to_string();
        hour.cloudtrail.push((at, ev.to_string()));
        self.summary.cloudtrail_events += 1;
        id
    }

    /// One CloudTrail event of `api` on `resource` by `actor` at `at`, in this account and
    /// region, recorded in `hour`; its event id.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        hour: &mut Hour,
        rng: &mut ChaCha8Rng,
        api: Api,
        resource: &str,
        actor: &Actor,
        at: i64,
        outcome: Outcome,
    ) -> String {
        let ev = self.emit_event(hour, rng, api, resource, actor, at, outcome);
        ev["eventID"].as_str().unwrap_or("").to_string()
    }

    /// [`Self::emit`], returning the whole event.
    #[allow(clippy::too_many_arguments)]
    fn emit_event(
        &mut self,
        hour: &mut Hour,
        rng: &mut ChaCha8Rng,
        api: Api,
        resource: &str,
        actor: &Actor,
        at: i64,
        outcome: Outcome,
    ) -> Value {
        let ev = event(
            rng,
            api,
            resource,
            actor,
            at,
            &self.opts.account,
            &self.opts.region,
            outcome,
        );
        if outcome == Outcome::Ok
            && actor.identity["type"] == "AssumedRole"
            && let Some(role) = actor.identity["sessionContext"]["sessionIssuer"]["arn"].as_str()
        {
            let used = self.used.entry(role.to_string()).or_default();
            used.insert(api.names().2.to_string());
            // Creating a function hands it a role: IAM checks iam:PassRole too.
            if api == Api::LambdaCreateFunction {
                used.insert("iam:PassRole".to_string());
            }
        }
        self.record(hour, &ev, at);
        ev
    }

    fn widen(&mut self, label: usize, from: i64, to: i64) {
        let l = &mut self.labels[label];
        let (from, to) = (iso_seconds(from), iso_seconds(to));
        if l.start.is_empty() || from < l.start {
            l.start = from;
        }
        if l.end.is_empty() || to > l.end {
            l.end = to;
        }
    }

    /// An attack: the CloudTrail calls of its table, and its label.
    fn inject(&mut self, p: &Plan, hour_start: i64, rng: &mut ChaCha8Rng, hour: &mut Hour) {
        let attack = attacks::attack(p.kind);
        let fi = p.function;
        let f = self.account.functions[fi].clone();
        let role = self.account.role_of(&f).clone();
        let acct = self.opts.account.clone();
        let t0 = hour_start + p.minute * 60_000;
        // The function's current credentials (an environment exists once it has run; one is
        // made up when the attack comes before its first run).
        let env = match &self.envs[fi] {
            Some(e) => e.clone(),
            None => {
                let e = Env {
                    key: ids::session_key(rng),
                    created_ms: t0 - 600_000,
                    last_ms: t0 - 600_000,
                    stream: String::new(),
                    ip: self.account.lambda_ips.first().cloned().unwrap_or_default(),
                };
                self.envs[fi] = Some(e.clone());
                e
            }
        };
        // A burst: five times the function's busiest ten minutes' calls, and at least
        // API_BURST_CALLS.
        let per_call: f64 = f.calls.iter().map(|c| c.p).sum();
        let usual = f.peak_per_hour * self.scale * per_call / 6.0;
        let burst = ((usual * 5.0) as usize).max(attacks::API_BURST_CALLS);
        let role_arn = role.arn(&acct);
        let other = self
            .account
            .functions
            .iter()
            .find(|o| o.name != f.name)
            .map_or(f.name.as_str(), |o| o.name.as_str());
        let calls = attack.calls(&attacks::Victim {
            function: &f,
            other_function: other,
            role: &role.name,
            role_arn: &role_arn,
            trail: &self.account.trail_name,
            wide: role.over_permissioned,
            burst,
        });
        let label = &mut self.labels[p.label];
        label.description = attack.describe(&f.name, calls.len());
        (label.source_ips, label.access_key_id) = match attack.by {
            By::Stolen { ip, .. } => (vec![ip.to_string()], Some(env.key.clone())),
            By::Function => (Vec::new(), Some(env.key.clone())),
            By::Invocations => (Vec::new(), None),
        };
        let step = match attack.step {
            attacks::Step::Every(ms) => ms,
            attacks::Step::TenMinutes => 600_000 / calls.len().max(1) as i64,
        };
        // The IAM user the attack created and the key it gave it, once both exist.
        let mut created: (Option<String>, Option<String>) = (None, None);
        for (i, (api, resource, granted, as_created)) in calls.into_iter().enumerate() {
            let actor = if as_created {
                let (Some(user), Some(key)) = (&created.0, &created.1) else {
                    continue;
                };
                let ip = match attack.by {
                    By::Stolen { ip, .. } => ip,
                    _ => attacks::ATTACKER_IPS[0],
                };
                Actor {
                    identity: serde_json::json!({
                        "type": "IAMUser",
                        "principalId": format!("AIDA{}", &key[4..]),
                        "arn": format!("arn:aws:iam::{acct}:user/{user}"),
                        "accountId": acct,
                        "accessKeyId": key,
                        "userName": user,
                    }),
                    ip: ip.to_string(),
                    user_agent: attacks::ATTACKER_SDK.to_string(),
                }
            } else {
                match attack.by {
                    // The function's own credentials, used from elsewhere.
                    By::Stolen { ip, user_agent } => Actor {
                        ip: ip.to_string(),
                        user_agent: user_agent.to_string(),
                        ..self.actor_for(fi, &env, api)
                    },
                    _ => self.actor_for(fi, &env, api),
                }
            };
            let outcome = if granted {
                Outcome::Ok
            } else {
                Outcome::AccessDenied
            };
            let at = t0 + i as i64 * step + rng.random_range(0..3_000);
            let ev = self.emit_event(hour, rng, api, &resource, &actor, at, outcome);
            if outcome == Outcome::Ok && !as_created {
                match api {
                    Api::IamCreateUser => created.0 = Some(resource.clone()),
                    Api::IamCreateAccessKey => {
                        created.1 = ev["responseElements"]["accessKey"]["accessKeyId"]
                            .as_str()
                            .map(str::to_string)
                    }
                    _ => {}
                }
            }
            let id = ev["eventID"].as_str().unwrap_or("").to_string();
            self.labels[p.label].event_ids.push(id);
            self.widen(p.label, at, at);
        }
    }
}
