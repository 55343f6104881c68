//! Metadata objects: schemas, record-table nodes, roots and commits. Each is content-
//! addressed: its id is `Digest::of_object(type, encoded bytes)`.

use hangar_store::codec::{DecodeError, DecodeResult, Decoder, Encoder};
use hangar_store::Digest;

/// Object type codes (part of the format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ObjectType {
    /// A column schema.
    Schema = 1,
    /// A record-table node (leaf or internal).
    TreeNode = 2,
    /// A root: every column's schema and record table, and the metadata table.
    Root = 3,
    /// A commit.
    Commit = 4,
}

/// A reference to a record table: its root node, number of records and height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TreeRef {
    /// Digest of the root node.
    pub root: Digest,
    /// Number of records.
    pub count: u64,
    /// Height: 0 when the root is a leaf.
    pub height: u8,
}

fn encode_tree(e: &mut Encoder, t: &Option<TreeRef>) {
    match t {
        None => {
            e.u8(0);
        }
        Some(t) => {
            e.u8(1).digest(&t.root).varint(t.count).u8(t.height);
        }
    }
}

fn decode_tree(d: &mut Decoder<'_>) -> DecodeResult<Option<TreeRef>> {
    match d.u8()? {
        0 => Ok(None),
        1 => {
            let t = TreeRef {
                root: d.digest()?,
                count: d.varint()?,
                height: d.u8()?,
            };
            if t.height > 32 || t.count == 0 {
                return Err(DecodeError(format!(
                    "absurd record table (height {}, count {})",
                    t.height, t.count
                )));
            }
            Ok(Some(t))
        }
        x => Err(DecodeError(format!("bad record table tag {x}"))),
    }
}

/// One column of a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootColumn {
    /// Column name.
    pub name: String,
    /// Digest of the column's schema object.
    pub schema: Digest,
    /// The record table (`None` when the column is empty).
    pub tree: Option<TreeRef>,
    /// Number of samples (for a flat column, the table's record count; for a nested one,
    /// the number of samples, each holding any number of subsamples).
    pub samples: u64,
}

/// The state of every column and the metadata at one commit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Root {
    /// Columns, sorted by name.
    pub columns: Vec<RootColumn>,
    /// The metadata table (key → UTF-8 value).
    pub metadata: Option<TreeRef>,
}

impl Root {
    /// Canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u8(1).varint(self.columns.len() as u64);
        for c in &self.columns {
            e.str(&c.name).digest(&c.schema);
            encode_tree(&mut e, &c.tree);
            e.varint(c.samples);
        }
        encode_tree(&mut e, &self.metadata);
        e.finish()
    }

    /// Decodes and validates (names sorted and unique).
    pub fn decode(b: &[u8]) -> DecodeResult<Root> {
        let mut d = Decoder::new(b);
        if d.u8()? != 1 {
            return Err(DecodeError("unknown root encoding version".into()));
        }
        let n = d.count(35)?;
        let mut columns = Vec::with_capacity(n);
        for _ in 0..n {
            let name = d.str()?.to_string();
            if !crate::names::is_valid_name(&name) {
                return Err(DecodeError(format!(
                    "stored column name {name:?} breaks the name rules"
                )));
            }
            if columns.last().is_some_and(|c: &RootColumn| c.name >= name) {
                return Err(DecodeError("root columns are not sorted".into()));
            }
            let schema = d.digest()?;
            let tree = decode_tree(&mut d)?;
            let samples = d.varint()?;
            if samples > tree.map_or(0, |t| t.count) {
                return Err(DecodeError(format!(
                    "column {name:?} counts more samples than records"
                )));
            }
            columns.push(RootColumn {
                name,
                schema,
                tree,
                samples,
            });
        }
        let metadata = decode_tree(&mut d)?;
        d.finish()?;
        Ok(Root { columns, metadata })
    }
}

/// A commit: parents, the root it records, who, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitObject {
    /// Parent commits (none for the first commit).
    pub parents: Vec<Digest>,
    /// The root object.
    pub root: Digest,
    /// Author name.
    pub author: String,
    /// Author email.
    pub email: String,
    /// Time, nanoseconds since the Unix epoch (UTC).
    pub time_ns: i64,
    /// Message.
    pub message: String,
}

