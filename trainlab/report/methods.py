"""The run told as a paper's methods and results paragraphs: every number comes from the resolved
recipe and metrics.json, so the text says exactly what was done, nothing more."""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..core.registry import named
from ..evaluate.baselines import TRIVIAL, compared_on
from ..tasks.base import monitored
from . import fmt, headline_keys, lower_is_better, pvalue

MODELS = {"mlp": "a multilayer perceptron", "perceptron": "a single-layer perceptron",
          "convnet": "a convolutional network", "resnet": "a residual network (ResNet)", "vit": "a Vision Transformer",
          "tp2_model1": "a fully connected network", "tp2_model2": "a LeNet-like convolutional network",
          "tp2_model3": "a six-layer convolutional network", "rnn": "a recurrent network",
          "transformer": "a transformer encoder",
          "minilm": "the pretrained all-MiniLM-L6-v2 encoder with a linear classifier",
          "seq2seq_transformer": "an encoder-decoder transformer", "unet": "a U-Net", "autoencoder": "an autoencoder",
          "vae": "a variational autoencoder", "gan": "a generative adversarial network", "flow": "a normalizing flow"}
OPTIMIZERS = {"sgd": "stochastic gradient descent", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
              "adagrad": "Adagrad"}
LOSSES = {"ce": "the cross-entropy", "bce": "the binary cross-entropy", "perceptron": "the perceptron criterion",
          "mse": "the mean squared error", "mae": "the mean absolute error", "huber": "the Huber loss"}


def _value(v) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def _settings(kind: str, name: str, params: dict, always=("lr",)) -> str:
    """" (key = value, ...)" for the settings that differ from the registry's defaults, and `always`
    (a name: that key; True: every setting that is switched on, e.g. a model's widths)."""
    from ..core.errors import RegistryError
    from ..registries import all_registries

    try:
        fields = all_registries()[kind].get(name).params.model_fields
    except RegistryError:  # a plugin's entry, in a process that has not imported the plugin: tell every setting
        fields = {}

    def told(k, v) -> bool:
        if always is True:  # (a Gaussian's width matters only with a Gaussian initialisation)
            return v not in (None, False, 0, 0.0, "", "default", "none", []) \
                and not (k == "init_std" and params.get("init") != "gaussian")
        return k in always or k not in fields or fields[k].is_required() \
            or json.dumps(fields[k].default) != json.dumps(v)  # (0.9, 0.999) is [0.9, 0.999]

    items = [f"{k} = {_value(v)}" for k, v in params.items() if told(k, v)]
    return f" ({', '.join(items)})" if items else ""


def _where(fit: dict, env: dict) -> str:
    device = str(fit.get("device", ""))
    where = env.get("gpu") or "a CUDA GPU" if device.startswith("cuda") else "the CPU" if device == "cpu" else device
    precision = {"32-true": "float32", "bf16-mixed": "bf16 mixed precision", "16-mixed": "float16 mixed precision"}
    return f"{where} ({precision.get(fit.get('precision'), fit.get('precision'))}"


def groups_by(params: dict) -> str:
    """Where a run's groups came from, in words: its dataset's group column or array, or the series its
    windows were cut from."""
    if params.get("group") or params.get("groups"):
        key = "group" if params.get("group") else "groups"
        return f"data.{key} = \"{params[key]}\""
    return "each series' windows one group" + (f", data.series = \"{params['series']}\"" if params.get("series")
                                               else "")


def group_words(params: dict) -> tuple[str, str]:
    """(a group, its samples) in words: a recording and its windows, or a group and its samples."""
    return ("recording", "windows") if params.get("window") else ("group", "samples")


def group_sentence(metrics: dict, params: dict) -> str:
    """The test scores per group (evaluate/grouped.py) in words; "" when the test groups were not scored."""
    g = metrics["test"].get("by_group")
    if not g:
        return ""
    said = per_group_words(g, metrics["spec"].get("target") == "real", *group_words(params))
    models = {n: m for n, m in ((metrics.get("baselines") or {}).get("models") or {}).items() if m.get("by_group")}
    if models and not g.get("too_few"):  # the best baseline on the test samples, scored per group the same way
        name = best_baseline(metrics, models)[0]
        said = said[:-1] + f"; {name}, the best baseline, the same way: " + ", ".join(
            f"{k.replace('_', ' ')} {fmt(v)}" for k, v in models[name]["by_group"].items()) + "."
    return said


def per_group_words(g: dict, real: bool, unit: str, members: str) -> str:
    """grouped.by_group's scores in words: "Per recording (20 test recordings of 10 windows each, median,
    7-10), ...: accuracy 0.9500 [0.8500, 1.0000], ...", or why they were not scored."""
    left = f"; {g['left_out']} {unit}{'s' * (g['left_out'] != 1)} whose {members} differ in label left out" \
        if g["left_out"] else ""
    if g.get("too_few") and not g["groups"]:
        return (f"Not scored per {unit}: each of the {g['left_out']} test {unit}s holds {members} of more than "
                "one label.")
    if g.get("too_few"):
        return f"Too few test {unit}s of one label ({g['groups']}) to score each {unit} as one{left}."
    keys = ("r2", "rmse", "mae") if real else ("accuracy", "balanced_accuracy", "f1_macro")
    boot = g.get("bootstrap") or {}
    each = g["samples_per_group"]
    return (f"Per {unit} ({g['groups']} test {unit}s of {each['median']:g} {members} each, median, "
            f"{each['smallest']}-{each['largest']}{left}), each scored once by its {members}' mean "
            f"{'prediction' if real else 'predicted probabilities'}: " + ", ".join(
                f"{k.replace('_', ' ')} {fmt(g[k])}" + (f" [{fmt(boot[k][0])}, {fmt(boot[k][1])}]" if k in boot else "")
                for k in keys) + f" (in brackets 95% bootstrap intervals over the {unit}s).")


