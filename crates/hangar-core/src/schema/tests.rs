//! Unit tests of schemas and records.

use super::*;
use crate::value::TensorRef;

#[test]
fn spec_rules() {
    let proto = [0u8; 4];
    assert!(NdArraySpec::new().into_schema().is_err());
    assert!(NdArraySpec::like(TensorRef::new(&proto, &[4]))
        .into_schema()
        .is_ok());
    assert!(NdArraySpec::like(TensorRef::new(&proto, &[4]))
        .shape(&[4])
        .into_schema()
        .is_err());
    assert!(NdArraySpec::new().shape(&[4]).into_schema().is_err());
    assert!(NdArraySpec::new().dtype(DType::U8).into_schema().is_err());
    assert!(NdArraySpec::with_shape(DType::U8, &[0, 3])
        .into_schema()
        .is_err());
    assert!(NdArraySpec::with_shape(DType::U8, &[1; 32])
        .into_schema()
        .is_err());
    assert!(NdArraySpec::with_shape(DType::U8, &[1; 31])
        .into_schema()
        .is_ok());
    assert!(NdArraySpec::with_shape(DType::U8, &[1 << 20, 1 << 20])
        .into_schema()
        .is_err());
}

#[test]
fn encode_round_trip_and_digests_differ() {
    let a = ColumnSchema::ndarray(DType::F32, &[5, 5], false).unwrap();
    let b = ColumnSchema::ndarray(DType::F32, &[5, 5], true).unwrap();
    for s in [
        a.clone(),
        b.clone(),
        ColumnSchema::str(),
        ColumnSchema::bytes(),
    ] {
        assert_eq!(ColumnSchema::decode(&s.encode()).unwrap(), s);
    }
    assert_ne!(a.digest(), b.digest());
    assert!(ColumnSchema::decode(&[1, 9]).is_err());
}

#[test]
fn value_checks() {
    let fixed = ColumnSchema::ndarray(DType::F32, &[5, 5], false).unwrap();
    let var = ColumnSchema::ndarray(DType::F32, &[10, 10], true).unwrap();
    let d20 = [0f32; 20];
    let d0: [f32; 0] = [];
    let err = fixed
        .check_value("c", &TensorRef::new(&d20, &[4, 5]).into())
        .unwrap_err()
        .to_string();
    assert!(err.contains("(4, 5) != fixed shape (5, 5)"), "{err}");
    let err = var
        .check_value("c", &TensorRef::new(&d20, &[20]).into())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "data rank 1 != c rank 2 (shape (20,) given; column \"c\" holds arrays of rank 2)"
        ),
        "{err}"
    );
    let d77 = [0f32; 77];
    let err = var
        .check_value("c", &TensorRef::new(&d77, &[11, 7]).into())
        .unwrap_err()
        .to_string();
    assert!(err.contains("exceeds schema max shape (10, 10)"), "{err}");
    assert!(var
        .check_value("c", &TensorRef::new(&d0, &[0, 3]).into())
        .is_ok());
    let ints = [0i32; 25];
    let err = fixed
        .check_value("c", &TensorRef::new(&ints, &[5, 5]).into())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dtype int32 != column \"c\" dtype float32"),
        "{err}"
    );
    let err = fixed
        .check_value("c", &ValueRef::Str("x"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("holds ndarray values; got a str value"),
        "{err}"
    );
    assert!(ColumnSchema::str()
        .check_value("s", &ValueRef::Bytes(b"x"))
        .is_err());
    let big = "x".repeat(MAX_BLOB_BYTES + 1);
    assert!(ColumnSchema::str()
        .check_value("s", &ValueRef::Str(&big))
        .is_err());
}

