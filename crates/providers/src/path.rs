//! The safe join of a client's path onto a provider's base URL (SPEC 2.1).
//!
//! The client's path is forwarded as it came (percent-escapes untouched), after checking that
//! no segment could climb out of the base URL or name another host.

use crate::catalog::Provider;
use http::Uri;
use std::borrow::Cow;

/// Why a path was refused. Every variant means: nothing is sent upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("unsafe path: {0}")]
    Unsafe(&'static str),
    #[error("the path must start with the {0} segment for this provider")]
    MissingParam(String),
    #[error("the path must hold {0} for this provider")]
    MissingPathParam(String),
    #[error(
        "path segment for {0} must be 1-63 letters, digits or '-' (up to 64, '_' and '.' allowed, where it is not part of the host)"
    )]
    BadParam(String),
    #[error("path segment for {0} must be 1-63 lowercase letters or digits")]
    BadId(String),
    #[error("nothing may follow the {0} segment for this provider")]
    TrailingPath(String),
    #[error("{0}")]
    BadTarget(String),
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// URL schemes refused at the start of a path.
const URL_SCHEMES: [&str; 10] = [
    "http",
    "https",
    "ws",
    "wss",
    "ftp",
    "file",
    "data",
    "javascript",
    "blob",
    "gopher",
];

/// Checks one raw segment: decodes it in passing and refuses anything that could change
/// where the request goes.
/// `after_models`: the segment before this one is `models` (where Vertex AI names a partner
/// model's version after `@`: `models/claude-sonnet-4@20250514:rawPredict`).
fn check_segment(seg: &str, first: bool, after_models: bool) -> Result<(), PathError> {
    let raw = seg.as_bytes();
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%' {
            let (Some(h), Some(l)) = (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(PathError::Unsafe("malformed percent-escape"));
            };
            decoded.push(h * 16 + l);
            i += 3;
        } else {
            decoded.push(b);
            i += 1;
        }
    }
    // A dot segment, also with path parameters after it (`..;x`: servers that strip
    // `;params` before resolving would read it as `..`).
    let name = decoded.split(|&b| b == b';').next().unwrap_or(&[]);
    if name == b"." || name == b".." {
        return Err(PathError::Unsafe("dot segments are not allowed"));
    }
    // Workers AI's model namespaces, the one place a segment starts with `@`.
    let namespace = decoded.eq_ignore_ascii_case(b"@cf") || decoded.eq_ignore_ascii_case(b"@hf");
    for (pos, &b) in decoded.iter().enumerate() {
        match b {
            b'/' => return Err(PathError::Unsafe("encoded '/' is not allowed")),
            b'@' if pos == 0 && !namespace => {
                return Err(PathError::Unsafe(
                    "'@' starts no segment but Workers AI's @cf and @hf",
                ))
            }
            b'\\' => return Err(PathError::Unsafe("backslashes are not allowed")),
            0..=0x1f | 0x7f => return Err(PathError::Unsafe("control characters are not allowed")),
            // `@` only as Workers AI's namespace (above), or as a model's version after
            // `models/` (never in the first segment, where it could read as user-info before
            // a host), never elsewhere.
            b'@' if pos != 0 && (first || !after_models) => {
                return Err(PathError::Unsafe("'@' is not allowed here"))
            }
            _ => {}
        }
    }
    if first {
        // `https:`, `javascript:` and friends: an absolute URL in place of a path. Only the
        // schemes a URL could be resolved by are refused: a model name before a method
        // (`gemini-flash-latest:generateContent` on a custom provider whose base URL ends in
        // `/models`) has the shape of a scheme too, and the path is appended to the base URL
        // as text, so it cannot change the host either way.
        if let Some(colon) = decoded.iter().position(|&b| b == b':') {
            let scheme = &decoded[..colon];
            if URL_SCHEMES
                .iter()
                .any(|s| scheme.eq_ignore_ascii_case(s.as_bytes()))
            {
                return Err(PathError::Unsafe("absolute URLs are not allowed"));
            }
        }
    }
    Ok(())
}

/// Checks the whole client path (the part after the provider slug, without its leading `/`).
pub fn check_rest(rest: &str) -> Result<(), PathError> {
    if rest.starts_with('/') {
        return Err(PathError::Unsafe("'//' is not allowed"));
    }
    if rest.bytes().any(|b| b == b'\\' || b < 0x20 || b == 0x7f) {
        return Err(PathError::Unsafe(
            "backslashes and control characters are not allowed",
        ));
    }
    let mut segments = rest.split('/').peekable();
    let mut first = true;
    let mut after_models = false;
    while let Some(seg) = segments.next() {
        if seg.is_empty() {
            if segments.peek().is_none() {
                break; // trailing slash or empty rest
            }
            return Err(PathError::Unsafe("empty path segments are not allowed"));
        }
        check_segment(seg, first, after_models)?;
        first = false;
        after_models = seg == "models";
    }
    Ok(())
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
}

