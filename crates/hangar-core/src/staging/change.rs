//! The staging journal's records as the core writes them: the base record (branch and
//! commit the staging area starts from) and each change, with their encodings.

use super::*;

/// What the staging area is based on (the journal's `Base` frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseInfo {
    pub branch: String,
    pub commit: Option<Digest>,
}

impl BaseInfo {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u8(1).str(&self.branch);
        match &self.commit {
            Some(d) => e.u8(1).digest(d),
            None => e.u8(0),
        };
        e.finish()
    }

    pub fn decode(b: &[u8]) -> DecodeResult<BaseInfo> {
        let mut d = Decoder::new(b);
        if d.u8()? != 1 {
            return Err(DecodeError("unknown base encoding".into()));
        }
        let branch = d.str()?.to_string();
        let commit = match d.u8()? {
            0 => None,
            1 => Some(d.digest()?),
            x => return Err(DecodeError(format!("bad base commit tag {x}"))),
        };
        d.finish()?;
        Ok(BaseInfo { branch, commit })
    }
}

/// One journal record of a staged change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    ColumnCreate {
        name: String,
        schema: ColumnSchema,
    },
    ColumnDelete {
        name: String,
    },
    Put {
        column: String,
        entries: Puts<'static>,
    },
    /// Puts (`Some`) and deletes (`None`) in one column, applied together.
    Apply {
        column: String,
        entries: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    },
    Delete {
        column: String,
        key: Vec<u8>,
    },
    MetaPut {
        key: String,
        value: String,
    },
    MetaDelete {
        key: String,
    },
}

/// A `Put` change written before puts were columnar (tag 3), after its tag: the column
/// and its entries. Still read, so a staging area journalled by an earlier build replays.
fn put_body_v1<'a>(d: &mut Decoder<'a>) -> DecodeResult<(&'a str, Puts<'a>)> {
    let column = d.str()?;
    let n = d.count(2)?;
    let mut entries = Puts::default();
    for _ in 0..n {
        entries.push(d.bytes()?, d.bytes()?);
    }
    Ok((column, entries))
}

/// A `Put` change after its tag (8): the column and its entries, borrowed from `d`'s bytes.
fn put_body<'a>(d: &mut Decoder<'a>) -> DecodeResult<(&'a str, Puts<'a>)> {
    let column = d.str()?;
    Ok((column, Puts::decode(d)?))
}

/// Consecutive ranges of the entries whose sizes are `costs`, each of at most `max` bytes
/// (an entry larger than `max` alone), covering them all; one range for none.
fn ranges_within(costs: impl Iterator<Item = usize>, max: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let (mut start, mut bytes, mut n) = (0, 0, 0);
    for (i, c) in costs.enumerate() {
        if bytes + c > max && i > start {
            ranges.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += c;
        n = i + 1;
    }
    ranges.push(start..n);
    ranges
}

impl Change {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        match self {
            Change::ColumnCreate { name, schema } => {
                e.u8(1).str(name).bytes(&schema.encode());
            }
            Change::ColumnDelete { name } => {
                e.u8(2).str(name);
            }
            Change::Put { column, entries } => {
                e.u8(8).str(column);
                entries.encode(&mut e);
            }
            Change::Delete { column, key } => {
                e.u8(4).str(column).bytes(key);
            }
            Change::MetaPut { key, value } => {
                e.u8(5).str(key).str(value);
            }
            Change::MetaDelete { key } => {
                e.u8(6).str(key);
            }
            Change::Apply { column, entries } => {
                e.u8(7).str(column).varint(entries.len() as u64);
                for (k, v) in entries {
                    e.bytes(k);
                    match v {
                        Some(v) => e.u8(1).bytes(v),
                        None => e.u8(0),
                    };
                }
            }
        }
        e.finish()
    }

    /// The change encoded as journal records of at most about `max` bytes each: itself,
    /// or (a put or apply of many entries) changes of consecutive entries that, applied
    /// in order, do what it does. They are journalled as one group, all or nothing.
    pub fn encode_parts(&self, max: usize) -> Vec<Vec<u8>> {
        let cost = |k: &[u8], v: Option<&[u8]>| k.len() + v.map_or(0, <[u8]>::len) + ENTRY_OVERHEAD;
        match self {
            // The bound is O(1) for a put: the bulk path asks it of every batch.
            Change::Put { column, entries } if entries.encoded_bound() > max => {
                ranges_within(entries.iter().map(|(k, r)| cost(k, Some(r))), max)
                    .into_iter()
                    .map(|r| {
                        Change::Put {
                            column: column.clone(),
                            entries: entries.range(r),
                        }
                        .encode()
                    })
                    .collect()
            }
            Change::Apply { column, entries } => {
                let ranges = ranges_within(entries.iter().map(|(k, v)| cost(k, v.as_deref())), max);
                if ranges.len() < 2 {
                    return vec![self.encode()];
                }
                ranges
                    .into_iter()
                    .map(|r| {
                        Change::Apply {
                            column: column.clone(),
                            entries: entries[r].to_vec(),
                        }
                        .encode()
                    })
                    .collect()
            }
            _ => vec![self.encode()],
        }
    }

    /// A `Put` change's column and entries borrowed from its encoding `b` (no copy of
    /// any key or record: what replaying a journal of millions of puts needs); `None`
    /// for any other change.
    pub fn decode_put(b: &[u8]) -> DecodeResult<Option<(&str, Puts<'_>)>> {
        let mut d = Decoder::new(b);
        let put = match d.u8()? {
            3 => put_body_v1(&mut d)?,
            8 => put_body(&mut d)?,
            _ => return Ok(None),
        };
        d.finish()?;
        Ok(Some(put))
    }

    pub fn decode(b: &[u8]) -> DecodeResult<Change> {
        let mut d = Decoder::new(b);
        let tag = d.u8()?;
        let c = match tag {
            1 => {
                let name = d.str()?.to_string();
                let schema = ColumnSchema::decode(d.bytes()?)?;
                Change::ColumnCreate { name, schema }
            }
            2 => Change::ColumnDelete {
                name: d.str()?.to_string(),
            },
            3 | 8 => {
                let (column, entries) = if tag == 3 {
                    put_body_v1(&mut d)?
                } else {
                    put_body(&mut d)?
                };
                Change::Put {
                    column: column.to_string(),
                    entries: entries.into_owned(),
                }
            }
            4 => Change::Delete {
                column: d.str()?.to_string(),
                key: d.bytes()?.to_vec(),
            },
            5 => Change::MetaPut {
                key: d.str()?.to_string(),
                value: d.str()?.to_string(),
            },
            6 => Change::MetaDelete {
                key: d.str()?.to_string(),
            },
            7 => {
                let column = d.str()?.to_string();
                let n = d.count(2)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = d.bytes()?.to_vec();
                    let v = match d.u8()? {
                        0 => None,
                        1 => Some(d.bytes()?.to_vec()),
                        t => return Err(DecodeError(format!("bad entry tag {t}"))),
                    };
                    entries.push((k, v));
                }
                Change::Apply { column, entries }
            }
            t => return Err(DecodeError(format!("unknown staged change type {t}"))),
        };
        d.finish()?;
        Ok(c)
    }
}
