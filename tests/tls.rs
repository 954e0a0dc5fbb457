//! The TLS backend the features choose: a client builds with it, and speaks TLS to an
//! `https://` endpoint. Run with each backend (`.ci/run` does):
//! `cargo test --test tls`, `--no-default-features --features rustls-ring` or `native-tls`.

use std::time::Duration;

use plain_client::{Error, PlainClient, RetryPolicy, TransportErrorKind, DEFAULT_ENDPOINT};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// How long the test waits for the client's first bytes; only a hang gets there.
const HANG: Duration = Duration::from_secs(300);

#[test]
fn a_client_for_plains_https_endpoint_builds() {
    let client = PlainClient::builder()
        .api_key("plainApiKey_test")
        .build()
        .unwrap();
    assert_eq!(client.endpoint(), DEFAULT_ENDPOINT);
}

#[tokio::test]
async fn the_client_opens_an_https_connection_with_a_tls_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("https://{}/graphql/v1", listener.local_addr().unwrap());
    // The first bytes the client sends, then the connection is dropped: no TLS server here.
    let first_bytes = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut header = [0u8; 3];
        stream.read_exact(&mut header).await.unwrap();
        header
    });
    let client = PlainClient::builder()
        .api_key("plainApiKey_test")
        .endpoint(endpoint)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let outcome = tokio::time::timeout(HANG, client.customer_by_email("daisy@example.com"))
        .await
        .expect("only a hang gets here");
    let header = tokio::time::timeout(HANG, first_bytes)
        .await
        .expect("only a hang gets here")
        .unwrap();
    // A TLS record: handshake (22), protocol version 3.x.
    assert_eq!(header[..2], [22, 3], "{header:?}");
    match outcome {
        Err(Error::Transport { kind, .. }) => {
            assert!(
                matches!(
                    kind,
                    TransportErrorKind::Connect | TransportErrorKind::Other
                ),
                "{kind:?}"
            );
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
}
