//! The adapter for the `wmill` CLI: authentication by environment only
//! (never `--token`, `--base-url` or `--workspace`), a private config dir,
//! and the reading of its exit codes and messages (WMILL.md sections 2, 11).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::process::{base_env, Child, Output};
use crate::secret::Secret;
use crate::url::WebUrl;

pub struct Wmill {
    program: PathBuf,
    env: Vec<(OsString, OsString)>,
    timeout: Duration,
}

/// Why a pull failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullError {
    pub message: String,
    pub hint: String,
    pub retry: bool,
}

impl Wmill {
    pub fn new(
        program: &Path,
        token: &Secret,
        workspace: &str,
        base_url: &WebUrl,
        home: &Path,
        config_dir: &Path,
        timeout: Duration,
    ) -> Wmill {
        let mut env = base_env(home);
        env.push(("WM_TOKEN".into(), token.expose().into()));
        env.push(("WM_WORKSPACE".into(), workspace.into()));
        env.push(("BASE_URL".into(), base_url.as_str().into()));
        env.push(("WMILL_CONFIG_DIR".into(), config_dir.as_os_str().to_owned()));
        Wmill {
            program: program.to_path_buf(),
            env,
            timeout,
        }
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    /// `wmill sync pull --yes [--dry-run --json-output]` in `dir`, which
    /// holds the `wmill.yaml` that sets the scope. `extra` adds flags such
    /// as `--includes`.
    pub fn pull(&self, dir: &Path, dry_run: bool, extra: &[String]) -> Result<Output> {
        let mut args: Vec<OsString> = vec!["sync".into(), "pull".into(), "--yes".into()];
        if dry_run {
            args.push("--dry-run".into());
            args.push("--json-output".into());
        }
        args.extend(extra.iter().map(OsString::from));
        Child {
            label: "wmill sync pull".into(),
            program: self.program.clone(),
            args,
            cwd: dir.to_path_buf(),
            env: self.env.clone(),
            stdin: None,
            timeout: self.timeout,
        }
        .run()
    }
}

/// Reads a failed pull's exit code and words (WMILL.md section 11).
pub fn classify(out: &Output, base_url: &str, workspace: &str) -> PullError {
    let text = format!("{}\n{}", out.stdout, out.stderr);
    let said = out.complaint(3);
    let status = out.status_text();
    let err = |message: String, hint: &str, retry: bool| PullError {
        message,
        hint: hint.to_string(),
        retry,
    };
    if text.contains("not found on") && text.contains("Workspace") {
        return err(
            format!("wmill sync pull failed ({status}): workspace {workspace:?} was not found on {base_url}"),
            "check `workspace`: it is the workspace id (Workspace settings), not its display name",
            false,
        );
    }
    if text.contains("Could not authenticate")
        || text.contains("Unauthorized")
        || text.contains("Could not reach API given existing credentials")
    {
        return err(
            format!("wmill sync pull failed ({status}): Windmill refused the token or its API failed: {said}"),
            "check `windmill_token` (a token of a workspace admin, created under User settings > Tokens) and `workspace`; if the token is right, the Windmill server may be failing",
            true,
        );
    }
    if text.contains("Network error")
        || text.contains("fetch failed")
        || text.contains("ECONNREFUSED")
    {
        return err(
            format!("wmill sync pull failed ({status}): Windmill could not be reached at {base_url}: {said}"),
            "check `windmill_base_url` (inside Docker compose usually http://windmill_server:8000) and the network",
            true,
        );
    }
    if text.contains("HTML response") {
        return err(
            format!("wmill sync pull failed ({status}): {said}"),
            "an authenticating proxy answered instead of Windmill: point `windmill_base_url` at Windmill itself",
            false,
        );
    }
    match out.code {
        Some(255) => err(
            format!("wmill sync pull refused the call ({status}): {said}"),
            "wmill rejected the invocation; check `workspace` and `windmill_base_url`, and that `wmill_path` is a matching windmill-cli version",
            false,
        ),
        Some(2) => err(
            format!("wmill sync pull did not accept its options ({status}): {said}"),
            "the installed windmill-cli does not know an option this tool passes: install the pinned version (see the README)",
            false,
        ),
        _ => err(
            format!("wmill sync pull failed ({status}): {said}"),
            "see the wmill output above (run with -v for the full log); the server may be failing",
            true,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(code: i32, stdout: &str, stderr: &str) -> Output {
        Output {
            code: Some(code),
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn reads_the_messages_wmill_prints() {
        let url = "http://w/";
        let bad_token = out(1, "", "! Could not reach API given existing credentials. Attempting to reauth...\nNot a TTY, can't login interactively.\nUnauthorized: Could not authenticate with the provided credentials");
        let e = classify(&bad_token, url, "ws");
        assert!(e.retry && e.hint.contains("windmill_token"), "{e:?}");

        let unknown = out(1, "Workspace id 'nope' not found on http://w/.\n", "");
        let e = classify(&unknown, url, "nope");
        assert!(!e.retry && e.hint.contains("workspace"), "{e:?}");

        let refused = out(
            1,
            "",
            "Network error: Could not connect to Windmill server at http://127.0.0.1:1/",
        );
        assert!(classify(&refused, url, "ws")
            .hint
            .contains("windmill_base_url"));

        let usage = out(255, "", "No workspace given and no default set.");
        assert!(!classify(&usage, url, "ws").retry);

        let server = out(
            1,
            "Failed to request tarball from API: 500 Internal Server Error\nboom",
            "",
        );
        let e = classify(&server, url, "ws");
        assert!(e.retry && e.message.contains("500"), "{e:?}");
    }
}