impl CommitObject {
    /// Canonical encoding; the commit id is the digest of these bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u8(1).varint(self.parents.len() as u64);
        for p in &self.parents {
            e.digest(p);
        }
        e.digest(&self.root)
            .str(&self.author)
            .str(&self.email)
            .i64(self.time_ns)
            .str(&self.message);
        e.finish()
    }

    /// Decodes a commit.
    pub fn decode(b: &[u8]) -> DecodeResult<CommitObject> {
        let mut d = Decoder::new(b);
        if d.u8()? != 1 {
            return Err(DecodeError("unknown commit encoding version".into()));
        }
        let n = d.count(32)?;
        if n > 16 {
            return Err(DecodeError(format!("commit has {n} parents")));
        }
        let parents = (0..n)
            .map(|_| d.digest())
            .collect::<DecodeResult<Vec<_>>>()?;
        let c = CommitObject {
            parents,
            root: d.digest()?,
            author: d.str()?.to_string(),
            email: d.str()?.to_string(),
            time_ns: d.i64()?,
            message: d.str()?.to_string(),
        };
        d.finish()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A white-box test (the object types are private to this crate): the commit id is
    // the object digest of exactly these fields.
    #[test]
    fn the_commit_id_covers_parents_author_time_message_and_root() {
        let dir = tempfile::tempdir().unwrap();
        let repo =
            crate::Repository::init(dir.path(), "Tester", "tester@example.com", false).unwrap();
        let co = repo.checkout_writer().unwrap();
        co.add_ndarray_column("c", crate::NdArraySpec::with_shape(crate::DType::U8, &[1]))
            .unwrap()
            .set("k", crate::TensorRef::new(&[1u8], &[1]))
            .unwrap();
        let first = co.commit("first").unwrap();
        co.close().unwrap();
        let co = repo.checkout_writer().unwrap();
        co.metadata().set("source", "tests").unwrap();
        let second = co.commit("second\n\nwith a body").unwrap();
        co.close().unwrap();
        let info = repo.commit_info(&second).unwrap();
        assert_eq!(info.parents, vec![first]);
        assert_eq!(
            (info.author.as_str(), info.email.as_str()),
            ("Tester", "tester@example.com")
        );
        assert_eq!(info.message, "second\n\nwith a body");
        let object = CommitObject {
            parents: info.parents.iter().map(|p| p.digest()).collect(),
            root: info.root_digest(),
            author: info.author.clone(),
            email: info.email.clone(),
            time_ns: info.time_ns,
            message: info.message.clone(),
        };
        assert_eq!(
            Digest::of_object(ObjectType::Commit as u8, &object.encode()),
            second.digest()
        );
        // Any field changes the id.
        for changed in [
            CommitObject {
                message: "other".into(),
                ..object.clone()
            },
            CommitObject {
                author: "Someone".into(),
                ..object.clone()
            },
            CommitObject {
                email: "e@x".into(),
                ..object.clone()
            },
            CommitObject {
                time_ns: object.time_ns + 1,
                ..object.clone()
            },
            CommitObject {
                parents: vec![],
                ..object.clone()
            },
            CommitObject {
                root: Digest([0; 32]),
                ..object.clone()
            },
        ] {
            assert_ne!(
                Digest::of_object(ObjectType::Commit as u8, &changed.encode()),
                second.digest()
            );
        }
        // Metadata is part of the root.
        assert_ne!(
            repo.commit_info(&first).unwrap().root_digest(),
            info.root_digest()
        );
    }

    #[test]
    fn objects_round_trip() {
        let root = Root {
            columns: vec![
                RootColumn {
                    name: "a".into(),
                    schema: Digest([1; 32]),
                    tree: None,
                    samples: 0,
                },
                RootColumn {
                    name: "b".into(),
                    schema: Digest([2; 32]),
                    tree: Some(TreeRef {
                        root: Digest([3; 32]),
                        count: 9,
                        height: 1,
                    }),
                    samples: 4,
                },
            ],
            metadata: None,
        };
        assert_eq!(Root::decode(&root.encode()).unwrap(), root);
        let mut unsorted = root.clone();
        unsorted.columns.reverse();
        assert!(Root::decode(&unsorted.encode()).is_err());
        let c = CommitObject {
            parents: vec![Digest([7; 32])],
            root: Digest([8; 32]),
            author: "Rick".into(),
            email: "r@x".into(),
            time_ns: 1_700_000_000_000_000_000,
            message: "hi".into(),
        };
        assert_eq!(CommitObject::decode(&c.encode()).unwrap(), c);
        let enc = c.encode();
        for cut in 0..enc.len() {
            assert!(CommitObject::decode(&enc[..cut]).is_err());
        }
    }
}
