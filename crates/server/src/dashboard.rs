//! The web dashboard (SPEC 4): one HTML page, its script and its stylesheet, compiled into
//! the binary from `assets/`. The page reads and changes everything through the control
//! plane (`/client/v4`), so it holds no logic of its own on the server side.
//!
//! Access: `GET /` takes the control plane's admin auth. A browser cannot send a bearer token
//! when it opens a page, so with an `admin_token` configured the page answers 401 with an
//! HTTP Basic challenge; the browser asks for the token once (as the password, any user
//! name) and sends it with every request to this origin after that, including the page's
//! calls to `/client/v4`, which accept Basic credentials for that reason. Without a token,
//! loopback clients only, as for the control plane. The script and stylesheet are the same
//! for everyone and are served without auth.

use crate::app::App;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

const PAGE: &str = include_str!("../assets/dashboard.html");
const SCRIPT: &str = include_str!("../assets/dashboard.js");
const STYLE: &str = include_str!("../assets/dashboard.css");

/// Where the page loads its script and stylesheet from.
pub const SCRIPT_PATH: &str = "/dashboard/app.js";
pub const STYLE_PATH: &str = "/dashboard/app.css";

/// What the page may load and where it may connect: only this origin, no inline code.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// `GET /`: the page, behind the admin auth.
pub async fn page(State(app): State<App>, req: Request) -> Response {
    // A link from another site may open the page; only its API calls must be same-origin.
    if let Some(why) = crate::control::browser_guard(&app, &req, false) {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{why}\n"),
        )
            .into_response();
    }
    if !crate::control::admin_allowed(&app, &req) {
        let mut resp = if app.config().admin_token.is_some() {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                "The dashboard needs the admin token: enter it as the password.\n",
            )
                .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Switchyard\", charset=\"UTF-8\""),
            );
            r
        } else {
            (
                StatusCode::FORBIDDEN,
                "Without an admin_token the dashboard serves loopback clients only.\n",
            )
                .into_response()
        };
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return resp;
    }
    let mut resp = asset(PAGE, "text/html; charset=utf-8");
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// `GET /dashboard/app.js`.
pub async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /dashboard/app.css`.
pub async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

#[cfg(test)]
mod tests {
    use super::SCRIPT;

    /// The `max` the settings form gives `key`, read from the script's `SETTINGS` table.
    fn form_max(key: &str) -> Option<u64> {
        let line = SCRIPT
            .lines()
            .find(|l| l.contains(&format!("key: '{key}'")))?;
        let rest = line.split("max: ").nth(1)?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    }

    /// A browser refuses to submit a form with a number over its `max`: a bound tighter than
    /// the API's would leave a gateway set through the API or the config file uneditable.
    #[test]
    fn the_settings_form_allows_what_the_api_allows() {
        assert_eq!(
            form_max("retry_delay"),
            Some(crate::config::MAX_GATEWAY_RETRY_DELAY)
        );
        assert_eq!(
            form_max("retry_max_attempts"),
            Some(crate::config::MAX_RETRY_ATTEMPTS)
        );
        assert_eq!(
            form_max("rate_limiting_interval"),
            Some(crate::config::MAX_RATE_LIMIT_INTERVAL)
        );
    }
}
