//! The Parquet Thrift structures the parquet crate decodes field by field (parquet-format
//! 2.11's `parquet.thrift`, as parquet 60.1 reads it): for each, the wire type of every
//! field it knows.
//!
//! The crate reads a known field as the type the format gives it, whatever type the wire
//! says, and skips only the fields it does not know. A footer whose field 2 claims to be a
//! list but is read as an i64 is parsed from there on as other bytes than the ones
//! checked, where a collection of booleans claiming 2^31 elements costs no bytes to skip
//! (found by the `parquet_segment` fuzz target: 2.7 s to refuse a 2.5 kB file). So
//! `thrift` checks every known field against this table before the crate sees it.

/// A field's type as the format declares it (enums are i32; unions are structs).
#[derive(Clone, Copy, Debug)]
pub(super) enum Ty {
    Bool,
    Byte,
    I16,
    I32,
    I64,
    Double,
    Binary,
    List(&'static Ty),
    Struct(&'static Struct),
}

/// A struct (or union): its name and its known fields' (id, type).
#[derive(Debug)]
pub(super) struct Struct {
    pub name: &'static str,
    pub fields: &'static [(i64, Ty)],
}

impl Struct {
    /// The declared type of field `id`, if the format knows it.
    pub fn field(&self, id: i64) -> Option<Ty> {
        self.fields.iter().find(|(i, _)| *i == id).map(|(_, t)| *t)
    }
}

impl Ty {
    /// Whether compact-protocol wire type `wire` encodes this type (as a struct field, or
    /// as a list's element type).
    pub fn matches(self, wire: u8) -> bool {
        match self {
            Ty::Bool => wire == 1 || wire == 2,
            Ty::Byte => wire == 3,
            Ty::I16 => wire == 4,
            Ty::I32 => wire == 5,
            Ty::I64 => wire == 6,
            Ty::Double => wire == 7,
            Ty::Binary => wire == 8,
            Ty::List(_) => wire == 9 || wire == 10,
            Ty::Struct(_) => wire == 12,
        }
    }

    /// Its name in errors.
    pub fn name(self) -> &'static str {
        match self {
            Ty::Bool => "bool",
            Ty::Byte => "byte",
            Ty::I16 => "i16",
            Ty::I32 => "i32",
            Ty::I64 => "i64",
            Ty::Double => "double",
            Ty::Binary => "binary",
            Ty::List(_) => "list",
            Ty::Struct(s) => s.name,
        }
    }
}

use Ty::{Binary, Bool, Byte, Double, I16, I32, I64};

const fn list(t: &'static Ty) -> Ty {
    Ty::List(t)
}
const fn st(s: &'static Struct) -> Ty {
    Ty::Struct(s)
}

/// A struct of no known fields (a union's empty variants).
const EMPTY: Struct = Struct { name: "empty struct", fields: &[] };
const E: Ty = st(&EMPTY);

const KEY_VALUE: Struct = Struct { name: "KeyValue", fields: &[(1, Binary), (2, Binary)] };
const DECIMAL: Struct = Struct { name: "DecimalType", fields: &[(1, I32), (2, I32)] };
const TIME_UNIT: Struct = Struct { name: "TimeUnit", fields: &[(1, E), (2, E), (3, E)] };
const TIME: Struct = Struct { name: "TimeType", fields: &[(1, Bool), (2, st(&TIME_UNIT))] };
const TIMESTAMP: Struct = Struct { name: "TimestampType", fields: &[(1, Bool), (2, st(&TIME_UNIT))] };
const INT: Struct = Struct { name: "IntType", fields: &[(1, Byte), (2, Bool)] };
const VARIANT: Struct = Struct { name: "VariantType", fields: &[(1, Byte)] };
const GEOMETRY: Struct = Struct { name: "GeometryType", fields: &[(1, Binary)] };
const GEOGRAPHY: Struct = Struct { name: "GeographyType", fields: &[(1, Binary), (2, I32)] };
const LOGICAL_TYPE: Struct = Struct {
    name: "LogicalType",
    fields: &[
        (1, E),
        (2, E),
        (3, E),
        (4, E),
        (5, st(&DECIMAL)),
        (6, E),
        (7, st(&TIME)),
        (8, st(&TIMESTAMP)),
        (10, st(&INT)),
        (11, E),
        (12, E),
        (13, E),
        (14, E),
        (15, E),
        (16, st(&VARIANT)),
        (17, st(&GEOMETRY)),
        (18, st(&GEOGRAPHY)),
        (19, E),
    ],
};
const SCHEMA_ELEMENT: Struct = Struct {
    name: "SchemaElement",
    fields: &[
        (1, I32),
        (2, I32),
        (3, I32),
        (4, Binary),
        (5, I32),
        (6, I32),
        (7, I32),
        (8, I32),
        (9, I32),
        (10, st(&LOGICAL_TYPE)),
    ],
};
const STATISTICS: Struct = Struct {
    name: "Statistics",
    fields: &[
        (1, Binary),
        (2, Binary),
        (3, I64),
        (4, I64),
        (5, Binary),
        (6, Binary),
        (7, Bool),
        (8, Bool),
        (9, I64),
    ],
};
const PAGE_ENCODING_STATS: Struct = Struct { name: "PageEncodingStats", fields: &[(1, I32), (2, I32), (3, I32)] };
const SIZE_STATISTICS: Struct =
    Struct { name: "SizeStatistics", fields: &[(1, I64), (2, list(&I64)), (3, list(&I64))] };
const BOUNDING_BOX: Struct = Struct {
    name: "BoundingBox",
    fields: &[(1, Double), (2, Double), (3, Double), (4, Double), (5, Double), (6, Double), (7, Double), (8, Double)],
};
const GEOSPATIAL_STATISTICS: Struct =
    Struct { name: "GeospatialStatistics", fields: &[(1, st(&BOUNDING_BOX)), (2, list(&I32))] };
const COLUMN_META_DATA: Struct = Struct {
    name: "ColumnMetaData",
    fields: &[
        (1, I32),
        (2, list(&I32)),
        (3, list(&Binary)),
        (4, I32),
        (5, I64),
        (6, I64),
        (7, I64),
        (8, list(&st(&KEY_VALUE))),
        (9, I64),
        (10, I64),
        (11, I64),
        (12, st(&STATISTICS)),
        (13, list(&st(&PAGE_ENCODING_STATS))),
        (14, I64),
        (15, I32),
        (16, st(&SIZE_STATISTICS)),
        (17, st(&GEOSPATIAL_STATISTICS)),
    ],
};
const ENCRYPTION_WITH_COLUMN_KEY: Struct =
    Struct { name: "EncryptionWithColumnKey", fields: &[(1, list(&Binary)), (2, Binary)] };
const COLUMN_CRYPTO_META_DATA: Struct =
    Struct { name: "ColumnCryptoMetaData", fields: &[(1, E), (2, st(&ENCRYPTION_WITH_COLUMN_KEY))] };
const COLUMN_CHUNK: Struct = Struct {
    name: "ColumnChunk",
    fields: &[
        (1, Binary),
        (2, I64),
        (3, st(&COLUMN_META_DATA)),
        (4, I64),
        (5, I32),
        (6, I64),
        (7, I32),
        (8, st(&COLUMN_CRYPTO_META_DATA)),
        (9, Binary),
    ],
};
const SORTING_COLUMN: Struct = Struct { name: "SortingColumn", fields: &[(1, I32), (2, Bool), (3, Bool)] };
const ROW_GROUP: Struct = Struct {
    name: "RowGroup",
    fields: &[
        (1, list(&st(&COLUMN_CHUNK))),
        (2, I64),
        (3, I64),
        (4, list(&st(&SORTING_COLUMN))),
        (5, I64),
        (6, I64),
        (7, I16),
    ],
};
const COLUMN_ORDER: Struct = Struct { name: "ColumnOrder", fields: &[(1, E), (2, E), (3, E)] };
const AES_GCM: Struct = Struct { name: "AesGcmV1", fields: &[(1, Binary), (2, Binary), (3, Bool)] };
const ENCRYPTION_ALGORITHM: Struct =
    Struct { name: "EncryptionAlgorithm", fields: &[(1, st(&AES_GCM)), (2, st(&AES_GCM))] };

/// The footer's root.
pub(super) const FILE_META_DATA: Struct = Struct {
    name: "FileMetaData",
    fields: &[
        (1, I32),
        (2, list(&st(&SCHEMA_ELEMENT))),
        (3, I64),
        (4, list(&st(&ROW_GROUP))),
        (5, list(&st(&KEY_VALUE))),
        (6, Binary),
        (7, list(&st(&COLUMN_ORDER))),
        (8, st(&ENCRYPTION_ALGORITHM)),
        (9, Binary),
    ],
};

const DATA_PAGE_HEADER: Struct = Struct {
    name: "DataPageHeader",
    fields: &[(1, I32), (2, I32), (3, I32), (4, I32), (5, st(&STATISTICS))],
};
const DICTIONARY_PAGE_HEADER: Struct =
    Struct { name: "DictionaryPageHeader", fields: &[(1, I32), (2, I32), (3, Bool)] };
const DATA_PAGE_HEADER_V2: Struct = Struct {
    name: "DataPageHeaderV2",
    fields: &[
        (1, I32),
        (2, I32),
        (3, I32),
        (4, I32),
        (5, I32),
        (6, I32),
        (7, Bool),
        (8, st(&STATISTICS)),
    ],
};

/// A page's header.
pub(super) const PAGE_HEADER: Struct = Struct {
    name: "PageHeader",
    fields: &[
        (1, I32),
        (2, I32),
        (3, I32),
        (4, I32),
        (5, st(&DATA_PAGE_HEADER)),
        (6, E),
        (7, st(&DICTIONARY_PAGE_HEADER)),
        (8, st(&DATA_PAGE_HEADER_V2)),
    ],
};

const PAGE_LOCATION: Struct = Struct { name: "PageLocation", fields: &[(1, I64), (2, I32), (3, I64)] };

/// A column chunk's offset index.
pub(super) const OFFSET_INDEX: Struct =
    Struct { name: "OffsetIndex", fields: &[(1, list(&st(&PAGE_LOCATION))), (2, list(&I64))] };

/// A column chunk's column index (its `null_pages` is the one list of booleans).
pub(super) const COLUMN_INDEX: Struct = Struct {
    name: "ColumnIndex",
    fields: &[
        (1, list(&Bool)),
        (2, list(&Binary)),
        (3, list(&Binary)),
        (4, I32),
        (5, list(&I64)),
        (6, list(&I64)),
        (7, list(&I64)),
        (8, list(&I64)),
    ],
};
