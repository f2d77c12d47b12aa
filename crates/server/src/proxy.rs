//! The gateway plane: every request under `/v1/{account}/{gateway}/...` runs this pipeline.
//!
//! Stages, in order (each either passes the request on or answers it):
//!
//! 1. **route**: split the path into account, gateway, provider and the rest; ids must be
//!    1–64 of `[A-Za-z0-9_-]` (400/2000), the provider must be in the catalog (400/2008).
//!    The `cf-aig-*` headers are parsed here ([`crate::directives`]; a bad value is 400/2000
//!    naming the header).
//! 2. **gateway**: resolve the gateway's settings ([`crate::gateways`]; 400/2001 when unknown
//!    and auto-creation is off).
//!    A gateway with `authentication` refuses a caller without a valid credential here
//!    (401/2009; a universal request's steps are checked as they are read in stage 4), so
//!    that nobody without access makes the gateway read or parse a body.
//! 3. **body**: read the body once into `Bytes`, refusing more than `max_body_bytes` (413)
//!    before reading it whole when `Content-Length` says so, and a body that stops arriving
//!    for `client_timeout_ms` (408).
//! 4. **shape**: build the upstream calls ([`crate::shape`], [`crate::universal`]): URL from
//!    the catalog with the safe join (400/2000), headers minus hop-by-hop and `cf-aig-*`;
//!    `/compat` rewrites `model` in the body bytes.
//! 5. **authenticate**: `cf-aig-authorization` when the gateway requires it (401/2009), and
//!    every gateway token taken out of provider key headers ([`crate::auth`]).
//! 6. **stored keys**: a call without a provider credential gets the stored key
//!    ([`crate::byok`]; 400/2040 for an unknown alias).
//! 7. **cache**: a cached answer to the (first) call is served as a hit ([`crate::cache`]).
//! 8. **rate limit**: the gateway's limit, counted for every request not served from the
//!    cache (429/2003).
//! 9. **send**: each call in order (universal steps; a later step whose answer is cached is
//!    served from the cache when its turn comes), each up to its attempt budget, with the
//!    timeout for the response headers; network errors, timeouts, 429 and 5xx move on to the
//!    next attempt or step. Every attempt but the answering one is logged as it ends.
//! 10. **relay**: status and headers at once (with `cf-aig-log-id`, `cf-aig-request-id`,
//!     `cf-aig-event-id`, `cf-aig-step`), then the body frame by frame ([`crate::relay`]).
//! 11. **log**: when the body ends, fails or the client goes away, the exchange goes to the
//!     log queue ([`crate::logpipe`]): usage, cost and the record are worked out there, off
//!     the response path. Refusals the gateway gives itself once the caller has passed stage 5
//!     (an unknown stored-key alias, the rate limit) are logged the same way; earlier ones
//!     (bad input, failed authentication) only count in the metrics, so that nobody without
//!     access can write to the log. Nothing reaches a provider for a request refused before
//!     stage 9.

use crate::app::App;
use crate::auth;
use crate::byok;
use crate::cache;
use crate::directives::{AttemptHeaders, Directives};
use crate::error::ApiError;
use crate::exchange::{Completed, Draft, Exchange, Outcome, Shared};
use crate::forward;
use crate::relay::{Capture, Relay};
use crate::shape::{self, Call};
use crate::universal;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Body as _;
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::Duration;
use switchyard_core::{AccountId, Backoff, ErrorKind, GatewayError, GatewayId, GatewaySettings};
use switchyard_providers::translate::{self, StreamTranslator};
use switchyard_store::cache::CachedResponse;
use switchyard_store::logs::LogCap;
use switchyard_store::ratelimit::Decision;

/// The parts of a gateway-plane path.
#[derive(Debug, PartialEq, Eq)]
struct Route<'a> {
    account: &'a str,
    gateway: &'a str,
    /// `None` for the universal endpoint (`/v1/{account}/{gateway}`).
    provider: Option<&'a str>,
    /// Everything after `{provider}/`, as sent (still percent-encoded).
    rest: &'a str,
}

fn next_segment(s: &str) -> (&str, Option<&str>) {
    match s.split_once('/') {
        Some((head, tail)) => (head, Some(tail)),
        None => (s, None),
    }
}

fn parse_route(path: &str) -> Result<Route<'_>, GatewayError> {
    let tail = match path.strip_prefix("/v1/") {
        Some(tail) => tail,
        None if path == "/v1" => "",
        None => return Err(GatewayError::new(ErrorKind::NotFound, "no such route")),
    };
    let (account, tail) = next_segment(tail);
    let tail = tail.unwrap_or("");
    let (gateway, tail) = next_segment(tail);
    AccountId::validate(account).map_err(|e| GatewayError::bad_request(e.to_string()))?;
    GatewayId::validate(gateway).map_err(|e| GatewayError::bad_request(e.to_string()))?;
    let Some(tail) = tail.filter(|t| !t.is_empty()) else {
        return Ok(Route {
            account,
            gateway,
            provider: None,
            rest: "",
        });
    };
    let (provider, rest) = next_segment(tail);
    Ok(Route {
        account,
        gateway,
        provider: Some(provider),
        rest: rest.unwrap_or(""),
    })
}

/// `s` with every character outside ASCII percent-encoded (as UTF-8), as a browser or curl
/// sends such a URL: HTTP's request line has no room for them, and a provider given them raw
/// may read them any way it likes. Borrowed when there is none (nearly always).
fn ascii_only(s: &str) -> std::borrow::Cow<'_, str> {
    if s.is_ascii() {
        return std::borrow::Cow::Borrowed(s);
    }
    percent_encoding::utf8_percent_encode(s, &percent_encoding::AsciiSet::EMPTY).into()
}

