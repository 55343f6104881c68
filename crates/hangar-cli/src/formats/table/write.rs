//! Writing a Parquet or Arrow IPC file (or stream) of exported samples; the Arrow
//! mapping of an export lives in `hangar_core::arrow_export`.

use super::*;

pub use hangar_core::arrow_export::{export_schema, BatchBuilder, ExportKind};

/// A Parquet or Arrow IPC file being written.
pub enum TableWriter {
    Parquet(Box<parquet::arrow::ArrowWriter<File>>),
    Ipc(Box<arrow_ipc::writer::FileWriter<File>>),
    /// An Arrow IPC stream, to a file (synced at the end) or to stdout.
    Stream(
        Box<arrow_ipc::writer::StreamWriter<Box<dyn std::io::Write>>>,
        Option<File>,
    ),
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TableWriter::Parquet(_) => "TableWriter::Parquet",
            TableWriter::Ipc(_) => "TableWriter::Ipc",
            TableWriter::Stream(..) => "TableWriter::Stream",
        })
    }
}

impl TableWriter {
    pub fn create(path: &Path, schema: &SchemaRef, parquet: bool) -> anyhow::Result<TableWriter> {
        let f = crate::formats::create_new(path)?;
        if parquet {
            // Row groups of about 64 MiB: what a reader (ours included) decodes at a time.
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::SNAPPY)
                .set_max_row_group_bytes(Some(64 << 20))
                .build();
            Ok(TableWriter::Parquet(Box::new(
                parquet::arrow::ArrowWriter::try_new(f, schema.clone(), Some(props))?,
            )))
        } else {
            Ok(TableWriter::Ipc(Box::new(
                arrow_ipc::writer::FileWriter::try_new(f, schema)?,
            )))
        }
    }

    /// An Arrow IPC stream to `path` (a new file; synced at the end), or to stdout when
    /// `path` is `None`.
    pub fn stream(path: Option<&Path>, schema: &SchemaRef) -> anyhow::Result<TableWriter> {
        let (sink, file): (Box<dyn std::io::Write>, Option<File>) = match path {
            Some(p) => {
                let f = crate::formats::create_new(p)?;
                let sync = f.try_clone()?;
                (Box::new(std::io::BufWriter::new(f)), Some(sync))
            }
            None => (Box::new(std::io::BufWriter::new(std::io::stdout())), None),
        };
        Ok(TableWriter::Stream(
            Box::new(arrow_ipc::writer::StreamWriter::try_new(sink, schema)?),
            file,
        ))
    }

    pub fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        match self {
            TableWriter::Parquet(w) => w.write(batch)?,
            TableWriter::Ipc(w) => w.write(batch)?,
            TableWriter::Stream(w, _) => w.write(batch)?,
        }
        Ok(())
    }

    /// Writes the footer and syncs the file.
    pub fn finish(self) -> anyhow::Result<()> {
        match self {
            TableWriter::Parquet(w) => {
                let f = w.into_inner()?;
                f.sync_all()?;
            }
            TableWriter::Ipc(mut w) => {
                w.finish()?;
                w.get_ref().sync_all()?;
            }
            TableWriter::Stream(mut w, file) => {
                w.finish()?;
                w.get_mut().flush()?;
                if let Some(f) = file {
                    f.sync_all()?;
                }
            }
        }
        Ok(())
    }
}
