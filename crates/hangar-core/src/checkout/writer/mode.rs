//! The writer checkout's life: open, stopped by a failed journal write inside a
//! savepoint, or closed — and what it holds in each.

use super::*;

/// Whether the writer checkout is usable, and what it holds while it is.
pub(crate) enum Mode {
    /// Usable: the store's writer and the writer lock (none for a read-only view).
    Open {
        sw: StoreWriter,
        lock: Option<WriterLock>,
    },
    /// Stopped by a failed journal write inside a savepoint: every use is refused with
    /// `why`, but the store writer and the lock are kept for the savepoint's owner to
    /// roll back to it and reopen ([`WriterCheckout::all_or_nothing`]).
    Failed {
        why: String,
        sw: StoreWriter,
        lock: Option<WriterLock>,
    },
    /// Closed (lock released): every use is refused with `why`.
    Closed { why: String },
}

impl Mode {
    pub(crate) fn is_open(&self) -> bool {
        matches!(self, Mode::Open { .. })
    }

    /// Why uses are refused, `None` while open.
    pub(crate) fn closed_reason(&self) -> Option<&str> {
        match self {
            Mode::Open { .. } => None,
            Mode::Failed { why, .. } | Mode::Closed { why } => Some(why),
        }
    }

    /// Closes, releasing the store writer and the lock.
    pub(crate) fn close(&mut self, why: impl Into<String>) {
        *self = Mode::Closed { why: why.into() };
    }

    /// The store's writer; `Closed` unless open.
    pub(crate) fn sw_mut(&mut self) -> Result<&mut StoreWriter> {
        match self {
            Mode::Open { sw, .. } => Ok(sw),
            m => Err(Error::Closed(
                m.closed_reason().unwrap_or_default().to_string(),
            )),
        }
    }

    /// The store's writer, shared; `Closed` unless open.
    pub(crate) fn sw(&self) -> Result<&StoreWriter> {
        match self {
            Mode::Open { sw, .. } => Ok(sw),
            m => Err(Error::Closed(
                m.closed_reason().unwrap_or_default().to_string(),
            )),
        }
    }

    /// A failed checkout whose savepoint ended keeps nothing more.
    pub(crate) fn close_failed(&mut self) {
        if let Mode::Failed { why, .. } = self {
            let why = std::mem::take(why);
            self.close(why);
        }
    }
}