/// Entry point for `ANY /v1/*`.
pub async fn handle(State(app): State<App>, req: Request) -> Response {
    app.spinner().touch();
    let mut held = Held {
        slot: Some(Box::new(Exchange::new(
            req.method().clone(),
            req.uri().path(),
        ))),
        queue: app.log_queue(),
    };
    // Echoed on a refusal that comes before the directives are read (SPEC 2.5).
    let event_id = req
        .headers()
        .get(switchyard_core::headers::EVENT_ID)
        .filter(|v| !v.is_empty() && v.len() <= crate::directives::MAX_EVENT_ID)
        .cloned();
    // Waiting for the log writer (overload only) counts in the request's duration.
    app.log_queue().admit().await;
    let mut step = None;
    let (parts, body) = req.into_parts();
    // The body until stage 3 takes it: a refusal before then leaves it unread.
    let mut unread = Some(body);
    // The pipeline's state lives in one allocation, instead of being moved through every
    // layer of the router's futures.
    let result = Box::pin(run(&app, &parts, &mut unread, &mut held.slot, &mut step)).await;
    app.spinner().touch();
    match result {
        Ok(resp) => resp,
        Err(e) => {
            if let Some(body) = unread {
                Leftover::of(&parts.headers).discard(body);
            }
            let mut x = held
                .slot
                .take()
                .unwrap_or_else(|| Box::new(Exchange::new(Method::GET, "")));
            x.status = e.error.kind.status().as_u16();
            let kind = e.error.kind;
            let (mut resp, body) = e.into_response_and_body();
            stamp_answer(resp.headers_mut(), &x, step);
            if x.cache_put.is_some() {
                // The cache was looked up and missed (SPEC 2.5: whenever caching applied).
                resp.headers_mut().insert(
                    switchyard_core::headers::CACHE_STATUS,
                    HeaderValue::from_static("MISS"),
                );
            }
            if x.draft.is_some() {
                x.keep_response_headers(resp.headers());
            } else if let Some(ev) = event_id {
                resp.headers_mut()
                    .insert(switchyard_core::headers::EVENT_ID, ev);
            }
            let mut capture = Capture::default();
            capture.push(&body);
            app.log_queue()
                .submit(Completed::new(x, capture, Outcome::Refused(kind)));
            resp
        }
    }
}

/// The status recorded for a request whose client went away before the provider's answer
/// began (nginx's "client closed request"; the record also says `cancelled`).
pub const CLIENT_CLOSED: u16 = 499;

/// The status recorded instead for a request the gateway itself ended at the end of its
/// shutdown grace period, before the provider's answer began.
pub const SHUT_DOWN: u16 = 503;

/// The exchange of a request not yet answered. When the request is dropped with it still
/// held (the client went away while the provider was being called, while its rate limit
/// was checked, or in the pause before a retry; or the shutdown's grace period ended), the
/// attempt is logged as cancelled: a call that reached a provider, and may be billed, does
/// not vanish from the log, nor does the request that ended because its client left.
struct Held<'a> {
    slot: Option<Box<Exchange>>,
    queue: &'a crate::logpipe::LogQueue,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let Some(mut x) = self.slot.take() else {
            return;
        };
        // Without a draft no call was under way (refused before the provider was known).
        if x.draft.is_some() {
            if x.status == 0 {
                x.status = if self.queue.cut_by_shutdown() {
                    SHUT_DOWN
                } else {
                    CLIENT_CLOSED
                };
            }
            self.queue
                .submit(Completed::new(x, Capture::default(), Outcome::Cancelled));
        }
    }
}

/// `cf-aig-log-id`, `cf-aig-request-id`, `cf-aig-event-id` (and `cf-aig-step` for universal
/// requests) on every answer (SPEC 2.5), with `Content-Security-Policy: sandbox` and
/// `X-Content-Type-Options: nosniff`. A single-step request's request id is its log id,
/// retried or not; a universal request's is its first attempt's log id, the same whichever
/// step answers.
pub(crate) fn stamp_answer(headers: &mut HeaderMap, x: &Exchange, step: Option<u32>) {
    // Answers are served on the dashboard's origin: a browser that opens one as a page (an
    // HTML error page, or a hostile upstream's) must not run it with that origin's rights. A
    // provider's own policy stays (policies add up); API clients ignore both headers.
    headers.append(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(id) = HeaderValue::from_str(&x.log_id) {
        if step.is_none() {
            headers.insert(switchyard_core::headers::REQUEST_ID, id.clone());
        }
        headers.insert(switchyard_core::headers::LOG_ID, id);
    }
    if step.is_some() {
        if let Ok(id) = HeaderValue::from_str(&x.request_id) {
            headers.insert(switchyard_core::headers::REQUEST_ID, id);
        }
    }
    if let Ok(ev) = HeaderValue::from_str(x.event_id()) {
        headers.insert(switchyard_core::headers::EVENT_ID, ev);
    }
    if let Some(step) = step {
        headers.insert(switchyard_core::headers::STEP, HeaderValue::from(step));
    }
}

/// Attempt budget and pacing of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_attempts: u32,
    pub delay: Duration,
    pub backoff: Backoff,
    pub timeout: Duration,
}

impl Policy {
    /// Step headers and config > request headers > gateway settings > defaults.
    pub fn resolve(
        step: AttemptHeaders,
        request: AttemptHeaders,
        gateway: &GatewaySettings,
        default_timeout: Duration,
    ) -> Self {
        let a = step.or(request);
        Policy {
            max_attempts: a
                .max_attempts
                .unwrap_or(gateway.retry_max_attempts)
                .clamp(1, 5),
            delay: a
                .retry_delay
                .unwrap_or(Duration::from_millis(gateway.retry_delay)),
            backoff: a.backoff.unwrap_or(gateway.retry_backoff),
            timeout: a.request_timeout.unwrap_or(default_timeout),
        }
    }

