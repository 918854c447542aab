"""AWS Deep Learning Container image URIs per region, from the `sagemaker` SDK's offline table."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import aws_cdk as cdk
from constructs import Construct

# Framework names in the SDK's image_uri_config tables.
VLLM = "vllm"  # AWS's vLLM DLC, repository `vllm`
TGI = "huggingface-llm"  # Hugging Face TGI DLC, repository `huggingface-pytorch-tgi-inference`
TEI_CPU = "huggingface-tei-cpu"

_URI = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.[^/]+/(?P<repo>[^:]+):")
# GPU DLC tags name their CUDA version, e.g. 0.30.0-gpu-py312-cu130-ubuntu24.04-sagemaker.
_CUDA_TAG = re.compile(r"-cu(?P<version>\d{3})-")


@dataclass(frozen=True)
class ImageRequest:
    """One image the stack needs: a key for the mapping, an SDK framework and its version."""

    key: str
    framework: str
    version: str


@dataclass(frozen=True)
class ResolvedImage:
    """An image URI and the ARN of the ECR repository that serves it."""

    uri: str
    repository_arn: str

    @property
    def cuda_major(self) -> int | None:
        """The CUDA major version the image is built for (13 for cu130); None for CPU images."""
        match = _CUDA_TAG.search(self.uri.rsplit(":", 1)[1])
        return int(match["version"]) // 10 if match else None


@contextmanager
def _fast_endpoint_resolver() -> Iterator[Any]:
    """Re-use botocore's endpoint table across calls.

    The SDK parses botocore's 1 MB endpoints file on every `retrieve`; building the
    table for ~40 regions would otherwise take seconds per image.
    """
    from sagemaker.core import common_utils  # slow import (~3 s): only when synthesizing

    cached = functools.cache(common_utils._botocore_resolver)
    with mock.patch.object(common_utils, "_botocore_resolver", cached):
        yield common_utils


def _repository_arn(uri: str, partition: str) -> str:
    match = _URI.match(uri)
    if match is None:
        raise ValueError(f"unexpected image URI from the sagemaker SDK: {uri}")
    return f"arn:{partition}:ecr:{match['region']}:{match['account']}:repository/{match['repo']}"


def image_table(requests: list[ImageRequest]) -> dict[str, dict[str, ResolvedImage]]:
    """Region -> key -> image, for every region where all requested images exist."""
    from sagemaker.core import image_uris

    with _fast_endpoint_resolver() as common_utils:
        regions: set[str] | None = None
        for request in requests:
            config = image_uris.config_for_framework(request.framework)["inference"]
            version = config.get("version_aliases", {}).get(request.version, request.version)
            if version not in config["versions"]:
                known = ", ".join(config["versions"])
                raise ValueError(
                    f"{request.framework} has no version {request.version!r}; known: {known}"
                )
            found = set(config["versions"][version]["registries"])
            regions = found if regions is None else regions & found

        table: dict[str, dict[str, ResolvedImage]] = {}
        for region in sorted(regions or ()):
            partition = common_utils.aws_partition(region)
            table[region] = {}
            for request in requests:
                uri = image_uris.retrieve(request.framework, region=region, version=request.version)
                table[region][request.key] = ResolvedImage(uri, _repository_arn(uri, partition))
        return table


class ContainerImages(Construct):
    """Image URIs for the stack's region: literals when the region is known, else a mapping."""

    def __init__(self, scope: Construct, construct_id: str, requests: list[ImageRequest]) -> None:
        super().__init__(scope, construct_id)
        table = image_table(requests)
        mapping: dict[str, dict[str, str]] = {}
        for region, images in table.items():
            mapping[region] = {}
            for key, image in images.items():
                mapping[region][f"{key}Uri"] = image.uri
                mapping[region][f"{key}Repository"] = image.repository_arn
        # lazy: a region-specific stack gets plain strings and no Mappings section.
        self._mapping = cdk.CfnMapping(self, "ByRegion", mapping=mapping, lazy=True)
        self._region = cdk.Stack.of(self).region
        self._cuda = {
            request.key: {images[request.key].cuda_major for images in table.values()}
            for request in requests
        }

    def uri(self, key: str) -> str:
        return self._mapping.find_in_map(self._region, f"{key}Uri")

    def repository_arn(self, key: str) -> str:
        return self._mapping.find_in_map(self._region, f"{key}Repository")

    def cuda_major(self, key: str) -> int | None:
        """The image's CUDA major version, the same in every region (a synth error if not)."""
        (version, *others) = self._cuda[key]
        if others:
            raise ValueError(f"image {key} is built for different CUDA versions by region")
        return version
