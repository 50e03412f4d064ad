//! What a host can decide from a request's headers alone, before it reads the body: whether
//! the virtual key is missing (where one is required), unknown or inactive. Hosts ask it first,
//! so a request with no usable key is refused without its body ever being read or parsed (an
//! unauthenticated client cannot make the gateway hold large bodies).

use keyward_plugin_api::{
    abi_stable::std_types::{ROption, RSlice, RStr},
    ffi::{AuthorizeRequest, ErrorCode, Header, KeywardError, RequestKind, UsageEstimate},
};

use crate::{
    error::{ExtraFields, GatewayError},
    request::kind_name,
    roles::{Roles, call_with_retry},
    session::RequestIds,
};

/// Whether an authorizer's refusal is about the caller's key itself (or the authorizer failing
/// closed), rather than about a provider or model.
pub fn is_about_the_key(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::VIRTUAL_KEY_REQUIRED
            | ErrorCode::VIRTUAL_KEY_NOT_FOUND
            | ErrorCode::VIRTUAL_KEY_BLOCKED
            | ErrorCode::PLUGIN_PANICKED
            | ErrorCode::PLUGIN_POISONED
    )
}

/// The authorizer's question: who (`headers`) asks for `provider` / `model`, of this size.
pub(crate) fn authorize_request<'a>(
    request_id: u64,
    headers: &'a [Header<'a>],
    provider: Option<&'a str>,
    model: &'a str,
    kind: RequestKind,
    estimate: UsageEstimate,
) -> AuthorizeRequest<'a> {
    AuthorizeRequest {
        extensions: Default::default(),
        request_id,
        headers: RSlice::from_slice(headers),
        provider: match provider {
            Some(p) => ROption::RSome(RStr::from_str(p)),
            None => ROption::RNone,
        },
        model: RStr::from_str(model),
        kind,
        estimate,
    }
}

/// Asks the authorizer about `provider` / `model` for the caller presenting `headers`.
pub(crate) fn authorize_probe(
    roles: &Roles,
    ids: &RequestIds,
    headers: &[Header<'_>],
    provider: Option<&str>,
    model: &str,
    kind: RequestKind,
) -> Result<(), KeywardError> {
    let request = authorize_request(
        ids.next(),
        headers,
        provider,
        model,
        kind,
        UsageEstimate::default(),
    );
    call_with_retry(&roles.authorizer, |a| a.authorize(&request).map(|_| ()))
}

/// Refuses, from the headers alone, a request whose virtual key is missing (where required),
/// unknown or inactive; anything else is decided once the body is read.
pub fn check_key(
    roles: &Roles,
    ids: &RequestIds,
    headers: &[Header<'_>],
    kind: RequestKind,
) -> Result<(), GatewayError> {
    match authorize_probe(roles, ids, headers, None, "", kind) {
        // The body is not read yet: the context is the route alone.
        Err(error) if is_about_the_key(error.code) => {
            Err(
                GatewayError::from_plugin("authorization", error).with_extra(ExtraFields {
                    request_type: Some(kind_name(kind).to_owned()),
                    ..ExtraFields::default()
                }),
            )
        }
        _ => Ok(()),
    }
}
