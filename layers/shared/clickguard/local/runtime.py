"""The local runtime: emulator + deployed stack + the managed parts moto does not run, around the real handlers.

It is an adapter, not a second implementation: records flow through the real consumer handler (invoked by the
local event source mapping), the archive is read by the real trainer handler (invoked as the schedule would), and
reviewers' decisions through the real decisions handler (invoked by the local SQS event source mapping), and
``POST /score`` through the real score API handler (served on 127.0.0.1 in place of its function URL).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickguard import settings
from clickguard.decoding import Decoder
from clickguard.decoding.records import decode_config_from_env
from clickguard.local import state_file
from clickguard.local.archiver import Archiver
from clickguard.local.emulator import REGION, Emulator, apply_env
from clickguard.local.esm import EventSourceMapping, LambdaContext
from clickguard.local.lambda_host import HandlerOutput, function_environment, load_handler
from clickguard.local.score_server import ScoreServer
from clickguard.local.sqs_esm import SqsEventSourceMapping, wait_until_empty
from clickguard.local.stack import LOCAL_STAGE, DeployedStack, deploy
from clickguard.local.training_flow import play_training_run


@dataclass(frozen=True)
class LocalHandles:
    stream_name: str
    flag_queue_url: str
    data_bucket: str
    model_bucket: str
    table_name: str
    decision_queue_url: str = ""


def _unhook_moto_stream_mappings() -> None:
    """moto's DeleteEventSourceMapping leaves the mapping attached to the stream object, which then tries Docker on
    every record. The emulator runs in this process, so its backend is reachable; detach them there."""
    from moto.kinesis.models import kinesis_backends

    for account in kinesis_backends.values():
        for backend in account.values():
            for stream in backend.streams.values():
                stream.lambda_event_source_mappings.clear()


def _unhook_moto_queue_mappings() -> None:
    """The same for SQS: moto's send_message would receive the message and push it to the function via Docker."""
    from moto.sqs.models import sqs_backends

    for account in sqs_backends.values():
        for backend in account.values():
            for queue in backend.queues.values():
                queue.lambda_event_source_mappings.clear()


@dataclass(frozen=True)
class _Functions:
    """The deployed functions' names, from the stack's outputs."""

    consumer: str
    trainer: str
    decisions: str
    score: str
    training_reduce: str

    @classmethod
    def of(cls, outputs: dict[str, str]) -> _Functions:
        from infra import config as infra_config

        return cls(
            outputs[infra_config.OUTPUT_CONSUMER_FUNCTION],
            outputs[infra_config.OUTPUT_TRAINER_FUNCTION],
            outputs[infra_config.OUTPUT_DECISIONS_FUNCTION],
            outputs[infra_config.OUTPUT_SCORE_API_FUNCTION],
            outputs[infra_config.OUTPUT_TRAINING_REDUCE_FUNCTION],
        )


def _take_over_mappings(lam: Any, names: _Functions) -> None:
    """moto would also invoke the functions through Docker on every single put_record or send_message; the local
    event source mappings play the mappings instead, with the template's settings, so the emulator's go."""
    for name in (names.consumer, names.decisions):
        for mapping in lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])
    _unhook_moto_stream_mappings()
    _unhook_moto_queue_mappings()


