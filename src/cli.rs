//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Arguments that parse but do not make sense together (exit code 2, like clap's own).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `--lake`, which most commands take.
#[derive(Debug, Args)]
pub struct LakeArg {
    /// The lake: a directory or s3://bucket/prefix (ingest creates a missing directory).
    #[arg(long = "lake", value_name = "LAKE")]
    pub uri: String,
}

/// `--since` and `--until`: the time range a command reads or reports (each command's help
/// says what it does without them).
#[derive(Debug, Args)]
pub struct TimeRange {
    /// From this time: RFC 3339 (2026-11-20T10:00:00Z), a date (2026-11-20, midnight UTC) or
    /// an age before now (90d, 12h, 30m).
    #[arg(long, value_name = "T")]
    pub since: Option<String>,

    /// Before this time (same forms as --since).
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
}

impl TimeRange {
    /// Both ends as microseconds since the epoch; a spec that is not a time is a usage error
    /// naming its flag.
    pub fn micros(&self) -> anyhow::Result<(Option<i64>, Option<i64>)> {
        let now = chrono::Utc::now().timestamp_micros();
        let time = |flag: &str, spec: Option<&str>| -> anyhow::Result<Option<i64>> {
            spec.map(|s| pipeline::time::parse_time_spec(s, now))
                .transpose()
                .map_err(|e| UsageError(format!("{flag}: {e}")).into())
        };
        Ok((
            time("--since", self.since.as_deref())?,
            time("--until", self.until.as_deref())?,
        ))
    }
}

/// Where findings go: `--format`, `--out`, `--no-write`.
#[derive(Debug, Args)]
pub struct FindingsOut {
    /// Output format (default: table on a terminal, ndjson otherwise).
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Write the findings to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,

    /// Do not add the new findings to LAKE/findings/.
    #[arg(long)]
    pub no_write: bool,
}

