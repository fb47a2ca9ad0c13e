//! Whether a fresh checkout's git cost grows with the remote's history.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::floor::copy_dir;
use crate::report::Row;
use crate::size::Size;
use crate::tool::{expect_status, tool_run};
use crate::{git, progress, Mode, Scenario, BRANCH, HISTORY};

impl Size<'_> {
    /// A fresh-checkout no-change run against a remote with 1 and with
    /// 1,000 earlier commits: the tool's time outside wmill should not grow.
    pub(crate) fn history(&mut self, rows: &mut Vec<Row>) -> Result<(), String> {
        let base = self.synced_remote()?;
        let tree_rev = format!("{BRANCH}^{{tree}}");
        let tree = git::git(&base, &["rev-parse", &tree_rev]);

        let short = self.scratch("history-1.git");
        copy_dir(&base, &short);
        let root = git::git(&short, &["commit-tree", &tree, "-m", "the only commit"]);
        git::git(
            &short,
            &["update-ref", &format!("refs/heads/{BRANCH}"), &root],
        );

        let long = self.scratch("history-1000.git");
        copy_dir(&base, &long);
        let started = Instant::now();
        add_history(&long, HISTORY);
        let long_tree = git::git(&long, &["rev-parse", &tree_rev]);
        assert_eq!(
            long_tree, tree,
            "the long history must end on the same tree"
        );
        progress(&format!(
            "N={}: remotes with 1 and {} commits made ({:.2} s)",
            self.n,
            git::commit_count(&long, BRANCH),
            started.elapsed().as_secs_f64()
        ));

        let tag = self.tag(Mode::Fresh, Scenario::History);
        let base_url = self.standin.base_url();
        let mut row = Row::new(Scenario::History, Mode::Fresh, self.n);
        let mut unknown = false;
        for r in 0..self.runs {
            let label = format!("{tag} {}/{}", r + 1, self.runs);
            let mut times = [None, None];
            for turn in 0..2 {
                let which = (turn + r) % 2;
                let remote = if which == 0 { &long } else { &short };
                let run = tool_run(self.env, &base_url, remote, None, &label)?;
                expect_status(&run, "no_changes", &label)?;
                unknown |= run.pulled.is_none();
                row.memory(&run);
                let pulled = run.pulled.unwrap_or_default();
                let git = run.wall.saturating_sub(pulled);
                times[which] = Some((git, pulled));
            }
            let (long_git, long_pull) = times[0].expect("ran");
            let (short_git, short_pull) = times[1].expect("ran");
            progress(&format!(
                "{label}: git time {:.2} s with {HISTORY} earlier commits, {:.2} s with 1",
                long_git.as_secs_f64(),
                short_git.as_secs_f64()
            ));
            row.ours.push(long_git.as_secs_f64());
            row.ours_wmill.push(long_pull.as_secs_f64());
            row.floor.push(short_git.as_secs_f64());
            row.floor_wmill.push(short_pull.as_secs_f64());
        }
        if unknown {
            row.note = Some("the tool did not log its pull time: whole wall time".into());
        }
        rows.push(row);
        Ok(())
    }
}

/// `count` commits on top of the branch, each changing one script, the
/// last one restoring them all: the tip's tree stays what it was.
pub(crate) fn add_history(repo: &Path, count: usize) {
    let listing = git::git(repo, &["ls-tree", "-r", "--full-tree", BRANCH]);
    let files: Vec<(String, String)> = listing
        .lines()
        .filter_map(|l| {
            let (meta, path) = l.split_once('\t')?;
            let sha = meta.split(' ').nth(2)?;
            let script = path.ends_with(".ts") || path.ends_with(".py") || path.ends_with(".sh");
            script.then(|| (sha.to_string(), path.to_string()))
        })
        .collect();
    assert!(!files.is_empty(), "no script files to build history on");
    let tip = git::git(repo, &["rev-parse", BRANCH]);
    let mut stream = String::new();
    let mut touched = BTreeSet::new();
    let data = |s: &mut String, text: &str| {
        let _ = write!(s, "data {}\n{text}\n", text.len());
    };
    for k in 1..=count {
        let _ = writeln!(stream, "commit refs/heads/{BRANCH}");
        let _ = writeln!(
            stream,
            "committer Bench <bench@example.com> {} +0000",
            1_700_000_000 + k
        );
        data(&mut stream, &format!("history {k}"));
        if k == 1 {
            let _ = writeln!(stream, "from {tip}");
        }
        if k < count {
            let i = (k - 1) % files.len();
            touched.insert(i);
            let _ = writeln!(stream, "M 100644 inline {}", files[i].1);
            data(&mut stream, &format!("// an older version, {k}\n"));
        } else {
            for &i in &touched {
                let _ = writeln!(stream, "M 100644 {} {}", files[i].0, files[i].1);
            }
        }
    }
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(repo)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::piped())
        .spawn()
        .expect("start git fast-import");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stream.as_bytes())
        .expect("feed git fast-import");
    let status = child.wait().expect("wait for git fast-import");
    assert!(status.success(), "git fast-import failed: {status}");
}
