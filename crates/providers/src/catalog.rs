//! Providers as data: the embedded catalog (with the other upstreams, or forms, some providers
//! have beside their base URL), per-provider overrides and custom providers.

use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const EMBEDDED: &str = include_str!("../data/catalog.toml");

/// The header a provider's clients carry their key in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthStyle {
    /// `Authorization: Bearer KEY`
    Bearer,
    /// `x-api-key: KEY`
    XApiKey,
    /// `x-goog-api-key: KEY`
    XGoogApiKey,
    /// `api-key: KEY`
    ApiKey,
    /// `xi-api-key: KEY`
    XiApiKey,
    /// `Authorization: Token KEY`
    Token,
    /// `Authorization: Key KEY` (Fal)
    Key,
}

impl AuthStyle {
    /// Every header some style uses: the headers a client may put a provider key in, whatever
    /// its provider (the Anthropic SDK sends `x-api-key` to any base URL).
    pub const KEY_HEADERS: [HeaderName; 5] = [
        http::header::AUTHORIZATION,
        HeaderName::from_static("x-api-key"),
        HeaderName::from_static("x-goog-api-key"),
        HeaderName::from_static("api-key"),
        HeaderName::from_static("xi-api-key"),
    ];

    /// The header this style uses (one of [`AuthStyle::KEY_HEADERS`]).
    pub fn header(self) -> HeaderName {
        let [authorization, x_api_key, x_goog_api_key, api_key, xi_api_key] = Self::KEY_HEADERS;
        match self {
            AuthStyle::Bearer | AuthStyle::Token | AuthStyle::Key => authorization,
            AuthStyle::XApiKey => x_api_key,
            AuthStyle::XGoogApiKey => x_goog_api_key,
            AuthStyle::ApiKey => api_key,
            AuthStyle::XiApiKey => xi_api_key,
        }
    }

    /// The header value carrying `key`, or `None` if `key` cannot be a header value.
    pub fn value(self, key: &str) -> Option<HeaderValue> {
        let v = match self {
            AuthStyle::Bearer => HeaderValue::try_from(format!("Bearer {key}")),
            AuthStyle::Token => HeaderValue::try_from(format!("Token {key}")),
            AuthStyle::Key => HeaderValue::try_from(format!("Key {key}")),
            _ => HeaderValue::try_from(key),
        };
        let mut v = v.ok()?;
        v.set_sensitive(true);
        Some(v)
    }
}

/// The wire format of a provider's chat API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiShape {
    /// OpenAI Chat Completions: `/compat` forwards the body with only `model` rewritten.
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `generateContent`.
    Gemini,
    /// Reachable by pass-through only.
    Native,
}

