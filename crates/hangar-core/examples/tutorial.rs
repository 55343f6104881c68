//! The seed tutorial ("Creating A Repository And Working With Data"), step by step, on
//! generated MNIST-shaped data: 50,000 28×28 uint8 images and their int64 labels.
//!
//! Run: `cargo run --release -p hangar-core --example tutorial [-- REPO_DIR]`
//! (default REPO_DIR: `target/hangar-tutorial-repo`, recreated on every run).

use std::time::Instant;

use hangar_core::{DType, NdArraySpec, Repository, Result, TensorRef, Value};

const N: usize = 50_000;
const PIXELS: usize = 28 * 28;

/// Deterministic MNIST-like data: a label-dependent stroke pattern plus noise.
fn generate() -> (Vec<u8>, Vec<i64>) {
    let mut images = vec![0u8; N * PIXELS];
    let mut labels = vec![0i64; N];
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for (i, img) in images.chunks_exact_mut(PIXELS).enumerate() {
        let label = (i * 7 + i / 3) % 10;
        labels[i] = label as i64;
        for (p, px) in img.iter_mut().enumerate() {
            let (r, c) = ((p / 28) as f32 - 13.5, (p % 28) as f32 - 13.5);
            let radius = (r * r + c * c).sqrt();
            let angle = c.atan2(r) + label as f32 * 0.6;
            let stroke = ((radius - 4.0 - label as f32 * 0.7).abs() < 2.0 && angle.sin() > -0.3)
                || (label == 1 && c.abs() < 1.5 && r.abs() < 10.0);
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let noise = (rng % 40) as u8;
            *px = if stroke {
                215 + noise
            } else if radius < 13.0 {
                noise / 4
            } else {
                0
            };
        }
    }
    (images, labels)
}

