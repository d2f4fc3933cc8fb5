//! Downloads of dataset files from the Hugging Face Hub into its standard cache, with
//! [`hf_hub`]'s blocking (ureq) client.
//!
//! The cache is `$HF_HOME/hub` (default `~/.cache/huggingface/hub`), shared with Python's
//! `huggingface_hub`; a file already there is used without touching the network. `HF_ENDPOINT`
//! points at another Hub (a mirror), `HF_TOKEN` (or the token file that `huggingface-cli login`
//! writes) authenticates, and `HF_HUB_OFFLINE=1` forbids the network: cached files are still
//! found, anything else fails at once. Every failure is one [`Error::Download`] line
//! that names the file and repository and says to pass a local folder instead.
//!
//! Before the client starts, the Hub's host is resolved and connected to under a short time
//! limit (skipped when an HTTP(S) proxy is set), so that a machine without network fails in
//! seconds rather than waiting for system time-outs.
//!
//! [`download_mnist`] and [`download_cifar10`] fetch the official datasets, which the Hub
//! holds as parquet (one PNG and one label per row), and convert them once into the files the
//! loaders read, in `$HF_HOME/sparsity-probe/<name>-<commit>/` beside the Hub's cache: later
//! calls find that folder complete and return it at once.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo};

use crate::convert::{self, Source};
use crate::error::{Error, Result};

/// The official MNIST dataset repository (Y. LeCun, C. Cortes, C. J. C. Burges), as parquet:
/// an `image` column (PNG, 28 × 28 grey) and a `label` column (0–9).
pub const MNIST_REPO: &str = "ylecun/mnist";
/// The parquet files of [`MNIST_REPO`] that [`download_mnist`] fetches: the training split
/// (60 000 rows), then the test split (10 000 rows).
pub const MNIST_FILES: [&str; 2] = [
    "mnist/train-00000-of-00001.parquet",
    "mnist/test-00000-of-00001.parquet",
];
/// The official CIFAR-10 dataset repository (A. Krizhevsky, University of Toronto), as
/// parquet: an `img` column (PNG, 32 × 32 RGB) and a `label` column (0–9).
pub const CIFAR10_REPO: &str = "uoft-cs/cifar10";
/// The parquet files of [`CIFAR10_REPO`] that [`download_cifar10`] fetches: the training
/// split (50 000 rows), then the test split (10 000 rows).
pub const CIFAR10_FILES: [&str; 2] = [
    "plain_text/train-00000-of-00001.parquet",
    "plain_text/test-00000-of-00001.parquet",
];

/// The Hub used when `HF_ENDPOINT` is not set.
const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// Time allowed to resolve and connect to the Hub before giving up.
const CONNECT_LIMIT: Duration = Duration::from_secs(8);

/// Fetches `file` of the dataset repository `repo` (`owner/name`) into the Hugging Face cache
/// and returns its path there; a cached copy is returned without using the network.
pub fn fetch_dataset_file(repo: &str, file: &str) -> Result<PathBuf> {
    let fail = |cause: String| Error::Download {
        file: file.to_string(),
        repo: repo.to_string(),
        cause: one_line(&cause),
    };
    let cache = Cache::from_env();
    if let Some(path) = cache.dataset(repo.to_string()).get(file) {
        return Ok(path);
    }
    if offline() {
        return Err(fail(format!(
            "HF_HUB_OFFLINE is set and the file is not in the cache ({})",
            cache.path().display()
        )));
    }
    let endpoint = std::env::var("HF_ENDPOINT").unwrap_or_else(|_| DEFAULT_ENDPOINT.to_string());
    if !proxy_set() {
        reachable(&endpoint).map_err(fail)?;
    }
    let mut builder = ApiBuilder::from_env().with_progress(false);
    if let Some(token) = std::env::var("HF_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        builder = builder.with_token(Some(token.trim().to_string()));
    }
    let api = builder.build().map_err(|e| fail(e.to_string()))?;
    api.repo(Repo::dataset(repo.to_string()))
        .get(file)
        .map_err(|e| fail(describe(&e.to_string())))
}

/// The client's error, with what an HTTP status most likely means here.
fn describe(error: &str) -> String {
    let hint = match error.rsplit("http status: ").next() {
        Some("401" | "403") => {
            " (a private or gated repository: run `huggingface-cli login` or set HF_TOKEN)"
        }
        Some("404") => " (no such dataset repository or file)",
        _ => "",
    };
    format!("{error}{hint}")
}

