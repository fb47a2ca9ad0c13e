//! The query string of `GET /api/w/{ws}/workspaces/tarball`.

/// What the CLI asks the tarball endpoint for. Field names follow the
/// server's query parameters; a parameter left out of the query string
/// takes the server's default (false, `zip`, `bun`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TarballQuery {
    pub archive_type: String,
    pub plain_secret: bool,
    pub skip_variables: bool,
    pub skip_resources: bool,
    pub skip_secrets: bool,
    pub skip_resource_types: bool,
    pub include_schedules: bool,
    pub include_triggers: bool,
    pub include_users: bool,
    pub include_groups: bool,
    pub include_settings: bool,
    pub include_key: bool,
    pub include_workspace_dependencies: bool,
    pub skip_datatable_migrations: bool,
    pub default_ts: String,
}

impl Default for TarballQuery {
    fn default() -> Self {
        TarballQuery {
            archive_type: "zip".to_owned(),
            plain_secret: false,
            skip_variables: false,
            skip_resources: false,
            skip_secrets: false,
            skip_resource_types: false,
            include_schedules: false,
            include_triggers: false,
            include_users: false,
            include_groups: false,
            include_settings: false,
            include_key: false,
            include_workspace_dependencies: false,
            skip_datatable_migrations: false,
            default_ts: "bun".to_owned(),
        }
    }
}

impl TarballQuery {
    /// Parses a query string (without the `?`). Unknown parameters are
    /// ignored, as the server ignores them; a flag that is not `true` or
    /// `false` is an error, as the server answers 400 for it.
    pub fn parse(query: &str) -> Result<Self, String> {
        let mut q = TarballQuery::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let flag = || match value {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(format!(
                    "Failed to deserialize query string: {key}: provided string was not \
                     `true` or `false` ({other:?})"
                )),
            };
            match key {
                "archive_type" => q.archive_type = value.to_owned(),
                "default_ts" => q.default_ts = value.to_owned(),
                "plain_secret" => q.plain_secret = flag()?,
                "skip_variables" => q.skip_variables = flag()?,
                "skip_resources" => q.skip_resources = flag()?,
                "skip_secrets" => q.skip_secrets = flag()?,
                "skip_resource_types" => q.skip_resource_types = flag()?,
                "include_schedules" => q.include_schedules = flag()?,
                "include_triggers" => q.include_triggers = flag()?,
                "include_users" => q.include_users = flag()?,
                "include_groups" => q.include_groups = flag()?,
                "include_settings" => q.include_settings = flag()?,
                "include_key" => q.include_key = flag()?,
                "include_workspace_dependencies" => q.include_workspace_dependencies = flag()?,
                "skip_datatable_migrations" => q.skip_datatable_migrations = flag()?,
                _ => {}
            }
        }
        Ok(q)
    }

    /// Whether an archive entry of this name and content belongs in the
    /// answer to this query.
    pub fn admits(&self, name: &str, is_secret_variable: bool) -> bool {
        if name.ends_with(".variable.json") {
            !(self.skip_variables || (self.skip_secrets && is_secret_variable))
        } else if name.ends_with(".resource.json") {
            !self.skip_resources
        } else if name.ends_with(".resource-type.json") {
            !self.skip_resource_types
        } else if name.ends_with(".schedule.json") {
            self.include_schedules
        } else if name.ends_with("_trigger.json") {
            self.include_triggers
        } else if name.starts_with("users/") {
            self.include_users
        } else if name.starts_with("groups/") {
            self.include_groups
        } else if name == "settings.json" {
            self.include_settings
        } else if name == "encryption_key.json" {
            self.include_key
        } else if name.starts_with("dependencies/") {
            self.include_workspace_dependencies
        } else if name.starts_with("migrations/") {
            !self.skip_datatable_migrations
        } else {
            true
        }
    }
}

/// The file extension the server gives a script of `language`, for the
/// query's `default_ts` (`bun` or `deno`).
pub fn script_extension(language: &str, default_ts: &str) -> Option<&'static str> {
    let deno_default = default_ts == "deno";
    Some(match language {
        "python3" => "py",
        "deno" if deno_default => "ts",
        "deno" => "deno.ts",
        "bun" | "bunnative" if deno_default => "bun.ts",
        "bun" | "bunnative" => "ts",
        "nativets" => "fetch.ts",
        "go" => "go",
        "bash" => "sh",
        "powershell" => "ps1",
        "postgresql" => "pg.sql",
        "mysql" => "my.sql",
        "bigquery" => "bq.sql",
        "snowflake" => "sf.sql",
        "mssql" => "ms.sql",
        "duckdb" => "duckdb.sql",
        "graphql" => "gql",
        "php" => "php",
        "rust" => "rs",
        "ansible" => "playbook.yml",
        "csharp" => "cs",
        "nu" => "nu",
        "oracledb" => "odb.sql",
        "java" => "java",
        "ruby" => "rb",
        "rlang" => "r",
        "dbt" => "dbt.yaml",
        _ => return None,
    })
}
