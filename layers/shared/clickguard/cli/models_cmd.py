"""``clickguard models``: list published versions, show the current one, roll back by re-pointing latest.json.

Training only ever moves ``latest.json`` forward in time (``clickguard.model.artifact``); ``rollback --to`` is the
operator's deliberate exception and may name any published version, older or newer. It stands until a model
whose window ends later than that version's is published.
"""

from __future__ import annotations

import argparse
import json

from clickguard.cli.common import eprint, fail, model_store, storage_errors
from clickguard.model import artifact
from clickguard.store.blobs import BlobStore, LocalDirStore


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", help="list, inspect or roll back published models")
    p.add_argument("action", choices=["list", "show", "rollback"])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--store", help="directory or s3://BUCKET holding models/")
    where.add_argument("--local", action="store_true", help="the model bucket of the running local stack")
    where.add_argument("--stack", help="the model bucket of this CloudFormation stack (its outputs)")
    p.add_argument("--to", dest="version", help="version to roll back to (rollback only)")
    p.add_argument("--endpoint-url")
    p.add_argument("--region")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = model_store(args, args.store)
    with storage_errors(store.describe()):
        return _act(args, store)


def _act(args: argparse.Namespace, store: BlobStore) -> int:
    try:
        current = artifact.read_pointer(store)["version"]
    except artifact.NoModelPublished:
        current = None
    if args.action == "list":
        versions = artifact.list_versions(store)
        if not versions and _not_there(store):
            fail(_no_model(store))
        for version in versions:
            print(("* " if version == current else "  ") + version)
        if not versions:  # an answer still, as an empty flag queue's: a stack before its first training
            eprint(_no_model(store))
        return 0
    if args.action == "show":
        if current is None:
            fail(_no_model(store))
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


def _no_model(store: BlobStore) -> str:
    return f"no model published in {store.describe()}" + (" (no such directory)" if _not_there(store) else "")


def _not_there(store: BlobStore) -> bool:
    """A store directory that does not exist: a typo, which read as a store without a model listed nothing."""
    return isinstance(store, LocalDirStore) and not store.root.is_dir()
