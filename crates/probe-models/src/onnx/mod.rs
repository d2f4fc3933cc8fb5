//! ONNX graphs as models (feature `onnx`): every value of the graph can be tapped by its name
//! (as Netron shows it), and the nodes run on candle's devices.
//!
//! The graph runs node by node in its (topological) order; a value is dropped after its last
//! reader unless it is tapped, so memory holds what is live, not every activation.

mod ops;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_onnx::onnx::{self, tensor_shape_proto::dimension::Value as Dim, type_proto};

use crate::error::{Error, Result};
use crate::taps::Tapped;

/// How the dataset's batches are turned into the graph's input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OnnxInput {
    /// The graph input to feed (default: the first input that is not a weight).
    pub name: Option<String>,
    /// Feed `[n, h, w, c]` instead of the dataset's `[n, c, h, w]`.
    pub channels_last: bool,
}

/// Tapped values by name, in request order.
type Taps = Vec<(String, Tensor)>;

/// An ONNX model whose every intermediate value is a tap.
#[derive(Clone)]
pub struct OnnxModel {
    inner: Arc<Graph>,
}

struct Graph {
    path: PathBuf,
    nodes: Vec<onnx::NodeProto>,
    weights: HashMap<String, Tensor>,
    input: String,
    /// The input's dimensions as declared (`None`: symbolic, e.g. the batch).
    input_dims: Vec<Option<usize>>,
    channels_last: bool,
    output: String,
    /// `input`, then every node output, in the order the graph computes them.
    names: Vec<String>,
    /// For each value, the index of the last node that reads it.
    last_reader: HashMap<String, usize>,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("path", &self.inner.path)
            .field("nodes", &self.inner.nodes.len())
            .field("input", &self.inner.input)
            .field("output", &self.inner.output)
            .finish()
    }
}

impl OnnxModel {
    /// Reads an ONNX file and places its weights on `device`. Fails before any work on an
    /// operator that cannot run (naming the op and the node) or an unknown input name.
    pub fn load(path: &Path, input: &OnnxInput, device: &Device) -> Result<OnnxModel> {
        let bad = |problem: String| Error::Onnx {
            path: path.to_path_buf(),
            problem,
        };
        let model = candle_onnx::read_file(path)
            .map_err(|e| bad(format!("cannot read it as an ONNX model ({e})")))?;
        let graph = model
            .graph
            .ok_or_else(|| bad("the file holds no graph".into()))?;
        if let Some(node) = graph.node.iter().find(|n| !ops::supported(&n.op_type)) {
            return Err(bad(format!(
                "operator `{}` (node `{}`) is not supported; the supported operators are \
                 candle-onnx 0.11's plus GlobalAveragePool, LayerNormalization and Mod",
                node.op_type, node.name
            )));
        }
        let mut graph = graph;
        load_external_data(path, &mut graph.initializer).map_err(bad)?;
        let mut weights = HashMap::new();
        for t in &graph.initializer {
            let tensor = candle_onnx::eval::get_tensor(t, &t.name)
                .and_then(|t| t.to_device(device))
                .map_err(|e| bad(format!("weight `{}`: {e}", t.name)))?;
            weights.insert(t.name.clone(), tensor);
        }
        let inputs: Vec<&onnx::ValueInfoProto> = graph
            .input
            .iter()
            .filter(|i| !weights.contains_key(&i.name))
            .collect();
        let chosen = match &input.name {
            Some(name) => inputs.iter().find(|i| &i.name == name).ok_or_else(|| {
                bad(format!(
                    "no graph input `{name}`; its inputs are {}",
                    quoted(inputs.iter().map(|i| i.name.as_str()))
                ))
            })?,
            None => inputs
                .first()
                .ok_or_else(|| bad("the graph has no input".into()))?,
        };
        let input_dims = declared_dims(chosen);
        let output = graph
            .output
            .first()
            .map(|o| o.name.clone())
            .ok_or_else(|| bad("the graph has no output".into()))?;
        let mut names = vec![chosen.name.clone()];
        let mut last_reader = HashMap::new();
        for (i, node) in graph.node.iter().enumerate() {
            for name in &node.input {
                last_reader.insert(name.clone(), i);
            }
            names.extend(node.output.iter().filter(|o| !o.is_empty()).cloned());
        }
        Ok(OnnxModel {
            inner: Arc::new(Graph {
                path: path.to_path_buf(),
                nodes: graph.node,
                weights,
                input: chosen.name.clone(),
                input_dims,
                channels_last: input.channels_last,
                output,
                names,
                last_reader,
            }),
        })
    }

