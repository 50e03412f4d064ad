//! The body of a streamed answer: passes the upstream's server-sent events through unchanged,
//! watches them for the final `usage`, and settles when the stream ends — or, when the client
//! goes away first (the body is dropped), settles what was delivered.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use axum::body::Body;
use bytes::Bytes;
use futures_util::Stream;
use hyper::body::Body as _;
use hyper::body::Incoming;

use super::{settle::Settlement, usage::StreamUsage};
use keyward_host_core::request::BYTES_PER_ESTIMATED_TOKEN;

/// The upstream body, watched.
struct Watched {
    upstream: Incoming,
    scanner: StreamUsage,
    settlement: Option<Settlement>,
}

impl Stream for Watched {
    type Item = Result<Bytes, hyper::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match Pin::new(&mut self.upstream).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    if let Some(settlement) = self.settlement.take() {
                        settlement.settle(self.scanner.usage());
                    }
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(error))) => {
                    self.finish_early();
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.scanner.feed(&data);
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
            }
        }
    }
}

impl Watched {
    fn finish_early(&mut self) {
        if let Some(settlement) = self.settlement.take() {
            let delivered = self.scanner.data_bytes.div_ceil(BYTES_PER_ESTIMATED_TOKEN);
            settlement.settle_partial(self.scanner.usage(), delivered);
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.finish_early();
    }
}

/// A response body streaming `upstream` and settling `settlement` when it ends or is dropped.
pub fn watched_body(upstream: Incoming, settlement: Settlement) -> Body {
    Body::from_stream(Watched {
        upstream,
        scanner: StreamUsage::default(),
        settlement: Some(settlement),
    })
}
