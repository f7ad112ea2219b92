//! The CLI's side of the API: the connection file a node writes into its data directory, and a
//! small JSON client over HTTP/2 with the node's admin certificate pinned.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow};
use hyper::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use signet_transport::http::H2Client;

/// `<data-dir>/cli.json`, mode 0600: how the CLI on the node's machine reaches the node's API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CliFile {
    /// `host:port` of the admin API.
    pub api: String,
    pub token: String,
    /// SHA-256 of the admin certificate, pinned by the CLI.
    pub cert_sha256: String,
}

impl CliFile {
    pub fn read(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join("cli.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (is a node running with --data-dir {}?)",
                path.display(),
                data_dir.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))
    }

    pub fn write(&self, data_dir: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        signet_store::datadir::write_private_file(&data_dir.join("cli.json"), &json)?;
        Ok(())
    }
}

pub struct ApiClient {
    http: H2Client,
    token: String,
    timeout: Duration,
}

impl ApiClient {
    pub fn new(api: &str, token: &str, cert_sha256: &str) -> anyhow::Result<Self> {
        signet_transport::install_crypto_provider();
        let tls = signet_transport::tls::pinned_client_config(cert_sha256)?;
        Ok(ApiClient {
            http: H2Client::new(api, "signet-admin", tls)?,
            token: token.to_string(),
            timeout: Duration::from_secs(30),
        })
    }

    pub fn from_file(file: &CliFile) -> anyhow::Result<Self> {
        Self::new(&file.api, &file.token, &file.cert_sha256)
    }

    /// Allows slow calls (key generation, backups) more time.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends a request; the status and the raw body of the answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(hyper::StatusCode, bytes::Bytes)> {
        let auth = format!("Bearer {}", self.token);
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let reply = self
            .http
            .request(
                method,
                path,
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                    ("accept", "application/json"),
                ],
                bytes.into(),
                self.timeout,
            )
            .await
            .map_err(|e| anyhow!("{e}"))?;
        Ok((reply.status, reply.body))
    }

    /// The problem+json detail of a failed call, as one error.
    fn failure(status: hyper::StatusCode, body: &[u8]) -> anyhow::Error {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let detail = value
            .get("detail")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
        anyhow!("{detail} ({status})")
    }

    /// A call whose answer is not JSON (an exported key, a CRL): the raw body.
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Vec<u8>> {
        let (status, body) = self.send(method, path, body).await?;
        if status.is_success() {
            Ok(body.to_vec())
        } else {
            Err(Self::failure(status, &body))
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (status, body) = self.send(method, path, body).await?;
        if status.is_success() {
            Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
        } else {
            Err(Self::failure(status, &body))
        }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(Method::POST, path, Some(body)).await
    }
}

/// Percent-encodes one path segment.
pub fn path_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