/// `--sql-dir`: more detectors, or replacements of built-in ones.
#[derive(Debug, Args)]
pub struct SqlDir {
    /// More detectors, or replacements of built-in ones (same id): a directory of <id>.sql and
    /// <id>.toml files, or one laid out like sql/ (with a detectors/ folder).
    #[arg(long = "sql-dir", value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// trailhound: CloudTrail and Lambda logs into a Parquet lake; what each function role does.
#[derive(Debug, Parser)]
#[command(name = "trailhound", version, about, propagate_version = true)]
pub struct Cli {
    /// More logging on stderr (-v info, -vv debug); TRAILHOUND_LOG takes a tracing filter.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Where queries run (query, detect, eval, drift, incidents, baseline train|score):
    /// `local` (this process) or `ballista://HOST:PORT`, a cluster started with `trailhound
    /// cluster scheduler` and `trailhound cluster executor`.
    #[arg(
        long,
        global = true,
        env = "TRAILHOUND_ENGINE",
        value_name = "ENGINE",
        default_value = "local"
    )]
    pub engine: detectors::cluster::Engine,

    /// The AWS profile to use (as the AWS CLI's --profile; default: AWS_PROFILE, else the
    /// default chain).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// The AWS region for clients (as the AWS CLI's --region; default: AWS_REGION or the
    /// profile's). An S3 lake or trail bucket is read in its own region whatever this is.
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read logs into the lake.
    #[command(subcommand)]
    Ingest(IngestCommand),
    /// Run SQL over the lake (tables: cloudtrail, lambda_invocations, lambda_logs).
    Query(QueryArgs),
    /// Simulate a serverless AWS account with labelled attacks: CloudTrail files, Lambda logs,
    /// IAM and labels.json, deterministic for a seed.
    Simulate(SimulateArgs),
    /// Simulate a small account with every attack, ingest it, and show what trailhound finds.
    Demo(DemoArgs),
    /// Run the detectors over the lake: findings (OCSF Detection Findings) are printed and
    /// written to LAKE/findings/. --since/--until report the findings whose evidence falls in
    /// that range; detectors still compare with the history before it (default: the whole
    /// lake).
    Detect(DetectArgs),
    /// The detectors: list them, check their files and SQL, run their golden tests.
    #[command(subcommand)]
    Detectors(DetectorsCommand),
    /// Score the detectors (and with --model the behaviour baseline) against labelled attacks
    /// (the simulator's labels.json): recall, precision, false findings per function-week; or,
    /// with --recordings, against real attack recordings: per technique, the detectors citing
    /// its events.
    Eval(EvalArgs),
    /// Incidents: the findings in the lake grouped per intrusion (shared credential lineage,
    /// access key, principal, function or source address close in time): list them, or tell
    /// one in order.
    #[command(subcommand)]
    Incidents(IncidentsCommand),
    /// The behaviour baseline: learn each function's normal invocation behaviour from the lake
    /// (train), find where it departs from it (score), draw it (plot).
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// Least-privilege drift report per role: granted, used, unused, a suggested policy, and
    /// what changed since the previous report (needs an IAM snapshot: `ingest iam`).
    Drift(DriftArgs),
    /// Run a query cluster (Ballista's scheduler and executors with trailhound's SQL
    /// functions) for `--engine ballista://HOST:PORT`.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Watch the sources continuously (CloudTrail objects announced on SQS or under an S3
    /// prefix, Lambda log groups): append new data to the lake, run the detectors and the
    /// baseline on it, and send new findings to SNS, a file or stdout.
    Watch(WatchArgs),
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The scheduler: plans the clients' queries into stages and hands them to executors.
    Scheduler(SchedulerArgs),
    /// An executor: runs the scheduler's tasks on this machine (N at once) and serves their
    /// results to the other executors and to the client.
    Executor(ExecutorArgs),
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on (clients use `--engine ballista://ADDR`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50050")]
    pub bind: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler to register with.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50050")]
    pub scheduler: String,

    /// Tasks run at once (default: one per core).
    #[arg(long, value_name = "N")]
    pub slots: Option<usize>,

    /// Address to serve task results on (Arrow Flight); the port after it serves the
    /// executor's own gRPC service.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50051")]
    pub bind: std::net::SocketAddr,

    /// Directory for the tasks' shuffle files (default: a temporary directory, removed at
    /// exit).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The watch's configuration (TOML: sources, sinks, poll interval; see docs/watch.md).
    #[arg(long, value_name = "FILE")]
    pub config: std::path::PathBuf,

    /// Poll once, deliver, and exit (for a scheduler instead of a long-running process).
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// The incidents, the latest first: id, severity, first and last time, findings, the
    /// principals and functions involved. --since/--until keep those active in that range.
    List(IncidentsListArgs),
    /// One incident: what it involves and its findings in time order.
    Show(IncidentsShowArgs),
}

#[derive(Debug, Args)]
pub struct IncidentsListArgs {
    #[command(flatten)]
    pub lake: LakeArg,

    #[command(flatten)]
    pub time: TimeRange,

    /// Print JSON (one array of incidents, each with its findings) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IncidentsShowArgs {
    /// The incident's id (`inc-…`, from `incidents list`).
    #[arg(value_name = "ID")]
    pub id: String,

    #[command(flatten)]
    pub lake: LakeArg,

    /// Print the incident as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Learn every function's normal behaviour (per hour of day and weekday/weekend, from its
    /// hourly activity) from the lake's history and write the model file and its JSON summary.
    /// --since/--until bound the history learnt from (default: all of the lake, up to its last
    /// event).
    Train(BaselineTrainArgs),
    /// Score the lake's activity against a model: findings where a function departs from its
    /// normal, saying which features deviated, what was expected and how probable the value
    /// seen was. --since/--until bound the activity scored (default: all of the lake).
    Score(BaselineScoreArgs),
    /// Draw one function's features with its learnt normal band and its flagged buckets (SVG),
    /// over --since/--until (default: the model's training window).
    Plot(BaselinePlotArgs),
}

