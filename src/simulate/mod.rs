//! `trailhound simulate`: a serverless AWS account, hour by hour, written as AWS delivers it.
//!
//! Functions run with daily and weekly rhythms (or on schedules), cold starts create new
//! execution environments (new session credentials, a new log stream, another source address),
//! and each invocation makes its code's API calls as Lambda makes them. People and a CI
//! pipeline work around them. Attacks ([`attacks`]) are injected at planned hours and labelled.
//!
//! Output (under `--out`):
//! - `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/…json.gz`: CloudTrail delivery files,
//!   one per five minutes, and hourly digests under `CloudTrail-Digest/`;
//! - `lambda-logs/YYYY/MM/DD/HH/…gz`: CloudWatch Logs subscription payloads as Firehose delivers
//!   them, both Lambda log formats;
//! - `iam/account-authorization-details.json`;
//! - `labels.json`: the injected attacks.
//!
//! Everything is drawn from one seeded generator: the same arguments give the same bytes.

pub mod account;
pub mod attacks;
pub mod events;
pub mod iam;
pub mod ids;
pub mod logs;
pub mod upload;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Poisson};
use serde::Serialize;
use serde_json::{Value, json};

use account::{Account, Api, Function, Runtime};
use attacks::{Kind, Label};
use events::{Actor, Outcome, assumed_role, event, iso_seconds};
use logs::{End, Invocation, LogLine};

const HOUR_MS: i64 = 3_600_000;
const ATTACKER_IPS: [&str; 2] = ["203.0.113.50", "198.51.100.23"];
const ATTACKER_CLI: &str = "aws-cli/2.15.30 Python/3.11.8 Linux/6.6.9-amd64 exe/x86_64.kali.2024 prompt/off command/sts.get-caller-identity";
const ATTACKER_SDK: &str = "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux#6.1.0-27-amd64 md/arch#x86_64 lang/python#3.11.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.0";
/// The fewest calls of an `api-burst` (in ten minutes).
const API_BURST_CALLS: usize = 300;
const FOREIGN_LAYER: &str = "arn:aws:lambda:us-east-1:210987654321:layer:telemetry-ext:3";