    /// The pause before attempt `n` (2, 3, ...).
    pub fn delay_before(&self, n: u32) -> Duration {
        let k = n.saturating_sub(1).max(1);
        match self.backoff {
            Backoff::Constant => self.delay,
            Backoff::Linear => self.delay * k,
            Backoff::Exponential => self.delay * 2u32.saturating_pow(k - 1),
        }
    }
}

/// The longest a provider's `Retry-After` makes a retry wait (the longest retry delay a
/// client may set, too).
const MAX_ASKED_WAIT: Duration = Duration::from_secs(5);

/// The wait a retryable answer asks for: `retry-after-ms` (Azure OpenAI), else `retry-after`
/// in seconds or as an HTTP date, at most [`MAX_ASKED_WAIT`].
fn asked_wait(headers: &HeaderMap) -> Duration {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let number = |name: &str| {
        text(name)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    let wait = match number("retry-after-ms") {
        Some(ms) => ms / 1000.0,
        None => number("retry-after")
            .or_else(|| {
                let until = httpdate::parse_http_date(text("retry-after")?).ok()?;
                let left = until.duration_since(std::time::SystemTime::now());
                Some(left.map_or(0.0, |d| d.as_secs_f64()))
            })
            .unwrap_or(0.0),
    };
    Duration::from_secs_f64(wait.min(MAX_ASKED_WAIT.as_secs_f64()))
}

/// How long the body of an answer that is retried is read for its log record.
const DISCARDED_BODY_WAIT: Duration = Duration::from_secs(2);
/// How much of it is kept.
const DISCARDED_BODY_MAX: usize = 1 << 20;

/// What arrives of a retried answer's body within [`DISCARDED_BODY_WAIT`] (or the attempt's
/// timeout, when shorter), up to [`DISCARDED_BODY_MAX`], for its log record.
async fn retried_body(mut incoming: Incoming, timeout: Duration, x: &mut Exchange) -> Capture {
    let mut capture = Capture::default();
    let deadline = tokio::time::Instant::now() + timeout.min(DISCARDED_BODY_WAIT);
    let mut kept = 0;
    while kept < DISCARDED_BODY_MAX {
        let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, incoming.frame()).await else {
            break;
        };
        if let Ok(data) = frame.into_data() {
            if kept == 0 && !data.is_empty() {
                x.first_byte();
            }
            let take = data.len().min(DISCARDED_BODY_MAX - kept);
            capture.push(&data.slice(..take));
            kept += take;
        }
    }
    capture
}

/// Whether an answer with this status is worth another attempt.
fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

