//! Fetching weights from the Hugging Face hub (`hf://owner/repo/file`).

use std::path::PathBuf;

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};

use crate::error::{Error, Result};

/// A file in a Hugging Face model repo, parsed from `hf://owner/repo[@revision]/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubFile {
    /// `owner/repo`.
    pub repo: String,
    /// Branch, tag or commit; `None` means `main`.
    pub revision: Option<String>,
    /// Path of the file inside the repo (may contain `/`).
    pub file: String,
}

impl HubFile {
    /// Parses `hf://owner/repo/path/to/file` or `hf://owner/repo@revision/path/to/file`.
    pub fn parse(url: &str) -> Result<Self> {
        let bad = || Error::BadHubUrl {
            url: url.to_string(),
        };
        let rest = url.strip_prefix("hf://").ok_or_else(bad)?;
        let mut parts = rest.splitn(3, '/');
        let (owner, repo, file) = match (parts.next(), parts.next(), parts.next()) {
            (Some(o), Some(r), Some(f)) if !o.is_empty() && !r.is_empty() && !f.is_empty() => {
                (o, r, f)
            }
            _ => return Err(bad()),
        };
        let (repo, revision) = match repo.split_once('@') {
            Some((r, rev)) if !r.is_empty() && !rev.is_empty() => (r, Some(rev.to_string())),
            Some(_) => return Err(bad()),
            None => (repo, None),
        };
        if file.split('/').any(|seg| seg.is_empty() || seg == "..") {
            return Err(bad());
        }
        Ok(Self {
            repo: format!("{owner}/{repo}"),
            revision,
            file: file.to_string(),
        })
    }

    fn hf_repo(&self) -> Repo {
        match &self.revision {
            Some(rev) => Repo::with_revision(self.repo.clone(), RepoType::Model, rev.clone()),
            None => Repo::new(self.repo.clone(), RepoType::Model),
        }
    }

    fn error(&self, detail: impl Into<String>) -> Error {
        let detail: String = detail.into();
        let detail: Vec<&str> = detail
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        Error::Hub {
            repo: self.repo.clone(),
            file: self.file.clone(),
            detail: detail.join("; "),
        }
    }
}

/// Whether `HF_HUB_OFFLINE` asks for cache-only access (`1`, `true`, `yes`, `on`).
fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
        .unwrap_or(false)
}

/// Returns a local path for `hf://owner/repo[@revision]/file`, downloading it into the
/// Hugging Face cache (`HF_HOME`, default `~/.cache/huggingface`) unless it is already there.
///
/// Uses hf-hub's blocking client (ureq), without a progress bar; `HF_ENDPOINT` changes the
/// server and a token in the cache's `token` file is sent. With `HF_HUB_OFFLINE=1` only the
/// cache is consulted. Any failure (offline, no such repo or file, no access) is one
/// [`Error::Hub`] that names the repo and says to pass a local path with `--weights PATH`.
pub fn fetch_weights(url: &str) -> Result<PathBuf> {
    let hub = HubFile::parse(url)?;
    if offline() {
        let cache = Cache::from_env();
        return cache.repo(hub.hf_repo()).get(&hub.file).ok_or_else(|| {
            hub.error(format!(
                "HF_HUB_OFFLINE is set and the file is not in the cache at {}",
                cache.path().display()
            ))
        });
    }
    let api = ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| hub.error(e.to_string()))?;
    api.repo(hub.hf_repo())
        .get(&hub.file)
        .map_err(|e| hub.error(e.to_string()))
}

/// Resolves a `--weights` argument: `hf://…` addresses go through [`fetch_weights`],
/// anything else is taken as a local path (not checked here; loading reports a missing
/// file).
pub fn resolve_weights(spec: &str) -> Result<PathBuf> {
    if spec.starts_with("hf://") {
        fetch_weights(spec)
    } else {
        Ok(PathBuf::from(spec))
    }
}