def methods_text(recipe, metrics: dict, env: dict, external: list[dict] = ()) -> list[str]:
    """The Methods and Results paragraphs for a supervised or unsupervised run on data; none for a
    GAN (judged by another network, not stopped by its validation loss) or a reinforcement-learning run.
    `external`: the run's external test sets (external_results), a paragraph of their own."""
    if metrics.get("kind") == "rl" or metrics["task"]["name"] == "gan":
        return []
    data, fit, spec, task = metrics["data"], metrics["fit"], metrics["spec"], metrics["task"]["name"]
    d, t, ev = recipe.data, recipe.train, recipe.eval
    sizes = data["sizes"]
    repeats = metrics.get("repeats")
    out = []

    rolling = (data.get("periods") or {}).get("rolling")
    s = [f"Data: {data['source']}, {rolling['samples'] if rolling else sum(sizes.values()):,} samples"]
    if rolling:
        s.append(f"rolling-origin evaluation in time order (data.time = \"{d.params.get('time')}\"): the samples cut "
                 f"into {rolling['folds'] + 1} consecutive periods, and each of {rolling['folds']} folds tested on one "
                 f"period by a model trained on {_window(rolling.get('window'))}, the latest part of that validating, "
                 "so that every test came after all its model learned from (the first period is never tested)")
    elif repeats and repeats.get("folds"):
        s.append(f"{repeats['folds']}-fold cross-validation"
                 f"{' stratified by class' if d.stratify and spec['target'] == 'class' else ''} "
                 f"(folds drawn with seed {recipe.seed}), each fold tested once by a model trained on the others, "
                 f"of which {d.val_fraction:.0%} of all samples were held out for validation")
    elif data["official_test"]:
        s.append(f"the dataset's official test set ({sizes['test']:,}) and a validation split of {sizes['val']:,} "
                 f"from its training set ({sizes['train']:,} for training)")
    elif data.get("periods"):
        p = data["periods"]
        s.append(f"a split in time order (data.time = \"{d.params.get('time')}\"): {sizes['train']:,} training samples "
                 f"from {p['train'][0]} to {p['train'][1]}, {sizes['val']:,} validation samples from {p['val'][0]} to "
                 f"{p['val'][1]} and {sizes['test']:,} test samples from {p['test'][0]} to {p['test'][1]}, so that "
                 "the network is tested on what came after everything it learned from")
    else:
        strat = "stratified " if d.stratify and spec["target"] == "class" else ""
        s.append(f"a {strat}split into {sizes['train']:,} training, {sizes['val']:,} validation and {sizes['test']:,} "
                 f"test samples (seed {recipe.seed})")
    if d.train_fraction < 1:
        s.append(f"of the training split, a random {d.train_fraction:.0%} (stratified, data.train_fraction) was used "
                 "for training")
    if sizes.get("calibration"):
        s.append(f"a further {sizes['calibration']:,} samples were held out from the training split as a calibration "
                 "split (data.calibration_fraction), used neither for training nor for choosing the epoch")
    if data.get("groups"):
        parts = ["training", "validation", *(["calibration"] * bool(sizes.get("calibration"))),
                 *(["test"] * ("test" in data["groups"]))]  # (an official test set is apart)
        s.append(f"split by group ({groups_by(d.params)}, {data['groups']['count']} groups) so that no group appears "
                 f"in {'two of ' if len(parts) > 2 else 'both '}{', '.join(parts[:-1])} and {parts[-1]}")
    if data.get("normalize", "none") not in ("none", "none (token ids)"):
        s.append(f"inputs normalised ({data['normalize']}) with statistics of the training split only")
    if data.get("missing"):
        s.append("missing numbers (in " + ", ".join(data["missing"]) + ") filled with the training split's median")
    if data.get("categories"):
        cats = data["categories"]
        s.append(f"the categorical column{'s' if len(cats) > 1 else ''} {', '.join(cats)} one-hot encoded")
    aug = {k: v for k, v in d.augment.model_dump().items() if v}
    if aug:
        s.append("training images augmented on the fly (" + ", ".join(f"{k} {v}" for k, v in aug.items()) + ")")
    near = data.get("near_duplicates") or {}
    said = [near_sentence(near) if near.get("test_in_train") else "", duplicates_sentence(data.get("duplicates") or {}),
            shared_groups_sentence(data.get("groups")), shift_sentence(data.get("shift") or {})]
    out.append(" ".join(["; ".join(s) + ".", *filter(None, said)]))

    model = MODELS.get(recipe.model.name) + _settings('models', recipe.model.name, recipe.model.params, True) \
        if recipe.model.name in MODELS else _own(recipe)
    opt = OPTIMIZERS.get(recipe.optim.name, recipe.optim.name)
    m = [f"Model: {model}, {fit['parameters']:,} parameters, trained with {opt}{_settings('optimizers', recipe.optim.name, recipe.optim.params)} on "
         f"mini-batches of {fit.get('global_batch_size') or t.batch_size}"
         + (f" (the gradients of {t.accumulate} batches of {t.batch_size * fit.get('processes', 1)} accumulated per step)"
            if t.accumulate > 1 else "")]
    loss = _loss(recipe, spec, task)
    if loss:
        m.append(f"to minimise {loss}")
    if recipe.schedule.name != "none":
        m.append(f"under a {recipe.schedule.name} learning-rate schedule"
                 f"{_settings('schedules', recipe.schedule.name, recipe.schedule.params, ())}")
    extras = [f"{k.upper()} penalty {getattr(t, k)}" for k in ("l1", "l2") if getattr(t, k)]
    if t.grad_clip:
        extras.append(f"gradients clipped to norm {t.grad_clip}")
    if extras:
        m.append("with " + " and ".join(extras))
    if t.ema:
        m.append(f"and validated, kept and tested as an exponential moving average of its weights (decay {t.ema})")
    m = [" ".join(m)]
    es = t.early_stopping
    stop = f", stopping after {es.patience} epochs without improvement" if es.patience else ""
    way = "highest" if monitored(task, es.monitor) == "max" else "lowest"
    m.append(f"Training ran for at most {t.epochs} epochs{stop}; the weights of the epoch with the {way} validation "
             f"{es.monitor[4:].replace('_', ' ')} (epoch {fit['best_epoch']} of {fit['epochs_run']}) were kept and "
             "evaluated once on the test set")
    test = metrics["test"]
    if test.get("threshold_by") in ("youden", "f1"):
        by = "Youden's J" if test["threshold_by"] == "youden" else f"the F1 of {spec['class_names'][1]}"
        m.append(f"Class {spec['class_names'][1]} was predicted when its probability exceeded {test['threshold']:.3g}, "
                 f"the threshold that maximised {by} on the validation split")
    elif test.get("threshold", 0.5) != 0.5:
        m.append(f"Class {spec['class_names'][1]} was predicted when its probability exceeded {test['threshold']:.3g}")
    if ev.tta == "flip":
        m.append("test outputs average each image and its mirror")
    out.append(". ".join(m) + ".")

    which = (" of the first fold" if repeats.get("folds") else " with the first seed") if repeats else ""
    out.append(f"Training{which} took {fit['train_seconds']:.1f} s on {_where(fit, env)}"
               + (f", {fit['processes']} processes, {fit['strategy'].upper()}" if fit.get("processes", 1) > 1 else "")
               + f") with trainlab {env.get('trainlab', '?')} and PyTorch {env.get('torch', '?')}; the run's recipe.toml "
               "repeats it (trainlab run recipe.toml).")

    own = list(metrics["test"].get("user_metrics") or {})  # the recipe's metrics of its own, after the first three
    keys = [k for k in headline_keys(metrics) if k in metrics["test"] and k != "loss" and k not in own][:3] \
        + [k for k in own if k in metrics["test"]]
    if repeats:
        how = f"{repeats['folds']} folds" if repeats.get("folds") else f"{len(repeats['seeds'])} split seeds"
        parts = [f"{k.replace('_', ' ')} {fmt(repeats['test'][k]['mean'])} ± {fmt(repeats['test'][k]['std'])} "
                 f"(95% interval {fmt(repeats['test'][k]['ci95'][0])}-{fmt(repeats['test'][k]['ci95'][1])})"
                 for k in keys if k in repeats["test"]]
        res = f"Results (mean ± std over {how}, the whole procedure repeated): " + "; ".join(parts) + "."
    else:
        boot = metrics["test"].get("bootstrap") or {}
        whole = f"; the bootstrap resamples its {boot['groups']} {group_words(d.params)[0]}s whole" \
            if boot.get("groups") else ""
        res = f"Results (test set{whole}): " + "; ".join(
            f"{k.replace('_', ' ')} {fmt(metrics['test'][k])}"
            + (f" (95% bootstrap interval {fmt(boot[k][0])}-{fmt(boot[k][1])})" if k in boot else "")
            for k in keys) + "."
    grouped = group_sentence(metrics, d.params)
    if grouped:
        res += " " + grouped
    base = (metrics.get("baselines") or {}).get("models", {})
    if base and keys and all(keys[0] in b for b in base.values()):
        rep_base = (repeats or {}).get("baselines", {})
        vals = [f"{name}{_tuned(b, name in rep_base)} "
                f"{fmt(rep_base[name][keys[0]]['mean'] if name in rep_base else b[keys[0]])}" for name, b in base.items()]
        better = "lower" if lower_is_better(keys[0], metrics) else "higher"
        res += (f" Baselines on the same split{'s' if repeats else ''} ({keys[0].replace('_', ' ')}, {better} is "
                f"better): " + ", ".join(vals) + ".")
    if rolling and keys and keys[0] in (repeats or {}).get("test", {}):  # the score as the test period moves on
        res += (f" {keys[0].replace('_', ' ').capitalize()} of each fold in time order: "
                + ", ".join(fmt(v) for v in repeats["test"][keys[0]]["values"]) + ".")
    verdict = baseline_verdict(metrics)
    if verdict:
        res += " " + verdict[0]
    if metrics["test"].get("conformal"):
        from ..evaluate import conformal

        res += " " + conformal.sentence(metrics["test"]["conformal"], spec.get("class_names") or ())
    if metrics.get("subgroups"):
        from ..evaluate.subgroups import sentence

        res += "".join(" " + sentence(name, by, metrics["subgroups"]["folds"])
                       for name, by in metrics["subgroups"]["by"].items())
    out.append(res)
    if external:
        out.append(_external_paragraph(external))
    return out