async fn run(
    app: &App,
    parts: &http::request::Parts,
    unread: &mut Option<Body>,
    slot: &mut Option<Box<Exchange>>,
    step_out: &mut Option<u32>,
) -> Result<Response, ApiError> {
    // An HTTP/1 absolute-form target (`GET http://host/...`) asks for a forward proxy, which
    // this is not. (HTTP/2 always carries scheme and authority, so only HTTP/1 is checked.)
    if parts.version < http::Version::HTTP_2 && parts.uri.scheme().is_some() {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            "absolute-form request targets are not accepted",
        ));
    }
    // CONNECT asks for a tunnel and TRACE for an echo of the request (credentials included):
    // neither is an API call, and neither goes upstream.
    if parts.method == Method::CONNECT || parts.method == Method::TRACE {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!("{} requests are not forwarded", parts.method),
        ));
    }

    // Stage 1: route.
    let route = parse_route(parts.uri.path())?;
    let target = match route.provider {
        None => Target::Universal,
        Some("compat") => Target::Compat(route.rest),
        Some(slug) => {
            let p = crate::custom::provider(app, route.account, slug)
                .await?
                .ok_or_else(|| {
                    GatewayError::new(
                        ErrorKind::UnknownProvider,
                        format!("unknown provider '{slug}'"),
                    )
                })?;
            // The form of the provider the path names (Bedrock's `bedrock-mantle/...`).
            let p = p.form(route.rest).cloned().unwrap_or(p);
            // Refuse an unsafe path before anything else happens. A provider with a target
            // header (Fal's `x-fal-target-url`) may be given the whole URL there instead.
            let uri = shape::upstream_uri(
                &p,
                route.account,
                &ascii_only(route.rest),
                parts.uri.query().map(ascii_only).as_deref(),
                &parts.headers,
            )
            .map_err(|e| GatewayError::bad_request(e.to_string()))?;
            Target::Provider(p, uri)
        }
    };
    // The universal endpoint and `/compat` run a call of their own making, always a POST:
    // another method must not start one (a HEAD would even wait for a body never sent).
    if parts.method != Method::POST {
        let refused = match target {
            Target::Universal => {
                Some("the universal endpoint takes POST with a JSON array of steps")
            }
            Target::Compat(_) => Some("the unified endpoint takes POST"),
            Target::Provider(..) => None,
        };
        if let Some(why) = refused {
            return Err(ApiError::new(ErrorKind::MethodNotAllowed, why));
        }
    }
    let directives = Directives::parse(&parts.headers)?;

    // Stage 2: gateway.
    let gateway = app.gateways().resolve(route.account, route.gateway).await?;
    if let Some(x) = slot.as_mut() {
        // For the metrics of a request refused from here on.
        x.gateway = Some(gateway.clone());
        if let Target::Provider(p, _) = &target {
            x.provider = Some(p.clone());
        }
    }

    // A caller without access is refused before its body is read and shaped (a universal
    // request's steps carry their own tokens: they are checked step by step as they are
    // read, before any is shaped).
    if !matches!(target, Target::Universal) {
        auth::admits(
            app,
            &gateway,
            directives.gateway_token.as_deref(),
            &parts.headers,
        )
        .await?;
    }

    // Stage 3: body.
    let body = read_body(
        unread.take().unwrap_or_default(),
        &parts.headers,
        app.config().max_body_bytes,
        app.config().client_timeout,
    )
    .await?;

    // Stage 4: shape.
    let mut calls = match target {
        Target::Provider(provider, uri) => {
            let mut headers = forward::request_headers(&parts.headers);
            shape::drop_target_header(&provider, &mut headers);
            vec![shape::passthrough_to(
                &provider,
                uri,
                parts.method.clone(),
                headers,
                body.clone(),
            )]
        }
        Target::Compat(endpoint) => vec![
            shape::compat(
                app,
                route.account,
                endpoint,
                forward::request_headers(&parts.headers),
                &body,
            )
            .await?,
        ],
        Target::Universal => {
            universal::calls(app, &gateway, &parts.headers, &directives, &body).await?
        }
    };

    // Stage 5: authenticate.
    auth::authenticate(
        app,
        &gateway,
        directives.gateway_token.as_deref(),
        &mut calls,
    )
    .await?;

    let text_header = |name: http::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    // What every attempt's record shares; a universal step with its own directives gets its
    // own copy.
    let shared_with = |directives: Directives| {
        let collect = directives.collect_log.unwrap_or(gateway.collect_logs);
        Arc::new(Shared {
            account_id: gateway.account_id.clone(),
            gateway_id: gateway.id.clone(),
            collect,
            cap: gateway.log_management.map(|max_rows| LogCap {
                max_rows,
                strategy: gateway.log_management_strategy,
            }),
            directives,
            request_content_type: text_header(http::header::CONTENT_TYPE),
            user_agent: text_header(http::header::USER_AGENT),
            request_headers_json: collect.then(|| {
                // HTTP/2 names the host in `:authority`, not in a header: stored as `host`,
                // as an HTTP/1.1 request's is.
                let host = parts
                    .uri
                    .authority()
                    .filter(|_| !parts.headers.contains_key(http::header::HOST));
                crate::logpipe::redacted_headers_json(&parts.headers, host.map(|a| a.as_str()))
            }),
        })
    };
    let shared = shared_with(directives);
    let directives = &shared.directives;
    // A call's: a universal step with its own directives has its own.
    let shared_of = |c: &Call| match c.directives.clone() {
        Some(own) => shared_with(own),
        None => shared.clone(),
    };
    // From here on a refusal (stored key alias, rate limit) is logged like an answer, under
    // the call it concerns (the first, for the rate limit): the caller is known to be allowed
    // to use the gateway. (An unauthenticated request is not: it must not be able to fill
    // the log.)
    let mut refuse_as = |call: &Call, slot: &mut Option<Box<Exchange>>| {
        if let Some(x) = slot.as_mut() {
            x.provider = Some(call.provider.clone());
            x.draft = Some(draft(&shared_of(call), call, &body));
        }
        *step_out = call.step;
    };
    if let Some(call) = calls.first() {
        refuse_as(call, slot);
    }

    // Stage 6: stored keys.
    for call in &mut calls {
        let alias = call
            .directives
            .as_ref()
            .unwrap_or(directives)
            .byok_alias
            .clone();
        if let Err(e) = byok::apply(app, &gateway, alias.as_deref(), call).await {
            refuse_as(call, slot);
            return Err(e);
        }
        shape::provider_headers(call);
    }

    // Stage 7: cache. A universal request looks up its first step here, and every later
    // step just before it is sent (a fallback whose answer is cached is served from the cache).
    let plan_of = |call: &Call| {
        cache::plan(
            call.directives.as_ref().unwrap_or(directives),
            &gateway,
            &cache::Keyed {
                provider: &call.provider.slug,
                method: &call.method,
                target: &call.uri,
                headers: &call.headers,
                step: call.step,
                body: &call.body,
            },
        )
    };
    let mut first_plan = calls.first().and_then(plan_of);
    let hit = lookup(app, first_plan.as_ref()).await;
    if let (None, Some(p), Some(x)) = (&hit, &first_plan, slot.as_mut()) {
        // A miss: what the answer (or a refusal from here on) says, and where it is stored.
        x.cache_put = Some((p.key.clone(), p.ttl));
    }

    // Stage 8: rate limit (cache hits are not counted).
    if hit.is_none() {
        rate_limit(app, &gateway).await?;
    }

    let request_attempts = directives.attempts;

    if let Some(hit) = hit {
        let call = &calls[0];
        return serve_hit(app, slot, hit, call, &shared_of(call), &body);
    }

    // Stage 9: send, attempt by attempt, step by step.
    let steps = calls.len();
    for (i, call) in calls.into_iter().enumerate() {
        let policy = Policy::resolve(
            call.attempts,
            request_attempts,
            &gateway,
            app.config().upstream_timeout,
        );
        let last_step = i + 1 == steps;
        *step_out = call.step;
        let shared = shared_of(&call);
        let plan = if i == 0 {
            first_plan.take()
        } else {
            plan_of(&call)
        };
        if i > 0 {
            if let Some(hit) = lookup(app, plan.as_ref()).await {
                return serve_hit(app, slot, hit, &call, &shared, &body);
            }
        }
        if let Some(x) = slot.as_mut() {
            // The step's own plan: an exchange carried over from the step before has that one's.
            x.cache_put = plan.map(|p| (p.key, p.ttl));
        }
        // The wait the last retryable answer asked for (its Retry-After), if any.
        let mut asked = Duration::ZERO;
        for attempt in 1..=policy.max_attempts {
            let x = slot.get_or_insert_with(|| Box::new(Exchange::new(Method::POST, "")));
            x.provider = Some(call.provider.clone());
            // A universal request of one step is a single-step request too (SPEC 2.5): its
            // request id is the answering attempt's log id, as on a provider route.
            if steps == 1 {
                x.request_id.clone_from(&x.log_id);
            }
            // The first attempt of the first call has its draft from before stage 6; every
            // later attempt (a fresh exchange) and step gets its own, before the pause: a
            // client that leaves during the pause leaves this attempt's cancelled record.
            if x.draft.is_none() {
                x.draft = Some(draft(&shared, &call, &body));
            }
            if attempt > 1 {
                let pause = policy.delay_before(attempt).max(std::mem::take(&mut asked));
                tokio::time::sleep(pause).await;
                // Its duration and time to first token are the attempt's own, not the pause's.
                x.start_now();
            }
            let final_try = last_step && attempt == policy.max_attempts;
            let sent = app.upstream().send(call.request(), policy.timeout).await;
            match sent {
                // A call sent in parts ([`Call::more`]): the rest go before the answer is
                // judged, so that a part that fails is retried, or moves on to the next step,
                // as any failed answer is.
                Ok(resp) if !call.more.is_empty() && resp.status().is_success() => {
                    let idle = policy.timeout.max(app.config().upstream_timeout);
                    let (mut head, incoming) = resp.into_parts();
                    let joined = match read_whole(incoming, idle).await {
                        Some(first) => send_parts(app, &call, first, idle).await,
                        None => Err(unreadable_answer()),
                    };
                    match joined {
                        Ok((Some(status), part)) if !final_try && retryable(status) => {
                            x.status = status.as_u16();
                            x.keep_response_headers(&head.headers);
                            let mut capture = Capture::default();
                            capture.push(&part);
                            next_attempt(app, slot, capture, Outcome::Complete);
                        }
                        Ok((status, raw)) => {
                            if let Some(status) = status {
                                head.status = status;
                            }
                            let Some(x) = slot.take() else {
                                return Err(ApiError::new(
                                    ErrorKind::Internal,
                                    "attempt state lost",
                                ));
                            };
                            let answer = AnswerBody::Read(raw);
                            return Ok(relay(app, x, head, answer, &call, idle).await);
                        }
                        Err(e) if final_try || (last_step && !e.error.kind.retryable()) => {
                            return Err(e)
                        }
                        Err(e) => {
                            if !refused_attempt(app, slot, e) {
                                break;
                            }
                        }
                    }
                }
                Ok(resp) if final_try || !retryable(resp.status()) => {
                    let Some(x) = slot.take() else {
                        return Err(ApiError::new(ErrorKind::Internal, "attempt state lost"));
                    };
                    // A request that allows more time to its first byte allows as much
                    // silence between the body's frames.
                    let idle = policy.timeout.max(app.config().upstream_timeout);
                    let (head, incoming) = resp.into_parts();
                    let answer = AnswerBody::Live(incoming);
                    return Ok(relay(app, x, head, answer, &call, idle).await);
                }
                Ok(resp) => {
                    // A retryable answer with attempts left: log it and go on, after the
                    // wait it asks for if that is longer than the policy's.
                    let (head, incoming) = resp.into_parts();
                    asked = asked_wait(&head.headers);
                    x.status = head.status.as_u16();
                    // Kept for the record (what arrives of it in a short while: a body that
                    // trickles must not hold up the next attempt).
                    let mut capture = retried_body(incoming, policy.timeout, x).await;
                    // Google says how long to wait in the body only (`RetryInfo`).
                    if asked.is_zero() && head.status == StatusCode::TOO_MANY_REQUESTS {
                        capture.seal();
                        if let Some(secs) = translate::retry_delay(&capture.whole()) {
                            asked = Duration::from_secs_f64(secs.min(MAX_ASKED_WAIT.as_secs_f64()));
                        }
                    }
                    x.keep_response_headers(&head.headers);
                    next_attempt(app, slot, capture, Outcome::Complete);
                }
                // A failure that trying again cannot mend (the provider answered, unreadably)
                // ends this step's attempts: the last step's is the answer, an earlier step's
                // moves on to the next step.
                Err(e) if final_try || (last_step && !e.kind.retryable()) => return Err(e.into()),
                Err(e) => {
                    if !refused_attempt(app, slot, e.into()) {
                        break;
                    }
                }
            }
        }
    }
    Err(ApiError::new(ErrorKind::Internal, "no call was made"))
}

