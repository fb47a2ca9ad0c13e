//! The two guards that run after the pull and before the commit (SPEC 10):
//! a mass-deletion check and a scan of what would be committed for
//! credentials. Findings name the file and the kind, never the value.

use std::path::Path;

use anyhow::Context;
use serde_json::{json, Value};

use crate::config::{Config, SecretScan};
use crate::error::{Failure, Kind, ResultExt};
use crate::glob::glob_match;

/// What the guards look at: the snapshot's changes against the tip.
pub struct Candidate<'a> {
    /// The checkout, where added and modified files are read.
    pub root: &'a Path,
    /// `repo_subdir` (empty for the root): allowlist globs are relative to it.
    pub subdir: &'a str,
    /// `(status, path)` pairs, A, M or D, paths relative to the repo root.
    pub changes: &'a [(char, String)],
    /// Content files of the place before the pull.
    pub before: usize,
}

/// Runs both guards. Returns the warnings to report, or the refusal (both
/// guards' reasons when both refuse).
pub fn check(cfg: &Config, c: &Candidate, dry_run: bool) -> Result<Vec<String>, Failure> {
    let deleted = c.changes.iter().filter(|(s, _)| *s == 'D').count();
    let added = c.changes.iter().filter(|(s, _)| *s == 'A').count();
    let counts = DeletionCounts {
        before: c.before,
        after: (c.before + added).saturating_sub(deleted),
        deleted,
    };
    let mut refusals: Vec<Refusal> = Vec::new();
    refusals.extend(mass_deletion(
        counts,
        cfg.max_delete_ratio,
        cfg.allow_mass_delete,
    ));
    let mut warnings = Vec::new();
    let findings = scan_files(cfg, c)?;
    if !findings.is_empty() {
        match cfg.secret_scan {
            SecretScan::Block => refusals.push(secret_refusal(&findings)),
            SecretScan::Warn => warnings.extend(
                findings
                    .iter()
                    .map(|f| format!("secret scan: {}", f.describe())),
            ),
            SecretScan::Off => {}
        }
    }
    if refusals.is_empty() {
        return Ok(warnings);
    }
    let reason = refusals
        .iter()
        .map(|r| r.reason.clone())
        .collect::<Vec<_>>()
        .join("; ");
    let mut guard = json!({
        "name": refusals.iter().map(|r| r.name).collect::<Vec<_>>().join("+"),
        "reason": reason,
    });
    if let Some(obj) = guard.as_object_mut() {
        for r in &refusals {
            if let Value::Object(d) = r.to_json() {
                obj.extend(d.into_iter().filter(|(k, _)| k != "name" && k != "reason"));
            }
        }
    }
    let prefix = if dry_run { "dry run: " } else { "" };
    let hint = if refusals.iter().any(|r| r.name == "secret_scan") {
        "remove the credential from the script in Windmill (use a secret variable or resource), or list the path in `secret_scan_allow`"
    } else {
        "if the deletions are intended, run once with `allow_mass_delete: true`"
    };
    let mut failure =
        Failure::new(Kind::Guard, format!("{prefix}refused to commit: {reason}")).with_hint(hint);
    failure.guard = Some(guard);
    Err(failure)
}

/// Scans the added and modified files.
fn scan_files(cfg: &Config, c: &Candidate) -> Result<Vec<Finding>, Failure> {
    if cfg.secret_scan == SecretScan::Off {
        return Ok(Vec::new());
    }
    let mut tokens = vec![("configured_windmill_token", cfg.windmill_token.expose())];
    if let Some(t) = &cfg.git_token {
        tokens.push(("configured_git_token", t.expose()));
    }
    let scanner = Scanner {
        tokens,
        allow: &cfg.secret_scan_allow,
        mode: cfg.secret_scan,
    };
    let mut findings = Vec::new();
    for (_, path) in c.changes.iter().filter(|(s, _)| *s != 'D') {
        let file = c.root.join(path);
        let content = std::fs::read(&file)
            .with_context(|| format!("reading {} for the secret scan", file.display()))
            .kind(Kind::Git)?;
        let inner = path
            .strip_prefix(c.subdir)
            .map(|p| p.trim_start_matches('/'))
            .filter(|_| !c.subdir.is_empty())
            .unwrap_or(path);
        findings.extend(scanner.scan(inner, &content).into_iter().map(|mut f| {
            f.file = path.clone();
            f
        }));
    }
    Ok(findings)
}

