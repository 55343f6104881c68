//! Sample keys: a name (`[A-Za-z0-9_.-]{1,64}`) or a non-negative integer. `"1"` and
//! `1` are different keys.

use std::fmt;

use hangar_store::codec::{DecodeError, DecodeResult};

use crate::error::{invalid, Error, Result};
use crate::names;

/// A sample key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SampleKey {
    /// A non-negative integer key.
    Int(u64),
    /// A string key.
    Str(String),
}

const TAG_INT: u8 = 0;
const TAG_STR: u8 = 1;

impl SampleKey {
    /// Checks the key's rules.
    pub fn validate(&self) -> Result<()> {
        self.validate_as("sample key")
    }

    /// Checks the key's rules; an error calls it `what` ("subsample key", ...).
    pub fn validate_as(&self, what: &str) -> Result<()> {
        match self {
            SampleKey::Int(_) => Ok(()),
            SampleKey::Str(s) => names::check_key(what, s),
        }
    }

    /// The sortable byte form used in record tables: integers (big-endian) sort before
    /// strings, integers numerically, strings bytewise.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            SampleKey::Int(i) => {
                let mut v = Vec::with_capacity(9);
                v.push(TAG_INT);
                v.extend_from_slice(&i.to_be_bytes());
                v
            }
            SampleKey::Str(s) => {
                let mut v = Vec::with_capacity(1 + s.len());
                v.push(TAG_STR);
                v.extend_from_slice(s.as_bytes());
                v
            }
        }
    }

    /// Appends the encoded key to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            SampleKey::Int(i) => {
                out.push(TAG_INT);
                out.extend_from_slice(&i.to_be_bytes());
            }
            SampleKey::Str(s) => {
                out.push(TAG_STR);
                out.extend_from_slice(s.as_bytes());
            }
        }
    }

    /// The record-table key of a nested sample (its marker), which is also the prefix of
    /// every one of its subsamples' keys: a string key is followed by a 0 byte (no key
    /// contains one) so that no sample's prefix is a prefix of another sample's.
    pub fn nested_prefix(&self) -> Vec<u8> {
        let mut v = self.encode();
        if matches!(self, SampleKey::Str(_)) {
            v.push(0);
        }
        v
    }

    /// The record-table key of subsample `sub` of nested sample `self`.
    pub fn nested_key(&self, sub: &SampleKey) -> Vec<u8> {
        let mut v = self.nested_prefix();
        sub.encode_into(&mut v);
        v
    }

    /// Decodes [`SampleKey::encode`] output.
    pub fn decode(b: &[u8]) -> DecodeResult<SampleKey> {
        match b.split_first() {
            Some((&TAG_INT, rest)) => {
                let arr: [u8; 8] = rest
                    .try_into()
                    .map_err(|_| DecodeError("integer key of bad length".into()))?;
                Ok(SampleKey::Int(u64::from_be_bytes(arr)))
            }
            Some((&TAG_STR, rest)) => {
                let s = std::str::from_utf8(rest)
                    .map_err(|_| DecodeError("key is not UTF-8".into()))?;
                if !names::is_valid_key(s) {
                    return Err(DecodeError(format!(
                        "stored key {s:?} breaks the key rules"
                    )));
                }
                Ok(SampleKey::Str(s.to_string()))
            }
            _ => Err(DecodeError("unknown key tag".into())),
        }
    }

    /// True if `s` is in the tagged form `int:N` / `str:NAME` (a string key itself never
    /// contains ':', so such text always names a tagged key).
    pub fn is_tagged(s: &str) -> bool {
        s.starts_with("int:") || s.starts_with("str:")
    }

    /// Parses the command-line form: `int:N` or `str:NAME`; a bare value is a string key.
    pub fn parse(s: &str) -> Result<SampleKey> {
        SampleKey::parse_as(s, "sample key")
    }

    /// [`SampleKey::parse`], naming the key `what` in errors ("subsample key", ...).
    pub fn parse_as(s: &str, what: &str) -> Result<SampleKey> {
        if let Some(n) = s.strip_prefix("int:") {
            let i = n.parse::<u64>().map_err(|_| {
                invalid(format!("{what} {s:?}: {n:?} is not a non-negative integer"))
            })?;
            return Ok(SampleKey::Int(i));
        }
        let s = s.strip_prefix("str:").unwrap_or(s);
        let k = SampleKey::Str(s.to_string());
        k.validate_as(what)?;
        Ok(k)
    }

    /// A text form that tells integer keys from string keys, for file names and archive
    /// members: an integer key as its digits; a string key as it is, unless it is made of
    /// digits or of dots only, then `str:` + the key (a string key never contains ':').
    /// Distinct keys get distinct names, no name is `.` or `..`, and
    /// [`SampleKey::parse`] of a tagged name gives the key again.
    pub fn name(&self) -> String {
        match self {
            SampleKey::Int(i) => i.to_string(),
            // Digits would read as an integer key; dots only as `.` or `..` in a path.
            SampleKey::Str(s)
                if s.bytes().all(|b| b.is_ascii_digit()) || s.bytes().all(|b| b == b'.') =>
            {
                format!("str:{s}")
            }
            SampleKey::Str(s) => s.clone(),
        }
    }
}

impl fmt::Display for SampleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SampleKey::Int(i) => write!(f, "{i}"),
            SampleKey::Str(s) => f.write_str(s),
        }
    }
}

impl From<&str> for SampleKey {
    fn from(s: &str) -> Self {
        SampleKey::Str(s.to_string())
    }
}

impl From<String> for SampleKey {
    fn from(s: String) -> Self {
        SampleKey::Str(s)
    }
}

impl From<&String> for SampleKey {
    fn from(s: &String) -> Self {
        SampleKey::Str(s.clone())
    }
}

