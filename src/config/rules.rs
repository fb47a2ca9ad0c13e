//! Rules for single values: branch names, `repo_subdir`, workspace ids,
//! and the helpers that word problems.

use serde_json::Value;

pub(super) fn type_name(v: &Value) -> &'static str {
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
pub(super) fn escape_key(key: &str) -> String {
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

pub(super) fn valid_workspace_id(ws: &str) -> bool {
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
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
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
