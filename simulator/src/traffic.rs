//! The account's own activity, hour by hour: each function's invocations (rhythms, schedules,
//! cold starts, the calls its code makes, its log lines), the admins at work and the CI
//! pipeline deploying.

use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Poisson};
use serde_json::json;

use crate::account::{Api, Function, Runtime};
use crate::attacks::Kind;
use crate::events::{Actor, Outcome, assumed_role, event, iso_seconds};
use crate::logs::{self, End, Invocation};
use crate::{Env, HOUR_MS, Hour, Sim, ids};

/// How busy on-demand functions are at an hour: a working-day peak in the afternoon (UTC),
/// quiet nights, half the traffic at weekends.
pub(crate) fn rhythm(hour_start: i64) -> f64 {
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

pub(crate) fn user_agent(runtime: Runtime, api: Api) -> String {
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
    pub(crate) fn function_hour(
        &mut self,
        fi: usize,
        h: i64,
        hour_start: i64,
        rng: &mut ChaCha8Rng,
        hour: &mut Hour,
    ) {
        let f = self.account.functions[fi].clone();
        // The night a function's credentials are stolen, it is idle.
        if self.active(fi, h, Kind::CredentialExfiltration).is_some() {
            return;
        }
        let flood = self.active(fi, h, Kind::InvocationFlood).map(|p| p.label);
        let crypto = self.active(fi, h, Kind::Cryptomining).map(|p| p.label);
        let storm = self.active(fi, h, Kind::ErrorStorm).map(|p| p.label);
        let odd = self.active(fi, h, Kind::OddHourActivity).map(|p| p.label);
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
                storm.is_some().then_some(0.65),
                true,
                label,
            );
        }
    }

    /// A low-volume function's hour: a few invocations in its working hours, none at night;
    /// a sample of its successful invocations' logs kept. Its small anomalies: four failing
    /// invocations (`error-handful`), or three to five invocations at night
    /// (`quiet-hour-activity`), all logged.
    pub(crate) fn low_volume_hour(
        &mut self,
        fi: usize,
        h: i64,
        hour_start: i64,
        rng: &mut ChaCha8Rng,
        hour: &mut Hour,
    ) {
        let f = self.account.functions[fi].clone();
        let Some(lv) = f.low_volume else { return };
        let hod = (hour_start / HOUR_MS).rem_euclid(24);
        let n = if (lv.hours.0..lv.hours.1).contains(&hod) {
            Poisson::new(lv.per_hour).map_or(0, |p| p.sample(rng) as u64)
        } else {
            0
        };
        let handful = self.active(fi, h, Kind::ErrorHandful).map(|p| p.label);
        let quiet = self.active(fi, h, Kind::QuietHourActivity).map(|p| p.label);
        // (time, failing, label)
        let mut runs: Vec<(i64, bool, Option<usize>)> = (0..n)
            .map(|_| (hour_start + rng.random_range(0..HOUR_MS), false, None))
            .collect();
        if let Some(l) = handful {
            runs.extend((0..4).map(|_| (hour_start + rng.random_range(0..HOUR_MS), true, Some(l))));
        }
        if let Some(l) = quiet {
            let k = rng.random_range(3..=5);
            runs.extend(
                (0..k).map(|_| (hour_start + rng.random_range(0..HOUR_MS), false, Some(l))),
            );
        }
        runs.sort_unstable_by_key(|r| r.0);
        let duration = LogNormal::new(f.duration_ms.ln(), 0.35).ok();
        for (t, failing, label) in runs {
            let logged = failing || label.is_some() || rng.random_bool(lv.log_sample);
            self.invoke(
                fi,
                &f,
                t,
                rng,
                hour,
                duration.as_ref(),
                false,
                failing.then_some(1.0),
                logged,
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
        // The chance it fails, when not its usual error rate (a storm's).
        fail: Option<f64>,
        // Whether its logs are kept (low-volume functions sample theirs).
        logged: bool,
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
        } else if rng.random_bool(fail.unwrap_or(f.error_rate)) {
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
            if logged {
                self.labels[l].request_ids.push(request_id.clone());
            }
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
        if logged {
            let lines = hour.logs.entry((fi, env.stream.clone())).or_default();
            logs::lines(f, &inv, rng, lines);
        }
        hour.invocations += 1;
        self.summary.invocations += 1;
        if let Some(e) = self.envs[fi].as_mut() {
            e.last_ms = t + d as i64;
        }
    }

    /// Admins at work, and the CI pipeline deploying in the afternoon.
    pub(crate) fn people_hour(&mut self, hour_start: i64, rng: &mut ChaCha8Rng, hour: &mut Hour) {
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
                    .regular()
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
        // Ordinary IAM work by the first admin, on the third day: a user with a read-only
        // policy and an access key for a reporting export, and a function role's policy widened
        // to one more table.
        let day = (hour_start - self.opts.start_ms).div_euclid(24 * HOUR_MS);
        let hod = (hour_start / HOUR_MS).rem_euclid(24);
        if day == 2
            && hod == 10
            && let Some(a) = self.account.admins.first().cloned()
        {
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
            let role = self.account.roles[self.account.functions[0].role]
                .name
                .clone();
            let work = [
                (Api::IamCreateUser, "reporting-export".to_string()),
                (
                    Api::IamAttachUserPolicy,
                    "reporting-export|arn:aws:iam::aws:policy/ReadOnlyAccess".to_string(),
                ),
                (Api::IamCreateAccessKey, "reporting-export".to_string()),
                (Api::IamPutRolePolicy, format!("{role}|audit-log")),
            ];
            for (i, (api, resource)) in work.iter().enumerate() {
                let at = hour_start + 5 * 60_000 + i as i64 * 45_000;
                self.emit(hour, rng, *api, resource, &actor, at, Outcome::Ok);
            }
        }
        // Deployments: most afternoons, one to three functions. On the fifth day the pipeline
        // also creates a new function with its role, and on the sixth changes a function
        // role's policy.
        let new_function = day == 4 && hod == 15;
        let role_change = day == 5 && hod == 15;
        if hod == 15 && (new_function || role_change || rng.random_bool(0.7)) {
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
            if new_function {
                let role = "reports-api-role";
                let work = [
                    (Api::IamCreateRole, role.to_string()),
                    (
                        Api::IamAttachRolePolicy,
                        format!(
                            "{role}|arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                        ),
                    ),
                    (Api::IamPutRolePolicy, format!("{role}|reports")),
                    (
                        Api::LambdaCreateFunction,
                        format!("reports-api|arn:aws:iam::{acct}:role/service-role/{role}"),
                    ),
                ];
                for (i, (api, resource)) in work.iter().enumerate() {
                    let t = at + 5_000 + i as i64 * 3_000;
                    self.emit(hour, rng, *api, resource, &actor, t, Outcome::Ok);
                }
            }
            if role_change {
                let role = self.account.roles[self.account.functions[0].role]
                    .name
                    .clone();
                let t = at + 5_000;
                self.emit(
                    hour,
                    rng,
                    Api::IamPutRolePolicy,
                    &format!("{role}|orders-archive"),
                    &actor,
                    t,
                    Outcome::Ok,
                );
            }
            let n = rng.random_range(1..=3.min(self.account.regular().len()));
            let targets: Vec<String> = self
                .account
                .regular()
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
}
