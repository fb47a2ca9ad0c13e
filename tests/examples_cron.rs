//! The cron sidecar under `examples/cron`: the compose file, the scheduler,
//! the crontab and the config fit together.

#![allow(clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};
use support::examples::{examples, read};
use support::*;

/// A YAML value from the block subset compose files are usually written in.
#[derive(Clone, Debug, PartialEq)]
enum Yaml {
    Null,
    /// A plain (unquoted) scalar: `true`, numbers and `null` resolve later.
    Plain(String),
    Quoted(String),
    List(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    fn get(&self, key: &str) -> &Yaml {
        match self {
            Yaml::Map(entries) => (entries.iter())
                .find(|(k, _)| k == key)
                .map_or(&Yaml::Null, |(_, v)| v),
            _ => &Yaml::Null,
        }
    }

    fn str(&self) -> &str {
        match self {
            Yaml::Plain(s) | Yaml::Quoted(s) => s,
            other => panic!("expected a string, got {other:?}"),
        }
    }

    fn list(&self) -> &[Yaml] {
        match self {
            Yaml::List(items) => items,
            other => panic!("expected a list, got {other:?}"),
        }
    }

    fn keys(&self) -> Vec<&str> {
        match self {
            Yaml::Map(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            other => panic!("expected a mapping, got {other:?}"),
        }
    }

    /// As JSON, plain scalars resolved the way YAML's core schema does.
    fn to_json(&self) -> Value {
        match self {
            Yaml::Null => Value::Null,
            Yaml::Quoted(s) => json!(s),
            Yaml::Plain(s) => match s.as_str() {
                "null" | "~" => Value::Null,
                "true" => json!(true),
                "false" => json!(false),
                _ => s.parse::<i64>().map_or_else(|_| json!(s), |n| json!(n)),
            },
            Yaml::List(items) => items.iter().map(Yaml::to_json).collect(),
            Yaml::Map(entries) => Value::Object(
                (entries.iter())
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Parses block mappings and sequences, quoted and plain scalars and flow
/// sequences of scalars; panics on anything else (anchors, multi-line
/// strings, flow mappings, tabs), so a file it accepts means what it says.
fn parse_yaml(text: &str) -> Yaml {
    let mut lines: Vec<(usize, String)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        assert!(!raw.contains('\t'), "line {}: a tab", n + 1);
        let body = raw.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        assert!(!body.contains(" #"), "line {}: an inline comment", n + 1);
        let indent = raw.len() - body.len();
        // `- key: value` is an item holding a mapping that goes on below.
        match body.strip_prefix("- ") {
            Some(rest) if map_entry(rest).is_some() => {
                lines.push((indent, "-".to_owned()));
                lines.push((indent + 2, rest.to_owned()));
            }
            _ => lines.push((indent, body.to_owned())),
        }
    }
    let mut pos = 0;
    let doc = block(&lines, &mut pos, 0);
    assert_eq!(pos, lines.len(), "unparsed from {:?}", lines.get(pos));
    doc
}

/// `key: rest` or `key:` with a plain key.
fn map_entry(line: &str) -> Option<(&str, &str)> {
    let (key, rest) = match line.split_once(": ") {
        Some((k, r)) => (k, r.trim()),
        None => (line.strip_suffix(':')?, ""),
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
    (!key.is_empty() && key.chars().all(plain)).then_some((key, rest))
}

fn block(lines: &[(usize, String)], pos: &mut usize, indent: usize) -> Yaml {
    let is_item = |l: &(usize, String)| l.1 == "-" || l.1.starts_with("- ");
    if lines.get(*pos).is_some_and(is_item) {
        let mut items = Vec::new();
        while let Some(line) = lines.get(*pos).filter(|l| l.0 == indent && is_item(l)) {
            *pos += 1;
            items.push(match line.1.strip_prefix("- ") {
                Some(scalar_text) => scalar(scalar_text),
                None => nested(lines, pos, indent).expect("an item's content"),
            });
        }
        return Yaml::List(items);
    }
    let mut entries: Vec<(String, Yaml)> = Vec::new();
    while let Some(line) = lines.get(*pos).filter(|l| l.0 == indent && !is_item(l)) {
        let (key, rest) =
            map_entry(&line.1).unwrap_or_else(|| panic!("not a `key: value` line: {:?}", line.1));
        *pos += 1;
        let value = if rest.is_empty() {
            nested(lines, pos, indent).unwrap_or(Yaml::Null)
        } else {
            scalar(rest)
        };
        assert!(entries.iter().all(|(k, _)| k != key), "duplicate key {key}");
        entries.push((key.to_owned(), value));
    }
    if let Some(line) = lines.get(*pos).filter(|l| l.0 > indent) {
        panic!("unexpected indentation: {:?}", line.1);
    }
    Yaml::Map(entries)
}

/// The block below a `key:` or `-` line, if it is indented further.
fn nested(lines: &[(usize, String)], pos: &mut usize, indent: usize) -> Option<Yaml> {
    let deeper = lines.get(*pos).filter(|l| l.0 > indent)?.0;
    Some(block(lines, pos, deeper))
}

fn scalar(text: &str) -> Yaml {
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return Yaml::List(inner.split(',').map(|s| scalar(s.trim())).collect());
    }
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        assert!(
            !inner.contains(['"', '\\']),
            "escapes are not supported: {text}"
        );
        return Yaml::Quoted(inner.to_owned());
    }
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return Yaml::Quoted(inner.replace("''", "'"));
    }
    assert!(
        !text.starts_with(['{', '&', '*', '!', '|', '>', '"', '\'']),
        "unsupported YAML: {text}"
    );
    Yaml::Plain(text.to_owned())
}

/// PyYAML's reading of `path` as JSON, when python3 has it.
fn pyyaml(path: &Path) -> Option<Value> {
    let out = duct::cmd!(
        "python3",
        "-c",
        "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        path
    )
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .run()
    .ok()?;
    if !out.status.success() {
        eprintln!(
            "python3 with yaml is not usable here, the cross-check is skipped: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).expect("PyYAML printed JSON"))
}

#[test]
fn yaml_subset_parser_reads_what_it_claims() {
    let doc = parse_yaml(
        "# c\na:\n  b: \"x:y\"\n  c: [\"/bin/sh\", run]\n  d:\n    - one\n    - k: v\n      l: 'it''s'\n  e:\nf: true\n",
    );
    assert_eq!(
        doc.to_json(),
        json!({"a": {"b": "x:y", "c": ["/bin/sh", "run"], "d": ["one", {"k": "v", "l": "it's"}], "e": null}, "f": true})
    );
    for bad in [
        "a:\n  b: 1\n c: 2\n",
        "a: &x 1\n",
        "a: 1 # c\n",
        "a: 1\na: 2\n",
        "- a\nb: 1\n",
    ] {
        let parsed = std::panic::catch_unwind(|| parse_yaml(bad));
        assert!(parsed.is_err(), "accepted {bad:?}");
    }
}

fn cron_dir() -> PathBuf {
    examples().join("cron")
}

#[test]
fn compose_sidecar_runs_the_crontab_as_the_non_root_user_with_secrets() {
    let dir = cron_dir();
    let path = dir.join("compose.yaml");
    let compose = parse_yaml(&read(&path));
    if let Some(reference) = pyyaml(&path) {
        assert_eq!(
            compose.to_json(),
            reference,
            "the subset parser and PyYAML disagree"
        );
    }
    let services = compose.get("services");
    assert_eq!(services.keys(), ["windmill-git-sync"]);
    let service = services.get("windmill-git-sync");
    assert_eq!(service.get("image").str(), "windmill-git-sync:latest");
    let user = service.get("user").str();
    assert_eq!(user, "10001:10001", "the image's user, never root");

    // configs: each source is declared and its file ships here.
    let mut mounted: BTreeMap<String, String> = BTreeMap::new();
    for c in service.get("configs").list() {
        let source = c.get("source").str();
        let file = compose.get("configs").get(source).get("file").str();
        assert!(
            dir.join(file).is_file(),
            "config {source}: {file} is missing"
        );
        mounted.insert(
            file.trim_start_matches("./").to_owned(),
            c.get("target").str().to_owned(),
        );
    }
    let entrypoint: Vec<&str> = service
        .get("entrypoint")
        .list()
        .iter()
        .map(Yaml::str)
        .collect();
    assert_eq!(entrypoint, ["/bin/sh", mounted["cron.sh"].as_str()]);
    let command: Vec<&str> = service
        .get("command")
        .list()
        .iter()
        .map(Yaml::str)
        .collect();
    assert_eq!(command, [mounted["crontab"].as_str()]);

    // secrets: declared as files, mounted where the config's `_file` keys look.
    let mut secret_targets = Vec::new();
    for s in service.get("secrets").list() {
        let source = s.get("source").str();
        let file = compose.get("secrets").get(source).get("file").str();
        assert!(file.starts_with("./secrets/"), "{file}");
        secret_targets.push(s.get("target").str().to_owned());
    }
    let config: Value = serde_json::from_str(&read(&dir.join("config.json"))).expect("config.json");
    let mut file_keys: Vec<String> = ["windmill_token_file", "git_token_file"]
        .iter()
        .map(|k| {
            config[k]
                .as_str()
                .unwrap_or_else(|| panic!("config.json lacks {k}"))
                .to_owned()
        })
        .collect();
    file_keys.sort();
    secret_targets.sort();
    assert_eq!(file_keys, secret_targets);
    assert!(config.get("windmill_token").is_none() && config.get("git_token").is_none());

    // The persistent volume holds the work_dir and the result file.
    let volumes: Vec<&str> = service
        .get("volumes")
        .list()
        .iter()
        .map(Yaml::str)
        .collect();
    let (volume, target) = volumes[0].split_once(':').expect("volume:target");
    assert_eq!(target, "/workspace");
    assert!(compose.get("volumes").keys().contains(&volume));
    let work_dir = config["work_dir"].as_str().expect("work_dir");
    assert!(work_dir.starts_with("/workspace/"), "{work_dir}");
    for network in service.get("networks").list() {
        assert!(compose.get("networks").keys().contains(&network.str()));
    }

    // The crontab is valid and its one job runs the tool with that config.
    let crontab = dir.join("crontab");
    let due = cron(&["--due", &crontab.to_string_lossy(), "17 04 09 06 2"]);
    assert_eq!(due.code, 0, "{}", due.dump());
    let line = due.stdout.trim();
    let expected = format!(
        "windmill-git-sync --config {} --result-file /workspace/last-result.json",
        mounted["config.json"]
    );
    assert_eq!(line, expected);
    let not_due = cron(&["--due", &crontab.to_string_lossy(), "18 04 09 06 2"]);
    assert_eq!(
        (not_due.code, not_due.stdout.as_str()),
        (0, ""),
        "{}",
        not_due.dump()
    );
}

/// `sh examples/cron/cron.sh ARGS`.
fn cron(args: &[&str]) -> Outcome {
    let script = cron_dir().join("cron.sh");
    let started = Instant::now();
    let out = duct::cmd(
        "sh",
        std::iter::once(script.as_os_str()).chain(args.iter().map(|a| a.as_ref())),
    )
    .stdin_null()
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .run()
    .expect("run sh");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        json: Value::Null,
        duration: started.elapsed(),
        command: format!("sh cron.sh {}", args.join(" ")),
    }
}

#[test]
fn cron_scheduler_matches_times_like_cron() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crontab = dir.path().join("crontab");
    std::fs::write(
        &crontab,
        "# comment\n\
         17 * * * * echo  hourly  at 17\n\
         */15 9-17 * * 1-5 echo office\n\
         @daily echo daily\n\
         0 0 13 * 5 echo friday or 13th\n\
         0 12 * * 7 echo sunday noon\n\
         5,35 0/6 1 1,7 * echo list\n",
    )
    .expect("write crontab");
    let tab = crontab.to_string_lossy().into_owned();
    // (minute hour day month weekday, the commands due then)
    let cases: &[(&str, &[&str])] = &[
        ("17 03 01 01 1", &["echo  hourly  at 17"]),
        ("16 03 01 01 1", &[]),
        ("45 17 02 01 5", &["echo office"]),
        ("45 17 03 01 6", &[]),
        ("00 00 13 06 3", &["echo daily", "echo friday or 13th"]),
        ("00 00 14 06 5", &["echo daily", "echo friday or 13th"]),
        ("00 00 14 06 4", &["echo daily"]),
        ("00 12 05 01 0", &["echo sunday noon"]),
        ("35 18 01 07 2", &["echo list"]),
        ("35 19 01 07 2", &[]),
    ];
    for (now, want) in cases {
        let out = cron(&["--due", &tab, now]);
        assert_eq!(out.code, 0, "{}", out.dump());
        let got: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(got, *want, "at {now}");
    }
    for bad in [
        "61 * * * * x",
        "* * * * no-command",
        "1,,2 * * * * x",
        "*/0 * * * * x",
        "5-1 * * * * x",
    ] {
        std::fs::write(&crontab, format!("{bad}\n")).expect("write crontab");
        let out = cron(&["--check", &tab]);
        assert_eq!(out.code, 1, "accepted {bad:?}\n{}", out.dump());
        assert!(out.stderr.contains(":1:"), "{}", out.dump());
    }
    assert_eq!(
        cron(&["--check", &cron_dir().join("crontab").to_string_lossy()]).code,
        0
    );
}