/// A word that fills a placeholder of the base path only (Azure's deployment, often named
/// after its model: `gpt-4.1`): 1–64 letters, digits, `-`, `_` or `.`, not starting with `-`
/// or `.` (so never a dot segment).
fn is_path_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !s.starts_with(['-', '.'])
}

/// A word that names a host in a value of its own (Baseten's `model-{model_id}`): 1–63
/// lowercase letters and digits.
fn is_lower_alnum(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

impl Provider {
    /// Whether `value` may fill placeholder `param`, which goes into the host when `in_host`.
    /// A placeholder that names a host in the catalog is held to a host's rule wherever the
    /// config's base URL puts it.
    fn check_param(&self, param: &str, value: &str, in_host: bool) -> Result<(), PathError> {
        if self.alnum_params.iter().any(|p| p == param) {
            return if is_lower_alnum(value) {
                Ok(())
            } else {
                Err(PathError::BadId(param.to_owned()))
            };
        }
        let fits = if in_host || self.label_params.iter().any(|p| p == param) {
            is_label(value)
        } else {
            is_path_word(value)
        };
        if fits {
            Ok(())
        } else {
            Err(PathError::BadParam(param.to_owned()))
        }
    }

    /// The upstream URI named whole by the provider's target header (Fal's
    /// `x-fal-target-url`), instead of the path: an `https` URL (plain `http` only for a
    /// loopback host) whose host is one of the catalog's `target_hosts` or a subdomain of
    /// one, or the base URL's own host; no user-info; its path checked as any path is.
    pub fn target_uri(&self, target: &str) -> Result<Uri, PathError> {
        let name = self
            .target_header
            .as_ref()
            .map_or("the target header", |h| h.as_str());
        let bad = |why: &str| PathError::BadTarget(format!("{name}: {why}"));
        let uri = Uri::try_from(target).map_err(|_| bad("not a URL"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(bad("must be an absolute URL"));
        };
        if authority.as_str().contains('@') {
            return Err(bad("may not hold user information"));
        }
        let host = authority.host().to_ascii_lowercase();
        let on_hosts = |host: &str| {
            self.target_hosts.iter().any(|h| {
                host == h
                    || host
                        .strip_suffix(h.as_str())
                        .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1)
            })
        };
        let base_host = self
            .base
            .authority
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(self.base.authority.as_str(), |(h, _)| h)
            .to_ascii_lowercase();
        // A base URL moved off the provider's hosts (a proxy, a test double) narrows the
        // choice to its own address: the provider's hosts would go around it.
        let allowed = if on_hosts(&base_host) {
            on_hosts(&host) && authority.port_u16().is_none_or(|p| p == 443)
        } else {
            authority
                .as_str()
                .eq_ignore_ascii_case(&self.base.authority)
        };
        if !allowed {
            return Err(bad("names a host outside this provider"));
        }
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !(scheme == "https" || (scheme == "http" && loopback)) {
            return Err(bad("must be https"));
        }
        check_rest(uri.path().strip_prefix('/').unwrap_or(uri.path()))?;
        Ok(uri)
    }

    /// The upstream URI for a client path `rest` (after the slug, without the leading `/`) and
    /// query. `account` fills `{account_id}`; leading segments fill the other placeholders.
    pub fn upstream_uri(
        &self,
        account: &str,
        rest: &str,
        query: Option<&str>,
    ) -> Result<Uri, PathError> {
        // Another upstream of this provider, named by the path's first segment.
        if let Some(form) = self.form(rest) {
            return form.upstream_uri(account, rest, query);
        }
        check_rest(rest)?;
        let mut rest = rest;
        if let Some(prefix) = &self.path_prefix {
            rest = match rest.strip_prefix(prefix.as_str()) {
                Some("") => "",
                Some(tail) if tail.starts_with('/') => &tail[1..],
                _ => {
                    let mut segments = vec![prefix.as_str()];
                    segments.extend(self.forms.iter().map(|(s, _)| s.as_str()));
                    return Err(PathError::MissingParam(segments.join(" or ")));
                }
            };
        }
        // Borrowed unless a placeholder is filled in (most providers have none).
        let mut authority = Cow::Borrowed(self.base.authority.as_str());
        let mut base_path = Cow::Borrowed(self.base.path.as_str());
        for param in &self.base.params {
            let placeholder = format!("{{{param}}}");
            if !authority.contains(&placeholder) {
                // A client that writes the base path's own words before a value that goes
                // into the path (Azure's SDK, given the resource's endpoint, sends
                // `openai/deployments/{deployment}/...`): they are the base path's already.
                let template = self.base.path.split(&placeholder).next().unwrap_or("");
                let before = template.rsplit('}').next().unwrap_or("").trim_matches('/');
                if !before.is_empty() {
                    if let Some(t) = rest.strip_prefix(before).and_then(|t| t.strip_prefix('/')) {
                        rest = t;
                    }
                }
            }
            let (seg, tail) = rest.split_once('/').unwrap_or((rest, ""));
            if seg.is_empty() {
                return Err(PathError::MissingParam(param.clone()));
            }
            // A word that goes into the host must be a DNS label; one that goes only into the
            // path may hold `_` too (Azure deployment names do).
            self.check_param(param, seg, authority.contains(&placeholder))?;
            authority = Cow::Owned(authority.replace(&placeholder, seg));
            base_path = Cow::Owned(base_path.replace(&placeholder, seg));
            rest = tail;
        }
        for (param, after) in &self.path_params {
            let placeholder = format!("{{{param}}}");
            if !authority.contains(&placeholder) && !base_path.contains(&placeholder) {
                continue;
            }
            let mut segments = rest.split('/');
            let value = segments
                .by_ref()
                .find(|s| s == after)
                .and_then(|_| segments.next())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| PathError::MissingPathParam(format!("{after}/{{{param}}}")))?;
            // Vertex AI's region picks the host in the catalog: always a DNS label.
            self.check_param(param, value, true)?;
            // Google's `global` location has no regional host: `{region}-aiplatform...` is
            // `aiplatform...` there.
            if value == "global" {
                let regional = format!("{placeholder}-");
                if authority.contains(&regional) {
                    authority = Cow::Owned(authority.replace(&regional, ""));
                }
            }
            authority = Cow::Owned(authority.replace(&placeholder, value));
            base_path = Cow::Owned(base_path.replace(&placeholder, value));
        }
        if base_path.contains("{account_id}") {
            base_path = Cow::Owned(base_path.replace("{account_id}", account));
        }
        // A path that was only the dropped prefix and a `/` (`v1/`) keeps its `/`.
        let mut trailing_slash = false;
        let versioned_rest: String;
        if !self.custom {
            // A client that appends the provider's whole base path (groq-sdk posts
            // `openai/v1/chat/completions` to `https://api.groq.com/openai/v1`), or its last
            // two or more segments (Azure's SDK, given `.../{resource}/{deployment}` as its
            // base URL, adds `deployments/{deployment}/`): dropped, as the single `v1/` below
            // is. The longest such part is taken.
            let whole = base_path.trim_start_matches('/');
            let mut from = 0;
            while let Some(suffix) = whole.get(from..).filter(|s| s.contains('/')) {
                let mut dropped = false;
                if let Some(tail) = rest.strip_prefix(suffix) {
                    if tail.is_empty() {
                        rest = "";
                        dropped = true;
                    } else if let Some(t) = tail.strip_prefix('/') {
                        trailing_slash = t.is_empty();
                        rest = t;
                        dropped = true;
                    }
                }
                match (dropped, suffix.find('/')) {
                    (false, Some(slash)) => from += slash + 1,
                    _ => break,
                }
            }
            if let Some(first) = self.versions.first() {
                let versioned = |p: &str| {
                    let lead = p.split('/').next().unwrap_or("");
                    self.versions.iter().any(|v| v == lead)
                };
                match rest.strip_prefix("v1/") {
                    Some(tail) if versioned(tail) => rest = tail,
                    _ if !rest.is_empty() && !versioned(rest) => {
                        versioned_rest = format!("{first}/{rest}");
                        rest = &versioned_rest;
                    }
                    _ => {}
                }
            }
            let last = self.base.last_segment();
            if last == "run" && (rest == "v1" || rest.starts_with("v1/")) {
                // Workers AI: the OpenAI-compatible endpoints sit beside `run`, at `/ai/v1/...`.
                let parent = base_path.len() - "/run".len();
                base_path = match base_path {
                    Cow::Borrowed(b) => Cow::Borrowed(&b[..parent]),
                    Cow::Owned(mut b) => {
                        b.truncate(parent);
                        Cow::Owned(b)
                    }
                };
            } else if last == "v1" || last == "run" {
                if rest == last {
                    rest = "";
                } else if let Some(tail) = rest.strip_prefix(last).and_then(|t| t.strip_prefix('/'))
                {
                    trailing_slash = tail.is_empty();
                    rest = tail;
                }
            }
        }
        if self.whole_path && !rest.is_empty() {
            let last = self.base.params.last().map_or("path", String::as_str);
            return Err(PathError::TrailingPath(format!("{{{last}}}")));
        }
        let mut url = String::with_capacity(
            self.base.scheme.len() + authority.len() + base_path.len() + rest.len() + 8,
        );
        url.push_str(&self.base.scheme);
        url.push_str("://");
        url.push_str(&authority);
        url.push_str(&base_path);
        if !rest.is_empty() {
            url.push('/');
            url.push_str(rest);
        } else if base_path.is_empty() || trailing_slash {
            url.push('/');
        }
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        let uri = Uri::try_from(url).map_err(|_| PathError::Unsafe("not a valid URL"))?;
        // Belt and braces: whatever the path held, the host is the provider's.
        if uri.authority().map(|a| a.as_str()) != Some(authority.as_ref()) {
            return Err(PathError::Unsafe("the path changes the host"));
        }
        Ok(uri)
    }

    /// The upstream URI of a compat endpoint path (`chat_path` or `embeddings_path`).
    pub fn endpoint_uri(&self, account: &str, endpoint: &str) -> Result<Uri, PathError> {
        self.upstream_uri(account, endpoint, None)
    }
}

