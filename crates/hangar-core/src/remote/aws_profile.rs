//! The AWS shared configuration files (`~/.aws/credentials` and `~/.aws/config`), read
//! as the `aws` command reads them. `object_store` finds credentials in the environment,
//! through web identity, and from ECS and EC2 metadata, but never in these files — where
//! most users keep them (`aws configure` writes them).
//!
//! What is read: the profile named by `AWS_PROFILE` (else `AWS_DEFAULT_PROFILE`, else
//! `default`) in `AWS_SHARED_CREDENTIALS_FILE` (else `~/.aws/credentials`, sections
//! `[name]`) and `AWS_CONFIG_FILE` (else `~/.aws/config`, sections `[profile name]`, and
//! `[default]`): its static keys, session token, region and `endpoint_url`. A value in
//! the credentials file wins over the config file's, as for `aws`. Profiles that get
//! their keys another way (`role_arn`, `sso_*`, `credential_process`, a web identity
//! token) are refused when their keys are needed (none in the environment), with a
//! message saying what to do instead, never silently skipped.
//! A profile asked for by name that neither file has is an error; an absent `default`
//! profile is not (the credentials may come from elsewhere).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The most bytes read of either file: a configuration, not data.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// What a profile says, each setting only when it is there.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    /// The profile's name and the files it came from, for messages.
    pub source: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// A setting that gets keys another way than static ones, when the profile has one.
    pub other_way: Option<&'static str>,
}

/// Settings that give credentials another way than static keys: not supported here.
const OTHER_WAYS: [&str; 6] = [
    "role_arn",
    "credential_process",
    "sso_session",
    "sso_start_url",
    "sso_account_id",
    "web_identity_token_file",
];

/// The profile in force, read from the files `var` (an environment lookup) points to;
/// `None` when no profile was named and there is no `default` one.
pub(crate) fn load(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<Profile>> {
    let set = |k: &str| var(k).filter(|v| !v.is_empty());
    let named = set("AWS_PROFILE").or_else(|| set("AWS_DEFAULT_PROFILE"));
    let name = named.clone().unwrap_or_else(|| "default".to_string());
    let home = set("HOME").map(PathBuf::from);
    let file = |over: &str, default: &str| {
        set(over)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    let creds_path = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let config_path = file("AWS_CONFIG_FILE", "config");
    let creds = match &creds_path {
        Some(p) => section(p, &[name.as_str()])?,
        None => None,
    };
    let profile_header = format!("profile {name}");
    let config_sections: Vec<&str> = if name == "default" {
        vec!["default", "profile default"]
    } else {
        vec![profile_header.as_str()]
    };
    let config = match &config_path {
        Some(p) => section(p, &config_sections)?,
        None => None,
    };
    let shown = |p: &Option<PathBuf>| {
        p.as_ref()
            .map_or("(no HOME)".to_string(), |p| p.display().to_string())
    };
    if creds.is_none() && config.is_none() {
        return match named {
            Some(n) => Err(Error::InvalidArgument(format!(
                "AWS profile {n:?} is in neither {} nor {}: add it (`aws configure \
                 --profile {n}`), or unset AWS_PROFILE and AWS_DEFAULT_PROFILE",
                shown(&creds_path),
                shown(&config_path)
            ))),
            None => Ok(None),
        };
    }
    // The credentials file's values win over the config file's.
    let mut merged = config.unwrap_or_default();
    merged.extend(creds.unwrap_or_default());
    let source = format!(
        "AWS profile {name:?} ({} / {})",
        shown(&creds_path),
        shown(&config_path)
    );
    let take = |k: &str| merged.get(k).filter(|v| !v.is_empty()).cloned();
    Ok(Some(Profile {
        access_key_id: take("aws_access_key_id"),
        secret_access_key: take("aws_secret_access_key"),
        session_token: take("aws_session_token"),
        region: take("region"),
        endpoint_url: take("endpoint_url"),
        source,
        other_way: OTHER_WAYS.iter().copied().find(|k| merged.contains_key(*k)),
    }))
}

impl Profile {
    /// The profile's static keys and session token, for when nothing else gives keys:
    /// `None` if it has none and names no other way to get them; an error for half a
    /// key pair, or for keys it would get another way (`role_arn`, SSO, a process),
    /// which this build cannot follow.
    pub(crate) fn keys(&self) -> Result<Option<(String, String, Option<String>)>> {
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) => Ok(Some((
                id.clone(),
                secret.clone(),
                self.session_token.clone(),
            ))),
            (None, None) => match self.other_way {
                Some(k) => Err(Error::Unsupported(format!(
                    "{} gets its credentials through {k}, which libhangar does not support: \
                     export AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN \
                     (for example from `aws configure export-credentials --format env`)",
                    self.source
                ))),
                None => Ok(None),
            },
            _ => Err(Error::InvalidArgument(format!(
                "{} has only one of aws_access_key_id and aws_secret_access_key: give both",
                self.source
            ))),
        }
    }
}