/// Why a catalog or an override was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    #[error("provider '{slug}': base_url '{url}' {why}")]
    BadBaseUrl {
        slug: String,
        url: String,
        why: &'static str,
    },
    #[error("provider '{slug}': header '{name}' is not a valid header")]
    BadHeader { slug: String, name: String },
    #[error("provider '{slug}' is not in the catalog; only custom-{{name}} providers may be added, and they need a base_url")]
    UnknownProvider { slug: String },
    #[error("provider '{slug}' has no form '{form}' (forms: {known})")]
    UnknownForm {
        slug: String,
        form: String,
        known: String,
    },
    #[error("provider '{slug}', form '{form}': only base_url, auth, api, headers and name can be changed")]
    BadFormOverride { slug: String, form: String },
    #[error("the embedded catalog is invalid: {0}")]
    Embedded(String),
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: String,
    base_url: String,
    auth: AuthStyle,
    api: ApiShape,
    chat_path: Option<String>,
    embeddings_path: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    aliases: Vec<String>,
    /// A segment the client's path must start with, dropped before anything else.
    path_prefix: Option<String>,
    /// Placeholders filled from the client's path where it names them, not from its leading
    /// segments: placeholder → the segment whose successor fills it (`region = "locations"`).
    #[serde(default)]
    path_params: BTreeMap<String, String>,
    /// Another provider whose price table prices this one's models.
    prices: Option<String>,
    /// The provider's answers carry its own bill ([`Provider::reports_cost`]).
    #[serde(default)]
    reports_cost: bool,
    /// A request header that names the whole upstream URL instead of the path (Fal's
    /// `x-fal-target-url`), within [`RawEntry::target_hosts`].
    target_header: Option<String>,
    /// The hosts (and their subdomains) such a URL may name.
    #[serde(default)]
    target_hosts: Vec<String>,
    /// The version segments of an API whose base URL has none ([`Provider::versions`]).
    #[serde(default)]
    versions: Vec<String>,
    /// Other upstreams of the same provider, each taken when the client's path starts with
    /// its name ([`Provider::forms`]).
    #[serde(default)]
    forms: BTreeMap<String, RawForm>,
    /// A client's `Authorization: Bearer KEY` goes to the provider in `auth`'s header.
    #[serde(default)]
    key_from_bearer: bool,
    /// Placeholders whose value must be lowercase letters and digits only.
    #[serde(default)]
    alnum_params: Vec<String>,
    /// The base URL is the whole endpoint: nothing may follow the placeholders.
    #[serde(default)]
    whole_path: bool,
    /// Placeholders in the host of the catalog's own base URL: set from it, not read.
    #[serde(skip)]
    label_params: Vec<String>,
}

/// A form of a provider (`[SLUG.forms.SEGMENT]`): a second upstream, with its own base URL,
/// for the client paths that start with `SEGMENT/`. What it does not set is its provider's.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForm {
    name: Option<String>,
    base_url: String,
    auth: Option<AuthStyle>,
    api: Option<ApiShape>,
    headers: Option<BTreeMap<String, String>>,
    prices: Option<String>,
    #[serde(default)]
    key_from_bearer: bool,
    #[serde(default)]
    alnum_params: Vec<String>,
    #[serde(default)]
    whole_path: bool,
    #[serde(skip)]
    label_params: Vec<String>,
}

/// The `{placeholders}` in the host of `url` (none when it has no `://`).
fn host_params(url: &str) -> Vec<String> {
    let Some((_, rest)) = url.split_once("://") else {
        return Vec::new();
    };
    let host = rest.split('/').next().unwrap_or("");
    host.split('{')
        .skip(1)
        .filter_map(|p| p.split_once('}').map(|(name, _)| name.to_owned()))
        .collect()
}

/// Config-file changes to one provider (`[providers.SLUG]`). For `custom-*` slugs it defines
/// the provider; `base_url` is then required.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderOverride {
    pub base_url: Option<String>,
    pub auth: Option<AuthStyle>,
    pub api: Option<ApiShape>,
    pub chat_path: Option<String>,
    pub embeddings_path: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub name: Option<String>,
    pub reports_cost: Option<bool>,
    /// Changes to the provider's forms, by name (`[providers.SLUG.forms.NAME]`): `base_url`,
    /// `auth`, `api`, `headers` and `name` only.
    #[serde(default)]
    pub forms: BTreeMap<String, ProviderOverride>,
}

/// A base URL split into the parts the safe join needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// Host and port; may hold `{placeholders}`.
    pub authority: String,
    /// Path without a trailing slash (may be empty); may hold `{placeholders}`.
    pub path: String,
    /// Placeholders other than `{account_id}`, in order of appearance.
    pub params: Vec<String>,
}

