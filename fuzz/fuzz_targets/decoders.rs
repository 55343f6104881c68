//! The in-memory decoders of stored objects, keys and what a remote holds (manifests,
//! markers, ref entries): the first byte picks one.
#![no_main]

use hangar_core::internal::{remote, CommitObject, Node, Root};
use hangar_core::schema::{ColumnSchema, Record};
use hangar_core::{DType, SampleKey};
use hangar_store::internal::index::IndexEntry;
use hangar_store::internal::segment::format::parse_fixed_shape_metadata;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 10 {
        0 => drop(CommitObject::decode(body)),
        1 => drop(Root::decode(body)),
        2 => {
            if let Ok(schema) = ColumnSchema::decode(body) {
                let _ = schema.encode();
            }
        }
        3 => drop(Node::decode(body.to_vec())),
        4 => {
            for schema in [
                ColumnSchema::ndarray(DType::F32, &[4, 4], true).expect("valid"),
                ColumnSchema::str(),
                ColumnSchema::bytes().nested(),
            ] {
                let _ = Record::decode(body, &schema);
            }
        }
        5 => drop(SampleKey::decode(body)),
        6 => drop(IndexEntry::decode(body)),
        7 => {
            remote::manifest(body);
        }
        8 => {
            remote::marker(body);
            remote::ref_entry(body);
        }
        _ => {
            if let Ok(s) = std::str::from_utf8(body) {
                let _ = parse_fixed_shape_metadata(s);
            }
        }
    }
});