fn ascii(img: &[u8]) -> String {
    img.chunks(28)
        .step_by(2)
        .map(|row| {
            row.iter()
                .map(|&v| [' ', '.', ':', '+', '#'][usize::from(v) * 5 / 256])
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn rate(n: usize, secs: f64) -> String {
    format!("{n}/{n} [{secs:.2}s, {:.0} it/s]", n as f64 / secs)
}

fn main() -> Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/hangar-tutorial-repo".into());

    println!(">>> repo = Repository.init(path='{dir}', user_name='Rick Izzo', user_email='foo@email.com')");
    let repo = Repository::init(&dir, "Rick Izzo", "foo@email.com", true)?;
    println!(
        "directory initialized at: {}\n",
        repo.hangar_dir().display()
    );

    println!(">>> co = repo.checkout(write=True)");
    let co = repo.checkout_writer()?;
    println!("{co}\n");
    println!(">>> co.columns");
    println!(
        "Hangar Columns\n    Writeable: True\n    Column Names: {:?}\n",
        co.column_names()?
    );
    println!(">>> co.metadata");
    println!(
        "Hangar Metadata\n    Number of Keys : {}\n    Access Mode    : a\n",
        co.metadata().len()?
    );

    let (trimgs, trlabels) = generate();
    let sample = &trimgs[..PIXELS];
    println!(">>> co.add_ndarray_column(name='mnist_training_images', prototype=trimgs[0])");
    let proto = TensorRef::new(sample, &[PIXELS]);
    println!("Column prototype shape: (784,), dtype: uint8");
    let train_dset = co.add_ndarray_column("mnist_training_images", NdArraySpec::like(proto))?;
    println!("{train_dset}\n");

    println!(">>> train_dset['0'] = trimgs[0]; train_dset.add(data=trimgs[1], name='1'); train_dset['51'] = trimgs[51]");
    let img = |i: usize| TensorRef::new(&trimgs[i * PIXELS..(i + 1) * PIXELS], &[PIXELS]);
    train_dset.set("0", img(0))?;
    train_dset.add("1", img(1))?;
    train_dset.set("51", img(51))?;
    println!(">>> len(train_dset)\n{}", train_dset.len()?);
    println!(
        ">>> 'hi' in train_dset\n{}",
        if train_dset.contains("hi")? {
            "True"
        } else {
            "False"
        }
    );
    println!(
        ">>> '0' in train_dset\n{}",
        if train_dset.contains("0")? {
            "True"
        } else {
            "False"
        }
    );
    println!(">>> out = train_dset['0']; plt.imshow(out.reshape(28, 28))");
    let out = train_dset.get("0")?.into_tensor()?;
    println!("{}", ascii(out.as_slice::<u8>()?));
    println!("{train_dset}\n");

    println!(">>> for k in train_dset: print(k)");
    for k in train_dset.keys()? {
        println!("{}", k?);
    }
    let values: Vec<Value> = train_dset.values()?.collect::<Result<_>>()?;
    let items: Vec<_> = train_dset.items()?.collect::<Result<Vec<_>>>()?;
    println!(
        "(values(): {} arrays, items(): {} pairs)\n",
        values.len(),
        items.len()
    );

    println!("Performance: the bulk (context-manager) form");
    let dset_trimgs = co.add_ndarray_column("train_images", NdArraySpec::like(proto))?;
    let label0 = [trlabels[0]];
    let dset_trlabels = co.add_ndarray_column(
        "train_labels",
        NdArraySpec::like(TensorRef::new(&label0, &[1])),
    )?;
    let t = Instant::now();
    {
        let session = co.bulk()?;
        for idx in 0..N {
            let key = idx.to_string();
            dset_trimgs.add(key.as_str(), img(idx))?;
            dset_trlabels.add(key.as_str(), TensorRef::new(&trlabels[idx..idx + 1], &[1]))?;
        }
        session.finish()?;
    }
    println!(
        "100%|██████████| {}",
        rate(2 * N, t.elapsed().as_secs_f64())
    );
    println!(
        "# Added {} records of MNIST-shaped data in the bulk form.\n",
        2 * N
    );

    println!("Performance: the plain form (every call durable on return), same records again");
    let t = Instant::now();
    for idx in 0..N {
        let key = idx.to_string();
        dset_trimgs.add(key.as_str(), img(idx))?;
        dset_trlabels.add(key.as_str(), TensorRef::new(&trlabels[idx..idx + 1], &[1]))?;
    }
    println!(
        "100%|██████████| {}",
        rate(2 * N, t.elapsed().as_secs_f64())
    );
    println!(
        "# Rewriting an identical value under the same key is a no-op: still {} images.\n",
        dset_trimgs.len()?
    );

    println!("Performance: N samples from one contiguous buffer (hashed in parallel)");
    let batch_col = co.add_ndarray_column(
        "train_images_batch",
        NdArraySpec::with_shape(DType::U8, &[28, 28]),
    )?;
    let t = Instant::now();
    batch_col.extend_from_buffer(0..N as u64, TensorRef::new(&trimgs, &[N, 28, 28]))?;
    println!("100%|██████████| {}\n", rate(N, t.elapsed().as_secs_f64()));

    println!(">>> co.commit('hello world, this is my first hangar commit')");
    let t = Instant::now();
    let digest = co.commit("hello world, this is my first hangar commit")?;
    println!(
        "'{digest}'   (committed in {:.3}s)\n",
        t.elapsed().as_secs_f64()
    );

    println!(">>> co.close()");
    co.close()?;
    println!("True\n");

    println!("But, if you did forget to close it...");
    let forgot = repo.checkout_writer()?;
    match repo.checkout_writer() {
        Err(e) => println!("{:?}: {e}\n", e.kind()),
        Ok(_) => println!("(unexpectedly got a second writer)\n"),
    }
    println!(">>> repo.force_release_writer_lock()   # while the writer is still alive");
    match repo.force_release_writer_lock() {
        Err(e) => println!("{:?}: {e}\n", e.kind()),
        Ok(_) => println!("released\n"),
    }
    drop(forgot);
    println!(">>> repo.force_release_writer_lock()   # after the writer is gone");
    println!("{}\n", repo.force_release_writer_lock().map(|_| "True")?);

    println!(">>> repo.summary()");
    println!("{}\n", repo.summary(None)?);
    println!(">>> repo.log()");
    println!("{}", repo.log(None)?.with_time(true).with_user(true));
    Ok(())
}
