"""Every registered model: builds from a DataSpec, forward shape, backward with finite
gradients, state_dict round trip through safetensors."""
import pytest
import torch
from safetensors.torch import load, save

from trainlab.core.spec import DataSpec
from trainlab.models import MODELS, build_model

SPECS = {
    "image": DataSpec("image", (1, 28, 28), "class", 10, tuple(str(i) for i in range(10))),
    "cifar": DataSpec("image", (3, 32, 32), "class", 10, tuple(str(i) for i in range(10))),
    "table": DataSpec("table", (13,), "class", 3, ("a", "b", "c")),
    "text": DataSpec("text", (12,), "class", 2, ("neg", "pos"), vocab_size=50),
    "sequence": DataSpec("sequence", (6,), "sequence", 13, tuple("_^$0123456789"), vocab_size=13, num_targets=7),
    "points": DataSpec("points", (2,), "class", 2, ("a", "b")),
    "series": DataSpec("series", (20, 3), "class", 4, ("a", "b", "c", "d"), ("ax", "ay", "az")),
    "wordpieces": DataSpec("text", (12,), "class", 2, ("neg", "pos"), vocab_size=30522),  # MiniLM's tokenizer
}
# the inputs each model family takes; every registered model must appear here
TAKES = {"mlp": ("image", "table", "series"), "perceptron": ("image", "table"), "convnet": ("image", "cifar", "series"),
         "tp2_model1": ("cifar",), "tp2_model2": ("cifar",), "tp2_model3": ("cifar",), "resnet": ("image", "cifar"),
         "vit": ("image",), "rnn": ("text", "series"), "transformer": ("text", "series"), "seq2seq_transformer": ("sequence",),
         "autoencoder": ("image", "table"), "vae": ("image", "table"), "gan": ("image", "table"), "flow": ("points", "table"),
         "unet": ("image", "cifar"), "minilm": ("wordpieces",)}
CASES = [(name, kind) for name in MODELS.names() for kind in TAKES.get(name, SPECS)]


def test_every_model_says_what_it_takes():
    assert set(TAKES) == {n for n in MODELS.names() if MODELS.get(n).builtin}  # plugins of other tests aside


@pytest.mark.parametrize("name,kind", CASES)
def test_model_contract(name, kind):
    spec = SPECS[kind]
    torch.manual_seed(0)
    model = build_model(name, spec, spec.num_classes)
    if kind in ("text", "sequence", "wordpieces"):  # token ids, with padding (0) at the end of the shorter sequences
        x = torch.randint(1, spec.vocab_size, (4, *spec.input_shape))
        x[1, 5:], x[2, 1:] = 0, 0
    else:
        x = torch.randn(4, *spec.input_shape)
    if name == "gan":  # forward generates from noise; the discriminator scores what it made
        x = torch.randn(4, model.noise)
    out = model(x)
    expected = {"autoencoder": x.shape, "gan": (4, *spec.input_shape), "flow": (4,),
                "unet": (4, spec.num_classes, *spec.input_shape[1:]),
                "seq2seq_transformer": (4, spec.num_targets, spec.vocab_size)}.get(name, (4, spec.num_classes))
    if name == "vae":  # (reconstruction, μ, log σ²)
        assert out[0].shape == x.shape and out[1].shape == out[2].shape == (4, model.latent)
        out = torch.cat([o.flatten(1) for o in out], 1)
    else:
        assert out.shape == expected
    if name == "gan":
        out = model.discriminator(out)
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    blob = save({k: v.contiguous() for k, v in model.state_dict().items()})
    other = build_model(name, spec, spec.num_classes)
    other.load_state_dict(load(blob))
    model.eval(), other.eval()
    a, b = model(x), other(x)
    assert all(torch.equal(u, v) for u, v in zip(a, b)) if isinstance(a, tuple) else torch.equal(a, b)


def test_tp1_mlp_has_the_course_parameter_count():
    model = build_model("mlp", SPECS["image"], 10, hidden=[64, 32])
    assert sum(p.numel() for p in model.parameters()) == 52_650


@pytest.mark.parametrize("activation", ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "swish", "gelu",
                                        "softplus", "softmax"])
def test_every_activation_trains(activation):
    model = build_model("mlp", SPECS["table"], 3, hidden=[8], activation=activation)
    model(torch.randn(5, 13)).sum().backward()
    assert torch.isfinite(model.net[1].weight.grad).all()


@pytest.mark.parametrize("init,expected_var", [("xavier", 2 / (784 + 64)), ("he", 2 / 784)])
def test_init_variances(init, expected_var):
    torch.manual_seed(0)
    model = build_model("mlp", SPECS["image"], 10, hidden=[64], init=init)
    w = model.net[1].weight
    assert abs(w.var().item() / expected_var - 1) < 0.05 and model.net[1].bias.abs().sum() == 0


