//! PNG and JPEG images as arrays: grayscale `[H, W]`, gray+alpha `[H, W, 2]`, RGB
//! `[H, W, 3]`, RGBA `[H, W, 4]`; uint8, or uint16 for 16-bit PNGs. Palette PNGs and
//! PNGs of fewer than 8 bits per sample are expanded to 8 bits.

use std::io::{BufReader, Write};
use std::path::Path;

use anyhow::{bail, Context as _};
use hangar_core::DType;

use super::Array;

/// The largest image decoded (bytes of pixels), a guard against decompression bombs.
const MAX_PIXEL_BYTES: usize = 1 << 30;

pub fn is_png(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".png")
}

pub fn is_jpeg(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with(".jpg") || n.ends_with(".jpeg")
}

fn png_decoder(path: &Path) -> anyhow::Result<png::Reader<BufReader<std::fs::File>>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut d = png::Decoder::new_with_limits(
        BufReader::new(f),
        png::Limits {
            bytes: MAX_PIXEL_BYTES,
        },
    );
    d.set_transformations(png::Transformations::EXPAND);
    let r = d.read_info().context("not a valid PNG image")?;
    // A palette is 1 to 256 RGB entries of 3 bytes (PNG spec, 11.2.3). The png crate
    // (0.18) takes its length as it comes and panics expanding a palette that is not a
    // whole number of entries (found by fuzzing `import_files`): refused here instead.
    if r.info().color_type == png::ColorType::Indexed {
        let n = r.info().palette.as_deref().map_or(0, <[u8]>::len);
        anyhow::ensure!(
            n % 3 == 0 && (3..=768).contains(&n),
            "{}: not a valid PNG image: its palette (PLTE chunk) is {n} bytes, not 1 to 256 \
             entries of 3 bytes each",
            path.display()
        );
    }
    // Deflate expands at most 1032:1: a file too small for the rows it declares is
    // truncated or forged, and is refused before its pixels are allocated.
    let info = r.info();
    let raw = u128::from(info.height) * info.raw_row_length() as u128;
    let len = std::fs::metadata(path).map_or(0, |m| m.len());
    anyhow::ensure!(
        raw <= u128::from(len) * 1032,
        "{}: the PNG declares {}x{} pixels ({raw} bytes before compression), more than its \
         {len} bytes can hold: it is truncated or damaged",
        path.display(),
        info.width,
        info.height
    );
    Ok(r)
}

fn channels(c: png::ColorType) -> usize {
    match c {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => 3,
    }
}

fn image_shape(h: usize, w: usize, ch: usize) -> Vec<usize> {
    if ch == 1 {
        vec![h, w]
    } else {
        vec![h, w, ch]
    }
}

/// dtype and shape of a PNG, from its header.
pub fn probe_png(path: &Path) -> anyhow::Result<(DType, Vec<usize>)> {
    let r = png_decoder(path)?;
    let (color, depth) = r.output_color_type();
    let info = r.info();
    let dtype = if depth == png::BitDepth::Sixteen {
        DType::U16
    } else {
        DType::U8
    };
    Ok((
        dtype,
        image_shape(info.height as usize, info.width as usize, channels(color)),
    ))
}

pub fn read_png(path: &Path) -> anyhow::Result<Array> {
    let mut r = png_decoder(path)?;
    let size = r.output_buffer_size().context("PNG too large")?;
    let mut buf = vec![0u8; size];
    let info = r.next_frame(&mut buf).context("damaged PNG image data")?;
    buf.truncate(info.buffer_size());
    let ch = channels(info.color_type);
    let shape = image_shape(info.height as usize, info.width as usize, ch);
    if info.bit_depth == png::BitDepth::Sixteen {
        // PNG stores 16-bit samples big-endian.
        for px in buf.chunks_exact_mut(2) {
            let v = u16::from_be_bytes([px[0], px[1]]);
            px.copy_from_slice(&v.to_ne_bytes());
        }
        return Array::new(DType::U16, shape, buf);
    }
    Array::new(DType::U8, shape, buf)
}

fn jpeg_decoder(bytes: &[u8]) -> zune_jpeg::JpegDecoder<zune_core::bytestream::ZCursor<&[u8]>> {
    zune_jpeg::JpegDecoder::new(zune_core::bytestream::ZCursor::new(bytes))
}

fn jpeg_out_channels(d: &zune_jpeg::JpegDecoder<zune_core::bytestream::ZCursor<&[u8]>>) -> usize {
    match d.input_colorspace() {
        Some(zune_core::colorspace::ColorSpace::Luma) => 1,
        _ => 3,
    }
}

/// dtype and shape of a JPEG, from its headers.
pub fn probe_jpeg(path: &Path) -> anyhow::Result<(DType, Vec<usize>)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut d = jpeg_decoder(&bytes);
    d.decode_headers()
        .map_err(|e| anyhow::anyhow!("not a valid JPEG image: {e:?}"))?;
    let info = d.info().context("JPEG without a frame header")?;
    check_jpeg_size(path, &info, bytes.len())?;
    Ok((
        DType::U8,
        image_shape(info.height.into(), info.width.into(), jpeg_out_channels(&d)),
    ))
}

