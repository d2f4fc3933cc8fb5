//! One ONNX node on candle tensors: our fast CPU ops where a model spends its time (Conv,
//! BatchNormalization, Relu, MaxPool, Gemm), the operators candle-onnx lacks
//! (GlobalAveragePool, LayerNormalization, Mod), and candle-onnx's evaluator for everything
//! else.

use std::collections::HashMap;

use candle_core::{DType, Result, Tensor};
use candle_onnx::onnx::{self, AttributeProto, NodeProto};

/// The operators candle-onnx 0.11 evaluates (its `simple_eval`), checked before any work.
const CANDLE_ONNX_OPS: &[&str] = &[
    "Abs",
    "Add",
    "And",
    "ArgMax",
    "ArgMin",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Ceil",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "Cos",
    "CumSum",
    "Div",
    "Dropout",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Floor",
    "Gather",
    "GatherElements",
    "Gelu",
    "Gemm",
    "Greater",
    "GreaterOrEqual",
    "HardSwish",
    "Identity",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "LogSoftmax",
    "MatMul",
    "MaxPool",
    "Min",
    "Mul",
    "Neg",
    "Not",
    "OneHot",
    "Or",
    "PRelu",
    "Pad",
    "Pow",
    "Range",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Resize",
    "ScatterND",
    "Selu",
    "Shape",
    "Sigmoid",
    "Sign",
    "Sin",
    "Size",
    "Slice",
    "Softmax",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Tile",
    "Transpose",
    "Trilu",
    "Unsqueeze",
    "Where",
    "Xor",
];

/// The operators this crate adds to candle-onnx's.
const OUR_OPS: &[&str] = &["GlobalAveragePool", "LayerNormalization", "Mod"];

/// Operators candle-onnx has but evaluates with an older opset's meaning, run by us instead:
/// ReduceMean takes its axes as an input from opset 18 on (candle-onnx reads only the
/// attribute, and would average over every axis); Shape has `start` and `end` from opset 15.
const OURS_INSTEAD: &[&str] = &["ReduceMean", "Shape"];

/// Whether a node of this operator can run.
pub(crate) fn supported(op: &str) -> bool {
    OUR_OPS.contains(&op) || OURS_INSTEAD.contains(&op) || CANDLE_ONNX_OPS.contains(&op)
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_int(node: &NodeProto, name: &str) -> Option<i64> {
    attr(node, name).map(|a| a.i)
}

fn attr_float(node: &NodeProto, name: &str) -> Option<f32> {
    attr(node, name).map(|a| a.f)
}

fn attr_ints<'a>(node: &'a NodeProto, name: &str) -> Option<&'a [i64]> {
    attr(node, name).map(|a| a.ints.as_slice())
}

fn attr_str<'a>(node: &'a NodeProto, name: &str) -> Option<&'a [u8]> {
    attr(node, name).map(|a| a.s.as_slice())
}

/// One value for a square, symmetric setting (`[k, k]`, `[p, p, p, p]`), else `None`.
fn uniform(values: Option<&[i64]>, default: i64) -> Option<usize> {
    match values {
        None => usize::try_from(default).ok(),
        Some(v) if !v.is_empty() && v.iter().all(|&x| x == v[0]) => usize::try_from(v[0]).ok(),
        Some(_) => None,
    }
}

