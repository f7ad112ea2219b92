//! The public HTTP keyserver: HKP (`/pks/lookup`), Web Key Directory for every managed domain,
//! and the CRL service (`/crl/RevokedCertificates.crl`), served on the node's public HTTP and
//! HTTPS listeners (`keys.<domain>`, `openpgpkey.<domain>`). Everything here is read-only and
//! anonymous, except the Verified Directory's submissions it hands on; it never sees secret
//! material (the directory holds none, and CRLs are signed by
//! the appliance behind [`CrlSource`]).
//!
//! Limits: per-client-address token buckets ([`limits`]), a query-length limit
//! ([`query::MAX_QUERY_LEN`]), small request heads ([`server`]); only the Verified Directory's
//! posts (`/vd/…`, `/pks/add`, when it runs) read a body, a bounded one.

pub mod crl;
pub mod format;
pub mod hkp;
pub mod limits;
pub mod query;
pub mod server;
pub mod wkd;

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

pub use crl::{CrlCache, CrlError, CrlSource};
pub use limits::{Class, Rate, RateLimiter, RateLimits};

use crate::directory::SharedDirectory;

/// What the service needs from the node besides the directory.
pub trait PublicSource: CrlSource {
    /// The managed domains (lower case) WKD answers for.
    fn managed_domains(&self) -> Result<Vec<String>, String>;
}

/// Settings of the service (the listeners are the appliance's).
#[derive(Debug, Clone, Default)]
pub struct ServiceSettings {
    pub limits: RateLimits,
}

/// The request handler, cheap to clone into every connection.
#[derive(Clone)]
pub struct PublicService {
    inner: Arc<Inner>,
}

struct Inner {
    directory: SharedDirectory,
    source: Arc<dyn PublicSource>,
    limiter: RateLimiter,
    crl: CrlCache,
    /// The Verified Directory's pages and `/pks/add`, when the node runs it.
    verified_directory: std::sync::OnceLock<crate::verified_directory::VdService>,
}

pub type HttpResponse = Response<Full<Bytes>>;