impl BaseUrl {
    fn parse(slug: &str, url: &str) -> Result<Self, CatalogError> {
        let bad = |why| CatalogError::BadBaseUrl {
            slug: slug.to_owned(),
            url: url.to_owned(),
            why,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("is not an absolute http(s) URL"))?;
        if scheme != "http" && scheme != "https" {
            return Err(bad("must use http or https"));
        }
        if rest.contains(['?', '#', '\\', '@']) || rest.chars().any(|c| c.is_whitespace()) {
            return Err(bad(
                "must not contain a query, fragment, user info or spaces",
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(bad("has no host"));
        }
        let mut params = Vec::new();
        let mut scan = url;
        while let Some(open) = scan.find('{') {
            let close = scan[open..]
                .find('}')
                .ok_or_else(|| bad("has an unclosed '{'"))?;
            let name = &scan[open + 1..open + close];
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(bad("has a placeholder that is not a plain name"));
            }
            if name != "account_id" {
                params.push(name.to_owned());
            }
            scan = &scan[open + close + 1..];
        }
        // Check the shape with the placeholders filled in.
        let probe = url.replace(['{', '}'], "");
        http::Uri::try_from(probe.as_str()).map_err(|_| bad("is not a valid URL"))?;
        Ok(Self {
            scheme: scheme.to_owned(),
            authority: authority.to_owned(),
            path: path.to_owned(),
            params,
        })
    }

    /// Whether the host is a loopback address (plain http is allowed only there).
    pub fn is_loopback(&self) -> bool {
        let host = match self.authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => self.authority.as_str(),
        };
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        // Only an address literal (127.0.0.0/8, ::1) or the name `localhost` itself: a DNS
        // name that merely starts with `127.` can point anywhere.
        host.eq_ignore_ascii_case("localhost")
            || literal
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// The last segment of the path, used by the `v1/` rule of SPEC 2.1.
    pub fn last_segment(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }
}

/// One provider, ready to use.
#[derive(Debug, Clone)]
pub struct Provider {
    pub slug: String,
    pub name: String,
    pub base: BaseUrl,
    pub auth: AuthStyle,
    pub api: ApiShape,
    pub chat_path: Option<String>,
    pub embeddings_path: Option<String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub aliases: Vec<String>,
    /// `custom-*` providers take the client's path verbatim (no `v1/` rule).
    pub custom: bool,
    /// The segment the client's path must start with (dropped), e.g. Bedrock's
    /// `bedrock-runtime`.
    pub path_prefix: Option<String>,
    /// Placeholders filled from the segment after a named one anywhere in the client's path
    /// (Vertex AI's `{region}` from `.../locations/{region}/...`); the path is kept whole.
    pub path_params: Vec<(String, String)>,
    /// The price table this provider's models are priced by: its own slug unless the catalog
    /// names another (Vertex AI serves Gemini at Google AI Studio's prices).
    pub prices: String,
    /// Whether the provider's answers carry its own bill (xAI's `cost_in_usd_ticks`,
    /// OpenRouter's `usage.cost`, Perplexity's `usage.cost.total_cost`), which is then the
    /// cost. Another provider's such field (a proxy's figure, in a unit of its own) is not.
    pub reports_cost: bool,
    /// A request header naming the whole upstream URL (Fal's `x-fal-target-url`); see
    /// [`Provider::target_uri`].
    pub target_header: Option<HeaderName>,
    /// The hosts (with their subdomains) that URL may name, besides the base URL's own.
    pub target_hosts: Vec<String>,
    /// For a base URL without a version, the segments its paths start with (Cohere's `v1`,
    /// `v2`, `compatibility`): a client path that starts with none gets the first (the URL
    /// that replaced `https://api.cohere.ai/v1` whole), and one that starts with `v1/` before
    /// another version drops that `v1/` (an SDK given the base URL with `/v1`).
    pub versions: Vec<String>,
    /// Other upstreams of this provider, each with the first path segment that selects it
    /// (Bedrock's `bedrock-mantle`, Baseten's `model`): a form is a provider of the same slug
    /// whose `path_prefix` is that segment ([`Provider::form`]).
    pub forms: Vec<(String, Arc<Provider>)>,
    /// A client's `Authorization: Bearer KEY` is sent to the provider in the header of
    /// [`Provider::auth`] instead (Bedrock's mantle endpoint takes API keys as `x-api-key`;
    /// Cloudflare's documentation sends them as bearer tokens).
    pub key_from_bearer: bool,
    /// Placeholders whose value must be only lowercase ASCII letters and digits (Baseten's
    /// model ids, which name a host).
    pub alnum_params: Vec<String>,
    /// Placeholders that name a host in the catalog: their value must be a DNS label even
    /// where the config's `base_url` puts them in the path (a test double, a proxy).
    pub label_params: Vec<String>,
    /// The base URL is the whole endpoint: a client path with anything after the
    /// placeholders is refused.
    pub whole_path: bool,
}

/// All providers, by slug and by compat prefix.
#[derive(Debug, Clone)]
pub struct Catalog {
    by_slug: HashMap<String, Arc<Provider>>,
    by_prefix: HashMap<String, Arc<Provider>>,
}

/// A custom provider's entry: OpenAI-shaped, bearer keys, `chat/completions` for `/compat`.
fn custom_entry(slug: &str, base_url: &str) -> RawEntry {
    RawEntry {
        name: slug.to_owned(),
        base_url: base_url.to_owned(),
        auth: AuthStyle::Bearer,
        api: ApiShape::Openai,
        chat_path: Some("chat/completions".into()),
        embeddings_path: Some("embeddings".into()),
        headers: BTreeMap::new(),
        aliases: Vec::new(),
        path_prefix: None,
        path_params: BTreeMap::new(),
        prices: None,
        reports_cost: false,
        target_header: None,
        target_hosts: Vec::new(),
        versions: Vec::new(),
        forms: BTreeMap::new(),
        key_from_bearer: false,
        alnum_params: Vec::new(),
        whole_path: false,
        label_params: Vec::new(),
    }
}

impl Provider {
    /// The form of this provider that the client path `rest` (after the slug) selects by its
    /// first segment, if any.
    pub fn form(&self, rest: &str) -> Option<&Arc<Provider>> {
        let lead = rest.split('/').next().unwrap_or("");
        self.forms
            .iter()
            .find(|(segment, _)| segment == lead)
            .map(|(_, form)| form)
    }

