"""Pieces every layer may import: errors, the registry, recipe models, the data→model contract; and,
once for the process, how NumPy gets its memory (core.memory)."""
from .memory import no_huge_pages

no_huge_pages()
