//! Connections whose peer stops reading are closed: a write that makes no progress for a
//! bound fails, and hyper drops the connection.
//!
//! hyper has no write timeout. When a peer reads nothing, the socket and then hyper's own
//! buffer fill, and the write waits for as long as the peer stays connected. A live stream
//! already gives up on a client that takes nothing for [`super::LiveLimits::stall_timeout`],
//! but its final message, like any answer to a client that stopped reading, then waits on the
//! same full socket: the connection, its task and its buffers were held forever. Each accepted
//! connection is wrapped here so that such a wait ends.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// A listener whose connections fail a write that has made no progress for `limit`.
pub(super) struct WriteTimeoutListener {
    inner: TcpListener,
    limit: Duration,
}

impl WriteTimeoutListener {
    pub(super) fn new(inner: TcpListener, limit: Duration) -> Self {
        Self { inner, limit }
    }
}

impl axum::serve::Listener for WriteTimeoutListener {
    type Io = WriteTimeout<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, address) = axum::serve::Listener::accept(&mut self.inner).await;
        (WriteTimeout::new(stream, self.limit), address)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection whose writes fail with `TimedOut` after `limit` without progress.
pub(super) struct WriteTimeout<T> {
    inner: T,
    limit: Duration,
    /// Set while a write waits: when it started waiting, as a timer.
    waiting: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteTimeout<T> {
    fn new(inner: T, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            waiting: None,
        }
    }

    /// Runs one write step; a step that is still waiting after `limit` fails instead.
    fn bounded<R>(
        &mut self,
        cx: &mut Context<'_>,
        step: impl FnOnce(Pin<&mut T>, &mut Context<'_>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>>
    where
        T: Unpin,
    {
        if let Poll::Ready(result) = step(Pin::new(&mut self.inner), cx) {
            self.waiting = None;
            return Poll::Ready(result);
        }
        let limit = self.limit;
        let waiting = self
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match waiting.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the peer has read nothing for {limit:?}"),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.bounded(cx, |inner, cx| inner.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.bounded(cx, |inner, cx| inner.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.bounded(cx, |inner, cx| inner.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.bounded(cx, |inner, cx| inner.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_write_the_peer_never_reads_fails_after_the_limit_and_one_it_reads_does_not() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut near = WriteTimeout::new(near, Duration::from_millis(100));
        // The peer reads: a write larger than the pipe completes.
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; 1000];
            far.read_exact(&mut got).await.unwrap();
            far
        });
        near.write_all(&[1u8; 1000]).await.unwrap();
        let _far = reader.await.unwrap();
        // The peer stops reading: the write fails instead of waiting forever.
        let error = tokio::time::timeout(Duration::from_secs(5), near.write_all(&[2u8; 1000]))
            .await
            .expect("the write gives up")
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }
}
