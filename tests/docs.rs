//! The documentation and the binary agree: every option each command's `--help` lists is
//! documented in that command's section of `docs/` (a heading `` `trailhound <command>` ``), and
//! every `--option` the docs name exists where they say it does. Also: `docs/lake.md` names
//! every column of every table, `docs/detectors.md` lists every shipped detector, and its
//! example detector passes its golden tests as written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::common::*;

/// Options every command has, which no section has to repeat (the global ones are documented
/// once, under the conventions).
const UNDOCUMENTED: &[&str] = &[
    "--help",
    "--version",
    "--verbose",
    "--engine",
    "--profile",
    "--region",
];

/// Programs whose options a code span or line may name without them being trailhound's.
const OTHER_PROGRAMS: &[&str] = &["aws", "cargo", "duckdb", "git", "python3"];

/// A command: its words after `trailhound` (empty for the binary itself).
type CommandPath = Vec<String>;

struct Help {
    options: BTreeSet<String>,
    subcommands: Vec<String>,
}

fn help_of(path: &[String]) -> Help {
    let out = run(bin().args(path).arg("--help"));
    assert!(
        out.status.success(),
        "trailhound {} --help failed: {}",
        path.join(" "),
        text(&out.stderr)
    );
    parse_help(&text(&out.stdout))
}