#[cfg(test)]
mod tests {
    use crate::catalog::{Catalog, ProviderOverride};
    use std::collections::BTreeMap;

    fn catalog() -> Catalog {
        Catalog::embedded().expect("embedded catalog parses")
    }

    fn uri(slug: &str, rest: &str) -> String {
        catalog()
            .get(slug)
            .expect("known slug")
            .upstream_uri("acct", rest, None)
            .expect("safe path")
            .to_string()
    }

    #[test]
    fn grok_paths_from_the_docs_all_reach_v1() {
        assert_eq!(
            uri("grok", "v1/chat/completions"),
            "https://api.x.ai/v1/chat/completions"
        );
        assert_eq!(
            uri("grok", "chat/completions"),
            "https://api.x.ai/v1/chat/completions"
        );
        assert_eq!(uri("grok", "v1/messages"), "https://api.x.ai/v1/messages");
        assert_eq!(uri("grok", "v1"), "https://api.x.ai/v1");
        assert_eq!(uri("grok", "v1x/models"), "https://api.x.ai/v1/v1x/models");
    }

    #[test]
    fn cohere_paths_carry_one_version() {
        let cohere = |rest: &str| uri("cohere", rest);
        // The curl form, and the SDKs given the bare slug.
        assert_eq!(cohere("v1/chat"), "https://api.cohere.ai/v1/chat");
        assert_eq!(cohere("v2/chat"), "https://api.cohere.ai/v2/chat");
        assert_eq!(
            cohere("compatibility/v1/chat/completions"),
            "https://api.cohere.ai/compatibility/v1/chat/completions"
        );
        // The SDKs given `.../cohere/v1`, as Cloudflare's page shows.
        assert_eq!(cohere("v1/v1/chat"), "https://api.cohere.ai/v1/chat");
        assert_eq!(cohere("v1/v2/chat"), "https://api.cohere.ai/v2/chat");
        assert_eq!(cohere("v1/v2/embed"), "https://api.cohere.ai/v2/embed");
        // A URL that replaced `https://api.cohere.ai/v1` whole.
        assert_eq!(cohere("chat"), "https://api.cohere.ai/v1/chat");
        assert_eq!(cohere("v1"), "https://api.cohere.ai/v1");
        assert_eq!(cohere("v1x/models"), "https://api.cohere.ai/v1/v1x/models");
        // Other providers are not touched.
        assert_eq!(
            uri("anthropic", "v1/v1/messages"),
            "https://api.anthropic.com/v1/v1/messages"
        );
    }