def external_results(path) -> list[dict]:
    """The external test sets a run was scored on with trainlab evaluate (RUN/external/*.json), each with its
    name and its sentences."""
    out = []
    for f in sorted((Path(path) / "external").glob("*.json")):
        e = {**json.loads(f.read_text()), "name": f.stem}
        out.append({**e, "sentences": external_sentences(e), "size": external_size(e)})
    return out


def external_size(e: dict, what: str = "") -> str:
    """An external test set's size in words: "1,234 samples", or with groups "185 windows of 20 recordings"
    (`what`: words before them, "external " say)."""
    unit, members = e.get("group_words") or ("group", "samples")
    return f"{e['samples']:,} {what}{members} of {e['groups']:,} {unit}s" if e.get("groups") else \
        f"{e['samples']:,} {what}samples"


def _external_paragraph(external: list[dict]) -> str:
    """The Results paragraph of the external test sets: each one's headline score against the internal test
    score, and whether its inputs differ."""
    said = []
    for e in external:
        row, u = _headline_row(e), e.get("surprise")
        if row is None and not u:
            continue
        s = f"On {e['name']} ({external_size(e)}), read and preprocessed as the development data, "
        if row:
            s += (f"{row['metric'].replace('_', ' ')} was {_with_interval(row, '95% bootstrap interval')} against "
                  f"{fmt(row['run'])} on the internal test set (z test on the two bootstrap intervals, "
                  f"{pvalue(row['test']['p_value'])})" + ("; " if u else ""))
        if u:
            s += (f"the inputs' {SCORES[e['score']]} sat at the {_ordinal(u['mean_percentile'])} percentile of the "
                  f"internal test samples' on average, {u['unusual_share']:.1%} of them above their "
                  f"{_ordinal(u['unusual_at'])} percentile "
                  f"(binomial test, {pvalue(u['unusual_p_value'])}; Kolmogorov-Smirnov test of the percentiles, "
                  f"D = {u['ks']:.2f}, {pvalue(u['ks_p_value'])})")
        shift = e.get("shift") or {}
        if "auc" in shift:
            s += (f"; a linear classifier told its inputs from the development data's with ROC AUC {shift['auc']:.2f} "
                  f"({pvalue(shift['p_value'])})")
        if e.get("copies"):
            s += f"; {e['copies']:,} of its samples were exact copies of development samples"
            rest = e.get("without_copies") or {}
            clean = _headline_row(rest)
            if clean:
                s += f" (without them, {_with_interval(clean)}, {pvalue(clean['test']['p_value'])})"
            elif rest.get("surprise"):
                s += f" (without them, {_placed(rest['surprise'])})"
        said.append(s + ".")
    return ("External test: the best model was scored on data from elsewhere (trainlab evaluate). " + " ".join(said)) \
        if said else ""