    /// A custom provider `custom-{name}` (as defined through the control plane): the path
    /// after the slug is appended verbatim to `base_url`, which must be https unless its host
    /// is loopback.
    pub fn custom(name: &str, base_url: &str) -> Result<Provider, CatalogError> {
        let slug = format!("custom-{name}");
        let p = build(&slug, custom_entry(&slug, base_url), true)?;
        if p.base.scheme != "https" && !p.base.is_loopback() {
            return Err(CatalogError::BadBaseUrl {
                slug,
                url: base_url.to_owned(),
                why: "must be https (plain http only for loopback hosts)",
            });
        }
        Ok(p)
    }
}

/// The entry of a form `segment` of the provider `parent`: what the form does not set is the
/// provider's, but nothing that shapes the path (aliases, versions, placeholders from the
/// path, a target header, compat endpoints) carries over.
fn form_entry(slug: &str, parent: &RawEntry, segment: &str, form: RawForm) -> RawEntry {
    RawEntry {
        name: form.name.unwrap_or_else(|| parent.name.clone()),
        base_url: form.base_url,
        auth: form.auth.unwrap_or(parent.auth),
        api: form.api.unwrap_or(parent.api),
        chat_path: None,
        embeddings_path: None,
        headers: form.headers.unwrap_or_else(|| parent.headers.clone()),
        aliases: Vec::new(),
        path_prefix: Some(segment.to_owned()),
        path_params: BTreeMap::new(),
        prices: form
            .prices
            .or_else(|| parent.prices.clone())
            .or_else(|| Some(slug.to_owned())),
        reports_cost: parent.reports_cost,
        target_header: None,
        target_hosts: Vec::new(),
        versions: Vec::new(),
        forms: BTreeMap::new(),
        key_from_bearer: form.key_from_bearer,
        alnum_params: form.alnum_params,
        whole_path: form.whole_path,
        label_params: form.label_params,
    }
}

fn build(slug: &str, mut raw: RawEntry, custom: bool) -> Result<Provider, CatalogError> {
    let mut forms = Vec::with_capacity(raw.forms.len());
    for (segment, form) in std::mem::take(&mut raw.forms) {
        let plain = !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !segment.starts_with('.');
        if custom || !plain {
            return Err(CatalogError::Embedded(format!(
                "provider '{slug}': form '{segment}' must be a plain path segment of a catalog provider"
            )));
        }
        let entry = form_entry(slug, &raw, &segment, form);
        forms.push((segment, Arc::new(build(slug, entry, false)?)));
    }
    let mut base = BaseUrl::parse(slug, &raw.base_url)?;
    // A custom provider takes the client's path verbatim: nothing of it may fill the base URL
    // (a placeholder in the host would let a client pick where requests go).
    if custom && (!base.params.is_empty() || raw.base_url.contains(['{', '}'])) {
        return Err(CatalogError::BadBaseUrl {
            slug: slug.to_owned(),
            url: raw.base_url.clone(),
            why: "a custom provider's base_url may not hold {placeholders}",
        });
    }
    // Placeholders filled from the path are not taken from its leading segments. (A base URL
    // overridden without the placeholder simply has nothing to fill.)
    base.params.retain(|p| !raw.path_params.contains_key(p));
    let mut headers = Vec::with_capacity(raw.headers.len());
    for (k, v) in raw.headers {
        let bad = || CatalogError::BadHeader {
            slug: slug.to_owned(),
            name: k.clone(),
        };
        let name = HeaderName::try_from(k.as_str()).map_err(|_| bad())?;
        let value = HeaderValue::try_from(v.as_str()).map_err(|_| bad())?;
        headers.push((name, value));
    }
    Ok(Provider {
        slug: slug.to_owned(),
        name: raw.name,
        base,
        auth: raw.auth,
        api: raw.api,
        chat_path: raw.chat_path.map(|p| p.trim_start_matches('/').to_owned()),
        embeddings_path: raw
            .embeddings_path
            .map(|p| p.trim_start_matches('/').to_owned()),
        headers,
        aliases: raw.aliases,
        custom,
        path_prefix: raw.path_prefix,
        path_params: raw.path_params.into_iter().collect(),
        prices: raw.prices.unwrap_or_else(|| slug.to_owned()),
        reports_cost: raw.reports_cost,
        target_header: raw
            .target_header
            .map(|h| {
                HeaderName::try_from(h.as_str()).map_err(|_| CatalogError::BadHeader {
                    slug: slug.to_owned(),
                    name: h.clone(),
                })
            })
            .transpose()?,
        target_hosts: raw.target_hosts,
        versions: raw.versions,
        forms,
        key_from_bearer: raw.key_from_bearer,
        alnum_params: raw.alnum_params,
        label_params: raw.label_params,
        whole_path: raw.whole_path,
    })
}

impl Catalog {
    /// The embedded catalog with no changes.
    pub fn embedded() -> Result<Self, CatalogError> {
        Self::with_overrides(&BTreeMap::new())
    }

