//! The two URLs of the config: Windmill's base URL and the git remote. Both
//! are checked by hand (no URL crate): the rules are few and strict.

use std::fmt;
use std::path::Path;

/// Scheme, authority and path of an http(s) URL.
struct Parts<'a> {
    scheme: &'a str,
    authority: &'a str,
    rest: &'a str,
}

fn split_http(raw: &str) -> Option<Parts<'_>> {
    let (scheme, tail) = raw.split_once("://")?;
    let scheme_lc = scheme.to_ascii_lowercase();
    if scheme_lc != "http" && scheme_lc != "https" {
        return None;
    }
    let end = tail.find(['/', '?', '#']).unwrap_or(tail.len());
    Some(Parts {
        scheme,
        authority: &tail[..end],
        rest: &tail[end..],
    })
}

fn check_authority(authority: &str) -> Result<(), String> {
    if authority.contains('@') {
        return Err("holds credentials; give the token in its own key instead".into());
    }
    let host = host_of(authority);
    if host.is_empty() {
        return Err("has no host".into());
    }
    if authority
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("contains spaces or control characters".into());
    }
    if let Some(port) = authority
        .strip_prefix(host)
        .and_then(|p| p.strip_prefix(':'))
    {
        if port.parse::<u16>().is_err() {
            return Err(format!("has an invalid port {port:?}"));
        }
    }
    Ok(())
}

fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map(|i| &authority[..=i])
            .unwrap_or(authority);
    }
    authority.split(':').next().unwrap_or("")
}

/// Windmill's base URL, normalised to end in exactly one `/` (wmill chops
/// the last character of the URL it is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUrl(String);

impl WebUrl {
    pub fn parse(raw: &str) -> Result<WebUrl, String> {
        let raw = raw.trim();
        let Some(parts) = split_http(raw) else {
            return Err(format!("{raw:?} is not an http:// or https:// URL"));
        };
        check_authority(parts.authority).map_err(|e| format!("{raw:?} {e}"))?;
        if parts.rest.contains(['?', '#']) {
            return Err(format!("{raw:?} must not carry a query or fragment"));
        }
        if parts
            .rest
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!("{raw:?} contains spaces or control characters"));
        }
        let path = parts.rest.trim_end_matches('/');
        Ok(WebUrl(format!(
            "{}://{}{}/",
            parts.scheme.to_ascii_lowercase(),
            parts.authority,
            path
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WebUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the backup is pushed: an http(s) URL without credentials, a
/// `file://` URL, or a local path (made absolute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUrl {
    url: String,
    http: Option<(bool, String)>,
}

impl RemoteUrl {
    pub fn parse(raw: &str, base: &Path) -> Result<RemoteUrl, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("is empty".into());
        }
        if raw.chars().any(|c| c.is_control()) {
            return Err("contains control characters".into());
        }
        if let Some(parts) = split_http(raw) {
            if parts.authority.contains('@') {
                return Err(
                    "holds credentials inside the URL; remove them and put the token in `git_token` (and the user in `git_username`)"
                        .into(),
                );
            }
            check_authority(parts.authority)
                .map_err(|e| format!("{} {e}", crate::secret::redact_url_credentials(raw)))?;
            if raw.contains(char::is_whitespace) {
                return Err("contains spaces".into());
            }
            let tls = parts.scheme.eq_ignore_ascii_case("https");
            return Ok(RemoteUrl {
                url: raw.to_string(),
                http: Some((tls, host_of(parts.authority).to_string())),
            });
        }
        if let Some(path) = raw.strip_prefix("file://") {
            if path.is_empty() {
                return Err("file:// URL has no path".into());
            }
            return Ok(RemoteUrl {
                url: raw.to_string(),
                http: None,
            });
        }
        if let Some((scheme, _)) = raw.split_once("://") {
            return Err(format!(
                "scheme `{scheme}://` is not supported; use https:// (with `git_token`), http://, file:// or a path"
            ));
        }
        if raw.starts_with('-') {
            return Err("must not start with `-`".into());
        }
        if let Some((before, _)) = raw.split_once(':') {
            if !before.contains('/') {
                return Err("looks like an SSH remote (host:path), which is not supported; use https:// with `git_token`".into());
            }
        }
        let path = Path::new(raw);
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            base.join(path)
        };
        Ok(RemoteUrl {
            url: abs.to_string_lossy().into_owned(),
            http: None,
        })
    }

    /// The URL as given to git and shown to users (never holds credentials).
    pub fn as_str(&self) -> &str {
        &self.url
    }

    pub fn is_http(&self) -> bool {
        self.http.is_some()
    }

    pub fn is_plain_http(&self) -> bool {
        matches!(self.http, Some((false, _)))
    }

    pub fn host(&self) -> &str {
        self.http.as_ref().map(|(_, h)| h.as_str()).unwrap_or("")
    }

    pub fn is_loopback(&self) -> bool {
        let h = self.host().to_ascii_lowercase();
        h == "localhost" || h.starts_with("127.") || h == "[::1]"
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_gets_exactly_one_trailing_slash() {
        for (raw, want) in [
            (
                "http://windmill_server:8000",
                "http://windmill_server:8000/",
            ),
            ("https://wm.example.com/", "https://wm.example.com/"),
            (
                "https://wm.example.com/prefix//",
                "https://wm.example.com/prefix/",
            ),
            ("HTTP://h/p", "http://h/p/"),
        ] {
            assert_eq!(
                WebUrl::parse(raw).map(|u| u.0),
                Ok(want.to_string()),
                "{raw}"
            );
        }
        for bad in [
            "wm.example.com",
            "ftp://h/",
            "http://u:p@h/",
            "http://h/?x=1",
            "http://:80/",
            "http://h:99999/",
        ] {
            assert!(WebUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn remotes() {
        let base = Path::new("/base");
        let ok = |r: &str| RemoteUrl::parse(r, base).map(|u| u.url);
        assert_eq!(
            ok("https://git.example.com/o/r.git"),
            Ok("https://git.example.com/o/r.git".into())
        );
        assert_eq!(ok("file:///srv/r.git"), Ok("file:///srv/r.git".into()));
        assert_eq!(ok("/srv/r.git"), Ok("/srv/r.git".into()));
        assert_eq!(ok("rel/r.git"), Ok("/base/rel/r.git".into()));
        for bad in [
            "https://user:tok@git.example.com/r.git",
            "https://tok@git.example.com/r.git",
            "ssh://git@host/r.git",
            "git@github.com:o/r.git",
            "-upload-pack=x",
            "",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        let err = ok("https://user:SECRETVALUE@h/r.git")
            .err()
            .unwrap_or_default();
        assert!(!err.contains("SECRETVALUE"), "{err}");
    }

    #[test]
    fn loopback_detection() {
        let base = Path::new("/");
        let lo = |r: &str| {
            RemoteUrl::parse(r, base)
                .map(|u| u.is_loopback())
                .unwrap_or(false)
        };
        assert!(lo("http://127.0.0.1:8080/r.git"));
        assert!(lo("http://localhost/r.git"));
        assert!(!lo("http://git.internal/r.git"));
    }
}