/// Fetches every file of `files` from `repo` and returns the folder that holds them (the
/// cache's snapshot folder of the repository).
pub fn fetch_dataset_files(repo: &str, files: &[&str]) -> Result<PathBuf> {
    let mut folder: Option<PathBuf> = None;
    for file in files {
        let path = fetch_dataset_file(repo, file)?;
        let depth = Path::new(file).components().count();
        let here = path
            .ancestors()
            .nth(depth)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        match &folder {
            Some(first) if *first != here => {
                return Err(Error::Download {
                    file: file.to_string(),
                    repo: repo.to_string(),
                    cause: format!(
                        "the cache holds it from another revision ({}) than the files before \
                         it ({}); delete the repository's folder in the cache and download again",
                        here.display(),
                        first.display()
                    ),
                });
            }
            Some(_) => {}
            None => folder = Some(here),
        }
    }
    folder.ok_or_else(|| Error::InvalidParameter {
        name: "files",
        value: "[]".to_string(),
        expected: "at least one file to download",
    })
}

/// Downloads MNIST from [`MNIST_REPO`] (the [`MNIST_FILES`]) and converts it once into the
/// four IDX files, uncompressed (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`); returns their folder,
/// `$HF_HOME/sparsity-probe/mnist-<commit>/`, ready for [`load_mnist`](crate::load_mnist).
///
/// A complete folder of the same commit is returned without converting again. Errors as
/// [`fetch_dataset_files`], with [`Error::Parquet`] when a file cannot be converted (an
/// unexpected column layout, an undecodable or wrongly sized image, a label outside 0–9), and
/// with [`Error::Write`] when the folder cannot be written.
pub fn download_mnist() -> Result<PathBuf> {
    download_converted("mnist", MNIST_REPO, MNIST_FILES, convert::mnist)
}

/// Downloads CIFAR-10 from [`CIFAR10_REPO`] (the [`CIFAR10_FILES`]) and converts it once into
/// the binary batches: `data_batch_1.bin` .. `data_batch_5.bin` (the training rows in order,
/// 10 000 each) and `test_batch.bin`, each record a label byte and the red, green and blue
/// planes; returns their folder, `$HF_HOME/sparsity-probe/cifar10-<commit>/`, ready for
/// [`load_cifar10`](crate::load_cifar10).
///
/// A complete folder of the same commit is returned without converting again. Errors as
/// [`download_mnist`].
pub fn download_cifar10() -> Result<PathBuf> {
    download_converted("cifar10", CIFAR10_REPO, CIFAR10_FILES, convert::cifar10)
}

/// Fetches the `[train, test]` parquet `files` of `repo` and returns the folder `name-<commit>`
/// that `convert` fills from them, converting only when it is not complete yet.
fn download_converted(
    name: &str,
    repo: &str,
    files: [&str; 2],
    convert: fn(&Path, &Path, &Path, &Source<'_>) -> Result<()>,
) -> Result<PathBuf> {
    let snapshot = fetch_dataset_files(repo, &files)?;
    let revision = snapshot
        .file_name()
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_else(|| "local".to_string());
    let cache = Cache::from_env();
    let hub = cache.path();
    let root = hub.parent().unwrap_or(hub).join("sparsity-probe");
    let out = root.join(format!("{name}-{revision}"));
    if !convert::is_complete(&out) {
        let source = Source {
            repo,
            revision: &revision,
        };
        convert(
            &snapshot.join(files[0]),
            &snapshot.join(files[1]),
            &out,
            &source,
        )?;
    }
    Ok(out)
}

/// Whether `HF_HUB_OFFLINE` asks for no network (`1`, `true`, `yes`, `on`, any case).
fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// Whether a proxy is configured, in which case the direct connection test says nothing.
fn proxy_set() -> bool {
    [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty()))
}

/// Resolves the endpoint's host and opens (then drops) a TCP connection to it, within
/// [`CONNECT_LIMIT`]. An endpoint that does not parse is left to the client to report.
fn reachable(endpoint: &str) -> std::result::Result<(), String> {
    let Some((host, port)) = host_port(endpoint) else {
        return Ok(());
    };
    let (tx, rx) = mpsc::channel();
    let target = format!("{host}:{port}");
    // The resolver cannot be interrupted; a thread lets the caller stop waiting for it.
    let spawned = thread::Builder::new()
        .name("hub-connect".to_string())
        .spawn(move || {
            let result = connect(&target);
            let _ = tx.send(result);
        });
    if spawned.is_err() {
        return Ok(());
    }
    match rx.recv_timeout(CONNECT_LIMIT) {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no connection to {host}:{port} within {} s",
            CONNECT_LIMIT.as_secs()
        )),
    }
}

/// Connects to the first address of `target` that answers.
fn connect(target: &str) -> std::result::Result<(), String> {
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {target}: {e}"))?
        .collect();
    let mut last = format!("cannot resolve {target}: no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_LIMIT) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("cannot connect to {target}: {e}"),
        }
    }
    Err(last)
}

/// Host and port of an `http://` or `https://` URL (default ports 80 and 443).
fn host_port(url: &str) -> Option<(String, u16)> {
    let (rest, default_port) = if let Some(rest) = url.strip_prefix("https://") {
        (rest, 443)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (rest, 80)
    } else {
        return None;
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        return Some((format!("[{host}]"), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None => Some((authority.to_string(), default_port)),
    }
    .filter(|(host, _)| !host.is_empty())
}

/// `text` on one line.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