    /// The embedded catalog with the config's `[providers.*]` tables applied.
    pub fn with_overrides(
        overrides: &BTreeMap<String, ProviderOverride>,
    ) -> Result<Self, CatalogError> {
        let mut raw: BTreeMap<String, RawEntry> =
            toml::from_str(EMBEDDED).map_err(|e| CatalogError::Embedded(e.to_string()))?;
        for e in raw.values_mut() {
            e.label_params = host_params(&e.base_url);
            for f in e.forms.values_mut() {
                f.label_params = host_params(&f.base_url);
            }
        }
        let mut entries: BTreeMap<String, (RawEntry, bool)> =
            raw.into_iter().map(|(k, v)| (k, (v, false))).collect();
        for (slug, o) in overrides {
            let custom = slug.starts_with("custom-") && slug.len() > "custom-".len();
            let entry = match entries.remove(slug) {
                Some((e, c)) => (e, c),
                None if custom => {
                    let Some(url) = &o.base_url else {
                        return Err(CatalogError::UnknownProvider { slug: slug.clone() });
                    };
                    (custom_entry(slug, url), true)
                }
                None => return Err(CatalogError::UnknownProvider { slug: slug.clone() }),
            };
            let (mut e, c) = entry;
            if let Some(v) = &o.base_url {
                e.base_url = v.clone();
            }
            if let Some(v) = o.auth {
                e.auth = v;
            }
            if let Some(v) = o.api {
                e.api = v;
            }
            if let Some(v) = &o.chat_path {
                e.chat_path = Some(v.clone());
            }
            if let Some(v) = &o.embeddings_path {
                e.embeddings_path = Some(v.clone());
            }
            if let Some(v) = &o.headers {
                e.headers = v.clone();
            }
            if let Some(v) = &o.name {
                e.name = v.clone();
            }
            if let Some(v) = o.reports_cost {
                e.reports_cost = v;
            }
            for (name, fo) in &o.forms {
                let known = e.forms.keys().cloned().collect::<Vec<_>>().join(", ");
                let Some(f) = e.forms.get_mut(name) else {
                    return Err(CatalogError::UnknownForm {
                        slug: slug.clone(),
                        form: name.clone(),
                        known: if known.is_empty() {
                            "none".into()
                        } else {
                            known
                        },
                    });
                };
                if fo.chat_path.is_some()
                    || fo.embeddings_path.is_some()
                    || fo.reports_cost.is_some()
                    || !fo.forms.is_empty()
                {
                    return Err(CatalogError::BadFormOverride {
                        slug: slug.clone(),
                        form: name.clone(),
                    });
                }
                if let Some(v) = &fo.base_url {
                    f.base_url = v.clone();
                }
                if let Some(v) = fo.auth {
                    f.auth = Some(v);
                }
                if let Some(v) = fo.api {
                    f.api = Some(v);
                }
                if let Some(v) = &fo.headers {
                    f.headers = Some(v.clone());
                }
                if let Some(v) = &fo.name {
                    f.name = Some(v.clone());
                }
            }
            entries.insert(slug.clone(), (e, c));
        }
        let mut by_slug = HashMap::new();
        let mut by_prefix = HashMap::new();
        for (slug, (raw, custom)) in entries {
            let p = build(&slug, raw, custom)?;
            if custom && p.base.scheme != "https" && !p.base.is_loopback() {
                return Err(CatalogError::BadBaseUrl {
                    slug,
                    url: format!("{}://{}{}", p.base.scheme, p.base.authority, p.base.path),
                    why: "must be https (plain http only for loopback hosts)",
                });
            }
            let p = Arc::new(p);
            for alias in &p.aliases {
                by_prefix.insert(alias.clone(), p.clone());
            }
            by_prefix.insert(slug.clone(), p.clone());
            by_slug.insert(slug, p);
        }
        Ok(Self { by_slug, by_prefix })
    }

