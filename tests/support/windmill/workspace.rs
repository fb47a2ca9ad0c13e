//! The content a Windmill stand-in serves: an ordered list of export
//! files, laid out as the server's `tarball` export lays them out.

use std::collections::HashMap;
use std::io::{Cursor, Read as _, Write as _};

use super::json::Json;
use super::query::{script_extension, TarballQuery};

const SCHEMA_URL: &str = "https://json-schema.org/draft/2020-12/schema";
/// The schema of a script without arguments, compact as the server embeds it.
pub const EMPTY_SCHEMA: &str = r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{},"required":[]}"#;
/// Owner of folders and schedules, as in the captured workspace.
const OWNER_EMAIL: &str = "admin@windmill.dev";

/// Metadata of a script beyond its path, language and source.
#[derive(Clone, Debug)]
pub struct ScriptMeta {
    pub summary: String,
    pub description: String,
    /// Compact JSON, embedded verbatim (the server stores it as raw JSON).
    pub schema: String,
    pub lock: String,
}

impl ScriptMeta {
    /// Empty description, no arguments, no lock.
    pub fn new(summary: &str) -> Self {
        ScriptMeta {
            summary: summary.to_owned(),
            description: String::new(),
            schema: EMPTY_SCHEMA.to_owned(),
            lock: String::new(),
        }
    }

    pub fn description(mut self, description: &str) -> Self {
        self.description = description.to_owned();
        self
    }

    pub fn schema(mut self, compact_json: &str) -> Self {
        self.schema = compact_json.to_owned();
        self
    }

    pub fn lock(mut self, lock: &str) -> Self {
        self.lock = lock.to_owned();
        self
    }
}

#[derive(Clone, Debug)]
enum Body {
    Bytes(Vec<u8>),
    Json(Json),
    /// A script's source; its file name depends on the query's `default_ts`.
    Code {
        language: String,
        bytes: Vec<u8>,
    },
}

#[derive(Clone, Debug)]
struct Entry {
    /// The archive path, or for `Body::Code` the script's item path.
    key: String,
    body: Body,
}

/// A workspace as its export archive: files in insertion order. Adding a
/// file whose archive path is already present replaces it in place.
#[derive(Clone, Debug, Default)]
pub struct Workspace {
    entries: Vec<Entry>,
    /// Position of each key in `entries`.
    index: HashMap<String, usize>,
}

impl Workspace {
    pub fn new() -> Self {
        Workspace::default()
    }

