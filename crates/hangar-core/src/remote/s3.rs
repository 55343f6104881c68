//! The settings of an `s3://` remote beyond what `object_store` reads by itself: the
//! AWS profile's keys, region and endpoint, the check that some credentials exist for a
//! server other than AWS, the checks of URL, endpoint and region that keep a bad value
//! from reaching `object_store` (which panics on a request it cannot build), and the
//! key prefix of a URL.

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as StorePath;

use crate::error::{Error, Result};

/// Fills in from the AWS profile (`~/.aws/credentials` and `~/.aws/config`, see
/// `aws_profile`) what the environment and the remote's own settings left unset, in the
/// `aws` command's order: keys from the environment win over the profile's (its session
/// token comes only with its keys); the remote's `--region`/`--endpoint`, then
/// `AWS_REGION`/`AWS_DEFAULT_REGION` and `AWS_ENDPOINT_URL`, win over the profile's.
pub(crate) fn with_aws_profile(
    mut b: AmazonS3Builder,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<AmazonS3Builder> {
    let Some(p) = super::aws_profile::load(var)? else {
        return Ok(b);
    };
    // The profile's keys are asked for (and a profile that cannot give them refused)
    // only when the environment gives none.
    if configured(&b, AmazonS3ConfigKey::AccessKeyId).is_none() {
        if let Some((id, secret, token)) = p.keys()? {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
            if let Some(token) = token {
                b = b.with_token(token);
            }
        }
    }
    if configured(&b, AmazonS3ConfigKey::Region).is_none()
        && configured(&b, AmazonS3ConfigKey::DefaultRegion).is_none()
    {
        if let Some(r) = p.region {
            b = b.with_region(r);
        }
    }
    if endpoint_of(&b).is_none() {
        if let Some(ep) = p.endpoint_url {
            b = b.with_endpoint(ep);
        }
    }
    Ok(b)
}

/// The builder's value of `key`, if one is set and not empty (from the environment, the
/// remote's settings or the profile).
fn configured(b: &AmazonS3Builder, key: AmazonS3ConfigKey) -> Option<String> {
    b.get_config_value(&key).filter(|v| !v.is_empty())
}

/// The endpoint requests will go to: `AWS_ENDPOINT_URL_S3`'s (object_store prefers it),
/// else the endpoint's; `None` for AWS's own.
pub(crate) fn endpoint_of(b: &AmazonS3Builder) -> Option<String> {
    configured(b, AmazonS3ConfigKey::S3Endpoint)
        .or_else(|| configured(b, AmazonS3ConfigKey::Endpoint))
}

/// Refuses, before any request, a server other than AWS when no credentials were found:
/// `object_store` would then ask the EC2 instance metadata service for some, which is
/// either not there (a wait and an error about 169.254.169.254) or gives an AWS role
/// that no other server knows. On AWS itself (no endpoint, or an amazonaws.com one)
/// that is how an instance's role reaches its bucket, so it is left to do so; web
/// identity and ECS container credentials count as found.
pub(crate) fn require_credentials(
    b: &AmazonS3Builder,
    url: &str,
    endpoint: Option<&str>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<()> {
    let aws = endpoint.is_none_or(|e| e.contains(".amazonaws.com"));
    let found = configured(b, AmazonS3ConfigKey::AccessKeyId).is_some()
        || [
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ]
        .iter()
        .any(|k| var(k).is_some_and(|v| !v.is_empty()));
    if aws || found {
        return Ok(());
    }
    Err(Error::Remote(format!(
        "remote {url}: no credentials for the server at {}: set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, or put them in a profile of ~/.aws/credentials \
         (AWS_PROFILE names one; `default` otherwise); nothing was changed locally",
        endpoint.unwrap_or_default()
    )))
}

/// The key prefix of an `s3://bucket/prefix` URL: its path, percent-decoded once (a
/// space written `%20` is a space in the object keys, not `%20`), empty segments
/// dropped; `.` and `..` are refused.
pub(crate) fn s3_prefix(url: &url::Url) -> Result<StorePath> {
    let joined: Vec<&str> = url.path().split('/').filter(|s| !s.is_empty()).collect();
    StorePath::from_url_path(joined.join("/")).map_err(|e| {
        Error::InvalidArgument(format!(
            "the key prefix of {:?} cannot be used ({e}); give s3://bucket/some/prefix",
            url.as_str()
        ))
    })
}

/// Refuses an S3 endpoint or region that would make no valid request (object_store
/// panics on building one): an endpoint is an `http://` or `https://` URL with a host,
/// in printable ASCII; a region is letters, digits, `-`, `_` and `.`. `from` says where
/// the value came from, for the message.
pub(crate) fn check_s3_settings(
    endpoint: Option<&str>,
    region: Option<&str>,
    from: &str,
) -> Result<()> {
    if let Some(ep) = endpoint {
        let parsed = url::Url::parse(ep).ok();
        let ok = ep.chars().all(|c| c.is_ascii_graphic())
            && parsed.is_some_and(|u| {
                ["http", "https"].contains(&u.scheme())
                    && u.host_str().is_some_and(|h| !h.is_empty())
            });
        if !ok {
            return Err(Error::InvalidArgument(format!(
                "the S3 endpoint {ep:?} ({from}) is not an http:// or https:// URL: give \
                 http://HOST:PORT for a server on your network or https://HOST"
            )));
        }
    }
    if let Some(r) = region {
        if r.is_empty() || !r.chars().all(name_char) {
            return Err(Error::InvalidArgument(format!(
                "the S3 region {r:?} ({from}) is not a region name: give one such as \
                 us-east-1, or the name your server uses (Garage: garage)"
            )));
        }
    }
    Ok(())
}

/// A character of a bucket or region name: letters, digits, `-`, `_` and `.` (S3's own
/// rules are stricter; servers other than AWS accept these too).
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.".contains(c)
}

/// Checks that `url` is a remote URL this build can use, without contacting it.
pub(crate) fn check_url(url: &str) -> Result<()> {
    let u = url::Url::parse(url).map_err(|e| {
        Error::InvalidArgument(format!(
            "{url:?} is not a remote URL ({e}); give a directory, file:///absolute/path or \
             s3://bucket/prefix"
        ))
    })?;
    match u.scheme() {
        "file" if u.to_file_path().is_ok() => Ok(()),
        "s3" => {
            let bucket = u.host_str().unwrap_or_default();
            if bucket.is_empty() || !bucket.chars().all(name_char) {
                return Err(Error::InvalidArgument(format!(
                    "{url:?} names no usable bucket ({bucket:?}): bucket names are letters, \
                     digits, '-', '_' and '.'; give s3://bucket/prefix"
                )));
            }
            s3_prefix(&u).map(|_| ())
        }
        _ => Err(Error::InvalidArgument(format!(
            "{url:?} is not a remote URL this build can use; give a directory, \
             file:///absolute/path or s3://bucket/prefix"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_endpoints_and_regions_that_make_no_request_are_refused() {
        for ok in [
            "s3://bucket/p",
            "s3://my_bucket.v2-x",
            "s3://b/a/b/c/",
            "s3://b//x",
        ] {
            check_url(ok).unwrap();
        }
        for bad in ["s3://b%20c/x", "s3://", "s3:///x"] {
            let e = check_url(bad).unwrap_err().to_string();
            assert!(
                e.contains("bucket") || e.contains("not a remote URL"),
                "{bad}: {e}"
            );
        }
        for ep in [
            "http://127.0.0.1:3900",
            "https://s3.example.com",
            "http://h:1/",
        ] {
            check_s3_settings(Some(ep), Some("us-east-1"), "x").unwrap();
        }
        for ep in [
            "127.0.0.1:3900",
            "localhost:9",
            "ftp://h",
            "http://h/a b",
            "http://",
            "http://hé",
        ] {
            let e = check_s3_settings(Some(ep), None, "given here")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("not an http://") && e.contains("given here"),
                "{ep}: {e}"
            );
        }
        for r in ["garage", "eu-west-1", "auto", "r_1.x"] {
            check_s3_settings(None, Some(r), "x").unwrap();
        }
        for r in ["", "us east", "a/b", "ré"] {
            let e = check_s3_settings(None, Some(r), "x")
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a region name"), "{r:?}: {e}");
        }
    }

    #[test]
    fn a_profile_is_asked_for_keys_only_when_the_environment_has_none() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        std::fs::write(
            home.path().join(".aws/config"),
            "[default]\nsso_session = corp\nregion = eu-north-1\n",
        )
        .unwrap();
        let h = home.path().display().to_string();
        let var = |k: &str| (k == "HOME").then(|| h.clone());
        // Keys in the environment (here, already on the builder): the SSO profile's
        // region is still used, and its keys are not needed.
        let b = AmazonS3Builder::new()
            .with_access_key_id("AKID")
            .with_secret_access_key("s");
        let b = with_aws_profile(b, &var).unwrap();
        let got = |b: &AmazonS3Builder, k| b.get_config_value(&k);
        assert_eq!(
            got(&b, AmazonS3ConfigKey::AccessKeyId).as_deref(),
            Some("AKID")
        );
        assert_eq!(
            got(&b, AmazonS3ConfigKey::Region).as_deref(),
            Some("eu-north-1")
        );
        // None there: the profile must give them, and cannot.
        let e = with_aws_profile(AmazonS3Builder::new(), &var)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sso_session") && e.contains("export AWS_ACCESS_KEY_ID"),
            "{e}"
        );
    }

    #[test]
    fn an_s3_prefix_is_percent_decoded_once() {
        let prefix = |u: &str| s3_prefix(&url::Url::parse(u).unwrap()).map(|p| p.to_string());
        assert_eq!(prefix("s3://b").unwrap(), "");
        assert_eq!(prefix("s3://b//data/x/").unwrap(), "data/x");
        // A space written %20 is a space in the keys (object_store encodes it once on
        // the wire), not the three characters %20 (encoded twice more).
        assert_eq!(prefix("s3://b/pre%20fix").unwrap(), "pre fix");
        assert_eq!(prefix("s3://b/%C3%BC/x").unwrap(), "ü/x");
    }
}
