//! Logging to stderr, every line redacted. Flags win over `RUST_LOG`; with
//! neither, info.

use std::io::Write;

use crate::secret::redact;

pub fn init(level: Option<log::LevelFilter>) {
    let mut builder = env_logger::Builder::new();
    builder.target(env_logger::Target::Stderr);
    match (level, std::env::var("RUST_LOG")) {
        (Some(level), _) => {
            builder.filter_level(level);
        }
        (None, Ok(spec)) if !spec.trim().is_empty() => {
            builder.parse_filters(&spec);
        }
        _ => {
            builder.filter_level(log::LevelFilter::Info);
        }
    }
    // Dependencies log nothing of interest; keep their debug noise out.
    builder.format(|buf, record| {
        writeln!(
            buf,
            "windmill-git-sync {:<5} {}",
            record.level(),
            redact(&record.args().to_string())
        )
    });
    // A second init (tests) is harmless.
    let _ = builder.try_init();
}