    #[test]
    fn other_providers_follow_their_base() {
        assert_eq!(
            uri("anthropic", "v1/messages"),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            uri("groq", "chat/completions"),
            "https://api.groq.com/openai/v1/chat/completions"
        );
        // The groq SDK appends the whole base path.
        assert_eq!(
            uri("groq", "openai/v1/chat/completions"),
            "https://api.groq.com/openai/v1/chat/completions"
        );
        assert_eq!(
            uri("groq", "openai/v1x/models"),
            "https://api.groq.com/openai/v1/openai/v1x/models"
        );
        assert_eq!(
            uri("workers-ai", "@cf/meta/llama-3.1-8b-instruct"),
            "https://api.cloudflare.com/client/v4/accounts/acct/ai/run/@cf/meta/llama-3.1-8b-instruct"
        );
        assert_eq!(
            uri("workers-ai", "run/@cf/meta/llama"),
            "https://api.cloudflare.com/client/v4/accounts/acct/ai/run/@cf/meta/llama"
        );
        // The OpenAI-compatible endpoints are at `/ai/v1/...`, beside `run`.
        assert_eq!(
            uri("workers-ai", "v1/chat/completions"),
            "https://api.cloudflare.com/client/v4/accounts/acct/ai/v1/chat/completions"
        );
        assert_eq!(
            uri("workers-ai", "v1/embeddings"),
            "https://api.cloudflare.com/client/v4/accounts/acct/ai/v1/embeddings"
        );
        // Bedrock: `bedrock-runtime/{region}/...` names the host.
        assert_eq!(
            uri(
                "aws-bedrock",
                "bedrock-runtime/us-east-1/model/anthropic.claude-v2:1/invoke"
            ),
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-v2:1/invoke"
        );
        let bedrock = catalog()
            .get("aws-bedrock")
            .cloned()
            .expect("in the catalog");
        for bad in [
            "us-east-1/model/x/invoke",
            "bedrock-runtimex/us-east-1/x",
            "bedrock-runtime/",
        ] {
            assert!(bedrock.upstream_uri("a", bad, None).is_err(), "{bad}");
        }
        assert!(bedrock
            .upstream_uri("a", "bedrock-runtime/evil.com%2f/x", None)
            .is_err());
        // Vertex AI: the host is the region the path names; the path stays whole.
        assert_eq!(
            uri(
                "google-vertex-ai",
                "v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent"
            ),
            "https://us-central1-aiplatform.googleapis.com/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent"
        );
        assert_eq!(
            uri(
                "google-vertex-ai",
                "v1/projects/p1/locations/global/publishers/google/models/gemini-2.5-pro:generateContent"
            ),
            "https://aiplatform.googleapis.com/v1/projects/p1/locations/global/publishers/google/models/gemini-2.5-pro:generateContent"
        );
        // Partner models carry their version after `@`.
        assert_eq!(
            uri(
                "google-vertex-ai",
                "v1/projects/p1/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict"
            ),
            "https://us-east5-aiplatform.googleapis.com/v1/projects/p1/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict"
        );
        let vertex = catalog()
            .get("google-vertex-ai")
            .cloned()
            .expect("in the catalog");
        assert!(vertex
            .upstream_uri("a", "v1/projects/p1/models/x", None)
            .is_err());
        assert!(vertex
            .upstream_uri("a", "v1/projects/p/locations/", None)
            .is_err());
        assert!(vertex
            .upstream_uri("a", "v1/locations/evil.com:443/x", None)
            .is_err());
        assert_eq!(
            uri("fal", "fal-ai/fast-sdxl"),
            "https://fal.run/fal-ai/fast-sdxl"
        );
        assert_eq!(
            uri("baseten", "v1/chat/completions"),
            "https://inference.baseten.co/v1/chat/completions"
        );
        // `/compat` reaches the same endpoints.
        let workers = catalog()
            .get("workers-ai")
            .cloned()
            .expect("in the catalog");
        for endpoint in [&workers.chat_path, &workers.embeddings_path] {
            let endpoint = endpoint.as_deref().expect("has the endpoint");
            let u = workers.endpoint_uri("acct", endpoint).expect("a URL");
            assert!(
                u.to_string()
                    .starts_with("https://api.cloudflare.com/client/v4/accounts/acct/ai/v1/"),
                "{u}"
            );
        }
        // A deployment name (path only) may hold `_`; the resource (the host) may not.
        assert_eq!(
            uri("azure-openai", "myres/my_dep/chat/completions"),
            "https://myres.openai.azure.com/openai/deployments/my_dep/chat/completions"
        );
        assert_eq!(
            uri("azure-openai", "myres/mydep/chat/completions"),
            "https://myres.openai.azure.com/openai/deployments/mydep/chat/completions"
        );
        // Deployments are often named after their model.
        assert_eq!(
            uri("azure-openai", "myres/gpt-4.1-mini/chat/completions"),
            "https://myres.openai.azure.com/openai/deployments/gpt-4.1-mini/chat/completions"
        );
        // Azure's own SDK: given the gateway URL with the deployment as its base URL, it adds
        // `deployments/{deployment}/`; given the resource's endpoint (`azure_endpoint`), it
        // sends `openai/deployments/{deployment}/`. Both reach the same deployment.
        for rest in [
            "myres/gpt-4o/deployments/gpt-4o/chat/completions",
            "myres/openai/deployments/gpt-4o/chat/completions",
            "myres/gpt-4o/openai/deployments/gpt-4o/chat/completions",
        ] {
            assert_eq!(
                uri("azure-openai", rest),
                "https://myres.openai.azure.com/openai/deployments/gpt-4o/chat/completions",
                "{rest}"
            );
        }
        // A deployment named like a word of the base path is still a deployment.
        assert_eq!(
            uri("azure-openai", "myres/openai/chat/completions"),
            "https://myres.openai.azure.com/openai/deployments/openai/chat/completions"
        );
        assert_eq!(
            uri("google-ai-studio", "v1beta/models/gemini-2.5-flash:generateContent"),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
        );
    }

