//! How a column's values are stored: uncompressed (Arrow IPC segments, read zero-copy
//! from a memory map) or compressed (sealed as Parquet segments; see
//! `segment::parquet`).

use std::fmt;
use std::str::FromStr;

use crate::codec::{DecodeError, DecodeResult};

/// The compression of a column's sealed segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Arrow IPC segments, uncompressed: values are read straight from a memory map.
    #[default]
    None,
    /// Parquet segments, zstd pages at this level (1–22; `zstd` alone is level 1).
    Zstd(u8),
    /// Parquet segments, LZ4 (raw block format) pages: faster to decode, larger.
    Lz4,
}

/// The zstd level `zstd` alone means: 1, as in the Parquet writers of arrow-rs
/// (`ZstdLevel::default()`) and Arrow C++ (pyarrow). Measured on the seed workload
/// (Fashion-MNIST): level 3 compresses the images 0.1% smaller than level 1 and takes
/// about twice the time (the `zstd` tool on the raw bytes: 0.565 vs 0.564 of raw, 0.83 s
/// vs 0.38 s on one core); the repository is 0.776 of raw either way
/// (`benches/src/bin/compressed.rs`).
pub const DEFAULT_ZSTD_LEVEL: u8 = 1;

impl Compression {
    /// The two bytes a schema records (`code | level`); `None` records nothing.
    pub fn code(self) -> (u8, u8) {
        match self {
            Compression::None => (0, 0),
            Compression::Zstd(l) => (1, l),
            Compression::Lz4 => (2, 0),
        }
    }

    /// Reads what [`Compression::code`] gives, refusing unknown codes and levels.
    pub fn from_code(code: u8, level: u8) -> DecodeResult<Compression> {
        match (code, level) {
            (0, 0) => Ok(Compression::None),
            (1, 1..=22) => Ok(Compression::Zstd(level)),
            (2, 0) => Ok(Compression::Lz4),
            _ => Err(DecodeError(format!(
                "unknown compression {code} (level {level})"
            ))),
        }
    }

    /// True unless [`Compression::None`].
    pub fn is_compressed(self) -> bool {
        self != Compression::None
    }
}

impl fmt::Display for Compression {
    /// `none`, `zstd:<level>` or `lz4` (what [`Compression::from_str`] parses).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::None => f.write_str("none"),
            Compression::Zstd(l) => write!(f, "zstd:{l}"),
            Compression::Lz4 => f.write_str("lz4"),
        }
    }
}

impl FromStr for Compression {
    type Err = String;

    /// Parses `none`, `zstd`, `zstd:<1-22>` or `lz4` (case-insensitive).
    fn from_str(s: &str) -> Result<Compression, String> {
        let lower = s.trim().to_ascii_lowercase();
        let (name, level) = match lower.split_once(':') {
            Some((n, l)) => (n, Some(l)),
            None => (lower.as_str(), None),
        };
        let bad = || {
            format!(
                "unknown compression {s:?}: give none, zstd, zstd:<level 1-22> (e.g. zstd:9) or lz4"
            )
        };
        match (name, level) {
            ("none", None) => Ok(Compression::None),
            ("lz4", None) => Ok(Compression::Lz4),
            ("zstd", None) => Ok(Compression::Zstd(DEFAULT_ZSTD_LEVEL)),
            ("zstd", Some(l)) => match l.parse::<u8>() {
                Ok(l @ 1..=22) => Ok(Compression::Zstd(l)),
                _ => Err(format!(
                    "zstd level {l:?} is out of range: give a level from 1 to 22 (`zstd` alone is level 1)"
                )),
            },
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_and_codes_round_trip() {
        for (s, c) in [
            ("none", Compression::None),
            ("zstd", Compression::Zstd(1)),
            ("ZSTD:19", Compression::Zstd(19)),
            ("lz4", Compression::Lz4),
        ] {
            let parsed: Compression = s.parse().unwrap();
            assert_eq!(parsed, c);
            assert_eq!(parsed.to_string().parse::<Compression>().unwrap(), c);
            let (code, level) = c.code();
            assert_eq!(Compression::from_code(code, level).unwrap(), c);
        }
        for bad in ["zstd:0", "zstd:23", "zstd:x", "gzip", "lz4:3", ""] {
            let e = bad.parse::<Compression>().unwrap_err();
            assert!(e.contains("zstd") || e.contains("level"), "{e}");
        }
        assert!(Compression::from_code(1, 0).is_err());
        assert!(Compression::from_code(9, 0).is_err());
    }
}