/// The cached answer under `plan`'s key, when the plan reads the cache and there is one. A
/// cache that cannot answer is a miss (counted and warned about).
async fn lookup(app: &App, plan: Option<&cache::Plan>) -> Option<CachedResponse> {
    let p = plan.filter(|p| p.read)?;
    match app.cache().get(&p.key).await {
        Ok(hit) => hit,
        Err(e) => {
            app.metrics().backend_error("cache_get");
            cache::warn_backend("cache get", &e);
            None
        }
    }
}

/// Answers `call` with a cached answer and logs it as a hit.
fn serve_hit(
    app: &App,
    slot: &mut Option<Box<Exchange>>,
    hit: CachedResponse,
    call: &Call,
    shared: &Arc<Shared>,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let gateway = &shared.gateway_id;
    let Some(mut x) = slot.take() else {
        return Err(ApiError::new(ErrorKind::Internal, "attempt state lost"));
    };
    if x.draft.is_none() {
        x.draft = Some(draft(shared, call, body));
    }
    x.provider = Some(call.provider.clone());
    x.cached = true;
    x.cache_put = None;
    x.status = hit.status;
    let (status, mut headers, out) = match call.translation {
        None => cache::replay(&hit),
        Some(t) => cache::replay_translated(&hit, t, call.model.as_deref().unwrap_or("")),
    };
    x.keep_response_headers(&headers);
    stamp_answer(&mut headers, &x, call.step);
    headers.insert(
        switchyard_core::headers::CACHE_STATUS,
        HeaderValue::from_static("HIT"),
    );
    x.first_byte();
    let mut capture = Capture::default();
    capture.push(&hit.body);
    app.metrics()
        .cache_hit(shared.account_id.as_str(), gateway.as_str());
    app.log_queue()
        .submit(Completed::new(x, capture, Outcome::CacheHit));
    let mut resp = Response::new(out);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    Ok(resp)
}

