//! A Windmill API stand-in for `wmill sync pull`: the workspace model, the
//! tarball query, and the HTTP server.

mod json;
mod query;
mod server;
mod workspace;

pub use json::Json;
pub use query::{script_extension, TarballQuery};
pub use server::{Fault, Request, WindmillStandIn, NO_ROWS};
pub use workspace::{ScriptMeta, Workspace, EMPTY_SCHEMA};