def _own(recipe) -> str:
    """A model that is not trainlab's: its name and the plugin files (with their SHA-256) that define it."""
    from ..plugins import provenance

    code = provenance(recipe.to_dict())
    kept = [c for c in code if "file" in c]
    where = " and ".join([*(f"the module {c['module']}" + (f" ({c['package']} {c['version']})" if c["package"] else "")
                            for c in code if "module" in c), *(f"{c['file']} (SHA-256 {c['sha256'][:16]}…)" for c in kept)])
    where = (f" defined in {where}" + ((", a copy of which is" if len(kept) == 1 else ", copies of which are")
                                       + " kept with the run" if kept else "")) if where else ""
    return f"{recipe.model.name}{_settings('models', recipe.model.name, recipe.model.params, True)}, a network{where}"


def _window(periods: int | None) -> str:
    """What each rolling-origin fold learned from (data.time_window)."""
    if not periods:
        return "everything before it"
    return f"the {'period' if periods == 1 else f'{periods} periods'} before it only (a sliding window, data.time_window)"


def duplicates_sentence(dups: dict) -> str:
    """The samples whose inputs recur with another label, and the test samples that repeat another test
    sample, in words (CLI, report, methods); "" for none."""
    n, t, again = dups.get("conflicting_labels", 0), dups.get("test_conflicting", 0), dups.get("within_test", 0)
    said = [f"{n:,} samples share their inputs, byte for byte, with a sample of another label ({t:,} of them in the "
            "test set): no model gets all of them right; check their labels, or the inputs do not decide the class."
            ] if n else []
    if again:
        said.append(f"{again:,} test sample{'s repeat' if again > 1 else ' repeats'} another test sample byte for byte: "
                    "each copy counts in the test score again, and its bootstrap interval, which takes the copies for "
                    "independent samples, is too narrow.")
    return " ".join(said)


def shared_groups_sentence(groups: dict) -> str:
    """The groups with samples on both sides of the official test set (a split by group keeps each whole; the
    data's own test set need not), in words (CLI, report, methods); "" for none."""
    n = (groups or {}).get("in_two_splits", 0)
    if not n:
        return ""
    return (f"{n:,} of the {groups['count']:,} groups {'has' if n == 1 else 'have'} samples both in the official test "
            "set and in training or validation: the test scores count groups the network learned from, as a leak "
            "would. Keep each group on one side.")


WHY = {"official": "the dataset's official test set", "time": "the latest samples, split in time order",
       "groups": "groups the training split does not hold"}  # how a test set not drawn at random was chosen


def _with_interval(row: dict, what: str = "95% interval") -> str:
    """An external set's score and its interval: "0.8175 (95% interval 0.8020-0.8345)"."""
    lo, hi = row["external_interval"]
    return f"{fmt(row['external'])} ({what} {fmt(lo)}{' to ' if min(lo, hi) < 0 else '-'}{fmt(hi)})"


SCORES = {"reconstruction_error": "reconstruction errors", "nll": "negative log-likelihoods"}  # Task.surprise_name


def _ordinal(x: float) -> str:
    """A percentile in words: 1st, 2nd, 3rd, 11th, 80th."""
    n = int(round(x))
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _placed(u: dict) -> str:
    """Where a set's scores sit among the test samples' (_unusual's "surprise"), in a few words."""
    return (f"the {_ordinal(u['mean_percentile'])} percentile on average (Kolmogorov-Smirnov D = {u['ks']:.2f}, "
            f"{pvalue(u['ks_p_value'])})")


