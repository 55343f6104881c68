//! What a remote holds, byte for byte (docs/format.md, "Remotes"): the marker, bundles,
//! manifests and ref entries. Every decoder checks counts against the bytes it has
//! (never allocating by what a header claims) and every offset against its bundle.

use hangar_store::codec::{DecodeError, DecodeResult, Decoder, Encoder};
use hangar_store::{crc32, Digest};

/// The name of a bundle or manifest: the BLAKE3 of its bytes (hashed on every core).
pub(crate) fn content_name(bytes: &[u8]) -> Digest {
    let mut h = blake3::Hasher::new();
    hangar_store::run_parallel(|| h.update_rayon(bytes));
    Digest(*h.finalize().as_bytes())
}

/// The marker object at the remote's root.
pub(crate) const MARKER: &str = "hangar-remote.json";
/// The remote layout version this build writes and reads.
pub(crate) const REMOTE_VERSION: u32 = 1;
const MANIFEST_MAGIC: &[u8; 8] = b"HGRMAN01";

/// How a remote's branches are kept (chosen once, when the remote is first written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefMode {
    /// The server honours create-only writes (`If-None-Match: *`): one entry per
    /// sequence number, so of two racing pushes exactly one wins.
    Cas,
    /// The server may overwrite on a create-only write (Garage 2.5): one entry per
    /// (sequence number, commit), so racing pushes both stay and the branch shows two
    /// heads until a merge is pushed.
    PerCommit,
}

impl RefMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RefMode::Cas => "cas",
            RefMode::PerCommit => "per-commit",
        }
    }
}

/// The marker's JSON.
pub(crate) fn encode_marker(mode: RefMode) -> String {
    format!(
        "{{\"format\": \"libhangar-remote\", \"version\": {REMOTE_VERSION}, \"refs\": \"{}\"}}\n",
        mode.as_str()
    )
}

/// Parses the marker: the ref mode, or why this is not a remote this build can use.
pub(crate) fn decode_marker(bytes: &[u8]) -> Result<RefMode, String> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("its {MARKER} is not JSON: {e}"))?;
    if v.get("format").and_then(|f| f.as_str()) != Some("libhangar-remote") {
        return Err(format!(
            "its {MARKER} does not name the libhangar-remote format"
        ));
    }
    let version = v.get("version").and_then(|f| f.as_u64()).unwrap_or(0);
    if version != u64::from(REMOTE_VERSION) {
        return Err(format!(
            "it has remote layout version {version}; this build reads version \
             {REMOTE_VERSION} (use a build that matches the remote)"
        ));
    }
    match v.get("refs").and_then(|f| f.as_str()) {
        Some("cas") => Ok(RefMode::Cas),
        Some("per-commit") => Ok(RefMode::PerCommit),
        other => Err(format!("unknown ref mode {other:?} in its {MARKER}")),
    }
}

/// What a bundle holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum BundleKind {
    /// Metadata objects, end to end.
    Meta = 1,
    /// Sample values, end to end.
    Values = 2,
}

impl BundleKind {
    /// The remote directory of bundles of this kind.
    pub fn dir(self) -> &'static str {
        match self {
            BundleKind::Meta => "meta",
            BundleKind::Values => "values",
        }
    }
}

/// A bundle: a content-named object (its name is the BLAKE3 of its bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Bundle {
    pub kind: BundleKind,
    pub name: Digest,
    pub len: u64,
}

impl Bundle {
    /// Its key on the remote.
    pub fn key(&self) -> String {
        format!("{}/{}", self.kind.dir(), self.name.to_hex())
    }
}

/// Where one object or value is: a bundle (index into the manifest's list), a byte
/// range in it, and the CRC-32 of those bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    pub bundle: u32,
    pub offset: u64,
    pub len: u64,
    pub crc: u32,
}

/// What one push uploaded: the commits it made available, its bundles, and where every
/// object and value it uploaded is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub commits: Vec<Digest>,
    pub bundles: Vec<Bundle>,
    /// Object digest, object type, location.
    pub objects: Vec<(Digest, u8, Loc)>,
    /// Value digest, location.
    pub values: Vec<(Digest, Loc)>,
}

fn encode_loc(e: &mut Encoder, l: &Loc) {
    e.varint(u64::from(l.bundle))
        .varint(l.offset)
        .varint(l.len)
        .u32(l.crc);
}

