"""Which build a worker runs, reported to Temporal as its Worker Deployment Version.

Every worker reports `WORKER_DEPLOYMENT_NAME` and a build id, so that Temporal UI and
`temporal task-queue describe` show which build polls. Routing tasks by version (Worker
Versioning) is opt-in with `WORKER_VERSIONING=true`: the server then sends a case's tasks only
to the deployment's current version, which an operator (or the Temporal Worker Controller) sets
after a rollout. Case workflows then AUTO_UPGRADE: a running case moves to the new build at its
next workflow task, and `workflow.patched` plus the replay test keep that deterministic. Cases
live for weeks, so pinning them would keep every old build running until its last case
closes (deploy/README.md, "Safe deploys of workflow code").
"""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig

from core.settings import Settings

CHECKOUT = Path(__file__).resolve().parent.parent


def package_version() -> str:
    try:
        return version("aftersales")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "0+unknown"


def git_sha(directory: Path = CHECKOUT) -> str | None:
    """The checkout's short commit, when this code runs from a git checkout (not in the image)."""
    if not (directory / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def build_id(settings: Settings) -> str:
    """WORKER_BUILD_ID, else the package version and, in a git checkout, the commit (`0.1.0-1a2b3c4d5e6f`).
    Deployments set WORKER_BUILD_ID to the image tag: two builds must never share an id."""
    if settings.worker_build_id:
        return settings.worker_build_id
    sha = git_sha()
    return f"{package_version()}-{sha}" if sha else package_version()


def deployment_config(settings: Settings) -> WorkerDeploymentConfig:
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=settings.worker_deployment_name, build_id=build_id(settings)),
        use_worker_versioning=settings.worker_versioning,
        # Without versioning the server routes by task queue only and the behaviour must stay unspecified.
        default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE
        if settings.worker_versioning
        else VersioningBehavior.UNSPECIFIED,
    )
