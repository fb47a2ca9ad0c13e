//! Minimal path globs for `secret_scan_allow`: `*` and `?` stay within one
//! path segment, `**` crosses segments.

pub fn glob_match(pattern: &str, path: &str) -> bool {
    matches(pattern.as_bytes(), path.as_bytes())
}

fn matches(p: &[u8], s: &[u8]) -> bool {
    match p {
        [] => s.is_empty(),
        [b'*', b'*', b'/', rest @ ..] => {
            matches(rest, s) || (0..s.len()).any(|i| s[i] == b'/' && matches(rest, &s[i + 1..]))
        }
        [b'*', b'*', rest @ ..] => (0..=s.len()).any(|i| matches(rest, &s[i..])),
        [b'*', rest @ ..] => (0..=s.len())
            .take_while(|&i| i == 0 || s[i - 1] != b'/')
            .any(|i| matches(rest, &s[i..])),
        [b'?', rest @ ..] => !s.is_empty() && s[0] != b'/' && matches(rest, &s[1..]),
        [c, rest @ ..] => !s.is_empty() && s[0] == *c && matches(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("f/**", "f/a/b/c.py"));
        assert!(glob_match("**/*.py", "f/a/b.py"));
        assert!(glob_match("**/*.py", "b.py"));
        assert!(glob_match("f/*/x.sh", "f/a/x.sh"));
        assert!(!glob_match("f/*/x.sh", "f/a/b/x.sh"));
        assert!(glob_match("f/a?.sh", "f/ab.sh"));
        assert!(!glob_match("f/*", "g/a"));
        assert!(glob_match(
            "f/ops/api_key.variable.yaml",
            "f/ops/api_key.variable.yaml"
        ));
    }
}
