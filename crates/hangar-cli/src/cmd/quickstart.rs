use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{ensure, Context as _};
use hangar_core::{DType, NdArraySpec, Repository, TensorRef, WriterCheckout};

use crate::app::Ctx;
use crate::documents;
use crate::formats::{idx, Array};
use crate::output::{self, paint, thousands, HEADING};
use crate::views;

/// The Fashion-MNIST sample compiled into the binary (data/fashion-mnist-sample: 2,000
/// test images and labels, MIT licence, provenance in its README).
const SAMPLE_IMAGES: &[u8] =
    include_bytes!("../../data/fashion-mnist-sample/t10k-images-2000-idx3-ubyte.gz");
const SAMPLE_LABELS: &[u8] =
    include_bytes!("../../data/fashion-mnist-sample/t10k-labels-2000-idx1-ubyte.gz");
const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";
const CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Build a demo repository from real data: Fashion-MNIST images and labels on two
/// branches with a merge, then print its summary and log.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Without --full it uses the 2,000 Fashion-MNIST test images built into hangar
(MIT licence, Zalando SE). With --full it imports all 70,000 images from the Debian package
dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).

Examples:
  hangar quickstart
  hangar quickstart /tmp/fashion --full
  cd hangar-quickstart && hangar log --graph && hangar cat images 0"
)]
pub struct Args {
    /// Where to create the repository.
    #[arg(default_value = "hangar-quickstart")]
    dir: PathBuf,
    /// Import the whole of Fashion-MNIST (60,000 training + 10,000 test images).
    #[arg(long)]
    full: bool,
    /// Replace a repository already in DIR.
    #[arg(long)]
    overwrite: bool,
}

struct Part {
    images: Array,
    labels: Array,
}

fn split(images: Array, labels: Array, at: usize) -> anyhow::Result<(Part, Part)> {
    ensure!(
        images.rows() == labels.rows() && at <= images.rows(),
        "images and labels disagree"
    );
    let cut = |a: &Array, lo: usize, hi: usize| -> anyhow::Result<Array> {
        let mut shape = a.shape.clone();
        shape[0] = hi - lo;
        Array::new(
            a.dtype,
            shape,
            a.data[lo * a.row_bytes()..hi * a.row_bytes()].to_vec(),
        )
    };
    let n = images.rows();
    Ok((
        Part {
            images: cut(&images, 0, at)?,
            labels: cut(&labels, 0, at)?,
        },
        Part {
            images: cut(&images, at, n)?,
            labels: cut(&labels, at, n)?,
        },
    ))
}

fn load(full: bool) -> anyhow::Result<(Part, Part, String)> {
    if full {
        let dir = Path::new(DEBIAN_DIR);
        let read = |name: &str| -> anyhow::Result<Array> {
            let p = dir.join(name);
            ensure!(
                p.is_file(),
                "{} is missing: install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), or run without --full",
                p.display()
            );
            idx::read(&p)
        };
        let train = Part {
            images: read("train-images-idx3-ubyte.gz")?,
            labels: read("train-labels-idx1-ubyte.gz")?,
        };
        let test = Part {
            images: read("t10k-images-idx3-ubyte.gz")?,
            labels: read("t10k-labels-idx1-ubyte.gz")?,
        };
        return Ok((train, test, format!("Fashion-MNIST from {DEBIAN_DIR}")));
    }
    let images = idx::parse_bytes(SAMPLE_IMAGES).context("the built-in sample images")?;
    let labels = idx::parse_bytes(SAMPLE_LABELS).context("the built-in sample labels")?;
    let (a, b) = split(images, labels, 1000)?;
    Ok((a, b, "the Fashion-MNIST sample built into hangar".into()))
}

/// Adds a part's images and labels (as int64 [1], like the tutorial) under keys from `first`.
fn add_part(co: &WriterCheckout, part: &Part, first: u64) -> anyhow::Result<usize> {
    let n = part.images.rows();
    let keys = first..first + n as u64;
    let images = co.column("images")?;
    let labels = co.column("labels")?;
    let session = co.bulk()?;
    images.extend_from_buffer(
        keys.clone(),
        TensorRef::from_bytes(DType::U8, &[n, 28, 28], &part.images.data),
    )?;
    let l: Vec<i64> = part.labels.data.iter().map(|&b| i64::from(b)).collect();
    labels.extend_from_buffer(keys, TensorRef::new(&l, &[n, 1]))?;
    session.finish()?;
    Ok(n)
}