/// The settings of the first section of `path` whose header is one of `headers` (keys in
/// lower case); `None` when the file or the section does not exist.
fn section(path: &Path, headers: &[&str]) -> Result<Option<HashMap<String, String>>> {
    let text = match read_bounded(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::InvalidArgument(format!(
                "cannot read the AWS configuration file {}: {e}",
                path.display()
            )))
        }
    };
    Ok(parse_section(&text, headers))
}

/// The file's text, if it holds at most [`MAX_FILE_BYTES`] (more is no AWS
/// configuration file, and reading stops there).
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "it holds more than {} MiB, which no AWS configuration file does",
            MAX_FILE_BYTES >> 20
        )));
    }
    Ok(text)
}

/// The INI dialect of the AWS files: `[header]` lines, `key = value` lines, `#` and `;`
/// comment lines, and indented lines that continue a nested setting (`s3 =` followed
/// by `  addressing_style = path`), which are skipped. Headers and keys compare without
/// case and surrounding spaces; when a section appears twice, its settings merge.
fn parse_section(text: &str, headers: &[&str]) -> Option<HashMap<String, String>> {
    let mut found: Option<HashMap<String, String>> = None;
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue; // a nested setting's line
        }
        let t = line.trim();
        if t.is_empty() || t.starts_with(['#', ';']) {
            continue;
        }
        if let Some(h) = t.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let h = h.split_whitespace().collect::<Vec<_>>().join(" ");
            inside = headers.iter().any(|w| w.eq_ignore_ascii_case(&h));
            if inside {
                found.get_or_insert_with(HashMap::new);
            }
            continue;
        }
        if !inside {
            continue;
        }
        if let (Some(map), Some((k, v))) = (found.as_mut(), t.split_once('=')) {
            map.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |k| m.get(k).cloned()
    }

    const CREDENTIALS: &str = "\
# written by aws configure
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = secretdefault

[  ci ]
AWS_ACCESS_KEY_ID=AKIDCI
aws_secret_access_key =  secret=with=equals
aws_session_token = tok
[half]
aws_access_key_id = AKIDHALF
";
    const CONFIG: &str = "\
[default]
region = eu-west-1
[profile ci]
region = garage
endpoint_url = http://127.0.0.1:3900
s3 =
  addressing_style = path
  endpoint_url = http://ignored
