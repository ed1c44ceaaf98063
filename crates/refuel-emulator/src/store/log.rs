//! An append-only log of checksummed frames, the unit of durability.
//!
//! A frame is `[payload length: u32 LE][CRC-32 of payload: u32 LE][payload]`. A write is
//! acknowledged only after its frame is on disk (`fsync`). On open, frames are replayed in
//! order up to the first incomplete or corrupt one (a write torn by a crash), and the file
//! is truncated there, so a crash never leaves a half-applied record behind.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

const HEADER: usize = 8;
/// The largest frame accepted on replay; anything longer is corruption.
const MAX_FRAME: u32 = 1 << 30;

/// An open log, positioned at its end.
#[derive(Debug)]
pub(super) struct Log {
    file: File,
}

impl Log {
    /// Opens (creating if needed) the log at `path`, calls `apply` with every intact frame
    /// in order, and truncates a torn tail. An error from `apply` stops the replay.
    pub(super) fn open(
        path: &Path,
        mut apply: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let len = file.metadata()?.len();
        let mut reader = BufReader::with_capacity(1 << 20, &mut file);
        let mut good: u64 = 0;
        let mut header = [0u8; HEADER];
        let mut payload = Vec::new();
        loop {
            if read_full(&mut reader, &mut header)? < HEADER {
                break;
            }
            let size = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
            let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            if size > MAX_FRAME || good + (HEADER as u64) + u64::from(size) > len {
                break;
            }
            payload.resize(size as usize, 0);
            if read_full(&mut reader, &mut payload)? < payload.len() {
                break;
            }
            if crc32fast::hash(&payload) != crc {
                break;
            }
            apply(&payload)?;
            good += (HEADER as u64) + u64::from(size);
        }
        drop(reader);
        if good < len {
            tracing::warn!(path = %path.display(), kept = good, dropped = len - good, "truncating a torn log tail");
            file.set_len(good)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::End(0))?;
        Ok(Self { file })
    }

    /// Appends frames and makes them durable before returning.
    pub(super) fn append<'a>(
        &mut self,
        payloads: impl IntoIterator<Item = &'a [u8]>,
    ) -> io::Result<()> {
        let mut buf = Vec::new();
        for p in payloads {
            encode_frame(&mut buf, p)?;
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()
    }
}

/// Writes a whole new log atomically: frames go to `<path>.tmp`, which is synced and then
/// renamed over `path` (and the directory synced).
pub(super) fn write_atomically<I, P>(path: &Path, payloads: I) -> io::Result<()>
where
    I: IntoIterator<Item = P>,
    P: AsRef<[u8]>,
{
    let tmp = path.with_extension("tmp");
    {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        let mut frame = Vec::new();
        for p in payloads {
            frame.clear();
            encode_frame(&mut frame, p.as_ref())?;
            w.write_all(&frame)?;
        }
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Makes a directory's entries (created, renamed or removed files) durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn encode_frame(out: &mut Vec<u8>, payload: &[u8]) -> io::Result<()> {
    let size = u32::try_from(payload.len())
        .ok()
        .filter(|s| *s <= MAX_FRAME)
        .ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "log record larger than 1 GiB")
        })?;
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(path: &Path) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        Log::open(path, |p| {
            out.push(p.to_vec());
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn appends_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut log = Log::open(&path, |_| Ok(())).unwrap();
        log.append([b"one".as_slice()]).unwrap();
        log.append([b"two".as_slice(), b"three".as_slice()])
            .unwrap();
        drop(log);
        assert_eq!(
            replay(&path),
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
    }

    #[test]
    fn torn_and_corrupt_tails_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut log = Log::open(&path, |_| Ok(())).unwrap();
        log.append([b"kept".as_slice(), b"torn".as_slice()])
            .unwrap();
        drop(log);
        let full = std::fs::metadata(&path).unwrap().len();
        // A crash in the middle of the second frame.
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(full - 2)
            .unwrap();
        assert_eq!(replay(&path), vec![b"kept".to_vec()]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), (HEADER + 4) as u64);
        // A flipped byte in a later frame.
        let mut log = Log::open(&path, |_| Ok(())).unwrap();
        log.append([b"next".as_slice()]).unwrap();
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(replay(&path), vec![b"kept".to_vec()]);
        // Appending after a cut continues cleanly.
        let mut log = Log::open(&path, |_| Ok(())).unwrap();
        log.append([b"after".as_slice()]).unwrap();
        drop(log);
        assert_eq!(replay(&path), vec![b"kept".to_vec(), b"after".to_vec()]);
    }

    #[test]
    fn atomic_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.log");
        write_atomically(&path, [b"a".as_slice(), b"b".as_slice()]).unwrap();
        assert_eq!(replay(&path), vec![b"a".to_vec(), b"b".to_vec()]);
        assert!(!path.with_extension("tmp").exists());
    }
}
