//! Sample keys on the command line and in JSON.
//!
//! On the command line `int:N` is an integer key and `str:NAME` a string key; a bare
//! `NAME` is a string key, except that bare digits mean the integer key when the column
//! has no string key of that name. `KEY/SUB` names subsample SUB of a nested column's
//! sample KEY (`/` cannot occur in a key). In JSON an integer key is a number and a
//! string key a string.

use hangar_core::SampleKey;

/// A key as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyArg {
    /// `int:N` or `str:NAME`.
    Exact(SampleKey),
    /// Bare digits: the string key if it exists, else the integer key.
    Digits(String, u64),
}

impl KeyArg {
    pub fn parse(s: &str) -> anyhow::Result<KeyArg> {
        KeyArg::parse_as(s, "sample key")
    }

    /// [`KeyArg::parse`], naming the key `what` in errors ("subsample key").
    pub fn parse_as(s: &str, what: &str) -> anyhow::Result<KeyArg> {
        if SampleKey::is_tagged(s) {
            return Ok(KeyArg::Exact(SampleKey::parse_as(s, what)?));
        }
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = s.parse::<u64>() {
                return Ok(KeyArg::Digits(s.to_string(), n));
            }
        }
        Ok(KeyArg::Exact(SampleKey::parse_as(s, what)?))
    }

    /// The key, given whether the string form exists.
    pub fn resolve(
        &self,
        str_exists: impl FnOnce(&SampleKey) -> anyhow::Result<bool>,
    ) -> anyhow::Result<SampleKey> {
        match self {
            KeyArg::Exact(k) => Ok(k.clone()),
            KeyArg::Digits(s, n) => {
                let as_str = SampleKey::Str(s.clone());
                if str_exists(&as_str)? {
                    Ok(as_str)
                } else {
                    Ok(SampleKey::Int(*n))
                }
            }
        }
    }
}

/// Splits `KEY/SUB` (nested columns); `SUB` is `None` without a `/`.
pub fn parse_path(s: &str) -> anyhow::Result<(KeyArg, Option<KeyArg>)> {
    match s.split_once('/') {
        Some((k, sub)) => Ok((
            KeyArg::parse(k)?,
            Some(KeyArg::parse_as(sub, "subsample key")?),
        )),
        None => Ok((KeyArg::parse(s)?, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        assert_eq!(
            KeyArg::parse("int:5").unwrap(),
            KeyArg::Exact(SampleKey::Int(5))
        );
        assert_eq!(
            KeyArg::parse("str:5").unwrap(),
            KeyArg::Exact(SampleKey::Str("5".into()))
        );
        assert_eq!(
            KeyArg::parse("img_1").unwrap(),
            KeyArg::Exact(SampleKey::Str("img_1".into()))
        );
        assert_eq!(
            KeyArg::parse("42").unwrap(),
            KeyArg::Digits("42".into(), 42)
        );
        assert!(KeyArg::parse("a b").is_err());
        assert!(KeyArg::parse("int:x").is_err());
        let (k, sub) = parse_path("a/3").unwrap();
        assert_eq!(k, KeyArg::Exact(SampleKey::Str("a".into())));
        assert_eq!(sub, Some(KeyArg::Digits("3".into(), 3)));
    }

    #[test]
    fn digits_prefer_an_existing_string_key() {
        let k = KeyArg::parse("7").unwrap();
        assert_eq!(k.resolve(|_| Ok(true)).unwrap(), SampleKey::Str("7".into()));
        assert_eq!(k.resolve(|_| Ok(false)).unwrap(), SampleKey::Int(7));
    }
}
