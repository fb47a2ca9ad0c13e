//! `--check`: proves both ends answer for this config without changing
//! anything: a `wmill sync pull --dry-run` and a `git push --dry-run`.

use serde_json::json;

use crate::config::Config;
use crate::error::{Failure, Kind, ResultExt};
use crate::place;
use crate::report::Report;
use crate::sync::{git_for, short, wmill_for};
use crate::workdir::{Checkout, Private};

pub fn run(cfg: &Config, private: &Private, report: &mut Report) -> Result<(), Failure> {
    let windmill = check_windmill(cfg, private);
    let git = check_git(cfg, private);
    let end = |r: &Result<String, Failure>| match r {
        Ok(m) => json!({"ok": true, "message": m}),
        Err(f) => json!({"ok": false, "message": f.message}),
    };
    report.check = Some(json!({"windmill": end(&windmill), "git": end(&git)}));
    match (windmill, git) {
        (Ok(w), Ok(g)) => {
            report.succeed("checked", format!("check passed: {w}; {g}"));
            Ok(())
        }
        (Err(f), _) | (Ok(_), Err(f)) => Err(f),
    }
}

fn check_windmill(cfg: &Config, private: &Private) -> Result<String, Failure> {
    let dir = Checkout::temporary()?;
    // A git repo stops wmill's upward search for a wmill.yaml at this dir.
    git_for(cfg, &dir.path, private)
        .and_then(|g| g.init())
        .kind(Kind::Internal)?;
    std::fs::write(
        dir.path.join(place::WMILL_YAML),
        place::wmill_yaml(&cfg.scope),
    )
    .map_err(|e| {
        Failure::new(
            Kind::Internal,
            format!("writing wmill.yaml for the check: {e}"),
        )
    })?;
    let wmill = wmill_for(cfg, private);
    let base = cfg.windmill_base_url.as_str();
    let out = match wmill.pull(&dir.path, true, &[]) {
        Ok(out) => out,
        Err(e) => return Err(Failure::from_error(Kind::Windmill, e)),
    };
    if !out.success() {
        let e = crate::wmill::classify(&out, base, &cfg.workspace);
        return Err(Failure::new(Kind::Windmill, e.message).with_hint(e.hint));
    }
    let items = serde_json::from_str::<serde_json::Value>(out.stdout.trim())
        .ok()
        .and_then(|v| v.get("total").and_then(|t| t.as_u64()));
    Ok(match items {
        Some(n) => format!(
            "Windmill at {base} serves workspace {} ({n} files)",
            cfg.workspace
        ),
        None => format!("Windmill at {base} serves workspace {}", cfg.workspace),
    })
}

fn check_git(cfg: &Config, private: &Private) -> Result<String, Failure> {
    let dir = Checkout::temporary()?;
    let git = git_for(cfg, &dir.path, private).kind(Kind::Internal)?;
    git.init().kind(Kind::Internal)?;
    let url = cfg.git_remote.as_str();
    let branch = &cfg.git_branch;
    let tip = git.remote_tip(url, branch).kind(Kind::Git)?;
    let (tree, parent) = match &tip {
        Some(_) => {
            let sha = git.fetch_tip(url, branch).kind(Kind::Git)?;
            (git.tree_of(&sha).kind(Kind::Git)?, Some(sha))
        }
        None => (git.empty_tree().kind(Kind::Git)?, None),
    };
    let probe = git
        .commit_tree(
            &tree,
            parent.as_deref(),
            "windmill-git-sync --check (never pushed)\n",
        )
        .kind(Kind::Git)?;
    git.push_dry_run(url, &probe, branch).kind(Kind::Git)?;
    Ok(match parent {
        Some(sha) => format!("{url} accepts a push to {branch} (tip {})", short(&sha)),
        None => format!("{url} accepts a push creating {branch}"),
    })
}