    #[test]
    fn bedrock_mantle_baseten_models_and_azure_anthropic_name_their_hosts() {
        // Bedrock's mantle endpoint, beside the runtime one.
        assert_eq!(
            uri(
                "aws-bedrock",
                "bedrock-mantle/us-east-1/anthropic/v1/messages"
            ),
            "https://bedrock-mantle.us-east-1.api.aws/anthropic/v1/messages"
        );
        assert_eq!(
            uri("aws-bedrock", "bedrock-runtime/eu-west-3/model/m/converse"),
            "https://bedrock-runtime.eu-west-3.amazonaws.com/model/m/converse"
        );
        let c = catalog();
        let bedrock = c.get("aws-bedrock").expect("in the catalog");
        let mantle = bedrock
            .form("bedrock-mantle/us-east-1/anthropic/v1/messages")
            .expect("the mantle form");
        assert_eq!(mantle.slug, "aws-bedrock");
        assert_eq!(mantle.auth, crate::AuthStyle::XApiKey);
        assert!(mantle.key_from_bearer);
        assert!(bedrock.form("bedrock-runtime/us-east-1/x").is_none());
        assert!(!bedrock.key_from_bearer);
        // A region is a DNS label: nothing that could name another host or path.
        for bad in [
            "bedrock-mantle/us-east-1.evil.example/anthropic/v1/messages",
            "bedrock-mantle/evil.example%2f/anthropic/v1/messages",
            "bedrock-mantle/us_east_1/anthropic/v1/messages",
            "bedrock-mantle/us-east-1:443/anthropic/v1/messages",
            "bedrock-mantle/us-east-1@evil.example/anthropic/v1/messages",
            "bedrock-mantle/-us-east-1/anthropic/v1/messages",
            "bedrock-mantle/../anthropic/v1/messages",
            "bedrock-mantle//anthropic/v1/messages",
            "bedrock-mantle/",
            "bedrock-mantle",
        ] {
            assert!(bedrock.upstream_uri("a", bad, None).is_err(), "{bad}");
        }
        // Neither form named: the error names both.
        let e = bedrock
            .upstream_uri("a", "us-east-1/anthropic/v1/messages", None)
            .expect_err("no form");
        assert!(
            e.to_string().contains("bedrock-runtime or bedrock-mantle"),
            "{e}"
        );

        // Baseten: the OpenAI-compatible API as before, a model's own endpoint by its id.
        assert_eq!(
            uri("baseten", "v1/chat/completions"),
            "https://inference.baseten.co/v1/chat/completions"
        );
        assert_eq!(
            uri("baseten", "chat/completions"),
            "https://inference.baseten.co/v1/chat/completions"
        );
        assert_eq!(
            uri("baseten", "model/abcd1234"),
            "https://model-abcd1234.api.baseten.co/production/predict"
        );
        assert_eq!(
            uri("baseten", "model/abcd1234/"),
            "https://model-abcd1234.api.baseten.co/production/predict"
        );
        let u = c
            .get("baseten")
            .expect("baseten")
            .upstream_uri("a", "model/q48rmd3", Some("x=1"))
            .expect("an id");
        assert_eq!(
            u.to_string(),
            "https://model-q48rmd3.api.baseten.co/production/predict?x=1"
        );
        let baseten = c.get("baseten").expect("baseten");
        for bad in [
            "model/ABCD1234",
            "model/abc-1234",
            "model/abc.evil.example",
            "model/abc_1",
            "model/abc%2f",
            "model/abc%2e",
            "model/abc@evil.example",
            "model/abc:443",
            "model/..",
            "model/",
            "model",
            "model/abcd1234/async_predict",
            "model/abcd1234/production/predict/x",
        ] {
            assert!(baseten.upstream_uri("a", bad, None).is_err(), "{bad}");
        }
        assert_eq!(
            baseten
                .upstream_uri("a", "model/Abc", None)
                .expect_err("uppercase"),
            super::PathError::BadId("model_id".into())
        );
        // `/compat` keeps the OpenAI-compatible endpoint.
        assert_eq!(
            baseten
                .endpoint_uri("a", baseten.chat_path.as_deref().expect("chat"))
                .expect("its URI")
                .to_string(),
            "https://inference.baseten.co/v1/chat/completions"
        );

        // Anthropic's models on Azure: the resource names the Foundry host.
        assert_eq!(
            uri("azure", "my-res/anthropic/v1/messages"),
            "https://my-res.services.ai.azure.com/anthropic/v1/messages"
        );
        let azure = c.get("azure").expect("azure");
        assert_eq!(azure.auth, crate::AuthStyle::XApiKey);
        for bad in [
            "evil.example/anthropic/v1/messages",
            "evil.example%2f/anthropic/v1/messages",
            "my_res/anthropic/v1/messages",
            "my.res/anthropic/v1/messages",
            "-res/anthropic/v1/messages",
            "res:443/anthropic/v1/messages",
            "res@evil.example/anthropic/v1/messages",
            "%40evil.example/anthropic/v1/messages",
            "../anthropic/v1/messages",
            "",
        ] {
            assert!(azure.upstream_uri("a", bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_placeholders_stay_labels_when_a_base_url_moves_them_into_the_path() {
        let mut o = BTreeMap::new();
        o.insert(
            "azure".to_owned(),
            ProviderOverride {
                base_url: Some("http://127.0.0.1:9/azure/{resource}".into()),
                ..Default::default()
            },
        );
        let mut forms = BTreeMap::new();
        forms.insert(
            "bedrock-mantle".to_owned(),
            ProviderOverride {
                base_url: Some("http://127.0.0.1:9/mantle/{region}".into()),
                ..Default::default()
            },
        );
        o.insert(
            "aws-bedrock".to_owned(),
            ProviderOverride {
                forms,
                ..Default::default()
            },
        );
        let c = Catalog::with_overrides(&o).expect("valid");
        let azure = c.get("azure").expect("azure");
        assert_eq!(
            azure
                .upstream_uri("a", "res/anthropic/v1/messages", None)
                .expect("a resource")
                .to_string(),
            "http://127.0.0.1:9/azure/res/anthropic/v1/messages"
        );
        assert!(azure
            .upstream_uri("a", "my.res/anthropic/v1/messages", None)
            .is_err());
        let bedrock = c.get("aws-bedrock").expect("bedrock");
        assert_eq!(
            bedrock
                .upstream_uri("a", "bedrock-mantle/us-west-2/anthropic/v1/messages", None)
                .expect("a region")
                .to_string(),
            "http://127.0.0.1:9/mantle/us-west-2/anthropic/v1/messages"
        );
        assert!(bedrock
            .upstream_uri("a", "bedrock-mantle/us.west/anthropic/v1/messages", None)
            .is_err());
        // The runtime form keeps the catalog's host.
        assert_eq!(
            bedrock
                .upstream_uri("a", "bedrock-runtime/us-west-2/model/m/invoke", None)
                .expect("runtime")
                .to_string(),
            "https://bedrock-runtime.us-west-2.amazonaws.com/model/m/invoke"
        );
    }

    #[test]
    fn query_passes_through() {
        let c = catalog();
        let u = c
            .get("azure-openai")
            .expect("azure")
            .upstream_uri("a", "r/d/chat/completions", Some("api-version=2024-10-21"))
            .expect("safe");
        assert_eq!(u.query(), Some("api-version=2024-10-21"));
    }

    #[test]
    fn custom_providers_take_the_path_verbatim() {
        let mut o = BTreeMap::new();
        o.insert(
            "custom-x".to_owned(),
            ProviderOverride {
                base_url: Some("https://h.example/v1".into()),
                ..Default::default()
            },
        );
        let c = Catalog::with_overrides(&o).expect("valid");
        let u = c
            .get("custom-x")
            .expect("custom")
            .upstream_uri("a", "v1/chat", None)
            .expect("safe");
        assert_eq!(u.to_string(), "https://h.example/v1/v1/chat");
        // A model and its method as the first segment is a path, not a URL scheme.
        let u = c
            .get("custom-x")
            .expect("custom")
            .upstream_uri("a", "gemini-2.5-flash:generateContent", None)
            .expect("safe");
        assert_eq!(
            u.to_string(),
            "https://h.example/v1/gemini-2.5-flash:generateContent"
        );
        let u = c
            .get("custom-x")
            .expect("custom")
            .upstream_uri("a", "gemini-flash-latest:generateContent", None)
            .expect("a name without digits too");
        assert_eq!(
            u.to_string(),
            "https://h.example/v1/gemini-flash-latest:generateContent"
        );
    }

    #[test]
    fn fal_target_urls_stay_on_fal_hosts() {
        let c = catalog();
        let fal = c.get("fal").expect("fal");
        let ok = |t: &str| fal.target_uri(t).expect("allowed").to_string();
        assert_eq!(
            ok("https://queue.fal.run/fal-ai/flux/dev?x=1"),
            "https://queue.fal.run/fal-ai/flux/dev?x=1"
        );
        assert_eq!(
            ok("https://fal.run/fal-ai/fast-sdxl"),
            "https://fal.run/fal-ai/fast-sdxl"
        );
        assert_eq!(
            ok("https://rest.alpha.fal.ai/storage"),
            "https://rest.alpha.fal.ai/storage"
        );
        for bad in [
            "https://evil.example/x",
            "https://fal.run.evil.example/x",
            "https://evilfal.run/x",
            "https://user@queue.fal.run/x",
            "http://queue.fal.run/x",
            "https://queue.fal.run/a/../../x",
            "https://queue.fal.run//evil.example/x",
            "https://queue.fal.run:8443/x",
            "/fal-ai/x",
            "not a url",
        ] {
            assert!(fal.target_uri(bad).is_err(), "{bad} must be refused");
        }
        // A base URL pointed elsewhere (a test double) is a host the header may name too.
        let mut o = BTreeMap::new();
        o.insert(
            "fal".to_owned(),
            ProviderOverride {
                base_url: Some("http://127.0.0.1:9/fal".into()),
                ..ProviderOverride::default()
            },
        );
        let c = Catalog::with_overrides(&o).expect("valid");
        let fal = c.get("fal").expect("fal");
        assert_eq!(
            fal.target_uri("http://127.0.0.1:9/queue/x")
                .expect("the base host")
                .to_string(),
            "http://127.0.0.1:9/queue/x"
        );
        // ... and only it: Fal's own hosts would go around it.
        assert!(fal.target_uri("https://queue.fal.run/x").is_err());
        assert!(fal.target_uri("http://127.0.0.1:10/queue/x").is_err());
        // Providers without a target header take none.
        assert!(catalog().get("grok").expect("grok").target_header.is_none());
    }

    #[test]
    fn refuses_every_escape() {
        let c = catalog();
        let grok = c.get("grok").expect("grok");
        for bad in [
            "../etc/passwd",
            "v1/../../x",
            "v1/%2e%2e/x",
            "v1/%2E%2e/x",
            "v1/.%2E/x",
            "v1/%2e/x",
            "v1/..;/x",
            "v1/..;jsessionid=1/x",
            "v1/.;x/y",
            "v1/a%2fb",
            "v1/a%2Fb",
            "/evil.example/x",
            "v1//evil.example",
            "v1\\..\\x",
            "v1/a%5cb",
            "user@evil.example/x",
            "@evil.example/v1/chat/completions",
            "v1/@evil.example/x",
            "%40evil.example/x",
            "@/x",
            "v1/a%40b",
            "models@evil.example/x",
            "v1/models/m/x@y",
            "https://evil.example/x",
            "https:%2f%2fevil.example",
            "javascript:alert(1)",
            "HTTPS:evil.example",
            "file:etc/passwd",
            "data:text,hi",
            "v1/a%00b",
            "v1/a%0d%0aHost:%20evil",
            "v1/%zz",
            "v1/a%2",
        ] {
            assert!(
                grok.upstream_uri("a", bad, None).is_err(),
                "{bad} must be refused"
            );
        }
        let azure = c.get("azure-openai").expect("azure");
        assert!(azure.upstream_uri("a", "evil.com%2f/d/x", None).is_err());
        assert!(azure.upstream_uri("a", "evil.com/d/x", None).is_err());
        assert!(
            azure.upstream_uri("a", "my_res/d/x", None).is_err(),
            "the resource is a host label"
        );
        assert!(azure.upstream_uri("a", "res/-d/x", None).is_err());
        assert!(azure.upstream_uri("a", "res/.d/x", None).is_err());
        assert!(
            azure.upstream_uri("a", "my.res/d/x", None).is_err(),
            "no dot in the host label"
        );
        assert!(azure.upstream_uri("a", "", None).is_err());
    }

    #[test]
    fn allows_ordinary_escapes_and_trailing_slashes() {
        assert_eq!(
            uri("grok", "v1/models/grok%2D4/"),
            "https://api.x.ai/v1/models/grok%2D4/"
        );
        assert_eq!(uri("grok", ""), "https://api.x.ai/v1");
        assert_eq!(uri("grok", "v1"), "https://api.x.ai/v1");
        assert_eq!(uri("grok", "v1/"), "https://api.x.ai/v1/");
        assert_eq!(uri("groq", "openai/v1/"), "https://api.groq.com/openai/v1/");
    }
}
