//! MNIST-style IDX files (images `0x00000803`, labels `0x00000801`), raw or gzip-compressed.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use crate::error::{Error, Result};

/// Magic number of an IDX file of unsigned-byte 3-D data (images).
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte 1-D data (labels).
const LABELS_MAGIC: u32 = 0x0000_0801;

/// A stack of 8-bit grey-scale images, as stored in an IDX3 file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub n: usize,
    /// Rows (height) of each image.
    pub rows: usize,
    /// Columns (width) of each image.
    pub cols: usize,
    /// Pixels, row-major `n * rows * cols` (image, then row, then column); 0 = background.
    pub pixels: Vec<u8>,
}

/// Reads an IDX3 image file (magic `0x00000803`), gzip-compressed or not.
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<IdxImages> {
    let path = path.as_ref();
    let mut reader = IdxReader::open(path)?;
    reader.magic(IMAGES_MAGIC)?;
    let n = reader.dim()?;
    let rows = reader.dim()?;
    let cols = reader.dim()?;
    let pixels = reader.body([n, rows, cols])?;
    Ok(IdxImages {
        n: n as usize,
        rows: rows as usize,
        cols: cols as usize,
        pixels,
    })
}

/// Reads an IDX1 label file (magic `0x00000801`), gzip-compressed or not.
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let mut reader = IdxReader::open(path)?;
    reader.magic(LABELS_MAGIC)?;
    let n = reader.dim()?;
    reader.body([n])
}

/// Sequential reader of an IDX file that tracks how many (decompressed) bytes it has read.
struct IdxReader<'p> {
    path: &'p Path,
    inner: Box<dyn Read + 'p>,
    /// Bytes read so far (after decompression).
    read: u64,
    /// Bytes of header the format requires so far (4 magic + 4 per dimension).
    header: u64,
}

impl<'p> IdxReader<'p> {
    /// Opens `path`, decompressing when it starts with the gzip magic bytes 0x1f 0x8b.
    fn open(path: &'p Path) -> Result<Self> {
        let file = File::open(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut buffered = BufReader::new(file);
        let head = buffered.fill_buf().map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let inner: Box<dyn Read + 'p> = if head.starts_with(&[0x1f, 0x8b]) {
            Box::new(MultiGzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        };
        Ok(IdxReader {
            path,
            inner,
            read: 0,
            header: 0,
        })
    }

    /// Reads up to `want` bytes into a new vector; a short read is reported as truncation
    /// against `expected` total bytes.
    fn take(&mut self, want: u64, expected: u64) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        let result = (&mut self.inner).take(want).read_to_end(&mut buf);
        self.read += buf.len() as u64;
        match result {
            // A gzip stream cut short ends in UnexpectedEof: report it as truncation too.
            Err(e) if e.kind() != io::ErrorKind::UnexpectedEof => {
                return Err(Error::Read {
                    path: self.path.to_path_buf(),
                    source: e,
                });
            }
            _ => {}
        }
        if (buf.len() as u64) < want {
            return Err(Error::IdxTruncated {
                path: self.path.to_path_buf(),
                expected,
                actual: self.read,
            });
        }
        Ok(buf)
    }

    /// Reads one big-endian u32 of the header.
    fn word(&mut self) -> Result<u32> {
        self.header += 4;
        let bytes = self.take(4, self.header)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(&bytes);
        Ok(u32::from_be_bytes(a))
    }

    /// Reads and checks the magic number.
    fn magic(&mut self, expected: u32) -> Result<()> {
        let found = self.word()?;
        if found != expected {
            return Err(Error::IdxMagic {
                path: self.path.to_path_buf(),
                found,
                expected,
            });
        }
        Ok(())
    }

    /// Reads one dimension size.
    fn dim(&mut self) -> Result<u32> {
        self.word()
    }

    /// Reads the `prod(dims)` data bytes that follow the header.
    fn body<const R: usize>(&mut self, dims: [u32; R]) -> Result<Vec<u8>> {
        // At most 2^32 ^ 3 in theory; saturate rather than overflow, the read then fails short.
        let len = dims
            .iter()
            .try_fold(1u64, |a, &b| a.checked_mul(u64::from(b)))
            .unwrap_or(u64::MAX);
        let expected = self.header.saturating_add(len);
        self.take(len, expected)
    }
}
