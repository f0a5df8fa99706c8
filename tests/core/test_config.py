import tomllib

import pytest

from trainlab.core.config import apply_overrides, load_recipe, parse_recipe, schema, to_toml
from trainlab.core.errors import RecipeError
from trainlab.procedure import resolve
from tests.conftest import REPO, recipe_dict


def test_unknown_key_names_key_section_and_closest():
    with pytest.raises(RecipeError) as e:
        parse_recipe(recipe_dict(train={"epoch": 3}))
    msg = str(e.value)
    assert "'train.epoch'" in msg and "[train]" in msg and "Did you mean 'epochs'" in msg


def test_wrong_type_names_value_and_expectation():
    with pytest.raises(RecipeError) as e:
        parse_recipe(recipe_dict(train={"batch_size": "big"}))
    assert "'train.batch_size'" in str(e.value) and "'big'" in str(e.value) and "integer" in str(e.value)


def test_a_bad_value_in_an_optional_section_names_its_key_and_a_typo_there_finds_the_sections_own_keys():
    with pytest.raises(RecipeError, match=r"Bad value for 'data\.val_fraction': received -1; input should be greater"):
        parse_recipe(recipe_dict(data={"val_fraction": -1}))  # ([data] may be absent, [env] taking its place)
    with pytest.raises(RecipeError) as e:  # the dataset takes size and channels; the split keys are [data]'s own
        resolve(parse_recipe(recipe_dict(data={"name": "iris", "vall_fraction": 0.2})))
    assert "Did you mean 'val_fraction'?" in str(e.value) and "time_window" in str(e.value)


def test_registry_params_are_checked_with_closest_key():
    with pytest.raises(RecipeError) as e:
        resolve(parse_recipe(recipe_dict(model={"name": "mlp", "hiden": [3]})))
    assert "'model.hiden'" in str(e.value) and "'hidden'" in str(e.value)


@pytest.mark.parametrize("optim,message", [
    ({"lr": -1}, "Bad value for 'optim.lr': received -1; input should be greater than 0"),
    ({"momentum": 1.5}, "Bad value for 'optim.momentum': received 1.5; input should be less than 1"),
    ({"nesterov": True}, "optim: 'sgd' refuses these settings .*nesterov = True.*: Nesterov momentum requires a momentum"),
    ({"name": "adam", "betas": [0.9, 1.0]}, "Bad value for 'optim.betas'"),
])
def test_settings_torch_would_refuse_are_recipe_errors_before_any_data_is_read(optim, message):
    with pytest.raises(RecipeError, match=message):
        resolve(parse_recipe(recipe_dict(optim={"name": "sgd", **optim})))


def test_a_discount_above_one_is_refused_before_the_game_is_played():
    recipe = load_recipe(REPO / "recipes" / "dqn-mouse-dense.toml")
    with pytest.raises(RecipeError, match="Bad value for 'agent.gamma': received 2; input should be less than or equal"):
        resolve(parse_recipe(apply_overrides(recipe.to_dict(), ["agent.gamma=2"])))


def test_unknown_registry_name_lists_choices():
    with pytest.raises(RecipeError) as e:
        resolve(parse_recipe(recipe_dict(optim={"name": "adamm"})))
    assert "Did you mean 'adam'" in str(e.value) and "sgd" in str(e.value)


def test_overrides_parse_toml_values():
    raw = apply_overrides(recipe_dict(), ["optim.lr=0.5", "model.hidden=[8, 4]", "optim.name=sgd", "train.early_stopping.patience=2"])
    r = parse_recipe(raw)
    assert r.optim.params["lr"] == 0.5 and r.model.params["hidden"] == [8, 4] and r.optim.name == "sgd"
    assert r.train.early_stopping.patience == 2


def test_precision_32_may_be_written_as_a_number():
    # --set train.precision=32 parses as the integer 32, and so does precision = 32 in a recipe
    assert parse_recipe(apply_overrides(recipe_dict(), ["train.precision=32"])).train.precision == "32"
    with pytest.raises(RecipeError) as e:
        parse_recipe(apply_overrides(recipe_dict(), ["train.precision=16"]))
    assert "'train.precision'" in str(e.value) and "'bf16'" in str(e.value)


def test_folds_set_the_repeats_and_disagreements_are_errors():
    assert parse_recipe(recipe_dict(eval={"folds": 5})).eval.repeats == 5
    assert parse_recipe(recipe_dict(eval={"folds": 5, "repeats": 5})).eval.repeats == 5
    for bad in ({"folds": 1}, {"folds": 5, "repeats": 3}):
        with pytest.raises(RecipeError, match="it needs at least 2 folds, and runs once per fold"):
            parse_recipe(recipe_dict(eval=bad))


@pytest.mark.parametrize("bad", ["optim.lr", "optimm.lr=1", "seed.x=1"])
def test_bad_overrides(bad):
    with pytest.raises(RecipeError):
        parse_recipe(apply_overrides(recipe_dict(), [bad]))


def test_resolved_recipe_round_trips_through_toml():
    r = resolve(parse_recipe(recipe_dict()))
    again = parse_recipe(tomllib.loads(to_toml(r.to_dict())))
    assert again.to_dict() == r.to_dict()
    assert r.model.params["activation"] == "relu"  # defaults are written out


def test_every_shipped_recipe_is_valid():
    paths = sorted((REPO / "recipes").glob("*.toml"))
    assert len(paths) >= 5
    for p in paths:
        resolve(load_recipe(p))


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\nname=1")
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_recipe(bad)


def test_schema_covers_sections():
    s = schema()
    assert {"data", "model", "train", "eval"} <= set(s["properties"])
