//! Integration tests of hangar-store.
#![allow(clippy::unwrap_used)]

mod claims;
mod dead_values;
mod ingest;
mod packs;
mod recovery;
mod segments;

use std::sync::Arc;

use hangar_store::{DType, Digest, SegmentFormat, Store, StoreWriter, ValueHeader, ValueInput};

pub fn new_store() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    Store::create_layout(dir.path()).unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    (dir, store)
}

pub fn open_writer(store: &Arc<Store>) -> (StoreWriter, hangar_store::Recovered) {
    StoreWriter::open(store.clone(), |_| Ok(false), || b"base0".to_vec()).unwrap()
}

pub fn put_u8(w: &mut StoreWriter, shape: &[u64], bytes: &[u8]) -> Digest {
    let format = SegmentFormat::FixedTensor {
        dtype: DType::U8,
        shape: shape.to_vec(),
    };
    let header = ValueHeader::Tensor {
        dtype: DType::U8,
        shape,
    };
    w.put_value(ValueInput {
        format: &format,
        compression: Default::default(),
        header,
        shape,
        bytes,
    })
    .unwrap()
}
