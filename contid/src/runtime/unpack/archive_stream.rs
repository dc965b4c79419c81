//! The bytes of the tar: decompressed when gzip or zstd, hashed (the sha256 of the tar is an
//! image layer's diff id) and watched for their end. A tar ends with two zero blocks and a gzip or
//! zstd stream with its checksum: an archive cut anywhere else (an upload or a download that
//! stopped) is refused instead of imported with half of its files.

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

const BLOCK: usize = 512;
/// Padding after the end of the tar (writers fill their last record with zeros, 10 KiB by
/// default) is read to reach the gzip checksum; past this much it is no padding.
const MAX_TRAILER: u64 = 16 << 20;

/// The archive's compression, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
    /// Recognised to say so clearly, but not unpacked.
    Unsupported(&'static str),
}

fn compression(magic: &[u8]) -> Compression {
    if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Unsupported("xz")
    } else if magic.starts_with(b"BZh") {
        Compression::Unsupported("bzip2")
    } else {
        Compression::None
    }
}

/// `archive`, decompressed if it is gzip or zstd, counting and hashing what the tar reader takes
/// from it.
pub(super) fn open(mut archive: impl Read + 'static) -> Result<TarStream, String> {
    let mut magic = Vec::with_capacity(6);
    (&mut archive)
        .take(6)
        .read_to_end(&mut magic)
        .map_err(|e| format!("reading the archive: {e}"))?;
    let archive = io::Cursor::new(magic.clone()).chain(archive);
    let reader: Box<dyn Read> = match compression(&magic) {
        Compression::None => Box::new(archive),
        Compression::Gzip => Box::new(MultiGzDecoder::new(archive)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(archive)
                .map_err(|e| format!("starting the zstd decoder: {e}"))?,
        ),
        Compression::Unsupported(kind) => {
            return Err(format!(
                "the archive is compressed with {kind}: send a tar, or a tar compressed with gzip \
                 or zstd"
            ));
        }
    };
    Ok(TarStream {
        inner: reader,
        position: 0,
        ended: false,
        hash: Sha256::new(),
    })
}

/// The tar's bytes, and whether they ran out: the tar reader stops quietly both at its
/// end-of-archive block and at the end of the stream, and only the second is a cut.
pub(super) struct TarStream {
    inner: Box<dyn Read>,
    position: u64,
    ended: bool,
    /// sha256 of every byte of the tar read so far.
    hash: Sha256,
}

impl Read for TarStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.ended = true;
        }
        self.position += n as u64;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

impl TarStream {
    /// Called once the tar reader found no further entry: checks that it stopped at the first of
    /// the two zero blocks that end a tar, that the second follows, and that the rest (up to the
    /// end of the gzip stream, which checks its CRC) is padding. Returns the sha256 of the whole
    /// tar and its size.
    pub(super) fn finish(mut self) -> Result<([u8; 32], u64), String> {
        if self.ended {
            return Err(format!(
                "the archive is cut short: it ends at byte {} without the two zero blocks that \
                 end a tar",
                self.position
            ));
        }
        let first_zero_block = self.position - BLOCK as u64;
        let mut block = [0u8; BLOCK];
        let mut filled = 0;
        while filled < BLOCK {
            match self.read(&mut block[filled..]) {
                Ok(0) => {
                    return Err(format!(
                        "the archive is cut short: its end at byte {first_zero_block} has one \
                         zero block of the two that end a tar"
                    ));
                }
                Ok(n) => filled += n,
                Err(e) => return Err(self.read_error(e)),
            }
        }
        if block.iter().any(|&b| b != 0) {
            return Err(format!(
                "a lone zero block at byte {first_zero_block} is followed by more entries (two \
                 archives one after the other?)"
            ));
        }
        let trailer = io::copy(&mut (&mut self).take(MAX_TRAILER + 1), &mut io::sink())
            .map_err(|e| self.read_error(e))?;
        if trailer > MAX_TRAILER {
            return Err(format!(
                "more than {} MiB follow the end of the archive",
                MAX_TRAILER >> 20
            ));
        }
        Ok((self.hash.finalize().into(), self.position))
    }

    fn read_error(&self, error: io::Error) -> String {
        format!(
            "{} (at byte {} of the tar)",
            read_failure(&error),
            self.position
        )
    }
}

/// A failure to read the archive: a corrupt or cut gzip stream, an interrupted upload.
pub(super) fn read_failure(error: &io::Error) -> String {
    let cut = if error.kind() == io::ErrorKind::UnexpectedEof {
        "the archive is cut short: "
    } else {
        ""
    };
    format!("{cut}{error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressions_are_told_apart_by_their_magic() {
        assert_eq!(compression(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(compression(b"bin/\0\0"), Compression::None);
        assert_eq!(compression(b""), Compression::None);
        assert_eq!(
            compression(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0]),
            Compression::Zstd
        );
        assert_eq!(
            compression(&[0xfd, b'7', b'z', b'X', b'Z', 0]),
            Compression::Unsupported("xz")
        );
        assert_eq!(compression(b"BZh91AY"), Compression::Unsupported("bzip2"));
    }
}
