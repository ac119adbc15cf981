//! `Handle` as frames (`frames.proto`, decision 0021): the wire form both sides share — a
//! 4-byte big-endian length, then one `HandleFrame` — and the flow-control constants. Who sends
//! what, and when, is the host's and the SDK's business.

use prost::Message as _;
use prost::bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::pb::HandleFrame;

mod read;
mod write;

pub use read::{
    IncomingHead, IncomingPart, IncomingRequest, ToHost, ToPlugin, read_to_host, read_to_plugin,
};
pub use write::{RequestRef, encode_part, encode_start};

/// Body bytes a call may send, after its first part, before the host grants more.
pub const INITIAL_CREDIT: u32 = 1024 * 1024;

/// The most body bytes in one part (so every part fits the initial credit).
pub const PART_BYTES: usize = INITIAL_CREDIT as usize;

/// The largest frame either side accepts: a request body up to this size crosses whole.
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// `frame` as it goes on the wire.
pub fn encode(frame: &HandleFrame) -> Bytes {
    let len = frame.encoded_len();
    // A `Vec` rather than a `BytesMut`: prost writes varints a byte at a time, and a `Vec`
    // takes a byte for much less.
    let mut out = Vec::with_capacity(4 + len);
    // A frame beyond u32 cannot be built from parts and requests within the limits.
    out.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    // Encoding into a buffer with room for it cannot fail.
    let _ = frame.encode(&mut out);
    Bytes::from(out)
}

/// Reads frames from one side of the socket.
#[derive(Debug)]
pub struct FrameReader<R> {
    read: R,
    buffer: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Frames from `read`.
    pub fn new(read: R) -> Self {
        Self {
            read,
            buffer: BytesMut::with_capacity(8 * 1024),
        }
    }

    /// The next frame; `None` when the other side closed between frames. A frame that is
    /// cut short, too large, or does not decode is an error: the connection is then unusable.
    pub async fn next(&mut self) -> std::io::Result<Option<HandleFrame>> {
        match self.next_bytes().await? {
            Some(frame) => HandleFrame::decode(frame)
                .map(Some)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            None => Ok(None),
        }
    }

    /// The next frame's bytes (without its length), for [`read_to_plugin`] or
    /// [`read_to_host`]; as [`next`](Self::next) otherwise.
    pub async fn next_bytes(&mut self) -> std::io::Result<Option<Bytes>> {
        loop {
            if self.buffer.len() >= 4 {
                let len = u32::from_be_bytes([
                    self.buffer[0],
                    self.buffer[1],
                    self.buffer[2],
                    self.buffer[3],
                ]) as usize;
                if len > MAX_FRAME_BYTES {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("a frame of {len} bytes, above the limit of {MAX_FRAME_BYTES}"),
                    ));
                }
                if self.buffer.len() >= 4 + len {
                    self.buffer.advance(4);
                    return Ok(Some(self.buffer.split_to(len).freeze()));
                }
                self.buffer.reserve(4 + len - self.buffer.len());
            }
            if self.read.read_buf(&mut self.buffer).await? == 0 {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(std::io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }
}

/// Writes the frames `frames` yields (already encoded) until it ends or the socket fails;
/// frames waiting together go out in one write.
pub async fn write_frames<W: AsyncWrite + Unpin>(
    mut write: W,
    mut frames: tokio::sync::mpsc::UnboundedReceiver<Bytes>,
) -> std::io::Result<()> {
    let mut batch = BytesMut::new();
    while let Some(frame) = frames.recv().await {
        if let Ok(next) = frames.try_recv() {
            batch.extend_from_slice(&frame);
            batch.extend_from_slice(&next);
            while let Ok(more) = frames.try_recv() {
                batch.extend_from_slice(&more);
                if batch.len() >= 256 * 1024 {
                    break;
                }
            }
            write.write_all(&batch).await?;
            batch.clear();
        } else {
            write.write_all(&frame).await?;
        }
    }
    write.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::{self, handle_frame::Kind};

    fn part(call: u64, body: &[u8], last: bool) -> HandleFrame {
        HandleFrame {
            call,
            kind: Some(Kind::Part(pb::HttpResponsePart {
                head: None,
                body: Bytes::copy_from_slice(body),
                last,
            })),
        }
    }

    #[tokio::test]
    async fn frames_read_back_as_written_whatever_the_reads_cut() {
        let frames = [
            part(1, b"", false),
            part(2, &[7; 70_000], true),
            HandleFrame {
                call: 1,
                kind: Some(Kind::Cancel(pb::HandleCancel {})),
            },
        ];
        let mut wire: Vec<u8> = frames.iter().flat_map(|f| encode(f).to_vec()).collect();
        // Read through a pipe that delivers a few bytes at a time.
        let (mut tx, rx) = tokio::io::duplex(5);
        let writer = tokio::spawn({
            let wire = wire.clone();
            async move { tx.write_all(&wire).await }
        });
        let mut reader = FrameReader::new(rx);
        for expected in &frames {
            assert_eq!(reader.next().await.unwrap().as_ref(), Some(expected));
        }
        writer.await.unwrap().unwrap();
        assert!(reader.next().await.unwrap().is_none());

        // Cut inside a frame: an error, not a silent end.
        wire.truncate(wire.len() - 1);
        let mut reader = FrameReader::new(&wire[..]);
        reader.next().await.unwrap();
        reader.next().await.unwrap();
        assert_eq!(
            reader.next().await.unwrap_err().kind(),
            std::io::ErrorKind::UnexpectedEof
        );
        // A length beyond the limit is refused before anything is read into memory.
        let huge = u32::try_from(MAX_FRAME_BYTES + 1).unwrap().to_be_bytes();
        let mut reader = FrameReader::new(&huge[..]);
        assert_eq!(
            reader.next().await.unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
    }
}