fn step(ctx: &Ctx, text: &str) {
    ctx.note(&format!("{} {text}", paint(HEADING, "==>")));
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let dir = if a.dir.is_absolute() {
        a.dir.clone()
    } else {
        ctx.start_dir()?.join(&a.dir)
    };
    ensure!(
        !dir.join(".hangar").exists() || a.overwrite,
        "{} already holds a repository; pass --overwrite to replace it, or choose another directory",
        dir.display()
    );
    let (first, second, source) = load(a.full)?;
    let name = crate::user::resolve_quiet("name").unwrap_or_else(|| "Hangar Quickstart".into());
    let email =
        crate::user::resolve_quiet("email").unwrap_or_else(|| "quickstart@example.com".into());
    let started = Instant::now();

    step(
        ctx,
        &format!("Creating a repository in {} with {source}", dir.display()),
    );
    let repo = Repository::init(&dir, &name, &email, a.overwrite)?;
    let co = repo.checkout_writer()?;
    co.add_ndarray_column("images", NdArraySpec::with_shape(DType::U8, &[28, 28]))?;
    co.add_ndarray_column("labels", NdArraySpec::with_shape(DType::I64, &[1]))?;
    let meta = co.metadata();
    meta.set(
        "dataset",
        "Fashion-MNIST (Zalando SE), https://github.com/zalandoresearch/fashion-mnist",
    )?;
    meta.set("license", "MIT")?;
    let t = Instant::now();
    let n1 = add_part(&co, &first, 0)?;
    let c1 = co.commit(&format!(
        "Add {} Fashion-MNIST images and labels",
        thousands(n1 as u64)
    ))?;
    let secs = t.elapsed().as_secs_f64();
    step(
        ctx,
        &format!(
            "master: committed {} images and labels as {c1} in {secs:.2} s ({} samples/s)",
            thousands(n1 as u64),
            thousands((2.0 * n1 as f64 / secs.max(1e-9)) as u64)
        ),
    );

    repo.create_branch("more-data", None)?;
    co.close()?;
    let co = repo.checkout_writer_branch("more-data")?;
    let n2 = add_part(&co, &second, n1 as u64)?;
    let c2 = co.commit(&format!(
        "Add {} more images and labels",
        thousands(n2 as u64)
    ))?;
    co.close()?;
    step(
        ctx,
        &format!(
            "more-data: committed {} more images as {c2}",
            thousands(n2 as u64)
        ),
    );

    let co = repo.checkout_writer_branch("master")?;
    let names = co.add_str_column("class_names")?;
    for (i, c) in CLASSES.iter().enumerate() {
        names.set(i as u64, *c)?;
    }
    let c3 = co.commit("Name the ten classes")?;
    step(ctx, &format!("master: committed the class names as {c3}"));
    let outcome = co.merge("Merge branch 'more-data' into master", "more-data")?;
    co.close()?;
    step(ctx, &format!("{outcome}"));
    step(
        ctx,
        &format!("Done in {:.2} s", started.elapsed().as_secs_f64()),
    );

    let summary = repo.summary(None)?;
    let log = repo.log(None)?;
    if ctx.json {
        return Ok(output::print_json(&documents::Quickstart {
            path: repo.path().to_path_buf(),
            head: outcome.head().to_hex(),
            summary: documents::QuickstartSummary {
                disk_usage_bytes: summary.disk_usage,
                columns: documents::columns(&summary.columns),
            },
            log: (&log).into(),
        })?);
    }
    let mut text = format!("{summary}\n\n");
    text.push_str(&views::log_text(&log, true, true, true));
    text.push_str(&format!(
        "\nTry: cd {} && hangar log --graph && hangar diff more-data~1 more-data && hangar cat images 0\n",
        dir.display()
    ));
    Ok(output::print(&text)?)
}