/// Every 8x8 block of a JPEG is coded with at least one bit: a file far smaller than its
/// declared size allows is truncated or forged, and is refused before its pixels are
/// allocated; so is one over the decoder's pixel limit.
fn check_jpeg_size(path: &Path, info: &zune_jpeg::ImageInfo, len: usize) -> anyhow::Result<()> {
    let blocks = u64::from(info.width).div_ceil(8) * u64::from(info.height).div_ceil(8);
    anyhow::ensure!(
        len as u64 >= blocks / 8,
        "{}: the JPEG declares {}x{} pixels, which needs at least {} bytes of image data, \
         but the file has {len}: it is truncated or damaged",
        path.display(),
        info.width,
        info.height,
        blocks / 8
    );
    let pixels = u64::from(info.width) * u64::from(info.height) * 3;
    anyhow::ensure!(
        pixels <= MAX_PIXEL_BYTES as u64,
        "{}: the JPEG declares {}x{} pixels, more than the {MAX_PIXEL_BYTES} bytes an image may decode to",
        path.display(),
        info.width,
        info.height
    );
    Ok(())
}

pub fn read_jpeg(path: &Path) -> anyhow::Result<Array> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut d = jpeg_decoder(&bytes);
    d.decode_headers()
        .map_err(|e| anyhow::anyhow!("not a valid JPEG image: {e:?}"))?;
    let info = d.info().context("JPEG without a frame header")?;
    check_jpeg_size(path, &info, bytes.len())?;
    let ch = jpeg_out_channels(&d);
    let out = if ch == 1 {
        zune_core::colorspace::ColorSpace::Luma
    } else {
        zune_core::colorspace::ColorSpace::RGB
    };
    let opts = zune_core::options::DecoderOptions::default().jpeg_set_out_colorspace(out);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(
        zune_core::bytestream::ZCursor::new(&bytes[..]),
        opts,
    );
    let pixels = d
        .decode()
        .map_err(|e| anyhow::anyhow!("damaged JPEG image data: {e:?}"))?;
    let info = d.info().context("JPEG without a frame header")?;
    Array::new(
        DType::U8,
        image_shape(info.height.into(), info.width.into(), ch),
        pixels,
    )
}

/// Writes a uint8 or uint16 image array (`[H, W]` or `[H, W, C]` with C in 1..=4) as PNG.
pub fn write_png(
    w: impl Write,
    a_dtype: DType,
    shape: &[usize],
    data: &[u8],
) -> anyhow::Result<()> {
    let (h, wd, ch) = match shape {
        [h, w] => (*h, *w, 1),
        [h, w, c] if (1..=4).contains(c) => (*h, *w, *c),
        _ => bail!(
            "shape {} is not an image: PNG export needs (height, width) or (height, width, channels) with 1-4 channels",
            hangar_core::value::fmt_shape(shape)
        ),
    };
    let depth = match a_dtype {
        DType::U8 => png::BitDepth::Eight,
        DType::U16 => png::BitDepth::Sixteen,
        d => bail!("PNG export needs uint8 or uint16 samples, not {d}"),
    };
    let color = match ch {
        1 => png::ColorType::Grayscale,
        2 => png::ColorType::GrayscaleAlpha,
        3 => png::ColorType::Rgb,
        _ => png::ColorType::Rgba,
    };
    let mut enc = png::Encoder::new(w, u32::try_from(wd)?, u32::try_from(h)?);
    enc.set_color(color);
    enc.set_depth(depth);
    let mut writer = enc.write_header()?;
    if depth == png::BitDepth::Sixteen {
        let be: Vec<u8> = data
            .chunks_exact(2)
            .flat_map(|b| u16::from_ne_bytes([b[0], b[1]]).to_be_bytes())
            .collect();
        writer.write_image_data(&be)?;
    } else {
        writer.write_image_data(data)?;
    }
    writer.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        for (dtype, shape) in [
            (DType::U8, vec![3, 5]),
            (DType::U8, vec![2, 4, 3]),
            (DType::U8, vec![2, 2, 4]),
            (DType::U8, vec![2, 2, 2]),
            (DType::U16, vec![3, 2]),
            (DType::U16, vec![1, 2, 3]),
        ] {
            let n: usize = shape.iter().product::<usize>() * dtype.size();
            let data: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
            let p = dir.path().join("x.png");
            write_png(std::fs::File::create(&p).unwrap(), dtype, &shape, &data).unwrap();
            assert_eq!(probe_png(&p).unwrap(), (dtype, shape.clone()));
            let a = read_png(&p).unwrap();
            assert_eq!((a.dtype, a.shape, a.data), (dtype, shape, data));
        }
        assert!(write_png(Vec::new(), DType::F32, &[2, 2], &[0; 16]).is_err());
        assert!(write_png(Vec::new(), DType::U8, &[2, 2, 5], &[0; 20]).is_err());
        std::fs::write(dir.path().join("bad.png"), b"\x89PNG\r\n\x1a\nnope").unwrap();
        assert!(read_png(&dir.path().join("bad.png")).is_err());
        std::fs::write(dir.path().join("bad.jpg"), b"\xff\xd8\xff\xe0 nope").unwrap();
        assert!(read_jpeg(&dir.path().join("bad.jpg")).is_err());
    }
}
