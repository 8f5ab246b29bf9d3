//! Finding another provider's punto di ricezione: `[routes]` first, then the domain's
//! MX records by preference (RFC 5321 §5.1), then the domain itself (implicit MX), each
//! host resolved to its addresses. DNS through hickory-resolver: the system's
//! configuration, or the name servers `[relay] nameservers` lists.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::ConnectionConfig;
use hickory_resolver::config::NameServerConfig;
use hickory_resolver::config::ResolverConfig;
use hickory_resolver::net::DnsError;
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

/// Where to deliver: a socket address and the name its TLS certificate must carry.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Target {
    /// `host:port` or `ip:port`.
    pub address: String,
    /// The TLS server name.
    pub tls_name: String,
}

/// Routes and DNS together.
#[derive(Clone)]
pub struct Directory {
    routes: BTreeMap<String, String>,
    resolver: Option<TokioResolver>,
    port: u16,
}

impl Directory {
    /// `routes` (domain → `host:port`), DNS through `nameservers` (system config when
    /// empty), SMTP on `port` for hosts found in DNS.
    pub fn new(
        routes: BTreeMap<String, String>,
        nameservers: &[SocketAddr],
        port: u16,
    ) -> Directory {
        let built = if nameservers.is_empty() {
            TokioResolver::builder_tokio().and_then(|builder| builder.build())
        } else {
            let servers = nameservers
                .iter()
                .map(|server| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = server.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = server.port();
                    NameServerConfig::new(server.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
            .build()
        };
        let resolver = match built {
            Ok(resolver) => Some(resolver),
            Err(error) => {
                tracing::warn!(%error, "no DNS resolver: only [routes] destinations are reachable");
                None
            }
        };
        Directory {
            routes,
            resolver,
            port,
        }
    }

    /// The places to try for a domain, best first.
    pub async fn targets(&self, domain: &str) -> Result<Vec<Target>, String> {
        let domain = domain.to_ascii_lowercase();
        if let Some(route) = self.routes.get(&domain) {
            return Ok(vec![Target {
                address: route.clone(),
                tls_name: domain,
            }]);
        }
        let resolver = self.resolver.as_ref().ok_or("no DNS resolver configured")?;
        let hosts = match resolver.mx_lookup(format!("{domain}.")).await {
            Ok(lookup) => {
                let mut mx: Vec<(u16, String)> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::MX(mx) => Some((
                            mx.preference,
                            mx.exchange.to_utf8().trim_end_matches('.').to_string(),
                        )),
                        _ => None,
                    })
                    .collect();
                mx.sort();
                mx.into_iter().map(|(_, host)| host).collect()
            }
            Err(NetError::Dns(DnsError::NoRecordsFound(_))) => Vec::new(),
            Err(error) => return Err(format!("MX lookup of {domain}: {error}")),
        };
        let hosts = if hosts.is_empty() {
            vec![domain.clone()]
        } else {
            hosts
        };
        let mut targets = Vec::new();
        for host in hosts {
            match resolver.lookup_ip(format!("{host}.")).await {
                Ok(ips) => targets.extend(ips.iter().map(|ip| Target {
                    address: SocketAddr::new(ip, self.port).to_string(),
                    tls_name: host.clone(),
                })),
                Err(error) => tracing::warn!(%host, %error, "mail host does not resolve"),
            }
        }
        if targets.is_empty() {
            return Err(format!("no mail host of {domain} resolves"));
        }
        Ok(targets)
    }
}
