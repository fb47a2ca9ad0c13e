//! The typed edge of error handling: each failure has a kind, and the kind
//! alone decides the exit code and `error.kind` in the result.

use std::fmt;

use crate::secret::redact;

/// What went wrong, in the terms of the exit-code table (README, SPEC 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Config,
    Locked,
    Windmill,
    Guard,
    Git,
    PushRejected,
    Interrupted(Signal),
    Internal,
}

/// The signal that interrupted a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Int,
    Term,
}

impl Kind {
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Config => 2,
            Kind::Locked => 7,
            Kind::Windmill => 3,
            Kind::Guard => 6,
            Kind::Git => 4,
            Kind::PushRejected => 5,
            Kind::Interrupted(Signal::Int) => 130,
            Kind::Interrupted(Signal::Term) => 143,
            Kind::Internal => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Config => "config",
            Kind::Locked => "locked",
            Kind::Windmill => "windmill",
            Kind::Guard => "guard",
            Kind::Git => "git",
            Kind::PushRejected => "push_rejected",
            Kind::Interrupted(_) => "interrupted",
            Kind::Internal => "internal",
        }
    }
}

/// A failure that ends the run. Its message and hint are redacted when built.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
    pub hint: Option<String>,
    /// Details of a guard refusal (`guard` in the result).
    pub guard: Option<serde_json::Value>,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: redact(&message.into()),
            hint: None,
            guard: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(redact(&hint.into()));
        self
    }

    /// Turns any error into a failure of `kind`, unless it carries a more
    /// specific cause (an interruption) that must decide the code instead.
    pub fn from_error(kind: Kind, err: anyhow::Error) -> Self {
        if let Some(sig) = err.chain().find_map(|c| c.downcast_ref::<Interrupted>()) {
            return Failure::new(Kind::Interrupted(sig.0), format!("{err:#}"))
                .with_hint("the run was stopped by a signal; nothing was half-pushed, the next run starts clean");
        }
        let hint = err
            .chain()
            .find_map(|c| c.downcast_ref::<Hinted>())
            .map(|h| h.hint.clone());
        let mut failure = Failure::new(kind, format!("{err:#}"));
        if let Some(hint) = hint {
            failure = failure.with_hint(hint);
        }
        failure
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Marker error: the run received SIGINT or SIGTERM.
#[derive(Debug)]
pub struct Interrupted(pub Signal);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Signal::Int => f.write_str("interrupted by SIGINT"),
            Signal::Term => f.write_str("interrupted by SIGTERM"),
        }
    }
}

impl std::error::Error for Interrupted {}

/// An error message with a hint for the user. It displays as the message;
/// the hint ends up in `error.hint` when the error reaches the edge.
#[derive(Debug)]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// Adds `.kind(Kind::X)` to results carrying `anyhow::Error`.
pub trait ResultExt<T> {
    fn kind(self, kind: Kind) -> Result<T, Failure>;
}

impl<T> ResultExt<T> for anyhow::Result<T> {
    fn kind(self, kind: Kind) -> Result<T, Failure> {
        self.map_err(|e| Failure::from_error(kind, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_table() {
        let table = [
            (Kind::Config, 2, "config"),
            (Kind::Locked, 7, "locked"),
            (Kind::Windmill, 3, "windmill"),
            (Kind::Guard, 6, "guard"),
            (Kind::Git, 4, "git"),
            (Kind::PushRejected, 5, "push_rejected"),
            (Kind::Interrupted(Signal::Int), 130, "interrupted"),
            (Kind::Interrupted(Signal::Term), 143, "interrupted"),
            (Kind::Internal, 1, "internal"),
        ];
        for (kind, code, name) in table {
            assert_eq!((kind.exit_code(), kind.name()), (code, name));
        }
    }

    #[test]
    fn interruption_wins_over_the_step_kind() {
        let err = anyhow::Error::new(Interrupted(Signal::Term)).context("pulling");
        let f = Failure::from_error(Kind::Windmill, err);
        assert_eq!(f.kind.exit_code(), 143);
    }
}
