//! TLS for connections, with libpq's meanings of `sslmode`, on rustls
//! (pure Rust, ring): `disable` never, `allow`/`prefer` if the server offers
//! it (unverified, as libpq), `require` always (unverified unless a root
//! certificate is given, then as `verify-ca`), `verify-ca` the chain,
//! `verify-full` the chain and the host name. Unix-domain sockets never use
//! TLS (libpq ignores sslmode there).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What `sslmode` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Disable,
    /// Plaintext first; TLS only if the server refuses plaintext.
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, String> {
        Ok(match s {
            "disable" => Mode::Disable,
            "allow" => Mode::Allow,
            "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            other => return Err(format!("sslmode {other:?} is not one libpq knows")),
        })
    }
}

/// Where the trusted root certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// A PEM file of one or more certificates.
    File(PathBuf),
    /// The operating system's store (`sslrootcert=system`).
    System,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_roots(roots: &Roots) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = store.add(cert);
            }
        }
        Roots::File(path) => {
            // A regular file, opened without blocking (never a FIFO).
            let pem = crate::sys::file::read_regular(path, 1 << 20)
                .map_err(|e| format!("sslrootcert {}: {}", path.display(), e.describe()))?;
            use rustls::pki_types::pem::PemObject as _;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
                store
                    .add(cert)
                    .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            }
        }
    }
    if store.is_empty() {
        return Err(format!("no root certificates found in {roots:?}"));
    }
    Ok(store)
}

/// The root certificate libpq would use when none is named:
/// ~/.postgresql/root.crt, if it exists.
pub fn default_roots(home: Option<&str>) -> Option<Roots> {
    let path = Path::new(home?).join(".postgresql/root.crt");
    path.is_file().then_some(Roots::File(path))
}

/// The TLS settings besides sslmode and the roots: `sslsni` and the
/// protocol range (`ssl_min_protocol_version`, `ssl_max_protocol_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Send the host name in the handshake (libpq's default, `sslsni=1`).
    pub sni: bool,
    /// TLS 1.2 allowed (rustls knows no older version).
    pub tls12: bool,
    /// TLS 1.3 allowed.
    pub tls13: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            sni: true,
            tls12: true,
            tls13: true,
        }
    }
}

impl Options {
    /// `ssl_min_protocol_version` / `ssl_max_protocol_version` as libpq
    /// reads them (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3). rustls speaks 1.2 and
    /// 1.3 only: a minimum below 1.2 changes nothing (no server that
    /// PostgreSQL supports offers less than 1.2 to a client that asks for
    /// 1.2 or 1.3), a maximum below 1.2 cannot be honoured and is refused.
    pub fn protocol_range(&mut self, min: Option<&str>, max: Option<&str>) -> Result<(), String> {
        let rank = |which: &str, v: &str| match v {
            "TLSv1" => Ok(10),
            "TLSv1.1" => Ok(11),
            "TLSv1.2" => Ok(12),
            "TLSv1.3" => Ok(13),
            _ => Err(format!(
                "{which}={v:?} is not a TLS version libpq knows (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3)"
            )),
        };
        let lo = match min {
            Some(v) if !v.is_empty() => rank("ssl_min_protocol_version", v)?,
            _ => 12,
        };
        let hi = match max {
            Some(v) if !v.is_empty() => rank("ssl_max_protocol_version", v)?,
            _ => 13,
        };
        if lo > hi {
            return Err(format!(
                "ssl_min_protocol_version {} is above ssl_max_protocol_version {} (libpq refuses the range too)",
                min.unwrap_or("TLSv1.2"),
                max.unwrap_or("")
            ));
        }
        if hi < 12 {
            return Err(format!(
                "ssl_max_protocol_version={} is not supported: this tool's TLS (rustls) speaks TLSv1.2 and TLSv1.3 only",
                max.unwrap_or("")
            ));
        }
        self.tls12 = lo <= 12;
        self.tls13 = hi >= 13;
        Ok(())
    }
}

/// A client certificate and its key (`sslcert`, `sslkey`, `sslpassword`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub password: Option<String>,
}

/// Which client certificate libpq would send: `sslcert` (else PGSSLCERT,
/// else ~/.postgresql/postgresql.crt) with `sslkey` (else PGSSLKEY, else
/// ~/.postgresql/postgresql.key). The default certificate is used only when
/// it exists, as in libpq; one that was named and does not exist is
/// refused here (libpq would go on without it, and the server would then
/// say only that a certificate is missing).
pub fn client_cert(
    cert: Option<&str>,
    key: Option<&str>,
    password: Option<&str>,
    home: Option<&str>,
) -> Result<Option<ClientCert>, String> {
    let dir = home.map(|h| Path::new(h).join(".postgresql"));
    let cert = match cert.filter(|c| !c.is_empty()) {
        Some(c) => {
            let c = PathBuf::from(c);
            if !c.exists() {
                return Err(format!(
                    "sslcert {}: no such file (libpq would connect without a certificate;                      this tool refuses rather than guess)",
                    c.display()
                ));
            }
            c
        }
        None => match dir.as_ref().map(|d| d.join("postgresql.crt")) {
            Some(c) if c.exists() => c,
            _ => return Ok(None),
        },
    };
    let key = match key.filter(|k| !k.is_empty()) {
        Some(k) if k.contains(':') => {
            return Err(format!(
            "sslkey {k:?} names an OpenSSL engine key, which is not supported: give a PEM key file"
        ))
        }
        Some(k) => PathBuf::from(k),
        None => dir
            .map(|d| d.join("postgresql.key"))
            .unwrap_or_else(|| PathBuf::from("postgresql.key")),
    };
    if !key.exists() {
        return Err(format!(
            "certificate present ({}), but not private key file {} (libpq refuses this too)",
            cert.display(),
            key.display()
        ));
    }
    Ok(Some(ClientCert {
        cert,
        key,
        password: password.map(str::to_owned),
    }))
}

