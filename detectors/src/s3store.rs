//! How the query engine reads and writes `s3://` lakes: object_store's S3 store, signed with
//! the AWS SDK's credential chain (refreshed before the credentials expire, so runs longer than
//! a session token's life go on), at the bucket's own region.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::ObjectStore;
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsCredential};
use url::Url;

/// Credentials are fetched again this long before they expire (or half their life before,
/// for keys that live less than twice as long).
const REFRESH_BEFORE: Duration = Duration::from_secs(60);

/// object_store's credential provider over the SDK's chain: the credentials are kept until
/// [`REFRESH_BEFORE`] their expiry, then fetched again (assumed roles, SSO, instance and
/// container roles, a `credential_process` all hand out expiring keys).
#[derive(Debug)]
pub struct SdkCredentials {
    provider: SharedCredentialsProvider,
    /// The credentials in use and when to fetch new ones (never, for keys that do not expire).
    current: tokio::sync::Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl SdkCredentials {
    pub fn new(provider: SharedCredentialsProvider) -> Self {
        SdkCredentials {
            provider,
            current: tokio::sync::Mutex::new(None),
        }
    }
}

#[async_trait::async_trait]
impl object_store::CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut current = self.current.lock().await;
        if let Some((credential, refresh_at)) = current.as_ref()
            && refresh_at.is_none_or(|at| SystemTime::now() < at)
        {
            return Ok(credential.clone());
        }
        let creds = self.provider.provide_credentials().await.map_err(|e| {
            object_store::Error::Generic {
                store: "S3",
                source: format!("loading AWS credentials: {e}").into(),
            }
        })?;
        let credential = Arc::new(AwsCredential {
            key_id: creds.access_key_id().to_string(),
            secret_key: creds.secret_access_key().to_string(),
            token: creds.session_token().map(str::to_string),
        });
        let now = SystemTime::now();
        let refresh_at = creds.expiry().map(|expiry| {
            let life = expiry.duration_since(now).unwrap_or_default();
            expiry - REFRESH_BEFORE.min(life / 2)
        });
        *current = Some((credential.clone(), refresh_at));
        Ok(credential)
    }
}

/// An S3 store for `bucket` with the SDK's settings (endpoint, credential chain) at `region`
/// (the SDK's region, else us-east-1, when not given).
pub fn store(
    bucket: &str,
    sdk: &aws_config::SdkConfig,
    region: Option<&str>,
) -> object_store::Result<AmazonS3> {
    let region = region
        .map(str::to_string)
        .or_else(|| sdk.region().map(|r| r.to_string()))
        .unwrap_or_else(|| "us-east-1".to_string());
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(region);
    if let Some(provider) = sdk.credentials_provider() {
        builder = builder.with_credentials(Arc::new(SdkCredentials::new(provider)));
    }
    if let Some(endpoint) = sdk.endpoint_url() {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false);
    }
    builder.build()
}

/// DataFusion's registry, plus an S3 store made on first use for any bucket (and kept in
/// it; see [`crate::cluster::object_stores`]).
#[derive(Debug)]
pub struct S3Registry {
    sdk: aws_config::SdkConfig,
    inner: DefaultObjectStoreRegistry,
}

impl S3Registry {
    pub fn new(sdk: aws_config::SdkConfig) -> Self {
        S3Registry {
            sdk,
            inner: DefaultObjectStoreRegistry::new(),
        }
    }
}

impl ObjectStoreRegistry for S3Registry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        let found = self.inner.get_store(url);
        if found.is_ok() || url.scheme() != "s3" {
            return found;
        }
        let bucket = url.host_str().unwrap_or_default();
        let store: Arc<dyn ObjectStore> = Arc::new(
            store(bucket, &self.sdk, None)
                .map_err(|e| DataFusionError::External(format!("s3://{bucket}: {e}").into()))?,
        );
        self.inner.register_store(url, store.clone());
        Ok(store)
    }
}
