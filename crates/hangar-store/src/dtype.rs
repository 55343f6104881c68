//! Element types of tensor values.

use std::fmt;

/// The element type of an ndarray value. The numeric codes are part of the on-disk
/// format (digest headers, schemas) and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DType {
    /// `bool`, one byte per element holding 0 or 1.
    Bool = 1,
    /// `uint8`
    U8 = 2,
    /// `uint16`
    U16 = 3,
    /// `uint32`
    U32 = 4,
    /// `uint64`
    U64 = 5,
    /// `int8`
    I8 = 6,
    /// `int16`
    I16 = 7,
    /// `int32`
    I32 = 8,
    /// `int64`
    I64 = 9,
    /// `float16` (IEEE 754 half precision)
    F16 = 10,
    /// `float32`
    F32 = 11,
    /// `float64`
    F64 = 12,
}

impl DType {
    /// Every dtype, in code order.
    pub const ALL: [DType; 12] = [
        DType::Bool,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::F16,
        DType::F32,
        DType::F64,
    ];

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::U16 | DType::I16 | DType::F16 => 2,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::U64 | DType::I64 | DType::F64 => 8,
        }
    }

    /// The stable numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The dtype with this code, if any.
    pub fn from_code(code: u8) -> Option<DType> {
        DType::ALL.iter().copied().find(|d| d.code() == code)
    }

    /// The numpy-style name (`"uint8"`, `"float32"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F16 => "float16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Parses a numpy-style name or a short alias (`u8`, `f32`, `uint8`, `float32`, ...),
    /// case-insensitively.
    pub fn from_name(name: &str) -> Option<DType> {
        let lower = name.to_ascii_lowercase();
        let found = DType::ALL
            .iter()
            .copied()
            .find(|d| d.name() == lower || d.short_name() == lower);
        found.or(match lower.as_str() {
            "bool_" | "boolean" => Some(DType::Bool),
            "half" => Some(DType::F16),
            "float" | "single" => Some(DType::F32),
            "double" => Some(DType::F64),
            _ => None,
        })
    }

    /// The Rust-style short name (`"u8"`, `"f32"`, ...).
    pub fn short_name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::U64 => "u64",
            DType::I8 => "i8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::F16 => "f16",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust element type that maps to one [`DType`] and can be viewed as plain bytes.
pub trait Element: bytemuck::Pod + Send + Sync + 'static {
    /// The dtype of this element type.
    const DTYPE: DType;
}

macro_rules! element {
    ($($t:ty => $d:ident),* $(,)?) => { $(impl Element for $t { const DTYPE: DType = DType::$d; })* };
}
element!(u8 => U8, u16 => U16, u32 => U32, u64 => U64, i8 => I8, i16 => I16, i32 => I32,
         i64 => I64, half::f16 => F16, f32 => F32, f64 => F64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_names_parse() {
        for d in DType::ALL {
            assert_eq!(DType::from_code(d.code()), Some(d));
            assert_eq!(DType::from_name(d.name()), Some(d));
            assert_eq!(DType::from_name(d.short_name()), Some(d));
            assert_eq!(DType::from_name(&d.name().to_uppercase()), Some(d));
        }
        assert_eq!(DType::from_code(0), None);
        assert_eq!(DType::from_code(13), None);
        assert_eq!(DType::from_name("complex64"), None);
    }
}