def surprise_sentence(result: dict) -> tuple[str, bool]:
    """Where an external set's scores fall among the run's test samples' (evaluate/external.py _unusual), in
    words, with whether it warns (more unusual than the test samples, beyond chance)."""
    u = result["surprise"]
    which = "normal test samples'" if result.get("held_out") else "test samples'"
    s = (f"The inputs' {SCORES[result['score']]} sit at the {_ordinal(u['mean_percentile'])} percentile of the "
         f"run's {which} on average (median {_ordinal(u['median_percentile'])}; 50th for inputs like them), and "
         f"{u['unusual']:,} of {u['samples']:,} ({u['unusual_share']:.1%}) lie above their {_ordinal(u['unusual_at'])} "
         f"percentile "
         f"({u['unusual_above']:.4g}), against {u['expected_share']:.0%} expected (binomial test, "
         f"{pvalue(u['unusual_p_value'])}). Kolmogorov-Smirnov test of the percentiles against those of inputs like "
         f"the run's {u['run_samples']:,} test samples: D = {u['ks']:.2f}, {pvalue(u['ks_p_value'])}: ")
    if u["ks_p_value"] >= 0.05:
        return s + "their scores are distributed as the test samples' as far as these samples can tell.", False
    if u["mean_percentile"] > 50:
        return s + ("as a set they are more unusual for the model than its test samples: data unlike those it "
                    "learned from."), True
    return s + ("as a set they are more typical for the model than its test samples. That is not to say they are like "
                "its data: simpler inputs score so (a squared error is smaller on darker images, for one); whether "
                "they differ is checked apart."), False


def _headline_row(result: dict) -> dict | None:
    """An external test set's first headline metric that both sides have an interval of (the one it is said by)."""
    return next((r for r in result.get("rows") or [] if r["test"]), None)


def external_sentences(result: dict) -> list[tuple[str, bool]]:
    """An external test set's results (evaluate/external.py) in words, each with whether it warns: the
    headline metric against the run's own test score, and whether the external data differ."""
    out = []
    row = _headline_row(result)
    if row:
        t, key = row["test"], row["metric"].replace("_", " ")
        change = "higher" if t["difference"] > 0 else "lower"
        beyond = t["p_value"] < 0.05 and (change == "higher") == bool(row.get("lower_is_better"))  # and worse
        by = f"{change} by {fmt(abs(t['difference']))}" if t["difference"] else "the same"
        out.append((f"On {result['name']} ({external_size(result)}), {key} {_with_interval(row)} against "
                    f"{fmt(row['run'])} on the run's own test set: {by}, "
                    f"{pvalue(t['p_value'])} (z test on the two bootstrap intervals), "
                    + ("beyond chance: the model does not carry over as its test score said." if beyond else
                       "beyond chance." if t["p_value"] < 0.05 else
                       "within what chance gives: the model carries over as far as these samples can tell."),
                    beyond))
    grouped = (result.get("metrics") or {}).get("by_group")
    if grouped:  # (its bootstrap resampled whole groups, as the run's own test set's did)
        out.append((per_group_words(grouped, "r2" in result["metrics"],
                                    *(result.get("group_words") or ("group", "samples"))), False))
    if result.get("surprise"):
        out.append(surprise_sentence(result))
        gone = sorted((result.get("anomalous") or {}).get("classes") or [])
        if gone and row and row["metric"] == "roc_auc":
            out.append((f"Anomalous here: {', '.join(gone)} (the classes held out of training, and any it never "
                        f"saw), {result['anomalous']['share']:.1%} of the samples; ROC AUC and PR AUC say how well "
                        f"the {SCORES[result['score']][:-1]} tells them from the others. PR AUC depends on that share, "
                        f"so it is not compared with the test set's.", False))
    copies = result.get("copies", 0)
    if copies:
        are = "is an exact copy of a sample" if copies == 1 else "are exact copies of samples"
        rest = result.get("without_copies") or {}
        row = _headline_row(rest)
        clean = (f" Without them ({rest['samples']:,} samples), {row['metric'].replace('_', ' ')} is "
                 f"{_with_interval(row)} against {fmt(row['run'])}, {pvalue(row['test']['p_value'])}: the clean "
                 "external test.") if row else (
            f" Without them ({rest['samples']:,} samples), the scores sit at {_placed(rest['surprise'])}: the clean "
            "external test.") if rest.get("surprise") else " Leave them out for a clean external test."
        out.append((f"{copies:,} of the {result['samples']:,} external samples {are} the run read"
                    " (for training, choosing the epoch or its test): the external score is in part a score on data "
                    "the model has seen." + clean, True))
    shift = result.get("shift") or {}
    if shift.get("unavailable"):
        out.append((f"Whether these data differ from the run's was not checked: the run's own data could not be read "
                    f"({shift['unavailable']})", False))
    elif shift_sentence(shift):
        out.append((shift_sentence(shift), shift_warns(shift)))
    return out


def shift_warns(shift: dict) -> bool:
    """Whether the test set's inputs, classes or targets differ from the training split's (the CLI says so)."""
    return bool(shift.get("differ") or (shift.get("classes") or {}).get("differ")
                or (shift.get("targets") or {}).get("differ"))


