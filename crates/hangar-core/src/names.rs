//! Name rules for columns, metadata keys, branches and string sample keys.

use crate::error::{invalid, Result};

/// Longest allowed name (columns, keys, branches).
pub const MAX_NAME_LEN: usize = 64;

/// True if `s` matches `[A-Za-z0-9_.-]{1,64}`.
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Checks a name of the given `what` ("column name", "sample key", ...).
pub fn check_name(what: &str, s: &str) -> Result<()> {
    if is_valid_name(s) {
        return Ok(());
    }
    let shown: String = s.chars().take(80).collect();
    let why = if s.is_empty() {
        "it is empty".to_string()
    } else if s.len() > MAX_NAME_LEN {
        format!("it is {} bytes long (at most {MAX_NAME_LEN})", s.len())
    } else {
        let bad = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
            .map(|c| format!("{c:?}"))
            .unwrap_or_default();
        format!("it contains {bad}")
    };
    Err(invalid(format!(
        "{what} {shown:?} is not allowed: {why}; use 1 to {MAX_NAME_LEN} ASCII letters, digits, '_', '.' or '-'"
    )))
}

/// Checks a branch name: the name rule, and not `.`/`..` or ending in `.lock` (so a
/// branch name is always a safe file name).
pub fn check_branch_name(s: &str) -> Result<()> {
    check_name("branch name", s)?;
    if s == "." || s == ".." || s.starts_with('.') || s.ends_with(".lock") {
        return Err(invalid(format!(
            "branch name {s:?} is not allowed: it may not start with '.' or end with '.lock'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        for ok in ["a", "train_images", "x.y-z", &"a".repeat(64), "0"] {
            assert!(check_name("column name", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "a:b",
            "a/b",
            "../x",
            "héllo",
            &"a".repeat(65),
            "nul\0",
            "tab\t",
        ] {
            let e = check_name("column name", bad).unwrap_err().to_string();
            assert!(e.contains("is not allowed"), "{e}");
        }
        assert!(check_branch_name("dev").is_ok());
        for bad in [".", "..", ".hidden", "x.lock", "a/b"] {
            assert!(check_branch_name(bad).is_err(), "{bad}");
        }
    }
}
