//! The body of a streamed answer: passes the upstream's server-sent events through unchanged
//! (but for the gateway's own usage event, when the caller did not ask for it:
//! [`UsageEventStrip`]), feeds them to the session's usage meter, and finishes the session when
//! the stream ends — or,
//! when the client goes away, the upstream breaks, or no byte comes for the provider's
//! `stream_idle_timeout_in_seconds`, with what was delivered so far (the core's charging rule
//! decides what that costs). An idle stream is cut with an error, so the client sees it end
//! early rather than hang.

use std::{
    borrow::Cow,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::body::Body;
use bytes::Bytes;
use futures_util::Stream;
use hyper::body::Body as _;
use hyper::body::Incoming;
use keyward_host_core::{
    session::Session,
    usage::{UsageEventStrip, UsageMeter},
};
use tokio::time::{Instant, Sleep};

use super::Relaying;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The upstream body, metered.
struct Metered {
    upstream: Incoming,
    relaying: Relaying,
    /// Set when the usage event is the gateway's own.
    strip: Option<UsageEventStrip>,
    idle_timeout: Duration,
    idle: Pin<Box<Sleep>>,
}

impl Stream for Metered {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match Pin::new(&mut self.upstream).poll_frame(cx) {
                Poll::Pending => {
                    if self.idle.as_mut().poll(cx).is_ready() {
                        tracing::warn!(
                            idle_secs = self.idle_timeout.as_secs(),
                            "upstream stream idle past stream_idle_timeout_in_seconds; cut"
                        );
                        self.relaying.finish();
                        let cut = std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the upstream stream went idle",
                        );
                        return Poll::Ready(Some(Err(Box::new(cut))));
                    }
                    return Poll::Pending;
                }
                Poll::Ready(None) => {
                    self.relaying.finish();
                    let rest = self.strip.as_mut().map(UsageEventStrip::finish);
                    return match rest {
                        Some(rest) if !rest.is_empty() => Poll::Ready(Some(Ok(Bytes::from(rest)))),
                        _ => Poll::Ready(None),
                    };
                }
                Poll::Ready(Some(Err(error))) => {
                    self.relaying.finish();
                    return Poll::Ready(Some(Err(Box::new(error))));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        let next = Instant::now() + self.idle_timeout;
                        self.idle.as_mut().reset(next);
                        self.relaying.feed(&data);
                        let Some(strip) = self.strip.as_mut() else {
                            return Poll::Ready(Some(Ok(data)));
                        };
                        match strip.pass(&data) {
                            Cow::Borrowed(_) => return Poll::Ready(Some(Ok(data))),
                            Cow::Owned(kept) if !kept.is_empty() => {
                                return Poll::Ready(Some(Ok(Bytes::from(kept))));
                            }
                            // Everything held back or dropped: wait for more.
                            Cow::Owned(_) => {}
                        }
                    }
                }
            }
        }
    }
}

/// A response body streaming `upstream`, metered, finishing `session` when it ends, is cut
/// after `idle_timeout` without a byte, or is dropped.
pub fn metered_body(
    upstream: Incoming,
    session: Session,
    meter: UsageMeter,
    status: u16,
    idle_timeout: Duration,
) -> Body {
    let strip = session
        .request()
        .strips_usage_event()
        .then(UsageEventStrip::default);
    Body::from_stream(Metered {
        upstream,
        strip,
        // Dropped with the body (the client left): what was delivered is charged.
        relaying: Relaying::new(session, meter, status),
        idle_timeout,
        idle: Box::pin(tokio::time::sleep(idle_timeout)),
    })
}
