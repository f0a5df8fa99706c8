"""An example plugin: losses of your own (recipes/quantile-diabetes.toml names this file).
A loss takes the network's outputs and the targets of a batch and returns one number."""
import torch
import torch.nn.functional as F

import trainlab


@trainlab.register_loss("pinball")
def pinball(outputs, targets, *, q: float = 0.5):
    """The quantile (pinball) loss: the network learns the q-th quantile of the target given the inputs, not its mean."""
    e = targets - outputs  # regression: standardised targets, outputs of the same shape
    return torch.maximum(q * e, (q - 1) * e).mean()


@trainlab.register_loss("focal")
def focal(outputs, targets, *, gamma: float = 2.0):
    """Focal loss (Lin et al., 2017): (1 − p)^γ · cross-entropy, down-weighting the samples already classified well."""
    logp = F.log_softmax(outputs.float(), 1).gather(1, targets[:, None]).squeeze(1)  # (B,) log p of the true class
    return (-(1 - logp.exp()) ** gamma * logp).mean()
