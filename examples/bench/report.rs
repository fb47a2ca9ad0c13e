//! The results: a row per scenario, the tables, the machine.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::floor::FloorRun;
use crate::tool::ToolRun;
use crate::{Env, Mode, Scenario};

pub(crate) struct Row {
    pub(crate) scenario: Scenario,
    pub(crate) mode: Mode,
    pub(crate) n: usize,
    pub(crate) ours: Vec<f64>,
    pub(crate) floor: Vec<f64>,
    pub(crate) ours_wmill: Vec<f64>,
    pub(crate) floor_wmill: Vec<f64>,
    pub(crate) self_kib: Option<u64>,
    pub(crate) child_kib: Option<u64>,
    pub(crate) note: Option<String>,
    /// The tool's pushed tree differs from the floor's.
    pub(crate) differs: bool,
}

impl Row {
    pub(crate) fn new(scenario: Scenario, mode: Mode, n: usize) -> Row {
        Row {
            scenario,
            mode,
            n,
            ours: Vec::new(),
            floor: Vec::new(),
            ours_wmill: Vec::new(),
            floor_wmill: Vec::new(),
            self_kib: None,
            child_kib: None,
            note: None,
            differs: false,
        }
    }

    pub(crate) fn add(&mut self, ours: &ToolRun, floor: &FloorRun) {
        self.ours.push(ours.wall.as_secs_f64());
        if let Some(p) = ours.pulled {
            self.ours_wmill.push(p.as_secs_f64());
        }
        self.floor.push(floor.wall.as_secs_f64());
        self.floor_wmill.push(floor.wmill.as_secs_f64());
        self.memory(ours);
    }

    pub(crate) fn memory(&mut self, run: &ToolRun) {
        self.self_kib = self.self_kib.max(run.self_kib);
        self.child_kib = self.child_kib.max(run.child_kib);
    }

    /// The targets of the issue that apply to this row, as (text, check).
    pub(crate) fn verdict(&self) -> (String, String) {
        let ours = median(&self.ours);
        let ratio = ratio(&self.ours, &self.floor);
        let mut targets = Vec::new();
        let mut missed = Vec::new();
        let big = self.n >= 5000;
        match self.scenario {
            Scenario::First if big => {
                targets.push("< 240 s".to_string());
                if ours >= 240.0 {
                    missed.push(format!("{ours:.0} s, {:.0} s over", ours - 240.0));
                }
            }
            Scenario::Nochange | Scenario::Edit1 if self.n >= 1000 => {
                targets.push("≤ 1.15x".to_string());
                if ratio > 1.15 {
                    missed.push(format!("{ratio:.2}x, {:.2} over", ratio - 1.15));
                }
            }
            Scenario::History if big => {
                targets.push("≤ 1.2x".to_string());
                if ratio > 1.2 {
                    missed.push(format!("{ratio:.2}x, {:.2} over", ratio - 1.2));
                }
            }
            _ => {}
        }
        if big {
            targets.push("RSS ≤ 20 MB".to_string());
            if let Some(kib) = self.self_kib {
                let mb = mb(kib);
                if mb > 20.0 {
                    missed.push(format!("RSS {mb:.1} MB, {:.1} MB over", mb - 20.0));
                }
            }
        }
        if targets.is_empty() {
            return ("—".into(), "—".into());
        }
        let check = if missed.is_empty() {
            "met".to_string()
        } else {
            format!("**missed**: {}", missed.join("; "))
        };
        (targets.join(", "), check)
    }
}

pub(crate) fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub(crate) fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

pub(crate) fn ratio(ours: &[f64], floor: &[f64]) -> f64 {
    median(ours) / median(floor)
}

pub(crate) fn table(rows: &[Row], runs: usize) -> String {
    let mut out = format!(
        "Median of {runs} run(s). Floor: the same wmill and git work run directly; \
         for the history row, the same run against a remote with 1 earlier commit.\n\n"
    );
    out.push_str(
        "| scenario | mode | N | ours (s) | floor (s) | ratio | our peak RSS (MB) | largest child (MB) | target | result |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    for row in rows {
        let (target, check) = row.verdict();
        let check = match &row.note {
            Some(note) => format!("{check} ({note})"),
            None => check,
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} | {:.2} | {:.2}x | {} | {} | {} | {} |",
            row.scenario.label(),
            row.mode.label(),
            row.n,
            median(&row.ours),
            median(&row.floor),
            ratio(&row.ours, &row.floor),
            row.self_kib
                .map_or("n/a".into(), |k| format!("{:.1}", mb(k))),
            row.child_kib
                .map_or("n/a".into(), |k| format!("{:.0}", mb(k))),
            target,
            check
        );
    }
    out
}

/// Where the time goes: wmill against the rest, for the tool and the floor.
pub(crate) fn breakdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "Where the time goes (medians, s): wmill's pull(s), and everything else.\n\n\
         | scenario | mode | N | ours: wmill | ours: rest | floor: wmill | floor: rest |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let (ow, fw) = (median(&row.ours_wmill), median(&row.floor_wmill));
        let fmt = |v: f64| {
            if v.is_nan() {
                "n/a".to_string()
            } else {
                format!("{v:.2}")
            }
        };
        let (ours_rest, floor_rest) = if row.scenario == Scenario::History {
            // The history row's times are already net of the pull.
            (median(&row.ours), median(&row.floor))
        } else {
            (median(&row.ours) - ow, median(&row.floor) - fw)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.scenario.label(),
            row.mode.label(),
            row.n,
            fmt(ow),
            fmt(ours_rest),
            fmt(fw),
            fmt(floor_rest)
        );
    }
    out
}

/// CPU, cores, memory, OS and the versions of the programs measured.
pub(crate) fn machine(env: &Env) -> String {
    let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".into(), |(_, v)| v.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let mem_kib: u64 = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map_or("unknown OS".into(), |v| v.trim_matches('"').to_string());
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
    let version = |program: &Path, arg: &str| -> String {
        Command::new(program)
            .arg(arg)
            .stdin(Stdio::null())
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    let wmill_pkg = env
        .wmill
        .parent()
        .and_then(Path::parent)
        .map(|m| m.join("windmill-cli/package.json"));
    let wmill_version = wmill_pkg
        .and_then(|p| fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    format!(
        "{cpu}, {cores} cores, {:.1} GiB RAM, {os} (Linux {kernel}); {}, {}, node {}, windmill-cli {wmill_version}",
        mem_kib as f64 / 1024.0 / 1024.0,
        version(&env.tool, "--version"),
        version(Path::new("git"), "--version"),
        version(Path::new("node"), "--version").trim_start_matches('v'),
    )
}
