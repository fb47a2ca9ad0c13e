//! The generated workspace.

use crate::windmill::{ScriptMeta, Workspace};
use crate::FOLDER_SIZE;

pub(crate) fn folder(k: usize) -> String {
    format!("folder_{k:03}")
}

pub(crate) fn script_path(i: usize) -> String {
    format!("f/{}/script_{i:05}", folder(i / FOLDER_SIZE))
}

/// N scripts in folders of 100 (four languages in turn, python ones with a
/// lock), and N/10 flows, resources and variables spread over the folders.
pub(crate) fn generate(n: usize) -> Workspace {
    let mut ws = Workspace::new();
    let folders = n.div_ceil(FOLDER_SIZE).max(1);
    for k in 0..folders {
        ws.folder(&folder(k));
    }
    for i in 0..n {
        put_script(&mut ws, i, 0);
    }
    for j in 0..n / 10 {
        let f = folder(j % folders);
        let target = script_path(((j % folders) * FOLDER_SIZE).min(n - 1));
        ws.flow_calling(&format!("f/{f}/flow_{j:05}"), &format!("Flow {j}"), &target);
        ws.resource(
            &format!("f/{f}/db_{j:05}"),
            "postgresql",
            serde_json::json!({"host": format!("db{j}.internal"), "port": 5432, "dbname": "app"}),
        );
        let secret = j % 5 == 0;
        let value = if secret {
            format!("c2VjcmV0LXZhbHVlLW51bWJlci17an0tY2lwaGVydGV4dA{j:05}==")
        } else {
            format!("value {j}")
        };
        ws.variable(&format!("f/{f}/var_{j:05}"), &value, secret);
    }
    ws
}

/// Script `i` at `revision`.
pub(crate) fn put_script(ws: &mut Workspace, i: usize, revision: usize) {
    let (language, content) = match i % 4 {
        0 => (
            "bun",
            format!(
                "// script {i}, revision {revision}\n\
                 export async function main(name: string = \"world\", count: number = {i}) {{\n  \
                 const items = Array.from({{ length: count % 10 }}, (_, k) => `${{name}}-${{k}}`);\n  \
                 return {{ script: {i}, items }};\n}}\n"
            ),
        ),
        1 => (
            "python3",
            format!(
                "# script {i}, revision {revision}\nimport json\n\n\
                 def main(name: str = \"world\", count: int = {i}):\n    \
                 items = [f\"{{name}}-{{k}}\" for k in range(count % 10)]\n    \
                 return json.dumps({{\"script\": {i}, \"items\": items}})\n"
            ),
        ),
        2 => (
            "bash",
            format!(
                "# script {i}, revision {revision}\nname=\"${{1:-world}}\"\ncount=\"${{2:-{i}}}\"\n\
                 for k in $(seq 1 $((count % 10))); do\n  echo \"$name-$k\"\ndone\n"
            ),
        ),
        _ => (
            "deno",
            format!(
                "// script {i}, revision {revision}\n\
                 export function main(name = \"world\", count = {i}) {{\n  \
                 return {{ script: {i}, greeting: `hello ${{name}}`, count }};\n}}\n"
            ),
        ),
    };
    let schema = format!(
        r#"{{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{{"name":{{"type":"string","default":"world"}},"count":{{"type":"integer","default":{i}}}}},"required":[]}}"#
    );
    let mut meta = ScriptMeta::new(&format!("Script {i}"))
        .description(&format!("Generated script number {i}"))
        .schema(&schema);
    if language == "python3" {
        meta = meta.lock("# py: 3.11\nrequests==2.31.0\n");
    }
    ws.script_with(&script_path(i), language, &content, meta);
}