/// `--model`: the baseline model file.
#[derive(Debug, Args)]
pub struct ModelArg {
    /// The model file (binary, format trailhound.baseline/2; its JSON summary is written beside
    /// it as FILE with the extension .summary.json): `baseline train` writes both, `score` and
    /// `plot` read either.
    #[arg(long = "model", value_name = "FILE")]
    pub path: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct BaselineTrainArgs {
    #[command(flatten)]
    pub lake: LakeArg,

    #[command(flatten)]
    pub model: ModelArg,

    #[command(flatten)]
    pub time: TimeRange,

    /// Print one JSON summary object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BaselineScoreArgs {
    #[command(flatten)]
    pub lake: LakeArg,

    #[command(flatten)]
    pub model: ModelArg,

    #[command(flatten)]
    pub time: TimeRange,

    #[command(flatten)]
    pub output: FindingsOut,

    /// How buckets are judged (for measuring the alternatives): combined, features, mixture.
    #[arg(long, value_name = "METHOD", hide = true)]
    pub method: Option<String>,
}

#[derive(Debug, Args)]
pub struct BaselinePlotArgs {
    #[command(flatten)]
    pub lake: LakeArg,

    #[command(flatten)]
    pub model: ModelArg,

    /// The function to draw.
    #[arg(long, value_name = "NAME")]
    pub function: String,

    /// Where to write the SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub out: std::path::PathBuf,

    #[command(flatten)]
    pub time: TimeRange,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub lake: LakeArg,

    /// How far back usage counts (90d, 12h, …), up to --until.
    #[arg(long, value_name = "AGE", default_value = "90d")]
    pub window: String,

    /// The window's end: RFC 3339, a date or an age. Default: the lake's latest CloudTrail
    /// event (so a report over an old export covers its last days, not today's).
    #[arg(long, value_name = "T")]
    pub until: Option<String>,

    /// Only this role (its ARN); repeat for several. Default: every role of the snapshot,
    /// Lambda function roles first.
    #[arg(long = "role", value_name = "ARN")]
    pub roles: Vec<String>,

    /// The previous report.json, to say what changed since.
    #[arg(long, value_name = "REPORT.json")]
    pub previous: Option<std::path::PathBuf>,

    /// Where to write report.json, report.md, report.html and policies/<role>.json (created).
    #[arg(long, value_name = "DIR")]
    pub out: std::path::PathBuf,

    /// Also upload the report's files under s3://bucket/prefix/<generated day>/.
    #[arg(long, value_name = "S3_PREFIX")]
    pub publish: Option<String>,

    /// Also publish a short summary to this SNS topic (ARN), pointing at the report.
    #[arg(long, value_name = "TOPIC_ARN")]
    pub sns_topic: Option<String>,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    #[command(flatten)]
    pub lake: LakeArg,

    /// Run only this detector (repeatable; default: all).
    #[arg(long, value_name = "ID")]
    pub detector: Vec<String>,

    #[command(flatten)]
    pub time: TimeRange,

    #[command(flatten)]
    pub output: FindingsOut,

    #[command(flatten)]
    pub sql_dir: SqlDir,
}

#[derive(Debug, Subcommand)]
pub enum DetectorsCommand {
    /// The detectors: id, severity, tables, window, title.
    List(DetectorsListArgs),
    /// Parse every TOML and plan every SQL against the lake's schema, views and functions.
    Validate(DetectorsValidateArgs),
    /// Run the golden tests: fixtures that must fire and look-alikes that must not.
    Test(DetectorsTestArgs),
}

#[derive(Debug, Args)]
pub struct DetectorsListArgs {
    #[command(flatten)]
    pub sql_dir: SqlDir,

    /// Print the detectors' metadata as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DetectorsValidateArgs {
    #[command(flatten)]
    pub sql_dir: SqlDir,

    /// Plan against this lake (default: an empty lake, which has the same schema).
    #[arg(long, value_name = "LAKE")]
    pub lake: Option<String>,
}

#[derive(Debug, Args)]
pub struct DetectorsTestArgs {
    #[command(flatten)]
    pub sql_dir: SqlDir,

    /// Test only this detector (repeatable; default: all).
    #[arg(long, value_name = "ID")]
    pub detector: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The lake holding the simulated account.
    #[arg(long, value_name = "LAKE", required_unless_present = "recordings")]
    pub lake: Option<String>,

