//! Values received from elsewhere (a remote): each recomputed against the digest it was
//! sent under before anything is written.

use hangar_store::{
    DType, Digest, ErrorKind, ForeignValue, SegmentFormat, ValueHeader, ValueInput,
};

use crate::{new_store, open_writer};

/// The shape of value `i`: u8[28, 28] but for two that end a run of equal headers, one
/// of the same length (u8[784]) and one of another (u8[2, 3]).
fn shape(i: usize) -> &'static [u64] {
    match i {
        300 => &[784],
        450 => &[2, 3],
        _ => &[28, 28],
    }
}

/// `n` values, each in a buffer of its own as a fetch has them.
fn values(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let len = shape(i).iter().product::<u64>() as usize;
            let mut v: Vec<u8> = (0..len).map(|j| (i * 7 + j * 13) as u8).collect();
            v[..2].copy_from_slice(&(i as u16).to_le_bytes()); // no two alike
            v
        })
        .collect()
}

#[test]
fn received_values_are_hashed_and_a_wrong_digest_stores_nothing() {
    let (_d, store) = new_store();
    let (mut w, _) = open_writer(&store);
    let formats: Vec<SegmentFormat> = (0..600)
        .map(|i| SegmentFormat::FixedTensor {
            dtype: DType::U8,
            shape: shape(i).to_vec(),
        })
        .collect();
    // More than a piece (256) and more than the SIMD lanes, with the odd ones inside.
    let bytes = values(600);
    let input = |i: usize| {
        let shape = shape(i);
        ValueInput {
            format: &formats[i],
            compression: Default::default(),
            header: ValueHeader::Tensor {
                dtype: DType::U8,
                shape,
            },
            shape,
            bytes: &bytes[i],
        }
    };
    let digests: Vec<Digest> = (0..bytes.len())
        .map(|i| input(i).header.digest(&bytes[i]))
        .collect();
    for bad in [0, 17, 299, 300, 301, 450, 599] {
        let values: Vec<ForeignValue<'_>> = (0..bytes.len())
            .map(|i| ForeignValue {
                input: input(i),
                // The digest of another value: sent under a name it does not hash to.
                digest: digests[if i == bad { (i + 1) % bytes.len() } else { i }],
                crc: None,
            })
            .collect();
        let e = w.ingest(&values, Vec::new()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "value {bad}: {e}");
        assert!(e.to_string().contains("nothing was stored"), "{e}");
        for d in &digests {
            assert!(
                !w.contains_value(d).unwrap(),
                "value {bad} wrong: something was stored"
            );
        }
    }
    let values: Vec<ForeignValue<'_>> = (0..bytes.len())
        .map(|i| ForeignValue {
            input: input(i),
            digest: digests[i],
            crc: None,
        })
        .collect();
    let stats = w.ingest(&values, Vec::new()).unwrap();
    assert_eq!(stats.values, bytes.len());
    for (d, b) in digests.iter().zip(&bytes) {
        assert_eq!(&w.read_value(d).unwrap().unwrap()[..], &b[..]);
    }
}
