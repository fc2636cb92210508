"""The embedded AWS emulator: moto's server in this process, on 127.0.0.1 and a free port."""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

REGION = "us-east-1"
# moto accepts any credentials; these make sure nothing ever signs with a real identity.
FAKE_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


class Emulator:
    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._server: Any = None
        self.endpoint_url = ""

    def start(self) -> Emulator:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
        # moto announces each template resource type it skips; infra.config.MOTO_UNSUPPORTED lists them already.
        warnings.filterwarnings("ignore", message="Tried to parse .* but it's not supported")
        logging.getLogger("moto").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self._port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=REGION, **FAKE_CREDENTIALS)

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
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
