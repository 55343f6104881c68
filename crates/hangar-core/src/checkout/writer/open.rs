//! Opening the writer side: the store writer over the staging journal, and the staging
//! area rebuilt from it.

use super::*;
use hangar_store::RecordFrame;

/// Opens the store's writer side over the staging journal and rebuilds the staging area
/// from it (the base commit's tables plus every journalled change). The caller holds the
/// writer lock — unless `read_only`, which opens a view that changes nothing on disk
/// ([`StoreWriter::open_read_only`]); such a view reads the staged values only with
/// `values`.
pub(super) fn load_staging(
    shared: &Arc<Shared>,
    read_only: bool,
    values: bool,
) -> Result<(StoreWriter, Staging)> {
    let hangar = shared.hangar.clone();
    let committed = |b: &[u8]| -> hangar_store::Result<bool> {
        let Ok(base) = BaseInfo::decode(b) else {
            return Ok(false);
        };
        let head = refs::read_ref(&hangar, &base.branch).map_err(|e| match e {
            Error::Store(s) => s,
            other => hangar_store::Error::InvalidArgument(other.to_string()),
        })?;
        Ok(base.commit.is_some() && head == base.commit)
    };
    let default_head = refs::read_ref(&shared.hangar, refs::DEFAULT_BRANCH)?;
    let initial = BaseInfo {
        branch: refs::DEFAULT_BRANCH.to_string(),
        commit: default_head,
    };
    let journal = shared.hangar.join("staging/journal");
    let decode_base = |b: &[u8]| {
        BaseInfo::decode(b).map_err(|e| Error::corrupt(&journal, format!("bad base record: {e}")))
    };
    // Records are applied as the journal is read (never all held at once); an error of
    // this layer stops the replay and is returned as it is.
    let mut staging: Option<Staging> = None;
    let mut failed: Option<Error> = None;
    let mut apply = |base: &[u8], frame: RecordFrame<'_>| -> Result<()> {
        let raw = frame.body();
        let st = match &mut staging {
            Some(st) => st,
            None => staging.insert(Staging::load(shared, decode_base(base)?)?),
        };
        let bad = |e: hangar_store::codec::DecodeError| {
            Error::corrupt(&journal, format!("bad staged change: {e}"))
        };
        // Puts (nearly all of a large staging area) are applied from the frame's bytes;
        // the writer keeps their records as slices of its mapped journal, not copies.
        if let Some((column, mut entries)) = Change::decode_put(raw).map_err(bad)? {
            entries.share_records(|records| frame.share(records));
            return st.apply_put(shared, column, &entries);
        }
        st.apply(shared, Change::decode(raw).map_err(bad)?)
    };
    let mut on_record = |base: &[u8], frame: RecordFrame<'_>| {
        apply(base, frame).map_err(|e| {
            failed = Some(e);
            hangar_store::Error::InvalidArgument("staged change refused".into())
        })
    };
    let store = shared.store.clone();
    let opened = if read_only {
        StoreWriter::open_read_only(
            store,
            values,
            committed,
            || initial.encode(),
            &mut on_record,
        )
    } else {
        StoreWriter::open_with(store, committed, || initial.encode(), &mut on_record)
    };
    let (sw, recovered) = match (opened, failed) {
        (Err(_), Some(e)) => return Err(e),
        (r, _) => r?,
    };
    let staging = match staging {
        Some(st) => st,
        None => Staging::load(shared, decode_base(&recovered.base)?)?,
    };
    Ok((sw, staging))
}

/// The staging area as a writer finds it, with the user committing: loaded from the
/// journal ([`load_staging`]) and, when it is clean but its branch has moved on, moved
/// to the branch's head — through the journal for a writer, in memory only for a
/// read-only view (which then shows what the next writer will find).
pub(super) fn load_current(
    shared: &Arc<Shared>,
    read_only: bool,
    values: bool,
) -> Result<(User, StoreWriter, Staging)> {
    let user = format::read_config(&shared.hangar)?;
    shared.store.refresh()?;
    let (mut sw, mut staging) = load_staging(shared, read_only, values)?;
    let head = refs::read_ref(&shared.hangar, &staging.base.branch)?;
    if head != staging.base.commit && !staging.is_dirty() {
        let rebased = BaseInfo {
            branch: staging.base.branch.clone(),
            commit: head,
        };
        if !sw.is_read_only() {
            sw.reset(&rebased.encode())?;
        }
        staging = Staging::load(shared, rebased)?;
    }
    Ok((user, sw, staging))
}

/// Whether the staged changes can move onto `target` (another branch or commit), as git
/// carries local changes across a checkout: when everything they touch is the same
/// there as at their base (else `DirtyStaging`, naming what differs, for the caller
/// `doing` something). `Ok(None)`: `target` is their base commit, the staging area
/// stays as it is; `Ok(Some(..))`: the staging area with the changes applied to
/// `target`. Nothing on disk changes; the caller rewrites the journal on the new base
/// ([`StoreWriter::rebase_staged`]) and then uses the new staging area.
pub(super) fn carry_check(
    shared: &Arc<Shared>,
    staging: &Staging,
    target: &BaseInfo,
    doing: &str,
) -> Result<Option<Staging>> {
    if target.commit == staging.base.commit {
        return Ok(None);
    }
    let there = Staging::load(shared, target.clone())?;
    const SHOWN: usize = 10;
    let conflicts = staging.carry_conflicts(shared, &there, SHOWN + 1)?;
    if conflicts.is_empty() {
        return staging.carried_to(shared, there).map(Some);
    }
    let more = if conflicts.len() > SHOWN {
        "; and more"
    } else {
        ""
    };
    Err(Error::DirtyStaging(format!(
        "Unable to {doing}: the changes staged on branch {:?} touch what differs there \
         ({}{more}); commit or reset them first, or take them to a new branch at their \
         base commit (checkout -b)",
        staging.base.branch,
        conflicts[..conflicts.len().min(SHOWN)].join("; ")
    )))
}

/// Moves the staged changes to `to`: the journal rewritten on the new base, then the
/// staging area that goes with it (`carried`, from [`carry_check`]; `None` when `to` is
/// the commit they are based on).
pub(super) fn move_staged(
    sw: &mut StoreWriter,
    staging: Staging,
    carried: Option<Staging>,
    to: BaseInfo,
) -> Result<Staging> {
    sw.rebase_staged(&to.encode(), &journal_records(&staging))?;
    let mut moved = carried.unwrap_or(staging);
    moved.base = to;
    Ok(moved)
}

/// Starts a clean staging area over on `base` (another branch's head).
pub(super) fn restart_at(
    shared: &Arc<Shared>,
    sw: &mut StoreWriter,
    base: BaseInfo,
) -> Result<Staging> {
    sw.reset(&base.encode())?;
    Staging::load(shared, base)
}