; a comment
[profile assumed]
role_arn = arn:aws:iam::123456789012:role/x
source_profile = default
[profile keysinconfig]
aws_access_key_id = AKIDCONF
aws_secret_access_key = fromconfig
region = us-west-2
[ci]
region = not-a-profile-header-in-config
";

    fn files() -> (tempfile::TempDir, Vec<(&'static str, String)>) {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".aws")).unwrap();
        std::fs::write(home.join(".aws/credentials"), CREDENTIALS).unwrap();
        std::fs::write(home.join(".aws/config"), CONFIG).unwrap();
        let vars = vec![("HOME", home.display().to_string())];
        (dir, vars)
    }

    fn with(
        vars: &[(&'static str, String)],
        more: &[(&'static str, &str)],
    ) -> Vec<(&'static str, String)> {
        let mut v = vars.to_vec();
        v.extend(more.iter().map(|(k, s)| (*k, s.to_string())));
        v
    }

    #[test]
    fn the_default_profile_and_named_ones_as_the_aws_command_reads_them() {
        let (_dir, vars) = files();
        let p = load(&env(&vars)).unwrap().unwrap();
        assert_eq!(p.access_key_id.as_deref(), Some("AKIDDEFAULT"));
        assert_eq!(p.secret_access_key.as_deref(), Some("secretdefault"));
        assert_eq!(p.region.as_deref(), Some("eu-west-1"));
        assert_eq!(p.endpoint_url, None);

        let p = load(&env(&with(&vars, &[("AWS_PROFILE", "ci")])))
            .unwrap()
            .unwrap();
        assert_eq!(p.access_key_id.as_deref(), Some("AKIDCI"));
        assert_eq!(p.secret_access_key.as_deref(), Some("secret=with=equals"));
        assert_eq!(p.session_token.as_deref(), Some("tok"));
        // From the config file's [profile ci]; the nested s3 block's endpoint is not the
        // profile's, and the config file's bare [ci] is not a profile header.
        assert_eq!(p.region.as_deref(), Some("garage"));
        assert_eq!(p.endpoint_url.as_deref(), Some("http://127.0.0.1:3900"));
        assert!(p.source.contains("\"ci\""), "{}", p.source);

        // AWS_DEFAULT_PROFILE when AWS_PROFILE is unset; keys from the config file alone.
        let p = load(&env(&with(
            &vars,
            &[("AWS_DEFAULT_PROFILE", "keysinconfig")],
        )))
        .unwrap()
        .unwrap();
        assert_eq!(p.access_key_id.as_deref(), Some("AKIDCONF"));
        assert_eq!(p.region.as_deref(), Some("us-west-2"));
    }

    #[test]
    fn other_files_named_by_the_environment() {
        let (dir, vars) = files();
        let creds = dir.path().join("elsewhere");
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id=A2\naws_secret_access_key=S2\n",
        )
        .unwrap();
        let v = with(
            &vars,
            &[
                ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
                ("AWS_CONFIG_FILE", "/nonexistent/config"),
            ],
        );
        let p = load(&env(&v)).unwrap().unwrap();
        assert_eq!(
            (p.access_key_id.as_deref(), p.region.as_deref()),
            (Some("A2"), None)
        );
    }

    #[test]
    fn no_files_or_no_default_profile_is_no_profile() {
        assert_eq!(load(&env(&[])).unwrap(), None);
        let dir = tempfile::tempdir().unwrap();
        let v = vec![("HOME", dir.path().display().to_string())];
        assert_eq!(load(&env(&v)).unwrap(), None);
        std::fs::create_dir(dir.path().join(".aws")).unwrap();
        std::fs::write(dir.path().join(".aws/credentials"), "[other]\nx=1\n").unwrap();
        assert_eq!(load(&env(&v)).unwrap(), None);
    }

    #[test]
    fn profiles_that_cannot_be_used_are_refused_saying_what_to_do() {
        let (_dir, vars) = files();
        let e = load(&env(&with(&vars, &[("AWS_PROFILE", "nope")])))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"nope\"") && e.contains("credentials") && e.contains("aws configure"),
            "{e}"
        );
        // These load (their region and endpoint are usable), but asking them for keys
        // is an error: what is wrong, and what to do.
        let keys = |name: &'static str| {
            let p = load(&env(&with(&vars, &[("AWS_PROFILE", name)])))
                .unwrap()
                .unwrap();
            p.keys().map_err(|e| e.to_string())
        };
        let e = keys("assumed").unwrap_err();
        assert!(
            e.contains("role_arn") && e.contains("AWS_ACCESS_KEY_ID"),
            "{e}"
        );
        let e = keys("half").unwrap_err();
        assert!(e.contains("only one of"), "{e}");
        assert_eq!(
            keys("ci").unwrap(),
            Some((
                "AKIDCI".into(),
                "secret=with=equals".into(),
                Some("tok".into())
            ))
        );
        assert_eq!(keys("default").unwrap().unwrap().2, None);
    }

    #[test]
    fn an_unreadable_or_huge_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: reading it fails with an error, no panic.
        std::fs::create_dir_all(dir.path().join(".aws/credentials")).unwrap();
        let v = vec![("HOME", dir.path().display().to_string())];
        let e = load(&env(&v)).unwrap_err().to_string();
        assert!(e.contains("cannot read the AWS configuration file"), "{e}");
        let big = dir.path().join("big");
        let mut text = "[default]\naws_access_key_id=A\naws_secret_access_key=S\n".to_string();
        text.push_str(&"# padding\n".repeat(200_000));
        std::fs::write(&big, text).unwrap();
        let v = vec![("AWS_SHARED_CREDENTIALS_FILE", big.display().to_string())];
        let e = load(&env(&v)).unwrap_err().to_string();
        assert!(e.contains("big") && e.contains("more than 1 MiB"), "{e}");
    }
}
