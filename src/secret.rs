//! Secrets and their redaction. A [`Secret`] never prints its value; the
//! process-wide [`Redactor`] scrubs every configured secret (and URL
//! credentials) from text before it is logged or reported.

use std::fmt;
use std::sync::{OnceLock, RwLock};

/// A token from the config. `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The value, for the one place that hands it to a child's environment.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

const MASK: &str = "***";

fn registry() -> &'static RwLock<Vec<String>> {
    static SECRETS: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| RwLock::new(Vec::new()))
}

/// Registers a value to be scrubbed from all output from now on, together
/// with the percent-encoded form a child could echo in a URL.
pub fn register(value: &str) {
    if value.is_empty() {
        return;
    }
    let mut forms = vec![value.to_string(), percent_encode(value)];
    forms.retain(|f| !f.is_empty());
    if let Ok(mut list) = registry().write() {
        for form in forms {
            if !list.contains(&form) {
                list.push(form);
            }
        }
        // Longest first, so a secret containing another is masked whole.
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Returns `text` with every registered secret and every credential inside a
/// URL (`scheme://user:pass@host`) replaced by `***`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    if let Ok(list) = registry().read() {
        for secret in list.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
    }
    redact_url_credentials(&out)
}

/// Masks `user:password@` and `token@` parts of URLs in free text.
pub fn redact_url_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '\'' || c == '"'
            })
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(MASK);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

fn percent_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s} {s:?}"), "*** ***");
    }

    #[test]
    fn url_credentials_are_masked() {
        assert_eq!(
            redact_url_credentials("fatal: https://bob:pw@git.example.com/r.git failed"),
            "fatal: https://***@git.example.com/r.git failed"
        );
        assert_eq!(
            redact_url_credentials("see http://example.com/a@b"),
            "see http://example.com/a@b"
        );
    }

    #[test]
    fn registered_values_and_encodings_are_masked() {
        register("tok/with+chars-REDACT-ME");
        let text = "a tok/with+chars-REDACT-ME b tok%2Fwith%2Bchars-REDACT-ME c";
        assert_eq!(redact(text), "a *** b *** c");
    }
}