    /// The workspace captured in `tests/fixtures/windmill-1.713.1/tarball.zip`,
    /// rebuilt entry by entry: folders `f/etl` (non-ASCII summary) and `f/ops`,
    /// a python3 and a bun script with locks, three bash jobs, a bash script
    /// with CRLF line endings, a postgresql resource, a flow, a secret (the
    /// server's ciphertext) and a plain variable, and a disabled hourly
    /// schedule.
    pub fn sample() -> Self {
        let mut ws = Workspace::new();
        ws.folder("etl")
            .set_field("f/etl/folder.meta.json", "summary", "étl — ünïcode")
            .folder("ops");
        ws.script_with(
            "f/etl/load",
            "python3",
            "def main(n: int = 1):\n    return n\n",
            ScriptMeta::new("Load")
                .schema(&schema(r#""n":{"type":"integer","default":1}"#, ""))
                .lock("# py: 3.11\n"),
        );
        ws.script_with(
            "f/etl/shout",
            "bun",
            "export async function main(a: string) {\n  return a.toUpperCase();\n}\n",
            ScriptMeta::new("Shout")
                .description("Upper-cases its input")
                .schema(&schema(r#""a":{"type":"string"}"#, r#""a""#))
                .lock("{\"dependencies\":{}}\n//bun.lock\n<empty>"),
        );
        for n in 1..=3 {
            ws.script_with(
                &format!("f/ops/job_{n}"),
                "bash",
                &format!("name=\"$1\"\necho job {n} $name\n"),
                ScriptMeta::new(&format!("Job {n}"))
                    .schema(&schema(r#""name":{"type":"string","default":"x"}"#, "")),
            );
        }
        ws.script_with(
            "u/admin/notes",
            "bash",
            "echo notes\r\necho crlf\r\n",
            ScriptMeta::new("Notes"),
        );
        ws.resource(
            "f/etl/pg",
            "postgresql",
            serde_json::json!({"host": "db", "port": 5432}),
        )
        .set_field("f/etl/pg.resource.json", "description", "db");
        ws.flow_calling("f/ops/flow1", "a flow", "f/ops/job_1")
            .variable(
                "f/ops/api_key",
                "QhQpdUKBO+rUSjgobcdAFuZPdT3QWjAV2BpPBwShfm8=",
                true,
            )
            .variable("f/ops/greeting", "bonjour", false)
            .schedule("f/ops/every_hour", "f/ops/job_1", "0 0 * * * *")
            .set_field(
                "f/ops/every_hour.schedule.json",
                "args",
                serde_json::json!({"name": "cron"}),
            );
        ws
    }

    /// Every file of an export archive, kept byte for byte (any kind of
    /// entry; directory entries are dropped, as the server writes none).
    pub fn from_zip(bytes: &[u8]) -> Result<Self, String> {
        let mut archive =
            zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("read zip: {e}"))?;
        let mut ws = Workspace::new();
        for i in 0..archive.len() {
            let mut file = archive
                .by_index(i)
                .map_err(|e| format!("zip entry {i}: {e}"))?;
            if file.is_dir() {
                continue;
            }
            let mut content = Vec::new();
            file.read_to_end(&mut content)
                .map_err(|e| format!("zip entry {}: {e}", file.name()))?;
            let name = file.name().to_owned();
            ws.raw(&name, content);
        }
        Ok(ws)
    }

    /// `f/<name>/folder.meta.json`, owned by `u/admin`, summary `<name> folder`.
    pub fn folder(&mut self, name: &str) -> &mut Self {
        let meta = Json::object([
            ("extra_perms", Json::object([("u/admin", Json::Bool(true))])),
            ("summary", Json::String(format!("{name} folder"))),
            ("display_name", Json::str(name)),
            ("owners", Json::Array(vec![Json::str("u/admin")])),
        ]);
        self.put(format!("f/{name}/folder.meta.json"), Body::Json(meta))
    }

    /// A script without arguments or lock, summarised by its last path segment.
    /// Panics on a language the server does not know.
    pub fn script(&mut self, path: &str, language: &str, content: &str) -> &mut Self {
        let name = path.rsplit('/').next().unwrap_or(path);
        self.script_with(path, language, content, ScriptMeta::new(name))
    }

    /// `<path>.<ext>` with `content` verbatim, and `<path>.script.json`.
    pub fn script_with(
        &mut self,
        path: &str,
        language: &str,
        content: &str,
        meta: ScriptMeta,
    ) -> &mut Self {
        assert!(
            script_extension(language, "bun").is_some(),
            "stand-in: unknown script language {language:?}"
        );
        self.put(
            path.to_owned(),
            Body::Code {
                language: language.to_owned(),
                bytes: content.as_bytes().to_vec(),
            },
        );
        let json = Json::object([
            ("summary", Json::String(meta.summary)),
            ("description", Json::String(meta.description)),
            ("schema", Json::Raw(meta.schema)),
            ("lock", Json::String(meta.lock)),
            ("kind", Json::str("script")),
        ]);
        self.put(format!("{path}.script.json"), Body::Json(json))
    }

    /// A flow whose one step calls the first script added so far (or
    /// `f/ops/job_1` when there is none).
    pub fn flow(&mut self, path: &str, summary: &str) -> &mut Self {
        let script = self
            .entries
            .iter()
            .find(|e| matches!(e.body, Body::Code { .. }))
            .map_or_else(|| "f/ops/job_1".to_owned(), |e| e.key.clone());
        self.flow_calling(path, summary, &script)
    }

    /// `<path>.flow.json` with one step `a` calling `script_path` with a
    /// static `name` argument.
    pub fn flow_calling(&mut self, path: &str, summary: &str, script_path: &str) -> &mut Self {
        let step = Json::object([
            ("id", Json::str("a")),
            (
                "value",
                Json::object([
                    ("path", Json::str(script_path)),
                    ("type", Json::str("script")),
                    (
                        "input_transforms",
                        Json::object([(
                            "name",
                            Json::object([
                                ("type", Json::str("static")),
                                ("value", Json::str("flow")),
                            ]),
                        )]),
                    ),
                ]),
            ),
        ]);
        let flow = Json::object([
            (
                "value",
                Json::object([("modules", Json::Array(vec![step]))]),
            ),
            (
                "schema",
                Json::object([
                    ("$schema", Json::str(SCHEMA_URL)),
                    ("type", Json::str("object")),
                    ("properties", Json::object::<&str>([])),
                    ("required", Json::Array(vec![])),
                ]),
            ),
            ("summary", Json::str(summary)),
            ("description", Json::str("")),
        ]);
        self.put(format!("{path}.flow.json"), Body::Json(flow))
    }

    /// `<path>.resource.json`, empty description.
    pub fn resource(
        &mut self,
        path: &str,
        resource_type: &str,
        value: serde_json::Value,
    ) -> &mut Self {
        let json = Json::object([
            ("resource_type", Json::str(resource_type)),
            ("description", Json::str("")),
            ("value", Json::from(value)),
        ]);
        self.put(format!("{path}.resource.json"), Body::Json(json))
    }

    /// `<path>.variable.json`; described as `secret` or `plain`. For a secret,
    /// `value` stands for the server's ciphertext and is served as given.
    pub fn variable(&mut self, path: &str, value: &str, is_secret: bool) -> &mut Self {
        let json = Json::object([
            ("is_secret", Json::Bool(is_secret)),
            (
                "description",
                Json::str(if is_secret { "secret" } else { "plain" }),
            ),
            ("value", Json::str(value)),
        ]);
        self.put(format!("{path}.variable.json"), Body::Json(json))
    }

    /// `<path>.schedule.json`: a disabled UTC schedule of a script, no args.
    pub fn schedule(&mut self, path: &str, script_path: &str, cron: &str) -> &mut Self {
        let json = Json::object([
            ("cron_version", Json::str("v2")),
            ("no_flow_overlap", Json::Bool(false)),
            ("email", Json::str(OWNER_EMAIL)),
            ("ws_error_handler_muted", Json::Bool(false)),
            ("schedule", Json::str(cron)),
            ("timezone", Json::str("UTC")),
            ("enabled", Json::Bool(false)),
            ("script_path", Json::str(script_path)),
            ("is_flow", Json::Bool(false)),
            ("args", Json::object::<&str>([])),
        ]);
        self.put(format!("{path}.schedule.json"), Body::Json(json))
    }

    /// Root `<name>.resource-type.json` with an empty object schema.
    pub fn resource_type(&mut self, name: &str) -> &mut Self {
        let json = Json::object([
            (
                "schema",
                Json::object([
                    ("$schema", Json::str(SCHEMA_URL)),
                    ("type", Json::str("object")),
                    ("properties", Json::object::<&str>([])),
                    ("required", Json::Array(vec![])),
                ]),
            ),
            ("description", Json::String(format!("{name} resource type"))),
            ("format_extension", Json::Null),
            ("is_fileset", Json::Bool(false)),
        ]);
        self.put(format!("{name}.resource-type.json"), Body::Json(json))
    }

    /// Removes every file of every item at `path` (script, flow, resource,
    /// variable, schedule, trigger...) and, for `f/<name>`, the folder's meta.
    pub fn remove(&mut self, path: &str) -> &mut Self {
        let dotted = format!("{path}.");
        let folder_meta = format!("{path}/folder.meta.json");
        self.entries
            .retain(|e| !(e.key == path || e.key.starts_with(&dotted) || e.key == folder_meta));
        self.reindex()
    }

    /// Removes one archive entry by its archive path.
    pub fn remove_entry(&mut self, archive_path: &str) -> &mut Self {
        self.entries.retain(|e| e.key != archive_path);
        self.reindex()
    }

    /// Any archive entry, served verbatim (a trigger, a user, settings...).
    /// It is filtered by the query according to its name, like the others.
    pub fn raw(&mut self, archive_path: &str, bytes: impl Into<Vec<u8>>) -> &mut Self {
        self.put(archive_path.to_owned(), Body::Bytes(bytes.into()))
    }

    /// Sets `key` in the JSON file at `archive_path`, keeping the key's
    /// place. A `serde_json::Value` goes in with sorted keys; pass
    /// `Json::Raw` for verbatim JSON. Panics when there is no such JSON file.
    pub fn set_field(
        &mut self,
        archive_path: &str,
        key: &str,
        value: impl Into<Json>,
    ) -> &mut Self {
        let i = *self
            .index
            .get(archive_path)
            .unwrap_or_else(|| panic!("stand-in: no entry {archive_path}"));
        let entry = &mut self.entries[i];
        let Body::Json(json) = &mut entry.body else {
            panic!("stand-in: {archive_path} is not a JSON entry built by Workspace");
        };
        assert!(
            json.set(key, value.into()),
            "stand-in: {archive_path} is not an object"
        );
        self
    }

    /// The files the tarball holds for `query`, in insertion order. When two
    /// entries map to one archive path (a `raw` file shadowing a script's
    /// source), the later one wins.
    pub fn archive_entries(&self, query: &TarballQuery) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let all = self.entries.iter().filter_map(|entry| {
            let (name, bytes) = match &entry.body {
                Body::Bytes(bytes) => (entry.key.clone(), bytes.clone()),
                Body::Json(json) => (entry.key.clone(), json.pretty().into_bytes()),
                Body::Code { language, bytes } => {
                    let ext = script_extension(language, &query.default_ts)?;
                    (format!("{}.{ext}", entry.key), bytes.clone())
                }
            };
            let secret = name.ends_with(".variable.json") && self.is_secret(entry);
            query.admits(&name, secret).then_some((name, bytes))
        });
        for (name, bytes) in all {
            match index.get(&name) {
                Some(&i) => files[i].1 = bytes,
                None => {
                    index.insert(name.clone(), files.len());
                    files.push((name, bytes));
                }
            }
        }
        files
    }

    /// The zip the server sends for `query`: deflated files, no directory
    /// entries, the 1980 timestamp and 0600 mode of the captured archive.
    pub fn zip(&self, query: &TarballQuery) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o600);
        for (name, bytes) in self.archive_entries(query) {
            writer
                .start_file(name.as_str(), options)
                .and_then(|()| writer.write_all(&bytes).map_err(Into::into))
                .unwrap_or_else(|e| panic!("stand-in: write zip entry {name}: {e}"));
        }
        writer
            .finish()
            .unwrap_or_else(|e| panic!("stand-in: finish zip: {e}"))
            .into_inner()
    }

    fn is_secret(&self, entry: &Entry) -> bool {
        match &entry.body {
            Body::Json(json) => json.get("is_secret") == Some(&Json::Bool(true)),
            Body::Bytes(bytes) => serde_json::from_slice::<serde_json::Value>(bytes)
                .is_ok_and(|v| v["is_secret"] == serde_json::Value::Bool(true)),
            Body::Code { .. } => false,
        }
    }

    fn put(&mut self, key: String, body: Body) -> &mut Self {
        match self.index.get(&key) {
            Some(&i) => self.entries[i].body = body,
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push(Entry { key, body });
            }
        }
        self
    }

    fn reindex(&mut self) -> &mut Self {
        self.index = (self.entries.iter().enumerate())
            .map(|(i, e)| (e.key.clone(), i))
            .collect();
        self
    }
}

/// A compact object schema with `properties` and `required` inner text.
fn schema(properties: &str, required: &str) -> String {
    format!(
        r#"{{"$schema":"{SCHEMA_URL}","type":"object","properties":{{{properties}}},"required":[{required}]}}"#
    )
}
