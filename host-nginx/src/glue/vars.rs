//! The variables the gate sets, for `proxy_pass`, `proxy_set_header` and `log_format`:
//!
//! | variable | value |
//! | --- | --- |
//! | `$keyward_base_url` | the chosen provider's upstream base URL (`providers.<p>.network_config.base_url`) |
//! | `$keyward_key` | the chosen provider key's value (the secret: use it only in `proxy_set_header`) |
//! | `$keyward_key_id` | the chosen key's id |
//! | `$keyward_provider` | the provider |
//! | `$keyward_model` | the model id sent upstream (alias resolved, provider prefix removed) |
//! | `$keyward_virtual_key` | the admitted virtual key's id |
//! | `$keyward_decision` | `admit`, `would_deny:<type>` (shadow mode) or `deny:<type>` |
//! | `$keyward_request_id` | the id used for reserve/settle/release |
//! | `$keyward_upstream_url` | the full upstream URL of the attempt (provider adapters applied: Azure's deployment path and `api-version`, a self-hosted key's URL) |
//! | `$keyward_allocations` | with the test-only `count-allocations` feature: the module's heap allocations so far in this worker |
//! | `$keyward_charge` | what was charged, once the answer ended: `settle:<input>/<cached>/<output>` or `release` (for `log_format`) |
//! | `$keyward_routing_rule` | the id of the routing rule that chose the provider and model (not found when none did) |

use ngx::{
    ffi::{
        NGX_ERROR, NGX_HTTP_VAR_NOCACHEABLE, NGX_OK, ngx_conf_t, ngx_http_add_variable,
        ngx_http_request_t, ngx_int_t, ngx_str_t, ngx_uint_t, ngx_variable_value_t,
    },
    ngx_string,
};

use super::{
    ctx::{Outcome, ctx_mut},
    guard,
};

const NAMES: [ngx_str_t; 12] = [
    ngx_string!("keyward_base_url"),
    ngx_string!("keyward_key"),
    ngx_string!("keyward_key_id"),
    ngx_string!("keyward_provider"),
    ngx_string!("keyward_model"),
    ngx_string!("keyward_virtual_key"),
    ngx_string!("keyward_decision"),
    ngx_string!("keyward_request_id"),
    ngx_string!("keyward_upstream_url"),
    ngx_string!("keyward_charge"),
    ngx_string!("keyward_allocations"),
    ngx_string!("keyward_routing_rule"),
];

/// Declares the variables (preconfiguration).
pub unsafe extern "C" fn add_variables(cf: *mut ngx_conf_t) -> ngx_int_t {
    for (index, name) in NAMES.iter().enumerate() {
        let mut name = *name;
        // SAFETY: `cf` is live; nginx copies the name and returns the variable (or NULL).
        unsafe {
            let var = ngx_http_add_variable(cf, &mut name, NGX_HTTP_VAR_NOCACHEABLE as ngx_uint_t);
            if var.is_null() {
                return NGX_ERROR as ngx_int_t;
            }
            (*var).get_handler = Some(get_variable);
            (*var).data = index;
        }
    }
    NGX_OK as ngx_int_t
}

unsafe extern "C" fn get_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    data: usize,
) -> ngx_int_t {
    guard(NGX_ERROR as ngx_int_t, || {
        // SAFETY: nginx passes a live request and value; the returned bytes live in the request
        // context, which lives as long as the request pool.
        unsafe {
            #[cfg_attr(not(feature = "count-allocations"), allow(unused_mut))]
            let mut ctx = ctx_mut((*r).main);
            #[cfg(feature = "count-allocations")]
            // Read once per request (at the access log): the value must stay where the
            // first evaluation pointed.
            if data == 10
                && let Some(ctx) = ctx.as_deref_mut()
                && ctx.allocations.is_empty()
            {
                ctx.allocations = crate::allocations::count().to_string();
            }
            let value: Option<&str> = ctx.and_then(|ctx| {
                let admitted = match &ctx.outcome {
                    Outcome::Admitted(admitted) => Some(&**admitted),
                    _ => None,
                };
                match data {
                    0 => admitted.map(|a| a.base_url.as_str()),
                    1 => admitted.map(|a| a.key_value.as_str()),
                    2 => admitted.map(|a| a.key_id.as_str()),
                    3 => admitted.map(|a| a.provider.as_str()),
                    4 => admitted.map(|a| a.provider_model.as_str()),
                    5 => admitted.map(|a| a.virtual_key_id.as_str()),
                    6 => Some(ctx.decision.as_str()).filter(|d| !d.is_empty()),
                    7 => admitted.map(|a| a.request_id.as_str()),
                    8 => admitted.map(|a| a.upstream_url.as_str()),
                    9 => Some(ctx.charge.as_str()).filter(|c| !c.is_empty()),
                    10 => Some(ctx.allocations.as_str()).filter(|c| !c.is_empty()),
                    11 => admitted
                        .map(|a| a.routing_rule.as_str())
                        .filter(|r| !r.is_empty()),
                    _ => None,
                }
            });
            match value {
                Some(value) => {
                    (*v).set_valid(1);
                    (*v).set_no_cacheable(1);
                    (*v).set_not_found(0);
                    (*v).set_len(value.len() as u32);
                    (*v).data = value.as_ptr() as *mut u8;
                }
                None => {
                    (*v).set_not_found(1);
                }
            }
        }
        NGX_OK as ngx_int_t
    })
}
