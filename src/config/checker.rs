//! Checks the config object key by key, collecting every problem, and
//! builds the [`Config`] with defaults from the environment.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::rules::{edit_distance, escape_key, normalise_subdir, type_name, valid_workspace_id};
use super::{
    check_branch, Config, Env, Loaded, Problems, Scope, SecretScan, DEFAULT_COMMIT_MESSAGE, KEYS,
};
use crate::secret::Secret;
use crate::url::{RemoteUrl, WebUrl};

pub(super) struct Checker<'a> {
    map: Map<String, Value>,
    env: &'a Env,
    base: &'a Path,
    problems: Vec<String>,
    warnings: Vec<String>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(map: Map<String, Value>, env: &'a Env, base: &'a Path) -> Self {
        Checker {
            map,
            env,
            base,
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn problem(&mut self, key: &str, text: impl std::fmt::Display) {
        self.problems.push(format!("`{key}`: {text}"));
    }

    pub(super) fn check(mut self) -> Result<Loaded, Problems> {
        self.unknown_keys();
        let windmill_token = self.secret("windmill_token");
        let git_token = self.secret("git_token");
        let workspace_given = self.string("workspace");
        let workspace = workspace_given
            .clone()
            .or_else(|| self.env.get("WM_WORKSPACE").map(str::to_string))
            .unwrap_or_else(|| "admins".to_string());
        if !valid_workspace_id(&workspace) {
            self.problem(
                "workspace",
                format!(
                    "{:?} is not a Windmill workspace id (letters, digits, `-` and `_`, at most 50)",
                    workspace
                ),
            );
        }
        let windmill_token =
            windmill_token.or_else(|| self.job_token(workspace_given.as_deref(), &workspace));
        if windmill_token.is_none() {
            self.problem(
                "windmill_token",
                "missing (or `windmill_token_file`); inside a Windmill job the job's WM_TOKEN is used when `workspace` is unset or equals WM_WORKSPACE",
            );
        }
        let windmill_base_url = self.base_url();
        let git_remote = self.remote(git_token.is_some());
        let git_username = self.plain_text("git_username", "x-access-token");
        if git_username.contains(':') {
            self.problem("git_username", "must not contain `:`");
        }
        let git_branch = self.string("git_branch").unwrap_or_else(|| "main".into());
        if let Err(why) = check_branch(&git_branch) {
            self.problem("git_branch", format!("{git_branch:?} {why}"));
        }
        let git_user_name = self.plain_text("git_user_name", "Windmill Git Sync");
        let git_user_email = self.plain_text("git_user_email", "windmill@example.com");
        for (key, v) in [
            ("git_user_name", &git_user_name),
            ("git_user_email", &git_user_email),
        ] {
            if v.trim().is_empty() || v.contains(['<', '>']) {
                self.problem(key, "must be non-empty and hold no `<` or `>`");
            }
        }
        let repo_subdir = self.repo_subdir();
        let commit_message = self.plain_text("commit_message", DEFAULT_COMMIT_MESSAGE);
        if commit_message.trim().is_empty() {
            self.problem("commit_message", "must not be empty");
        }
        let work_dir = self.path("work_dir");
        let wmill_path = self
            .path("wmill_path")
            .unwrap_or_else(|| PathBuf::from("wmill"));
        let scope = Scope {
            include_secrets: self.bool("include_secrets", false),
            include_schedules: self.bool("include_schedules", true),
            include_triggers: self.bool("include_triggers", true),
            include_users: self.bool("include_users", false),
            include_groups: self.bool("include_groups", false),
            include_settings: self.bool("include_settings", false),
            includes: self.globs("includes", true),
            excludes: self.globs("excludes", true),
        };
        let pull_timeout_secs = self.int("pull_timeout_secs", 240, 1);
        let git_timeout_secs = self.int("git_timeout_secs", 120, 1);
        let lock_timeout_secs = self.int("lock_timeout_secs", 60, 0);
        let max_delete_ratio = self.ratio("max_delete_ratio", 0.5);
        let allow_mass_delete = self.bool("allow_mass_delete", false);
        let secret_scan = self.secret_scan();
        let secret_scan_allow = self.globs("secret_scan_allow", false);

        if !self.problems.is_empty() {
            return Err(Problems(self.problems));
        }
        let (Some(windmill_token), Some(windmill_base_url), Some(git_remote)) =
            (windmill_token, windmill_base_url, git_remote)
        else {
            return Err(Problems(vec!["the config is incomplete".into()]));
        };
        Ok(Loaded {
            config: Config {
                windmill_token,
                windmill_base_url,
                workspace,
                git_remote,
                git_token,
                git_username,
                git_branch,
                git_user_name,
                git_user_email,
                repo_subdir,
                commit_message,
                work_dir,
                wmill_path,
                scope,
                pull_timeout_secs,
                git_timeout_secs,
                lock_timeout_secs,
                max_delete_ratio,
                allow_mass_delete,
                secret_scan,
                secret_scan_allow,
            },
            warnings: self.warnings,
        })
    }

    fn unknown_keys(&mut self) {
        let known: Vec<String> = KEYS
            .iter()
            .flat_map(|(k, secret)| {
                let mut v = vec![k.to_string()];
                if *secret {
                    v.push(format!("{k}_file"));
                }
                v
            })
            .collect();
        let unknown: Vec<String> = self
            .map
            .keys()
            .filter(|k| !known.contains(k))
            .cloned()
            .collect();
        for key in unknown {
            let nearest = known
                .iter()
                .min_by_key(|k| edit_distance(&key, k))
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            self.problems
                .push(format!("unknown key `{}`{nearest}", escape_key(&key)));
        }
    }

    /// A value of the right JSON type, or `None` (absent, null, or a problem).
    fn typed(&mut self, key: &str, want: &str, accept: fn(&Value) -> bool) -> Option<Value> {
        let value = self.map.get(key)?.clone();
        if value.is_null() {
            return None;
        }
        if accept(&value) {
            Some(value)
        } else {
            self.problem(key, format!("expected {want}, got {}", type_name(&value)));
            None
        }
    }

    fn string(&mut self, key: &str) -> Option<String> {
        let s = self.typed(key, "a string", Value::is_string)?;
        let s = s.as_str().unwrap_or_default().to_string();
        if s.contains('\0') {
            self.problem(key, "contains a NUL character");
            return None;
        }
        Some(s)
    }

    fn plain_text(&mut self, key: &str, default: &str) -> String {
        match self.string(key) {
            Some(s) if s.contains(['\n', '\r']) && key != "commit_message" => {
                self.problem(key, "must be a single line");
                s
            }
            Some(s) => s,
            None => default.to_string(),
        }
    }

    fn bool(&mut self, key: &str, default: bool) -> bool {
        self.typed(key, "true or false", Value::is_boolean)
            .and_then(|v| v.as_bool())
            .unwrap_or(default)
    }

    fn int(&mut self, key: &str, default: u64, min: u64) -> u64 {
        let Some(v) = self.typed(key, "a whole number", Value::is_number) else {
            return default;
        };
        match v.as_u64() {
            Some(n) if n >= min && n <= 86_400 => n,
            _ => {
                self.problem(
                    key,
                    format!("expected a whole number from {min} to 86400, got {v}"),
                );
                default
            }
        }
    }

    fn ratio(&mut self, key: &str, default: f64) -> f64 {
        let Some(v) = self.typed(key, "a number from 0 to 1", Value::is_number) else {
            return default;
        };
        match v.as_f64() {
            Some(r) if (0.0..=1.0).contains(&r) => r,
            _ => {
                self.problem(key, format!("expected a number from 0 to 1, got {v}"));
                default
            }
        }
    }

    fn globs(&mut self, key: &str, no_commas: bool) -> Vec<String> {
        let Some(v) = self.typed(key, "an array of glob strings", Value::is_array) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in v.as_array().into_iter().flatten().enumerate() {
            match item.as_str() {
                Some(s) if s.trim().is_empty() || s.contains('\0') || s.contains(['\n', '\r']) => {
                    self.problem(
                        key,
                        format!("entry {i} must be a non-empty single-line glob"),
                    )
                }
                Some(s) if no_commas && s.contains(',') => self.problem(
                    key,
                    format!(
                        "entry {i} ({s:?}) contains `,`, which wmill would split into two globs"
                    ),
                ),
                Some(s) => out.push(s.to_string()),
                None => self.problem(
                    key,
                    format!("entry {i} must be a string, got {}", type_name(item)),
                ),
            }
        }
        out
    }

    fn path(&mut self, key: &str) -> Option<PathBuf> {
        let s = self.string(key)?;
        if s.trim().is_empty() {
            self.problem(key, "must not be empty");
            return None;
        }
        let p = PathBuf::from(s);
        Some(
            if p.is_absolute() || !p.to_string_lossy().contains('/') && key == "wmill_path" {
                p
            } else {
                self.base.join(p)
            },
        )
    }

    fn secret(&mut self, key: &str) -> Option<Secret> {
        let file_key = format!("{key}_file");
        let inline = self.map.contains_key(key) && !self.map[key].is_null();
        let from_file = self.map.contains_key(&file_key) && !self.map[&file_key].is_null();
        if inline && from_file {
            self.problem(
                key,
                format!("give either `{key}` or `{file_key}`, not both"),
            );
            return None;
        }
        let value = if from_file {
            let path = self.path(&file_key)?;
            match std::fs::read(&path) {
                Ok(bytes) if bytes.len() > 64 * 1024 => {
                    self.problem(
                        &file_key,
                        format!("{} is larger than 64 KiB", path.display()),
                    );
                    return None;
                }
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(mut s) => {
                        if s.ends_with('\n') {
                            s.pop();
                            if s.ends_with('\r') {
                                s.pop();
                            }
                        }
                        s
                    }
                    Err(_) => {
                        self.problem(&file_key, format!("{} is not UTF-8 text", path.display()));
                        return None;
                    }
                },
                Err(e) => {
                    self.problem(&file_key, format!("cannot read {}: {e}", path.display()));
                    return None;
                }
            }
        } else {
            self.string(key)?
        };
        let shown = if from_file { file_key.as_str() } else { key };
        if value.is_empty() {
            self.problem(shown, "is empty");
            return None;
        }
        if value.chars().any(|c| c.is_control() || c == ' ') {
            self.problem(
                shown,
                "holds spaces or control characters (a stray newline?)",
            );
            return None;
        }
        crate::secret::register(&value);
        Some(Secret::new(value))
    }

    fn job_token(&mut self, workspace_given: Option<&str>, workspace: &str) -> Option<Secret> {
        let token = self.env.get("WM_TOKEN")?.to_string();
        let job_ws = self.env.get("WM_WORKSPACE");
        let same = match workspace_given {
            None => true,
            Some(ws) => job_ws == Some(ws),
        };
        if !same || job_ws.is_none() || workspace.is_empty() {
            return None;
        }
        crate::secret::register(&token);
        self.warnings.push(
            "using the Windmill job's own token (WM_TOKEN): it carries the permissions of the user running the job; a workspace admin's token gives the complete backup".into(),
        );
        Some(Secret::new(token))
    }

    fn base_url(&mut self) -> Option<WebUrl> {
        let (raw, source) = match self.string("windmill_base_url") {
            Some(s) => (s, "windmill_base_url".to_string()),
            None => ["WINDMILL_BASE_URL", "BASE_INTERNAL_URL", "WM_BASE_URL"]
                .iter()
                .find_map(|k| {
                    self.env
                        .get(k)
                        .map(|v| (v.to_string(), format!("windmill_base_url (from {k})")))
                })
                .unwrap_or_else(|| {
                    (
                        "http://windmill_server:8000".into(),
                        "windmill_base_url".into(),
                    )
                }),
        };
        match WebUrl::parse(&raw) {
            Ok(url) => Some(url),
            Err(why) => {
                self.problems.push(format!("`{source}`: {why}"));
                None
            }
        }
    }

    fn remote(&mut self, have_token: bool) -> Option<RemoteUrl> {
        let Some(raw) = self.string("git_remote_url") else {
            if !self.map.contains_key("git_remote_url") {
                self.problem(
                    "git_remote_url",
                    "missing: the Git repository to push the backup to",
                );
            }
            return None;
        };
        match RemoteUrl::parse(&raw, self.base) {
            Err(why) => {
                self.problem("git_remote_url", why);
                None
            }
            Ok(url) => {
                if url.is_http() && !have_token {
                    self.problem(
                        "git_token",
                        "missing (or `git_token_file`): required for an http(s) `git_remote_url`",
                    );
                }
                if url.is_plain_http() && !url.is_loopback() {
                    self.warnings.push(format!(
                        "git_remote_url uses plain http to {}: the token travels unencrypted",
                        url.host()
                    ));
                }
                if !url.is_http() && have_token {
                    self.warnings
                        .push("git_token is not used for a local git_remote_url".into());
                }
                Some(url)
            }
        }
    }

    fn repo_subdir(&mut self) -> String {
        let Some(raw) = self.string("repo_subdir") else {
            return String::new();
        };
        match normalise_subdir(&raw) {
            Ok(s) => s,
            Err(why) => {
                self.problem("repo_subdir", format!("{raw:?} {why}"));
                String::new()
            }
        }
    }

    fn secret_scan(&mut self) -> SecretScan {
        match self.string("secret_scan").as_deref() {
            None | Some("block") => SecretScan::Block,
            Some("warn") => SecretScan::Warn,
            Some("off") => SecretScan::Off,
            Some(other) => {
                self.problem(
                    "secret_scan",
                    format!("{other:?} is not one of `block`, `warn`, `off`"),
                );
                SecretScan::Block
            }
        }
    }
}