impl PublicService {
    pub fn new(
        directory: SharedDirectory,
        source: Arc<dyn PublicSource>,
        settings: ServiceSettings,
    ) -> Self {
        PublicService {
            inner: Arc::new(Inner {
                directory,
                source,
                limiter: RateLimiter::new(settings.limits),
                crl: CrlCache::default(),
                verified_directory: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Serves the Verified Directory (`/vd/…`, `/pks/add`) too; set once, before serving.
    pub fn set_verified_directory(&self, vd: crate::verified_directory::VdService) {
        let _ = self.inner.verified_directory.set(vd);
    }

    /// Answers one request from `client`. Only the Verified Directory's posts read a body
    /// (bounded); nothing else here takes one.
    pub async fn handle<B>(&self, req: Request<B>, client: IpAddr) -> HttpResponse
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if let Some(vd) = self.inner.verified_directory.get()
            && crate::verified_directory::VdService::serves(req.uri().path())
        {
            let upload = req.uri().path() == "/pks/add";
            let posted = *req.method() == Method::POST;
            if posted && !self.inner.limiter.allow(client, Class::ByAddress) {
                return too_many();
            }
            if let Some(resp) = vd.handle(req).await {
                return resp;
            }
            if !upload {
                return text(StatusCode::NOT_FOUND, "not found\n");
            }
            return text(
                StatusCode::FORBIDDEN,
                "This keyserver takes no uploads over HKP: submit your key through the Verified Directory, which confirms each address by email first.\n",
            );
        }
        let path = req.uri().path();
        let query = req.uri().query();
        let readable = matches!(*req.method(), Method::GET | Method::HEAD);
        if path == "/pks/add" {
            return text(
                StatusCode::FORBIDDEN,
                "This keyserver takes no uploads over HKP: submit your key through the Verified Directory, which confirms each address by email first.\n",
            );
        }
        if !readable {
            let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        match path {
            "/pks/lookup" => self.lookup(query.unwrap_or(""), client),
            "/crl/RevokedCertificates.crl" => self.crl(client).await,
            "/" => html(StatusCode::OK, HOME_PAGE.to_string()),
            p if p.starts_with(wkd::PREFIX) => {
                let host = req
                    .headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .or_else(|| req.uri().host());
                match wkd::parse(p, query, host) {
                    Some(request) => self.wkd(request, client).await,
                    None => text(StatusCode::NOT_FOUND, "not found\n"),
                }
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    fn lookup(&self, raw: &str, client: IpAddr) -> HttpResponse {
        let lookup = match query::parse_lookup(raw) {
            Ok(l) => l,
            Err(e) => return text(StatusCode::BAD_REQUEST, &format!("{e}\n")),
        };
        let class = if lookup.search.is_by_address() {
            Class::ByAddress
        } else {
            Class::ByFingerprint
        };
        if !self.inner.limiter.allow(client, class) {
            return too_many();
        }
        let raw_search = match &lookup.search {
            query::Search::Email(s)
            | query::Search::KeyId(s)
            | query::Search::Fingerprint(s)
            | query::Search::Text(s) => s.as_str(),
        };
        match hkp::answer(&self.inner.directory, &lookup, raw_search, now()) {
            hkp::Answer::Found { content_type, body } => {
                let mut resp = Response::new(Full::new(Bytes::from(body)));
                set_type(&mut resp, content_type);
                resp
            }
            hkp::Answer::NotFound => text(StatusCode::NOT_FOUND, "no keys found\n"),
        }
    }

    async fn wkd(&self, request: wkd::WkdRequest, client: IpAddr) -> HttpResponse {
        if !self.inner.limiter.allow(client, Class::ByAddress) {
            return too_many();
        }
        let domain = match &request {
            wkd::WkdRequest::Key { domain, .. } | wkd::WkdRequest::Policy { domain } => domain,
        };
        match self.inner.source.managed_domains() {
            Ok(domains) if domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) => {}
            Ok(_) => return text(StatusCode::NOT_FOUND, "not a domain of this server\n"),
            Err(e) => return unavailable(&e),
        }
        let wkd::WkdRequest::Key {
            domain,
            hash,
            local,
        } = request
        else {
            // An empty policy: no submission service, no special options.
            return bytes_response("text/plain; charset=utf-8", Bytes::new());
        };
        let directory = self.inner.directory.snapshot();
        // A request without the `l=` hint costs a scan: keep it off the I/O threads.
        let found = tokio::task::spawn_blocking(move || {
            wkd::keys_for(&directory, &domain, &hash, local.as_deref())
        })
        .await
        .unwrap_or_default();
        if found.is_empty() {
            return text(StatusCode::NOT_FOUND, "no key for this address\n");
        }
        let mut binary = Vec::new();
        for k in &found {
            binary.extend_from_slice(k.public());
        }
        bytes_response("application/octet-stream", Bytes::from(binary))
    }

    async fn crl(&self, client: IpAddr) -> HttpResponse {
        if !self.inner.limiter.allow(client, Class::ByFingerprint) {
            return too_many();
        }
        let inner = self.inner.clone();
        // Signing may take milliseconds (RSA): off the I/O threads.
        let result = tokio::task::spawn_blocking(move || {
            let source: &dyn CrlSource = &*inner.source;
            inner.crl.current(source, now())
        })
        .await
        .unwrap_or_else(|_| Err(CrlError::Unavailable("the CRL task failed".into())));
        match result {
            Ok(der) => bytes_response("application/pkix-crl", der),
            Err(CrlError::NoIssuer) => text(
                StatusCode::NOT_FOUND,
                "this server has no Organization Certificate, so it publishes no CRL\n",
            ),
            Err(CrlError::Unavailable(e)) => unavailable(&e),
        }
    }
}

const HOME_PAGE: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Keyserver</title></head><body>\n<h1>Keyserver</h1>\n<form action=\"/pks/lookup\" method=\"get\">\n<input type=\"hidden\" name=\"op\" value=\"index\">\n<label>Email address, key ID (0x...) or fingerprint: <input name=\"search\" size=\"50\"></label>\n<button type=\"submit\">Search</button>\n</form>\n</body></html>\n";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn set_type(resp: &mut HttpResponse, content_type: &'static str) {
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // WKD and HKP are read by web clients too (the WKD draft asks for this header).
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

fn bytes_response(content_type: &'static str, body: Bytes) -> HttpResponse {
    let mut resp = Response::new(Full::new(body));
    set_type(&mut resp, content_type);
    resp
}

fn text(status: StatusCode, body: &str) -> HttpResponse {
    let mut resp = bytes_response(
        "text/plain; charset=utf-8",
        Bytes::copy_from_slice(body.as_bytes()),
    );
    *resp.status_mut() = status;
    resp
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    let mut resp = bytes_response("text/html; charset=utf-8", Bytes::from(body));
    *resp.status_mut() = status;
    resp
}

fn too_many() -> HttpResponse {
    let mut resp = text(
        StatusCode::TOO_MANY_REQUESTS,
        "too many requests from your address; try again later\n",
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

fn unavailable(reason: &str) -> HttpResponse {
    tracing::warn!(reason, "public keyserver request could not be answered");
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "the keyserver cannot answer this right now\n",
    )
}