/// Reads the certificate chain and the key, checking the key file as libpq
/// does: a regular file, and not readable by others (0600 or less when
/// owned by anyone but root, 0640 or less when owned by root). An
/// encrypted key is decrypted with `sslpassword`: PKCS#8 "ENCRYPTED
/// PRIVATE KEY" (PBES2); the legacy OpenSSL form ("Proc-Type:
/// 4,ENCRYPTED") is refused by name.
pub fn load_client_cert(
    c: &ClientCert,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    use rustls::pki_types::pem::PemObject as _;
    use std::os::unix::fs::MetadataExt as _;
    let pem = crate::sys::file::read_regular(&c.cert, 1 << 20).map_err(|e| {
        format!(
            "could not open certificate file {}: {}",
            c.cert.display(),
            e.describe()
        )
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("could not read certificate file {}: {e}", c.cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "could not read certificate file {}: no PEM certificate in it",
            c.cert.display()
        ));
    }
    let meta = std::fs::metadata(&c.key)
        .map_err(|e| format!("could not open private key file {}: {e}", c.key.display()))?;
    if !meta.is_file() {
        return Err(format!(
            "private key file {} is not a regular file",
            c.key.display()
        ));
    }
    let loose = if meta.uid() == 0 {
        meta.mode() & 0o037
    } else {
        meta.mode() & 0o077
    };
    if loose != 0 {
        return Err(format!(
            "private key file {} has group or world access (mode {:04o}); file must have permissions              u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or              less if owned by root",
            c.key.display(),
            meta.mode() & 0o7777
        ));
    }
    let text = crate::sys::file::read_regular(&c.key, 1 << 20).map_err(|e| {
        format!(
            "could not open private key file {}: {}",
            c.key.display(),
            e.describe()
        )
    })?;
    let text = String::from_utf8(text)
        .map_err(|_| format!("private key file {} is not PEM text", c.key.display()))?;
    let key = if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let Some(password) = c.password.as_deref().filter(|p| !p.is_empty()) else {
            return Err(format!(
                "private key file {} is encrypted and no sslpassword was given (this tool never prompts)",
                c.key.display()
            ));
        };
        let (_, doc) = pkcs8::der::Document::from_pem(&text)
            .map_err(|e| format!("could not load private key file {}: {e}", c.key.display()))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
            .map_err(|e| format!("could not load private key file {}: {e}", c.key.display()))?;
        let plain = info.decrypt(password).map_err(|e| {
            format!(
                "could not decrypt private key file {} with sslpassword ({e}): wrong password?",
                c.key.display()
            )
        })?;
        PrivateKeyDer::Pkcs8(plain.as_bytes().to_vec().into())
    } else if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(format!(
            "private key file {} is encrypted in the legacy OpenSSL PEM form (Proc-Type: 4,ENCRYPTED),              which is not supported: convert it to PKCS#8 (openssl pkcs8 -topk8 -v2 aes-256-cbc)",
            c.key.display()
        ));
    } else {
        PrivateKeyDer::from_pem_slice(text.as_bytes())
            .map_err(|e| format!("could not load private key file {}: {e}", c.key.display()))?
    };
    Ok((certs, key))
}

/// The client configuration for `mode`, or `None` for no TLS at all.
/// `cert` is the client certificate, already loaded (`load_client_cert`).
pub fn client_config(
    mode: Mode,
    roots: Option<&Roots>,
    options: &Options,
    cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Option<ClientConfig>, String> {
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if options.tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if options.tls12 {
        versions.push(&rustls::version::TLS12);
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())?;
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, roots) {
        (Mode::Disable, _) => return Ok(None),
        (Mode::Allow | Mode::Prefer, _) | (Mode::Require, None) => {
            Arc::new(Unverified(provider()))
        }
        (Mode::Require, Some(r)) | (Mode::VerifyCa, Some(r)) => Arc::new(ChainOnly(webpki(r)?)),
        (Mode::VerifyFull, Some(r)) => webpki(r)?,
        (Mode::VerifyCa | Mode::VerifyFull, None) => {
            return Err(
                "sslmode verify-ca and verify-full need a root certificate: sslrootcert=FILE or system \
                 (or PGSSLROOTCERT, or ~/.postgresql/root.crt)"
                    .into(),
            )
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match cert {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("the client certificate and key cannot be used: {e}"))?,
    };
    config.enable_sni = options.sni;
    Ok(Some(config))
}

fn webpki(roots: &Roots) -> Result<Arc<WebPkiServerVerifier>, String> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(load_roots(roots)?), provider())
        .build()
        .map_err(|e| e.to_string())
}

