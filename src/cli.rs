//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// trailhound: CloudTrail and Lambda logs into a Parquet lake; what each function role does.
#[derive(Debug, Parser)]
#[command(name = "trailhound", version, about, propagate_version = true)]
pub struct Cli {
    /// More logging on stderr (-v info, -vv debug); TRAILHOUND_LOG takes a tracing filter.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

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
    /// written to LAKE/findings/.
    Detect(DetectArgs),
    /// The detectors: list them, check their files and SQL, run their golden tests.
    #[command(subcommand)]
    Detectors(DetectorsCommand),
    /// Score the detectors (and with --model the behaviour baseline) against labelled attacks
    /// (the simulator's labels.json): recall, precision, false findings per function-week.
    Eval(EvalArgs),
    /// The behaviour baseline: learn each function's normal invocation behaviour from the lake
    /// (train), find where it departs from it (score), draw it (plot).
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// Least-privilege drift report per role: granted, used, unused, a suggested policy, and
    /// what changed since the previous report (needs an IAM snapshot: `ingest iam`).
    Drift(DriftArgs),
    /// Watch the sources continuously (CloudTrail objects announced on SQS or under an S3
    /// prefix, Lambda log groups): append new data to the lake, run the detectors and the
    /// baseline on it, and send new findings to SNS, a file or stdout.
    Watch(WatchArgs),
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
pub enum BaselineCommand {
    /// Learn every function's normal behaviour (per 5 minutes and per hour, by hour of day and
    /// weekday/weekend) from the lake's history and write the model file.
    Train(BaselineTrainArgs),
    /// Score the lake's activity against a model: findings where a function departs from its
    /// normal, saying which features deviated, by how much, against what range.
    Score(BaselineScoreArgs),
    /// Draw one function's features with its learnt normal band and its flagged buckets (SVG).
    Plot(BaselinePlotArgs),
}

#[derive(Debug, Args)]
pub struct BaselineTrainArgs {
    /// The lake: a directory or s3://bucket/prefix.
    #[arg(long, value_name = "LAKE")]
    pub lake: String,

    /// Where to write the model (JSON, format trailhound.baseline/1).
    #[arg(long, value_name = "FILE")]
    pub model: std::path::PathBuf,

    /// Learn from activity since: RFC 3339, a date or an age (30d). Default: all of the lake.
    #[arg(long, value_name = "T")]
    pub since: Option<String>,

    /// … and before. Default: the lake's last event.
    #[arg(long, value_name = "T")]
    pub until: Option<String>,

    /// Print one JSON summary object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BaselineScoreArgs {
    /// The lake: a directory or s3://bucket/prefix.
    #[arg(long, value_name = "LAKE")]
    pub lake: String,

    /// The model file `baseline train` wrote.
    #[arg(long, value_name = "FILE")]
    pub model: std::path::PathBuf,

    /// Score activity since: RFC 3339, a date or an age (1h). Default: all of the lake.
    #[arg(long, value_name = "T")]
    pub since: Option<String>,

    /// … and before. Default: the end of the lake.
    #[arg(long, value_name = "T")]
    pub until: Option<String>,

    /// Output format (default: table on a terminal, ndjson otherwise).
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Write findings to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,

    /// Do not add new findings to LAKE/findings/.
    #[arg(long)]
    pub no_write: bool,

    /// How buckets are judged (for measuring the alternatives): combined, features, mixture.
    #[arg(long, value_name = "METHOD", hide = true)]
    pub method: Option<String>,
}

#[derive(Debug, Args)]
pub struct BaselinePlotArgs {
    /// The lake: a directory or s3://bucket/prefix.
    #[arg(long, value_name = "LAKE")]
    pub lake: String,

    /// The model file `baseline train` wrote.
    #[arg(long, value_name = "FILE")]
    pub model: std::path::PathBuf,

    /// The function to draw.
    #[arg(long, value_name = "NAME")]
    pub function: String,

    /// Where to write the SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub out: std::path::PathBuf,

    /// From: RFC 3339, a date or an age. Default: the model's training window.
    #[arg(long, value_name = "T")]
    pub since: Option<String>,

    /// Until. Default: the model's training window's end.
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// The lake: a directory or s3://bucket/prefix.
    #[arg(long, value_name = "LAKE")]
    pub lake: String,

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
    /// The lake: a directory or s3://bucket/prefix.
    #[arg(long, value_name = "LAKE")]
    pub lake: String,

