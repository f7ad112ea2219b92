//! Certificates: the cluster CA, node certificates and the admin certificate.
//!
//! The CA's parameters are a pure function of the cluster id, so a member that holds the CA key
//! can rebuild the issuer and sign a joiner's certificate without parsing the CA certificate
//! back (which rcgen can do only with an extra X.509 parser).

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use sha2::{Digest, Sha256};

use crate::TransportError;

/// The DNS name every member's certificate carries and every member connects to. Members are
/// addressed by IP and port; the name only binds the certificate to "a member of this cluster".
pub const CLUSTER_SERVER_NAME: &str = "members.signet-cluster";

/// A certificate and its private key, both PEM. The key is secret: callers seal it before it
/// touches disk.
#[derive(Clone)]
pub struct CertifiedKey {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

fn ca_params(cluster_id: &str) -> Result<CertificateParams, TransportError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Signet");
    params.distinguished_name.push(
        DnType::CommonName,
        format!("Signet cluster CA {cluster_id}"),
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2124, 1, 1);
    Ok(params)
}

/// Makes a new cluster CA (ECDSA P-256, valid for a century: the CA only authenticates members
/// to each other, and rotating it means re-joining every member).
pub fn new_cluster_ca(cluster_id: &str) -> Result<CertifiedKey, TransportError> {
    let key = KeyPair::generate()?;
    let cert = ca_params(cluster_id)?.self_signed(&key)?;
    Ok(CertifiedKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Issues the certificate a member presents to other members, as server and as client.
pub fn issue_node_cert(
    cluster_id: &str,
    ca: &CertifiedKey,
    node_id: u64,
) -> Result<CertifiedKey, TransportError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem)?;
    let issuer = Issuer::new(ca_params(cluster_id)?, ca_key);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![CLUSTER_SERVER_NAME.to_string()])?;
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Signet");
    params
        .distinguished_name
        .push(DnType::CommonName, node_common_name(node_id));
    params.subject_alt_names.push(SanType::DnsName(
        format!("node-{node_id}.signet-cluster").try_into()?,
    ));
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2124, 1, 1);
    let cert = params.signed_by(&key, &issuer)?;
    Ok(CertifiedKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The subject common name of a member's certificate; the RPC server reads the member's id
/// back from it.
pub fn node_common_name(node_id: u64) -> String {
    format!("signet-node-{node_id}")
}

/// Reads a member id from the DER certificate a peer presented, by its `node-N.signet-cluster`
/// name. Returns `None` for anything that is not a member certificate.
pub fn node_id_from_cert_der(der: &[u8]) -> Option<u64> {
    // The name is ASCII inside the DER; a full X.509 parse is not needed to find our own marker,
    // and the certificate has already been verified against the cluster CA by rustls.
    let marker = b".signet-cluster";
    let hay = der;
    let mut i = 0;
    while i + marker.len() <= hay.len() {
        if hay[i..].starts_with(b"node-") {
            let digits: Vec<u8> = hay[i + 5..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .copied()
                .collect();
            let end = i + 5 + digits.len();
            if !digits.is_empty() && hay[end..].starts_with(marker) {
                return std::str::from_utf8(&digits).ok()?.parse().ok();
            }
        }
        i += 1;
    }
    None
}

/// A self-signed certificate for the admin port, made at setup (the admin UI can replace it).
pub fn self_signed_admin_cert(names: &[String]) -> Result<CertifiedKey, TransportError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    for name in names {
        let san = match name.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(name.clone().try_into()?),
        };
        params.subject_alt_names.push(san);
    }
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Signet");
    params
        .distinguished_name
        .push(DnType::CommonName, "Signet administration");
    let cert = params.self_signed(&key)?;
    Ok(CertifiedKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The SHA-256 fingerprint (lower-case hex) of the first certificate in a PEM text.
pub fn cert_fingerprint(cert_pem: &str) -> Result<String, TransportError> {
    let der = crate::tls::first_cert_der(cert_pem)?;
    Ok(fingerprint_der(der.as_ref()))
}

pub fn fingerprint_der(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_certificates_carry_their_member_id() {
        let ca = new_cluster_ca("c1").expect("ca");
        let node = issue_node_cert("c1", &ca, 42).expect("node cert");
        let der = crate::tls::first_cert_der(&node.cert_pem).expect("der");
        assert_eq!(node_id_from_cert_der(der.as_ref()), Some(42));
        let ca_der = crate::tls::first_cert_der(&ca.cert_pem).expect("der");
        assert_eq!(node_id_from_cert_der(ca_der.as_ref()), None);
    }
}