/// The long options and subcommands of a clap help text.
fn parse_help(help: &str) -> Help {
    let mut options = BTreeSet::new();
    let mut subcommands = Vec::new();
    let mut in_commands = false;
    for line in help.lines() {
        if !line.starts_with(' ') {
            in_commands = line.trim_end() == "Commands:";
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let body = line.trim_start();
        if in_commands {
            if indent <= 2
                && let Some(name) = body.split_whitespace().next()
                && name != "help"
            {
                subcommands.push(name.to_string());
            }
        } else if indent <= 6 && body.starts_with('-') {
            // `-v, --verbose…` or `    --lake <LAKE>`; wrapped descriptions are indented more.
            if let Some(flag) = flags_in(body).into_iter().next() {
                options.insert(flag);
            }
        }
    }
    Help {
        options,
        subcommands,
    }
}

/// Every command of the binary with its options, walked from `trailhound --help` down.
fn commands() -> BTreeMap<CommandPath, Help> {
    let mut all = BTreeMap::new();
    let mut todo: Vec<CommandPath> = vec![vec![]];
    while let Some(path) = todo.pop() {
        let help = help_of(&path);
        for s in &help.subcommands {
            let mut p = path.clone();
            p.push(s.clone());
            todo.push(p);
        }
        all.insert(path, help);
    }
    assert!(
        all.len() > 10,
        "found only {} commands in --help: {:?}",
        all.len(),
        all.keys().collect::<Vec<_>>()
    );
    all
}

/// `--option` tokens in `s` (not `--` alone, not inside a word).
fn flags_in(s: &str) -> Vec<String> {
    flags_at(s).into_iter().map(|(_, f)| f).collect()
}

/// `--option` tokens in `s` with their byte offsets.
fn flags_at(s: &str) -> Vec<(usize, String)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 2 < b.len() {
        let starts = b[i] == b'-'
            && b[i + 1] == b'-'
            && b[i + 2].is_ascii_lowercase()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'-'));
        if starts {
            let mut j = i + 2;
            while j < b.len()
                && (b[j].is_ascii_lowercase() || b[j].is_ascii_digit() || b[j] == b'-')
            {
                j += 1;
            }
            out.push((i, s[i..j].trim_end_matches('-').to_string()));
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

fn display(path: &[String]) -> String {
    if path.is_empty() {
        "trailhound".into()
    } else {
        format!("trailhound {}", path.join(" "))
    }
}

/// Where a piece of docs text belongs.
#[derive(Clone, Debug, PartialEq)]
enum Owner {
    /// Options named here are this command's.
    Command(CommandPath),
    /// Options named here must be some command's.
    Any,
    /// Options named here are not trailhound's (another program, a benchmark script).
    Nobody,
}

/// One `--option` the docs name.
struct Mention {
    file: String,
    line: usize,
    flag: String,
    owner: Owner,
    /// The command section it is in, if any.
    section: Option<CommandPath>,
}

/// A `` `trailhound <command>` `` section of a docs file.
struct Section {
    file: String,
    line: usize,
    command: CommandPath,
}

struct Docs {
    mentions: Vec<Mention>,
    sections: Vec<Section>,
    /// `trailhound <words>` the docs name that are no command.
    unknown: Vec<String>,
}

/// The longest command path `words` start with (after an optional `trailhound`). `None` when
/// the words do not start with a command; `Some(Err)` for `trailhound <not a command>`.
fn command_of(
    words: &[&str],
    known: &BTreeSet<CommandPath>,
) -> Option<Result<CommandPath, String>> {
    let (explicit, rest) = match words.first() {
        Some(&"trailhound") => (true, &words[1..]),
        _ => (false, words),
    };
    let mut best: Option<CommandPath> = None;
    for n in 1..=rest.len().min(3) {
        let p: CommandPath = rest[..n].iter().map(|w| w.to_string()).collect();
        if known.contains(&p) {
            best = Some(p);
        }
    }
    match best {
        Some(p) => Some(Ok(p)),
        None if explicit => match rest.first() {
            // `trailhound --help`, `trailhound` alone, `trailhound <SUBCOMMAND>`.
            None => Some(Ok(vec![])),
            Some(w)
                if w.starts_with('-') || !w.chars().all(|c| c.is_ascii_lowercase() || c == '-') =>
            {
                Some(Ok(vec![]))
            }
            Some(_) => Some(Err(rest.join(" "))),
        },
        None => None,
    }
}

/// Read the docs: `docs/*.md` and the README.
fn read_docs(known: &BTreeSet<CommandPath>) -> Docs {
    let root = repo();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("reading docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    files.push(root.join("README.md"));
    let mut docs = Docs {
        mentions: Vec::new(),
        sections: Vec::new(),
        unknown: Vec::new(),
    };
    for path in files {
        let name = path
            .strip_prefix(&root)
            .unwrap()
            .display()
            .to_string()
            .replace('\\', "/");
        let body = std::fs::read_to_string(&path).unwrap();
        read_file(&name, &body, known, &mut docs);
    }
    docs
}

fn read_file(name: &str, body: &str, known: &BTreeSet<CommandPath>, docs: &mut Docs) {
    let mut r = Reader {
        name,
        known,
        docs,
        // Benchmarks name their scripts' options: only `trailhound …` there is checked.
        default_owner: if name.ends_with("benchmarks.md") {
            Owner::Nobody
        } else {
            Owner::Any
        },
        section: None,
        prose: String::new(),
        prose_lines: Vec::new(),
    };
    let mut fence = false;
    for (i, line) in body.lines().enumerate() {
        let lineno = i + 1;
        if line.trim_start().starts_with("```") {
            r.flush();
            fence = !fence;
        } else if fence {
            r.code_line(line, lineno);
        } else if line.starts_with('#') {
            r.flush();
            r.heading(line, lineno);
        } else if line.trim().is_empty() {
            r.flush();
        } else {
            r.prose_lines.push((r.prose.len(), lineno));
            r.prose.push_str(line);
            r.prose.push('\n');
        }
    }
    r.flush();
}

/// Reads one docs file, a line at a time.
struct Reader<'a> {
    name: &'a str,
    known: &'a BTreeSet<CommandPath>,
    docs: &'a mut Docs,
    /// Whose options the text outside command sections names.
    default_owner: Owner,
    /// The open command section: its heading level and command.
    section: Option<(usize, CommandPath)>,
    /// The paragraph being read (code spans may span its lines), and where each line starts.
    prose: String,
    prose_lines: Vec<(usize, usize)>,
}

impl Reader<'_> {
    fn owner_here(&self) -> Owner {
        match &self.section {
            Some((_, c)) => Owner::Command(c.clone()),
            None => self.default_owner.clone(),
        }
    }

    fn mention(&mut self, flag: String, line: usize, owner: Owner) {
        self.docs.mentions.push(Mention {
            file: self.name.into(),
            line,
            flag,
            owner,
            section: self.section.as_ref().map(|s| s.1.clone()),
        });
    }

    fn unknown(&mut self, line: usize, words: String) {
        self.docs.unknown.push(format!(
            "{}:{line}: `trailhound {words}` is no command",
            self.name
        ));
    }

    /// A line of a fenced block: only `trailhound …` lines are checked, against their command.
    fn code_line(&mut self, line: &str, lineno: usize) {
        let l = line.trim_start().trim_start_matches("$ ");
        let words: Vec<&str> = l.split_whitespace().collect();
        if words.first() != Some(&"trailhound") {
            return;
        }
        match command_of(&words, self.known) {
            Some(Ok(c)) => {
                for flag in flags_in(l) {
                    self.mention(flag, lineno, Owner::Command(c.clone()));
                }
            }
            Some(Err(w)) => self.unknown(lineno, w),
            None => {}
        }
    }

    /// A heading closes the sections at its level or deeper; `` `trailhound <command>…` ``
    /// opens one.
    fn heading(&mut self, line: &str, lineno: usize) {
        let level = line.chars().take_while(|&c| c == '#').count();
        let title = line[level..].trim();
        if self.section.as_ref().is_some_and(|(l, _)| level <= *l) {
            self.section = None;
        }
        if let Some(code) = title.strip_prefix('`').and_then(|t| t.split('`').next()) {
            let words: Vec<&str> = code.split_whitespace().collect();
            // `trailhound <not a command>` is reported with the title's code span below.
            if words.first() == Some(&"trailhound")
                && let Some(Ok(c)) = command_of(&words, self.known)
            {
                self.docs.sections.push(Section {
                    file: self.name.into(),
                    line: lineno,
                    command: c.clone(),
                });
                self.section = Some((level, c));
            }
        }
        // Options in a heading belong to its section.
        self.prose_lines.push((0, lineno));
        self.prose.push_str(title);
        self.flush();
    }

    /// The options named in the paragraph read: in a code span that starts with a command
    /// (`` `detect --out` ``, `` `trailhound simulate --attacks none` ``) they are that
    /// command's; elsewhere the section's.
    fn flush(&mut self) {
        let prose = std::mem::take(&mut self.prose);
        let lines = std::mem::take(&mut self.prose_lines);
        let line_at = |offset: usize| {
            lines
                .iter()
                .take_while(|(start, _)| *start <= offset)
                .last()
                .map_or(0, |(_, l)| *l)
        };
        let here = self.owner_here();
        // Backticks pair up within the paragraph: even pieces are prose, odd ones code.
        let mut offset = 0;
        for (i, piece) in prose.split('`').enumerate() {
            let start = offset;
            let at = line_at(start);
            offset += piece.len() + 1;
            let owner = if i % 2 == 0 {
                here.clone()
            } else {
                let words: Vec<&str> = piece.split_whitespace().collect();
                let first = words.first().copied().unwrap_or("");
                if OTHER_PROGRAMS.contains(&first)
                    || first.starts_with("scripts/")
                    || first.starts_with("bench/")
                {
                    Owner::Nobody
                } else {
                    match command_of(&words, self.known) {
                        Some(Ok(c)) => Owner::Command(c),
                        Some(Err(w)) => {
                            self.unknown(at, w);
                            Owner::Nobody
                        }
                        None => here.clone(),
                    }
                }
            };
            for (o, flag) in flags_at(piece) {
                self.mention(flag, line_at(start + o), owner.clone());
            }
        }
    }
}

