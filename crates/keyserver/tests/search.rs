//! The key-search client against real peers: slapd with the OpenPGP keyserver schema (keys made
//! by gpg, a certificate made by openssl), a loopback HKP server, a loopback WKD over HTTPS and a
//! blackholed server that must time out.

mod common;

use std::time::{Duration, Instant};

use common::*;
use signet_keyserver::search::{SearchError, wkd_urls};
use signet_keyserver::{Keyserver, KeyserverKind, SearchOptions, search, search_in_order};
use signet_model::CachedKeyKind;

fn server(kind: KeyserverKind, host: &str, port: u16) -> Keyserver {
    Keyserver {
        description: format!("test {host}"),
        kind,
        host: host.into(),
        port: Some(port),
        base_dn: None,
        trusted: false,
    }
}

fn quick() -> SearchOptions {
    SearchOptions {
        timeout: Duration::from_secs(5),
        ..SearchOptions::default()
    }
}

#[tokio::test]
async fn ldap_keyserver_finds_openpgp_keys_and_certificates() -> TestResult {
    let gpg = Gpg::new()?;
    let dan = gpg.key("Dan <dan@partner.test>")?;
    let dan_fpr = gpg.fingerprint("dan@partner.test")?;
    // A key whose user ID merely contains dan's address as a substring must not come back.
    let other = gpg.key("Other <xdan@partner.test>")?;
    let other_fpr = gpg.fingerprint("xdan@partner.test")?;
    let certdir = tempfile::tempdir()?;
    let gus = openssl_certificate(certdir.path(), "gus@partner.test")?;
    let slapd = Slapd::start(&ldif(
        &[
            ("Dan <dan@partner.test>", &dan, &dan_fpr),
            ("Other <xdan@partner.test>", &other, &other_fpr),
        ],
        &[("gus@partner.test", &gus)],
    ))?;

    // keys.$ADDRESS_DOMAIN, pointed at slapd by the resolve override.
    let mut keys_domain = Keyserver::address_domain();
    keys_domain.port = Some(slapd.port);
    let mut options = quick();
    options.resolve.insert(
        "keys.partner.test".into(),
        ([127, 0, 0, 1], slapd.port).into(),
    );
    let found = search("Dan@partner.test", &keys_domain, &options).await?;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].key.id, dan_fpr);
    assert_eq!(found[0].key.kind, CachedKeyKind::OpenPgp);
    assert!(found[0].trusted, "keys.<domain> keys are trusted");
    assert_eq!(found[0].server, "keys.$ADDRESS_DOMAIN");
    assert!(!keys_domain.requeues_on_failure());
    // What comes back is public only and parses.
    let cert = signet_crypto::openpgp::parse_cert(&found[0].key.data)?;
    assert!(!cert.is_tsk());

    // A named server with an explicit base DN finds the key too; nobody is "not found".
    let mut named = server(KeyserverKind::PgpLdap, "127.0.0.1", slapd.port);
    named.base_dn = Some(SUFFIX.into());
    assert_eq!(search("dan@partner.test", &named, &options).await?.len(), 1);
    let miss = search("nobody@partner.test", &named, &options).await;
    assert!(matches!(&miss, Err(e) if e.is_not_found()), "{miss:?}");
    // Filter metacharacters are escaped, not interpreted.
    let odd = search("a*)(uid=*@partner.test", &named, &options).await;
    assert!(
        matches!(&odd, Err(e) if e.is_not_found() || matches!(e, SearchError::InvalidAddress(_))),
        "{odd:?}"
    );

    // The X.509 directory gives gus's certificate.
    let x509 = server(KeyserverKind::X509Ldap, "127.0.0.1", slapd.port);
    let found = search("gus@partner.test", &x509, &options).await?;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].key.kind, CachedKeyKind::X509);
    assert_eq!(found[0].key.data, gus);
    assert!(!found[0].trusted);
    Ok(())
}

#[tokio::test]
async fn hkp_lookup_and_size_cap() -> TestResult {
    let gpg = Gpg::new()?;
    let erin = gpg.key("Erin <erin@ext.test>")?;
    let routes = Routes::default();
    routes.answer(
        "/pks/lookup?op=get&options=mr&search=erin%40ext.test",
        200,
        &erin,
    );
    // A key that does not carry the searched address is dropped.
    let mallory = gpg.key("Mallory <mallory@ext.test>")?;
    routes.answer(
        "/pks/lookup?op=get&options=mr&search=frank%40ext.test",
        200,
        &mallory,
    );
    let addr = http_server(routes.clone(), None).await?;
    let hkp = server(KeyserverKind::Hkp, "127.0.0.1", addr.port());
    let found = search("erin@ext.test", &hkp, &quick()).await?;
    assert_eq!(found.len(), 1);
    assert!(found[0].key.has_email("erin@ext.test"));
    assert!(hkp.requeues_on_failure());
    let frank = search("frank@ext.test", &hkp, &quick()).await;
    assert!(matches!(&frank, Err(e) if e.is_not_found()), "{frank:?}");
    let none = search("nobody@ext.test", &hkp, &quick()).await;
    assert!(matches!(&none, Err(e) if e.is_not_found()), "{none:?}");

    // An answer over the size cap is a failure, not a key.
    let small = SearchOptions {
        max_bytes: 64,
        ..quick()
    };
    let capped = search("erin@ext.test", &hkp, &small).await;
    assert!(
        matches!(&capped, Err(e) if e.is_unavailable()),
        "{capped:?}"
    );
    Ok(())
}

