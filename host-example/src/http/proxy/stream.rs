//! The body of a streamed answer: passes the upstream's server-sent events through unchanged,
//! feeds them to the session's usage meter, and finishes the session when the stream ends — or,
//! when the client goes away or the upstream breaks first, with what was delivered so far (the
//! core's charging rule decides what that costs).

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use axum::body::Body;
use bytes::Bytes;
use futures_util::Stream;
use hyper::body::Body as _;
use hyper::body::Incoming;
use keyward_host_core::{session::Session, usage::UsageMeter};

use super::log_outcome;

/// The upstream body, metered.
struct Metered {
    upstream: Incoming,
    open: Option<(Session, UsageMeter)>,
    status: u16,
}

impl Stream for Metered {
    type Item = Result<Bytes, hyper::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match Pin::new(&mut self.upstream).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.finish();
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(error))) => {
                    self.finish();
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if let Some((_, meter)) = self.open.as_mut() {
                            meter.feed(&data);
                        }
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
            }
        }
    }
}

impl Metered {
    fn finish(&mut self) {
        if let Some((session, meter)) = self.open.take() {
            log_outcome(session.finish(self.status, meter.finish()));
        }
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        // The client went away mid-stream: what was delivered is charged.
        self.finish();
    }
}

/// A response body streaming `upstream`, metered, finishing `session` when it ends or is
/// dropped.
pub fn metered_body(upstream: Incoming, session: Session, meter: UsageMeter, status: u16) -> Body {
    Body::from_stream(Metered {
        upstream,
        open: Some((session, meter)),
        status,
    })
}