/// The record's view of the request about to be made (or refused) with `call`.
fn draft(shared: &Arc<Shared>, call: &Call, body: &Bytes) -> Draft {
    Draft {
        shared: shared.clone(),
        request_type: call.request_type,
        path: call.uri.path().to_owned(),
        requested_model: call.model.clone(),
        request_body: if call.step.is_some() {
            call.body.clone()
        } else {
            body.clone()
        },
        step: call.step,
    }
}

/// Counts the request against the gateway's limit; 429/2003 with `Retry-After` when over.
async fn rate_limit(app: &App, gateway: &GatewaySettings) -> Result<(), ApiError> {
    if gateway.rate_limiting_limit == 0 || gateway.rate_limiting_interval == 0 {
        return Ok(());
    }
    // The gateway's creation time is part of the key, as it is of the cache's: a gateway
    // deleted and created again under the same id starts with its limit unused.
    let key = format!(
        "{}/{}/{}",
        gateway.account_id, gateway.id, gateway.created_at
    );
    let decision = app
        .limiter()
        .check(
            &key,
            gateway.rate_limiting_limit,
            Duration::from_secs(gateway.rate_limiting_interval),
            gateway.rate_limiting_technique,
        )
        .await;
    let (retry_after, message) = match decision {
        Ok(Decision::Allowed) => return Ok(()),
        Ok(Decision::Limited { retry_after }) => (
            retry_after,
            format!(
                "rate limit of {} requests per {} s exceeded for this gateway",
                gateway.rate_limiting_limit, gateway.rate_limiting_interval
            ),
        ),
        Err(e) => {
            app.metrics().backend_error("rate_limit");
            cache::warn_backend("rate limit", &e);
            if app.config().rate_limit_fail_open {
                return Ok(());
            }
            (
                Duration::from_secs(1),
                "the rate limiter's shared store is unavailable and this gateway refuses \
                 requests it cannot count (rate_limit_fail_open = false)"
                    .to_owned(),
            )
        }
    };
    app.metrics()
        .rate_limited(gateway.account_id.as_str(), gateway.id.as_str());
    Err(ApiError {
        error: GatewayError::new(ErrorKind::RateLimited, message),
        retry_after: Some(retry_after.as_millis().div_ceil(1000).max(1) as u64),
        shaped: None,
    })
}

/// Logs the attempt in `slot` and puts a fresh one of the same request in its place.
fn next_attempt(app: &App, slot: &mut Option<Box<Exchange>>, capture: Capture, outcome: Outcome) {
    if let Some(x) = slot.take() {
        let next = Box::new(x.next_attempt());
        app.log_queue().submit(Completed::new(x, capture, outcome));
        *slot = Some(next);
    }
}

/// Logs an attempt that got no answer, with the gateway's verdict on it as JSON (as a last
/// attempt's error is recorded), and makes the next attempt's exchange; whether trying again
/// can help.
fn refused_attempt(app: &App, slot: &mut Option<Box<Exchange>>, e: ApiError) -> bool {
    let kind = e.error.kind;
    let (resp, body) = e.into_response_and_body();
    if let Some(x) = slot.as_mut() {
        x.status = kind.status().as_u16();
        x.keep_response_headers(resp.headers());
    }
    let mut capture = Capture::default();
    capture.push(&body);
    next_attempt(app, slot, capture, Outcome::Refused(kind));
    kind.retryable()
}

/// Largest provider answer read whole to be translated.
const TRANSLATE_CAP: usize = 64 * 1024 * 1024;

/// A provider's body read whole (at most [`TRANSLATE_CAP`], with no silence over `idle`), or
/// `None` when it could not be.
async fn read_whole(incoming: Incoming, idle: Duration) -> Option<Bytes> {
    match tokio::time::timeout(idle, Limited::new(incoming, TRANSLATE_CAP).collect()).await {
        Ok(Ok(collected)) => Some(collected.to_bytes()),
        _ => None,
    }
}

fn unreadable_answer() -> ApiError {
    ApiError::new(
        ErrorKind::UpstreamUnavailable,
        "the provider's answer could not be read",
    )
}

/// A provider's answer body: still arriving, or read whole already (a call sent in parts).
enum AnswerBody {
    Live(Incoming),
    Read(Bytes),
}

/// The rest of a call sent in parts ([`Call::more`]), one after another, after the first
/// part's answer `first`: their answers joined (`None`), or the status and answer of the first
/// part that failed, after which nothing more is sent.
async fn send_parts(
    app: &App,
    call: &Call,
    first: Bytes,
    idle: Duration,
) -> Result<(Option<StatusCode>, Bytes), ApiError> {
    let mut parts = vec![first];
    for body in &call.more {
        let resp = app
            .upstream()
            .send(call.request_with(body.clone()), idle)
            .await?;
        let (head, incoming) = resp.into_parts();
        let part = read_whole(incoming, idle)
            .await
            .ok_or_else(unreadable_answer)?;
        if !head.status.is_success() {
            return Ok((Some(head.status), part));
        }
        parts.push(part);
    }
    let joined = translate::join_answers(&parts)
        .map_err(|e| ApiError::new(ErrorKind::UpstreamUnavailable, e))?;
    Ok((None, joined))
}

