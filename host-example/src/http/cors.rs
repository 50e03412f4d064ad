//! Cross-origin requests: the core's [`CorsPolicy`] as the service in front of the whole router
//! ([`Cors`], what each connection is served by). A preflight is answered here (200 with the
//! headers, or 403 for a refused origin); any other request is served, with the headers added
//! for an allowed origin. A request without an `Origin` (every API client but a browser) goes
//! straight to the router: no work and no allocation is added to it (a route layer would box
//! every request once more).

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    body::Body,
    http::{HeaderName, HeaderValue, Request, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::future::{BoxFuture, Either, FutureExt};
use keyward_host_core::cors::{CorsAnswer, CorsPolicy, refused_preflight};

use crate::http::error::ApiError;

/// The router (or any service) behind the CORS rules.
#[derive(Clone, Debug)]
pub struct Cors<S> {
    inner: S,
    policy: Arc<CorsPolicy>,
}

impl<S> Cors<S> {
    /// `inner` behind `policy`.
    pub fn new(inner: S, policy: Arc<CorsPolicy>) -> Self {
        Self { inner, policy }
    }
}

fn with_headers(mut response: Response, headers: Vec<(&'static str, String)>) -> Response {
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
    response
}

impl<S> tower_service::Service<Request<Body>> for Cors<S>
where
    S: tower_service::Service<Request<Body>, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let answer = {
            let headers = request.headers();
            let text = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
            self.policy.answer(
                request.method().as_str(),
                text(header::ORIGIN),
                text(header::ACCESS_CONTROL_REQUEST_METHOD),
                text(header::ACCESS_CONTROL_REQUEST_HEADERS),
            )
        };
        match answer {
            CorsAnswer::NotCors | CorsAnswer::Refused => Either::Left(self.inner.call(request)),
            CorsAnswer::RefusedPreflight => {
                let refused = ApiError::from(refused_preflight()).into_response();
                Either::Right(std::future::ready(Ok(refused)).boxed())
            }
            CorsAnswer::Allowed {
                preflight: true,
                headers,
            } => {
                let answer = with_headers(StatusCode::OK.into_response(), headers);
                Either::Right(std::future::ready(Ok(answer)).boxed())
            }
            CorsAnswer::Allowed {
                preflight: false,
                headers,
            } => {
                let served = self.inner.call(request);
                Either::Right(async move { Ok(with_headers(served.await?, headers)) }.boxed())
            }
        }
    }
}