    /// The simulator's labels.json.
    #[arg(long, value_name = "FILE", required_unless_present = "recordings")]
    pub labels: Option<std::path::PathBuf>,

    /// Instead of a simulated account, labelled real recordings: Stratus Red Team detonation
    /// logs (a folder with techniques_index.json and detonation-logs/, or a folder of one JSON
    /// file per technique; each technique is ingested into a lake of its own) or TrailDiscover's
    /// catalogue (events_catalog.json and log_examples.ndjson.gz). Prints per technique which
    /// detectors cite its events.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["lake", "labels", "model"])]
    pub recordings: Option<std::path::PathBuf>,

    /// Print one JSON object: precision, recall, false_findings_per_function_week, scenarios,
    /// and per kind of attack the recall and the baseline's recall and precision (with
    /// --recordings: per technique the events, those cited and the detectors citing them).
    #[arg(long)]
    pub json: bool,

    /// Also score the behaviour baseline with this model (`baseline train`): its findings are
    /// evaluated with the detectors', and on their own per kind of anomaly.
    #[arg(long, value_name = "FILE")]
    pub model: Option<std::path::PathBuf>,

    /// Only the baseline (with --model): leave the detectors out.
    #[arg(long, requires = "model")]
    pub baseline_only: bool,

    /// How the baseline judges buckets (for measuring the alternatives).
    #[arg(long, value_name = "METHOD", hide = true)]
    pub method: Option<String>,

