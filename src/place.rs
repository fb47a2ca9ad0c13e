//! The workspace's place in the repo (SPEC 5): which paths the tool owns,
//! which of them count as changes, and the `wmill.yaml` that records the
//! backup's scope.

use crate::config::Scope;

/// Top-level folders wmill writes workspace content into.
pub const OWNED_DIRS: &[&str] = &[
    "f",
    "u",
    "g",
    "users",
    "groups",
    "dependencies",
    "migrations",
    "locks",
    "ui",
];

/// Top-level files wmill writes (besides `*.resource-type.yaml`).
pub const OWNED_FILES: &[&str] = &[
    "settings.yaml",
    "encryption_key.yaml",
    WMILL_YAML,
    LOCK_YAML,
];

pub const WMILL_YAML: &str = "wmill.yaml";
pub const LOCK_YAML: &str = "wmill-lock.yaml";

/// `repo_subdir`, or the repo root when empty.
#[derive(Debug, Clone)]
pub struct Place {
    subdir: String,
}

impl Place {
    pub fn new(subdir: &str) -> Self {
        Place {
            subdir: subdir.to_string(),
        }
    }

    pub fn subdir(&self) -> &str {
        &self.subdir
    }

    /// `path` (relative to the repo root) seen from inside the place.
    fn inner<'p>(&self, path: &'p str) -> Option<&'p str> {
        if self.subdir.is_empty() {
            return Some(path);
        }
        path.strip_prefix(self.subdir.as_str())?.strip_prefix('/')
    }

    /// Whether the tool owns `path`: all of a subdirectory place; at the
    /// root, only the names wmill writes.
    pub fn owns(&self, path: &str) -> bool {
        let Some(inner) = self.inner(path) else {
            return false;
        };
        if !self.subdir.is_empty() {
            return true;
        }
        match inner.split_once('/') {
            Some((top, _)) => OWNED_DIRS.contains(&top),
            None => OWNED_FILES.contains(&inner) || inner.ends_with(".resource-type.yaml"),
        }
    }

    /// Owned and not one of the tool's two bookkeeping files.
    pub fn is_content(&self, path: &str) -> bool {
        self.owns(path) && !matches!(self.inner(path), Some(WMILL_YAML | LOCK_YAML))
    }
}

/// The `wmill.yaml` for a scope: only scope keys, never `workspaces:`.
pub fn wmill_yaml(scope: &Scope) -> String {
    let mut y = String::from(
        "# Written by windmill-git-sync on every run: the scope of this backup.\n\
         # `wmill sync push` from this folder restores with the same scope.\n",
    );
    y.push_str("defaultTs: bun\n");
    list(&mut y, "includes", &scope.includes);
    list(&mut y, "excludes", &scope.excludes);
    for (key, on) in [
        ("skipSecrets", !scope.include_secrets),
        ("includeSchedules", scope.include_schedules),
        ("includeTriggers", scope.include_triggers),
        ("includeUsers", scope.include_users),
        ("includeGroups", scope.include_groups),
        ("includeSettings", scope.include_settings),
    ] {
        y.push_str(&format!("{key}: {on}\n"));
    }
    y
}

fn list(y: &mut String, key: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    y.push_str(key);
    y.push_str(":\n");
    for item in items {
        y.push_str(&format!("  - '{}'\n", item.replace('\'', "''")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_place_owns_only_wmill_names() {
        let p = Place::new("");
        for owned in [
            "f/a/b.py",
            "u/admin/x.sh",
            "pg.resource-type.yaml",
            "wmill.yaml",
            "settings.yaml",
            "ui/x.ts",
        ] {
            assert!(p.owns(owned), "{owned}");
        }
        for not in [
            "README.md",
            ".ci/run",
            "docs/f/x.py",
            "f",
            "sub/pg.resource-type.yaml",
            ".gitignore",
        ] {
            assert!(!p.owns(not), "{not}");
        }
        assert!(!p.is_content("wmill-lock.yaml"));
        assert!(p.is_content("f/a/b.py"));
    }

    #[test]
    fn subdir_place_owns_everything_below_it() {
        let p = Place::new("backup/ws");
        assert!(p.owns("backup/ws/f/a.py"));
        assert!(p.owns("backup/ws/README.md"));
        assert!(!p.owns("backup/wsx/f/a.py"));
        assert!(!p.owns("f/a.py"));
        assert!(!p.is_content("backup/ws/wmill.yaml"));
    }

    #[test]
    fn wmill_yaml_records_scope_without_workspaces() {
        let scope = Scope {
            include_secrets: false,
            include_schedules: true,
            include_triggers: true,
            include_users: false,
            include_groups: false,
            include_settings: false,
            includes: vec!["f/it's/**".into()],
            excludes: vec![],
        };
        let y = wmill_yaml(&scope);
        assert!(y.contains("skipSecrets: true\n"));
        assert!(y.contains("  - 'f/it''s/**'\n"));
        assert!(!y.contains("workspaces"));
    }
}
