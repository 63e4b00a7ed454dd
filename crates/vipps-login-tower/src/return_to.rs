//! Safe `return_to` handling: only same-origin relative paths survive.

use url::Url;

/// The longest `return_to` accepted, in bytes.
const MAX_LEN: usize = 2048;

/// Returns `Some(path)` when `candidate` is a same-origin relative path that is safe to
/// redirect to after login, `None` otherwise.
///
/// Accepted: `/`, `/members/42?tab=info#top`. Rejected: anything not starting with exactly
/// one `/` (`//evil.example`, `/\evil.example`, `https://…`, `javascript:…`, `members`),
/// any backslash, ASCII control characters or whitespace (browsers strip tabs and
/// newlines, which would turn `/\t/evil` into `//evil`), and strings over 2 KiB.
///
/// ```
/// use vipps_login_tower::safe_return_to;
/// assert_eq!(safe_return_to("/members/42?tab=1").as_deref(), Some("/members/42?tab=1"));
/// assert_eq!(safe_return_to("//evil.example/"), None);
/// assert_eq!(safe_return_to("/\\evil.example/"), None);
/// assert_eq!(safe_return_to("https://evil.example/"), None);
/// ```
#[must_use]
pub fn safe_return_to(candidate: &str) -> Option<String> {
    if candidate.is_empty() || candidate.len() > MAX_LEN {
        return None;
    }
    let bytes = candidate.as_bytes();
    if bytes[0] != b'/' {
        return None;
    }
    if bytes.len() > 1 && (bytes[1] == b'/' || bytes[1] == b'\\') {
        return None;
    }
    if bytes
        .iter()
        .any(|&b| b == b'\\' || b <= 0x20 || b == 0x7f || b >= 0x80)
    {
        return None;
    }
    // Belt and braces: resolving against a fixed origin must keep that origin.
    let base = Url::parse("http://return-to.invalid/").ok()?;
    let joined = base.join(candidate).ok()?;
    if joined.origin() != base.origin() {
        return None;
    }
    Some(candidate.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn rejects_open_redirects() {
        for bad in [
            "",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example/",
            "http:evil.example",
            "javascript:alert(1)",
            "evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /x",
            "/a\\b",
            "/\u{7f}",
            "/é",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad:?} must be rejected");
        }
        assert_eq!(safe_return_to(&format!("/{}", "a".repeat(3000))), None);
    }

    #[test]
    fn keeps_relative_paths() {
        for good in ["/", "/members", "/m/42?tab=a&b=%2F%2Fx#top", "/a/b/../c"] {
            assert_eq!(safe_return_to(good).as_deref(), Some(good));
        }
    }
}
