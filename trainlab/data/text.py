"""Text to token ids: a word-level tokenizer whose vocabulary is built on the training split
only, stored with the run so prediction tokenises exactly as training did."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

PAD, UNK = 0, 1
_WORD = re.compile(r"[a-z0-9']+|[!?.,;:]")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@dataclass
class WordTokenizer:
    vocab: list[str] = field(default_factory=list)  # index → word; 0 is padding, 1 unknown
    max_len: int = 128

    @classmethod
    def fit(cls, texts, max_vocab: int, max_len: int, min_count: int = 1) -> "WordTokenizer":
        counts = Counter(w for t in texts for w in words(t))
        kept = [w for w, c in counts.most_common(max_vocab - 2) if c >= min_count]
        return cls(["<pad>", "<unk>", *kept], max_len)

    def encode(self, texts) -> np.ndarray:
        """(N, max_len) int64 ids, padded with 0, longer texts cut."""
        index = {w: i for i, w in enumerate(self.vocab)}
        out = np.zeros((len(texts), self.max_len), np.int64)
        for r, t in enumerate(texts):
            ids = [index.get(w, UNK) for w in words(t)][: self.max_len] or [UNK]
            out[r, : len(ids)] = ids
        return out

    def decode(self, ids) -> str:
        return " ".join(self.vocab[i] for i in ids if i != PAD)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PretrainedTokenizer:
    """A pretrained model's own word-piece tokenizer (tokenizer.json, read with Hugging Face
    `tokenizers`): lower-cased, cut or padded to max_len, [CLS] … [SEP]; padding is id 0."""
    name: str = "minilm"
    max_len: int = 128
    kind: str = "pretrained"

    def _tokenizer(self):
        if getattr(self, "_tok", None) is None:
            try:
                from tokenizers import Tokenizer
            except ImportError:
                from ..core.errors import RecipeError

                raise RecipeError("data.tokenizer = 'minilm' needs tokenizers: pip install 'trainlab[text]'.") from None
            from ..core.pretrained import model_dir

            tok = Tokenizer.from_file(str(model_dir(self.name) / "tokenizer.json"))
            tok.enable_truncation(self.max_len)
            tok.enable_padding(length=self.max_len, pad_id=PAD)
            self._tok = tok
        return self._tok

    @property
    def vocab_size(self) -> int:
        return self._tokenizer().get_vocab_size()

    def encode(self, texts) -> np.ndarray:
        return np.array([e.ids for e in self._tokenizer().encode_batch([str(t) for t in texts])], np.int64)

    def decode(self, ids) -> str:
        return self._tokenizer().decode([int(i) for i in ids if i != PAD])

    def to_dict(self) -> dict:
        return {"name": self.name, "max_len": self.max_len, "kind": self.kind}


def tokenizer_from_dict(d: dict):
    """The tokenizer a run stored (word-level runs store their vocabulary, pretrained ones their name)."""
    if d.get("kind") == "pretrained":
        return PretrainedTokenizer(d["name"], d["max_len"])
    return WordTokenizer(d["vocab"], d["max_len"])