/// `prefer`/`require` without a root certificate: encrypted, not
/// authenticated (libpq's meaning). Handshake signatures are still checked.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name is not
/// compared.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn files() -> (PathBuf, PathBuf, String) {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dot-abs-client-cert-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let crt = dir.join("c.crt");
        std::fs::write(&crt, cert.pem()).unwrap();
        (dir, crt, key.serialize_pem())
    }

    fn key_file(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn load(crt: &Path, key: &Path, pw: Option<&str>) -> Result<(), String> {
        load_client_cert(&ClientCert {
            cert: crt.to_owned(),
            key: key.to_owned(),
            password: pw.map(str::to_owned),
        })
        .map(|_| ())
    }

    /// libpq's rule: 0600 or less when owned by the current user, 0640 or
    /// less when owned by root (the tests may run as either).
    #[test]
    fn the_key_file_mode_is_checked_as_libpq_checks_it() {
        use std::os::unix::fs::MetadataExt;
        let (dir, crt, pem) = files();
        let tight = key_file(&dir, "tight.key", &pem, 0o600);
        load(&crt, &tight, None).unwrap();
        let loose = key_file(&dir, "loose.key", &pem, 0o644);
        let err = load(&crt, &loose, None).unwrap_err();
        assert!(
            err.contains("has group or world access") && err.contains("0644"),
            "{err}"
        );
        let group = key_file(&dir, "group.key", &pem, 0o640);
        let owned_by_root = std::fs::metadata(&group).unwrap().uid() == 0;
        assert_eq!(load(&crt, &group, None).is_ok(), owned_by_root);
        let err = load(&crt, &dir, None).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn an_encrypted_pkcs8_key_opens_with_sslpassword_and_a_legacy_one_is_refused_by_name() {
        let (dir, crt, pem) = files();
        let plain = key_file(&dir, "plain.key", &pem, 0o600);
        let enc = dir.join("enc.key");
        let legacy = dir.join("legacy.key");
        for (out, args) in [
            (&enc, vec!["pkcs8", "-topk8", "-v2", "aes-256-cbc"]),
            (&legacy, vec!["ec", "-aes256"]),
        ] {
            let st = std::process::Command::new("openssl")
                .args(args)
                .arg("-in")
                .arg(&plain)
                .arg("-out")
                .arg(out)
                .args(["-passout", "pass:s3cret"])
                .output()
                .unwrap();
            assert!(st.status.success(), "{st:?}");
            std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        load(&crt, &enc, Some("s3cret")).unwrap();
        let err = load(&crt, &enc, Some("wrong")).unwrap_err();
        assert!(err.contains("could not decrypt"), "{err}");
        let err = load(&crt, &enc, None).unwrap_err();
        assert!(err.contains("no sslpassword"), "{err}");
        let err = load(&crt, &legacy, Some("s3cret")).unwrap_err();
        assert!(
            err.contains("Proc-Type: 4,ENCRYPTED") && err.contains("not supported"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_default_certificate_is_used_only_when_present_and_needs_its_key() {
        let (dir, crt, pem) = files();
        let home = dir.join("home");
        std::fs::create_dir_all(home.join(".postgresql")).unwrap();
        let h = home.to_str().unwrap();
        assert_eq!(client_cert(None, None, None, Some(h)).unwrap(), None);
        std::fs::copy(&crt, home.join(".postgresql/postgresql.crt")).unwrap();
        let err = client_cert(None, None, None, Some(h)).unwrap_err();
        assert!(err.contains("not private key file"), "{err}");
        key_file(&home.join(".postgresql"), "postgresql.key", &pem, 0o600);
        let found = client_cert(None, None, None, Some(h)).unwrap().unwrap();
        assert_eq!(found.cert, home.join(".postgresql/postgresql.crt"));
        assert_eq!(found.key, home.join(".postgresql/postgresql.key"));
        // Named and missing: refused, not skipped.
        assert!(client_cert(Some("/nonexistent.crt"), None, None, Some(h)).is_err());
        assert!(client_cert(
            Some(crt.to_str().unwrap()),
            Some("engine:pkcs11:x"),
            None,
            Some(h)
        )
        .is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_protocol_range_is_libpqs() {
        let mut o = Options::default();
        o.protocol_range(Some("TLSv1"), None).unwrap();
        assert!(o.tls12 && o.tls13);
        o.protocol_range(Some("TLSv1.3"), None).unwrap();
        assert!(!o.tls12 && o.tls13);
        o.protocol_range(None, Some("TLSv1.2")).unwrap();
        assert!(o.tls12 && !o.tls13);
        assert!(o.protocol_range(None, Some("TLSv1.1")).is_err());
        assert!(o.protocol_range(Some("TLSv1.3"), Some("TLSv1.2")).is_err());
        assert!(o.protocol_range(Some("SSLv3"), None).is_err());
    }
}
