//! An S3 emulator (s3s-fs) on loopback, with SigV4 authentication (it checks presigned URLs'
//! signatures and expiry), for the integration tests and the sink benchmark.

/// The access key the emulator accepts.
pub const S3_KEY: &str = "AKIDREFUELSINKTEST";
/// Its secret.
pub const S3_SECRET: &str = "refuel-sink-test-secret-key-0123456789";
/// The one bucket it has.
pub const S3_BUCKET: &str = "stage";

/// A running emulator; it serves until the runtime ends, from a temporary directory.
pub struct S3Server {
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl S3Server {
    /// Starts an emulator on an ephemeral port with the bucket [`S3_BUCKET`].
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(S3_BUCKET)).unwrap();
        let fs = s3s_fs::FileSystem::new(dir.path()).unwrap();
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(S3_KEY, S3_SECRET));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        Self {
            endpoint,
            _dir: dir,
        }
    }

    /// Its URL, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// object_store's options for it (path-style requests, plain HTTP, its key).
    pub fn options(&self) -> Vec<(&'static str, String)> {
        vec![
            ("aws_endpoint", self.endpoint().to_string()),
            ("aws_allow_http", "true".into()),
            ("aws_access_key_id", S3_KEY.into()),
            ("aws_secret_access_key", S3_SECRET.into()),
            ("aws_region", "us-east-1".into()),
            ("aws_virtual_hosted_style_request", "false".into()),
            ("aws_skip_signature", "false".into()),
        ]
    }
}
