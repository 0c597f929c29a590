"""The run's pod volumes and mounts, as copies of corev1 types, of the sources that keep a batch
pod inside its namespace's data: configMap, secret, emptyDir, persistentVolumeClaim, projected
and downwardAPI."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from bulkhead.api.base import (
    AbsolutePath,
    Label,
    Model,
    Name,
    Path,
    Quantity,
    ShortText,
    cel,
    exactly_one,
)
from bulkhead.api.pod import FieldRef


class KeyToPath(Model):
    """A key of a ConfigMap or Secret, projected to a file."""

    key: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    """The key to project."""
    path: Path
    """Relative path of its file in the volume."""
    mode: Annotated[int, Field(ge=0, le=0o777)] | None = None
    """Mode bits of the file, 0 to 0777 (511). Default: the volume's defaultMode."""


Items = Annotated[list[KeyToPath], Field(max_length=64)]
Mode = Annotated[int, Field(ge=0, le=0o777)]


class ConfigMapVolume(Model):
    """A ConfigMap of the BatchJob's namespace, as files."""

    name: Name
    """Name of the ConfigMap."""
    items: Items | None = None
    """The keys to project, and their files. Default: every key, in a file named after it."""
    default_mode: Mode | None = None
    """Mode bits of the files, 0 to 0777 (511). Default 0644."""
    optional: bool | None = None
    """Whether the pod may start without the ConfigMap or a listed key. Default false."""


class SecretVolume(Model):
    """A Secret of the BatchJob's namespace, as files."""

    secret_name: Name
    """Name of the Secret."""
    items: Items | None = None
    """The keys to project, and their files. Default: every key, in a file named after it."""
    default_mode: Mode | None = None
    """Mode bits of the files, 0 to 0777 (511). Default 0644."""
    optional: bool | None = None
    """Whether the pod may start without the Secret or a listed key. Default false."""


class EmptyDirVolume(Model):
    """A scratch directory that lives as long as the pod."""

    medium: Literal["", "Memory"] | None = None
    """"" for the node's disk, Memory for a tmpfs (it counts against the memory limit). Default "".
    """
    size_limit: Quantity | None = None
    """The most the directory may hold, a quantity in bytes, e.g. 1Gi; above it the pod is evicted.
    Default: no limit of its own."""


class PersistentVolumeClaimVolume(Model):
    """A PersistentVolumeClaim of the BatchJob's namespace."""

    claim_name: Name
    """Name of the claim."""
    read_only: bool | None = None
    """Mount it read-only. Default false."""


class ResourceFieldRef(Model):
    """A resource limit or request of a container, as a value."""

    resource: ShortText
    """The resource: limits.cpu, limits.memory, requests.cpu or requests.memory (or
    limits/requests.ephemeral-storage)."""
    container_name: ShortText | None = None
    """The container whose resource it is; the run's container is named main."""
    divisor: Quantity | None = None
    """The unit of the value, a quantity, e.g. 1m for millicores or 1Mi for MiB. Default 1."""


class DownwardAPIFile(Model):
    """One file of a downwardAPI volume: a pod field or a container's resource value."""

    path: Path
    """Relative path of the file in the volume."""
    field_ref: FieldRef | None = None
    """A field of the pod: metadata.name, metadata.namespace, metadata.uid, metadata.labels or
    metadata.annotations."""
    resource_field_ref: ResourceFieldRef | None = None
    """A resource limit or request of the container."""
    mode: Mode | None = None
    """Mode bits of the file, 0 to 0777 (511). Default: the volume's defaultMode."""


class DownwardAPIVolume(Model):
    """Pod fields and container resource values, as files."""

    items: Annotated[list[DownwardAPIFile], Field(max_length=64)] | None = None
    """The files, at most 64."""
    default_mode: Mode | None = None
    """Mode bits of the files, 0 to 0777 (511). Default 0644."""


class ProjectedKeys(Model):
    """Keys of a ConfigMap or Secret of the BatchJob's namespace, for a projected volume."""

    name: Name
    """Name of the ConfigMap or Secret."""
    items: Items | None = None
    """The keys to project, and their files. Default: every key, in a file named after it."""
    optional: bool | None = None
    """Whether the pod may start without it or a listed key. Default false."""


class ServiceAccountTokenProjection(Model):
    """A token of the pod's ServiceAccount, for an audience, as a file."""

    path: Path
    """Relative path of the token's file in the volume."""
    audience: ShortText | None = None
    """Who the token is for. Default: the API server's own audience."""
    expiration_seconds: Annotated[int, Field(ge=600)] | None = None
    """Requested lifetime of the token in seconds, at least 600; the kubelet renews it. Default
    3600."""


class ProjectedSource(Model):
    """One source of a projected volume: configMap, secret, downwardAPI or serviceAccountToken."""

    config_map: ProjectedKeys | None = None
    """Keys of a ConfigMap."""
    secret: ProjectedKeys | None = None
    """Keys of a Secret."""
    downward_api: DownwardAPIVolume | None = Field(default=None, alias="downwardAPI")
    """Pod fields and container resource values."""
    service_account_token: ServiceAccountTokenProjection | None = None
    """A token of the pod's ServiceAccount (the run needs serviceAccountName)."""


class ProjectedVolume(Model):
    """Several sources in one directory."""

    sources: Annotated[list[ProjectedSource], Field(max_length=32)]
    """The sources, merged into one directory; at most 32."""
    default_mode: Mode | None = None
    """Mode bits of the files, 0 to 0777 (511). Default 0644."""


VOLUME_SOURCES = (
    "configMap",
    "secret",
    "emptyDir",
    "persistentVolumeClaim",
    "projected",
    "downwardAPI",
)


class Volume(Model):
    """A volume of the run's pod: exactly one source, of the types that keep a batch pod inside its
    namespace's data."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "[" + ", ".join(f"has(self.{s})" for s in VOLUME_SOURCES) + "]"
                    ".filter(x, x).size() == 1",
                    "exactly one volume source must be set, one of: " + ", ".join(VOLUME_SOURCES),
                )
            ]
        }
    )
    name: Label
    """Name of the volume, a DNS label; volumeMounts[].name refers to it."""
    config_map: ConfigMapVolume | None = None
    """A ConfigMap of the BatchJob's namespace, as files."""
    secret: SecretVolume | None = None
    """A Secret of the BatchJob's namespace, as files."""
    empty_dir: EmptyDirVolume | None = None
    """A scratch directory that lives as long as the pod."""
    persistent_volume_claim: PersistentVolumeClaimVolume | None = None
    """A PersistentVolumeClaim of the BatchJob's namespace."""
    projected: ProjectedVolume | None = None
    """Several sources in one directory."""
    downward_api: DownwardAPIVolume | None = Field(default=None, alias="downwardAPI")
    """Pod fields and container resource values, as files."""

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        exactly_one(
            self,
            (
                "config_map",
                "secret",
                "empty_dir",
                "persistent_volume_claim",
                "projected",
                "downward_api",
            ),
            "exactly one volume source must be set, one of: " + ", ".join(VOLUME_SOURCES),
        )
        return self


class VolumeMount(Model):
    """Where a volume is mounted in the main container."""

    name: Label
    """Name of an entry of spec.volumes."""
    mount_path: AbsolutePath
    """Absolute path in the container. The root filesystem is read-only: without a mount at /tmp,
    bulkhead mounts an emptyDir there."""
    sub_path: Path | None = None
    """A path in the volume to mount instead of its root. Default: the root."""
    read_only: bool | None = None
    """Mount it read-only. Default false."""