/// Runs `node` on `inputs` (in the node's input order; `None` for an omitted optional
/// input) and returns its outputs in order.
pub(crate) fn eval(node: &NodeProto, inputs: &[Option<Tensor>]) -> Result<Vec<Tensor>> {
    let input = |i: usize| -> Result<&Tensor> {
        inputs.get(i).and_then(Option::as_ref).ok_or_else(|| {
            candle_core::Error::Msg(format!("input {i} of {} is missing", node.op_type))
        })
    };
    let fast =
        |x: &Tensor| matches!(x.device(), candle_core::Device::Cpu) && x.dtype() == DType::F32;
    match node.op_type.as_str() {
        "GlobalAveragePool" => {
            let x = input(0)?;
            let mut y = x.clone();
            for axis in (2..x.rank()).rev() {
                y = y.mean_keepdim(axis)?;
            }
            return Ok(vec![y]);
        }
        "LayerNormalization" => return layer_norm(node, inputs).map(|y| vec![y]),
        "ReduceMean" => return reduce_mean(node, inputs).map(|y| vec![y]),
        "Shape" => {
            let dims = input(0)?.dims();
            let rank = dims.len() as i64;
            // Negative counts from the end; both ends are clamped to [0, rank].
            let at = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
            let start = at(attr_int(node, "start").unwrap_or(0));
            let end = at(attr_int(node, "end").unwrap_or(rank)).max(start);
            let values: Vec<i64> = dims[start..end].iter().map(|&d| d as i64).collect();
            let len = values.len();
            return Ok(vec![Tensor::from_vec(values, len, input(0)?.device())?]);
        }
        "Mod" => {
            // Exporters emit it on shapes (torchvision's attention does): small integers,
            // exact in f64. fmod = 0 takes the divisor's sign (Python's %), 1 the dividend's.
            let (a, b) = (input(0)?, input(1)?);
            let dtype = a.dtype();
            let (a64, b64) = (a.to_dtype(DType::F64)?, b.to_dtype(DType::F64)?);
            let q = a64.broadcast_div(&b64)?;
            let q = if attr_int(node, "fmod").unwrap_or(0) == 1 {
                // Truncation toward zero: floor for positive quotients, ceil for negative.
                q.ge(0.0)?.where_cond(&q.floor()?, &q.ceil()?)?
            } else {
                q.floor()?
            };
            let y = a64.broadcast_sub(&q.broadcast_mul(&b64)?)?;
            return Ok(vec![y.to_dtype(dtype)?]);
        }
        "Conv" if fast(input(0)?) && input(0)?.rank() == 4 => {
            let square = attr_ints(node, "kernel_shape").is_none_or(|k| k.len() == 2);
            let stride = uniform(attr_ints(node, "strides"), 1);
            let padding = uniform(attr_ints(node, "pads"), 0);
            let plain = attr_int(node, "group").unwrap_or(1) == 1
                && uniform(attr_ints(node, "dilations"), 1) == Some(1)
                && attr_str(node, "auto_pad").is_none_or(|p| p == b"NOTSET" || p.is_empty());
            if let (true, true, Some(stride), Some(padding)) = (square, plain, stride, padding) {
                let b = inputs.get(2).and_then(Option::as_ref);
                let y = crate::ops::conv2d(input(0)?, input(1)?, b, stride, padding)?;
                return Ok(vec![y]);
            }
        }
        "BatchNormalization" if fast(input(0)?) && attr_int(node, "training_mode") != Some(1) => {
            let eps = f64::from(attr_float(node, "epsilon").unwrap_or(1e-5));
            let (gamma, beta, mean, var) = (input(1)?, input(2)?, input(3)?, input(4)?);
            let scale = gamma.div(&(var + eps)?.sqrt()?)?;
            let shift = beta.sub(&mean.mul(&scale)?)?;
            let y = crate::ops::channel_affine(input(0)?, &scale, &shift, None, false)?;
            return Ok(vec![y]);
        }
        "Relu" if fast(input(0)?) => return Ok(vec![crate::ops::relu(input(0)?)?]),
        "MaxPool" if fast(input(0)?) && input(0)?.rank() == 4 && node.output.len() == 1 => {
            let kernel = uniform(attr_ints(node, "kernel_shape"), 1);
            let stride = uniform(attr_ints(node, "strides"), 1);
            let padding = uniform(attr_ints(node, "pads"), 0);
            let plain = attr_int(node, "ceil_mode").unwrap_or(0) == 0
                && uniform(attr_ints(node, "dilations"), 1) == Some(1)
                && attr_str(node, "auto_pad").is_none_or(|p| p == b"NOTSET" || p.is_empty());
            if let (true, Some(k), Some(s), Some(p)) = (plain, kernel, stride, padding) {
                if p <= k / 2 {
                    return Ok(vec![crate::ops::max_pool2d(input(0)?, k, s, p)?]);
                }
            }
        }
        "Gemm" if fast(input(0)?) && input(0)?.rank() == 2 => {
            let plain = attr_int(node, "transA").unwrap_or(0) == 0
                && attr_int(node, "transB").unwrap_or(0) == 1
                && attr_float(node, "alpha").unwrap_or(1.0) == 1.0
                && attr_float(node, "beta").unwrap_or(1.0) == 1.0;
            let b = inputs.get(2).and_then(Option::as_ref);
            if plain && b.is_none_or(|b| b.rank() == 1) {
                return Ok(vec![crate::ops::linear(input(0)?, input(1)?, b)?]);
            }
        }
        _ => {}
    }
    candle_onnx_eval(node, inputs)
}

