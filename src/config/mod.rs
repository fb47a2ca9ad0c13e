//! The sync config: read as one JSON object, checked whole (every problem
//! reported at once), defaults applied, secrets wrapped. Nothing here starts
//! a process.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::secret::Secret;
use crate::url::{RemoteUrl, WebUrl};

mod checker;
mod rules;

use rules::type_name;

use rules::check_branch;

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
pub(crate) const KEYS: &[(&str, bool)] = &[
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
    checker::Checker::new(map, env, base).check()
}

#[cfg(test)]
mod tests;
