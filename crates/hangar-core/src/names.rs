//! Name rules for columns, metadata keys, branches and string sample keys.

use crate::error::{invalid, Result};

/// Longest allowed name (columns, keys, branches).
pub const MAX_NAME_LEN: usize = 64;

/// True if `s` matches `[A-Za-z0-9_.-]{1,64}` and is not made of dots only (`.`, `..`
/// read as directories wherever a name could meet a path).
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !s.bytes().all(|b| b == b'.')
}

/// True if `s` is a valid string sample (or subsample) key: `[A-Za-z0-9_.-]{1,64}`.
/// Keys are not paths, so `.` and `..` are keys like any other (as in the original);
/// every place a key becomes a file name tags such names (see `SampleKey::name`).
pub fn is_valid_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Checks a string key; `what` names it ("sample key", "subsample key").
pub fn check_key(what: &str, s: &str) -> Result<()> {
    if is_valid_key(s) {
        return Ok(());
    }
    Err(invalid(format!(
        "{what} {:?} is not suitable: {}; use 1 to {MAX_NAME_LEN} ASCII letters, digits, '_', '.' or '-'",
        s.chars().take(80).collect::<String>(),
        why_not(s)
    )))
}

fn why_not(s: &str) -> String {
    if s.is_empty() {
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
    }
}

/// Device names Windows reserves in every directory (with any extension).
const RESERVED: [&str; 22] = [
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Checks a name of the given `what` ("column name", "sample key", ...).
pub fn check_name(what: &str, s: &str) -> Result<()> {
    if is_valid_name(s) {
        return Ok(());
    }
    let shown: String = s.chars().take(80).collect();
    if is_valid_key(s) {
        return Err(invalid(format!(
            "{what} {shown:?} is not suitable: it is made of dots only; a name needs at least \
             one ASCII letter, digit, '_' or '-' (dots may go with them)"
        )));
    }
    Err(invalid(format!(
        "{what} {shown:?} is not suitable: {}; use 1 to {MAX_NAME_LEN} ASCII letters, digits, '_', '.' or '-'",
        why_not(s)
    )))
}

/// Checks a branch name: the name rule, not starting with '.', not ending in `.lock`,
/// and not a device name Windows reserves (so a branch name is always a safe file name
/// under `refs/heads/` on every platform).
pub fn check_branch_name(s: &str) -> Result<()> {
    check_name("branch name", s)?;
    if s.starts_with('.') || s.ends_with(".lock") {
        return Err(invalid(format!(
            "branch name {s:?} is not suitable: it may not start with '.' or end with '.lock'"
        )));
    }
    let stem = s.split('.').next().unwrap_or(s).to_ascii_lowercase();
    if RESERVED.contains(&stem.as_str()) {
        return Err(invalid(format!(
            "branch name {s:?} is not suitable: {stem:?} is a reserved device name on Windows"
        )));
    }
    Ok(())
}

/// The rules for a new branch: [`check_branch_name`], and no leading `-` (as git
/// refuses it): such a name reads as an option on every command line and is usable only
/// after `--`. Existing refs are still read whatever their name.
pub fn check_new_branch_name(s: &str) -> Result<()> {
    check_branch_name(s)?;
    if s.starts_with('-') {
        return Err(invalid(format!(
            "branch name {s:?} is not suitable: it may not start with '-' (it would read as a command-line option)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_branch_names_may_not_start_with_a_dash() {
        for bad in ["-rf", "--json", "-", "-x.y"] {
            let e = check_new_branch_name(bad).unwrap_err().to_string();
            assert!(e.contains("may not start with '-'"), "{e}");
            assert!(
                check_branch_name(bad).is_ok(),
                "existing refs stay readable: {bad}"
            );
        }
        assert!(check_new_branch_name("a-b").is_ok());
    }

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
            ".",
            "..",
            "...",
        ] {
            let e = check_name("column name", bad).unwrap_err().to_string();
            assert!(e.contains("is not suitable"), "{e}");
        }
        assert!(check_branch_name("dev").is_ok());
        assert!(check_branch_name("console").is_ok());
        assert!(check_name("column name", "a..b").is_ok());
        for bad in [
            ".", "..", ".hidden", "x.lock", "a/b", "CON", "nul.txt", "Com1", "lpt9.x",
        ] {
            assert!(check_branch_name(bad).is_err(), "{bad}");
        }
    }
}