def shift_sentence(shift: dict) -> str:
    """Whether the test inputs, classes and targets differ from the training ones (data/shift.py), in words
    (CLI, report, methods); "" when none could be checked. An external set (trainlab evaluate) is
    compared with all the data the run read."""
    external = shift.get("why") == "external"
    w = EXTERNAL_WORDS if external else {**TEST_WORDS, "which": f" ({WHY.get(shift.get('why'), shift.get('why'))})"}
    cls = shift.get("classes") or {}
    m = cls.get("most_changed") or {}
    counted, of = ("groups' class counts", "'s groups") if cls.get("unit") == "groups" else ("class counts", "")
    classes = (f"{chr(967)}² test on the {counted}, {pvalue(cls['p_value'])}): {m['class']} makes "
               f"{m['train_share']:.1%} of {w['train_split']}{of} and {m['test_share']:.1%} of {w['test_set']}{of}, "
               "which weighs each class's errors otherwise in the accuracy.") if cls.get("differ") else ""
    tg = shift.get("targets") or {}
    t = tg.get("most_changed") or {}
    targets = (f" {w['test_sets']} targets come from another distribution than in {w['trained']} (Kolmogorov-Smirnov "
               f"D {t['ks']:.2f}, {pvalue(tg['p_value'])}): {t['feature']} has mean {t['train_mean']:.4g} in "
               f"{w['train']} and {t['test_mean']:.4g} in {w['in_test']}, standard deviation {t['train_std']:.4g} and "
               f"{t['test_std']:.4g}. R² compares the errors with the targets' spread, so it changes with that spread "
               "alone: compare the absolute errors too.") if tg.get("differ") else ""
    if "auc" not in shift:  # too few samples: the classes or targets alone
        said = (f"The classes of {w['test_set']}{w['which']} come in other proportions than in {w['trained']} "
                f"({classes}" if classes else "") + targets
        return said.strip()
    classes = (f" {w['test_sets']} classes come in other proportions than in {w['trained']} ({classes}"
               if classes else "") + targets
    lo, hi = shift["interval"]
    n = shift["samples"]
    unit = shift["unit"]
    how = (f"a linear classifier fitted on half of the {unit}{' (each its mean)' if unit == 'groups' else ''} told the "
           f"other half's {n['train']:,} {w['train_units']} and {n['test']:,} {w['test']} {unit} apart with ROC AUC "
           f"{shift['auc']:.2f} (95% interval {lo:.2f}-{hi:.2f}, {pvalue(shift['p_value'])}; 0.5 is chance)")
    texts = "words" in shift
    what = "words that differ most (Fisher's exact test on each one's share of the texts)" if texts else \
        "values whose level or spread over a series differs most" if shift.get("series") else "columns that differ most"
    cols = [c for c in shift.get("words") or shift.get("columns") or [] if c["p_holm"] < 0.05][:3]
    named = ", ".join(
        f"'{c['feature']}' ({c['train_share']:.1%} of the texts in {w['train']}, {c['test_share']:.1%} in "
        f"{w['in_test']}; Holm-adjusted {pvalue(c['p_holm'])})" if texts else
        f"{c['feature']} (mean {c['train_mean']:.4g} in {w['train']}, {c['test_mean']:.4g} in {w['in_test']}; "
        f"Kolmogorov-Smirnov D {c['ks']:.2f}, Holm-adjusted {pvalue(c['p_holm'])})" for c in cols)
    if not shift["differ"]:
        return (f"No clear sign that the {w['test']} inputs{w['which']} differ from {w['train_inputs']}: {how}"
                + (f", though {named} {'differs' if len(cols) == 1 else 'differ'}" if cols else "") + "." + classes)
    px, length = shift.get("pixels"), shift.get("words_per_text")
    described = (f"; mean pixel {px['train_mean']:.4g} in {w['train']}, {px['test_mean']:.4g} in {w['in_test']}, standard "
                 f"deviation {px['train_std']:.4g} and {px['test_std']:.4g}") if px else \
        f"; {length['train_mean']:.0f} words a text on average in {w['train']}, {length['test_mean']:.0f} in " \
        f"{w['in_test']}" if length else ""
    return (f"The {w['test']} inputs{w['which']} differ from {w['train_inputs']}: {how}"
            f"{f'; the {what}: ' + named if cols else ''}"
            f"{described}. {w['then']}." + classes)


TEST_WORDS = {"test": "test", "in_test": "test", "test_set": "the test set", "test_sets": "The test set's",
              "train": "training", "trained": "training", "train_split": "the training split",
              "train_units": "training", "train_inputs": "the training inputs",
              "then": "The test score then measures the model on another population than the one it learned from: "
                      "the point when testing a new site or a later period, but no estimate for data like the "
                      "training data"}
EXTERNAL_WORDS = {"test": "external", "in_test": "the external set", "test_set": "the external set",
                  "test_sets": "The external set's", "train": "the run's data", "trained": "the run's data", "which": "",
                  "train_split": "the run's data", "train_units": "of the run's", "train_inputs": "the run's inputs",
                  "then": "Its score then measures the model on another population than the one it learned from, "
                          "which is what an external test is for: a score that falls may be the population, not "
                          "the model"}


def near_moved(near: dict) -> str:
    """What an image is compared under besides itself: 'mirrored, rotated or shifted by up to 3 pixels'."""
    m = near.get("largest_shift", 0)
    return f"mirrored, rotated or shifted by up to {m} pixel{'s' if m > 1 else ''}" if m else "mirrored or rotated"