/// Counts the mass-deletion guard decides on.
#[derive(Debug, Clone, Copy)]
pub struct DeletionCounts {
    /// Content files of the place before the pull.
    pub before: usize,
    /// Content files of the place after the pull.
    pub after: usize,
    pub deleted: usize,
}

/// A guard's refusal: `guard` in the result.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub name: &'static str,
    pub reason: String,
    pub details: Value,
}

impl Refusal {
    pub fn to_json(&self) -> Value {
        let mut v = json!({"name": self.name, "reason": self.reason});
        if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), &self.details) {
            obj.extend(extra.clone());
        }
        v
    }
}

pub fn mass_deletion(c: DeletionCounts, max_ratio: f64, allowed: bool) -> Option<Refusal> {
    if allowed || c.before == 0 {
        return None;
    }
    let details = json!({"deleted": c.deleted, "tracked": c.before, "remaining": c.after, "max_delete_ratio": max_ratio});
    if c.after == 0 {
        return Some(Refusal {
            name: "mass_deletion",
            reason: format!(
                "the pull came back empty while the backup holds {} files; refusing to delete them all",
                c.before
            ),
            details,
        });
    }
    let ratio = c.deleted as f64 / c.before as f64;
    (ratio > max_ratio).then(|| Refusal {
        name: "mass_deletion",
        reason: format!(
            "{} of {} files would be deleted ({:.0}%, more than max_delete_ratio {})",
            c.deleted,
            c.before,
            ratio * 100.0,
            max_ratio
        ),
        details,
    })
}

/// One credential found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    pub kind: &'static str,
    pub line: usize,
}

impl Finding {
    pub fn to_json(&self) -> Value {
        json!({"file": self.file, "kind": self.kind, "line": self.line})
    }

    pub fn describe(&self) -> String {
        format!(
            "{}:{} holds what looks like a {}",
            self.file,
            self.line,
            self.kind.replace('_', " ")
        )
    }
}

/// What the scan looks for besides the shapes below: the configured tokens.
pub struct Scanner<'a> {
    pub tokens: Vec<(&'static str, &'a str)>,
    pub allow: &'a [String],
    pub mode: SecretScan,
}

/// Shortest configured token the scan looks for; shorter ones would match
/// ordinary text.
const MIN_TOKEN_LEN: usize = 8;

impl Scanner<'_> {
    /// Scans one file's content; `path` is relative to the place.
    pub fn scan(&self, path: &str, content: &[u8]) -> Vec<Finding> {
        if self.mode == SecretScan::Off || self.allow.iter().any(|g| glob_match(g, path)) {
            return Vec::new();
        }
        let text = String::from_utf8_lossy(content);
        let mut found = Vec::new();
        for (n, line) in text.lines().enumerate() {
            for (kind, token) in &self.tokens {
                if token.len() >= MIN_TOKEN_LEN && line.contains(token) {
                    found.push(Finding {
                        file: path.to_string(),
                        kind,
                        line: n + 1,
                    });
                }
            }
            for kind in shapes(line) {
                found.push(Finding {
                    file: path.to_string(),
                    kind,
                    line: n + 1,
                });
            }
        }
        found.dedup();
        found
    }
}

pub fn secret_refusal(findings: &[Finding]) -> Refusal {
    let files: std::collections::BTreeSet<&str> =
        findings.iter().map(|f| f.file.as_str()).collect();
    Refusal {
        name: "secret_scan",
        reason: format!(
            "{} credential(s) found in {} file(s) that would be committed: {}",
            findings.len(),
            files.len(),
            findings
                .iter()
                .take(5)
                .map(Finding::describe)
                .collect::<Vec<_>>()
                .join("; ")
        ),
        details: json!({"findings": findings.iter().map(Finding::to_json).collect::<Vec<_>>()}),
    }
}

