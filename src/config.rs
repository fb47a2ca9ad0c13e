//! The sync config: read as one JSON object, checked whole (every problem
//! reported at once), defaults applied, secrets wrapped. Nothing here starts
//! a process.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::secret::Secret;
use crate::url::{RemoteUrl, WebUrl};

/// Largest config accepted, in bytes.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The default `commit_message`.
pub const DEFAULT_COMMIT_MESSAGE: &str = "Automated Windmill workspace backup - {workspace}";

/// The validated config the run works from.
#[derive(Debug, Clone)]
pub struct Config {
    pub windmill_token: Secret,
    pub windmill_base_url: WebUrl,
    pub workspace: String,
    pub git_remote: RemoteUrl,
    pub git_token: Option<Secret>,
    pub git_username: String,
    pub git_branch: String,
    pub git_user_name: String,
    pub git_user_email: String,
    /// Empty for the repo root; otherwise `a/b` without leading or trailing `/`.
    pub repo_subdir: String,
    pub commit_message: String,
    pub work_dir: Option<PathBuf>,
    pub wmill_path: PathBuf,
    pub scope: Scope,
    pub pull_timeout_secs: u64,
    pub git_timeout_secs: u64,
    pub lock_timeout_secs: u64,
    pub max_delete_ratio: f64,
    pub allow_mass_delete: bool,
    pub secret_scan: SecretScan,
    pub secret_scan_allow: Vec<String>,
}

/// What the backup covers; recorded in `<place>/wmill.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub include_secrets: bool,
    pub include_schedules: bool,
    pub include_triggers: bool,
    pub include_users: bool,
    pub include_groups: bool,
    pub include_settings: bool,
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretScan {
    Block,
    Warn,
    Off,
}

/// The environment the config's defaults may come from (SPEC 2 and 3).
#[derive(Debug, Default, Clone)]
pub struct Env {
    pub vars: BTreeMap<String, String>,
}

impl Env {
    pub fn from_process() -> Self {
        let keys = [
            "WINDMILL_BASE_URL",
            "BASE_INTERNAL_URL",
            "WM_BASE_URL",
            "WM_WORKSPACE",
            "WM_TOKEN",
        ];
        let vars = keys
            .iter()
            .filter_map(|k| {
                std::env::var(k)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| (k.to_string(), v))
            })
            .collect();
        Env { vars }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }
}

/// A config that parsed, plus the warnings it raised.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// Every problem found, each naming its key.
#[derive(Debug, Clone, PartialEq)]
pub struct Problems(pub Vec<String>);

impl Problems {
    pub fn message(&self) -> String {
        match self.0.as_slice() {
            [one] => format!("invalid config: {one}"),
            many => format!(
                "invalid config ({} problems): {}",
                many.len(),
                many.join("; ")
            ),
        }
    }
}

/// Every key the config knows, with whether it is a secret.
const KEYS: &[(&str, bool)] = &[
    ("windmill_token", true),
    ("windmill_base_url", false),
    ("workspace", false),
    ("git_remote_url", false),
    ("git_token", true),
    ("git_username", false),
    ("git_branch", false),
    ("git_user_name", false),
    ("git_user_email", false),
    ("repo_subdir", false),
    ("commit_message", false),
    ("work_dir", false),
    ("wmill_path", false),
    ("include_secrets", false),
    ("include_schedules", false),
    ("include_triggers", false),
    ("include_users", false),
    ("include_groups", false),
    ("include_settings", false),
    ("includes", false),
    ("excludes", false),
    ("pull_timeout_secs", false),
    ("git_timeout_secs", false),
    ("lock_timeout_secs", false),
    ("max_delete_ratio", false),
    ("allow_mass_delete", false),
    ("secret_scan", false),
    ("secret_scan_allow", false),
];