def near_sentence(near: dict) -> str:
    """The test images (texts) that have a near-identical training one, in words (CLI, report, methods), or
    that none has."""
    n, what = near["test_in_train"], "text" if near.get("kind") == "text" else "image"
    if near.get("kind") == "series":
        held = (f"as a training series does over {near['share']:.0%} of their {near['steps']} steps or more, shifted in "
                f"time (each value the training one's, offset or rescaled: correlation ≥ {near['threshold']})")
        if not n:
            return f"No test series moves {held}."
        return (f"{n:,} test series move{'s' * (n == 1)} {held}: windows cut with overlap from one recording, on both "
                "sides of the split; the test score is in part a score on steps the model has seen. Name the "
                "recording of each window (data.groups) so that a recording is split whole.")
    if not n:
        return ("No test text has the words of a training text without being the same bytes." if what == "text" else
                f"No test image has a near-identical training image (pixel correlation ≥ {near['threshold']} with one "
                f"of the same average hash, as it is, {near_moved(near)}).")
    how = ("the same words, case and punctuation aside, but not byte for byte" if what == "text" else
           f"pixel correlation ≥ {near['threshold']}, as it is, {near_moved(near)}, not byte for byte the same: "
           "the same picture re-encoded, touched up or augmented")
    turned = near.get("transformed") or {}
    k = sum(turned.values())
    copies = (f" {k:,} of them {'is' if k == 1 else 'are'} a training image {near_moved(near)} ("
              + ", ".join(f"{t}: {c:,}" for t, c in turned.items())
              + "), as copies augmented before the split would be.") if k else ""
    return (f"{n:,} test {what}{'s' if n != 1 else ''} {'have' if n != 1 else 'has'} a near-identical training {what} "
            f"({how}): they test memory more than generalisation.{copies}")


def _tuned(baseline: dict, repeated: bool) -> str:
    """How a classical baseline's regularisation was chosen, in a parenthesis (none for the others)."""
    t = baseline.get("tuned")
    if not t:
        return ""
    return f" ({t['parameter']} chosen on each validation split)" if repeated else \
        f" ({t['parameter']} = {t['value']:g}, chosen on the validation split)"


def _against(metrics: dict, name: str, key: str) -> tuple[float, float, dict | None, str]:
    """The network's and baseline `name`'s `key`, the paired test between them (None for a run from
    before the paired tests), and on what: the test set, or the mean over repeats."""
    rep = metrics.get("repeats") or {}
    if name in rep.get("baselines", {}):
        return (rep["test"][key]["mean"], rep["baselines"][name][key]["mean"], rep["baselines"][name]["paired"],
                f"mean over {len(rep['seeds'])} {'folds' if rep.get('folds') else 'split seeds'}")
    b = metrics["baselines"]["models"][name]
    return metrics["test"][key], b[key], b.get("paired"), "test set"


def _ahead(net: float, base: float, t: dict | None, lower: bool) -> bool:
    """Is the network better than the baseline beyond chance (paired test below 5%; without a test, at all)?"""
    return (net < base if lower else net > base) and (t is None or t["p_value"] < 0.05)


def best_baseline(metrics: dict, models: dict) -> tuple[str, str, bool]:
    """(the best of `models` on the metric the baselines are compared on, that metric, whether lower is better)."""
    key = compared_on(metrics["baselines"], metrics["spec"]["target"])
    lower = lower_is_better(key, metrics)
    return (min if lower else max)(models, key=lambda n: models[n][key]), key, lower


def baseline_verdict(metrics: dict) -> tuple[str, bool] | None:
    """The network against the best baseline on the baselines' headline metric, and whether the
    difference is more than chance: a paired test on the same test samples, or with repeats a paired
    t-test over the splits. Returns (the sentence, whether the network is better beyond chance)."""
    models = (metrics.get("baselines") or {}).get("models") or {}
    if not models:
        return None
    classes = metrics["spec"]["target"] == "class"
    name, key, lower = best_baseline(metrics, models)
    net, base, t, how = _against(metrics, name, key)
    if math.isnan(net) or math.isnan(base):  # an R² of one test sample: nothing to compare
        return None
    if how != "test set":
        test = f"; paired t-test over the {'folds' if metrics['repeats'].get('folds') else 'split seeds'}, " \
               f"{pvalue(t['p_value'])}"
    else:
        closer = "with a lower loss" if lower else "closer"
        counts = (f"on the test samples only one of them got right ({t['network_only']:,} the network, "
                  f"{t['baseline_only']:,} the baseline)" if classes else
                  f"({t['network_only']:,} test samples {closer} for the network, {t['baseline_only']:,} for the "
                  f"baseline)") if t else ""
        over = f" ({t['groups']:,} of them, each group's samples flipped together)" if t and t.get("groups") else ""
        test = f"; {t['test']}{over} {counts}, {pvalue(t['p_value'])}" if t else ""
    better = _ahead(net, base, t, lower)
    if t is None:  # a run from before the paired tests
        verdict = "the network is better" if better else "a classical model does as well here"
    elif t["p_value"] >= 0.05:
        verdict = "the difference is not significant at the 5% level and may be chance"
    else:
        verdict = f"the {'network' if better else 'baseline'} is better (significant at the 5% level)"
    fewer = metrics["baselines"].get("note") if better and name not in TRIVIAL.values() else ""
    fewer = f"; the baseline was {fewer}, so part of the lead may be the network's larger training set" if fewer else ""
    return (f"Against {name}, the best baseline: {key.replace('_', ' ')} {fmt(net)} vs {fmt(base)} ({how}){test}: "
            f"{verdict}{fewer}.", better)


SMALL_TEST = 30  # test samples below which a test score says little, and k-fold cross-validation is the way


def _size(metrics: dict, part: str, default=None):
    """How many samples the run's `part` split held (default for a metrics dict without its data sizes)."""
    return ((metrics.get("data") or {}).get("sizes") or {}).get(part, default)