/// High-confidence credential shapes in one line.
fn shapes(line: &str) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    let b = line.as_bytes();
    let alnum = |c: u8| c.is_ascii_alphanumeric();
    let run = |from: usize, ok: &dyn Fn(u8) -> bool| {
        b[from.min(b.len())..]
            .iter()
            .take_while(|c| ok(**c))
            .count()
    };
    let boundary = |at: usize| at == 0 || !alnum(b[at - 1]) && b[at - 1] != b'_';
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let hit: Option<(&'static str, usize)> = if !boundary(i) {
            None
        } else if ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]
            .iter()
            .any(|p| rest.starts_with(p.as_bytes()))
        {
            (run(i + 4, &|c| alnum(c)) >= 36).then_some(("github_token", 40))
        } else if rest.starts_with(b"github_pat_") {
            (run(i + 11, &|c| alnum(c) || c == b'_') >= 22).then_some(("github_token", 33))
        } else if rest.starts_with(b"glpat-") {
            (run(i + 6, &|c| alnum(c) || c == b'_' || c == b'-') >= 20)
                .then_some(("gitlab_token", 26))
        } else if rest.len() > 5
            && rest.starts_with(b"xox")
            && b"abprs".contains(&rest[3])
            && rest[4] == b'-'
        {
            (run(i + 5, &|c| alnum(c) || c == b'-') >= 10).then_some(("slack_token", 15))
        } else if rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA") {
            let n = run(i + 4, &|c| c.is_ascii_uppercase() || c.is_ascii_digit());
            (n == 16 && !b.get(i + 20).is_some_and(|c| alnum(*c)))
                .then_some(("aws_access_key_id", 20))
        } else if rest.starts_with(b"-----BEGIN ") {
            let tail = &line[i..];
            tail.find("-----")
                .and_then(|_| tail[11..].find("PRIVATE KEY-----"))
                .map(|_| ("private_key", tail.len()))
        } else {
            None
        };
        match hit {
            Some((kind, len)) => {
                kinds.push(kind);
                i += len;
            }
            None => i += 1,
        }
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &str) -> Vec<&'static str> {
        let s = Scanner {
            tokens: vec![("configured_git_token", "s3cr3t-git-token")],
            allow: &[],
            mode: SecretScan::Block,
        };
        s.scan("f/a.py", text.as_bytes())
            .into_iter()
            .map(|f| f.kind)
            .collect()
    }

    #[test]
    fn finds_known_shapes() {
        let gh = format!("ghp_{}", "a1B2".repeat(9));
        assert_eq!(scan(&format!("token = \"{gh}\"")), vec!["github_token"]);
        assert_eq!(
            scan(&format!("x=github_pat_{}", "A_1b".repeat(10))),
            vec!["github_token"]
        );
        assert_eq!(scan("glpat-abcdefghij0123456789"), vec!["gitlab_token"]);
        assert_eq!(scan("SLACK=xoxb-1234567890-abcdef"), vec!["slack_token"]);
        assert_eq!(scan("key: AKIAIOSFODNN7EXAMPLE"), vec!["aws_access_key_id"]);
        assert_eq!(
            scan("-----BEGIN OPENSSH PRIVATE KEY-----"),
            vec!["private_key"]
        );
        assert_eq!(
            scan("pw = 's3cr3t-git-token'"),
            vec!["configured_git_token"]
        );
    }

    #[test]
    fn ignores_look_alikes() {
        assert!(scan("ghp_short").is_empty());
        assert!(scan("xghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").is_empty());
        assert!(scan("AKIAIOSFODNN7EXAMPLEX").is_empty());
        assert!(scan("-----BEGIN CERTIFICATE-----").is_empty());
        assert!(scan("value: 'QhQpdUKBO+rUSjgobcdAFuZPdT3QWjAV2BpPBwShfm8='").is_empty());
    }

    #[test]
    fn allowlist_and_off() {
        let allow = vec!["f/fixtures/**".to_string()];
        let s = Scanner {
            tokens: vec![],
            allow: &allow,
            mode: SecretScan::Block,
        };
        assert!(s
            .scan("f/fixtures/x/y.py", b"AKIAIOSFODNN7EXAMPLE")
            .is_empty());
        assert_eq!(s.scan("f/other/y.py", b"AKIAIOSFODNN7EXAMPLE").len(), 1);
        let off = Scanner {
            tokens: vec![],
            allow: &[],
            mode: SecretScan::Off,
        };
        assert!(off.scan("f/a.py", b"AKIAIOSFODNN7EXAMPLE").is_empty());
    }

    #[test]
    fn mass_deletion_thresholds() {
        let c = |before, after, deleted| DeletionCounts {
            before,
            after,
            deleted,
        };
        assert!(mass_deletion(c(10, 5, 5), 0.5, false).is_none());
        assert!(mass_deletion(c(10, 4, 6), 0.5, false).is_some());
        assert!(mass_deletion(c(10, 0, 10), 1.0, false).is_some());
        assert!(mass_deletion(c(10, 0, 10), 0.5, true).is_none());
        assert!(mass_deletion(c(0, 0, 0), 0.5, false).is_none());
    }
}
