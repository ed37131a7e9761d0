"""The checker where custom gradients really run: tf.function and XLA, MirroredStrategy, mixed precision,
IndexedSlices gradients, integer inputs, nested inputs.

In each: under ``checking(mode="fast")`` and with ``check_gradients``, a right custom gradient passes and
one twice too large is caught (GradientCheckError). MirroredStrategy needs several logical CPU devices,
which must be configured before TensorFlow initialises its devices: those tests run in a subprocess.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from fixtures.runtime.environments import Embedding, Swish, TanhDense, nested, normal, power, softplus
from tapelint.runtime import GradientCheckError, check_gradients, checking, report

ROOT = Path(__file__).resolve().parents[2]
WRAPS = ["eager", "tf_function", "jit_compile"]


def wrapped(fn, wrap):
    """``fn`` called eagerly, in a tf.function, or in an XLA-compiled tf.function."""
    if wrap == "eager":
        return fn
    return tf.function(fn, jit_compile=wrap == "jit_compile")


def train_step(fn, *args):
    """A forward and backward pass under a tape: gradients for the float inputs and the variables read."""
    floats = [x for x in tf.nest.flatten(args) if isinstance(x, tf.Tensor) and x.dtype.is_floating]
    with tf.GradientTape() as tape:
        tape.watch(floats)
        y = fn(*args)
    return tape.gradient(y, floats + list(tape.watched_variables()))


def verdict(name):
    return next(r.verdict for r in report.records() if r.function.endswith(name))


def first_line(error):
    return str(error.value).splitlines()[0]


# --- tf.function, jit_compile=True -----------------------------------------------------------------


@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_compiled_train_step_that_updates_variables(jit_compile):
    def make(factor):
        layer = TanhDense(4, 3, factor)

        @tf.function(jit_compile=jit_compile)
        def step(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x) ** 2)
            variables = [layer.w, layer.b]
            for v, g in zip(variables, tape.gradient(loss, variables)):
                v.assign_sub(0.1 * g)
            return loss

        return layer, step

    x = normal(0, (5, 4))
    with checking("fast"):
        layer, step = make(1.0)
        before = layer.w.numpy()
        step(x)
        step(x)
        assert verdict("TanhDense.__call__") == "ok"
        assert not np.array_equal(before, layer.w.numpy())  # the step ran, the check left it alone
        with pytest.raises(GradientCheckError) as info:
            make(2.0)[1](x)
    assert "wrong gradient for variable `w:0`" in first_line(info)
    assert "synthetic inputs" in str(info.value)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_check_gradients_of_a_compiled_function_with_variables(jit_compile):
    x = normal(0, (5, 4))
    report_ = check_gradients(tf.function(TanhDense(4, 3), jit_compile=jit_compile), x)
    assert report_.reference_dtype == "float64" and {s.name for s in report_.sources} == {"x", "w:0", "b:0"}
    with pytest.raises(GradientCheckError, match="wrong gradient for variable `w:0`"):
        check_gradients(tf.function(TanhDense(4, 3, factor=2.0), jit_compile=jit_compile), x)
    with pytest.raises(GradientCheckError, match="wrong gradient for argument `x`"):
        check_gradients(tf.function(softplus(2.0), jit_compile=jit_compile), x)


# --- IndexedSlices: tf.gather on a variable --------------------------------------------------------


@pytest.mark.parametrize("dense_shape", [True, False], ids=["dense_shape", "no_dense_shape"])
@pytest.mark.parametrize("wrap", WRAPS)
def test_indexed_slices_gradient_of_a_variable_under_checking(wrap, dense_shape):
    scale = tf.constant(1.5)

    def step(emb, optimizer):
        def run(scale):
            ids = tf.constant([1, 4, 4, 7])  # known when traced (an integer argument would not be: skipped)
            with tf.GradientTape() as tape:
                tape.watch(scale)
                loss = tf.reduce_sum(tf.sin(emb(ids, scale)))
            g_scale, g_table = tape.gradient(loss, [scale, emb.table])
            optimizer.apply_gradients([(g_table, emb.table)])
            return g_scale, g_table

        return wrapped(run, wrap)(scale)

    with checking("fast"):
        emb = Embedding(10, 3, dense_shape=dense_shape)
        before = emb.table.numpy()
        _, g_table = step(emb, keras.optimizers.SGD(0.1))
        assert verdict("Embedding.__call__") == "ok"
        changed = np.flatnonzero((before != emb.table.numpy()).any(axis=1))
        assert changed.tolist() == [1, 4, 7]  # a sparse update: the rows looked up, nothing else
        with pytest.raises(GradientCheckError) as info:
            step(Embedding(10, 3, factor=2.0, dense_shape=dense_shape), keras.optimizers.SGD(0.1))
    assert "wrong gradient for variable `table:0`" in first_line(info)


@pytest.mark.parametrize("dense_shape", [True, False], ids=["dense_shape", "no_dense_shape"])
def test_indexed_slices_gradient_of_a_variable_with_check_gradients(dense_shape):
    ids, scale = tf.constant([1, 4, 4, 7]), tf.constant(1.5)
    rep = check_gradients(Embedding(10, 3, dense_shape=dense_shape), ids, scale)
    assert [s.name for s in rep.sources] == ["scale", "table:0"] and rep.reference_dtype == "float64"
    with pytest.raises(GradientCheckError, match="wrong gradient for variable `table:0`"):
        check_gradients(Embedding(10, 3, factor=2.0, dense_shape=dense_shape), ids, scale)


def test_tf_gather_on_a_variable_without_a_custom_gradient():
    table = tf.Variable(normal(0, (10, 3)), name="table")
    ids = tf.constant([[0, 3], [3, 9]])
    rep = check_gradients(lambda i: tf.sin(tf.gather(table, i)), ids)
    assert [s.name for s in rep.sources] == ["table:0"] and rep.max_rel_error < 1e-6


# --- integer inputs: None gradients ----------------------------------------------------------------


@pytest.mark.parametrize("wrap", WRAPS)
def test_integer_input_with_a_none_gradient_under_checking(wrap):
    x = normal(0, (6,))
    with checking("fast"):
        # The integer is made inside: known when traced (an integer argument would not be: skipped).
        g = train_step(wrapped(lambda x: power()(x, tf.constant(3)), wrap), x)
        np.testing.assert_allclose(g[0].numpy(), 3 * x.numpy() ** 2, rtol=1e-5)
        assert verdict("power") == "ok"
        with pytest.raises(GradientCheckError, match="wrong gradient for argument `x`"):
            train_step(wrapped(lambda x: power(2.0)(x, tf.constant(3)), wrap), x)


def test_integer_input_with_a_none_gradient_with_check_gradients():
    x, n = normal(0, (6,)), tf.constant(3)
    rep = check_gradients(power(), x, n)
    assert [s.name for s in rep.sources] == ["x"]
    with pytest.raises(GradientCheckError, match="wrong gradient for argument `x`"):
        check_gradients(power(2.0), x, n)


# --- nested-structure inputs -----------------------------------------------------------------------


def nested_inputs():
    return {"a": normal(0, (4,)), "pair": (normal(1, (4,)), normal(2, (4,)))}


@pytest.mark.parametrize("wrap", WRAPS)
def test_nested_inputs_under_checking(wrap):
    inputs = nested_inputs()
    with checking("fast"):
        train_step(wrapped(lambda d: nested()(d), wrap), inputs)
        assert verdict("nested") == "ok"
        with pytest.raises(GradientCheckError) as info:
            train_step(wrapped(lambda d: nested(2.0)(d), wrap), inputs)
    assert "wrong gradient for argument `inputs['pair'][1]`" in first_line(info)


def test_nested_inputs_with_check_gradients():
    inputs = nested_inputs()
    rep = check_gradients(nested(), inputs)
    assert [s.name for s in rep.sources] == ["inputs['a']", "inputs['pair'][0]", "inputs['pair'][1]"]
    with pytest.raises(GradientCheckError, match=r"wrong gradient for argument `inputs\['pair'\]\[1\]`"):
        check_gradients(nested(2.0), inputs)


# --- mixed precision -------------------------------------------------------------------------------


@pytest.fixture
def mixed_float16():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def test_mixed_precision_layer_under_checking(mixed_float16):
    x = tf.cast(normal(0, (4, 5)), tf.float16)
    with checking("fast"):
        layer = Swish()
        g_x, g_beta = train_step(layer, x)
        assert (g_x.dtype, g_beta.dtype) == (tf.float16, tf.float32)  # float32 weight, float16 compute
        assert verdict("Swish.swish") == "ok"
        with pytest.raises(GradientCheckError) as info:
            train_step(Swish(factor=2.0), x)
    # Keras puts its own line first ("Exception encountered when calling Swish.call()"), same exception class.
    assert "wrong gradient for argument `x` (shape [4, 5], float16)" in str(info.value)


def test_mixed_precision_layer_with_check_gradients(mixed_float16):
    x = tf.cast(normal(0, (4, 5)), tf.float16)
    layer = Swish()
    layer(x)
    rep = check_gradients(layer, x)
    # The layer casts its inputs to float16 whatever they are: finite differences in float16.
    assert rep.reference_dtype == "float16"
    assert [(s.name, s.dtype) for s in rep.sources] == [("x", "float16"), ("swish/beta:0", "float32")] or (
        [s.dtype for s in rep.sources] == ["float16", "float32"])
    wrong = Swish(factor=2.0)
    wrong(x)
    with pytest.raises(GradientCheckError, match=r"wrong gradient for argument `x` \(shape \[4, 5\], float16\)"):
        check_gradients(wrong, x)


def test_mixed_precision_model_fit_under_checking(mixed_float16):
    x = np.random.default_rng(0).normal(size=(16, 5)).astype("float32")
    y = np.random.default_rng(1).normal(size=(16, 1)).astype("float32")

    def fit(factor):
        model = keras.Sequential([keras.Input((5,)), Swish(factor=factor), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        return model.fit(x, y, epochs=2, batch_size=8, verbose=0)

    with checking("fast"):
        history = fit(1.0)
        assert all(np.isfinite(history.history["loss"]))
        assert verdict("Swish.swish") == "ok"
        with pytest.raises(GradientCheckError, match="wrong gradient for argument `x`"):
            fit(2.0)


# --- MirroredStrategy, several logical CPU devices (in a subprocess) -------------------------------

MIRRORED = r'''
import contextlib, json
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras
from fixtures.runtime.environments import TanhDense, normal, softplus
from tapelint.runtime import GradientError, _engine, _hook, check_gradients, checking, report

checks = []  # the reports of the checks run under checking()
real_check = _engine.check
_engine.check = lambda *a, **k: checks.append(real_check(*a, **k)) or checks[-1]

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
x = normal(0, (8, 4))
results = {"replicas": strategy.num_replicas_in_sync}


def train(layer_factor, act_factor, wrap, check):
    with strategy.scope():
        layer = TanhDense(4, 3, layer_factor)
        optimizer = keras.optimizers.SGD(0.1)
    act = softplus(act_factor)
    variables = [layer.w, layer.b]

    def step(batch):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(act(layer(batch)))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    run = lambda batch: strategy.run(step, args=(batch,))
    if wrap:
        run = tf.function(run)
    data = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices(x).batch(8))
    checks.clear(), report.clear(), _hook.reset_cache()
    with checking("fast") if check else contextlib.nullcontext():
        for batch in data:
            run(batch)
    return [c.numpy().tolist() for v in variables for c in v.values]


def outcome(call):
    try:
        call()
        return "passed"
    except GradientError as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


for wrap in (False, True):
    key = "tf_function" if wrap else "eager"
    plain = train(1.0, 1.0, wrap, check=False)
    checked = train(1.0, 1.0, wrap, check=True)
    results[key] = {
        "same_weights": plain == checked,
        "replicas_agree": checked[0] == checked[1] and checked[2] == checked[3],
        "verdicts": sorted((r.function, r.verdict) for r in report.records()),
        "devices": sorted({r.device for r in checks}),
        "references": sorted({r.reference_dtype for r in checks}),
        "wrong_variable": outcome(lambda: train(2.0, 1.0, wrap, check=True)),
        "wrong_input": outcome(lambda: train(1.0, 2.0, wrap, check=True)),
    }

with strategy.scope():
    right, wrong = TanhDense(4, 3), TanhDense(4, 3, factor=2.0)
rep = check_gradients(right, x)
results["check_gradients"] = {
    "device": rep.device, "reference": rep.reference_dtype, "sources": [s.name for s in rep.sources],
    "wrong": outcome(lambda: check_gradients(wrong, x)),
    "unchanged": [v.numpy().tolist() for v in right.w.values] == [right.w.values[0].numpy().tolist()] * 2,
}
print("RESULTS " + json.dumps(results))
'''


@pytest.fixture(scope="module")
def mirrored():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", MIRRORED], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULTS ")), None)
    assert done.returncode == 0 and line, done.stdout + done.stderr
    return json.loads(line[len("RESULTS "):])


@pytest.mark.parametrize("wrap", ["eager", "tf_function"])
def test_mirrored_strategy_train_step_under_checking(mirrored, wrap):
    assert mirrored["replicas"] == 2
    got = mirrored[wrap]
    assert got["verdicts"] == [["TanhDense.__call__", "ok"], ["softplus.<locals>.softplus", "ok"]]
    assert got["devices"] and all(d.startswith("CPU:") for d in got["devices"])
    assert got["references"] == ["float64"]  # mirrored variables are upcast replica by replica
    assert got["same_weights"] and got["replicas_agree"]  # the check leaves training exactly as it was
    assert got["wrong_variable"].startswith("GradientCheckError: TanhDense.__call__")
    assert "wrong gradient for variable `w:0`" in got["wrong_variable"]
    assert got["wrong_input"].startswith("GradientCheckError: softplus.<locals>.softplus")
    assert "wrong gradient for argument `x`" in got["wrong_input"]


def test_mirrored_strategy_check_gradients(mirrored):
    got = mirrored["check_gradients"]
    assert got["device"].startswith("CPU:") and got["reference"] == "float64"
    assert sorted(got["sources"]) == ["b:0", "w:0", "x"]
    assert got["unchanged"]
    assert got["wrong"].startswith("GradientCheckError") and "variable `w:0`" in got["wrong"]
