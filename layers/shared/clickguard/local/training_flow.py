"""The training run played locally (issue 13), as its Step Functions state machine runs it on AWS: moto creates the
state machine but cannot run Lambda code inside it, so the local runtime plays it, as it plays the event source
mapping.

The plan decides with the deployed reduce function's configuration: a window of at most ``single_pass_max_mb`` of
gzip goes to the single-pass trainer (the state machine's ``TrainInOnePass``: the real trainer handler); a larger one
is mapped over its partitions not cached yet and passed over its user shards on a process pool of this machine's
cores (``training_pool``: the map's and the shards' code, each worker a core), the emulator's S3 serving as the
archive, the partial cache and the model store. Either way the result is the run's report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from clickguard.local.training_pool import PoolExecutor
from clickguard.store.blobs import S3Store
from clickguard.store.labels import S3Labels
from clickguard.store.partition_objects import S3PartitionObjects
from clickguard.store.partitions import S3Partitions
from clickguard.training.distributed import (
    DistributedConfig,
    DistributedPorts,
    Partials,
    plan,
    run_distributed,
    single_pass_fits,
)

SinglePass = Callable[[datetime], dict[str, Any]]


def play_training_run(
    s3: Any, environment: Mapping[str, str], single_pass: SinglePass, when: datetime, workers: int | None = None
) -> dict[str, Any]:
    """The run the schedule would start at ``when``; ``environment`` is the reduce function's."""
    config = DistributedConfig.from_env(environment)
    t = config.training
    data = S3Store(s3, t.data_bucket)
    ports = DistributedPorts(
        S3Partitions(s3, t.data_bucket, t.archive_prefix),
        data,
        S3Labels(s3, t.model_bucket),
        S3Store(s3, t.model_bucket),
    )
    partials = Partials(data, config.layout)
    window = plan(ports.archive, partials, t.window_days, when)
    if single_pass_fits(config, window):
        return single_pass(when)
    executor = PoolExecutor(S3PartitionObjects(s3, t.data_bucket), partials, workers)
    return run_distributed(ports, config, when, executor, window).as_dict()
