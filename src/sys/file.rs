//! The one safe reader of named files (regular files only, never blocking
//! on a FIFO, never reading past a cap) and of standard input (never past
//! a cap). Returns `ReadError`; what a failed read means is the caller's.

use std::path::Path;

#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    NotRegular(&'static str),
    TooLarge,
}

/// Reads a regular file of at most `cap` bytes. The file is opened
/// non-blocking (a FIFO cannot hold the open), checked on the open handle
/// (no swap between check and read), and read through a `cap + 1` limit
/// (a file that grows while read is still refused).
pub fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    read_regular_with_meta(path, cap).map(|(bytes, _)| bytes)
}

/// `read_regular`, with the open handle's metadata (owner, mode) for
/// callers that must also check who may read or write the file.
pub fn read_regular_with_meta(
    path: &Path,
    cap: u64,
) -> Result<(Vec<u8>, std::fs::Metadata), ReadError> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(ReadError::NotRegular(if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_dir() {
            "a directory"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        }));
    }
    if meta.len() > cap {
        return Err(ReadError::TooLarge);
    }
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge);
    }
    Ok((bytes, meta))
}

/// Standard input, at most `cap` bytes, read through a `cap + 1` limit so
/// that a larger input is refused as too large, not cut.
pub fn read_stdin(cap: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge);
    }
    Ok(bytes)
}

impl ReadError {
    /// One phrase for a message: "is a FIFO", "No such file ...".
    pub fn describe(&self) -> String {
        match self {
            ReadError::Io(e) => e.to_string(),
            ReadError::NotRegular(kind) => format!("is {kind}, not a regular file"),
            ReadError::TooLarge => "is too large".into(),
        }
    }
}
