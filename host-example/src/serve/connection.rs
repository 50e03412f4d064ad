//! Serving one client connection: HTTP/1.1 by hyper, in front of the application ([`App`]),
//! with the client-connection limits:
//!
//! - the **header-read timeout** (hyper's `header_read_timeout`): the request head must be
//!   complete within it, counted from the connection's start or from the end of the previous
//!   answer (hyper's timer also runs while a kept-alive connection waits for its next request);
//!   then hyper closes the connection, without an answer;
//! - the **keep-alive timeout**: a connection with no request in progress that receives nothing
//!   for it is closed (a connection that has started sending its next head is left to the
//!   header-read timeout);
//! - the **body-read timeout** ([`StallTimeout`]): a request body that sends nothing for it
//!   fails with [`BodyStalled`], which the body readers answer 408 `request_timeout` in the
//!   envelope (with `Connection: close`: the rest of the body is never read);
//! - the **head limits** ([`MAX_URI_BYTES`], [`MAX_HEADER_BYTES`]): a longer URI is answered
//!   414 `uri_too_long`, larger headers 431 `request_header_fields_too_large`, in the envelope.
//!   hyper reads heads up to [`MAX_HEAD_BUFFER`] so that these reach the host; what hyper itself
//!   refuses — a head over that buffer (431), a URI over 65,534 bytes (414), more than 100
//!   headers (431), a request line or header hyper cannot parse (400) — is answered by hyper
//!   with an empty body and the connection is closed: hyper's automatic answers carry no body;
//! - the cap's request to close ([`super::cap`]), and the host's shutdown: hyper's graceful
//!   shutdown (an idle connection closes at once; an answer in progress is finished first), then,
//!   after [`CLOSE_GRACE`], a connection still idle (a client half-way through a head) is dropped.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    http::{Request, Response},
};
use futures_util::future::Either;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use keyward_host_core::error::GatewayError;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    sync::watch,
};

use super::cap::{Admitted, Tracker};
use crate::http::{error::envelope_response, extract::BodyStalled, router::App};

/// The longest request URI answered (longer: 414 in the envelope).
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The most bytes of request headers answered, counting each as `name: value\r\n` (more: 431
/// in the envelope).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// hyper's read buffer, the largest request head it reads: four times [`MAX_HEADER_BYTES`], so
/// that heads over the host's limits are answered in the envelope rather than by hyper.
pub const MAX_HEAD_BUFFER: usize = 4 * MAX_HEADER_BYTES;

/// How long a connection asked to close (by the cap or the shutdown) may take to finish on its
/// own before, if it has no request in progress, it is dropped.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The timeouts of a client connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// From the connection's start or the previous answer's end to a complete request head.
    pub header_read: Duration,
    /// How long a connection with no request in progress may receive nothing.
    pub keep_alive: Duration,
    /// How long a request body being read may send nothing.
    pub body_read: Duration,
}

/// Serves `io` until the client leaves, a timeout closes it, the cap asks for its slot, or
/// `stopping` turns true (then it finishes the answer in progress).
pub async fn serve(
    io: TcpStream,
    app: App,
    timeouts: Timeouts,
    admitted: Admitted,
    mut stopping: watch::Receiver<bool>,
) {
    let tracker = admitted.tracker.clone();
    let service = ConnectionService {
        app,
        tracker: tracker.clone(),
        body_read_timeout: timeouts.body_read,
    };
    let io = TokioIo::new(Watched {
        io,
        tracker: tracker.clone(),
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read)
        .max_buf_size(MAX_HEAD_BUFFER);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    // Checks the keep-alive timeout; once the connection is asked to close, the grace.
    let check = tokio::time::sleep(timeouts.keep_alive);
    tokio::pin!(check);
    let mut closing = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, "client connection ended with an error");
                }
                break;
            }
            _ = stopping.wait_for(|stop| *stop), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
                check.as_mut().reset(tokio::time::Instant::now() + CLOSE_GRACE);
            }
            () = tracker.asked_to_close(), if !closing => {
                tracing::debug!("closing an idle client connection to make room (--max-connections)");
                closing = true;
                connection.as_mut().graceful_shutdown();
                check.as_mut().reset(tokio::time::Instant::now() + CLOSE_GRACE);
            }
            () = check.as_mut() => {
                let now = tokio::time::Instant::now();
                if closing {
                    if tracker.is_idle() {
                        // Half-way through a head (hyper waits for it even when shutting
                        // down): dropped.
                        break;
                    }
                    check.as_mut().reset(now + CLOSE_GRACE);
                    continue;
                }
                match tracker.silent_idle_deadline(timeouts.keep_alive) {
                    Some(deadline) if deadline <= now => {
                        // Idle and silent: hyper closes it at once.
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                        check.as_mut().reset(now + CLOSE_GRACE);
                    }
                    Some(deadline) => check.as_mut().reset(deadline),
                    None => check.as_mut().reset(now + timeouts.keep_alive),
                }
            }
        }
    }
    // The socket (in `connection`) closes before `admitted`, a parameter, gives its slot back.
}

