//! A first import of a 1,000-script workspace goes in batches and still
//! pushes exactly what a plain pull into an empty folder writes (SPEC 5).
#![allow(clippy::expect_used)]

mod support;

use serde_json::json;
use support::*;

fn generated(n: usize) -> Workspace {
    let mut ws = Workspace::new();
    for f in 0..n.div_ceil(100) {
        ws.folder(&format!("folder_{f:03}"));
    }
    for i in 0..n {
        let path = format!("f/folder_{:03}/script_{i:05}", i / 100);
        ws.script(&path, "bash", &format!("echo script {i}\n"));
    }
    for i in 0..n / 10 {
        let folder = format!("f/folder_{:03}", (i * 10) / 100);
        ws.flow(&format!("{folder}/flow_{i:04}"), &format!("Flow {i}"));
        ws.resource(
            &format!("{folder}/resource_{i:04}"),
            "postgresql",
            json!({"host": format!("db{i}"), "port": 5432}),
        );
        ws.variable(
            &format!("{folder}/variable_{i:04}"),
            &format!("value {i}"),
            false,
        );
    }
    ws
}

#[test]
fn a_batched_first_import_equals_a_plain_pull() {
    let s = Setup::new(generated(1000));
    let out = Tool::new()
        .config(s.with(json!({"pull_timeout_secs": 600})))
        .run();
    out.assert_code(0);
    assert!(
        out.stderr.contains("first import, batch 1 of"),
        "{}",
        out.dump()
    );
    assert_eq!(out.json["status"], "pushed");
    assert_eq!(out.json["changes"]["paths_truncated"], true);
    let tree = tree_files(&s.remote, "main");
    let pushed = without_bookkeeping(&tree, "");
    assert!(pushed.len() > 2000, "{}", pushed.len());
    let reference = without_bookkeeping(&s.plain_pull(&tree["wmill.yaml"]), "");
    assert_eq!(pushed.len(), reference.len());
    let differing: Vec<&String> = pushed
        .keys()
        .filter(|k| reference.get(*k) != pushed.get(*k))
        .take(5)
        .collect();
    assert!(
        differing.is_empty(),
        "differs from a plain pull: {differing:?}"
    );
    // The rebuilt lock file lists every script and flow, like the plain pull's.
    let lock = String::from_utf8_lossy(&tree["wmill-lock.yaml"]);
    assert!(
        lock.contains("f/folder_009/script_00999"),
        "lock file incomplete"
    );
}
