//! The result JSON (SPEC 7): one line on stdout, and the same in
//! `--result-file`. Built up while the run goes, so a failure still reports
//! what was learned before it.

use serde::Serialize;
use serde_json::Value;

use crate::error::Failure;
use crate::secret::redact;

/// Most paths listed in the result.
pub const MAX_PATHS: usize = 100;

#[derive(Debug, Serialize)]
pub struct Report {
    pub success: bool,
    pub status: &'static str,
    pub message: String,
    pub workspace: Option<String>,
    pub branch: Option<String>,
    pub remote: Option<String>,
    pub commit: Option<String>,
    pub changes: Changes,
    pub attempts: Attempts,
    pub duration_ms: u64,
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<Value>,
}

#[derive(Debug, Default, Serialize)]
pub struct Changes {
    pub added: usize,
    pub modified: usize,
    pub deleted: usize,
    pub paths: Vec<PathChange>,
    pub paths_truncated: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PathChange {
    pub change: &'static str,
    pub path: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Attempts {
    pub pull: u32,
    pub push: u32,
}

#[derive(Debug, Serialize)]
pub struct ErrorInfo {
    pub kind: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

impl Changes {
    /// Counts and lists `(status, path)` pairs (A, M or D).
    pub fn from_list(list: &[(char, String)]) -> Changes {
        let mut c = Changes::default();
        for (status, path) in list {
            let change = match status {
                'A' => {
                    c.added += 1;
                    "added"
                }
                'D' => {
                    c.deleted += 1;
                    "deleted"
                }
                _ => {
                    c.modified += 1;
                    "modified"
                }
            };
            if c.paths.len() < MAX_PATHS {
                c.paths.push(PathChange {
                    change,
                    path: path.clone(),
                });
            } else {
                c.paths_truncated = true;
            }
        }
        c
    }

    pub fn total(&self) -> usize {
        self.added + self.modified + self.deleted
    }
}

impl Report {
    pub fn new() -> Report {
        Report {
            success: false,
            status: "failed",
            message: String::new(),
            workspace: None,
            branch: None,
            remote: None,
            commit: None,
            changes: Changes::default(),
            attempts: Attempts::default(),
            duration_ms: 0,
            warnings: Vec::new(),
            error: None,
            guard: None,
            check: None,
        }
    }

    pub fn warn(&mut self, warning: impl Into<String>) {
        let w = redact(&warning.into());
        log::warn!("{w}");
        self.warnings.push(w);
    }

    pub fn succeed(&mut self, status: &'static str, message: impl Into<String>) {
        self.success = true;
        self.status = status;
        self.message = redact(&message.into());
    }

    pub fn fail(&mut self, failure: &Failure) {
        self.success = false;
        self.status = "failed";
        self.message = failure.message.clone();
        if let Some(g) = &failure.guard {
            self.guard = Some(g.clone());
        }
        self.error = Some(ErrorInfo {
            kind: failure.kind.name(),
            message: failure.message.clone(),
            hint: failure.hint.clone(),
        });
    }

    /// The one-line JSON, with every secret scrubbed once more.
    pub fn to_line(&self) -> String {
        let line = serde_json::to_string(self).unwrap_or_else(|e| {
            format!(
                "{{\"success\":false,\"status\":\"failed\",\"message\":\"internal error: could not serialise the result: {}\"}}",
                e.to_string().replace('"', "'")
            )
        });
        redact(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_capped() {
        let list: Vec<(char, String)> = (0..150).map(|i| ('A', format!("f/x/{i}.sh"))).collect();
        let c = Changes::from_list(&list);
        assert_eq!(
            (c.added, c.paths.len(), c.paths_truncated),
            (150, MAX_PATHS, true)
        );
    }

    #[test]
    fn line_has_every_key() {
        let v: Value = serde_json::from_str(&Report::new().to_line()).unwrap_or_default();
        for key in [
            "success",
            "status",
            "message",
            "workspace",
            "branch",
            "remote",
            "commit",
            "changes",
            "attempts",
            "duration_ms",
            "warnings",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert!(v.get("error").is_none());
    }
}