/// The client's socket, reporting each arrival of bytes to the tracker.
struct Watched {
    io: TcpStream,
    tracker: Arc<Tracker>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.tracker.received();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// What hyper calls for each request: the head limits, the body's stall timeout, the request
/// reported in progress until its answer is sent, then the application.
#[derive(Clone)]
struct ConnectionService {
    app: App,
    tracker: Arc<Tracker>,
    body_read_timeout: Duration,
}

type AppFuture = <App as tower_service::Service<Request<Body>>>::Future;

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<Answer>;
    type Error = Infallible;
    type Future = Answering;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::start(self.tracker.clone());
        if let Some(refusal) = head_refusal(&request) {
            return Answering {
                answer: Either::Left(std::future::ready(Ok(envelope_response(&refusal)))),
                in_flight: Some(in_flight),
            };
        }
        let timeout = self.body_read_timeout;
        let request = request.map(|body| Body::new(StallTimeout::new(body, timeout)));
        // No readiness to wait for: `Cors::poll_ready` is the router's, which is always ready.
        let mut app = self.app.clone();
        Answering {
            answer: Either::Right(tower_service::Service::call(&mut app, request)),
            in_flight: Some(in_flight),
        }
    }
}

/// The refusal of a head over the host's limits, if it is.
fn head_refusal<B>(request: &Request<B>) -> Option<GatewayError> {
    let uri = request.uri();
    let uri_bytes = uri.scheme_str().map_or(0, |scheme| scheme.len() + 3)
        + uri
            .authority()
            .map_or(0, |authority| authority.as_str().len())
        + uri.path_and_query().map_or(0, |path| path.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return Some(GatewayError::new(
            414,
            "uri_too_long",
            format!(
                "the request URI is {uri_bytes} bytes long; the most accepted is {MAX_URI_BYTES}"
            ),
        ));
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Some(GatewayError::new(
            431,
            "request_header_fields_too_large",
            format!(
                "the request headers are {header_bytes} bytes in all; the most accepted is {MAX_HEADER_BYTES}"
            ),
        ));
    }
    None
}

/// A request in progress, until its answer's body is sent or dropped.
struct InFlight(Arc<Tracker>);

impl InFlight {
    fn start(tracker: Arc<Tracker>) -> Self {
        tracker.request_started();
        Self(tracker)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// The answer being produced; its body carries the [`InFlight`] mark.
struct Answering {
    answer: Either<std::future::Ready<Result<Response<Body>, Infallible>>, AppFuture>,
    in_flight: Option<InFlight>,
}

impl Future for Answering {
    type Output = Result<Response<Answer>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let response = match Pin::new(&mut this.answer).poll(cx) {
            Poll::Ready(Ok(response)) => response,
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => return Poll::Pending,
        };
        let in_flight = this.in_flight.take();
        Poll::Ready(Ok(response.map(|body| Answer {
            body,
            _in_flight: in_flight,
        })))
    }
}

/// An answer's body, with the mark of its request in progress (dropped with it).
pub struct Answer {
    body: Body,
    _in_flight: Option<InFlight>,
}

impl hyper::body::Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

pin_project_lite::pin_project! {
    /// A request body that fails with [`BodyStalled`] when it sends nothing for `timeout` while
    /// it is being read.
    pub struct StallTimeout {
        body: Incoming,
        timeout: Duration,
        // Armed while a read waits; created on the first wait and reset after.
        #[pin]
        sleep: Option<tokio::time::Sleep>,
        armed: bool,
        stalled: bool,
    }
}

impl StallTimeout {
    /// `body` with the stall timeout `timeout`.
    pub fn new(body: Incoming, timeout: Duration) -> Self {
        Self {
            body,
            timeout,
            sleep: None,
            armed: false,
            stalled: false,
        }
    }
}

impl hyper::body::Body for StallTimeout {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        if *this.stalled {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut *this.body).poll_frame(cx) {
            *this.armed = false;
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        if !*this.armed {
            *this.armed = true;
            let deadline = tokio::time::Instant::now() + *this.timeout;
            match this.sleep.as_mut().as_pin_mut() {
                Some(sleep) => sleep.reset(deadline),
                None => this.sleep.set(Some(tokio::time::sleep_until(deadline))),
            }
        }
        let fired = this
            .sleep
            .as_pin_mut()
            .is_some_and(|sleep| sleep.poll(cx).is_ready());
        if fired {
            *this.stalled = true;
            return Poll::Ready(Some(Err(Box::new(BodyStalled(*this.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.stalled || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, header: usize) -> Request<()> {
        Request::builder()
            .uri(uri)
            .header("x-filler", "h".repeat(header))
            .body(())
            .expect("a request")
    }

    #[test]
    fn heads_over_the_limits_are_refused_with_their_status() {
        assert!(head_refusal(&request("/health", 10)).is_none());
        let long = format!("/health?q={}", "a".repeat(MAX_URI_BYTES));
        let refusal = head_refusal(&request(&long, 10)).expect("refused");
        assert_eq!(
            (refusal.status, &*refusal.error_type),
            (414, "uri_too_long")
        );
        let refusal = head_refusal(&request("/health", MAX_HEADER_BYTES)).expect("refused");
        assert_eq!(
            (refusal.status, &*refusal.error_type),
            (431, "request_header_fields_too_large")
        );
    }
}