def test_perceptron_decides_with_heaviside():
    model = build_model("perceptron", SPECS["table"], 1)
    with torch.no_grad():
        model.linear.weight.fill_(1.0)
        model.linear.bias.fill_(0.0)
    x = torch.tensor([[1.0] * 13, [-1.0] * 13])
    assert model.decide(x).flatten().tolist() == [1.0, 0.0]


def test_heaviside_hidden_layers_are_refused():
    from trainlab.core.errors import RecipeError

    with pytest.raises(RecipeError, match="no gradient"):
        build_model("mlp", SPECS["table"], 3, hidden=[4], activation="heaviside")


@pytest.mark.parametrize("name,params,count", [("tp2_model1", {}, 3_426_250), ("tp2_model2", {}, 62_006),
                                               ("tp2_model3", {}, 5_852_170)])
def test_tp2_models_have_the_course_sizes(name, params, count):
    model = build_model(name, SPECS["cifar"], 10, **params)
    assert sum(p.numel() for p in model.parameters()) == count


def test_tp2_models_refuse_other_inputs():
    from trainlab.core.errors import RecipeError

    with pytest.raises(RecipeError, match="data.size = 32"):
        build_model("tp2_model2", SPECS["image"], 10)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_recurrent_cells_ignore_padding(cell):
    torch.manual_seed(0)
    model = build_model("rnn", SPECS["text"], 2, cell=cell, bidirectional=True).eval()
    ids = torch.tensor([[5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    longer = torch.tensor([[5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    assert torch.allclose(model(ids), model(longer), atol=1e-6)  # packed sequences: padding changes nothing


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_nets_unpacked_equal_packed(cell, layers, bidirectional):
    """The form ONNX export traces (no packed sequences) is the same function, one-way or both ways."""
    torch.manual_seed(0)
    model = build_model("rnn", SPECS["text"], 2, cell=cell, layers=layers, bidirectional=bidirectional).eval()
    ids = torch.randint(1, 50, (4, 12))
    ids[1, 5:], ids[2, 1:] = 0, 0
    torch.testing.assert_close(model._unpacked(ids), model(ids), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_recurrent_net_reads_a_series_in_order_and_its_ends_both_ways(bidirectional):
    """Over a series, the output is the last step's state (and the first step's, backwards): the same as
    the RNN's own final hidden state, and it changes when the steps are reordered."""
    torch.manual_seed(0)
    model = build_model("rnn", SPECS["series"], 4, cell="lstm", bidirectional=bidirectional).eval()
    x = torch.randn(5, 20, 3)
    _, (h, _) = model.rnn(x)
    last = torch.cat([h[-2], h[-1]], 1) if bidirectional else h[-1]
    torch.testing.assert_close(model(x), model.head(last))
    assert not torch.allclose(model(x), model(x.flip(1)), atol=1e-3)


@pytest.mark.parametrize("name", [n for n in MODELS.names() if MODELS.get(n).builtin])
def test_every_size_a_model_takes_refuses_zero_with_the_recipe(name):
    """Units, layers, heads, channels: a zero is a recipe error naming the key, before any data is read."""
    from trainlab.core.errors import RecipeError

    def one_or_more(constraints) -> bool:  # pydantic's Ge(1), or a Field(ge=1) holding it
        return any(getattr(c, "ge", None) == 1 or one_or_more(getattr(c, "metadata", ())) for c in constraints)

    entry, checked = MODELS.get(name), []
    for key, field in entry.params.model_fields.items():
        listed = any(one_or_more(getattr(a, "__metadata__", ())) for a in getattr(field.annotation, "__args__", ()))
        if one_or_more(field.metadata) or listed:
            with pytest.raises(RecipeError, match=f"Bad value for 'model.{key}': received 0"):
                entry.validate({key: [0] if listed else 0}, "model")
            checked.append(key)
    sizes = {"mlp": ["hidden"], "convnet": ["channels", "kernel", "hidden"], "resnet": ["widths", "blocks"],
             "vit": ["patch", "dim", "depth", "heads"], "rnn": ["embed", "hidden", "layers"]}
    assert set(sizes.get(name, ())) <= set(checked)  # the check finds the sizes it should


def test_what_a_models_layers_refuse_is_a_recipe_error_naming_the_settings():
    from trainlab.core.errors import RecipeError

    @MODELS.register("refuses_in_torch")
    def refuses(spec, out_features, *, width: int = 4):
        return torch.nn.MultiheadAttention(width, 3)  # torch: embed_dim must be divisible by num_heads

    with pytest.raises(RecipeError, match=r"model 'refuses_in_torch' cannot be built with width = 4 for inputs of shape "
                                          r"\[13\]: AssertionError: embed_dim must be divisible by num_heads"):
        build_model("refuses_in_torch", SPECS["table"], 3)
