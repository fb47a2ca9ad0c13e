//! Text checks on the Dockerfile and .dockerignore: the image pins the same
//! windmill-cli the tests run, and keeps the promises the README makes
//! about it. Building the image needs a container engine, which CI lacks.

use std::path::Path;

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// One instruction: the keyword in upper case and the rest of the line.
type Instruction = (String, String);

/// The Dockerfile's instructions, continuation lines joined and comments
/// dropped (Docker drops comment lines inside a continuation too).
fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(trimmed);
                let (keyword, rest) = current
                    .split_once(char::is_whitespace)
                    .unwrap_or((&current, ""));
                out.push((keyword.to_uppercase(), rest.trim().to_string()));
                current.clear();
            }
        }
    }
    out
}

/// The instructions of the last stage, the one that becomes the image.
fn runtime_stage(all: &[Instruction]) -> &[Instruction] {
    let last_from = all.iter().rposition(|(k, _)| k == "FROM");
    &all[last_from.unwrap_or_else(|| panic!("the Dockerfile has no FROM"))..]
}

fn values<'a>(stage: &'a [Instruction], keyword: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter(|(k, _)| k == keyword)
        .map(|(_, rest)| rest.as_str())
        .collect()
}

#[test]
fn dockerfile_pins_the_wmill_the_tests_run() {
    let dockerfile = read("Dockerfile");
    let all = instructions(&dockerfile);
    let defaults: Vec<&str> = values(&all, "ARG")
        .into_iter()
        .filter_map(|arg| arg.strip_prefix("WMILL_VERSION="))
        .collect();
    assert_eq!(
        defaults.len(),
        1,
        "the Dockerfile must give WMILL_VERSION a default exactly once, found {defaults:?}"
    );
    assert!(
        dockerfile.contains("windmill-cli@${WMILL_VERSION}"),
        "the Dockerfile must install windmill-cli@${{WMILL_VERSION}}"
    );

    let package: serde_json::Value = serde_json::from_str(&read("tests/wmill/package.json"))
        .unwrap_or_else(|e| panic!("tests/wmill/package.json is not JSON: {e}"));
    let pinned = package["dependencies"]["windmill-cli"]
        .as_str()
        .unwrap_or_else(|| panic!("tests/wmill/package.json has no windmill-cli dependency"));
    assert!(
        pinned.split('.').count() == 3 && pinned.split('.').all(|n| n.parse::<u32>().is_ok()),
        "tests/wmill/package.json must pin an exact windmill-cli version, found {pinned:?}"
    );
    assert_eq!(
        defaults[0], pinned,
        "the Dockerfile's ARG WMILL_VERSION is {} but tests/wmill/package.json pins {pinned}: \
         set both to the same version and run `npm install --prefix tests/wmill` to update \
         tests/wmill/package-lock.json",
        defaults[0]
    );
}

#[test]
fn image_runs_the_binary_as_a_non_root_user_with_a_workspace() {
    let all = instructions(&read("Dockerfile"));
    let runtime = runtime_stage(&all);

    let user = values(runtime, "USER");
    let user = user
        .last()
        .unwrap_or_else(|| panic!("the runtime stage sets no USER"));
    let name = user.split(':').next().unwrap_or_default();
    assert!(
        name != "root" && name != "0",
        "the runtime stage runs as root: USER {user}"
    );

    let entrypoint = values(runtime, "ENTRYPOINT");
    let entrypoint = entrypoint
        .last()
        .unwrap_or_else(|| panic!("the runtime stage has no ENTRYPOINT"));
    let argv: Vec<String> = serde_json::from_str(entrypoint).unwrap_or_else(|e| {
        panic!("ENTRYPOINT must be in exec form (a JSON array): {entrypoint}: {e}")
    });
    assert!(
        argv.len() == 1 && argv[0].rsplit('/').next() == Some("windmill-git-sync"),
        "ENTRYPOINT must be the windmill-git-sync binary alone, found {argv:?}"
    );

    let volumes = values(runtime, "VOLUME");
    let workdirs = values(runtime, "WORKDIR");
    assert!(
        volumes
            .iter()
            .chain(&workdirs)
            .flat_map(|v| v.split([' ', ',']))
            .any(|path| path.trim_matches(['[', ']', '"']) == "/workspace"),
        "the runtime stage must provide /workspace as a VOLUME or WORKDIR"
    );
}

#[test]
fn dockerignore_keeps_build_output_and_node_modules_out() {
    let text = read(".dockerignore");
    let patterns: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    // A bare `node_modules` matches only at the context's root; the tests'
    // copy lives in tests/wmill/, so the pattern must reach any depth.
    for (wanted, accepted) in [
        ("target", &["target", "/target", "**/target"][..]),
        ("node_modules", &["**/node_modules"][..]),
    ] {
        assert!(
            patterns.iter().any(|p| accepted.contains(p)),
            ".dockerignore must exclude {wanted} (one of {accepted:?})"
        );
    }
}
