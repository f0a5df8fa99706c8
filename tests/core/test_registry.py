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
