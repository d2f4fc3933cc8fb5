//! What models take from probe-datasets: model settings of environments, batches, devices.

use candle_core::Device;
use probe_datasets::{Dataset, Env, BUILTIN_ENVS};
use probe_models::{batch, device, Error, Model, ModelConfig, Tapped};

use crate::util::assert_message;

#[test]
fn builtin_environments_give_models_that_fit_their_inputs() {
    for name in BUILTIN_ENVS {
        let env = Env::builtin(name).expect("built in");
        let cfg = ModelConfig::for_env(&env, &env.model, 7).expect("model config");
        let (model, _) = Model::fresh(&env.model, &cfg, &Device::Cpu, Some(0)).expect("model");
        let mut shape = vec![2];
        shape.extend(env.input_shape());
        let x = candle_core::Tensor::zeros(shape, candle_core::DType::F32, &Device::Cpu)
            .expect("zeros");
        let (logits, _) = model.forward_with_taps(&x, &[], false).expect("forward");
        assert_eq!(logits.dims(), &[2, 7], "{name}");
    }
    let mnist = Env::builtin("mnist").expect("built in");
    assert_eq!(
        ModelConfig::from_env(&mnist).expect("config"),
        ModelConfig::default()
    );
    let synthetic =
        ModelConfig::for_env(&Env::builtin("synthetic").expect("env"), "mlp", 5).expect("config");
    assert_eq!(synthetic.mlp.input_dim, 32);
    assert_eq!(synthetic.mlp.hidden, [128, 128]);
    let cifar =
        ModelConfig::for_env(&Env::builtin("cifar10").expect("env"), "cnn", 10).expect("config");
    assert_eq!((cifar.cnn.in_channels, cifar.cnn.image_size), (3, 32));
}

#[test]
fn error_bad_model_config_section_names_the_environment_and_field() {
    let mut env = Env::builtin("mnist").expect("built in");
    env.model_config = toml::from_str("[mlp]\nhiden = [64]\n").expect("toml");
    let err = ModelConfig::for_env(&env, "mlp", 10).expect_err("typo");
    assert!(matches!(err, Error::EnvConfig { .. }), "{err:?}");
    assert_message(&err, &["`mnist`", "[model_config]", "hiden"]);
    env.model_config = toml::from_str("[mlp]\nhidden = \"wide\"\n").expect("toml");
    let err = ModelConfig::from_env(&env).expect_err("type");
    assert_message(&err, &["`mnist`", "[model_config]"]);
}

#[test]
fn batch_stacks_rows_in_order() {
    let data = Dataset::new(
        "toy",
        vec![1, 2],
        3,
        (0..8).map(|v| v as f32).collect(),
        vec![0, 1, 2, 1],
    )
    .expect("dataset");
    let (x, y) = batch(&data, &[2, 0], &Device::Cpu).expect("batch");
    assert_eq!(x.dims(), &[2, 1, 2]);
    assert_eq!(
        x.flatten_all()
            .expect("flat")
            .to_vec1::<f32>()
            .expect("values"),
        [4.0, 5.0, 0.0, 1.0]
    );
    assert_eq!(y.to_vec1::<u32>().expect("labels"), [2, 0]);
}

#[test]
fn devices_by_name() {
    assert!(matches!(device("cpu"), Ok(Device::Cpu)));
    let err = device("tpu").expect_err("no tpu");
    assert!(matches!(err, Error::BadDevice { .. }), "{err:?}");
    assert_message(
        &err,
        &["`tpu` is not a device", "cpu, cuda, cuda:N or metal"],
    );
    let err = device("cuda:x").expect_err("bad index");
    assert_message(&err, &["`x` is not a device number"]);
}
