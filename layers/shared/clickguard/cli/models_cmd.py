"""``clickguard models``: list published versions, show the current one, roll back by re-pointing latest.json.

Training only ever moves ``latest.json`` forward in time (``clickguard.model.artifact``); ``rollback --to`` is the
operator's deliberate exception and may name any published version, older or newer. It stands until a model
whose window ends later than that version's is published.
"""

from __future__ import annotations

import argparse
import json

from clickguard.cli.common import fail, open_store
from clickguard.model import artifact


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", help="list, inspect or roll back published models")
    p.add_argument("action", choices=["list", "show", "rollback"])
    p.add_argument("--store", required=True, help="directory or s3://BUCKET holding models/")
    p.add_argument("--to", dest="version", help="version to roll back to (rollback only)")
    p.add_argument("--endpoint-url")
    p.add_argument("--region")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(args.store, args.endpoint_url, args.region)
    try:
        current = artifact.read_pointer(store)["version"]
    except artifact.NoModelPublished:
        current = None
    if args.action == "list":
        for version in artifact.list_versions(store):
            print(("* " if version == current else "  ") + version)
        return 0
    if args.action == "show":
        if current is None:
            fail(f"no model published in {store.describe()}")
        model = artifact.load_latest(store)
        print(
            json.dumps(
                {
                    "version": model.version,
                    "created_at": model.created_at,
                    "window": [model.window_start, model.window_end],
                    "states": model.n_states,
                    "thresholds": vars(model.thresholds),
                    "stats": model.stats,
                },
                indent=2,
            )
        )
        return 0
    if not args.version:
        fail("rollback needs --to VERSION (see 'clickguard models list')")
    try:
        pointer = artifact.rollback_to(store, args.version)
    except artifact.ModelArtifactError as exc:
        fail(str(exc))
    print(f"latest.json now points at {pointer['version']} (was {current})")
    return 0