#[derive(Debug, Clone)]
pub struct Options {
    pub out: PathBuf,
    pub functions: usize,
    pub days: u32,
    pub seed: u64,
    pub attacks: Vec<Kind>,
    /// CloudTrail events a day, roughly (the functions' share scales to it).
    pub events_per_day: u64,
    /// The first simulated hour (milliseconds since the epoch, rounded down to the hour).
    pub start_ms: i64,
    pub account: String,
    pub region: String,
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

pub fn run(opts: &Options) -> anyhow::Result<Summary> {
    anyhow::ensure!(opts.functions > 0, "--functions must be at least 1");
    anyhow::ensure!(opts.days > 0, "--days must be at least 1");
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let account = account::build(&mut rng, opts.functions, &opts.account, &opts.region);
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
            days: opts.days,
            start: iso_seconds(start_ms),
            end: iso_seconds(start_ms + hours * HOUR_MS),
            ..Summary::default()
        },
        scale: 1.0,
        delivered_control_message: false,
        used: Default::default(),
        account,
    };
    sim.scale = sim.volume_scale();
    sim.plan_attacks(&mut rng, hours);

    for h in 0..hours {
        let hour_start = start_ms + h * HOUR_MS;
        let mut hrng = ChaCha8Rng::seed_from_u64(
            opts.seed ^ (h as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut hour = Hour {
            cloudtrail: Vec::new(),
            logs: BTreeMap::new(),
            invocations: 0,
        };
        for fi in 0..sim.account.functions.len() {
            sim.function_hour(fi, h, hour_start, &mut hrng, &mut hour);
        }
        sim.people_hour(hour_start, &mut hrng, &mut hour);
        let due: Vec<Plan> = sim.plans.iter().filter(|p| p.hour == h).cloned().collect();
        for p in due {
            sim.inject(&p, hour_start, &mut hrng, &mut hour);
        }
        sim.write_hour(hour_start, &mut hrng, hour)?;
    }

    let iam = iam::authorization_details(&sim.account, "2025-06-01 09:00:00+00:00");
    write_file(
        &opts.out.join("iam/account-authorization-details.json"),
        &serde_json::to_vec_pretty(&iam)?,
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
        &serde_json::to_vec_pretty(
            &json!({"start": sim.summary.start, "end": sim.summary.end, "roles": truth}),
        )?,
    )?;
    let labels = json!({
        "seed": opts.seed,
        "account_id": opts.account,
        "region": opts.region,
        "start": sim.summary.start,
        "end": sim.summary.end,
        "functions": sim.account.functions.iter().map(|f| json!({
            "name": f.name,
            "role": sim.account.role_of(f).arn(&opts.account),
            "runtime": f.runtime.id(),
            "log_format": if f.json_logs { "json" } else { "text" },
            "over_permissioned": sim.account.role_of(f).over_permissioned,
        })).collect::<Vec<_>>(),
        "attacks": sim.labels,
    });
    write_file(
        &opts.out.join("labels.json"),
        &serde_json::to_vec_pretty(&labels)?,
    )?;
    sim.summary.attacks = sim.labels.len();
    Ok(sim.summary)
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    // No name and no modification time in the header: the same input gives the same bytes.
    let mut e = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

/// How busy on-demand functions are at an hour: a working-day peak in the afternoon (UTC),
/// quiet nights, half the traffic at weekends.
fn rhythm(hour_start: i64) -> f64 {
    let hod = (hour_start / HOUR_MS).rem_euclid(24) as f64;
    let day = hour_start.div_euclid(24 * HOUR_MS);
    // 1970-01-01 was a Thursday: day 2 and 3 of each week are Saturday and Sunday.
    let weekend = matches!(day.rem_euclid(7), 2 | 3);
    let daily = 0.15 + 0.85 * (-((hod - 14.0).powi(2)) / 20.0).exp();
    daily * if weekend { 0.5 } else { 1.0 }
}

fn is_workday_hour(hour_start: i64) -> bool {
    let hod = (hour_start / HOUR_MS).rem_euclid(24);
    let day = hour_start.div_euclid(24 * HOUR_MS);
    !matches!(day.rem_euclid(7), 2 | 3) && (8..18).contains(&hod)
}

fn user_agent(runtime: Runtime, api: Api) -> String {
    let service = api.names().0.trim_end_matches(".amazonaws.com");
    let ua = match runtime {
        Runtime::Nodejs20 => format!(
            "aws-sdk-js/3.687.0 ua/2.1 os/linux#5.10.227-239.884.amzn2.x86_64 lang/js md/nodejs#20.18.0 api/{service}#3.687.0 exec-env/AWS_Lambda_nodejs20.x"
        ),
        Runtime::Python312 => "Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#5.10.227-239.884.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.35.36".to_string(),
        Runtime::Java21 => "aws-sdk-java/2.29.6 Linux/5.10.227-239.884.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/21.0.5+11-LTS Java/21.0.5 vendor/Amazon.com_Inc. exec-env/AWS_Lambda_java21 io/sync http/UrlConnection cfg/retry-mode/legacy".to_string(),
    };
    // S3 data events bracket the user agent.
    if service == "s3" && !matches!(api, Api::S3ListBuckets) {
        format!("[{ua}]")
    } else {
        ua
    }
}

impl Sim<'_> {
    /// The factor on on-demand traffic that brings a day to about `events_per_day` events.
    fn volume_scale(&self) -> f64 {
        // A day's traffic on average over a week (weekends are quieter).
        let day_rhythm: f64 = (0..7 * 24).map(|h| rhythm(h * HOUR_MS)).sum::<f64>() / 7.0;
        let mut scheduled = 0.0;
        let mut on_demand = 0.0;
        for f in &self.account.functions {
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
        let nf = self.account.functions.len();
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
            let mut candidates: Vec<usize> = if kind.needs_wide_role() && !wide.is_empty() {
                wide
            } else if matches!(
                kind,
                Kind::InvocationFlood
                    | Kind::ErrorStorm
                    | Kind::CredentialDualUse
                    | Kind::OddHourActivity
            ) && !on_demand.is_empty()
            {
                on_demand
            } else if *kind == Kind::ApiBurst {
                // Its code must call something.
                (0..nf)
                    .filter(|&f| !self.account.functions[f].calls.is_empty())
                    .collect()
            } else {
                (0..nf).collect()
            };
            // Spread attacks over functions when there are enough.
            if candidates.iter().any(|c| !used.contains(c)) {
                candidates.retain(|c| !used.contains(c));
            }
            let function = *candidates.choose(rng).unwrap_or(&0);
            used.push(function);
            let day = first_day + (i as i64 % span);
            // Exfiltration happens at night, when the function is idle; the rest by day.
            let hod = match kind {
                Kind::CredentialExfiltration => 3,
                Kind::Cryptomining => 1,
                Kind::OddHourActivity => 2,
                _ => [10, 14, 16, 11, 13, 15, 9, 12][i % 8],
            };
            let hour = (day * 24 + hod).min(hours - 1);
            let f = &self.account.functions[function];
            let role = self.account.role_of(f);
            self.labels.push(Label {
                id: format!("attack-{:02}-{}", i + 1, kind.name()),
                kind: *kind,
                description: String::new(),
                mitre: kind.mitre().to_vec(),
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

    /// The plan of `kind` on function `fi` active at hour `h`, if any.
    fn active(&self, fi: usize, h: i64, kind: Kind, hours: i64) -> Option<&Plan> {
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
        self.record(hour, &ev, at)
    }

    fn function_hour(
        &mut self,
        fi: usize,
        h: i64,
        hour_start: i64,
        rng: &mut ChaCha8Rng,
        hour: &mut Hour,
    ) {
        let f = self.account.functions[fi].clone();
        // The night a function's credentials are stolen, it is idle.
        if self
            .active(fi, h, Kind::CredentialExfiltration, 1)
            .is_some()
        {
            return;
        }
        let flood = self
            .active(fi, h, Kind::InvocationFlood, 1)
            .map(|p| p.label);
        let crypto = self.active(fi, h, Kind::Cryptomining, 3).map(|p| p.label);
        let storm = self.active(fi, h, Kind::ErrorStorm, 1).map(|p| p.label);
        let odd = self
            .active(fi, h, Kind::OddHourActivity, 2)
            .map(|p| p.label);
        let mut times: Vec<i64> = match f.schedule_minutes {
            Some(m) => {
                let step = i64::from(m) * 60_000;
                (0..HOUR_MS / step)
                    .map(|k| hour_start + k * step + rng.random_range(0..800))
                    .collect()
            }
            None => {
                let mut lambda = f.peak_per_hour * rhythm(hour_start) * self.scale;
                if odd.is_some() {
                    // Its busiest afternoon's rate, at night.
                    lambda = (f.peak_per_hour * self.scale).max(40.0);
                } else if flood.is_some() {
                    lambda *= 25.0;
                } else if storm.is_some() {
                    // Failing callers retry.
                    lambda = (lambda * 3.0).max(30.0);
                }
                let n = if lambda > 0.0 {
                    Poisson::new(lambda).map_or(0, |p| p.sample(rng) as u64)
                } else {
                    0
                };
                (0..n)
                    .map(|_| hour_start + rng.random_range(0..HOUR_MS))
                    .collect()
            }
        };
        times.sort_unstable();
        let duration = LogNormal::new(f.duration_ms.ln(), 0.35).ok();
        for t in times {
            let label = flood.or(crypto).or(storm).or(odd);
            self.invoke(
                fi,
                &f,
                t,
                rng,
                hour,
                duration.as_ref(),
                crypto.is_some(),
                storm.is_some(),
                label,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn invoke(
        &mut self,
        fi: usize,
        f: &Function,
        t: i64,
        rng: &mut ChaCha8Rng,
        hour: &mut Hour,
        duration: Option<&LogNormal<f64>>,
        mining: bool,
        storm: bool,
        label: Option<usize>,
    ) {
        let idle_limit = rng.random_range(15..45) * 60_000;
        let cold = match &self.envs[fi] {
            None => true,
            Some(e) => t - e.last_ms > idle_limit || t - e.created_ms > 4 * HOUR_MS,
        };
        let mut init_ms = None;
        if cold {
            let init = match f.runtime {
                Runtime::Java21 => rng.random_range(1_800.0..3_200.0),
                _ => rng.random_range(180.0..900.0),
            };
            init_ms = Some(init);
            let ip = if f.vpc {
                self.account
                    .nat_ips
                    .choose(rng)
                    .cloned()
                    .unwrap_or_default()
            } else {
                self.account
                    .lambda_ips
                    .choose(rng)
                    .cloned()
                    .unwrap_or_default()
            };
            let created = t - init as i64;
            self.envs[fi] = Some(Env {
                key: ids::session_key(rng),
                created_ms: created,
                last_ms: t,
                stream: format!(
                    "{}/[$LATEST]{}",
                    iso_seconds(created)[..10].replace('-', "/"),
                    ids::hex(rng, 32)
                ),
                ip,
            });
        }
        let Some(env) = self.envs[fi].clone() else {
            return;
        };
        let mut d = duration.map_or(f.duration_ms, |l| l.sample(rng));
        let mut mem = (f.memory_used_mb * rng.random_range(0.9..1.15)).min(f64::from(f.memory_mb));
        let timeout_ms = f64::from(f.timeout_s) * 1000.0;
        if mining {
            d = timeout_ms * rng.random_range(0.93..1.0);
            mem = f64::from(f.memory_mb) * rng.random_range(0.95..1.0);
        }
        let mut end = if rng.random_bool(f.timeout_rate) {
            End::Timeout
        } else if rng.random_bool(if storm { 0.65 } else { f.error_rate }) {
            End::Error
        } else {
            End::Success
        };
        if d >= timeout_ms {
            end = End::Timeout;
        }
        if end == End::Timeout {
            d = timeout_ms + rng.random_range(0.5..3.0);
        }
        let request_id = ids::uuid(rng);
        if let Some(l) = label {
            self.labels[l].request_ids.push(request_id.clone());
            self.widen(l, t, t + d as i64);
        }
        // The calls the code makes: at init, then during the invocation.
        if cold {
            for c in &f.init_calls {
                let at = t - init_ms.unwrap_or(0.0) as i64 / 2;
                let actor = self.actor_for(fi, &env, c.api);
                self.emit(hour, rng, c.api, &c.resource, &actor, at, Outcome::Ok);
            }
        }
        for c in &f.calls {
            if !rng.random_bool(c.p) {
                continue;
            }
            let at = t + rng.random_range(0..(d as i64).max(1));
            let actor = self.actor_for(fi, &env, c.api);
            self.emit(hour, rng, c.api, &c.resource, &actor, at, Outcome::Ok);
        }
        let inv = Invocation {
            request_id,
            start_ms: t,
            duration_ms: d,
            max_memory_mb: mem.round() as u32,
            init_ms,
            end,
            app: logs::app_lines(f, end, rng),
        };
        let lines = hour.logs.entry((fi, env.stream.clone())).or_default();
        logs::lines(f, &inv, rng, lines);
        hour.invocations += 1;
        self.summary.invocations += 1;
        if let Some(e) = self.envs[fi].as_mut() {
            e.last_ms = t + d as i64;
        }
    }

    /// Admins at work, and the CI pipeline deploying in the afternoon.
    fn people_hour(&mut self, hour_start: i64, rng: &mut ChaCha8Rng, hour: &mut Hour) {
        if !is_workday_hour(hour_start) {
            return;
        }
        let acct = self.opts.account.clone();
        let region = self.opts.region.clone();
        let day_start = hour_start - hour_start.rem_euclid(24 * HOUR_MS);
        for a in self.account.admins.clone() {
            let n = Poisson::new(1.5).map_or(0, |p| p.sample(rng) as u64);
            let role_arn = format!(
                "arn:aws:iam::{acct}:role/aws-reserved/sso.amazonaws.com/{}",
                a.role_name
            );
            let key = format!(
                "ASIA{}",
                &xxhash_rust::xxh3::xxh3_64(format!("{}{day_start}", a.session).as_bytes())
                    .to_string()[..16]
            );
            let actor = Actor {
                identity: assumed_role(
                    &acct,
                    &role_arn,
                    &a.role_name,
                    &a.role_id,
                    &a.session,
                    &key,
                    day_start + 8 * HOUR_MS,
                    false,
                ),
                ip: a.ip.clone(),
                user_agent: a.user_agent.clone(),
            };
            for _ in 0..n {
                let f = self
                    .account
                    .functions
                    .choose(rng)
                    .map(|f| f.name.clone())
                    .unwrap_or_default();
                let api = *[
                    Api::LambdaListFunctions,
                    Api::LambdaGetFunction,
                    Api::LogsFilterLogEvents,
                    Api::CloudTrailDescribeTrails,
                ]
                .choose(rng)
                .unwrap_or(&Api::LambdaListFunctions);
                let at = hour_start + rng.random_range(0..HOUR_MS);
                self.emit(hour, rng, api, &f, &actor, at, Outcome::Ok);
            }
        }
        // Deployments: most afternoons, one to three functions.
        let hod = (hour_start / HOUR_MS).rem_euclid(24);
        if hod == 15 && rng.random_bool(0.7) {
            let ci = self.account.ci.clone();
            let at = hour_start + rng.random_range(0..30 * 60_000);
            let role_arn = format!("arn:aws:iam::{acct}:role/{}", ci.role_name);
            let web_user = "repo:acme/serverless-app:ref:refs/heads/main".to_string();
            let provider =
                format!("arn:aws:iam::{acct}:oidc-provider/token.actions.githubusercontent.com");
            let assume_actor = Actor {
                identity: json!({"type": "WebIdentityUser",
                    "principalId": format!("{provider}:sts.amazonaws.com:{web_user}"),
                    "userName": web_user, "identityProvider": provider}),
                ip: ci.ip.clone(),
                user_agent: ci.user_agent.clone(),
            };
            let ev = event(
                rng,
                Api::StsAssumeRoleWithWebIdentity,
                &format!("{role_arn}|{}", ci.session),
                &assume_actor,
                at,
                &acct,
                &region,
                Outcome::Ok,
            );
            let key = ev["responseElements"]["credentials"]["accessKeyId"]
                .as_str()
                .unwrap_or("")
                .to_string();
            self.record(hour, &ev, at);
            let actor = Actor {
                identity: assumed_role(
                    &acct,
                    &role_arn,
                    &ci.role_name,
                    &ci.role_id,
                    &ci.session,
                    &key,
                    at,
                    true,
                ),
                ip: ci.ip.clone(),
                user_agent: ci.user_agent.clone(),
            };
            let n = rng.random_range(1..=3.min(self.account.functions.len()));
            let targets: Vec<String> = self
                .account
                .functions
                .choose_multiple(rng, n)
                .map(|f| f.name.clone())
                .collect();
            for (i, f) in targets.iter().enumerate() {
                let t = at + 20_000 + i as i64 * 40_000;
                self.emit(
                    hour,
                    rng,
                    Api::LambdaUpdateFunctionCode,
                    f,
                    &actor,
                    t,
                    Outcome::Ok,
                );
                let at = t + 9_000;
                self.emit(
                    hour,
                    rng,
                    Api::LambdaPublishVersion,
                    f,
                    &actor,
                    at,
                    Outcome::Ok,
                );
            }
        }
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

    /// The CloudTrail part of an attack.
    fn inject(&mut self, p: &Plan, hour_start: i64, rng: &mut ChaCha8Rng, hour: &mut Hour) {
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
        let from_function = |sim: &Self, api: Api| sim.actor_for(fi, &env, api);
        let stolen = |ip: &str, ua: &str| Actor {
            identity: assumed_role(
                &acct,
                &role.arn(&acct),
                &role.name,
                &role.id,
                &f.name,
                &env.key,
                env.created_ms,
                false,
            ),
            ip: ip.to_string(),
            user_agent: ua.to_string(),
        };
        let wide = role.over_permissioned;
        let mut calls: Vec<(Api, String, Actor, Outcome)> = Vec::new();
        let ok_if = |granted: bool| {
            if granted {
                Outcome::Ok
            } else {
                Outcome::AccessDenied
            }
        };
        let description;
        let mut attacker_ips: Vec<String> = Vec::new();
        let mut key_used = Some(env.key.clone());
        let mut burst_calls = API_BURST_CALLS;
        match p.kind {
            Kind::CredentialExfiltration => {
                description = format!(
                    "{}'s session credentials used from {} with the AWS CLI while the function was idle",
                    f.name, ATTACKER_IPS[0]
                );
                attacker_ips.push(ATTACKER_IPS[0].into());
                let a = stolen(ATTACKER_IPS[0], ATTACKER_CLI);
                calls.push((
                    Api::StsGetCallerIdentity,
                    String::new(),
                    a.clone(),
                    Outcome::Ok,
                ));
                calls.push((Api::S3ListBuckets, String::new(), a.clone(), ok_if(wide)));
                for c in f.calls.iter().chain(&f.init_calls) {
                    calls.push((c.api, c.resource.clone(), a.clone(), Outcome::Ok));
                }
            }
            Kind::CredentialDualUse => {
                description = format!(
                    "{}'s session credentials used from {} while the function ran from AWS",
                    f.name, ATTACKER_IPS[1]
                );
                attacker_ips.push(ATTACKER_IPS[1].into());
                let a = stolen(ATTACKER_IPS[1], ATTACKER_SDK);
                for _ in 0..6 {
                    for c in &f.calls {
                        calls.push((c.api, c.resource.clone(), a.clone(), Outcome::Ok));
                    }
                }
            }
            Kind::DormantPermission => {
                description = format!(
                    "{} used permissions its role was granted and never used: dynamodb:Scan and secretsmanager:GetSecretValue on an admin secret",
                    f.name
                );
                calls.push((
                    Api::DynamoScan,
                    "users".into(),
                    from_function(self, Api::DynamoScan),
                    ok_if(wide),
                ));
                calls.push((
                    Api::SecretsGetSecretValue,
                    "prod/admin/root-credentials".into(),
                    from_function(self, Api::SecretsGetSecretValue),
                    ok_if(wide),
                ));
            }
            Kind::Reconnaissance => {
                description = format!("{} made a burst of discovery calls it never makes", f.name);
                for (api, r) in [
                    (Api::StsGetCallerIdentity, ""),
                    (Api::IamListRoles, ""),
                    (Api::IamListUsers, ""),
                    (Api::IamListAttachedRolePolicies, role.name.as_str()),
                    (Api::LambdaListFunctions, ""),
                    (Api::Ec2DescribeInstances, ""),
                    (Api::SecretsListSecrets, ""),
                    (Api::S3ListBuckets, ""),
                    (Api::CloudTrailDescribeTrails, ""),
                ] {
                    let granted = wide || api == Api::StsGetCallerIdentity;
                    calls.push((api, r.to_string(), from_function(self, api), ok_if(granted)));
                }
            }
            Kind::PrivilegeEscalation => {
                description = format!(
                    "{}'s role passed itself to a new function, changed another function's code, attached AdministratorAccess to itself and created a user with an access key",
                    f.name
                );
                let other = self
                    .account
                    .functions
                    .iter()
                    .find(|o| o.name != f.name)
                    .map_or(f.name.clone(), |o| o.name.clone());
                calls.push((
                    Api::LambdaCreateFunction,
                    format!("support-tools-sync|{}", role.arn(&acct)),
                    from_function(self, Api::LambdaCreateFunction),
                    ok_if(wide),
                ));
                calls.push((
                    Api::LambdaUpdateFunctionCode,
                    other,
                    from_function(self, Api::LambdaUpdateFunctionCode),
                    ok_if(wide),
                ));
                calls.push((
                    Api::IamAttachRolePolicy,
                    role.name.clone(),
                    from_function(self, Api::IamAttachRolePolicy),
                    ok_if(wide),
                ));
                calls.push((
                    Api::IamCreateUser,
                    "support-backup".into(),
                    from_function(self, Api::IamCreateUser),
                    ok_if(wide),
                ));
                calls.push((
                    Api::IamCreateAccessKey,
                    "support-backup".into(),
                    from_function(self, Api::IamCreateAccessKey),
                    ok_if(wide),
                ));
            }
            Kind::LambdaPersistence => {
                description = format!(
                    "{}'s stolen credentials made a function public (AddPermission to *, a function URL without auth) and added a layer from a foreign account",
                    f.name
                );
                attacker_ips.push(ATTACKER_IPS[0].into());
                let a = stolen(ATTACKER_IPS[0], ATTACKER_SDK);
                calls.push((
                    Api::LambdaAddPermission,
                    f.name.clone(),
                    a.clone(),
                    ok_if(wide),
                ));
                calls.push((
                    Api::LambdaCreateFunctionUrlConfig,
                    f.name.clone(),
                    a.clone(),
                    ok_if(wide),
                ));
                calls.push((
                    Api::LambdaUpdateFunctionConfiguration,
                    format!("{}|{FOREIGN_LAYER}", f.name),
                    a,
                    ok_if(wide),
                ));
            }
            Kind::DefenseEvasion => {
                description = format!(
                    "{}'s stolen credentials turned CloudTrail off: event selectors narrowed, logging stopped, trail deleted",
                    f.name
                );
                attacker_ips.push(ATTACKER_IPS[1].into());
                let a = stolen(ATTACKER_IPS[1], ATTACKER_CLI);
                let trail = self.account.trail_name.clone();
                calls.push((
                    Api::CloudTrailPutEventSelectors,
                    trail.clone(),
                    a.clone(),
                    ok_if(wide),
                ));
                calls.push((
                    Api::CloudTrailStopLogging,
                    trail.clone(),
                    a.clone(),
                    ok_if(wide),
                ));
                calls.push((Api::CloudTrailDeleteTrail, trail, a, ok_if(wide)));
            }
            Kind::SecretsMassRetrieval => {
                description = format!(
                    "{} listed the secrets and read 25 of them in minutes",
                    f.name
                );
                calls.push((
                    Api::SecretsListSecrets,
                    String::new(),
                    from_function(self, Api::SecretsListSecrets),
                    ok_if(wide),
                ));
                for i in 0..25 {
                    let name = format!(
                        "prod/{}/credentials",
                        ["db", "api", "partner", "smtp", "vault"][i % 5].to_string()
                            + &format!("-{i:02}")
                    );
                    calls.push((
                        Api::SecretsGetSecretValue,
                        name,
                        from_function(self, Api::SecretsGetSecretValue),
                        ok_if(wide),
                    ));
                }
            }
            Kind::ApiBurst => {
                // A burst for this function: five times its busiest ten minutes' calls, and
                // at least API_BURST_CALLS.
                let per_call: f64 = f.calls.iter().map(|c| c.p).sum();
                let usual = f.peak_per_hour * self.scale * per_call / 6.0;
                let n = ((usual * 5.0) as usize).max(API_BURST_CALLS);
                burst_calls = n;
                description = format!(
                    "{}'s own code called its usual APIs {n} times in ten minutes",
                    f.name
                );
                for i in 0..n {
                    let c = &f.calls[i % f.calls.len()];
                    calls.push((
                        c.api,
                        c.resource.clone(),
                        from_function(self, c.api),
                        Outcome::Ok,
                    ));
                }
            }
            Kind::InvocationFlood
            | Kind::Cryptomining
            | Kind::ErrorStorm
            | Kind::OddHourActivity => {
                key_used = None;
                description = match p.kind {
                    Kind::InvocationFlood => format!(
                        "{} invoked about 25 times its usual rate for an hour",
                        f.name
                    ),
                    Kind::Cryptomining => format!(
                        "{} ran near its timeout with memory near its limit for three hours",
                        f.name
                    ),
                    Kind::OddHourActivity => format!(
                        "{} invoked at its busiest daytime rate at night, for two hours",
                        f.name
                    ),
                    _ => format!("most invocations of {} failed for an hour", f.name),
                };
            }
        }
        let label = p.label;
        self.labels[label].description = description;
        self.labels[label].source_ips = attacker_ips;
        self.labels[label].access_key_id = key_used;
        let step = match p.kind {
            Kind::SecretsMassRetrieval => 6_000,
            Kind::ApiBurst => 600_000 / burst_calls.max(1) as i64,
            _ => 11_000,
        };
        for (i, (api, resource, actor, outcome)) in calls.into_iter().enumerate() {
            let at = t0 + i as i64 * step + rng.random_range(0..3_000);
            let id = self.emit(hour, rng, api, &resource, &actor, at, outcome);
            self.labels[label].event_ids.push(id);
            self.widen(label, at, at);
        }
    }

    fn write_hour(
        &mut self,
        hour_start: i64,
        rng: &mut ChaCha8Rng,
        hour: Hour,
    ) -> anyhow::Result<()> {
        let acct = &self.opts.account;
        let region = &self.opts.region;
        let day = &iso_seconds(hour_start)[..10];
        let (y, m, d) = (&day[..4], &day[5..7], &day[8..10]);
        // CloudTrail: one delivery file per five minutes that had events.
        let mut windows: BTreeMap<i64, Vec<(i64, String)>> = BTreeMap::new();
        for (t, rec) in hour.cloudtrail {
            windows
                .entry(t - t.rem_euclid(300_000))
                .or_default()
                .push((t, rec));
        }
        let dir = self
            .opts
            .out
            .join(format!("AWSLogs/{acct}/CloudTrail/{region}/{y}/{m}/{d}"));
        let mut delivered = Vec::new();
        for (w, mut recs) in windows {
            recs.sort_by_key(|(t, _)| *t);
            let mut body =
                String::with_capacity(recs.iter().map(|(_, r)| r.len() + 1).sum::<usize>() + 16);
            body.push_str("{\"Records\":[");
            for (i, (_, r)) in recs.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(r);
            }
            body.push_str("]}");
            let stamp = chrono::DateTime::from_timestamp_millis(w + 300_000)
                .map(|t| t.format("%Y%m%dT%H%MZ").to_string())
                .unwrap_or_default();
            let name = format!(
                "{acct}_CloudTrail_{region}_{stamp}_{}.json.gz",
                ids::alnum(rng, 16)
            );
            write_file(&dir.join(&name), &gzip(body.as_bytes()))?;
            delivered.push(format!(
                "AWSLogs/{acct}/CloudTrail/{region}/{y}/{m}/{d}/{name}"
            ));
            self.summary.cloudtrail_files += 1;
        }
        // An hourly digest naming the files (skipped by the ingest, as real ones are).
        let digest = json!({
            "awsAccountId": acct,
            "digestStartTime": iso_seconds(hour_start),
            "digestEndTime": iso_seconds(hour_start + HOUR_MS),
            "digestS3Bucket": format!("acme-cloudtrail-{acct}"),
            "digestS3Object": format!("AWSLogs/{acct}/CloudTrail-Digest/{region}/{y}/{m}/{d}/digest.json.gz"),
            "digestPublicKeyFingerprint": ids::hex(rng, 32),
            "digestSignatureAlgorithm": "SHA256withRSA",
            "logFiles": delivered.iter().map(|o| json!({"s3Bucket": format!("acme-cloudtrail-{acct}"), "s3Object": o})).collect::<Vec<_>>(),
        });
        let stamp = chrono::DateTime::from_timestamp_millis(hour_start + HOUR_MS)
            .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
            .unwrap_or_default();
        write_file(
            &self.opts.out.join(format!(
                "AWSLogs/{acct}/CloudTrail-Digest/{region}/{y}/{m}/{d}/{acct}_CloudTrail-Digest_{region}_{}_{region}_{stamp}.json.gz",
                self.account.trail_name
            )),
            &gzip(digest.to_string().as_bytes()),
        )?;

        // Lambda logs: the hour's subscription payloads in one Firehose object.
        if !hour.logs.is_empty() {
            let mut body = String::new();
            if !self.delivered_control_message {
                body.push_str(&json!({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs",
                    "logGroup": "", "logStream": "", "subscriptionFilters": [],
                    "logEvents": [{"id": "", "timestamp": hour_start, "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}).to_string());
                self.delivered_control_message = true;
            }
            for ((fi, stream), mut lines) in hour.logs {
                lines.sort_by_key(|(t, _)| *t);
                let f = &self.account.functions[fi];
                let events: Vec<Value> = lines
                    .iter()
                    .map(|(t, msg)| {
                        // CloudWatch Logs event ids: 56 digits.
                        let id: String = (0..56)
                            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                            .collect();
                        json!({"id": id, "timestamp": t, "message": msg})
                    })
                    .collect();
                self.summary.log_lines += events.len() as u64;
                body.push_str(
                    &json!({"messageType": "DATA_MESSAGE", "owner": acct,
                    "logGroup": format!("/aws/lambda/{}", f.name), "logStream": stream,
                    "subscriptionFilters": ["lambda-logs-to-firehose"], "logEvents": events})
                    .to_string(),
                );
            }
            let hh = &iso_seconds(hour_start)[11..13];
            let stamp = chrono::DateTime::from_timestamp_millis(hour_start + HOUR_MS - 1000)
                .map(|t| t.format("%Y-%m-%d-%H-%M-%S").to_string())
                .unwrap_or_default();
            let name = format!(
                "lambda-logs/{y}/{m}/{d}/{hh}/lambda-logs-delivery-1-{stamp}-{}.gz",
                ids::uuid(rng)
            );
            write_file(&self.opts.out.join(name), &gzip(body.as_bytes()))?;
            self.summary.log_files += 1;
        }
        Ok(())
    }
}
