"""All registries by the plural names the CLI uses."""


def all_registries() -> dict:
    from .data.datasets import DATASETS
    from .engine.optim import OPTIMIZERS, SCHEDULES
    from .evaluate.metrics import METRICS
    from .models import MODELS
    from .rl.registry import AGENTS, ENVIRONMENTS
    from .tasks import TASKS
    from .tasks.base import LOSSES

    return {"models": MODELS, "datasets": DATASETS, "tasks": TASKS, "losses": LOSSES, "metrics": METRICS,
            "optimizers": OPTIMIZERS, "schedules": SCHEDULES, "environments": ENVIRONMENTS, "agents": AGENTS}


def list_registry(kind: str):
    from .core.errors import RecipeError
    from .core.registry import closest

    regs = all_registries()
    if kind not in regs:
        hint = closest(kind, regs)
        raise RecipeError(f"Nothing called {kind!r} to list." + (f" Did you mean {hint!r}?" if hint else "")
                          + f" Choose one of: {', '.join(regs)}.")
    return regs[kind].entries()