    /// The ONNX file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The graph input that is fed.
    pub fn input_name(&self) -> &str {
        &self.inner.input
    }

    /// Runs the graph up to the last node a tap needs, and returns the taps in request
    /// order (`with_output` also runs the rest and returns the graph's first output).
    fn run(&self, x: &Tensor, taps: &[&str], with_output: bool) -> Result<(Option<Tensor>, Taps)> {
        let g = &self.inner;
        let owned: Vec<String> = taps.iter().map(|t| (*t).to_string()).collect();
        self.check_taps(&owned)?;
        let x = if g.channels_last && x.rank() == 4 {
            x.permute((0, 2, 3, 1))
                .and_then(|t| t.contiguous())
                .map_err(Error::candle("moving the input's channels last"))?
        } else {
            x.clone()
        };
        self.check_input(&x)?;
        let mut keep: HashSet<&str> = taps.iter().copied().collect();
        if with_output {
            keep.insert(g.output.as_str());
        }
        // The last node whose output is kept: nothing after it is needed.
        let last = g
            .nodes
            .iter()
            .rposition(|n| n.output.iter().any(|o| keep.contains(o.as_str())))
            .map_or(0, |i| i + 1);
        let mut values: HashMap<String, Tensor> = HashMap::new();
        values.insert(g.input.clone(), x.clone());
        for (i, node) in g.nodes[..last].iter().enumerate() {
            let inputs = node
                .input
                .iter()
                .map(|name| {
                    if name.is_empty() {
                        return Ok(None);
                    }
                    match values.get(name).or_else(|| g.weights.get(name)) {
                        Some(t) => Ok(Some(t.clone())),
                        None => Err(Error::Onnx {
                            path: g.path.clone(),
                            problem: format!(
                                "node `{}` ({}) reads `{name}`, which no earlier node writes",
                                node.name, node.op_type
                            ),
                        }),
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            let outputs = ops::eval(node, &inputs).map_err(|e| Error::Onnx {
                path: g.path.clone(),
                problem: format!(
                    "node `{}` ({}): {}",
                    node.name,
                    node.op_type,
                    crate::error::one_line(&e)
                ),
            })?;
            for (name, t) in node.output.iter().zip(outputs) {
                if !name.is_empty() {
                    values.insert(name.clone(), t);
                }
            }
            for name in &node.input {
                if g.last_reader.get(name) == Some(&i) && !keep.contains(name.as_str()) {
                    values.remove(name);
                }
            }
        }
        let found = taps
            .iter()
            .map(|t| {
                let tensor = values.get(*t).cloned().ok_or_else(|| Error::Onnx {
                    path: g.path.clone(),
                    problem: format!("`{t}` was not computed"),
                })?;
                Ok(((*t).to_string(), tensor))
            })
            .collect::<Result<Vec<_>>>()?;
        let output = if with_output {
            values.remove(&g.output)
        } else {
            None
        };
        Ok((output, found))
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        let g = &self.inner;
        let fits = x.rank() == g.input_dims.len()
            && x.dims()
                .iter()
                .zip(&g.input_dims)
                .skip(1)
                .all(|(&got, want)| want.is_none_or(|w| w == got));
        if fits || g.input_dims.is_empty() {
            return Ok(());
        }
        let expected: Vec<String> = g
            .input_dims
            .iter()
            .map(|d| d.map_or("?".to_string(), |d| d.to_string()))
            .collect();
        Err(Error::Onnx {
            path: g.path.clone(),
            problem: format!(
                "input `{}` expects shape [{}] but the dataset gives {:?}{}",
                g.input,
                expected.join(", "),
                x.dims(),
                if g.channels_last {
                    " (after moving channels last)"
                } else {
                    "; set the input layout or use a dataset of this shape"
                }
            ),
        })
    }

    /// The shape of every value for a batch of one sample like `x`'s first, in graph order.
    pub fn value_shapes(&self, x: &Tensor) -> Result<Vec<(String, Vec<usize>)>> {
        let one = x.narrow(0, 0, 1).map_err(Error::candle("one sample"))?;
        let names: Vec<&str> = self.inner.names.iter().map(String::as_str).collect();
        let (_, taps) = self.run(&one, &names, false)?;
        Ok(taps
            .into_iter()
            .map(|(name, t)| (name, t.dims().to_vec()))
            .collect())
    }
}

impl Tapped for OnnxModel {
    fn forward_with_taps(
        &self,
        x: &Tensor,
        taps: &[&str],
        _train: bool,
    ) -> Result<(Tensor, Vec<(String, Tensor)>)> {
        let (output, taps) = self.run(x, taps, true)?;
        let output = output.ok_or_else(|| Error::Onnx {
            path: self.inner.path.clone(),
            problem: format!("the output `{}` was not computed", self.inner.output),
        })?;
        Ok((output, taps))
    }

    fn tap_names(&self) -> Vec<String> {
        self.inner.names.clone()
    }

    /// The graph runs only as far as the last tap needs.
    fn forward_taps(&self, x: &Tensor, taps: &[&str]) -> Result<Vec<(String, Tensor)>> {
        Ok(self.run(x, taps, false)?.1)
    }
}

impl OnnxModel {
    /// Every name in `taps` is a value of the graph; else an error naming the closest.
    pub fn check_taps(&self, taps: &[String]) -> Result<()> {
        let g = &self.inner;
        match taps.iter().find(|t| !g.names.contains(t)) {
            Some(bad) => Err(Error::UnknownOnnxValue {
                path: g.path.clone(),
                name: bad.clone(),
                close: close_matches(bad, &g.names),
            }),
            None => Ok(()),
        }
    }

    /// The dtype the graph's weights use (the first floating one), for the input.
    pub fn dtype(&self) -> DType {
        self.inner
            .weights
            .values()
            .map(Tensor::dtype)
            .find(|d| d.is_float())
            .unwrap_or(DType::F32)
    }
}

/// Weights kept beside the model (`torch.onnx.export`'s default writes `model.onnx.data`):
/// each such tensor's bytes are read from its file, which must lie in the model's folder.
fn load_external_data(
    path: &Path,
    tensors: &mut [onnx::TensorProto],
) -> std::result::Result<(), String> {
    const EXTERNAL: i32 = 1;
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    for t in tensors.iter_mut().filter(|t| t.data_location == EXTERNAL) {
        let entry = |key: &str| {
            t.external_data
                .iter()
                .find(|e| e.key == key)
                .map(|e| e.value.clone())
        };
        let location = entry("location")
            .ok_or_else(|| format!("weight `{}` is stored outside but names no file", t.name))?;
        let relative = Path::new(&location);
        let inside = relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            return Err(format!(
                "weight `{}` is stored in `{location}`, outside the model's folder; only files \
                 beside the model are read",
                t.name
            ));
        }
        let number = |key: &str| -> std::result::Result<Option<usize>, String> {
            entry(key)
                .map(|v| {
                    v.parse::<usize>()
                        .map_err(|_| format!("weight `{}`: {key} {v:?}", t.name))
                })
                .transpose()
        };
        let (offset, length) = (number("offset")?.unwrap_or(0), number("length")?);
        if !files.contains_key(&location) {
            let file = folder.join(relative);
            let bytes = std::fs::read(&file).map_err(|e| {
                format!("cannot read {} (its external weights): {e}", file.display())
            })?;
            files.insert(location.clone(), bytes);
        }
        let bytes = &files[&location];
        let end = length.map_or(bytes.len(), |l| offset.saturating_add(l));
        let data = bytes.get(offset..end).ok_or_else(|| {
            format!(
                "weight `{}`: bytes {offset}..{end} are past the end of {location} ({} bytes)",
                t.name,
                bytes.len()
            )
        })?;
        t.raw_data = data.to_vec();
        t.data_location = 0;
        t.external_data.clear();
    }
    Ok(())
}

fn declared_dims(input: &onnx::ValueInfoProto) -> Vec<Option<usize>> {
    let Some(type_proto::Value::TensorType(t)) =
        input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Vec::new();
    };
    let Some(shape) = &t.shape else {
        return Vec::new();
    };
    shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(Dim::DimValue(v)) => usize::try_from(*v).ok(),
            _ => None,
        })
        .collect()
}

fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Up to five names closest to `wanted`: those containing it (or contained in it) first,
/// then by edit distance.
fn close_matches(wanted: &str, names: &[String]) -> Vec<String> {
    let lower = wanted.to_lowercase();
    let mut scored: Vec<(usize, &String)> = names
        .iter()
        .map(|n| {
            let l = n.to_lowercase();
            let contains = l.contains(&lower) || lower.contains(&l);
            (
                if contains {
                    0
                } else {
                    1 + edit_distance(&l, &lower)
                },
                n,
            )
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, n)| n.clone()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_matches_prefer_names_containing_the_wanted_one() {
        let names: Vec<String> = ["/layer1/Relu_output_0", "/layer2/Relu_output_0", "logits"]
            .map(String::from)
            .into();
        assert_eq!(close_matches("layer2", &names)[0], "/layer2/Relu_output_0");
        assert_eq!(close_matches("logit", &names)[0], "logits");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