#[tokio::test]
async fn wkd_advanced_then_direct_over_verified_tls() -> TestResult {
    let gpg = Gpg::new()?;
    let joe = gpg.key("Joe <Joe.Doe@example.org>")?;
    let [advanced, direct] = wkd_urls("Joe.Doe", "example.org");
    let (tls, ca_pem) = tls_server(&["openpgpkey.example.org", "example.org"])?;
    let routes = Routes::default();
    let addr = http_server(routes.clone(), Some(tls)).await?;
    let mut options = quick();
    options
        .resolve
        .insert("openpgpkey.example.org".into(), addr);
    options.resolve.insert("example.org".into(), addr);
    let wkd = Keyserver {
        description: "Web Key Directory".into(),
        kind: KeyserverKind::Wkd,
        host: String::new(),
        port: None,
        base_dn: None,
        trusted: false,
    };

    // The test CA is not trusted by default: the search fails, it does not accept the server.
    routes.answer(&direct.1, 200, &joe);
    let untrusted = search("Joe.Doe@example.org", &wkd, &options).await;
    assert!(
        matches!(&untrusted, Err(e) if e.is_unavailable()),
        "{untrusted:?}"
    );

    options.extra_roots_pem = Some(ca_pem);
    let found = search("Joe.Doe@example.org", &wkd, &options).await?;
    assert_eq!(found.len(), 1);
    let asked = routes.requests();
    assert_eq!(asked.len(), 2, "advanced first, then direct: {asked:?}");
    assert_eq!(asked[0], format!("openpgpkey.example.org{}", advanced.1));
    assert_eq!(asked[1], format!("example.org{}", direct.1));

    // With the advanced method published, it alone is asked.
    routes.answer(&advanced.1, 200, &joe);
    let before = routes.requests().len();
    search("Joe.Doe@example.org", &wkd, &options).await?;
    assert_eq!(routes.requests().len(), before + 1);

    // accept_invalid_certs (tests only) takes any certificate.
    let loose = SearchOptions {
        extra_roots_pem: None,
        accept_invalid_certs: true,
        ..options.clone()
    };
    assert_eq!(search("Joe.Doe@example.org", &wkd, &loose).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn blackholed_servers_time_out_and_the_next_server_is_asked() -> TestResult {
    let hole = blackhole().await?;
    let options = SearchOptions {
        timeout: Duration::from_millis(700),
        ..SearchOptions::default()
    };
    for kind in [
        KeyserverKind::PgpLdap,
        KeyserverKind::Hkp,
        KeyserverKind::Hkps,
    ] {
        let s = server(kind, "127.0.0.1", hole.port());
        let started = Instant::now();
        let r = search("carol@partner.test", &s, &options).await;
        let took = started.elapsed();
        assert!(
            matches!(&r, Err(SearchError::Timeout { .. })),
            "{kind:?}: {r:?}"
        );
        assert!(took < Duration::from_secs(2), "{kind:?} took {took:?}");
    }

    // In order: the blackholed server times out, the HKP server behind it answers.
    let gpg = Gpg::new()?;
    let carol = gpg.key("Carol <carol@partner.test>")?;
    let routes = Routes::default();
    routes.answer(
        "/pks/lookup?op=get&options=mr&search=carol%40partner.test",
        200,
        &carol,
    );
    let addr = http_server(routes, None).await?;
    let list = [
        server(KeyserverKind::PgpLdap, "127.0.0.1", hole.port()),
        server(KeyserverKind::Hkp, "127.0.0.1", addr.port()),
    ];
    assert_eq!(
        search_in_order("carol@partner.test", &list, &options)
            .await?
            .len(),
        1
    );
    // Nobody has bob: the timeout wins over "not found", so the mail path requeues.
    let r = search_in_order("bob@partner.test", &list, &options).await;
    assert!(matches!(&r, Err(SearchError::Timeout { .. })), "{r:?}");

    // keys.<domain> blackholed: no key, and nothing that would requeue the message.
    let mut keys_domain = Keyserver::address_domain();
    keys_domain.port = Some(hole.port());
    let mut resolved = options.clone();
    resolved.resolve.insert("keys.partner.test".into(), hole);
    let alone = search("bob@partner.test", &keys_domain, &resolved).await;
    assert!(
        matches!(&alone, Err(SearchError::Timeout { .. })),
        "{alone:?}"
    );
    let r = search_in_order("bob@partner.test", &[keys_domain], &resolved).await;
    assert!(matches!(&r, Err(e) if e.is_not_found()), "{r:?}");
    Ok(())
}
