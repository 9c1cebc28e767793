"""``edge-sdk search``: query the device's rolling index from its shell, printing JSON.

    edge-sdk search "a red circle on the left" --k 5 --since 10m --config /etc/edge-sdk/device.yaml
    edge-sdk search "a blue square" --index /var/lib/edge_sdk/index --bundle retrieval_int8.tflite

Prints one ``edge_sdk.search-result/1`` object (the same payload ``cmd/search`` gets over MQTT) on
stdout; ``--thumbnails DIR`` also writes each hit's JPEG as ``DIR/<frame_id>.jpg``. The index is
opened read-only, so this works next to a running ``edge-sdk run``. Exit 2 when the query or the
arguments are wrong (one line on stderr), 0 otherwise (no match is an empty ``hits``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge_sdk.errors import ConfigError, InputError

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add ``search`` to ``edge-sdk``'s sub-commands."""
    parser = subparsers.add_parser(
        "search", help="find frames in the device's rolling index by a text description (prints JSON)",
        description="Search the index that `edge-sdk run` keeps with an index section. Give the device config "
                    "(--config), or the index folder and the retrieval bundle (--index, --bundle).")
    parser.add_argument("text", help="what to look for: 'a red circle on the left'")
    parser.add_argument("--k", type=int, default=5, help="how many frames, best first; default %(default)s")
    parser.add_argument("--since", help="only frames from this far back: 90s, 10m, 2h, 1d")
    parser.add_argument("--config", "-c", help="the device config whose index section to search")
    parser.add_argument("--index", help="the index folder (instead of --config)")
    parser.add_argument("--bundle", help="the retrieval bundle with embed_text (default: the config's index.bundle "
                                         "or model.path)")
    parser.add_argument("--thumbnails", metavar="DIR", help="also write the hits' JPEG thumbnails into DIR")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from edge_sdk.index.query import SearchService
    from edge_sdk.index.store import Index

    index_path, bundle, device = _where(args)
    query: dict[str, object] = {"request_id": "cli", "text": args.text, "k": args.k}
    if args.since is not None:
        query["since"] = args.since
    with Index.open(index_path, model=bundle) as index:
        service = SearchService(index, device=device, base_topic="", publish=lambda *_: None)
        reply = service.answer(query)
        if not reply["ok"]:
            raise InputError(str(reply["error"]))
        if args.thumbnails:
            folder = Path(args.thumbnails)
            folder.mkdir(parents=True, exist_ok=True)
            for hit in reply["hits"]:
                jpeg = index.thumbnail(hit["frame_id"])
                if jpeg is not None:
                    (folder / f"{hit['frame_id']}.jpg").write_bytes(jpeg)
    for hit in reply["hits"]:  # no broker here: the topic a device would publish it on means nothing
        hit["thumbnail_topic"] = None
    print(json.dumps(reply, indent=1))
    return 0


def _where(args: argparse.Namespace) -> tuple[str, str, str]:
    """(index folder, bundle, device id) from --config or --index/--bundle."""
    if args.config is None and args.index is None:
        raise ConfigError("expected --config FILE (a device config with an index section) or --index FOLDER")
    device, bundle, index_path = "edge-device", args.bundle, args.index
    if args.config is not None:
        from edge_sdk.config import load_config

        config = load_config(args.config)
        if config.index is None and index_path is None:
            raise ConfigError(f"{args.config}: no index section: expected index: {{path: ...}} (or pass --index)")
        device = config.device
        index_path = index_path or (config.index.path if config.index is not None else None)
        bundle = bundle or (config.index.bundle if config.index is not None else "") or config.model.path
    if not bundle:
        raise ConfigError("expected --bundle: the retrieval bundle whose embed_text signature embeds the query")
    assert index_path is not None
    return index_path, bundle, device


if __name__ == "__main__":
    from edge_sdk.cli import main

    sys.exit(main(["search", *sys.argv[1:]]))