/// Reads at most [`MAX_CONFIG_BYTES`] from `input`.
pub fn read_limited(mut input: impl Read, what: &str) -> Result<Vec<u8>, Problems> {
    let mut buf = Vec::new();
    let read = input
        .by_ref()
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut buf);
    match read {
        Err(e) => Err(Problems(vec![format!(
            "could not read the config from {what}: {e}"
        )])),
        Ok(_) if buf.len() as u64 > MAX_CONFIG_BYTES => Err(Problems(vec![format!(
            "the config from {what} is larger than {} bytes",
            MAX_CONFIG_BYTES
        )])),
        Ok(_) => Ok(buf),
    }
}

/// Parses and validates a config. `base` resolves relative paths.
pub fn load(bytes: &[u8], env: &Env, base: &Path) -> Result<Loaded, Problems> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Problems(vec![format!(
            "the config is not valid UTF-8 (first bad byte at offset {})",
            e.valid_up_to()
        )])
    })?;
    if text.trim().is_empty() {
        return Err(Problems(vec![
            "the config is empty: expected one JSON object such as {\"git_remote_url\": \"...\"}"
                .into(),
        ]));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Problems(vec![format!("the config is not valid JSON: {e}")]))?;
    let Value::Object(map) = value else {
        return Err(Problems(vec![format!(
            "the config must be a JSON object, not {}",
            type_name(&value)
        )]));
    };
    Checker::new(map, env, base).check()
}

struct Checker<'a> {
    map: Map<String, Value>,
    env: &'a Env,
    base: &'a Path,
    problems: Vec<String>,
    warnings: Vec<String>,
}

impl<'a> Checker<'a> {
    fn new(map: Map<String, Value>, env: &'a Env, base: &'a Path) -> Self {
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

    fn check(mut self) -> Result<Loaded, Problems> {
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

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Shows a key from user input safely in one line.
fn escape_key(key: &str) -> String {
    let shown: String = key
        .chars()
        .take(64)
        .flat_map(char::escape_default)
        .collect();
    if key.chars().count() > 64 {
        format!("{shown}...")
    } else {
        shown
    }
}

fn valid_workspace_id(ws: &str) -> bool {
    !ws.is_empty()
        && ws.len() <= 50
        && ws
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `git check-ref-format --branch` rules, plus wmill's refusal of `wm-fork/`.
pub fn check_branch(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if name.starts_with("wm-fork/") {
        return Err("is under `wm-fork/`, which wmill reserves");
    }
    if name.starts_with('-') {
        return Err("starts with `-`");
    }
    if name == "HEAD" || name == "@" {
        return Err("is not a branch name");
    }
    if name.contains("..") || name.contains("@{") || name.contains("//") {
        return Err("contains `..`, `@{` or `//`");
    }
    if name.starts_with('/') || name.ends_with('/') || name.ends_with('.') {
        return Err("starts or ends with `/`, or ends with `.`");
    }
    if name
        .chars()
        .any(|c| c.is_ascii_control() || c == '\u{7f}' || " ~^:?*[\\".contains(c))
    {
        return Err("contains a space, a control character or one of ~ ^ : ? * [ \\");
    }
    if name
        .split('/')
        .any(|c| c.starts_with('.') || c.ends_with(".lock"))
    {
        return Err("has a part starting with `.` or ending with `.lock`");
    }
    Ok(())
}

/// Normalises `repo_subdir`: relative, no `..`, no `.git`, no empty parts.
pub fn normalise_subdir(raw: &str) -> Result<String, &'static str> {
    if raw.starts_with('/') || raw.starts_with('\\') {
        return Err("must be relative (no leading `/`)");
    }
    if raw.contains('\\') {
        return Err("must use `/` as separator");
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => continue,
            ".." => return Err("must not contain `..`"),
            p if p.eq_ignore_ascii_case(".git") => return Err("must not contain `.git`"),
            p if p.chars().any(|c| c.is_control()) => {
                return Err("must not contain control characters")
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// Levenshtein distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().take(256).enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests;
