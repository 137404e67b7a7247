//! `sslmode=verify-full` for DATABASE_QUERY without a second name lookup.
//!
//! sqlx uses one `host` both to connect and to check the certificate's name, so connecting
//! by name would look the name up again after the outbound policy checked it (DNS
//! rebinding); and its `verify-ca` cannot be used on the address instead (with this rustls it
//! still refuses a certificate that does not name the address). So Nocron makes the TLS
//! connection itself: to the checked address, with PostgreSQL's `SSLRequest`, verifying the
//! certificate and the server's key against the host name with the roots sqlx would use
//! (webpki's plus the operator's `DATABASE_QUERY_CA_FILE`; tasks cannot name files).
//! sqlx then speaks PostgreSQL through that connection, over a one-connection relay on a
//! loopback port (`sslmode=disable` on the loopback leg only). No name is resolved twice.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
};
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::{TlsConnector, client::TlsStream};

/// PostgreSQL's `SSLRequest`: length 8, then the code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// Why the certificate check did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsCheckError {
    /// The server answered but cannot be trusted for the name (or offers no TLS): a new
    /// URL or certificate is needed.
    Refused(String),
    /// The server could not be reached or stopped answering: it may work later.
    Unreachable(String),
}

/// The PEM material a verified connection uses, read once.
#[derive(Debug, Default)]
pub struct TlsFiles {
    /// Extra trusted roots.
    pub root: Option<Vec<u8>>,
    /// A client certificate chain (never a tenant's file, never the operator's).
    pub client_cert: Option<Vec<u8>>,
    /// The client key that goes with `client_cert`.
    pub client_key: Option<Vec<u8>>,
}

impl TlsFiles {
    /// The roots the operator trusts in addition to webpki's (`DATABASE_QUERY_CA_FILE`),
    /// read with a size bound. Tasks cannot name files (their URLs may not carry
    /// `sslrootcert`, `sslcert` or `sslkey`), so nothing here comes from a tenant, and no
    /// client certificate of the operator's is ever presented to a tenant's server.
    pub async fn operator(ca_file: Option<&std::path::Path>) -> Result<Self, TlsCheckError> {
        let Some(path) = ca_file else {
            return Ok(TlsFiles::default());
        };
        let unusable = || TlsCheckError::Refused("DATABASE_QUERY_CA_FILE cannot be used".into());
        let file = tokio::fs::File::open(path).await.map_err(|_| unusable())?;
        let mut root = Vec::new();
        file.take(MAX_CA_FILE_BYTES + 1)
            .read_to_end(&mut root)
            .await
            .map_err(|_| unusable())?;
        if root.len() as u64 > MAX_CA_FILE_BYTES {
            return Err(unusable());
        }
        Ok(TlsFiles {
            root: Some(root),
            ..TlsFiles::default()
        })
    }
}

/// The largest CA file read (a bundle of a few hundred certificates).
const MAX_CA_FILE_BYTES: u64 = 1 << 20;

/// Connects to `address` over TLS as `sslmode=verify-full` asks: `SSLRequest`, then a
/// handshake whose certificate must be valid for `host` under the roots (and whose server
/// must hold its key), with the client certificate of `files` if any.
pub async fn connect_verified(
    address: SocketAddr,
    host: &str,
    files: &TlsFiles,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, TlsCheckError> {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let refused = |reason: String| {
        TlsCheckError::Refused(format!(
            "sslmode=verify-full: the server at {address} has no certificate valid for {host}: {reason}"
        ))
    };
    let server_name = ServerName::try_from(host.clone())
        .map_err(|_| refused(format!("{host:?} is not a name a certificate can hold")))?;
    let config = client_config(files)?;
    let connecting = async {
        let unreachable = |err: std::io::Error| {
            TlsCheckError::Unreachable(format!("cannot connect to {address}: {err}"))
        };
        let mut tcp = TcpStream::connect(address).await.map_err(unreachable)?;
        tcp.write_all(&SSL_REQUEST).await.map_err(unreachable)?;
        if tcp.read_u8().await.map_err(unreachable)? != b'S' {
            return Err(TlsCheckError::Refused(format!(
                "sslmode=verify-full: the server at {address} does not offer TLS"
            )));
        }
        TlsConnector::from(Arc::new(config))
            .connect(server_name, tcp)
            .await
            .map_err(|err| {
                match err
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                {
                    Some(tls_error) => refused(tls_error.to_string()),
                    None => unreachable(err),
                }
            })
    };
    tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| TlsCheckError::Unreachable(format!("connecting to {address} timed out")))?
}

fn client_config(files: &TlsFiles) -> Result<ClientConfig, TlsCheckError> {
    let invalid = |what: &str| TlsCheckError::Refused(format!("{what} is not valid PEM"));
    let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = &files.root {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|_| invalid("sslrootcert"))?;
            roots.add(cert).map_err(|err| {
                TlsCheckError::Refused(format!("sslrootcert holds an unusable certificate: {err}"))
            })?;
        }
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|err| TlsCheckError::Refused(err.to_string()))?
            .with_root_certificates(roots);
    match (&files.client_cert, &files.client_key) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| invalid("sslcert"))?;
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| invalid("sslkey"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|err| TlsCheckError::Refused(format!("sslcert/sslkey: {err}")))
        }
        _ => Err(TlsCheckError::Refused(
            "sslcert and sslkey must be given together".into(),
        )),
    }
}

/// Hands a verified connection to sqlx: a loopback listener that accepts one connection
/// (within `timeout`) and relays it, in plain bytes, to the TLS stream; returns the options
/// to connect to it. The listener closes after the one connection or the timeout.
pub async fn relay(
    tls: TlsStream<TcpStream>,
    options: PgConnectOptions,
    timeout: Duration,
) -> Result<PgConnectOptions, TlsCheckError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|err| TlsCheckError::Unreachable(format!("cannot open the local relay: {err}")))?;
    let local = listener
        .local_addr()
        .map_err(|err| TlsCheckError::Unreachable(format!("cannot open the local relay: {err}")))?;
    tokio::spawn(async move {
        let mut tls = tls;
        if let Ok(Ok((mut plain, _))) = tokio::time::timeout(timeout, listener.accept()).await {
            drop(listener);
            let _ = tokio::io::copy_bidirectional(&mut plain, &mut tls).await;
        }
        let _ = tls.shutdown().await;
    });
    Ok(options
        .host(&local.ip().to_string())
        .port(local.port())
        .ssl_mode(PgSslMode::Disable))
}
