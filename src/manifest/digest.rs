//! What a manifest read was, byte for byte: the SHA-256 of exactly the
//! bytes parsed, taken while they are read, so that the digests a run
//! records are of what it planned from, even if a file changes on disk
//! a moment later.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A file as it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    pub path: PathBuf,
    /// Lower-case hex.
    pub sha256: String,
    pub bytes: u64,
}

impl FileDigest {
    /// The digest of `bytes`, read whole from `path`.
    pub fn of_bytes(path: &Path, bytes: &[u8]) -> FileDigest {
        FileDigest {
            path: path.to_path_buf(),
            sha256: hex::encode(Sha256::digest(bytes)),
            bytes: bytes.len() as u64,
        }
    }
}

/// A reader that hashes what passes through it, for files read as a
/// stream (a CSV of a million rows is never held whole).
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Reads what is left (a reader that stopped early, at too many
    /// problems, still hashes the whole file) and gives the digest.
    pub fn finish(mut self, path: &Path) -> std::io::Result<FileDigest> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        Ok(FileDigest {
            path: path.to_path_buf(),
            sha256: hex::encode(self.hasher.finalize()),
            bytes: self.bytes,
        })
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(out)?;
        self.hasher.update(&out[..read]);
        self.bytes += read as u64;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_read_in_part_hashes_as_the_whole_file() {
        let text = b"bucket,region,id\na-1250000000,ap-guangzhou,x\n";
        let whole = FileDigest::of_bytes(Path::new("m.csv"), text);
        assert_eq!(whole.bytes, text.len() as u64);
        let mut reader = HashingReader::new(&text[..]);
        let mut head = [0; 7];
        reader.read_exact(&mut head).unwrap();
        assert_eq!(reader.finish(Path::new("m.csv")).unwrap(), whole);
        // The SHA-256 of the empty string, as every tool prints it.
        assert_eq!(
            FileDigest::of_bytes(Path::new("e"), b"").sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