    /// The provider with this URL slug.
    pub fn get(&self, slug: &str) -> Option<&Arc<Provider>> {
        self.by_slug.get(slug)
    }

    /// The provider a `/compat` model prefix names (slug or alias).
    pub fn by_prefix(&self, prefix: &str) -> Option<&Arc<Provider>> {
        self.by_prefix.get(prefix)
    }

    /// Every slug, sorted.
    pub fn slugs(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.by_slug.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalog_has_the_required_providers() {
        let c = Catalog::embedded().expect("embedded catalog parses");
        for slug in [
            "grok",
            "openai",
            "anthropic",
            "groq",
            "mistral",
            "deepseek",
            "cerebras",
            "perplexity-ai",
            "openrouter",
            "google-ai-studio",
            "workers-ai",
            "cohere",
            "replicate",
            "huggingface",
            "azure-openai",
            "azure",
            "aws-bedrock",
            "baseten",
        ] {
            assert!(c.get(slug).is_some(), "{slug} missing");
        }
        let grok = c.get("grok").expect("grok");
        assert_eq!(grok.base.authority, "api.x.ai");
        assert_eq!(grok.base.path, "/v1");
        assert_eq!(grok.auth, AuthStyle::Bearer);
        assert_eq!(c.by_prefix("xai").map(|p| p.slug.as_str()), Some("grok"));
        assert_eq!(
            c.by_prefix("google").map(|p| p.slug.as_str()),
            Some("google-ai-studio")
        );
        assert_eq!(
            c.by_prefix("perplexity").map(|p| p.slug.as_str()),
            Some("perplexity-ai")
        );
        let azure = c.get("azure-openai").expect("azure");
        assert_eq!(azure.base.params, vec!["resource", "deployment"]);
        let anthropic = c.get("anthropic").expect("anthropic");
        assert_eq!(anthropic.headers[0].0.as_str(), "anthropic-version");
        // Hugging Face's retired inference host answers 410: its router, same client path.
        let hf = c.get("huggingface").expect("huggingface");
        assert_eq!(
            hf.upstream_uri("a", "bigcode/starcoder", None)
                .expect("a model path")
                .to_string(),
            "https://router.huggingface.co/hf-inference/models/bigcode/starcoder"
        );
        // Parallel's Chat API is on /compat (`parallel/speed`), with its one key header.
        let parallel = c.get("parallel").expect("parallel");
        assert_eq!(parallel.api, ApiShape::Openai);
        assert_eq!(parallel.auth, AuthStyle::XApiKey);
        let chat = parallel.chat_path.as_deref().expect("a chat path");
        assert_eq!(
            parallel
                .endpoint_uri("a", chat)
                .expect("its URI")
                .to_string(),
            "https://api.parallel.ai/v1beta/chat/completions"
        );
    }

    #[test]
    fn overrides_replace_fields_and_add_custom_providers() {
        let mut o = BTreeMap::new();
        o.insert(
            "grok".to_owned(),
            ProviderOverride {
                base_url: Some("http://127.0.0.1:9/v1".into()),
                ..Default::default()
            },
        );
        o.insert(
            "custom-mine".to_owned(),
            ProviderOverride {
                base_url: Some("https://llm.example.com/api".into()),
                ..Default::default()
            },
        );
        let c = Catalog::with_overrides(&o).expect("valid overrides");
        let grok = c.get("grok").expect("grok");
        assert_eq!(grok.base.authority, "127.0.0.1:9");
        assert_eq!(grok.auth, AuthStyle::Bearer, "untouched fields are kept");
        let mine = c.get("custom-mine").expect("custom provider");
        assert!(mine.custom);
        assert_eq!(mine.base.path, "/api");
    }

    #[test]
    fn forms_take_their_own_overrides() {
        let form = |name: &str, o: ProviderOverride| {
            let mut forms = BTreeMap::new();
            forms.insert(name.to_owned(), o);
            let mut all = BTreeMap::new();
            all.insert(
                "aws-bedrock".to_owned(),
                ProviderOverride {
                    forms,
                    ..Default::default()
                },
            );
            Catalog::with_overrides(&all)
        };
        let c = form(
            "bedrock-mantle",
            ProviderOverride {
                base_url: Some("http://127.0.0.1:9/m/{region}".into()),
                ..Default::default()
            },
        )
        .expect("a known form");
        let bedrock = c.get("aws-bedrock").expect("bedrock");
        assert_eq!(
            bedrock.base.authority, "bedrock-runtime.{region}.amazonaws.com",
            "the provider itself is untouched"
        );
        let mantle = bedrock.form("bedrock-mantle/x").expect("the form");
        assert_eq!(mantle.base.authority, "127.0.0.1:9");
        assert_eq!(mantle.auth, AuthStyle::XApiKey, "untouched fields are kept");
        assert!(mantle.key_from_bearer);
        assert_eq!(mantle.prices, "aws-bedrock");
        assert!(matches!(
            form("bedrock-nope", ProviderOverride::default()),
            Err(CatalogError::UnknownForm { .. })
        ));
        assert!(matches!(
            form(
                "bedrock-mantle",
                ProviderOverride {
                    chat_path: Some("x".into()),
                    ..Default::default()
                }
            ),
            Err(CatalogError::BadFormOverride { .. })
        ));
        assert!(matches!(
            form(
                "bedrock-mantle",
                ProviderOverride {
                    base_url: Some("ftp://x.example".into()),
                    ..Default::default()
                }
            ),
            Err(CatalogError::BadBaseUrl { .. })
        ));
        // Providers without forms, custom ones included, take none.
        let mut forms = BTreeMap::new();
        forms.insert("x".to_owned(), ProviderOverride::default());
        for slug in ["grok", "custom-f"] {
            let mut all = BTreeMap::new();
            all.insert(
                slug.to_owned(),
                ProviderOverride {
                    base_url: Some("https://h.example/v1".into()),
                    forms: forms.clone(),
                    ..Default::default()
                },
            );
            assert!(
                matches!(
                    Catalog::with_overrides(&all),
                    Err(CatalogError::UnknownForm { .. })
                ),
                "{slug}"
            );
        }
        // Baseten's model endpoint and Azure's Anthropic models are in the catalog.
        let c = Catalog::embedded().expect("embedded");
        let baseten = c.get("baseten").expect("baseten");
        assert_eq!(baseten.api, ApiShape::Openai);
        let model = baseten.form("model/abc").expect("the model form");
        assert_eq!(model.api, ApiShape::Native);
        assert_eq!(model.auth, AuthStyle::Bearer);
        assert!(model.whole_path);
        assert_eq!(
            c.get("azure").expect("azure").label_params,
            vec!["resource"]
        );
    }

    #[test]
    fn refuses_bad_overrides() {
        let one = |slug: &str, url: &str| {
            let mut o = BTreeMap::new();
            o.insert(
                slug.to_owned(),
                ProviderOverride {
                    base_url: Some(url.into()),
                    ..Default::default()
                },
            );
            Catalog::with_overrides(&o)
        };
        assert!(matches!(
            one("nope", "https://x.example"),
            Err(CatalogError::UnknownProvider { .. })
        ));
        assert!(one("grok", "ftp://x.example").is_err());
        assert!(one("grok", "api.x.ai/v1").is_err());
        assert!(one("grok", "https://user@x.example").is_err());
        assert!(
            one("custom-a", "http://x.example").is_err(),
            "custom needs https"
        );
        assert!(one("custom-a", "http://127.0.0.1:8000").is_ok());
        assert!(one("custom-a", "https://{region}.example/v1").is_err());
        assert!(Provider::custom("ph", "https://api.example/{x}/v1").is_err());
        assert!(Provider::custom("ph", "https://{account_id}.example/v1").is_err());
        assert!(one("custom-a", "https://{account_id}.example/v1").is_err());
        for ok in [
            "http://127.1.2.3/v1",
            "http://localhost:8000",
            "http://LOCALHOST",
            "http://[::1]:9000/v1",
        ] {
            assert!(one("custom-a", ok).is_ok(), "{ok} is loopback");
        }
        // Names that only look like loopback addresses resolve wherever their owner likes.
        for remote in [
            "http://127.evil.example/v1",
            "http://127.0.0.1.nip.io/v1",
            "http://localhost.evil.example",
            "http://[::2]/v1",
            "http://0x7f000001",
        ] {
            assert!(one("custom-a", remote).is_err(), "{remote} is not loopback");
        }
    }
}
