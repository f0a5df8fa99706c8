import pytest

from trainlab.core.errors import RecipeError
from trainlab.core.registry import Registry


def test_register_get_and_params_model():
    reg = Registry("widget")

    @reg.register("box")
    def box(spec, *, size: int = 3, colour: str = "red"):
        """A box."""
        return size, colour

    e = reg.get("box")
    assert e.summary == "A box." and e.validate({"size": "4"}, "w") == {"size": 4, "colour": "red"}
    with pytest.raises(RecipeError, match="Did you mean 'size'"):
        e.validate({"sise": 4}, "w")
    with pytest.raises(RecipeError, match="Did you mean 'box'"):
        reg.get("bx")


def test_a_users_entry_replaces_a_users_never_trainlabs():
    from trainlab.models import MODELS

    reg = Registry("widget")

    def made_in(module: str):
        def box(spec, *, size: int = 3):
            return module
        box.__module__ = module
        return box

    reg.register("box")(made_in("mine_v1"))
    reg.register("box")(made_in("mine_v2"))  # a notebook cell run again, an edited plugin file
    assert reg.get("box").build(None) == "mine_v2" and not reg.get("box").builtin
    reg.activate("mine_v1")  # a recipe whose plugin is the first version
    assert reg.get("box").build(None) == "mine_v1"
    reg.forget("mine_v1")
    assert "box" not in reg
    with pytest.raises(RecipeError, match="'mlp' is built into trainlab; register yours under another name"):
        MODELS.register("mlp")(made_in("mine_v1"))
    assert MODELS.get("mlp").builtin