impl From<&SampleKey> for SampleKey {
    fn from(k: &SampleKey) -> Self {
        k.clone()
    }
}

macro_rules! int_key {
    ($($t:ty),*) => {$(
        impl From<$t> for SampleKey {
            fn from(i: $t) -> Self {
                SampleKey::Int(i as u64)
            }
        }
    )*};
}
int_key!(u8, u16, u32, u64, usize);

/// True if record-table key `raw` counts as a sample: every key of a flat column, the
/// sample marker keys of a nested one (not its subsamples).
pub(crate) fn is_sample_record(nested: bool, raw: &[u8]) -> bool {
    !nested || split_nested(raw).is_ok_and(|(_, sub)| sub.is_none())
}

/// Splits a record-table key into its sample key and, for nested columns, subsample key.
/// Flat keys are one encoded key; nested keys are the sample key (a string sample key
/// followed by a 0 byte, which no key contains) and then the subsample key.
pub(crate) fn split_nested(raw: &[u8]) -> DecodeResult<(SampleKey, Option<SampleKey>)> {
    let sample_len = match raw.first() {
        Some(&TAG_INT) => 9,
        Some(&TAG_STR) => match raw.iter().position(|&b| b == 0) {
            Some(nul) if nul > 0 => nul,
            _ => raw.len(),
        },
        _ => return Err(DecodeError("unknown key tag".into())),
    };
    if sample_len > raw.len() {
        return Err(DecodeError("truncated key".into()));
    }
    let sample = SampleKey::decode(&raw[..sample_len])?;
    let mut rest = &raw[sample_len..];
    if raw.first() == Some(&TAG_STR) && !rest.is_empty() {
        rest = &rest[1..]; // the 0 separator
    }
    if rest.is_empty() {
        return Ok((sample, None));
    }
    Ok((sample, Some(SampleKey::decode(rest)?)))
}

/// Signed integers convert only when non-negative.
impl TryFrom<i64> for SampleKey {
    type Error = Error;
    fn try_from(i: i64) -> Result<SampleKey> {
        u64::try_from(i).map(SampleKey::Int).map_err(|_| {
            invalid(format!(
                "sample key {i} is negative; integer keys must be >= 0"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tell_integer_and_string_keys_apart_and_read_back() {
        let keys = [
            SampleKey::Int(123),
            SampleKey::from("123"),
            SampleKey::from("img_1"),
            SampleKey::from("007"),
            SampleKey::Int(7),
            SampleKey::from("."),
            SampleKey::from(".."),
            SampleKey::from("a.b"),
        ];
        let names: Vec<String> = keys.iter().map(SampleKey::name).collect();
        assert_eq!(
            names,
            ["123", "str:123", "img_1", "str:007", "7", "str:.", "str:..", "a.b"]
        );
        let distinct: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(distinct.len(), keys.len());
        for (k, n) in keys.iter().zip(&names) {
            // The command-line reading: digits are an integer key, tags are honoured.
            let back = if n.bytes().all(|b| b.is_ascii_digit()) {
                SampleKey::Int(n.parse().unwrap())
            } else {
                SampleKey::parse(n).unwrap()
            };
            assert_eq!(&back, k, "{n}");
        }
    }

    #[test]
    fn encoding_sorts_ints_numerically_then_strings() {
        let keys = [
            SampleKey::Int(2),
            SampleKey::Int(10),
            SampleKey::from("10"),
            SampleKey::from("2"),
        ];
        let mut enc: Vec<_> = keys.iter().map(SampleKey::encode).collect();
        enc.sort();
        let back: Vec<_> = enc.iter().map(|b| SampleKey::decode(b).unwrap()).collect();
        assert_eq!(back, keys);
        assert_ne!(
            SampleKey::from(1u64).encode(),
            SampleKey::from("1").encode()
        );
    }

    #[test]
    fn nested_keys_split_back_and_group_by_sample() {
        let samples = [
            SampleKey::Int(0),
            SampleKey::Int(256),
            SampleKey::from("a"),
            SampleKey::from("ab"),
        ];
        let subs = [
            SampleKey::Int(0),
            SampleKey::Int(256),
            SampleKey::from("x"),
            SampleKey::from("a"),
        ];
        let mut all = Vec::new();
        for s in &samples {
            assert_eq!(split_nested(&s.nested_prefix()).unwrap(), (s.clone(), None));
            assert_eq!(split_nested(&s.encode()).unwrap(), (s.clone(), None));
            for sub in &subs {
                let k = s.nested_key(sub);
                assert_eq!(split_nested(&k).unwrap(), (s.clone(), Some(sub.clone())));
                assert!(k.starts_with(&s.nested_prefix()));
                all.push((k, s.clone()));
            }
        }
        all.sort();
        // Sorted keys keep each sample's subsamples together, samples in key order.
        let order: Vec<SampleKey> = all.iter().map(|(_, s)| s.clone()).collect();
        let mut grouped = order.clone();
        grouped.dedup();
        assert_eq!(grouped, samples);
    }

    #[test]
    fn rules_and_parsing() {
        assert!(SampleKey::from("ok_key").validate().is_ok());
        assert!(SampleKey::from("bad key").validate().is_err());
        assert!(SampleKey::try_from(-1i64).is_err());
        assert_eq!(SampleKey::parse("int:7").unwrap(), SampleKey::Int(7));
        assert_eq!(SampleKey::parse("str:7").unwrap(), SampleKey::from("7"));
        assert!(SampleKey::parse("int:-3").is_err());
        assert!(SampleKey::decode(&[9]).is_err());
        assert!(SampleKey::decode(&[1, b' ']).is_err());
    }
}
