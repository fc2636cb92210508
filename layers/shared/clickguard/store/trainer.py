"""The trainer's ports over S3: the archive in the data bucket, reviewer labels and models in the model bucket."""

from __future__ import annotations

from typing import Any

from clickguard.store.archive import S3Archive
from clickguard.store.blobs import S3Store
from clickguard.store.labels import S3Labels
from clickguard.training.job import TrainingConfig
from clickguard.training.ports import TrainerPorts


def s3_trainer_ports(s3: Any, config: TrainingConfig) -> TrainerPorts:
    return TrainerPorts(
        archive=S3Archive(s3, config.data_bucket, config.archive_prefix),
        labels=S3Labels(s3, config.model_bucket),
        models=S3Store(s3, config.model_bucket),
    )