def small_test(metrics: dict, params: dict = {}) -> str:
    """For classes and values, a warning when the test set is small, or its samples come from few groups (the
    recordings its windows were cut from), unless every sample was tested once, over folds; "" otherwise."""
    n = _size(metrics, "test", SMALL_TEST)
    groups = ((metrics.get("test") or {}).get("bootstrap") or {}).get("groups", SMALL_TEST)
    if min(n, groups) >= SMALL_TEST or (metrics.get("repeats") or {}).get("folds") or \
            (metrics.get("spec") or {}).get("target") not in ("class", "real"):
        return ""
    how = "sample is tested once, by a model trained without it (e.g. trainlab run ... --folds 5)."
    if n >= SMALL_TEST:
        unit, members = group_words(params)
        return (f"Only {groups} test {unit}{'s' * (groups != 1)} ({n} {members}): the {members} of one {unit} are not "
                f"independent, so every test score rests on {'it' if groups == 1 else 'those few'}, and the bootstrap "
                f"interval, drawn from the same few, understates how uncertain it is. With --folds K every " + how)
    return (f"Only {n} test sample{'s' * (n != 1)}: every test score rests on {'it' if n == 1 else 'them'}, and the "
            "bootstrap interval, drawn from the same few, understates how uncertain it is. With --folds K every " + how)


def _little_evidence(metrics: dict) -> bool:
    """Too few test samples (or, over repeats, too few splits) for a paired test to find a real difference."""
    rep = metrics.get("repeats") or {}
    if rep.get("baselines"):
        return len(rep.get("seeds", ())) < 5
    return _size(metrics, "test", SMALL_TEST) < SMALL_TEST


FEW_STEPS = 50  # optimiser steps below which a network that learned nothing may just not have trained enough


def learned_nothing(metrics: dict) -> str:
    """When the network does not measurably beat the trivial baseline (the majority class, the mean), what
    to look at: it may have learned nothing, most often for a learning rate too high (a first epoch's loss far
    above the last's, or a loss that does not fall) or labels that do not follow the inputs. "" otherwise."""
    target = metrics["spec"]["target"]
    models = (metrics.get("baselines") or {}).get("models") or {}
    if target not in TRIVIAL or TRIVIAL[target] not in models:
        return ""
    key = compared_on(metrics["baselines"], target)
    lower = lower_is_better(key, metrics)
    net, base, t, _ = _against(metrics, TRIVIAL[target], key)
    if _ahead(net, base, t, lower) or math.isnan(net) or math.isnan(base):
        return ""
    ahead = net < base if lower else net > base
    if ahead and _little_evidence(metrics):
        return ""  # ahead, but on too few samples or splits to tell from chance: the verdict says so
    losses = [r["train_loss"] for r in metrics.get("history", []) if "train_loss" in r]
    if ahead and t and len(losses) > 1 and losses[-1] < 0.9 * losses[0]:  # it learned: the test cannot tell
        rep = metrics.get("repeats") or {}
        over = f"{len(rep['seeds'])} splits" if rep.get("baselines") else f"{_size(metrics, 'test')} test samples"
        more = ("More data, or more splits (--repeats), would tell" if rep.get("folds") else
                "--folds 5 tests every sample once, by a model trained without it, and may tell")
        return (f"The network is ahead of the {TRIVIAL[target]} ({key.replace('_', ' ')} {fmt(net)} vs {fmt(base)}), "
                f"but the {over} cannot tell that lead from chance ({t['test']}, {pvalue(t['p_value'])}). It did "
                f"learn something: its training loss fell from {fmt(losses[0])} in the first epoch to "
                f"{fmt(losses[-1])} in the last. {more}.")
    advice = ("try a lower learning rate (trainlab lr-find RECIPE plots the loss against the rate), and check that "
              "the labels follow the inputs.")
    fit = metrics.get("fit") or {}
    if fit.get("steps", FEW_STEPS) < FEW_STEPS:
        steps, epochs = fit["steps"], fit.get("epochs_run", 0)
        n = _size(metrics, "train")
        why = f"{epochs} epoch{'s' * (epochs != 1)}" + (f" of {n} training samples in batches of "
                                                      f"{fit['global_batch_size']}" if n and "global_batch_size" in fit else "")
        advice = (f"train longer (train.epochs) or in smaller batches (train.batch_size): it took only {steps} "
                  f"optimiser step{'s' * (steps != 1)} ({why}). If that does not help, {advice}")
    if len(losses) > 1:
        advice = (f"Its training loss went from {fmt(losses[0])} in the first epoch to {fmt(losses[-1])} in the last"
                  f"{', without falling' if losses[-1] >= 0.98 * losses[0] else ''}: {advice}")
    return (f"The network does not measurably beat the {TRIVIAL[target]} ({key.replace('_', ' ')} {fmt(net)} vs "
            f"{fmt(base)}): it may have learned nothing. {advice[0].upper()}{advice[1:]}")


def _loss(recipe, spec: dict, task: str) -> str:
    p = recipe.task.params
    own = p.get("loss")
    if task in ("classification", "regression") and own is not None and own not in (*LOSSES, "auto"):
        name, keys = named(own)
        told = f" ({', '.join(f'{k} = {_value(v)}' for k, v in keys.items())})" if keys else ""
        return f"the loss {name}{told}, defined in the recipe's plugin code" + \
            (" on standardised targets" if task == "regression" else "")
    if task == "classification":
        name = p.get("loss", "auto")
        name = ("bce" if spec["num_classes"] == 2 else "ce") if name == "auto" else name
        text = LOSSES[name]
        if p.get("label_smoothing"):
            text += f" with label smoothing {p['label_smoothing']}"
        if p.get("class_weights") == "balanced":
            text += ", each class weighted by N / (K · its training count)"
        return text
    if task == "regression":
        return LOSSES.get(p.get("loss", "mse"), p.get("loss")) + " on standardised targets"
    return {"reconstruction": "the reconstruction error", "vae": "the negative ELBO",
            "density": "the negative log-likelihood", "segmentation": f"the {p.get('loss', 'bce_dice')} loss",
            "seq2seq": "the token cross-entropy (teacher forcing)"}.get(task, "")
