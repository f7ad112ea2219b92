//! HKP / HKPS: `GET /pks/lookup?op=get&options=mr&search=<email>` (draft-shaw-openpgp-hkp), the
//! request GnuPG's dirmngr makes. The reference product does not speak HKP; Signet does.

use super::http::{encode_query, get};
use super::{Failure, Keyserver, KeyserverKind, SearchOptions, Target};
use crate::material::{KeyMaterial, merge, openpgp_keys_for};

pub(crate) async fn search(
    target: &Target,
    server: &Keyserver,
    options: &SearchOptions,
) -> Result<Vec<KeyMaterial>, Failure> {
    let host = server.host_for(&target.domain);
    let path = format!(
        "/pks/lookup?op=get&options=mr&search={}",
        encode_query(&target.email)
    );
    let tls = server.kind == KeyserverKind::Hkps;
    let answer = get(tls, &host, server.port(), &path, options).await?;
    match answer.status {
        200 => {
            let mut out = Vec::new();
            merge(
                &mut out,
                openpgp_keys_for(&answer.body, &target.email),
                options.max_keys,
            );
            Ok(out)
        }
        // "No keys found" is an answer, not a failure.
        404 | 410 => Ok(Vec::new()),
        status => Err(Failure(format!("HTTP status {status}"))),
    }
}
