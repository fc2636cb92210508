"""The embedded AWS emulator: moto's server in this process, on 127.0.0.1 and a free port."""

from __future__ import annotations

import errno
import logging
import os
import threading
import urllib.request
import warnings
from typing import Any

REGION = "us-east-1"
# moto accepts any credentials; these make sure nothing ever signs with a real identity.
FAKE_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
# The SDK reads no AWS profile or config file for the emulator: a profile named in the environment that the config
# lacks (or a config that does not parse) failed every ``--local`` command with botocore's traceback, for a stack
# that needs no identity at all. (config name, environment variables, default, conversion), as botocore lists them.
_NO_AWS_CONFIG = {
    "profile": (None, None, None, None),
    "config_file": (None, None, os.devnull, None),
    "credentials_file": (None, None, os.devnull, None),
}


def session() -> Any:
    """A boto3 session for the emulator: its fake credentials and region, no profile, no config file."""
    import boto3
    import botocore.session

    core = botocore.session.Session(session_vars=_NO_AWS_CONFIG)
    return boto3.session.Session(botocore_session=core, region_name=REGION, **FAKE_CREDENTIALS)


class _SerializedApp:
    """moto's backends are not thread-safe (a GetRecords racing a PutRecords on one shard fails with "OrderedDict
    mutated during iteration"), so requests run one at a time. SQS is let through unlocked: a long-polling
    ReceiveMessage waits inside moto, and holding the lock there would stall every other caller."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if "/sqs/aws4_request" in auth or target.startswith("AmazonSQS"):
            return self.app(environ, start_response)
        with self.lock:
            # Materialise the body inside the lock: WSGI apps may produce it lazily.
            return list(self.app(environ, start_response))


class Emulator:
    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._app: _SerializedApp | None = None
        self.endpoint_url = ""

    def start(self) -> Emulator:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # one log line per request otherwise
        # moto announces each template resource type it skips; infra.config.MOTO_UNSUPPORTED lists them already.
        warnings.filterwarnings("ignore", message="Tried to parse .* but it's not supported")
        logging.getLogger("moto").setLevel(logging.ERROR)
        from clickguard.local import moto_patches

        moto_patches.apply()
        app = self._app = _SerializedApp(DomainDispatcherApplication(create_backend_app))
        try:
            self._server = make_server("127.0.0.1", self._port, app, threaded=True, request_handler=MotoRequestHandler)
        except SystemExit:  # werkzeug exits the process when the port is taken, after printing why
            raise OSError(errno.EADDRINUSE, f"port {self._port} is in use by another program") from None
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.endpoint_url = f"http://{host}:{port}"
        # moto's backends live in this process: without a reset, what an earlier emulator here held (a stack
        # deployed by a previous demo or test) would still exist, and deploying the stack again fail.
        reset = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310 - http://127.0.0.1
        with urllib.request.urlopen(reset):  # noqa: S310 - the emulator's own address, just built
            pass
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            assert self._thread is not None  # started with the server
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def trim_stream(self, stream_arn: str, read_upto: dict[str, int], kept_after: float) -> int:
        """Drop records every local reader is done with (``moto_patches.trim_read``), between two requests."""
        from clickguard.local import moto_patches

        assert self._app is not None, "start() first"
        with self._app.lock:
            return moto_patches.trim_read(stream_arn, read_upto, kept_after)

    def client(self, service: str) -> Any:
        return session().client(service, endpoint_url=self.endpoint_url)

    def process_env(self) -> dict[str, str]:
        """What an in-process Lambda handler needs so its module-level boto3 clients reach the emulator."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }


def apply_env(values: dict[str, str]) -> None:
    for name, value in values.items():
        os.environ[name] = value
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):  # the handlers' clients: no identity
        os.environ.pop(name, None)
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