/// The node alone through candle-onnx: a one-node graph whose outputs are the node's.
fn candle_onnx_eval(node: &NodeProto, inputs: &[Option<Tensor>]) -> Result<Vec<Tensor>> {
    let values: HashMap<String, Tensor> = node
        .input
        .iter()
        .zip(inputs)
        .filter_map(|(name, t)| Some((name.clone(), t.clone()?)))
        .collect();
    let graph = onnx::GraphProto {
        node: vec![node.clone()],
        output: node
            .output
            .iter()
            .map(|name| onnx::ValueInfoProto {
                name: name.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let model = onnx::ModelProto {
        graph: Some(graph),
        ..Default::default()
    };
    let mut outputs = candle_onnx::simple_eval(&model, values)?;
    node.output
        .iter()
        .map(|name| {
            outputs.remove(name).ok_or_else(|| {
                candle_core::Error::Msg(format!("{} did not produce {name}", node.op_type))
            })
        })
        .collect()
}

/// `ReduceMean`, opset 13 (axes attribute) and 18 (axes input) alike.
fn reduce_mean(node: &NodeProto, inputs: &[Option<Tensor>]) -> Result<Tensor> {
    let x = inputs[0]
        .as_ref()
        .ok_or_else(|| candle_core::Error::Msg("ReduceMean needs data".into()))?;
    let rank = x.rank() as i64;
    let axes: Option<Vec<i64>> = match inputs.get(1).and_then(Option::as_ref) {
        Some(t) => Some(t.to_dtype(DType::I64)?.flatten_all()?.to_vec1::<i64>()?),
        None => attr_ints(node, "axes").map(<[i64]>::to_vec),
    };
    let axes = match axes {
        Some(a) if !a.is_empty() => a,
        _ if attr_int(node, "noop_with_empty_axes") == Some(1) => return Ok(x.clone()),
        _ => (0..rank).collect(),
    };
    let mut axes: Vec<usize> = axes
        .iter()
        .map(|&a| usize::try_from(if a < 0 { a + rank } else { a }))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| candle_core::Error::Msg(format!("ReduceMean axes {axes:?} out of range")))?;
    axes.sort_unstable();
    axes.dedup();
    let keep = attr_int(node, "keepdims").unwrap_or(1) == 1;
    let mut y = x.clone();
    for &axis in axes.iter().rev() {
        y = if keep {
            y.mean_keepdim(axis)?
        } else {
            y.mean(axis)?
        };
    }
    Ok(y)
}

/// `LayerNormalization` (opset 17): normalised over the axes from `axis` on, then scaled
/// and shifted; only the first output (Y).
fn layer_norm(node: &NodeProto, inputs: &[Option<Tensor>]) -> Result<Tensor> {
    let x = inputs[0]
        .as_ref()
        .ok_or_else(|| candle_core::Error::Msg("no X".into()))?;
    let scale = inputs
        .get(1)
        .and_then(Option::as_ref)
        .ok_or_else(|| candle_core::Error::Msg("LayerNormalization needs Scale".into()))?;
    let rank = x.rank() as i64;
    let axis = attr_int(node, "axis").unwrap_or(-1);
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&axis) {
        candle_core::bail!("LayerNormalization axis {axis} out of range for rank {rank}");
    }
    let eps = f64::from(attr_float(node, "epsilon").unwrap_or(1e-5));
    let dims = x.dims().to_vec();
    let (outer, inner): (usize, usize) = (
        dims[..axis as usize].iter().product(),
        dims[axis as usize..].iter().product(),
    );
    let flat = x.to_dtype(DType::F32)?.reshape((outer, inner))?;
    let mean = flat.mean_keepdim(1)?;
    let centred = flat.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(1)?;
    let normed = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
    let scale = scale.to_dtype(DType::F32)?.flatten_all()?;
    let mut y = normed.broadcast_mul(&scale)?;
    if let Some(bias) = inputs.get(2).and_then(Option::as_ref) {
        y = y.broadcast_add(&bias.to_dtype(DType::F32)?.flatten_all()?)?;
    }
    y.reshape(dims)?.to_dtype(x.dtype())
}
