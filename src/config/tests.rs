use super::*;

#[test]
fn example_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/pecd.example.toml");
    let config = Config::load(&path).unwrap();
    assert_eq!(config.provider.domain, "pec-a.test");
    assert!(config.index.ldif.is_absolute());
}

#[test]
fn default_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/pecd.toml");
    Config::load(&path).unwrap();
}

#[test]
fn template_round_trips() {
    let config = Config::parse(
        &Config::template("pec-b.test", "Gestore \"B\"", 3000, "t0k3n"),
        Path::new("/x"),
    )
    .unwrap();
    assert_eq!(config.provider.name, "Gestore \"B\"");
    assert_eq!(config.listen.admin.port(), 3005);
    assert_eq!(
        config.certificates.signing_key,
        Path::new("/x/certs/signing.key")
    );
}

#[test]
fn unknown_keys_and_bad_values_are_errors() {
    let unknown = "[provider]\ndomain = \"a.test\"\nname = \"A\"\ncolour = 1\n";
    let error = Config::parse(unknown, Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(error.contains("colour"), "{error}");
    let bad_domain = "[provider]\ndomain = \"not a domain\"\nname = \"A\"\n";
    assert!(matches!(
        Config::parse(bad_domain, Path::new(".")),
        Err(ConfigError::Invalid { .. })
    ));
    let bad_route =
        "[provider]\ndomain = \"a.test\"\nname = \"A\"\n[routes]\n\"b.test\" = \"nowhere\"\n";
    assert!(matches!(
        Config::parse(bad_route, Path::new(".")),
        Err(ConfigError::Invalid { .. })
    ));
}

#[test]
fn conservation_section_is_checked() {
    let base = "[provider]\ndomain = \"a.test\"\nname = \"A\"\n";
    let config = Config::parse(base, Path::new(".")).unwrap();
    assert_eq!(config.conservation.tiers["medium"], 5 << 30);
    assert_eq!(config.conservation.retention_years, 10);
    for bad in [
        "[conservation]\ntsa_url = \"http://tsa.test/\"\n",
        "[conservation]\ndefault_tier = \"huge\"\n",
        "[conservation]\nbatch_max_messages = 0\n",
    ] {
        let text = format!("{base}{bad}");
        assert!(
            matches!(
                Config::parse(&text, Path::new(".")),
                Err(ConfigError::Invalid { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn limits_section_is_checked() {
    let base = "[provider]\ndomain = \"a.test\"\nname = \"A\"\n";
    let config = Config::parse(base, Path::new(".")).unwrap();
    assert_eq!(config.limits.connections_per_ip, 100);
    assert_eq!(config.limits.mx_in_flight_bytes, 512 << 20);
    let tuned =
        format!("{base}[limits]\nconnections_per_ip = 3\nunauthenticated_timeout_secs = 2\n");
    let config = Config::parse(&tuned, Path::new(".")).unwrap();
    assert_eq!(config.limits.connections_per_ip, 3);
    assert_eq!(config.limits.unauthenticated_timeout_secs, 2);
    for bad in [
        "[limits]\nconnections_per_ip = 0\n",
        "[limits]\nmx_in_flight_bytes = 0\n",
        "[limits]\nunauthenticated_timeout_secs = 0\n",
    ] {
        let text = format!("{base}{bad}");
        assert!(
            matches!(
                Config::parse(&text, Path::new(".")),
                Err(ConfigError::Invalid { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn the_agid_code_and_the_index_download_are_checked() {
    let base = "[provider]\ndomain = \"a.test\"\nname = \"A\"\n";
    let parse = |extra: &str| Config::parse(&format!("{base}{extra}"), Path::new("/x"));
    for good in ["TIN-97735020584", "VAT-01234567890", "IPA-c_h501"] {
        let config = parse(&format!("codice = \"{good}\"\n")).unwrap();
        assert_eq!(config.provider.codice, good);
    }
    for bad in [
        "97735020584",
        "TIN-",
        "tin-97735020584",
        "VAT-012345678901",
        "TIN-9773502058,4",
        "IPA-\"x\"",
    ] {
        let error = parse(&format!("codice = {bad:?}\n"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("provider.codice"), "{bad}: {error}");
    }
    let index = |keys: &str| parse(&format!("\n[index]\nldif = \"index.p7m\"\n{keys}"));
    let config = index(
        "url = \"https://i.test/index.p7m\"\nsigner_ca = \"ca.pem\"\ntls_roots = [\"web.pem\"]\n",
    )
    .unwrap();
    assert_eq!(config.index.signer_ca.unwrap(), Path::new("/x/ca.pem"));
    assert_eq!(config.index.tls_roots, vec![PathBuf::from("/x/web.pem")]);
    assert_eq!(config.index.refresh_secs, 86_400);
    for (keys, complaint) in [
        (
            "url = \"http://i.test/index.p7m\"\nsigner_ca = \"ca.pem\"\n",
            "https",
        ),
        ("url = \"https://i.test/index.p7m\"\n", "signer_ca"),
        (
            "url = \"https://i.test/index.p7m\"\nsigner_ca = \"ca.pem\"\nrefresh_secs = 5\n",
            "refresh_secs",
        ),
    ] {
        let error = index(keys).unwrap_err().to_string();
        assert!(error.contains(complaint), "{keys}: {error}");
    }
}

#[test]
fn the_store_section_names_a_database_for_the_cluster_engine() {
    let base = "[provider]\ndomain = \"a.test\"\nname = \"A\"\n[store]\n";
    let parse = |store: &str| Config::parse(&format!("{base}{store}"), Path::new("."));
    assert_eq!(parse("").unwrap().store.backend, Backend::Embedded);
    let cluster = parse("backend = \"cluster\"\npostgres = \"postgresql://pecd@db:5432/pecd\"\n");
    assert_eq!(cluster.unwrap().store.backend, Backend::Cluster);
    let bucket = parse(
        "backend = \"cluster\"\npostgres = \"postgresql://db/p\"\n\
         s3 = { endpoint = \"http://s3:3900\", bucket = \"b\", region = \"garage\" }\n",
    );
    let s3 = bucket.unwrap().store.s3.unwrap();
    assert_eq!((s3.bucket.as_str(), s3.access_key), ("b", None));
    for (store, says) in [
        ("backend = \"cluster\"\n", "needs store.postgres"),
        (
            "backend = \"cluster\"\npostgres = \"not a url=\"\n",
            "not a PostgreSQL URL",
        ),
        (
            "postgres = \"postgresql://db/pecd\"\n",
            "are for store.backend",
        ),
        ("backend = \"sharded\"\n", "sharded"),
        (
            "backend = \"cluster\"\npostgres = \"postgresql://db/p\"\n\
             s3 = { endpoint = \"s3:3900\", bucket = \"b\", region = \"r\" }\n",
            "not an http(s):// URL",
        ),
        (
            "backend = \"cluster\"\npostgres = \"postgresql://db/p\"\n\
             s3 = { endpoint = \"http://s3\", bucket = \"b\" }\n",
            "region",
        ),
        (
            "s3 = { endpoint = \"http://s3\", bucket = \"b\", region = \"r\" }\n",
            "are for store.backend",
        ),
    ] {
        let error = parse(store).unwrap_err().to_string();
        assert!(error.contains(says), "{store}: {error}");
    }
}