impl Manifest {
    /// `"HGRMAN01"`, the four lists, then the CRC-32 of everything before it.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.raw(MANIFEST_MAGIC);
        e.varint(self.commits.len() as u64);
        for c in &self.commits {
            e.digest(c);
        }
        e.varint(self.bundles.len() as u64);
        for b in &self.bundles {
            e.u8(b.kind as u8).digest(&b.name).u64(b.len);
        }
        e.varint(self.objects.len() as u64);
        for (d, t, l) in &self.objects {
            e.digest(d).u8(*t);
            encode_loc(&mut e, l);
        }
        e.varint(self.values.len() as u64);
        for (d, l) in &self.values {
            e.digest(d);
            encode_loc(&mut e, l);
        }
        let mut out = e.finish();
        let crc = crc32(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and checks a manifest: its CRC, every count against the bytes present,
    /// every location inside a bundle of the right kind.
    pub fn decode(bytes: &[u8]) -> DecodeResult<Manifest> {
        let body_len = bytes
            .len()
            .checked_sub(4)
            .ok_or_else(|| DecodeError("manifest is truncated".into()))?;
        let (body, tail) = bytes.split_at(body_len);
        let want = u32::from_le_bytes(tail.try_into().expect("4 bytes"));
        if crc32(body) != want {
            return Err(DecodeError("manifest fails its CRC-32".into()));
        }
        let mut d = Decoder::new(body);
        if d.take(8)? != MANIFEST_MAGIC {
            return Err(DecodeError("not a manifest (bad magic)".into()));
        }
        let mut m = Manifest::default();
        let n = d.count(32)?;
        m.commits.reserve(n);
        for _ in 0..n {
            m.commits.push(d.digest()?);
        }
        let n = d.count(41)?;
        for _ in 0..n {
            let kind = match d.u8()? {
                1 => BundleKind::Meta,
                2 => BundleKind::Values,
                k => return Err(DecodeError(format!("unknown bundle kind {k}"))),
            };
            let name = d.digest()?;
            let len = d.u64()?;
            m.bundles.push(Bundle { kind, name, len });
        }
        let loc = |d: &mut Decoder<'_>, bundles: &[Bundle], kind: BundleKind| {
            let bundle = d.varint()?;
            let (offset, len, crc) = (d.varint()?, d.varint()?, d.u32()?);
            let b = usize::try_from(bundle)
                .ok()
                .and_then(|i| bundles.get(i))
                .ok_or_else(|| DecodeError(format!("location in unknown bundle {bundle}")))?;
            if b.kind != kind {
                return Err(DecodeError("location in a bundle of the wrong kind".into()));
            }
            if offset.checked_add(len).is_none_or(|end| end > b.len) {
                return Err(DecodeError(format!(
                    "location {offset}+{len} lies beyond its {}-byte bundle",
                    b.len
                )));
            }
            Ok(Loc {
                bundle: bundle as u32,
                offset,
                len,
                crc,
            })
        };
        let n = d.count(37)?;
        m.objects.reserve(n);
        for _ in 0..n {
            let digest = d.digest()?;
            let ty = d.u8()?;
            let l = loc(&mut d, &m.bundles, BundleKind::Meta)?;
            m.objects.push((digest, ty, l));
        }
        let n = d.count(36)?;
        m.values.reserve(n);
        for _ in 0..n {
            let digest = d.digest()?;
            let l = loc(&mut d, &m.bundles, BundleKind::Values)?;
            m.values.push((digest, l));
        }
        d.finish()?;
        Ok(m)
    }
}

/// One entry of a branch's ref log on the remote: `refs/<branch>/<seq>` (cas) or
/// `refs/<branch>/<seq>-<commit>` (per-commit); its body is the commit id in hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefEntry {
    pub seq: u64,
    /// Known from the name (per-commit mode) or after reading the body.
    pub commit: Option<Digest>,
}

impl RefEntry {
    /// The entry's name below `refs/<branch>/`.
    pub fn name(seq: u64, commit: Option<&Digest>) -> String {
        match commit {
            Some(c) => format!("{seq:016x}-{}", c.to_hex()),
            None => format!("{seq:016x}"),
        }
    }

    /// Parses an entry name; `None` for anything else (ignored).
    pub fn parse(name: &str) -> Option<RefEntry> {
        let (seq, commit) = match name.split_once('-') {
            Some((s, c)) => (s, Some(Digest::from_hex(c)?)),
            None => (name, None),
        };
        if seq.len() != 16 || !seq.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(RefEntry {
            seq: u64::from_str_radix(seq, 16).ok()?,
            commit,
        })
    }
}

/// Parses a ref entry's body: a commit id in hex and a newline.
pub(crate) fn decode_ref_body(bytes: &[u8]) -> Option<Digest> {
    let s = std::str::from_utf8(bytes).ok()?;
    Digest::from_hex(s.trim_end_matches('\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let d = |b: u8| Digest([b; 32]);
        Manifest {
            commits: vec![d(1)],
            bundles: vec![
                Bundle {
                    kind: BundleKind::Meta,
                    name: d(2),
                    len: 100,
                },
                Bundle {
                    kind: BundleKind::Values,
                    name: d(3),
                    len: 50,
                },
            ],
            objects: vec![(
                d(4),
                4,
                Loc {
                    bundle: 0,
                    offset: 10,
                    len: 90,
                    crc: 7,
                },
            )],
            values: vec![(
                d(5),
                Loc {
                    bundle: 1,
                    offset: 0,
                    len: 50,
                    crc: 9,
                },
            )],
        }
    }

    #[test]
    fn manifest_round_trips_and_every_damage_is_refused() {
        let m = sample();
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&bytes).unwrap(), m);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(Manifest::decode(&b).is_err(), "flip at {i} accepted");
        }
        for n in 0..bytes.len() {
            assert!(
                Manifest::decode(&bytes[..n]).is_err(),
                "cut at {n} accepted"
            );
        }
    }

    #[test]
    fn a_location_outside_its_bundle_is_refused() {
        let mut m = sample();
        m.values[0].1.len = 51;
        assert!(Manifest::decode(&m.encode()).is_err());
        let mut m = sample();
        m.values[0].1.bundle = 0;
        assert!(Manifest::decode(&m.encode()).is_err());
    }

    #[test]
    fn ref_entry_names() {
        let c = Digest([0xab; 32]);
        let n = RefEntry::name(5, Some(&c));
        assert_eq!(
            RefEntry::parse(&n),
            Some(RefEntry {
                seq: 5,
                commit: Some(c)
            })
        );
        assert_eq!(
            RefEntry::parse(&RefEntry::name(7, None)),
            Some(RefEntry {
                seq: 7,
                commit: None
            })
        );
        assert_eq!(RefEntry::parse("junk"), None);
        assert_eq!(RefEntry::parse("0000000000000001-zz"), None);
        assert_eq!(
            decode_ref_body(format!("{}\n", c.to_hex()).as_bytes()),
            Some(c)
        );
    }
}
