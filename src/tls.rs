//! The TLS backend, chosen by feature: `native-tls`, else `rustls-ring`, else `rustls` (the
//! default).
//!
//! A backend named on purpose wins over the default one, so that `features = ["native-tls"]`
//! without `default-features = false` still gets native-tls, as it does in reqwest.

#[cfg(not(any(feature = "rustls", feature = "rustls-ring", feature = "native-tls")))]
compile_error!(
    "plain-client needs a TLS backend: enable one of its features `rustls` (the default), \
     `rustls-ring` or `native-tls`"
);

/// Sets the backend the features choose on a new reqwest client.
#[cfg(feature = "native-tls")]
pub(crate) fn choose(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    builder.tls_backend_native()
}

/// Sets the backend the features choose on a new reqwest client.
///
/// reqwest's rustls takes the process's default crypto provider; without one, ring becomes
/// it. A provider the application installed first is kept.
#[cfg(all(feature = "rustls-ring", not(feature = "native-tls")))]
pub(crate) fn choose(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Fails only when another thread installed one meanwhile, which is then kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    builder.tls_backend_rustls()
}

/// Sets the backend the features choose on a new reqwest client.
#[cfg(all(
    feature = "rustls",
    not(any(feature = "rustls-ring", feature = "native-tls"))
))]
pub(crate) fn choose(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    builder.tls_backend_rustls()
}

/// Without a backend the crate does not build (above); this keeps that error the only one.
#[cfg(not(any(feature = "rustls", feature = "rustls-ring", feature = "native-tls")))]
pub(crate) fn choose(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    builder
}