class LocalRuntime:
    def __init__(
        self, workdir: str | os.PathLike[str] | None = None, port: int = 0, context: dict[str, Any] | None = None
    ) -> None:
        self.workdir = workdir
        self.state_files = state_file.places(workdir)  # written by ``write_state_file``, removed by ``stop``
        self._scratch: Path | None = None  # the temporary workdir made when none was given; removed by stop()
        self.context = context
        self.emulator = Emulator(port)
        self.stack: DeployedStack | None = None
        self.esm: EventSourceMapping | None = None
        self.decisions_esm: SqsEventSourceMapping | None = None
        self.score_server: ScoreServer | None = None
        self.archiver: Archiver | None = None
        self._consumer: Any = None
        self._trainer: Any = None
        self.function_env: dict[str, str] | None = None
        self._training_env: dict[str, str] = {}  # the training run's reduce function (plays its state machine)
        self.output: HandlerOutput | None = None
        self._environ: dict[str, str] | None = None

    # --- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> LocalRuntime:
        # The handlers run in this process and read their configuration from the environment, as at a cold start:
        # what the runtime sets there is undone by stop(), so nothing run after it here reaches a stopped emulator.
        self._environ = dict(os.environ)
        if self.workdir is None and self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="clickguard-local-"))
        self.emulator.start()
        apply_env(self.emulator.process_env())
        self.stack = deploy(self.emulator, self._base, LOCAL_STAGE, self.context)
        lam = self.client("lambda")
        names = _Functions.of(self.stack.outputs)
        _take_over_mappings(lam, names)
        envs = self._handler_envs(lam, names)
        decisions = self._load_handlers(envs, names)
        self._play_mappings(lam, names, decisions)
        self.score_server = self._serve_score_api(lam, names.score, envs[names.score])
        return self

    def _handler_envs(self, lam: Any, names: _Functions) -> dict[str, dict[str, str]]:
        """Each function's environment as it is imported, pointed at the emulator: the four functions' variables
        together (they share one process), its own last, so its logs and metrics carry its own service name (the
        training run's kept apart)."""
        own = {name: function_environment(lam, name) for name in (names.consumer, names.trainer, names.decisions)}
        own[names.score] = function_environment(lam, names.score)
        shared: dict[str, str] = {}
        for variables in own.values():
            shared.update(variables)
        self.function_env = dict(shared)
        self._training_env = function_environment(lam, names.training_reduce)
        local = {**self.emulator.process_env(), "POWERTOOLS_TRACE_DISABLED": "1"}
        return {name: {**shared, **variables, **local} for name, variables in own.items()}

    def _load_handlers(self, envs: dict[str, dict[str, str]], names: _Functions) -> Any:
        """The consumer's and the trainer's handlers (kept) and the decisions handler (returned), imported as at a
        cold start; whatever the modules print goes where CloudWatch Logs would collect it."""
        base = self._base
        base.mkdir(parents=True, exist_ok=True)
        self.output = HandlerOutput(base / "lambda-output.ndjson").install()
        consumer = self.output.wrap(load_handler)(
            settings.CONSUMER_ASSET_DIR, settings.CONSUMER_HANDLER, envs[names.consumer], "cg_local_consumer"
        )
        trainer = load_handler(
            settings.TRAINER_ASSET_DIR, settings.TRAINER_HANDLER, envs[names.trainer], "cg_local_trainer"
        )
        decisions = load_handler(
            settings.DECISIONS_ASSET_DIR, settings.DECISIONS_HANDLER, envs[names.decisions], "cg_local_decisions"
        )
        self._consumer = self.output.wrap(consumer)
        self._trainer = self.output.wrap(trainer)
        return self.output.wrap(decisions)

    @property
    def _base(self) -> Path:
        """Where the assembly and the functions' output go: the caller's workdir, else this run's scratch folder."""
        base = self.workdir if self.workdir is not None else self._scratch
        assert base is not None, "start() first"
        return Path(base)

    def _play_mappings(self, lam: Any, names: _Functions, decisions: Any) -> None:
        """What AWS runs around the functions: the stream's and the decision queue's event source mappings, with the
        template's settings, and the archive's Firehose (its transformation decodes with the consumer's settings)."""
        assert self.stack is not None
        h = self.handles
        self.esm = EventSourceMapping(
            self.client("kinesis"),
            self.client("sqs"),
            h.stream_name,
            self._consumer,
            self.stack.esm_settings(),
            function_name=names.consumer,
        )
        decoder = Decoder(decode_config_from_env(function_environment(lam, names.consumer)))
        self.archiver = Archiver(
            self.client("kinesis"), self.client("s3"), h.stream_name, h.data_bucket, decoder=decoder
        )
        self.decisions_esm = SqsEventSourceMapping(
            self.client("sqs"),
            h.decision_queue_url,
            decisions,
            self.stack.decisions_esm_settings(),
            function_name=names.decisions,
        )

    def stop(self) -> None:
        if self.esm is not None:
            self.esm.stop()
        if self.score_server is not None:
            self.score_server.stop()
        if self.decisions_esm is not None:
            self.decisions_esm.stop()
        if self.output is not None:
            self.output.uninstall()
        self.emulator.stop()
        if self._environ is not None:
            os.environ.clear()
            os.environ.update(self._environ)
            self._environ = None
        if self._scratch is not None:  # a run without a workdir leaves nothing behind (the CI disk filled up once)
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        for path in self.state_files:
            try:
                mine = (state_file.read(path) or {}).get("endpoint_url") == self.emulator.endpoint_url
            except ValueError:
                mine = False
            if mine:
                path.unlink(missing_ok=True)

    def __enter__(self) -> LocalRuntime:
        try:
            return self.start()
        except BaseException:  # a port in use, a failed deploy: nothing of a half-started stack stays behind
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve_score_api(self, lam: Any, name: str, env: dict[str, str]) -> ScoreServer:
        """moto has no function URL: POST /score is served on 127.0.0.1 by the real handler, with the function's
        reserved concurrency as the throttle (``score_server``)."""
        assert self.output is not None
        # Imported as at a cold start (its logs go where CloudWatch Logs would collect them, as every invocation's)
        load = self.output.wrap(load_handler)
        handler = load(settings.SCORE_API_ASSET_DIR, settings.SCORE_API_HANDLER, env, "cg_local_score_api")
        function = lam.get_function(FunctionName=name)
        reserved = function.get("Concurrency", {}).get("ReservedConcurrentExecutions")
        timeout = int(function["Configuration"].get("Timeout", 10))
        return ScoreServer(self.output.wrap(handler), reserved, function_name=name, timeout_s=timeout).start()

    # --- access -------------------------------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        return self.emulator.client(service)

    @property
    def handles(self) -> LocalHandles:
        from infra import config as c

        assert self.stack is not None, "start() first"
        o = self.stack.outputs
        return LocalHandles(
            o[c.OUTPUT_STREAM_NAME],
            o[c.OUTPUT_FLAG_QUEUE_URL],
            o[c.OUTPUT_DATA_BUCKET],
            o[c.OUTPUT_MODEL_BUCKET],
            o[c.OUTPUT_TABLE_NAME],
            o[c.OUTPUT_DECISION_QUEUE_URL],
        )

    @property
    def stack_name(self) -> str:
        assert self.stack is not None, "start() first"
        return self.stack.name

    @property
    def score_url(self) -> str:
        """Where the local stack serves ``POST /score`` (the deployed stack's function URL)."""
        assert self.score_server is not None, "start() first"
        return self.score_server.url

    @property
    def model_refresh_seconds(self) -> float:
        env = self.function_env or {}
        return float(env.get(settings.ENV_MODEL_REFRESH_SECONDS, settings.DEFAULT_MODEL_REFRESH_SECONDS))

    def write_state_file(self, archived_at: float = 0.0) -> list[Path]:
        """What other CLI processes read to find this stack (``state_file``); ``archived_at``: when the stream was
        last archived (epoch seconds), which ``train --local`` waits on."""
        assert self.stack is not None
        state = {
            "endpoint_url": self.emulator.endpoint_url,
            "stack": self.stack.name,
            "region": REGION,
            "outputs": self.stack.outputs,
            "score_url": self.score_url,
            "pid": os.getpid(),
            "archived_at": archived_at,
            "handler_output": str(self.output.path) if self.output else None,  # ``local stats`` sums its metrics
        }
        return [state_file.write(state, path) for path in self.state_files]

    # --- the managed parts ----------------------------------------------------------------------------------------
    def start_polling(self, interval_s: float = 0.2) -> None:
        assert self.esm is not None and self.decisions_esm is not None
        self.esm.start(interval_s)
        self.decisions_esm.start(interval_s)

    def drain(self) -> None:
        """Deliver everything on the stream to the consumer (when the pollers are not running as threads)."""
        assert self.esm is not None
        self.esm.drain()

    def record_decisions(self, timeout_s: float = 60) -> None:
        """Deliver every decision waiting on the decisions queue to the decisions function (the demo, tests); with
        the pollers running, wait until they have."""
        assert self.decisions_esm is not None
        if not self.decisions_esm.running:
            self.decisions_esm.drain()
        wait_until_empty(self.decisions_esm, timeout_s)

    def wait_until_caught_up(self, timeout_s: float = 600) -> None:
        assert self.esm is not None
        deadline = time.monotonic() + timeout_s
        quiet_rounds = 0
        while time.monotonic() < deadline:
            quiet_rounds = quiet_rounds + 1 if all(p.caught_up for p in self.esm.pollers) else 0
            if quiet_rounds >= 3:
                return
            time.sleep(0.2)
        raise TimeoutError("the consumer did not catch up with the stream")

    def archive(self) -> int:
        """Firehose's buffer flush: everything on the stream so far lands under events/YYYY/MM/DD/HH/."""
        assert self.archiver is not None
        records = self.archiver.flush_stream().records
        self.trim_stream()
        return records

    def trim_stream(self) -> int:
        """Drop the stream's records that the consumer's mapping and the archiver have both read, once older than
        ``settings.LOCAL_READ_RECORDS_KEPT_SECONDS`` (``moto_patches.trim_read``); how many went."""
        assert self.esm is not None and self.archiver is not None
        consumer = {p.shard_id: p.read_upto for p in self.esm.pollers}
        both = {shard: min(seq, consumer[shard]) for shard, seq in self.archiver.read_upto.items() if shard in consumer}
        kept_after = time.time() - settings.LOCAL_READ_RECORDS_KEPT_SECONDS
        return self.emulator.trim_stream(self.esm.stream_arn, both, kept_after)

    def run_training(self, at: datetime | None = None) -> dict[str, Any]:
        """What the EventBridge rule does on schedule: start the training run, played here (``training_flow``: the
        trainer handler with a Scheduled Event for a small window, else the map and passes on a process pool)."""
        when = (at or datetime.now(UTC)).astimezone(UTC)
        event = {
            "version": "0",
            "id": "local-schedule",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1",
            "resources": [],
            "detail": {},
        }

        def single_pass(_: datetime) -> dict[str, Any]:
            return dict(self._trainer(event, LambdaContext("trainer", timeout_s=900).start()))

        return play_training_run(self.client("s3"), self._training_env, single_pass, when)