#[test]
fn records_round_trip() {
    let var = ColumnSchema::ndarray(DType::F32, &[10, 10], true).unwrap();
    let r = Record {
        held: Held::Stored(Digest([3; 32])),
        shape: Some(vec![2, 9]),
    };
    assert_eq!(Record::decode(&r.encode(), &var).unwrap(), r);
    let too_big = Record {
        held: Held::Stored(Digest([3; 32])),
        shape: Some(vec![11, 7]),
    };
    assert!(Record::decode(&too_big.encode(), &var).is_err());
    let fixed = ColumnSchema::ndarray(DType::F32, &[17], false).unwrap();
    let r = Record {
        held: Held::Stored(Digest([1; 32])),
        shape: None,
    };
    assert_eq!(Record::decode(&r.encode(), &fixed).unwrap(), r);
    assert!(Record::decode(&r.encode()[..32], &fixed).is_err());
    let mut unknown = r.encode();
    unknown[0] = 7;
    let err = Record::decode(&unknown, &fixed).unwrap_err().0;
    assert!(err.contains("unknown record tag 7"), "{err}");
    // The stored digest read without decoding: the one of a stored value, none of
    // an inline one, none of a record too short to hold one.
    assert_eq!(
        Record::peek_stored_digest(&r.encode()),
        Some(Digest([1; 32]))
    );
    let var_stored = Record {
        held: Held::Stored(Digest([3; 32])),
        shape: Some(vec![2, 9]),
    };
    assert_eq!(
        Record::peek_stored_digest(&var_stored.encode()),
        Some(Digest([3; 32]))
    );
    assert_eq!(
        Record::peek_stored_digest(&Record::encode_inline(&[1; 8], None)),
        None
    );
    assert_eq!(Record::peek_stored_digest(&r.encode()[..20]), None);
    assert_eq!(Record::peek_stored_digest(&[]), None);
}

#[test]
fn encode_inline_is_encode() {
    for (bytes, shape) in [
        (vec![], None),
        (vec![5u8; 64], None),
        (vec![1, 2, 3], Some(vec![3u64])),
        (vec![9; 60], Some(vec![300u64, 0, 7])),
    ] {
        let r = Record {
            held: Held::Inline(bytes.clone()),
            shape: shape.clone(),
        };
        assert_eq!(Record::encode_inline(&bytes, shape.as_deref()), r.encode());
    }
}

#[test]
fn small_values_are_inline_and_records_canonical() {
    // 16 f32 = 64 bytes: inline; 17 = 68 bytes: stored.
    let small = ColumnSchema::ndarray(DType::F32, &[16], false).unwrap();
    let r = Record {
        held: Held::Inline(vec![7; 64]),
        shape: None,
    };
    assert_eq!(r.encode().len(), 2 + 64);
    assert_eq!(Record::decode(&r.encode(), &small).unwrap(), r);
    // The one encoding of a 64-byte value is inline: a stored one is refused.
    let stored = Record {
        held: Held::Stored(Digest([1; 32])),
        shape: None,
    };
    let err = Record::decode(&stored.encode(), &small).unwrap_err().0;
    assert!(err.contains("64 bytes is stored apart"), "{err}");
    // Inline bytes must be what the shape needs, and at most INLINE_MAX.
    let short = Record {
        held: Held::Inline(vec![7; 60]),
        shape: None,
    };
    let err = Record::decode(&short.encode(), &small).unwrap_err().0;
    assert!(
        err.contains("inline value has 60 bytes, its shape needs 64"),
        "{err}"
    );
    let big = ColumnSchema::ndarray(DType::U8, &[65], false).unwrap();
    let over = Record {
        held: Held::Inline(vec![7; 65]),
        shape: None,
    };
    let err = Record::decode(&over.encode(), &big).unwrap_err().0;
    assert!(err.contains("inline value of 65 bytes"), "{err}");
    // Variable shape: the record's shape decides the length.
    let var = ColumnSchema::ndarray(DType::U8, &[100], true).unwrap();
    let r = Record {
        held: Held::Inline(vec![1, 2, 3]),
        shape: Some(vec![3]),
    };
    assert_eq!(Record::decode(&r.encode(), &var).unwrap(), r);
    let wrong = Record {
        held: Held::Inline(vec![1, 2, 3]),
        shape: Some(vec![4]),
    };
    assert!(Record::decode(&wrong.encode(), &var).is_err());
    // Str: inline bytes must be UTF-8; bytes columns take any bytes.
    let bad_utf8 = Record {
        held: Held::Inline(vec![0xff, 0xfe]),
        shape: None,
    };
    let err = Record::decode(&bad_utf8.encode(), &ColumnSchema::str())
        .unwrap_err()
        .0;
    assert!(err.contains("not UTF-8"), "{err}");
    assert!(Record::decode(&bad_utf8.encode(), &ColumnSchema::bytes()).is_ok());
}