    /// Run only this detector (repeatable; default: all).
    #[arg(long, value_name = "ID")]
    pub detector: Vec<String>,

    /// Report findings from this time (RFC 3339, date, or age such as 7d). Detectors still
    /// compare with the history before it. Default: the whole lake.
    #[arg(long, value_name = "T")]
    pub since: Option<String>,

    /// Report findings before this time (same forms as --since).
    #[arg(long, value_name = "T")]
    pub until: Option<String>,

    /// Output format (default: table on a terminal, ndjson otherwise).
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Write the findings to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,

    /// More detectors, or replacements of built-in ones (same id): a directory of <id>.sql and
    /// <id>.toml files, or one laid out like sql/ (with a detectors/ folder).
    #[arg(long, value_name = "DIR")]
    pub sql_dir: Option<std::path::PathBuf>,

    /// Do not write the findings to LAKE/findings/.
    #[arg(long)]
    pub no_write: bool,
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
    /// Extra or replacement detectors (see `detect --sql-dir`).
    #[arg(long, value_name = "DIR")]
    pub sql_dir: Option<std::path::PathBuf>,

    /// Print the detectors' metadata as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DetectorsValidateArgs {
    /// Extra or replacement detectors (see `detect --sql-dir`).
    #[arg(long, value_name = "DIR")]
    pub sql_dir: Option<std::path::PathBuf>,

    /// Plan against this lake (default: an empty lake, which has the same schema).
    #[arg(long, value_name = "LAKE")]
    pub lake: Option<String>,
}

#[derive(Debug, Args)]
pub struct DetectorsTestArgs {
    /// Extra or replacement detectors (see `detect --sql-dir`).
    #[arg(long, value_name = "DIR")]
    pub sql_dir: Option<std::path::PathBuf>,

    /// Test only this detector (repeatable; default: all).
    #[arg(long, value_name = "ID")]
    pub detector: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The lake holding the simulated account.
    #[arg(long, value_name = "LAKE")]
    pub lake: String,

    /// The simulator's labels.json.
    #[arg(long, value_name = "FILE")]
    pub labels: std::path::PathBuf,

    /// Print one JSON object: precision, recall, false_findings_per_function_week, scenarios,
    /// and per kind of attack the recall and the baseline's recall and precision.
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

    /// Extra or replacement detectors (see `detect --sql-dir`).
    #[arg(long, value_name = "DIR")]
    pub sql_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Where to write (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: std::path::PathBuf,

    /// Lambda functions in the account.
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub functions: usize,

    /// Days of activity.
    #[arg(long, default_value_t = 14, value_name = "D")]
    pub days: u32,

    /// The seed: the same seed and arguments give the same bytes.
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub seed: u64,

    /// Attacks to inject: all, none, or a comma-separated list of credential-exfiltration,
    /// credential-dual-use, dormant-permission, reconnaissance, privilege-escalation,
    /// lambda-persistence, defense-evasion, secrets-mass-retrieval, invocation-flood,
    /// cryptomining, error-storm, odd-hour-activity, api-burst.
    #[arg(long, default_value = "all", value_name = "LIST")]
    pub attacks: String,

    /// CloudTrail events a day, roughly.
    #[arg(long, default_value_t = 20_000, value_name = "K")]
    pub events_per_day: u64,

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
    /// s3://bucket/prefix.
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

    /// The lake: a directory (created if missing) or s3://bucket/prefix.
    #[arg(long, value_name = "LAKE")]
    pub lake: String,

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

    /// Read CloudWatch Logs from this time: RFC 3339, a date (2026-11-20) or an age (90d,
    /// 12h, 30m). Default: a group's first run reads all it keeps, later runs continue where
    /// the last ended. (Files are always read whole.)
    #[arg(long, value_name = "T")]
    pub since: Option<String>,

    /// Read CloudWatch Logs up to this time (same forms as --since). Default: now.
    #[arg(long, value_name = "T")]
    pub until: Option<String>,

    /// The lake: a directory (created if missing) or s3://bucket/prefix.
    #[arg(long, value_name = "LAKE")]
    pub lake: String,

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

    /// The lake: a directory (created if missing) or s3://bucket/prefix.
    #[arg(long, value_name = "LAKE")]
    pub lake: String,

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
    /// The lake: a directory or s3://bucket/prefix.
    #[arg(long, value_name = "LAKE")]
    pub lake: String,

    /// The SQL statement.
    #[arg(value_name = "SQL")]
    pub sql: String,

    /// Output format (default: table on a terminal, ndjson otherwise).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}