    #[command(flatten)]
    pub sql_dir: SqlDir,
}

/// `FIRST-LAST` (or `DAY`), days counted from 1, as the 0-based range they cover.
fn parse_day_range(s: &str) -> Result<std::ops::Range<u32>, String> {
    let day = |t: &str| match t.trim().parse::<u32>() {
        Ok(d) if d >= 1 => Ok(d),
        _ => Err(format!("{t:?} is not a day number (days count from 1)")),
    };
    let (first, last) = match s.split_once('-') {
        Some((a, b)) => (day(a)?, day(b)?),
        None => (day(s)?, day(s)?),
    };
    if last < first {
        return Err(format!("{s}: the last day comes before the first"));
    }
    Ok(first - 1..last)
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Where to write (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: std::path::PathBuf,

    /// Lambda functions in the account.
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub functions: usize,

    /// Also this many low-volume functions: 3 to 10 logged invocations an hour from 08:00 to
    /// 18:00 UTC, none at night, no failures, logs of half their successful invocations kept.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub low_volume: usize,

    /// Days of activity.
    #[arg(long, default_value_t = 14, value_name = "D")]
    pub days: u32,

    /// The seed: the same seed and arguments give the same bytes.
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub seed: u64,

    /// Attacks to inject: all, none, or a comma-separated list of credential-exfiltration,
    /// credential-dual-use, dormant-permission, reconnaissance, privilege-escalation,
    /// lambda-persistence, defense-evasion, secrets-mass-retrieval, invocation-flood,
    /// cryptomining, error-storm, odd-hour-activity, api-burst; and, with --low-volume, the
    /// small anomalies of low-volume functions error-handful (four failures in an hour) and
    /// quiet-hour-activity (a few invocations at 02:00), which `all` leaves out.
    #[arg(long, default_value = "all", value_name = "LIST")]
    pub attacks: String,

    /// CloudTrail events a day, roughly.
    #[arg(long, default_value_t = 20_000, value_name = "K")]
    pub events_per_day: u64,

    /// Write only these days of the --days (FIRST-LAST from 1, or one day): a long
    /// simulation a few days at a time, each day the bytes the whole run writes for it.
    #[arg(long, value_name = "FIRST-LAST", value_parser = parse_day_range)]
    pub only_days: Option<std::ops::Range<u32>>,

    /// Days simulated at once (default: one per CPU); the output is the same for any number.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// The first simulated day or time: RFC 3339, a date, or an age (14d). The default is a
    /// fixed date so that output does not depend on when it runs.
    #[arg(long, default_value = "2026-11-01", value_name = "T")]
    pub start: String,

    /// The simulated account id.
    #[arg(long, default_value = "123456789012", value_name = "ID")]
    pub account: String,

    /// The region the functions run in.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,

    /// Also upload everything to s3://bucket/prefix (the bucket is created if missing).
    #[arg(long, value_name = "S3_URI")]
    pub to: Option<String>,

    /// Also put the Lambda logs into CloudWatch Logs groups /aws/lambda/<function> (CloudWatch
    /// accepts events of the last 14 days: use a recent --start).
    #[arg(long)]
    pub to_cwl: bool,

    /// Print one JSON summary object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the simulated data, the lake and the reports go.
    #[arg(long, value_name = "DIR", default_value = "trailhound-demo")]
    pub out: std::path::PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum IngestCommand {
    /// CloudTrail files (S3 delivery files, JSON arrays, NDJSON, lookup-events output; plain
    /// or gzip) from files, directories and s3://bucket/prefix.
    Cloudtrail(IngestCloudTrailArgs),
    /// Lambda function logs into lambda_invocations and lambda_logs: CloudWatch Logs groups
    /// (cwl://<log-group>), and subscription payloads (plain or gzip), `aws logs
    /// filter-log-events` output and raw log lines from files, directories and
    /// s3://bucket/prefix. --since/--until bound what is read from CloudWatch Logs (default: a
    /// group's first run reads all it keeps, later runs continue where the last ended, up to
    /// now); files are always read whole.
    LambdaLogs(IngestLambdaArgs),
    /// IAM authorization details into the iam table (one snapshot per account and day):
    /// `aws iam get-account-authorization-details` output (a file, plain or gzip, an s3://
    /// object, or - for standard input), or iam:// for the live IAM API.
    Iam(IngestIamArgs),
}

#[derive(Debug, Args)]
pub struct IngestIamArgs {
    /// get-account-authorization-details output (file, s3://bucket/key, -) or iam://.
    #[arg(value_name = "SRC")]
    pub source: String,

    #[command(flatten)]
    pub lake: LakeArg,

    /// The day the snapshot describes (YYYY-MM-DD). Default: today (UTC). A second snapshot
    /// of the same account and day replaces the first.
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,

    /// Print one JSON summary object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IngestLambdaArgs {
    /// Files, directories (read recursively), s3://bucket/prefix, or CloudWatch Logs groups:
    /// cwl://<log-group> (cwl:///aws/lambda/my-fn), or cwl:// for every group under
    /// --log-group-prefix.
    #[arg(required = true, value_name = "SRC")]
    pub sources: Vec<String>,

    /// The groups that cwl:// alone reads.
    #[arg(long, value_name = "PREFIX", default_value = "/aws/lambda/")]
    pub log_group_prefix: String,

    #[command(flatten)]
    pub time: TimeRange,

    #[command(flatten)]
    pub lake: LakeArg,

    /// Print one JSON summary object on stdout.
    #[arg(long)]
    pub json: bool,

    /// The log group of inputs that do not name one (raw lines, filter-log-events output);
    /// default: the file name without its extensions.
    #[arg(long, value_name = "GROUP")]
    pub log_group: Option<String>,

    /// zstd level of the Parquet files (1 fastest … 22 smallest).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub zstd_level: i32,
}

#[derive(Debug, Args)]
pub struct IngestCloudTrailArgs {
    /// Files, directories (read recursively) or s3://bucket/prefix.
    #[arg(required = true, value_name = "SRC")]
    pub sources: Vec<String>,

    #[command(flatten)]
    pub lake: LakeArg,

    /// Print one JSON summary object on stdout.
    #[arg(long)]
    pub json: bool,

    /// Parsing and encoding threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// zstd level of the Parquet files (1 fastest … 22 smallest).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub zstd_level: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Ndjson,
    Csv,
    /// Parquet (needs a file: `--out`).
    Parquet,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub lake: LakeArg,

    /// The SQL statement.
    #[arg(value_name = "SQL")]
    pub sql: String,

    /// Output format (default: table on a terminal, ndjson otherwise).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}