/// The gateway's error for a translated call whose answer failed on the way, recorded.
fn failed(
    mut x: Box<Exchange>,
    e: ApiError,
    call: &Call,
    queue: &crate::logpipe::LogQueue,
) -> Response {
    x.status = e.error.kind.status().as_u16();
    let (mut resp, body) = e.into_response_and_body();
    stamp_answer(resp.headers_mut(), &x, call.step);
    let mut capture = Capture::default();
    capture.push(&body);
    queue.submit(Completed::new(x, capture, Outcome::UpstreamError));
    resp
}

/// The provider's answer on its way to the client: relayed frame by frame, translated event by
/// event for a translated stream, or read whole and translated for a translated JSON answer.
/// `idle`: the longest the provider may stay silent while its body is read.
async fn relay(
    app: &App,
    mut x: Box<Exchange>,
    mut head: http::response::Parts,
    answer: AnswerBody,
    call: &Call,
    idle: Duration,
) -> Response {
    forward::response_headers(&mut head.headers);
    x.status = head.status.as_u16();
    if x.draft.is_some() {
        x.keep_response_headers(&head.headers);
    }
    stamp_answer(&mut head.headers, &x, call.step);
    if x.cache_put.is_some() {
        head.headers.insert(
            switchyard_core::headers::CACHE_STATUS,
            HeaderValue::from_static("MISS"),
        );
    }
    let queue = app.log_queue().clone();
    let Some(t) = call.translation else {
        let body = match answer {
            AnswerBody::Live(incoming) => Relay::new(incoming, x, queue, None, idle),
            AnswerBody::Read(raw) => {
                let mut capture = Capture::default();
                capture.push(&raw);
                Relay::ready(raw, x, capture, queue)
            }
        };
        return Response::from_parts(head, Body::new(body));
    };
    let model = call.model.as_deref().unwrap_or("");
    head.headers.remove(http::header::CONTENT_LENGTH);
    head.headers.remove(http::header::CONTENT_ENCODING);
    let is_stream = head
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    let answer = match answer {
        AnswerBody::Live(incoming) if t.stream && is_stream && head.status.is_success() => {
            let translator =
                StreamTranslator::new(t.client, t.provider, model, t.include_usage, t.reply);
            return Response::from_parts(
                head,
                Body::new(Relay::new(incoming, x, queue, Some(translator), idle)),
            );
        }
        other => other,
    };
    // A JSON answer (or an error instead of a stream): read it whole, then translate.
    let raw = match answer {
        AnswerBody::Read(raw) => raw,
        AnswerBody::Live(incoming) => match read_whole(incoming, idle).await {
            Some(raw) => raw,
            None => return failed(x, unreadable_answer(), call, &queue),
        },
    };
    let (status, body) = translate::response(
        t.endpoint,
        t.client,
        t.provider,
        head.status.as_u16(),
        &raw,
        model,
        t.reply,
    );
    if status != head.status.as_u16() {
        // The provider's reason phrase belongs to its status, not to this one (a 529's
        // placeholder would otherwise follow the 503 it becomes).
        head.extensions.remove::<hyper::ext::ReasonPhrase>();
        if head.status.is_success() {
            // A success that could not be translated reached the client as a failure: the
            // record says so.
            x.status = status;
        }
    }
    head.status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    // A client that asked for a stream reads one, even when the provider answered whole.
    let replayed = (t.stream && head.status.is_success())
        .then(|| translate::replay::as_stream(t.client, &body, t.include_usage))
        .flatten();
    let (body, content_type) = match replayed {
        Some(events) => (events, "text/event-stream"),
        None => (body, "application/json"),
    };
    head.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    // Google says when to retry in the body only; the client's SDK reads the header.
    if status == 429 && !head.headers.contains_key(http::header::RETRY_AFTER) {
        if let Some(secs) = translate::retry_after_seconds(&raw) {
            head.headers
                .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
    }
    let mut capture = Capture::default();
    capture.push(&raw);
    Response::from_parts(head, Body::new(Relay::ready(body, x, capture, queue)))
}

enum Target<'a> {
    /// A provider with the upstream URI joined and checked.
    Provider(Arc<switchyard_providers::Provider>, http::Uri),
    Compat(&'a str),
    Universal,
}

/// Bodies up to this size are copied into their own allocation (see [`read_body`]).
const SMALL_BODY: usize = 64 * 1024;

/// At most this much of a refused body is read and thrown away (see [`discard_rest`]).
const DISCARD_MAX: u64 = 64 << 20;
/// For at most this long.
const DISCARD_FOR: Duration = Duration::from_secs(10);
/// At most this many bodies are thrown away at once; past it, the connection just closes.
const DISCARD_AT_ONCE: usize = 256;
static DISCARDING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Reads what is left of a refused body and throws it away, in the background, while the
/// refusal goes out. Most clients send their whole body before they read the answer: a
/// connection closed with unread data in it is reset, and the reset can wipe out the answer
/// before the client reads it, leaving it with a broken pipe instead of the reason. A body
/// announced larger than [`DISCARD_MAX`] is not waited for (the client would be cut off
/// anyway), none is read for longer than [`DISCARD_FOR`], at most [`DISCARD_AT_ONCE`] are
/// read at a time, and nothing read is kept.
fn discard_rest(body: Body, announced: u64) {
    use std::sync::atomic::Ordering;
    if announced > DISCARD_MAX || body.is_end_stream() {
        return;
    }
    if DISCARDING.fetch_add(1, Ordering::Relaxed) >= DISCARD_AT_ONCE {
        DISCARDING.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    tokio::spawn(async move {
        let mut body = Limited::new(body, DISCARD_MAX as usize);
        let _ = tokio::time::timeout(DISCARD_FOR, async {
            while let Some(Ok(_)) = body.frame().await {}
        })
        .await;
        DISCARDING.fetch_sub(1, Ordering::Relaxed);
    });
}

/// What a refusal needs to know, from the request's head, to throw its unread body away.
#[derive(Clone, Copy)]
pub(crate) struct Leftover {
    announced: Option<u64>,
    /// `Expect: 100-continue`: the client waits for a go-ahead before it sends the body, and
    /// sends none after a refusal; reading the body would ask for it.
    expects_continue: bool,
}

impl Leftover {
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        Self {
            announced: headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok()),
            expects_continue: headers.contains_key(http::header::EXPECT),
        }
    }

    /// Throws away the body of a request refused before it was read (see [`discard_rest`]).
    pub(crate) fn discard(self, body: Body) {
        if !self.expects_continue {
            discard_rest(body, self.announced.unwrap_or(0));
        }
    }
}

