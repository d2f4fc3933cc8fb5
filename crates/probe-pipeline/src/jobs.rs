//! Job files for existing schedulers: a Slurm job array per stage chained with `afterok`
//! and a merge job (`submit.sh` submits them), or one Kubernetes Indexed Job per stage. The
//! jobs run the `probe` command (`probe run CONFIG --stage S --shard I/N`, `probe merge`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::ClusterSection;
use crate::error::{Error, Result};
use crate::units::{Plan, Stage};

/// One stage's array: its name and how many tasks it runs.
struct Array {
    stage: Stage,
    tasks: usize,
}

/// The stages that have units, with one task per unit up to `[cluster] shards`.
fn arrays(plan: &Plan, cluster: &ClusterSection) -> Vec<Array> {
    Stage::ALL
        .iter()
        .map(|&stage| {
            let units = plan.units_of(stage).count();
            Array {
                stage,
                tasks: cluster.shards.map_or(units, |s| s.min(units)),
            }
        })
        .filter(|a| a.tasks > 0)
        .collect()
}

/// A word for a POSIX shell, single-quoted when it needs to be.
fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:=+@%".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn write(path: &Path, text: &str, executable: bool) -> Result<()> {
    probe_data::write_atomic(path, text.as_bytes())?;
    #[cfg(unix)]
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|source| io_error(path, source))?;
    }
    #[cfg(not(unix))]
    let _ = executable;
    Ok(())
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `RUN/jobs/NN-STAGE.sbatch`, `RUN/jobs/NN-merge.sbatch` and `RUN/jobs/submit.sh`.
/// Paths in the jobs are absolute (`probe`, the config, the working folder), so the jobs run
/// from any node that sees the same file system. Returns the files written.
pub fn write_slurm(
    plan: &Plan,
    name: &str,
    cluster: &ClusterSection,
    probe: &Path,
    workdir: &Path,
) -> Result<Vec<PathBuf>> {
    let jobs = workdir.join(&plan.run).join("jobs");
    std::fs::create_dir_all(jobs.join("logs")).map_err(|e| io_error(&jobs, e))?;
    let config = workdir.join(&plan.config);
    let (probe, config) = (
        quote(&probe.display().to_string()),
        quote(&config.display().to_string()),
    );
    let header = |stage: &str, gpus: usize| {
        let mut h = format!("#!/bin/bash\n#SBATCH --job-name=probe-{name}-{stage}\n");
        let _ = writeln!(h, "#SBATCH --chdir={}", workdir.display());
        let _ = writeln!(h, "#SBATCH --cpus-per-task={}", cluster.cpus);
        let _ = writeln!(h, "#SBATCH --mem={}", cluster.mem);
        let _ = writeln!(h, "#SBATCH --time={}", cluster.time);
        if let Some(p) = &cluster.partition {
            let _ = writeln!(h, "#SBATCH --partition={p}");
        }
        if gpus > 0 {
            let _ = writeln!(h, "#SBATCH --gres=gpu:{gpus}");
        }
        h
    };
    let mut files = Vec::new();
    let mut submit = String::from(
        "#!/bin/bash\n# Submits the probe's stages in order, each after the previous one \
         succeeded.\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\nprevious=\"\"\n\
         submit() {\n  local id\n  if [[ -n $previous ]]; then\n    \
         id=$(sbatch --parsable --dependency=afterok:\"$previous\" \"$1\")\n  else\n    \
         id=$(sbatch --parsable \"$1\")\n  fi\n  previous=${id%%;*}\n  \
         echo \"$1: job $previous\"\n}\n",
    );
    let arrays = arrays(plan, cluster);
    for (i, array) in arrays.iter().enumerate() {
        let stage = array.stage.to_string();
        let gpus = if array.stage == Stage::Extract {
            cluster.gpus
        } else {
            0
        };
        let mut text = header(&stage, gpus);
        let _ = writeln!(text, "#SBATCH --array=0-{}", array.tasks - 1);
        let _ = writeln!(
            text,
            "#SBATCH --output={}/logs/{stage}-%a.out",
            jobs.display()
        );
        let _ = writeln!(
            text,
            "set -euo pipefail\nexport RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-{}}}\"\n\
             exec {probe} run {config} --stage {stage} --shard \"$SLURM_ARRAY_TASK_ID/{}\" --quiet",
            cluster.cpus, array.tasks
        );
        let file = jobs.join(format!("{}-{stage}.sbatch", i + 1));
        write(&file, &text, false)?;
        let _ = writeln!(submit, "submit {}", quote(&file_name(&file)));
        files.push(file);
    }
    let mut text = header("merge", 0);
    let _ = writeln!(text, "#SBATCH --output={}/logs/merge.out", jobs.display());
    let _ = writeln!(
        text,
        "set -euo pipefail\nexec {probe} merge {} --quiet",
        quote(&workdir.join(&plan.run).display().to_string())
    );
    let file = jobs.join(format!("{}-merge.sbatch", arrays.len() + 1));
    write(&file, &text, false)?;
    let _ = writeln!(submit, "submit {}", quote(&file_name(&file)));
    files.push(file);
    let file = jobs.join("submit.sh");
    write(&file, &submit, true)?;
    files.push(file);
    Ok(files)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A Kubernetes object name: lowercase letters, digits and '-', at most 63 characters.
fn k8s_name(parts: &[&str]) -> String {
    let raw = parts.join("-").to_lowercase();
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name.truncate(63);
    name.trim_matches('-').to_string()
}

/// Kubernetes quantities: Slurm's `16G` is `16Gi`.
fn k8s_memory(mem: &str) -> String {
    match mem.chars().last() {
        Some(u @ ('K' | 'M' | 'G' | 'T')) => format!("{}{u}i", &mem[..mem.len() - 1]),
        _ => mem.to_string(),
    }
}

/// A YAML string (JSON's quoting is valid YAML).
fn yaml(text: &str) -> String {
    format!("{text:?}")
}

/// Writes `RUN/jobs/k8s/NN-STAGE.yaml` (one Indexed Job per stage, `JOB_COMPLETION_INDEX`
/// as the shard), `NN-merge.yaml`, and `apply.sh`, which applies them in order, waiting for
/// each to complete. Paths are relative to `[cluster] workdir`, where the shared volume is
/// mounted. Returns the files written.
pub fn write_k8s(
    plan: &Plan,
    name: &str,
    cluster: &ClusterSection,
    workdir: &Path,
) -> Result<Vec<PathBuf>> {
    let out = workdir.join(&plan.run).join("jobs/k8s");
    std::fs::create_dir_all(&out).map_err(|e| io_error(&out, e))?;
    let config = plan.config.display().to_string();
    let run = plan.run.display().to_string();
    let job = |stage: &str, tasks: usize, gpus: usize, command: String| {
        let job_name = k8s_name(&["probe", name, stage]);
        let mut t = String::new();
        let _ = writeln!(t, "apiVersion: batch/v1\nkind: Job\nmetadata:");
        let _ = writeln!(t, "  name: {job_name}\n  labels:");
        let _ = writeln!(t, "    app.kubernetes.io/name: sparsity-probe");
        let _ = writeln!(t, "    sparsity-probe/run: {}", k8s_name(&[name]));
        let _ = writeln!(t, "spec:");
        if tasks > 1 || stage != "merge" {
            let _ = writeln!(t, "  completionMode: Indexed");
        }
        let _ = writeln!(t, "  completions: {tasks}\n  parallelism: {tasks}");
        let _ = writeln!(t, "  backoffLimit: {}", 2 * tasks);
        let _ = writeln!(t, "  template:\n    spec:\n      restartPolicy: Never");
        let _ = writeln!(t, "      containers:\n        - name: probe");
        let _ = writeln!(t, "          image: {}", yaml(&cluster.image));
        let _ = writeln!(t, "          workingDir: {}", yaml(&cluster.workdir));
        let _ = writeln!(t, "          command: [\"sh\", \"-c\", {}]", yaml(&command));
        let _ = writeln!(t, "          env:\n            - name: RAYON_NUM_THREADS");
        let _ = writeln!(
            t,
            "              value: {}",
            yaml(&cluster.cpus.to_string())
        );
        let _ = writeln!(t, "          resources:\n            requests:");
        let _ = writeln!(t, "              cpu: {}", yaml(&cluster.cpus.to_string()));
        let memory = yaml(&k8s_memory(&cluster.mem));
        let _ = writeln!(t, "              memory: {memory}\n            limits:");
        let _ = writeln!(t, "              memory: {memory}");
        if gpus > 0 {
            let _ = writeln!(t, "              nvidia.com/gpu: {gpus}");
        }
        let _ = writeln!(t, "          volumeMounts:\n            - name: work");
        let _ = writeln!(t, "              mountPath: {}", yaml(&cluster.workdir));
        let _ = writeln!(t, "      volumes:\n        - name: work");
        let _ = writeln!(t, "          persistentVolumeClaim:");
        let _ = writeln!(t, "            claimName: {}", yaml(&cluster.volume));
        (job_name, t)
    };
    let mut files = Vec::new();
    let mut apply = String::from(
        "#!/bin/bash\n# Applies the probe's stages in order, each once the previous one \
         completed.\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\n",
    );
    let arrays = arrays(plan, cluster);
    let mut step = |file: PathBuf, job_name: &str, text: &str| -> Result<()> {
        write(&file, text, false)?;
        let _ = writeln!(
            apply,
            "kubectl apply -f {}\nkubectl wait --for=condition=complete --timeout=-1s job/{job_name}",
            quote(&file_name(&file))
        );
        files.push(file);
        Ok(())
    };
    for (i, array) in arrays.iter().enumerate() {
        let stage = array.stage.to_string();
        let gpus = if array.stage == Stage::Extract {
            cluster.gpus
        } else {
            0
        };
        let command = format!(
            "exec probe run {} --stage {stage} --shard \"$JOB_COMPLETION_INDEX/{}\" --quiet",
            quote(&config),
            array.tasks
        );
        let (job_name, text) = job(&stage, array.tasks, gpus, command);
        step(
            out.join(format!("{}-{stage}.yaml", i + 1)),
            &job_name,
            &text,
        )?;
    }
    let (job_name, text) = job(
        "merge",
        1,
        0,
        format!("exec probe merge {} --quiet", quote(&run)),
    );
    step(
        out.join(format!("{}-merge.yaml", arrays.len() + 1)),
        &job_name,
        &text,
    )?;
    let file = out.join("apply.sh");
    write(&file, &apply, true)?;
    files.push(file);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(quote("/a/b-c.toml"), "/a/b-c.toml");
        assert_eq!(quote("my run/it's"), r"'my run/it'\''s'");
    }

    #[test]
    fn kubernetes_names_and_quantities() {
        assert_eq!(
            k8s_name(&["probe", "My_Run", "alpha"]),
            "probe-my-run-alpha"
        );
        assert_eq!(k8s_memory("16G"), "16Gi");
        assert_eq!(k8s_memory("512Mi"), "512Mi");
    }
}
