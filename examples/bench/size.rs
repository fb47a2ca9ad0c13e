//! One size: the stand-in serving the generated workspace, the lanes (a
//! remote each for the tool and the floor) and the scenarios run on them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::floor::copy_dir;
use crate::report::Row;
use crate::tool::{expect_status, tool_run};
use crate::windmill::WindmillStandIn;
use crate::workspace::{generate, put_script, script_path};
use crate::{git, progress, Env, Mode, Scenario, BRANCH, FOLDER_SIZE, TOKEN, WORKSPACE};

/// A remote and, for a persistent run, the checkout that pushes to it.
#[derive(Clone)]
pub(crate) struct Lane {
    pub(crate) remote: PathBuf,
    pub(crate) work: Option<PathBuf>,
}

#[derive(Clone)]
pub(crate) struct Lanes {
    pub(crate) ours: Lane,
    pub(crate) floor: Lane,
}

pub(crate) struct Size<'a> {
    pub(crate) env: &'a Env,
    pub(crate) n: usize,
    pub(crate) runs: usize,
    pub(crate) wmill_yaml: &'a [u8],
    pub(crate) dir: tempfile::TempDir,
    pub(crate) standin: WindmillStandIn,
    /// Bumped by every edit, so that every edit changes the content.
    pub(crate) revision: usize,
    /// Scripts deleted so far (always the last ones).
    pub(crate) deleted: usize,
    /// A remote the tool keeps in sync with the current workspace.
    pub(crate) synced: Option<PathBuf>,
    pub(crate) made: usize,
}

