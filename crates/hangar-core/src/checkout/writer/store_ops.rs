//! What the writer does to the store beside the staging area, leaving it as it is:
//! storing what a remote sent, and gc's store step.

use super::*;

impl WriterCheckout {
    /// Stores values and objects received from a remote beside the staging area,
    /// which stays as it is (see `StoreWriter::ingest`).
    pub(crate) fn ingest(
        &self,
        values: &[hangar_store::ForeignValue<'_>],
        objects: Vec<hangar_store::Object>,
    ) -> Result<hangar_store::IngestStats> {
        let mut st = self.state()?;
        Ok(st.sw()?.ingest(values, objects)?)
    }

    /// gc's store step (see [`crate::Repository::gc`]): adds every value a staged record
    /// refers to to `reach`, then collects the store's garbage.
    pub(crate) fn collect_garbage(
        &self,
        reach: &mut hangar_store::Reachable,
        opts: &hangar_store::GcOptions,
    ) -> Result<hangar_store::GcReport> {
        let mut st = self.state()?;
        let expected = st.sw()?.staged_values();
        reach.values.extend(st.staging.live_digests(expected));
        Ok(st.sw()?.collect_garbage(reach, opts)?)
    }
}