/// The request body, whole: at most `cap` bytes (413 beyond), with no pause longer than
/// `idle` between two of its frames (408: a client that stops sending mid-body).
pub(crate) async fn read_body(
    body: Body,
    headers: &HeaderMap,
    cap: usize,
    idle: Duration,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("the request body is larger than {cap} bytes"),
        )
    };
    let leftover = Leftover::of(headers);
    let announced = leftover.announced;
    if announced.is_some_and(|len| len > cap as u64) {
        leftover.discard(body);
        return Err(too_large());
    }
    let unreadable = || ApiError::new(ErrorKind::BadRequest, "the request body could not be read");
    let mut body = body;
    let mut read = 0usize;
    // The first frame as it came; later ones appended to a copy.
    let mut first: Option<Bytes> = None;
    let mut rest: Option<bytes::BytesMut> = None;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => {
                return Err(ApiError::new(
                    ErrorKind::ClientTimeout,
                    format!(
                        "the request body stopped arriving (nothing for {} ms)",
                        idle.as_millis()
                    ),
                ))
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(unreadable()),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        read += data.len();
        if read > cap {
            // Only a body of unannounced length gets here (hyper holds one to its length).
            discard_rest(body, read as u64);
            return Err(too_large());
        }
        match (&mut first, &mut rest) {
            (None, _) => first = Some(data),
            (Some(f), None) => {
                // Sized for the whole body when it was announced: no doubling as it grows.
                let size = (f.len() + data.len()).max(announced.unwrap_or(0) as usize);
                let mut joined = bytes::BytesMut::with_capacity(size);
                joined.extend_from_slice(f);
                joined.extend_from_slice(&data);
                rest = Some(joined);
            }
            (Some(_), Some(joined)) => joined.extend_from_slice(&data),
        }
    }
    Ok(match (first, rest) {
        (_, Some(joined)) => joined.freeze(),
        // A small body is copied out of the connection's read buffer, which it would
        // otherwise keep alive for as long as its log record waits to be written.
        (Some(b), None) if b.len() <= SMALL_BODY => Bytes::copy_from_slice(&b),
        (Some(b), None) => b,
        (None, None) => Bytes::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retryable_answer_can_ask_for_a_longer_wait() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        assert_eq!(asked_wait(&h(&[])), Duration::ZERO);
        assert_eq!(
            asked_wait(&h(&[("retry-after", "2")])),
            Duration::from_secs(2)
        );
        assert_eq!(
            asked_wait(&h(&[("retry-after", "1"), ("retry-after-ms", "250")])),
            Duration::from_millis(250)
        );
        assert_eq!(asked_wait(&h(&[("retry-after", "3600")])), MAX_ASKED_WAIT);
        // An HTTP date: the time until then (whole seconds on the wire), none once past.
        let at = |secs: u64| {
            let t = std::time::SystemTime::now() + Duration::from_secs(secs);
            HeaderValue::from_str(&httpdate::fmt_http_date(t)).expect("a date is ASCII")
        };
        let mut m = HeaderMap::new();
        m.insert("retry-after", at(3));
        let wait = asked_wait(&m);
        assert!(
            wait > Duration::from_millis(1900) && wait <= Duration::from_secs(3),
            "{wait:?}"
        );
        m.insert("retry-after", at(86_400));
        assert_eq!(asked_wait(&m), MAX_ASKED_WAIT);
        for odd in ["-1", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", "NaN"] {
            assert_eq!(
                asked_wait(&h(&[("retry-after", odd)])),
                Duration::ZERO,
                "{odd}"
            );
        }
    }

    #[test]
    fn backoff_paces_attempts() {
        let p = |backoff| Policy {
            max_attempts: 5,
            delay: Duration::from_millis(100),
            backoff,
            timeout: Duration::from_secs(1),
        };
        let ms = |p: Policy, n| p.delay_before(n).as_millis();
        assert_eq!(
            [2, 3, 4].map(|n| ms(p(Backoff::Constant), n)),
            [100, 100, 100]
        );
        assert_eq!(
            [2, 3, 4].map(|n| ms(p(Backoff::Linear), n)),
            [100, 200, 300]
        );
        assert_eq!(
            [2, 3, 4].map(|n| ms(p(Backoff::Exponential), n)),
            [100, 200, 400]
        );
    }

    #[test]
    fn parses_routes() {
        assert_eq!(
            parse_route("/v1/acct/gw/grok/v1/chat/completions").expect("valid"),
            Route {
                account: "acct",
                gateway: "gw",
                provider: Some("grok"),
                rest: "v1/chat/completions"
            }
        );
        assert_eq!(parse_route("/v1/acct/gw").expect("valid").provider, None);
        assert_eq!(parse_route("/v1/acct/gw/").expect("valid").provider, None);
        assert_eq!(parse_route("/v1/a/g/grok").expect("valid").rest, "");
        assert_eq!(parse_route("/v1/a/g/grok//x").expect("valid").rest, "/x");
        for bad in ["/v1/a.b/g/grok", "/v1/a/g%20/grok", "/v1//g/grok", "/v1/a"] {
            let e = parse_route(bad).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::BadRequest, "{bad}");
        }
    }
}