impl<'a> Size<'a> {
    pub(crate) fn new(env: &'a Env, n: usize, runs: usize, wmill_yaml: &'a [u8]) -> Size<'a> {
        let started = Instant::now();
        let ws = generate(n);
        progress(&format!(
            "N={n}: generated {} scripts, {} flows, {} resources, {} variables in {} folders ({:.2} s)",
            n,
            n / 10,
            n / 10,
            n / 10,
            n.div_ceil(FOLDER_SIZE),
            started.elapsed().as_secs_f64()
        ));
        Size {
            env,
            n,
            runs,
            wmill_yaml,
            dir: tempfile::tempdir().expect("temporary directory"),
            standin: WindmillStandIn::start(TOKEN, WORKSPACE, ws),
            revision: 0,
            deleted: 0,
            synced: None,
            made: 0,
        }
    }

    pub(crate) fn run(
        &mut self,
        only: &BTreeSet<Scenario>,
        rows: &mut Vec<Row>,
    ) -> Result<(), String> {
        let steady = [
            Scenario::Nochange,
            Scenario::Edit1,
            Scenario::Edit50,
            Scenario::Delete1,
        ];
        for mode in [Mode::Persistent, Mode::Fresh] {
            let wanted: Vec<Scenario> = steady
                .iter()
                .copied()
                .filter(|s| only.contains(s))
                .collect();
            let lanes = if only.contains(&Scenario::First) {
                self.first(mode, rows)?
            } else if wanted.is_empty() {
                continue;
            } else {
                self.setup(mode)?
            };
            for scenario in wanted {
                self.steady(scenario, mode, &lanes, rows)?;
            }
            self.synced = Some(lanes.ours.remote.clone());
        }
        if only.contains(&Scenario::History) {
            self.history(rows)?;
        }
        Ok(())
    }

    pub(crate) fn scratch(&mut self, name: &str) -> PathBuf {
        self.made += 1;
        self.dir.path().join(format!("{name}-{}", self.made))
    }

    pub(crate) fn new_lane(&mut self, mode: Mode, who: &str) -> Lane {
        let remote = self.scratch(&format!("{who}-remote.git"));
        git::init_bare(&remote);
        let work = (mode == Mode::Persistent).then(|| self.scratch(&format!("{who}-work")));
        Lane { remote, work }
    }

    pub(crate) fn tag(&self, mode: Mode, scenario: Scenario) -> String {
        format!("N={} {} {}", self.n, mode.label(), scenario.label())
    }

    /// First sync into an empty remote (and an empty `work_dir`), `runs`
    /// times; the last run's lanes are kept for the next scenarios.
    pub(crate) fn first(&mut self, mode: Mode, rows: &mut Vec<Row>) -> Result<Lanes, String> {
        let tag = self.tag(mode, Scenario::First);
        let mut row = Row::new(Scenario::First, mode, self.n);
        let mut last = None;
        for r in 0..self.runs {
            let lanes = Lanes {
                ours: self.new_lane(mode, "ours"),
                floor: self.new_lane(mode, "floor"),
            };
            let label = format!("{tag} {}/{}", r + 1, self.runs);
            self.measure(&mut row, &lanes, true, "pushed", r, &label)?;
            last = Some(lanes);
        }
        let lanes = last.expect("at least one run");
        row.note = self.compare_trees(&lanes);
        row.differs = row.note.is_some();
        rows.push(row);
        Ok(lanes)
    }

    /// Lanes in sync with the workspace without measuring: copies of a
    /// synced remote, or one untimed run of the tool.
    pub(crate) fn setup(&mut self, mode: Mode) -> Result<Lanes, String> {
        let base = self.synced_remote()?;
        let ours = self.scratch("ours-remote.git");
        let floor = self.scratch("floor-remote.git");
        copy_dir(&base, &ours);
        copy_dir(&base, &floor);
        let mut lanes = Lanes {
            ours: Lane {
                remote: ours,
                work: None,
            },
            floor: Lane {
                remote: floor,
                work: None,
            },
        };
        if mode == Mode::Persistent {
            let ours_work = self.scratch("ours-work");
            let floor_work = self.scratch("floor-work");
            let label = format!("N={} setup of the persistent work_dir", self.n);
            let run = tool_run(
                self.env,
                &self.standin.base_url(),
                &lanes.ours.remote,
                Some(&ours_work),
                &label,
            )?;
            expect_status(&run, "no_changes", &label)?;
            git::checkout(&lanes.floor.remote, BRANCH, &floor_work);
            lanes.ours.work = Some(ours_work);
            lanes.floor.work = Some(floor_work);
        }
        Ok(lanes)
    }

    pub(crate) fn synced_remote(&mut self) -> Result<PathBuf, String> {
        if let Some(remote) = &self.synced {
            return Ok(remote.clone());
        }
        let remote = self.scratch("synced-remote.git");
        git::init_bare(&remote);
        let label = format!("N={} setup: first sync (not measured)", self.n);
        progress(&label);
        let run = tool_run(self.env, &self.standin.base_url(), &remote, None, &label)?;
        expect_status(&run, "pushed", &label)?;
        self.synced = Some(remote.clone());
        Ok(remote)
    }

    /// No change, edits or a deletion, `runs` times on the same lanes.
    pub(crate) fn steady(
        &mut self,
        scenario: Scenario,
        mode: Mode,
        lanes: &Lanes,
        rows: &mut Vec<Row>,
    ) -> Result<(), String> {
        let tag = self.tag(mode, scenario);
        let mut row = Row::new(scenario, mode, self.n);
        for r in 0..self.runs {
            let status = match scenario {
                Scenario::Nochange => "no_changes",
                Scenario::Edit1 => {
                    self.edit(1);
                    "pushed"
                }
                Scenario::Edit50 => {
                    self.edit(50);
                    "pushed"
                }
                _ => {
                    self.delete_one();
                    "pushed"
                }
            };
            let label = format!("{tag} {}/{}", r + 1, self.runs);
            self.measure(&mut row, lanes, false, status, r, &label)?;
        }
        row.note = self.compare_trees(lanes);
        row.differs = row.note.is_some();
        rows.push(row);
        Ok(())
    }

    /// One run of the tool and one of the floor, in alternating order.
    pub(crate) fn measure(
        &mut self,
        row: &mut Row,
        lanes: &Lanes,
        first: bool,
        status: &str,
        r: usize,
        label: &str,
    ) -> Result<(), String> {
        let base_url = self.standin.base_url();
        let mut ours = None;
        let mut floor = None;
        for turn in 0..2 {
            if (turn + r) % 2 == 0 {
                let run = tool_run(
                    self.env,
                    &base_url,
                    &lanes.ours.remote,
                    lanes.ours.work.as_deref(),
                    label,
                )?;
                expect_status(&run, status, label)?;
                ours = Some(run);
            } else {
                let scratch = self.scratch("floor-checkout");
                floor = Some(self.floor(&lanes.floor, first, &scratch, label)?);
            }
        }
        let (ours, floor) = (ours.expect("ran"), floor.expect("ran"));
        progress(&format!(
            "{label}: ours {:.2} s (wmill {}), floor {:.2} s (wmill {:.2} s)",
            ours.wall.as_secs_f64(),
            ours.pulled
                .map_or("n/a".into(), |d| format!("{:.2} s", d.as_secs_f64())),
            floor.wall.as_secs_f64(),
            floor.wmill.as_secs_f64()
        ));
        row.add(&ours, &floor);
        Ok(())
    }

    /// A note when the tool's pushed tree differs from the floor's.
    pub(crate) fn compare_trees(&self, lanes: &Lanes) -> Option<String> {
        let ours = blobs(&lanes.ours.remote);
        let floor = blobs(&lanes.floor.remote);
        if ours == floor {
            return None;
        }
        let paths: BTreeSet<&String> = ours.keys().chain(floor.keys()).collect();
        let differing: Vec<&str> = paths
            .into_iter()
            .filter(|p| ours.get(*p) != floor.get(*p))
            .map(String::as_str)
            .collect();
        progress(&format!(
            "warning: the tool's tree differs from the floor's in {} path(s): {}",
            differing.len(),
            differing
                .iter()
                .take(20)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ));
        Some(format!(
            "tree differs from the floor's in {} path(s)",
            differing.len()
        ))
    }

    /// Edits `k` distinct live scripts in the stand-in.
    pub(crate) fn edit(&mut self, k: usize) {
        self.revision += 1;
        let live = self.n - self.deleted;
        let step = (live / k).max(1);
        let rev = self.revision;
        self.standin.update(|ws| {
            for j in 0..k.min(live) {
                put_script(ws, (j * step + rev * 7) % live, rev);
            }
        });
    }

    /// Deletes the last live script in the stand-in.
    pub(crate) fn delete_one(&mut self) {
        self.deleted += 1;
        let path = script_path(self.n - self.deleted);
        self.standin.update(|ws| {
            ws.remove(&path);
        });
    }
}

/// Path to blob id of every file on the branch.
fn blobs(remote: &Path) -> BTreeMap<String, String> {
    let listing = git::git_bytes(remote, &["ls-tree", "-r", "-z", "--full-tree", BRANCH]);
    String::from_utf8_lossy(&listing)
        .split('\0')
        .filter_map(|record| {
            let (meta, path) = record.split_once('\t')?;
            Some((path.to_string(), meta.split(' ').nth(2)?.to_string()))
        })
        .collect()
}
