"""all-MiniLM-L6-v2 loaded offline with sentence-transformers: the one embedding function.

The local TEI component and the ingest command both call this, so stored vectors and query
vectors come from the same model, pooling and normalization.
"""

from __future__ import annotations

import os
from pathlib import Path

from local.settings import embedding_model_path


class Embedder:
    """Mean-pooled, L2-normalized sentence embeddings (384 floats) on CPU."""

    def __init__(self, model_path: Path | None = None, num_threads: int | None = None) -> None:
        # Weights ship inside a package: never let the hub client reach for the network.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        import torch
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.modules import Normalize

        if num_threads:
            torch.set_num_threads(num_threads)
        path = model_path or embedding_model_path()
        loaded = SentenceTransformer(str(path), device="cpu")
        # TEI pools and normalizes only when asked (`normalize`), whatever modules.json says;
        # dropping the Normalize module lets `normalize: false` return raw pooled vectors too.
        self.model = SentenceTransformer(
            modules=[module for module in loaded if not isinstance(module, Normalize)],
            device="cpu",
        )
        dimension, max_tokens = self.model.get_embedding_dimension(), self.model.max_seq_length
        if dimension is None or max_tokens is None:
            raise RuntimeError(f"{path} does not look like a sentence-transformers model")
        self.dimension, self.max_tokens = dimension, max_tokens

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Token counts including [CLS] and [SEP], as the model sees them before truncation."""
        encoded = self.model.tokenizer(texts, add_special_tokens=True, truncation=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def embed(self, texts: list[str], normalize: bool = True) -> list[list[float]]:
        """One vector per text; texts longer than the model's window are truncated."""
        vectors = self.model.encode(
            texts, batch_size=32, normalize_embeddings=normalize, convert_to_numpy=True
        )
        return [list(map(float, row)) for row in vectors]