#[test]
fn every_option_of_every_command_is_documented_in_its_section() {
    let commands = commands();
    let known: BTreeSet<CommandPath> = commands.keys().cloned().collect();
    let docs = read_docs(&known);
    let mut problems = docs.unknown.clone();
    let mut sections: BTreeMap<&CommandPath, Vec<&Section>> = BTreeMap::new();
    for s in &docs.sections {
        sections.entry(&s.command).or_default().push(s);
    }
    for (path, help) in &commands {
        let options: Vec<&String> = help
            .options
            .iter()
            .filter(|o| !UNDOCUMENTED.contains(&o.as_str()))
            .collect();
        let leaf = help.subcommands.is_empty();
        let found = sections.get(path).map(Vec::as_slice).unwrap_or(&[]);
        if found.len() > 1 {
            let at: Vec<String> = found
                .iter()
                .map(|s| format!("{}:{}", s.file, s.line))
                .collect();
            problems.push(format!(
                "`{}` has {} sections in the docs ({}): keep one",
                display(path),
                found.len(),
                at.join(", ")
            ));
        }
        let Some(section) = found.first() else {
            if leaf || !options.is_empty() {
                problems.push(format!(
                    "`{}` has no section in docs/ (a heading `` `{}` ``)",
                    display(path),
                    display(path)
                ));
            }
            continue;
        };
        for option in options {
            let documented = docs.mentions.iter().any(|m| {
                m.section.as_ref() == Some(path)
                    && m.owner == Owner::Command(path.clone())
                    && &m.flag == option
            });
            if !documented {
                problems.push(format!(
                    "{}: the section of `{}` (line {}) does not document `{option}`, which `{} --help` lists",
                    section.file,
                    display(path),
                    section.line,
                    display(path)
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the docs and --help disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_option_the_docs_name_exists() {
    let commands = commands();
    let known: BTreeSet<CommandPath> = commands.keys().cloned().collect();
    let any: BTreeSet<&String> = commands.values().flat_map(|h| &h.options).collect();
    let docs = read_docs(&known);
    let mut problems = docs.unknown.clone();
    for m in &docs.mentions {
        match &m.owner {
            Owner::Command(path) => {
                let help = &commands[path];
                if !help.options.contains(&m.flag) {
                    let has: Vec<&str> = help.options.iter().map(String::as_str).collect();
                    problems.push(format!(
                        "{}:{}: `{}` is not an option of `{}` (its --help lists {})",
                        m.file,
                        m.line,
                        m.flag,
                        display(path),
                        has.join(", ")
                    ));
                }
            }
            Owner::Any => {
                if !any.contains(&m.flag) {
                    problems.push(format!(
                        "{}:{}: `{}` is an option of no trailhound command",
                        m.file, m.line, m.flag
                    ));
                }
            }
            Owner::Nobody => {}
        }
    }
    assert!(
        problems.is_empty(),
        "the docs name options the binary does not have:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_help_parser_reads_clap_help() {
    let h = parse_help(
        "Run SQL\n\nUsage: trailhound query [OPTIONS] --lake <LAKE> <SQL>\n\nArguments:\n  <SQL>  The SQL statement\n\nOptions:\n      --lake <LAKE>\n          The lake: a directory or s3://bucket/prefix\n          (same forms as\n          --since)\n  -v, --verbose...\n          More logging\n      --format <FORMAT>  Output format\n  -h, --help  Print help\n",
    );
    let want: BTreeSet<String> = ["--lake", "--verbose", "--format", "--help"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(h.options, want);
    let top = parse_help(
        "trailhound\n\nUsage: trailhound [OPTIONS] <COMMAND>\n\nCommands:\n  ingest     Read logs\n  query      Run SQL over the lake (tables: cloudtrail,\n             lambda_invocations)\n  help       Print this message\n\nOptions:\n  -v, --verbose...  More logging\n",
    );
    assert_eq!(top.subcommands, vec!["ingest", "query"]);
    assert_eq!(
        flags_in("`--since`/`--until`, a--b, --, --zstd-level L, (--x-)"),
        vec!["--since", "--until", "--zstd-level", "--x"]
    );
}

/// The text of `docs/<name>`.
fn doc(name: &str) -> String {
    let p = repo().join("docs").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

#[test]
fn the_lake_page_names_every_column_of_every_table() {
    // A lake with a row in the CloudTrail table; the other tables exist empty in every session.
    let dir = tempdir();
    let src = dir.path().join("src/a.json");
    write(&src, &delivery_file(0, 1));
    let lake = lake_of(&dir);
    ingest(&[&src], &lake);
    let lake_md = doc("lake.md");
    let mut missing = Vec::new();
    let tables = [
        "cloudtrail",
        "lambda_invocations",
        "lambda_logs",
        "iam",
        "findings",
    ];
    for table in tables {
        let rows = query(
            &lake,
            &format!(
                "SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'"
            ),
        );
        assert!(!rows.is_empty(), "the session has no table {table}");
        for r in rows {
            let col = r["column_name"].as_str().unwrap();
            if !lake_md.contains(&format!("`{col}`")) {
                missing.push(format!("{table}.{col}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/lake.md does not name these columns (as `column`): {}",
        missing.join(", ")
    );
}

#[test]
fn the_detector_page_lists_every_detector_with_its_severity() {
    let out = run(bin().args(["detectors", "list", "--json"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(list.len() >= 16, "{} detectors", list.len());
    let page = doc("detectors.md");
    let mut problems = Vec::new();
    for d in &list {
        let (id, severity) = (d["id"].as_str().unwrap(), d["severity"].as_str().unwrap());
        let row = format!("| `{id}` | {severity} |");
        if !page.lines().any(|l| l.starts_with(&row)) {
            problems.push(format!("{id} ({severity})"));
        }
    }
    let ids: BTreeSet<&str> = list.iter().map(|d| d["id"].as_str().unwrap()).collect();
    for l in page.lines().filter(|l| l.starts_with("| `")) {
        let id = l[3..].split('`').next().unwrap();
        if !ids.contains(id) {
            problems.push(format!("{id} is in the table but not shipped"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/detectors.md's table (| `id` | severity | …) and `detectors list` disagree: {}",
        problems.join(", ")
    );
}

#[test]
fn the_example_detector_passes_its_golden_tests_as_documented() {
    let page = doc("detectors.md");
    let at = page
        .find("## Adding a detector")
        .expect("docs/detectors.md has a section \"Adding a detector\"");
    let block = |lang: &str| -> String {
        let open = format!("```{lang}\n");
        let start = at
            + page[at..]
                .find(&open)
                .unwrap_or_else(|| panic!("no {lang} block"))
            + open.len();
        let end = start + page[start..].find("```").unwrap();
        page[start..end].to_string()
    };
    let (sql, toml) = (block("sql"), block("toml"));
    let dir = tempdir();
    let mine = dir.path().join("mine");
    write(&mine.join("iam-user-created.sql"), sql.as_bytes());
    write(&mine.join("iam-user-created.toml"), toml.as_bytes());
    let mine = mine.display().to_string();
    for args in [
        vec!["detectors", "validate", "--sql-dir", &mine],
        vec![
            "detectors",
            "test",
            "--sql-dir",
            &mine,
            "--detector",
            "iam-user-created",
        ],
    ] {
        let o = run(bin().args(&args));
        assert!(
            o.status.success(),
            "docs/detectors.md's example: trailhound {} failed\nstdout: {}\nstderr: {}",
            args.join(" "),
            text(&o.stdout),
            text(&o.stderr)
        );
    }
}
